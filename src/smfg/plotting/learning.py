"""Figures of learning: training curves, certified curves, and behaviour cloning's losses and
actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from smfg.plotting.style import METRIC_AXES, band, label_colours, new_figure


def plot_training_curves(
    curves: pd.DataFrame,
    metrics: tuple[str, ...] = ("per_capita_gdp", "social_welfare", "income_gini", "wealth_gini"),
    references: pd.DataFrame | None = None,
    rows: str = "setting",
    hue: str = "label",
) -> Figure:
    """Training curves: one panel per ``rows`` value (rows) and metric (columns).

    ``curves`` is long: ``rows``, ``hue``, epoch, metric, mean, lo, hi (the mean and 95%
    interval across seeds of each epoch's evaluation). ``references`` (``rows``, ``hue``,
    metric, mean) draws fixed policies, which do not train, as dashed horizontal lines.
    Per-capita GDP is on a log axis.
    """
    panel_rows = list(dict.fromkeys(curves[rows])) if len(curves) else []
    if references is not None and len(references):
        panel_rows += [r for r in dict.fromkeys(references[rows]) if r not in panel_rows]
    panel_rows = panel_rows or ["(no runs)"]
    labels = list(curves[hue]) if len(curves) else []
    if references is not None and len(references):
        labels += list(references[hue])
    colours = label_colours(labels)
    fig, axes = new_figure(len(panel_rows), len(metrics), width=3.8, height=3.0)
    for i, r in enumerate(panel_rows):
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            sub = curves[(curves[rows] == r) & (curves.metric == m)] if len(curves) else curves
            for lab, g in sub.groupby(hue, sort=False):
                g = g.sort_values("epoch")
                band(ax, g.epoch.to_numpy(), g["mean"].to_numpy(), g.lo, g.hi, colours[lab], lab)
            if references is not None and len(references):
                ref = references[(references[rows] == r) & (references.metric == m)]
                for rec in ref.itertuples():
                    ax.axhline(
                        rec.mean,
                        color=colours[getattr(rec, hue)],
                        linestyle="--",
                        linewidth=1.2,
                        label=f"{getattr(rec, hue)} (fixed)",
                    )
            if m == "per_capita_gdp":
                ax.set_yscale("log")
            ax.set_title(f"{r}: {METRIC_AXES.get(m, m)}", fontsize="medium")
            ax.set_xlabel("epoch")
            ax.set_ylabel(METRIC_AXES.get(m, m))
    handles, names = [], []
    for ax in axes.flat:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in names:
                handles.append(h)
                names.append(n)
    if names:
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5))
    return fig


#: panel title and y-axis label of each certified-curve metric (``cert_*``, book:certification)
CERT_AXES = {
    "cert_cev_median_pct": ("Followers' exploitability", "median CE gain of best response, %"),
    "cert_cev_mean_pct": ("Followers' exploitability", "mean CE gain of best response, %"),
    "cert_loss_median_pct": ("Followers' exploitability", "median CE loss to best response, %"),
    "cert_leader_gap": ("Leader's gap", "best E6 grid point minus learned leader"),
    "cert_leader_return": ("Leader's return", "certification episode return"),
    "cert_years": ("Years survived", "years (certification episode)"),
}


def plot_certified_curves(
    summary: pd.DataFrame,
    metrics: tuple[str, ...] = ("cert_cev_median_pct", "cert_leader_gap", "cert_years"),
    hue: str = "algo",
) -> Figure:
    """Certified learning curves: one panel per metric against epochs, one line per ``hue``
    value (the mean across seeds) with its 95% interval as a band.

    ``summary`` is long: ``hue``, epoch, metric, mean, lo, hi
    (:func:`smfg.paper.aggregate.curve_summary` of
    :func:`smfg.runs.curves.certified_curves`, keys ``(hue,)``). A non-finite mean (a
    seed whose median gain is infinite: no finite scaling of its consumption reaches the best
    response) leaves a gap in its line. Exploitability is on a symmetric-log axis (gains run
    from fractions of a percent to thousands); zero, where a certificate would put a Nash
    follower and a leader as good as the grid, is a dotted line.
    """
    colours = label_colours(summary[hue]) if len(summary) else {}
    fig, axes = new_figure(1, len(metrics), width=4.2, height=3.4)
    for j, m in enumerate(metrics):
        ax = axes[0, j]
        sub = summary[summary.metric == m] if len(summary) else summary
        for lab, g in sub.groupby(hue, sort=False):
            g = g.sort_values("epoch")
            mean = g["mean"].to_numpy(dtype=float)
            mean = np.where(np.isfinite(mean), mean, np.nan)
            band(ax, g.epoch.to_numpy(), mean, g.lo, g.hi, colours[lab], lab)
        title, ylabel = CERT_AXES.get(m, (m, m))
        if m.startswith("cert_cev_"):
            ax.set_yscale("symlog", linthresh=1.0)
        if m.startswith(("cert_cev_", "cert_loss_", "cert_leader_gap")):
            ax.axhline(0.0, color="0.4", linestyle=":", linewidth=1.0)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5))
    return fig


def plot_bc_loss(losses: pd.DataFrame) -> Figure:
    """Figure 7: one panel per network, training and validation loss against the epoch.

    ``losses``: network, loss ('nll' or 'mse'), split, epoch, value (epoch 0 is before
    training).
    """
    nets = list(dict.fromkeys(losses.network))
    fig, axes = new_figure(1, max(len(nets), 1), width=3.6, height=3.2)
    styles = {"train": "-", "validation": "--"}
    colours = label_colours(losses.split)
    for j, n in enumerate(nets):
        ax = axes[0, j]
        sub = losses[losses.network == n]
        for split, g in sub.groupby("split", sort=False):
            g = g.sort_values("epoch")
            ax.plot(
                g.epoch,
                g.value,
                linestyle=styles.get(split, "-"),
                color=colours[split],
                marker="o" if len(g) <= 5 else None,
                label=split,
            )
        kind = sub.loss.iloc[0]
        ax.set_title(n.replace("_", " "), fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel("negative log-likelihood" if kind == "nll" else "mean squared error")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=max(len(labels), 1))
    return fig


def plot_action_distributions(dists: pd.DataFrame) -> Figure:
    """book:learning-bc: one panel per action (saving share, work share), the weighted density of
    the survey's actions (one line per food share for the saving share) and of the cloned
    households' first-period actions. ``dists``: ``figure_data.action_distributions``' frame."""
    actions = list(dict.fromkeys(dists.action))
    fig, axes = new_figure(1, max(len(actions), 1), width=4.6, height=3.4)
    labels = [
        "cloned"
        if src == "cloned"
        else "survey, any food share"
        if np.isnan(f)
        else f"survey, food share {f:.2f}"
        for src, f in zip(dists.source, dists.food_share, strict=True)
    ]
    frame = dists.assign(label=labels)
    colours = label_colours(frame.label)
    bins = np.linspace(0.0, 1.0, 41)
    for j, a in enumerate(actions):
        ax = axes[0, j]
        for label, g in frame[frame.action == a].groupby("label", sort=False):
            dens, edges = np.histogram(g.value, bins=bins, weights=g.weight, density=True)
            ax.stairs(
                dens,
                edges,
                color=colours[label],
                label=label,
                linestyle="--" if label == "cloned" else "-",
            )
        ax.set_title(a, fontsize="medium")
        ax.set_xlabel(a)
        ax.set_ylabel("density")
        ax.set_xlim(0.0, 1.0)
    handles, seen = [], set()
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in seen:
                seen.add(lab)
                handles.append((h, lab))
    fig.legend(
        [h for h, _ in handles],
        [lab for _, lab in handles],
        loc="outside lower center",
        ncols=min(len(handles), 3),
    )
    return fig
