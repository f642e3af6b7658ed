"""Figures of the book: one house style, one way to save, one function per figure.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot's
global state, so they render the same in a script, a test, a dask worker or a notebook. Each
plotting function takes plain pandas tables (what ``smfg.paper`` returns) and returns
the Figure; :func:`save_figure` writes it. Layering: this package imports only numpy, pandas,
matplotlib, seaborn and its own modules.
"""

from smfg.plotting.audit import AUDIT_PANELS, plot_audit
from smfg.plotting.headline import ECONOMY_COLOURS, plot_headline
from smfg.plotting.learning import (
    plot_action_distributions,
    plot_bc_loss,
    plot_certified_curves,
    plot_training_curves,
)
from smfg.plotting.outcomes import (
    plot_efficiency_equity,
    plot_household_share,
    plot_multi_objective,
)
from smfg.plotting.scale import plot_mean_field, plot_scaling
from smfg.plotting.style import new_figure, save_figure, set_style

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
