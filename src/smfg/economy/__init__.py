"""The simulator: two economies ('taxai', 'clearing') behind one pure, batched step.

Layering: this package imports only ``smfg.config`` and itself, never learning code.
"""

from smfg.config import EconomyParams, economy_params
from smfg.economy.government import GovAction, tax_e6, tax_piecewise
from smfg.economy.metrics import EpisodeMetrics, gini, gini_rsv, weighted_gini
from smfg.economy.state import (
    EconState,
    Households,
    Shocks,
    draw_households,
    draw_shocks,
    reset_state,
)
from smfg.economy.step import TERMINATION_FLAGS, Flows, step, termination_reasons

__all__ = [
    "EconState",
    "EconomyParams",
    "EpisodeMetrics",
    "Flows",
    "GovAction",
    "Households",
    "Shocks",
    "TERMINATION_FLAGS",
    "draw_households",
    "draw_shocks",
    "economy_params",
    "gini",
    "gini_rsv",
    "reset_state",
    "step",
    "tax_e6",
    "tax_piecewise",
    "termination_reasons",
    "weighted_gini",
]
