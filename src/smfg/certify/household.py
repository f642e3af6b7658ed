"""The exact household problem of the `clearing` economy (book:model-clearing,
book:certification) on a grid: :func:`solve` in either timing.

A household with CRRA utility over consumption and a disutility of work (E25) faces fixed
prices (interest ``r``, wage ``W`` per effective hour, lump-sum transfer ``tr``) and a fixed
fiscal policy (the E6 income and asset taxes, the consumption tax; or, in place of E6's
income tax, a piecewise-linear schedule with kinks: US federal 2022, Saez). Its cash on hand is
(E20) ``x = W e h_max f + (1+r) a - Tax(W e h_max f + r a) - Tax_a(a) + tr``, split into
consumption ``(1+tau_c) c`` and next period's assets ``a'``. Ability follows E11, discretised
(Rouwenhorst or Tauchen for the log-AR(1); the superstar regime as an optional extra state).

Two timings, two solvers:

- ``known`` (the textbook timing): the household sees this period's ability, then chooses
  its work share and its saving; the endogenous grid method (:mod:`smfg.certify.egm`).
- ``env`` (the environment's timing): the household chooses a saving share and a work share
  from last period's ability, before this period's is drawn; the best response that
  exploitability compares a learned policy with, by policy iteration
  (:mod:`smfg.certify.envtiming`), started from the ``known`` solution.

One job per module, each importing only those before it: :mod:`~smfg.certify.grids` (the
ability process and the asset grid), :mod:`~smfg.certify.primitives` (fiscal policy, prices,
preferences, the budget, :class:`~smfg.certify.primitives.Solution`),
:mod:`~smfg.certify.progress` (the solvers' progress channel), :mod:`~smfg.certify.hours`
(the static choice of hours), :mod:`~smfg.certify.evaluation` (policy evaluation),
:mod:`~smfg.certify.egm`, :mod:`~smfg.certify.envtiming`, and this front.

Arrays are numpy float64: ``[na, ne]`` over (assets, ability state); in the ``env`` timing the
ability index is the observed (last period's) state and a third axis ``[na, ne, ne]`` runs
over this period's realised state.
"""

from __future__ import annotations

from smfg.certify.egm import solve_known
from smfg.certify.envtiming import solve_env
from smfg.certify.grids import AbilityGrid, AssetGrid
from smfg.certify.primitives import Fiscal, Household, Prices, Solution

TIMINGS = ("known", "env")


def solve(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    timing: str = "known",
    **kw,
) -> Solution:
    """Solve the stationary household problem in either timing (``TIMINGS``)."""
    if timing == "known":
        return solve_known(hh, fiscal, prices, agrid, ability, **kw)
    if timing == "env":
        return solve_env(hh, fiscal, prices, agrid, ability, **kw)
    raise ValueError(f"timing = {timing!r}: allowed {TIMINGS}")
