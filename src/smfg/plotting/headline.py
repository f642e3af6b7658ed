"""The headline figure: the paper's numbers beside ours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from smfg.plotting.style import set_style

#: The colour of each economy in the headline figure (the colour-blind palette's first two).
ECONOMY_COLOURS = {"taxai": 0, "clearing": 1}


def _log_limits(values) -> tuple[float, float]:
    """A log axis' limits around the positive finite ``values``: whole decades, a margin."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return 0.1, 10.0
    return 10 ** (np.floor(np.log10(v.min())) - 0.3), 10 ** (np.ceil(np.log10(v.max())) + 0.3)


def plot_headline(table: pd.DataFrame) -> Figure:
    """The paper's headline numbers beside ours, at a glance: one line per quantity.

    ``table``: tidy, one row per quantity and economy (columns quantity, economy, paper,
    ours, low, high), as :func:`smfg.paper.headline.headline_table` returns it. Left
    panel: the paper's value (black open diamond) and ours (a dot coloured by economy, with
    its interval as a bar) on a log axis. Right panel: ours over the paper's (log), with the
    band within a factor of 2 shaded. A value of ours that is not positive cannot be drawn
    on a log axis: it is marked by a triangle at the panel's left edge, and the bottom of an
    interval that is not positive runs to that edge.
    """
    quantities = list(dict.fromkeys(table.quantity))
    economies = [e for e in ECONOMY_COLOURS if e in set(table.economy)]
    economies += [e for e in dict.fromkeys(table.economy) if e not in economies]
    palette = sns.color_palette("colorblind", 10)
    colour = {e: palette[ECONOMY_COLOURS.get(e, 2 + i) % 10] for i, e in enumerate(economies)}
    y = {q: float(i) for i, q in enumerate(quantities)}
    offset = {e: (i - (len(economies) - 1) / 2) * 0.22 for i, e in enumerate(economies)}
    set_style()
    fig = Figure(figsize=(11.0, 1.6 + 0.3 * len(quantities)), layout="constrained")
    FigureCanvasAgg(fig)
    ax, rel = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))

    paper = table.drop_duplicates("quantity")
    ratio = table.assign(
        r=table.ours / table.paper, r_lo=table.low / table.paper, r_hi=table.high / table.paper
    )
    for panel, cols in ((ax, ("ours", "low", "high")), (rel, ("r", "r_lo", "r_hi"))):
        frame = table if panel is ax else ratio
        values = [frame[c] for c in cols] + ([table.paper] if panel is ax else [[1.0]])
        left, right = _log_limits(np.concatenate([np.asarray(v, dtype=float) for v in values]))
        panel.set_xscale("log")
        panel.set_xlim(left, right)
        for e in economies:
            sub = frame[frame.economy == e]
            mid, lo, hi = (sub[c].to_numpy(dtype=float) for c in cols)
            ys = np.array([y[q] + offset[e] for q in sub.quantity])
            shown = np.isfinite(mid) & (mid > 0)
            bars = shown & np.isfinite(lo) & np.isfinite(hi)
            lo_c = np.where(lo > 0, lo, left)
            panel.hlines(ys[bars], lo_c[bars], hi[bars], color=colour[e], linewidth=2, alpha=0.6)
            panel.plot(
                mid[shown], ys[shown], "o", color=colour[e], markersize=6, label=f"ours, {e}"
            )
            below = np.isfinite(mid) & (mid <= 0)
            if below.any():
                panel.plot(
                    np.full(below.sum(), left),
                    ys[below],
                    "<",
                    color=colour[e],
                    markersize=7,
                    label=f"ours, {e}: not positive",
                )
        for i in range(len(quantities)):
            if i % 2 == 0:
                panel.axhspan(i - 0.5, i + 0.5, color="0.94", zorder=0, linewidth=0)
    ax.plot(
        paper.paper.to_numpy(dtype=float),
        [y[q] for q in paper.quantity],
        "D",
        markerfacecolor="none",
        markeredgecolor="black",
        markersize=7,
        label="paper",
    )
    rel.axvspan(0.5, 2.0, color="0.85", zorder=0, linewidth=0, label="within a factor of 2")
    rel.axvline(1.0, color="black", linewidth=1)
    source = dict(zip(table.quantity, table.source, strict=True)) if "source" in table else {}
    for i in range(1, len(quantities)):
        if source.get(quantities[i]) != source.get(quantities[i - 1]):
            for panel in (ax, rel):
                panel.axhline(i - 0.5, color="0.4", linewidth=1)
    ax.set_yticks(range(len(quantities)), quantities, fontsize="small")
    ax.set_ylim(len(quantities) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    rel.grid(axis="y", visible=False)
    ax.set_xlabel("value (log scale): dollars, years, welfare or a ratio")
    rel.set_xlabel("ours / paper (log scale)")
    ax.set_title("The paper's headline numbers and ours", fontsize="medium")
    rel.set_title("How far ours is from the paper's", fontsize="medium")
    handles, labels = [], []
    for panel in (ax, rel):
        for h, lab in zip(*panel.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5))
    return fig
