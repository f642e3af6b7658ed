"""The house style of the figures, the one way to save them, and what the figures share:
line styles per economy, colours per label, mean-and-interval bands, metric axis labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_STYLE_SET = False

# One line style per economy variant, so a reader can tell the two economies apart in grey.
VARIANT_STYLE = {"taxai": "-", "clearing": "--"}


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


def band(ax, x, mean, lo, hi, colour, label, linestyle="-") -> None:
    """A mean line with its interval as a shaded band (no band where the interval is NaN)."""
    ax.plot(
        x, mean, color=colour, label=label, linestyle=linestyle, marker="o" if len(x) <= 3 else None
    )
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(np.asarray(x)[ok], lo[ok], hi[ok], color=colour, alpha=0.2, linewidth=0)


def label_colours(labels) -> dict:
    """A colour of the colour-blind palette for each label, in order of first appearance."""
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
