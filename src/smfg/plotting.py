"""Figures of the book: one house style, one way to save, one function per figure.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot's
global state, so they render the same in a script, a test, a dask worker or a notebook. Each
plotting function takes plain pandas tables (what ``smfg.experiments`` returns) and returns
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
    "AUDIT_PANELS",
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
                0.98, 0.02, f"{hidden} non-positive value(s) not shown", transform=ax.transAxes,
                ha="right", fontsize="small", color="0.35",
            )  # fmt: skip
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
                ax.scatter(pts.wealth_gini, pts.per_capita_gdp, s=size, color=colours[h],
                           alpha=0.75, edgecolor="white", linewidth=0.5, label=h)  # fmt: skip
            ax.set_yscale("log")
            ax.set_title(f"{r}, {columns} = {c}")
            ax.set_xlabel("wealth Gini (post-tax assets)")
            ax.set_ylabel("per-capita GDP, $")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(hues), 4))
    return fig
