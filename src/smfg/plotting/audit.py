"""The audit figure: the trajectories of simulated economies, side by side (log y)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from smfg.plotting.style import VARIANT_STYLE, new_figure

#: The audit figure's panels: (trajectory column, title, y label).
AUDIT_PANELS: tuple[tuple[str, str, str], ...] = (
    ("Y_per_capita", "Per-capita GDP", "output per household, $"),
    ("K_per_capita", "Capital per capita", "capital per household, $"),
    ("interest_income_over_Y", "Interest income / output", "r x household assets / output"),
)


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
                    linestyle=VARIANT_STYLE.get(variant, "-"),
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
