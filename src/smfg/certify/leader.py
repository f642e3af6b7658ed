"""The leader's gap (book:certification), and households that play the exact best response to
a leader's stationary policy.

Each point of a grid over the E6 income tax (``tau``, ``xi``) and spending ``g`` (asset tax at
the lower clip) is evaluated with households best-responding: the stationary equilibrium
under it (households in the ``known`` timing, elastic labour, transfers closing the budget),
the ``env``-timing best response at its prices, and the leader's return in the environment
(the run's households and shocks) with households playing that response. The leader's gap is
the best grid point's return minus the learned leader's.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from smfg.certify.envtiming import solve_env
from smfg.certify.equilibrium import stationary_equilibrium
from smfg.certify.population import simulate, stationary_environment
from smfg.certify.primitives import Fiscal, Prices
from smfg.certify.rules import GridRule
from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.env import SMFGEnv
from smfg.policies.households import FixedShares


def e6_grid(params: EconomyParams, points: int = 3) -> list[tuple[float, float, float]]:
    """``points`` values of each of tau, xi and g, evenly over the leader's range (E1,
    between the action clips), as (tau, xi, g) triples."""
    c = np.linspace(params.action_low, params.action_high, points)
    taus, xis, gs = params.tau_max * c, params.xi_max * c, params.g_max * c
    return [(float(t), float(x), float(g)) for t, x, g in itertools.product(taus, xis, gs)]


def grid_fiscal(params: EconomyParams, tau: float, xi: float, g: float) -> Fiscal:
    """An E6 grid point with the asset tax at the lower clip (the free market's)."""
    low = params.action_low
    return Fiscal(tau, xi, params.tau_a_max * low, params.xi_a_max * low, g, params.tau_c)


@functools.lru_cache(maxsize=256)
def _grid_point_response(params: EconomyParams, fiscal: Fiscal, na: int, ne: int, a_max: float):
    """Stationary equilibrium under ``fiscal`` and the env-timing best response at its prices,
    or (None, the reason) where there is none (cached either way: the same grid serves every
    run, and every certification of a learning curve)."""
    try:
        eq = stationary_equilibrium(
            params, fiscal, na=na, ne=ne, a_max=a_max, r_guess=0.01, tol=1e-6, hh_tol=1e-9
        )
    except ValueError as exc:  # InfeasibleError, or no equilibrium in the bracket
        return None, str(exc)
    prices = Prices(eq.r, eq.W, eq.tr)
    sol = eq.solution
    best = solve_env(sol.household, fiscal, prices, sol.agrid, sol.ability)
    return eq.summary(), best


class _FixedGov:
    """A constant policy (E6, or with its income-tax schedule) as a government policy of the
    environment's protocol."""

    name = "e6-grid-point"

    def __init__(self, fiscal: Fiscal):
        self.fiscal = fiscal

    def reset(self, env: SMFGEnv) -> None:
        f = self.fiscal
        t = lambda v: torch.full((env.n_envs,), v, dtype=env.dtype)  # noqa: E731
        self.action = GovAction(t(f.tau), t(f.xi), t(f.tau_a), t(f.xi_a), t(f.g))
        if f.brackets is not None:
            sched = lambda v: torch.tensor(v, dtype=env.dtype).expand(env.n_envs, -1)  # noqa: E731
            self.action = self.action.with_schedule(sched(f.brackets), sched(f.rates))

    def __call__(self, obs, income):
        return self.action


def leader_objective(
    params: EconomyParams,
    fiscal: Fiscal,
    n_households: int,
    seed: int,
    steps: int | None = None,
    leader_reward: str = "gdp",
    na: int = 100,
    ne: int = 7,
    a_max: float = 200.0,
    reward_weights: Sequence[float] = (1.0, 1.0, 1.0),
) -> dict:
    """The leader's return under a constant E6 policy with households best-responding (the
    env-timing best response at the policy's stationary-equilibrium prices), in the
    environment with the run's households and shocks. Infeasible policies get -inf.

    Nothing here depends on a learned policy: the result is cached in the process for the
    same arguments, so a run that certifies every few epochs pays for its grid once."""
    weights = tuple(float(w) for w in reward_weights)
    res = _objective(
        params,
        fiscal,
        int(n_households),
        int(seed),
        steps,
        leader_reward,
        int(na),
        int(ne),
        float(a_max),
        weights,
    )
    return copy.deepcopy(res)


@functools.lru_cache(maxsize=1024)
def _objective(params, fiscal, n_households, seed, steps, leader_reward, na, ne, a_max, weights):
    eq, best = _grid_point_response(params, fiscal, na, ne, a_max)
    if eq is None:
        return {"leader_return": -math.inf, "feasible": False, "reason": best}
    pop = simulate(
        params,
        _FixedGov(fiscal),
        GridRule(best),
        n_households,
        seed,
        steps,
        leader_reward,
        reward_weights=weights,
    )
    return {
        "leader_return": pop.leader_return,
        "feasible": True,
        "years": pop.steps,
        "termination": ",".join(pop.termination),
        "equilibrium": {k: eq[k] for k in ("r", "tr", "K_over_Y", "Y", "hours", "utility")},
    }


def leader_gap(
    params: EconomyParams,
    learned_return: float,
    n_households: int,
    seed: int,
    steps: int | None = None,
    leader_reward: str = "gdp",
    grid: Sequence[tuple[float, float, float]] | None = None,
    extra: dict[str, Fiscal] | None = None,
    progress: Callable[[str], None] | None = None,
    **kw,
) -> dict:
    """The leader's return at each grid point (and at ``extra`` named policies) with
    households best-responding, the best grid point and its gap over ``learned_return``."""
    grid = e6_grid(params) if grid is None else list(grid)
    rows = []
    named = [
        (f"tau={t:.4g} xi={x:.4g} g={g:.4g}", grid_fiscal(params, t, x, g), True)
        for t, x, g in grid
    ]
    named += [(k, v, False) for k, v in (extra or {}).items()]
    t0 = time.perf_counter()
    for k, (name, fis, on_grid) in enumerate(named, 1):
        res = leader_objective(params, fis, n_households, seed, steps, leader_reward, **kw)
        rows.append(
            {
                "policy": name,
                "on_grid": on_grid,
                "tau": fis.tau,
                "xi": fis.xi,
                "tau_a": fis.tau_a,
                "xi_a": fis.xi_a,
                "g": fis.g,
                **res,
            }
        )
        if progress is not None:
            why = "" if res["feasible"] else f" (infeasible: {res['reason'][:80]})"
            left = (time.perf_counter() - t0) / k * (len(named) - k)
            progress(
                f"leader policy {k}/{len(named)}, {name}: return "
                f"{res['leader_return']:.4g}{why}; about {left:.0f} s left"
            )
    on = [r for r in rows if r["on_grid"]]
    best = max(on, key=lambda r: r["leader_return"])
    return {
        "learned_return": float(learned_return),
        "best": {k: best[k] for k in ("policy", "tau", "xi", "g", "leader_return")},
        "gap": float(best["leader_return"] - learned_return),
        "rows": rows,
    }


# --- the followers' exact best response to a leader ----------------------------------------


def stationary_fiscal(
    params: EconomyParams,
    gov_policy,
    n_households: int,
    seed: int = 0,
    steps: int | None = None,
    household_policy=None,
    burn_in: int = 100,
) -> Fiscal:
    """The stationary fiscal policy of a government policy: what it does on average once
    its economy has settled.

    The policy is simulated (:func:`simulate`) with ``n_households`` households acting by
    ``household_policy`` (default: the survival rule of `clearing`, save 80% and work a
    third), for ``steps`` (default: the episode) steps, and its action is averaged over
    steps ``[burn_in, end)`` by :func:`stationary_environment`: the E6 numbers as means; an
    income-tax schedule as the one in force when it stays put (a US federal 2022 policy:
    exactly its brackets), else as the mean schedule, threshold by threshold and rate by
    rate, over the window (Saez's, recomputed every 100 steps).
    """
    if household_policy is None:
        household_policy = FixedShares(0.8, 1.0 / 3.0)
    pop = simulate(params, gov_policy, household_policy, n_households, seed, steps)
    return stationary_environment(pop, params, burn_in).fiscal


def exact_households(
    params: EconomyParams, fiscal: Fiscal, na: int = 100, ne: int = 7, a_max: float = 200.0
) -> GridRule:
    """Households who play the exact best response to a leader's (stationary) policy.

    Every household acts by its exact best response to ``fiscal`` (E6 or an income-tax
    schedule; :func:`stationary_fiscal` gets it from a government policy) at the prices of
    the stationary equilibrium under it: the equilibrium with households in the ``known``
    timing, then the ``env``-timing best response (the environment's information) at its
    prices, on ``na`` asset points up to ``a_max`` and ``ne`` ability states (cached per
    policy and grid). Returns a household policy of the environment (and a follower rule).
    Raises ``ValueError`` when there is no equilibrium (an infeasible policy, say).
    """
    eq, best = _grid_point_response(params, fiscal, na, ne, a_max)
    if eq is None:  # no equilibrium: ``best`` says why
        raise ValueError(f"exact_households: {best}")
    return GridRule(best)
