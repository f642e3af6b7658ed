"""The stationary equilibrium of the `clearing` economy (book:model-clearing,
book:certification).

A continuum of households solves the problem of :mod:`smfg.certify.household` at constant
prices; the firm pays marginal products (E22); the government spends ``G = g Y``, keeps its
debt at ``B = b Y`` and rebates the rest of its revenue lump-sum (E23, closure
``transfer``); the capital market clears, ``sum a = K + B`` (E21). Given ``r``, the firm's
condition fixes capital per effective hour ``k = K/L`` and the wage; the transfer solves a
fixed point (it enters the households' budgets and is paid out of their taxes); the interest
rate then solves the capital market by Brent's method.

Aggregates are per household (model money: initial output per household), the distribution
is over the asset grid and ability states ``[na, ne]``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from smfg.certify.evaluation import env_outcomes
from smfg.certify.grids import AbilityGrid, AssetGrid, ability_grid
from smfg.certify.household import solve
from smfg.certify.primitives import Fiscal, Household, Prices, Solution, _labour_wage
from smfg.certify.progress import report_step
from smfg.config import EconomyParams


def invariant_distribution(
    sol: Solution, mu0: np.ndarray | None = None, tol: float = 1e-13, max_iter: int = 200_000
) -> np.ndarray:
    """The stationary distribution [na, ne] of households following ``sol``'s policy.

    Next assets off the grid are split between the two nodes around them in proportion to
    their distance (Young 2010), which keeps aggregate assets exact. Iterated from ``mu0``
    (default: the ability process's stationary distribution at zero assets) until the
    distribution moves by less than ``tol`` (sup norm) in a step.
    """
    ag, ab = sol.agrid, sol.ability
    na, ne = ag.n, ab.n
    if sol.timing == "known":
        lo, w = ag.locate(sol.a_next)  # [na, ne]: next assets, then this state's ability moves
        idx0 = (lo * ne + np.arange(ne)[None, :]).ravel()
        P_after = ab.P
    else:
        _, _, a_next = env_outcomes(sol.household, sol.fiscal, sol.prices, ag, ab, sol.s, sol.f)
        lo, w = ag.locate(a_next)  # [na, ne, ne]: the drawn ability k is next period's state
        P3 = np.broadcast_to(ab.P[None, :, :], lo.shape)
        idx0 = (lo * ne + np.arange(ne)[None, None, :]).ravel()
        P_after = None
    w_flat = w.ravel()
    n = na * ne
    if mu0 is None:
        mu = np.zeros((na, ne))
        mu[0] = ab.pi
    else:
        mu = mu0 / mu0.sum()
    for k in range(1, max_iter + 1):
        if P_after is not None:
            m = mu.ravel()
            moved = np.bincount(idx0, m * (1.0 - w_flat), n) + np.bincount(idx0 + ne, m * w_flat, n)
            new = moved.reshape(na, ne) @ P_after
        else:
            m = (mu[:, :, None] * P3).ravel()
            new = (
                np.bincount(idx0, m * (1.0 - w_flat), n) + np.bincount(idx0 + ne, m * w_flat, n)
            ).reshape(na, ne)
        diff = np.abs(new - mu).max()
        mu = new
        if diff < tol:
            break
        if k % 2000 == 0:
            report_step("distribution", k, f"change {diff:.3g} (tol {tol:g})")
    return mu / mu.sum()


def aggregates(sol: Solution, mu: np.ndarray) -> dict[str, float]:
    """Per-household aggregates of a distribution ``mu`` [na, ne] under ``sol``'s policy.

    ``A`` assets, ``L`` effective labour (ability times hours), ``C`` consumption, ``taxes``
    (income tax, E6 or the policy's schedule, asset and consumption taxes), ``utility``
    (mean period utility), ``hours`` (mean work share).
    """
    hh, fl, pr, ag, ab = sol.household, sol.fiscal, sol.prices, sol.agrid, sol.ability
    a = ag.a[:, None]
    weh = _labour_wage(hh, pr, ab)[None, :]
    if sol.timing == "known":
        y = weh * sol.f
        c = sol.c
        inc = y + pr.r * a
        per = {
            "A": a + 0 * c,
            "L": ab.e[None, :] * hh.h_max * sol.f,
            "C": c,
            "taxes": fl.income_tax(inc) + fl.asset_tax(a) + fl.tau_c * c,
            "utility": hh.u(c) - hh.v(sol.f),
            "hours": sol.f,
        }
    else:
        P3 = ab.P[None, :, :]
        f3 = sol.f[:, :, None]
        y = weh[:, None, :] * f3
        _, c, _ = env_outcomes(hh, fl, pr, ag, ab, sol.s, sol.f)
        inc = y + pr.r * a[:, :, None]
        tax = fl.income_tax(inc) + fl.asset_tax(a[:, :, None]) + fl.tau_c * c
        per = {
            "A": a + 0 * sol.f,
            "L": (P3 * ab.e[None, None, :] * hh.h_max * f3).sum(-1),
            "C": (P3 * c).sum(-1),
            "taxes": (P3 * tax).sum(-1),
            "utility": (P3 * hh.u(c)).sum(-1) - hh.v(sol.f),
            "hours": sol.f,
        }
    return {k: float((mu * v).sum()) for k, v in per.items()}


@dataclass
class StationaryEquilibrium:
    """A stationary equilibrium: prices, aggregates per household, the households' solution
    and their distribution."""

    r: float
    W: float
    tr: float
    K: float
    L: float
    Y: float
    A: float
    B: float
    G: float
    C: float
    taxes: float
    utility: float
    hours: float
    capital_residual: float
    """|A - K - B| / K at the solution."""
    solution: Solution
    distribution: np.ndarray
    fiscal: Fiscal
    evaluations: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)

    @property
    def K_over_Y(self) -> float:
        return self.K / self.Y

    def summary(self) -> dict[str, float]:
        """The scalars, for printing or JSON."""
        keys = (
            "r",
            "W",
            "tr",
            "K",
            "L",
            "Y",
            "A",
            "B",
            "G",
            "C",
            "taxes",
            "utility",
            "hours",
            "capital_residual",
            "evaluations",
            "seconds",
        )
        out = {k: float(getattr(self, k)) for k in keys}
        out["K_over_Y"] = self.K_over_Y
        out["grid"] = [self.solution.agrid.n, self.solution.ability.n]
        return out


def _brent(fun, a: float, b: float, tol: float, max_evals: int):
    """Brent's method for the root of ``fun(r) -> (value, payload)`` in [a, b].

    Inverse quadratic interpolation or secant steps where they stay in the bracket and
    shrink it fast enough, bisection otherwise (Brent 1973, "zeroin"). Stops when
    |value| <= tol or the bracket is narrower than 1e-14. Returns (r, payload of r, |value|,
    evaluations).
    """
    fa, pa = fun(a)
    fb, pb = fun(b)
    if not fa * fb < 0:
        raise ValueError(
            f"the capital-market excess does not change sign on r in [{a:.6g}, {b:.6g}] "
            f"({fa:.3g}, {fb:.3g}): allowed a bracket with a sign change"
        )
    evals = 2
    c, fc, pc = a, fa, pa
    d = e = b - a
    while evals < max_evals:
        if fb * fc > 0:
            c, fc, pc = a, fa, pa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, fa, pa, b, fb, pb, c, fc, pc = b, fb, pb, c, fc, pc, b, fb, pb
        tol1 = 1e-15 * abs(b) + 0.5e-14
        m = 0.5 * (c - b)
        if abs(fb) <= tol or abs(m) <= tol1:
            break
        if abs(e) >= tol1 and abs(fa) > abs(fb):
            s_ = fb / fa
            if a == c:  # secant
                p_, q_ = 2.0 * m * s_, 1.0 - s_
            else:  # inverse quadratic interpolation
                q_, r_ = fa / fc, fb / fc
                p_ = s_ * (2.0 * m * q_ * (q_ - r_) - (b - a) * (r_ - 1.0))
                q_ = (q_ - 1.0) * (r_ - 1.0) * (s_ - 1.0)
            if p_ > 0:
                q_ = -q_
            p_ = abs(p_)
            if 2.0 * p_ < min(3.0 * m * q_ - abs(tol1 * q_), abs(e * q_)):
                e, d = d, p_ / q_
            else:
                d = e = m
        else:
            d = e = m
        a, fa, pa = b, fb, pb
        b = b + (d if abs(d) > tol1 else math.copysign(tol1, m))
        fb, pb = fun(b)
        evals += 1
    return b, pb, abs(fb), evals


def no_government(params: EconomyParams) -> Fiscal:
    """No taxes (consumption tax included), no spending."""
    return Fiscal()


def stationary_equilibrium(
    params: EconomyParams,
    fiscal: Fiscal | None = None,
    labour: float | None = None,
    na: int = 500,
    ne: int = 7,
    a_max: float = 200.0,
    ability: AbilityGrid | None = None,
    timing: str = "known",
    r_bracket: tuple[float, float] | None = None,
    r_guess: float | None = None,
    tol: float = 1e-8,
    max_evals: int = 60,
    hh_tol: float = 1e-10,
) -> StationaryEquilibrium:
    """Solve for the stationary equilibrium interest rate of `clearing` (E20-E25).

    ``fiscal``: the government's policy (default: none at all, ``Fiscal()``);
    ``labour``: a fixed work share (inelastic labour) or None. ``r_bracket`` defaults to
    (-delta + 1e-4, 1/beta - 1 - 1e-8) without taxes (below ``1/beta - 1`` the households'
    assets stay bounded; the capital-market excess ``A - K - B`` rises with ``r`` from
    negative to positive in that interval), and to (-delta + 1e-4, 3) with income or asset
    taxes (E6 or a schedule), which let the pre-tax rate exceed it. ``r_guess``: start from
    a bracket found by stepping out from this rate (fewer costly evaluations near the ends).
    Stops when the relative excess is below ``tol`` or the bracket is narrower than 1e-14; the
    households' tolerance ``hh_tol`` (relative change of consumption in an EGM step) makes
    the excess a deterministic function of ``r`` only to about 10 times that. The transfer is
    solved to ``tol * 1e-3`` (at most 1e-11) of output.
    """
    t0 = time.perf_counter()
    fiscal = Fiscal() if fiscal is None else fiscal
    hh = Household.from_params(params, labour=labour)
    ab = ability_grid(params, ne) if ability is None else ability
    ag = AssetGrid(na, a_max)
    alpha, delta, A_tfp = params.alpha, params.delta, params.A
    # Households' assets stay bounded while their return after taxes is below 1/beta - 1;
    # income and asset taxes let the pre-tax rate go above it
    taxed = fiscal.tau > 0 or fiscal.tau_a > 0 or any(r > 0 for r in fiscal.rates or ())
    lo, hi = r_bracket or (-delta + 1e-4, 3.0 if taxed else 1.0 / params.beta - 1.0 - 1e-8)
    state: dict = {"sol": None, "mu": None, "tr": 0.0}
    history: list = []

    def at_transfer(r, W, k, tr):
        report_step("equilibrium", len(history) + 1, f"r={r:.5g}: households at transfer {tr:.4g}")
        kw = {"init": state["sol"], "value": False, "tol": hh_tol} if timing == "known" else {}
        sol = solve(hh, fiscal, Prices(r, W, tr), ag, ab, timing, **kw)
        mu = invariant_distribution(sol, state["mu"])
        state.update(sol=sol, mu=mu)
        agg = aggregates(sol, mu)
        Y = A_tfp * k**alpha * agg["L"]
        return agg["taxes"] - fiscal.g * Y - r * params.b * Y - tr, agg, Y

    memo: dict[float, tuple] = {}

    def excess(r: float):
        if r not in memo:  # the bracket search and Brent's method share evaluations
            memo[r] = _excess(r)
        return memo[r]

    def _excess(r: float):
        k = (alpha * A_tfp / (r + delta)) ** (1.0 / (1.0 - alpha))
        W = (1.0 - alpha) * A_tfp * k**alpha
        # the transfer that the households' taxes pay (E23): a fixed point in tr, nearly
        # linear, so a secant step after a first fixed-point step
        tr0 = state["tr"]
        g0, agg, Y = at_transfer(r, W, k, tr0)
        tr, g = tr0, g0
        for _ in range(50):
            if abs(g) <= min(1e-11, 1e-3 * tol) * max(1.0, Y):
                break
            tr_next = tr + g if tr == tr0 or g == g0 else tr - g * (tr - tr0) / (g - g0)
            tr0, g0 = tr, g
            tr = tr_next
            g, agg, Y = at_transfer(r, W, k, tr)
        state["tr"] = tr
        K = k * agg["L"]
        B = params.b * Y
        out = dict(agg, r=r, W=W, tr=tr, K=K, Y=Y, B=B, G=fiscal.g * Y)
        history.append((r, (agg["A"] - K - B) / K))
        report_step("equilibrium", len(history), f"r={r:.5g}, capital excess {history[-1][1]:+.3g}")
        return (agg["A"] - K - B) / K, out

    if r_bracket is None and r_guess is not None:  # walk out from the guess to a sign change
        f0, _ = excess(r_guess)
        step = 0.005 if f0 < 0 else -0.005
        a_, fa = r_guess, f0
        while True:
            b_ = min(max(a_ + step, lo), hi)
            fb, _ = excess(b_)
            if fa * fb <= 0 or b_ in (lo, hi):
                lo, hi = min(a_, b_), max(a_, b_)
                break
            a_, fa, step = b_, fb, 2.0 * step
    r, res, best_f, evals = _brent(excess, lo, hi, tol, max_evals)
    best = res
    if history[-1][0] != r:  # the stored solution belongs to the last evaluation
        _, best = _excess(r)
    sol, mu = state["sol"], state["mu"]
    return StationaryEquilibrium(
        r=best["r"],
        W=best["W"],
        tr=best["tr"],
        K=best["K"],
        L=best["L"],
        Y=best["Y"],
        A=best["A"],
        B=best["B"],
        G=best["G"],
        C=best["C"],
        taxes=best["taxes"],
        utility=best["utility"],
        hours=best["hours"],
        capital_residual=best_f,
        solution=sol,
        distribution=mu,
        fiscal=fiscal,
        evaluations=evals,
        seconds=time.perf_counter() - t0,
        history=history,
    )


__all__ = [
    "StationaryEquilibrium",
    "aggregates",
    "invariant_distribution",
    "no_government",
    "stationary_equilibrium",
]
