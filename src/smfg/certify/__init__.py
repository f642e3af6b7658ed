"""Certification (book:certification): is a learned result an equilibrium, and how far from one?

- :mod:`smfg.certify.household`: the exact household problem of `clearing` on a grid,
  :func:`solve` in either timing, on one module per job: :mod:`~smfg.certify.grids` (the
  ability process, the asset grid), :mod:`~smfg.certify.primitives` (E6 taxes or a
  piecewise-linear income-tax schedule (US federal 2022, Saez), prices, preferences, the
  budget), :mod:`~smfg.certify.hours` (the static choice of hours),
  :mod:`~smfg.certify.evaluation` (policy evaluation), :mod:`~smfg.certify.egm` (the
  endogenous grid method in the textbook timing, Euler equation errors),
  :mod:`~smfg.certify.envtiming` (policy iteration in the environment's) and
  :mod:`~smfg.certify.progress`.
- :mod:`smfg.certify.equilibrium`: the stationary equilibrium (the interest rate that clears
  the capital market).
- :mod:`smfg.certify.exploitability`: the consumption-equivalent gain of switching from a
  follower rule to the best response, the leader's gap to the best E6 policy of a grid, and
  households that play the exact best response to a leader's stationary policy.

Layering: imports config, economy, env, policies and algos; never experiments.
"""

from smfg.certify.egm import euler_errors, solve_known, solve_known_path
from smfg.certify.envtiming import solve_env
from smfg.certify.equilibrium import (
    StationaryEquilibrium,
    aggregates,
    invariant_distribution,
    stationary_equilibrium,
)
from smfg.certify.evaluation import value_env, value_known
from smfg.certify.exploitability import (
    Exploitability,
    GridRule,
    Population,
    Rule,
    StationaryEnvironment,
    by_ability,
    certify_followers,
    consumption_equivalent,
    consumption_loss,
    e6_grid,
    exact_households,
    exploitability,
    fixed_rule,
    grid_fiscal,
    grid_shares,
    leader_gap,
    leader_objective,
    rule_from_policy,
    simulate,
    stationary_environment,
    stationary_fiscal,
)
from smfg.certify.grids import (
    AbilityGrid,
    AssetGrid,
    ability_grid,
    rouwenhorst,
    stationary_distribution,
    tauchen,
)
from smfg.certify.household import TIMINGS, solve
from smfg.certify.primitives import (
    Fiscal,
    Household,
    InfeasibleError,
    Prices,
    Solution,
    cash_on_hand,
    e6_marginal,
    e6_tax,
    schedule_tax,
)
from smfg.certify.progress import solver_progress

__all__ = [
    "TIMINGS",
    "AbilityGrid",
    "AssetGrid",
    "Exploitability",
    "Fiscal",
    "GridRule",
    "Household",
    "InfeasibleError",
    "Population",
    "Prices",
    "Rule",
    "Solution",
    "StationaryEnvironment",
    "StationaryEquilibrium",
    "ability_grid",
    "aggregates",
    "by_ability",
    "cash_on_hand",
    "certify_followers",
    "consumption_equivalent",
    "consumption_loss",
    "e6_grid",
    "e6_marginal",
    "e6_tax",
    "euler_errors",
    "exact_households",
    "exploitability",
    "fixed_rule",
    "grid_fiscal",
    "grid_shares",
    "invariant_distribution",
    "leader_gap",
    "leader_objective",
    "rouwenhorst",
    "rule_from_policy",
    "schedule_tax",
    "simulate",
    "solve",
    "solve_env",
    "solve_known",
    "solve_known_path",
    "solver_progress",
    "stationary_distribution",
    "stationary_environment",
    "stationary_equilibrium",
    "stationary_fiscal",
    "tauchen",
    "value_env",
    "value_known",
]
