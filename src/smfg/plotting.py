"""Figures of the book: one house style, one way to save, one function per figure.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot's
global state, so they render the same in a script, a test, a dask worker or a notebook. Each
plotting function takes plain pandas tables (what ``smfg.paper`` returns) and returns
the Figure; :func:`save_figure` writes it. Layering: this module imports only numpy, pandas,
matplotlib and seaborn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "set_style",
    "new_figure",
    "save_figure",
    "plot_audit",
    "plot_efficiency_equity",
    "plot_training_curves",
    "plot_certified_curves",
    "plot_multi_objective",
    "plot_household_share",
    "plot_bc_loss",
    "plot_action_distributions",
    "plot_scaling",
    "plot_mean_field",
    "plot_headline",
    "AUDIT_PANELS",
    "ECONOMY_COLOURS",
]

_STYLE_SET = False

#: The audit figure's panels: (trajectory column, title, y label).
AUDIT_PANELS: tuple[tuple[str, str, str], ...] = (
    ("Y_per_capita", "Per-capita GDP", "output per household, $"),
    ("K_per_capita", "Capital per capita", "capital per household, $"),
    ("interest_income_over_Y", "Interest income / output", "r x household assets / output"),
)

# One line style per economy variant, so a reader can tell the two economies apart in grey.
_VARIANT_STYLE = {"taxai": "-", "clearing": "--"}


def set_style() -> None:
    """Set the house style (seaborn whitegrid, colour-blind palette) once per process."""
    global _STYLE_SET
    if _STYLE_SET:
        return
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "axes.titleweight": "bold",
            "legend.frameon": False,
            "svg.fonttype": "none",  # text stays text in the SVG
            "svg.hashsalt": "smfg",  # deterministic SVG ids: same data, same file
        }
    )
    _STYLE_SET = True


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 5.0, height: float = 4.0):
    """A Figure on the Agg canvas with a grid of axes, in the house style: (fig, axes [r, c])."""
    set_style()
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    return fig, axes


def save_figure(fig: Figure, name: str, directory: str | Path = "figures") -> tuple[Path, Path]:
    """Write ``fig`` as ``<directory>/<name>.png`` (dpi 150) and ``.svg``; return both paths."""
    if not name or Path(name).name != name:
        raise ValueError(f"name = {name!r}: allowed a plain file name without directories")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    return png, svg


def _runs(
    arg: pd.DataFrame | Mapping[str, pd.DataFrame], default: str
) -> list[tuple[str, str, pd.DataFrame]]:
    """(label, variant, table) for one argument of :func:`plot_audit`."""
    items = arg.items() if isinstance(arg, Mapping) else [(default, arg)]
    out = []
    for label, df in items:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"trajectory {label!r} is a {type(df).__name__}: allowed a DataFrame")
        missing = {"t"} | {c for c, _, _ in AUDIT_PANELS}
        missing -= set(df.columns)
        if missing:
            raise ValueError(f"trajectory {label!r} lacks columns {sorted(missing)}")
        out.append((str(label), default, df))
    return out


def plot_audit(
    traj_taxai: pd.DataFrame | Mapping[str, pd.DataFrame],
    traj_clearing: pd.DataFrame | Mapping[str, pd.DataFrame],
) -> Figure:
    """The audit figure: per-capita GDP, capital per capita, interest income / output (log y).

    Each argument is a ``SimulationResult.trajectory`` (columns t, Y_per_capita,
    K_per_capita, interest_income_over_Y, ...; one row per economy and step) or a mapping
    from a run's label to one. One line per run (and per economy when a table holds several),
    solid for ``taxai``, dashed for ``clearing``; runs of at most three steps get markers so
    that they stay visible. Non-positive values cannot be shown on a log axis and are left
    out; the panel says how many were.
    """
    runs = _runs(traj_taxai, "taxai") + _runs(traj_clearing, "clearing")
    fig, axes = new_figure(1, len(AUDIT_PANELS), width=4.6, height=3.8)
    colours = sns.color_palette("colorblind", n_colors=max(len(runs), 1))
    for (col, title, ylabel), ax in zip(AUDIT_PANELS, axes[0], strict=True):
        hidden = 0
        for k, (label, variant, df) in enumerate(runs):
            groups = (
                df.groupby("economy")
                if "economy" in df and df["economy"].nunique() > 1
                else [(None, df)]
            )
            for econ, g in groups:
                g = g.sort_values("t")
                y = g[col].to_numpy(dtype=float)
                keep = np.isfinite(y) & (y > 0)
                hidden += int((~keep).sum())
                name = label if label.startswith(variant) else f"{variant}: {label}"
                if econ is not None:
                    name = f"{name}, economy {econ}"
                ax.plot(
                    g["t"].to_numpy()[keep],
                    y[keep],
                    linestyle=_VARIANT_STYLE.get(variant, "-"),
                    marker="o" if keep.sum() <= 3 else None,
                    color=colours[k],
                    label=name,
                )
        ax.set_yscale("log")
        ax.set_xlabel("year t")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if hidden:
            ax.text(
                0.98,
                0.02,
                f"{hidden} non-positive value(s) not shown",
                transform=ax.transAxes,
                ha="right",
                fontsize="small",
                color="0.35",
            )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return fig


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


def _band(ax, x, mean, lo, hi, colour, label, linestyle="-") -> None:
    """A mean line with its interval as a shaded band (no band where the interval is NaN)."""
    ax.plot(
        x, mean, color=colour, label=label, linestyle=linestyle, marker="o" if len(x) <= 3 else None
    )
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(np.asarray(x)[ok], lo[ok], hi[ok], color=colour, alpha=0.2, linewidth=0)


def _colours(labels) -> dict:
    labels = list(dict.fromkeys(labels))
    return dict(zip(labels, sns.color_palette("colorblind", max(len(labels), 1)), strict=False))


#: y-axis labels of the metrics (book:model-metrics)
METRIC_AXES = {
    "per_capita_gdp": "per-capita GDP, $",
    "social_welfare": "social welfare",
    "income_gini": "income Gini",
    "wealth_gini": "wealth Gini",
    "years": "years survived",
}


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
    colours = _colours(labels)
    fig, axes = new_figure(len(panel_rows), len(metrics), width=3.8, height=3.0)
    for i, r in enumerate(panel_rows):
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            sub = curves[(curves[rows] == r) & (curves.metric == m)] if len(curves) else curves
            for lab, g in sub.groupby(hue, sort=False):
                g = g.sort_values("epoch")
                _band(ax, g.epoch.to_numpy(), g["mean"].to_numpy(), g.lo, g.hi, colours[lab], lab)
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
    colours = _colours(summary[hue]) if len(summary) else {}
    fig, axes = new_figure(1, len(metrics), width=4.2, height=3.4)
    for j, m in enumerate(metrics):
        ax = axes[0, j]
        sub = summary[summary.metric == m] if len(summary) else summary
        for lab, g in sub.groupby(hue, sort=False):
            g = g.sort_values("epoch")
            mean = g["mean"].to_numpy(dtype=float)
            mean = np.where(np.isfinite(mean), mean, np.nan)
            _band(ax, g.epoch.to_numpy(), mean, g.lo, g.hi, colours[lab], lab)
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


def plot_multi_objective(scores: pd.DataFrame, rows: str = "setting", hue: str = "label") -> Figure:
    """Figure 4 (b): the score against alpha, one panel per ``rows`` value (rows) and
    objective (columns), one line (mean across seeds, 95% band) per ``hue``.

    ``scores`` as :func:`smfg.paper.aggregate.multi_objective` returns it.
    """
    panel_rows = list(dict.fromkeys(scores[rows]))
    objectives = list(dict.fromkeys(scores.objective))
    colours = _colours(scores[hue])
    fig, axes = new_figure(len(panel_rows), len(objectives), width=4.8, height=3.6)
    for i, r in enumerate(panel_rows):
        for j, o in enumerate(objectives):
            ax = axes[i, j]
            sub = scores[(scores[rows] == r) & (scores.objective == o)]
            for lab, g in sub.groupby(hue, sort=False):
                g = g.sort_values("alpha")
                _band(ax, g.alpha.to_numpy(), g["mean"].to_numpy(), g.lo, g.hi, colours[lab], lab)
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
    colours = _colours(types)
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


def plot_bc_loss(losses: pd.DataFrame) -> Figure:
    """Figure 7: one panel per network, training and validation loss against the epoch.

    ``losses``: network, loss ('nll' or 'mse'), split, epoch, value (epoch 0 is before
    training).
    """
    nets = list(dict.fromkeys(losses.network))
    fig, axes = new_figure(1, max(len(nets), 1), width=3.6, height=3.2)
    styles = {"train": "-", "validation": "--"}
    colours = _colours(losses.split)
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


def plot_scaling(env: pd.DataFrame, training: pd.DataFrame) -> Figure:
    """Cost against N, log-log: household-steps per second of the environment step, seconds
    per SMFRL epoch (one line per follower batch: 'joint', the original's, solid; 'sampled'
    dashed) and peak memory, with the original code's figures as black markers.

    ``env`` and ``training`` as :func:`smfg.perf.scaling.time_env` and
    :func:`~smfg.perf.scaling.time_training` return them.
    """
    fig, axes = new_figure(1, 3, width=4.2, height=3.6)
    ax_rate, ax_epoch, ax_mem = axes[0]
    colours = _colours([*env.variant, "SMFRL epoch"])
    for v, g in env.groupby("variant", sort=False):
        g = g.sort_values("n_households")
        style = dict(marker="o", color=colours[v], linestyle=_VARIANT_STYLE.get(v, "-"))
        ax_rate.plot(g.n_households, g.household_steps_per_s, **style, label=f"smfg, {v}")
        ax_mem.plot(g.n_households, g.peak_rss_mb, **style, label=f"env step, {v}")
    orig = env.drop_duplicates("n_households").dropna(subset=["original_household_steps_per_s"])
    if len(orig):
        ax_rate.plot(
            orig.n_households,
            orig.original_household_steps_per_s,
            "kx",
            markersize=8,
            linestyle=":",
            label="original simulator",
        )
    ax_rate.set_title("Environment step", fontsize="medium")
    ax_rate.set_ylabel("household-steps per second")
    if len(training):
        t = training.sort_values("n_households")
        if "follower_batch" not in t:
            t = t.assign(follower_batch="sampled")
        c = colours["SMFRL epoch"]
        for batch, g in t.groupby("follower_batch", sort=False):
            style = dict(color=c, linestyle="-" if batch == "joint" else "--")
            x = g.n_households
            ax_epoch.plot(x, g.epoch_s, marker="o", **style, label=f"smfg, {batch} batch")
            ax_mem.plot(
                x, g.peak_rss_mb, marker="s", **style, label=f"SMFRL training, {batch} batch"
            )
        o = t.dropna(subset=["original_epoch_s_low"])
        if len(o):
            mid = (o.original_epoch_s_low + o.original_epoch_s_high) / 2
            half = (o.original_epoch_s_high - o.original_epoch_s_low) / 2
            ax_epoch.errorbar(
                o.n_households,
                mid,
                yerr=half,
                fmt="kx",
                markersize=8,
                capsize=4,
                label="original code",
            )
        ax_epoch.set_title(f"SMFRL epoch ({t.profile.iloc[0]} profile)", fontsize="medium")
    ax_epoch.set_ylabel("seconds per epoch")
    ax_mem.set_title("Peak memory of the process", fontsize="medium")
    ax_mem.set_ylabel("peak resident memory, MB")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("households N")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return fig


def plot_mean_field(
    check: pd.DataFrame,
    metrics: tuple[str, ...] = (
        "per_capita_gdp",
        "mean_utility",
        "income_gini",
        "wealth_gini",
        "years",
    ),
) -> Figure:
    """The mean-field check: one panel per metric, its mean and 95% interval across seeds
    against N (log axis), one line per policy pair.

    ``check`` as :func:`smfg.paper.mean_field.mean_field_check` returns it.
    """
    labels = [
        f"{g} / {h} households" for g, h in zip(check.government, check.households, strict=True)
    ]
    check = check.assign(label=labels)
    colours = _colours(check.label)
    axis = {**METRIC_AXES, "mean_utility": "mean utility per household"}
    fig, axes = new_figure(1, len(metrics), width=3.4, height=3.2)
    for j, m in enumerate(metrics):
        ax = axes[0, j]
        sub = check[check.metric == m]
        for k, (lab, g) in enumerate(sub.groupby("label", sort=False)):
            g = g.sort_values("n_households")
            x = g.n_households.to_numpy() * (1.0 + 0.06 * (k - 1))  # dodge the error bars
            lo = (g["mean"] - g.ci_low).clip(lower=0).fillna(0).to_numpy()
            hi = (g.ci_high - g["mean"]).clip(lower=0).fillna(0).to_numpy()
            ax.errorbar(
                x, g["mean"], yerr=[lo, hi], marker="o", capsize=3, color=colours[lab], label=lab
            )
        ax.set_xscale("log")
        ax.set_title(axis.get(m, m), fontsize="medium")
        ax.set_xlabel("households N")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=max(len(names), 1))
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
    colours = _colours(frame.label)
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
