"""Figures of evaluated policies: efficiency against equity, the multi-objective score and
the share of SMFG households."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from smfg.plotting.style import METRIC_AXES, band, label_colours, new_figure


def plot_efficiency_equity(
    episodes: pd.DataFrame,
    panels: str = "variant",
    columns: str = "households",
    hue: str = "policy",
) -> Figure:
    """Efficiency against equity: x wealth Gini, y per-capita GDP (log), marker area welfare.

    ``episodes`` is a tidy table with one row per seed and episode (``seed``, the metrics and
    the grouping columns); each marker is one seed's mean over its episodes. One panel per
    value of ``panels`` (rows) x ``columns`` (columns), one colour per ``hue``.
    """
    keys = [panels, columns, hue, "seed"]
    per_seed = (
        episodes.groupby(keys, sort=False)[["per_capita_gdp", "wealth_gini", "social_welfare"]]
        .mean()
        .reset_index()
    )
    rows = list(dict.fromkeys(per_seed[panels]))
    cols = list(dict.fromkeys(per_seed[columns]))
    hues = list(dict.fromkeys(per_seed[hue]))
    colours = dict(zip(hues, sns.color_palette("colorblind", len(hues)), strict=True))
    fig, axes = new_figure(len(rows), len(cols), width=5.2, height=4.0)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            cell = per_seed[(per_seed[panels] == r) & (per_seed[columns] == c)]
            w = cell.social_welfare
            span = (w.max() - w.min()) or 1.0
            for h in hues:
                pts = cell[cell[hue] == h]
                if pts.empty:
                    continue
                size = 30 + 170 * (pts.social_welfare - w.min()) / span
                ax.scatter(
                    pts.wealth_gini,
                    pts.per_capita_gdp,
                    s=size,
                    color=colours[h],
                    alpha=0.75,
                    edgecolor="white",
                    linewidth=0.5,
                    label=h,
                )
            ax.set_yscale("log")
            ax.set_title(f"{r}, {columns} = {c}")
            ax.set_xlabel("wealth Gini (post-tax assets)")
            ax.set_ylabel("per-capita GDP, $")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(hues), 4))
    return fig


def plot_multi_objective(scores: pd.DataFrame, rows: str = "setting", hue: str = "label") -> Figure:
    """Figure 4 (b): the score against alpha, one panel per ``rows`` value (rows) and
    objective (columns), one line (mean across seeds, 95% band) per ``hue``.

    ``scores`` as :func:`smfg.paper.aggregate.multi_objective` returns it.
    """
    panel_rows = list(dict.fromkeys(scores[rows]))
    objectives = list(dict.fromkeys(scores.objective))
    colours = label_colours(scores[hue])
    fig, axes = new_figure(len(panel_rows), len(objectives), width=4.8, height=3.6)
    for i, r in enumerate(panel_rows):
        for j, o in enumerate(objectives):
            ax = axes[i, j]
            sub = scores[(scores[rows] == r) & (scores.objective == o)]
            for lab, g in sub.groupby(hue, sort=False):
                g = g.sort_values("alpha")
                band(ax, g.alpha.to_numpy(), g["mean"].to_numpy(), g.lo, g.hi, colours[lab], lab)
            ax.set_title(f"{r}: {o}", fontsize="medium")
            ax.set_xlabel("alpha")
            ax.set_ylabel("score")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return fig


def plot_household_share(
    groups: pd.DataFrame,
    aggregates: pd.DataFrame,
    quantities: tuple[str, ...] = ("utility", "wealth", "income", "work_share"),
    metrics: tuple[str, ...] = ("per_capita_gdp", "social_welfare", "wealth_gini", "years"),
) -> Figure:
    """Figure 5: first row, bars per household type for each quantity against the share of
    SMFG households; second row, the aggregates as dots with 95% intervals.

    ``groups``: share, group, quantity, mean, lo, hi; ``aggregates``: share, metric, mean,
    lo, hi (means across seeds). Money is in dollars (log axis for wealth and income).
    """
    ncols = max(len(quantities), len(metrics))
    fig, axes = new_figure(2, ncols, width=3.6, height=3.2)
    types = list(dict.fromkeys(groups.group))
    colours = label_colours(types)
    shares = sorted(set(groups.share) | set(aggregates.share))
    x = np.arange(len(shares))
    width = 0.8 / max(len(types), 1)
    for j, q in enumerate(quantities):
        ax = axes[0, j]
        for k, t in enumerate(types):
            g = groups[(groups.group == t) & (groups.quantity == q)].set_index("share")
            g = g.reindex(shares)
            lo, hi = g["lo"].to_numpy(), g["hi"].to_numpy()
            mean = g["mean"].to_numpy()
            err = np.vstack([mean - lo, hi - mean])
            err = np.where(np.isfinite(err), err, 0.0)
            ax.bar(
                x + (k - (len(types) - 1) / 2) * width,
                mean,
                width,
                color=colours[t],
                label=t,
                yerr=err,
                capsize=2,
            )
        if q in ("wealth", "income", "consumption"):
            ax.set_yscale("log")
        ax.set_xticks(x, [f"{s:.0%}" for s in shares])
        ax.set_xlabel("share of SMFG households")
        ax.set_title(q.replace("_", " "), fontsize="medium")
    for j in range(len(quantities), ncols):
        axes[0, j].set_visible(False)
    for j, m in enumerate(metrics):
        ax = axes[1, j]
        g = aggregates[aggregates.metric == m].set_index("share").reindex(shares)
        mean = g["mean"].to_numpy()
        err = np.vstack([mean - g["lo"].to_numpy(), g["hi"].to_numpy() - mean])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.errorbar(x, mean, yerr=err, fmt="o", color="0.2", capsize=3)
        if m == "per_capita_gdp":
            ax.set_yscale("log")
        ax.set_xticks(x, [f"{s:.0%}" for s in shares])
        ax.set_xlabel("share of SMFG households")
        ax.set_title(METRIC_AXES.get(m, m), fontsize="medium")
    for j in range(len(metrics), ncols):
        axes[1, j].set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=max(len(labels), 1))
    return fig
