"""The ``known`` timing (the textbook timing, book:certification) by the endogenous grid method.

The household sees this period's ability, then chooses its work share ``f`` and its saving
``a' >= 0``. The Euler equation gives consumption at each grid point of ``a'``; the labour
condition ``chi f^(1/phi) = u'(c)/(1+tau_c) W e h_max (1 - Tax'(i))`` and the budget then give
the endogenous assets and hours together (two equations, Newton's method, because E6 makes
after-tax income nonlinear in both). On the exogenous grid, hours and consumption are
re-solved exactly from the interpolated saving (:mod:`smfg.certify.hours`), so the budget and
the labour condition hold exactly and only the Euler equation is approximated. Under a
schedule the tax is linear between kinks and households bunch at a kink where the rate rises:
the candidates are each bracket's labour condition and each such kink, with the shadow
marginal rate ``1 - chi f^(1/phi)/(lam W e h_max)`` between the adjacent rates (it also prices
assets there, by the envelope theorem); with rates that never fall exactly one candidate is
consistent. Where a rate falls the problem is not concave, and an upper envelope over the
candidates, valued exactly, picks the household's choice.

Also the backward induction along a path of prices and policies, and the Euler equation
errors of a solution. Arrays are [na, ne] over (assets, this period's ability state). The
steps under a schedule are in :mod:`smfg.certify.egm_schedule`, the interpolation of the
saving rule in :mod:`smfg.certify.interp`.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from smfg.certify.egm_schedule import _egm_step_schedule, _grid_asset_tax
from smfg.certify.evaluation import value_known
from smfg.certify.grids import AbilityGrid, AssetGrid, _lerp
from smfg.certify.hours import _hours_given_saving, _static_choice
from smfg.certify.interp import _ColumnInterp, _interp_cols
from smfg.certify.primitives import (
    Fiscal,
    Household,
    Prices,
    Solution,
    _budget,
    _check_inputs,
    _income_tax3,
    _labour_wage,
    _tax3,
    cash_on_hand,
)
from smfg.certify.progress import report_step


def _endogenous_points(hh, fiscal, prices, c, a_next, weh, a0, f0, iters: int = 50, weh2=None):
    """Assets and work share at which consumption ``c`` and saving ``a_next`` are optimal.

    Two equations in (a, f): the labour condition ``chi f^(1/phi) = lam weh x_y`` and the
    budget ``x(a, f) = (1+tau_c) c + a_next``, by Newton's method with f kept in its bounds
    (projected: where a step leaves the box, f stops at the bound and only the budget is
    solved). Returns (a, f). (The terms of :func:`_budget` are written out, with the factors
    that do not change between iterations made once; every product and sum is the one
    :func:`_budget` and the Jacobian ``J11 = chi k f^(k-1) - lam weh^2 x_yy``, ``J12 = -lam
    weh r x_yy`` with ``x_yy = -Tax''`` give, with the signs moved where IEEE arithmetic
    makes that exact. ``weh2``: ``weh**2`` if already made.)
    """
    tc = 1.0 + fiscal.tau_c
    lam = hh.u_c(c) / tc
    M = tc * c + a_next
    a = a0
    fixed = hh.labour is not None
    f = np.full_like(a, hh.labour) if fixed else f0
    r, tr, r1 = prices.r, prices.tr, 1.0 + prices.r
    k = 1.0 / hh.phi
    if not fixed:
        lw = lam * weh
        lw2, lwr = lam * (weh**2 if weh2 is None else weh2), lw * r
        chi_k = hh.chi * k
    for it in range(iters):
        y = weh * f
        T, T1, T2 = _income_tax3(fiscal, y + r * a, 1 if fixed else 2)
        Ta, Ta1, _ = _tax3(a, fiscal.tau_a, fiscal.xi_a, 1)
        x_a = r1 - r * T1 - Ta1
        R2 = y + r1 * a - T - Ta  # x - M
        if tr != 0.0:
            R2 = R2 + tr
        R2 = R2 - M
        if fixed:
            da = -R2 / x_a
            a = a + da
            if np.max(np.abs(da) / (1.0 + np.abs(a))) <= 1e-14:
                break
            continue
        x_y = 1.0 - T1
        R1 = hh.chi * f**k - lw * x_y
        J11 = chi_k * (f if k == 2.0 else f ** (k - 1.0)) + lw2 * T2
        J12 = lwr * T2
        J21 = weh * x_y
        det = J11 * x_a - J12 * J21
        df = (R2 * J12 - R1 * x_a) / det
        da = (R1 * J21 - R2 * J11) / det
        f_step = f + df
        f_new = f_step.clip(hh.f_lo, hh.f_hi)
        pinned = f_new != f_step
        if pinned.any():  # at a bound, f stays there and a solves the linearised budget
            da = np.where(pinned, -(R2 + J21 * (f_new - f)) / x_a, da)
        a = a + da
        if it == iters - 1:  # the last iteration: no test of the change needed
            f = f_new
            break
        change = max(np.max(np.abs(f_new - f)), np.max(np.abs(da) / (1.0 + np.abs(a))))
        f = f_new
        if change <= 1e-14:
            break
    return a, f


def egm_step(
    hh, fiscal, prices, agrid, ability, Va_next, warm=None, exact: bool = False, newton: int = 50
):
    """One step of the endogenous grid method: this period's policy given next period's
    marginal value of assets ``Va_next`` [na, ne] on the grid.

    Saving and hours are interpolated from the endogenous points and consumption follows
    from the budget; ``exact`` re-solves hours (and consumption) from the interpolated
    saving so that the labour condition holds exactly too. Where the borrowing limit binds,
    hours and consumption solve the static problem with ``a' = a_min``. ``newton`` caps the
    Newton iterations for the endogenous points (a stationary solve takes one per step once
    warm: the points then converge together with the policy). Returns a dict with
    ``c, f, a_next, Va`` [na, ne] and the endogenous points (for warm starts). A policy
    with an income-tax schedule goes to :func:`_egm_step_schedule`.
    """
    if fiscal.brackets is not None:
        return _egm_step_schedule(hh, fiscal, prices, agrid, ability, Va_next, warm, exact)
    t = _egm_terms(hh, fiscal, prices, agrid, ability, warm)
    EVa = Va_next @ t.PT  # [k, j]: E[Va(a'_k, e') | e_j]  (as _euler_points)
    return _egm_step_expected(hh, fiscal, prices, t, EVa, warm, exact, newton)


def _egm_step_expected(hh, fiscal, prices, t, EVa, warm, exact, newton):
    """:func:`egm_step` (E6 income tax) from the expected marginal value ``EVa`` [na, ne] at
    the next-asset grid points, with the problem's :class:`_EgmTerms` ``t``."""
    a, tc, weh, a_k = t.a, t.tc, t.weh, t.a_k
    c_endo = hh.u_c_inv(hh.beta * EVa * tc)
    if warm is None:
        f0 = np.full(c_endo.shape, 0.3 if hh.labour is None else hh.labour)
        a0 = a_k.copy()
    else:
        a0, f0 = warm["a_endo"], warm["f_endo"]
    a_endo, f_endo = _endogenous_points(
        hh, fiscal, prices, c_endo, a_k, weh, a0, f0, newton, t.weh2
    )
    where = _ColumnInterp.of(a, a_endo, None if warm is None else warm.get("interp"))
    a_next, f = _interp_cols(a, a_endo, [a_k, f_endo], where)
    f = f.clip(hh.f_lo, hh.f_hi) if hh.labour is None else f
    # the borrowing limit binds (a <= the first endogenous point): in the first rows only
    rows = int(np.searchsorted(a, a_endo[0].max(), side="right"))
    bound = a[:rows, None] <= a_endo[0][None, :]
    any_bound = bool(bound.any())
    a_next = np.maximum(a_next, a[0])
    if any_bound:
        np.copyto(a_next[:rows], a[0], where=bound)
    if exact:
        f, c, x_a = _static_choice(hh, fiscal, prices, a[:, None], a_next, weh, f)
    else:
        # _budget at the grid's assets, with its terms in assets made once per policy
        r = prices.r
        y = weh * f
        T, T1, _ = _income_tax3(fiscal, y + t.ra, 1)
        x = y + t.a1r - T - t.Ta
        if prices.tr != 0.0:
            x = x + prices.tr
        x_a = 1.0 + r - r * T1 - t.Ta1
        c = (x - a_next) / tc
        if any_bound:
            # the static choice at a' = a_min does not change between steps: solved once
            at_min = t.at_min(rows)
            for z, z_min in zip((f, c, x_a), at_min, strict=True):
                np.copyto(z[:rows], z_min[:rows], where=bound)
    Va = hh.u_c(c) / tc * x_a
    return {
        "c": c,
        "f": f,
        "a_next": a_next,
        "Va": Va,
        "a_endo": a_endo,
        "f_endo": f_endo,
        "interp": where,
        "terms": t,
        "bound": bound,
    }


def _newton_phase(step, PT, Va, warm, max_newton: int = 8, h: float = 1e-6):
    """Newton's method on the EGM fixed point ``Va = T(Va)``, from ``Va`` and the ``warm``
    dict of the step that made it: (Va, warm, steps). ``step(EVa, warm)``: the EGM step
    from the expected marginal value (its dict has the points' segments ``interp`` and
    where the borrowing limit binds, ``bound``); ``PT``: the transposed ability transition.

    Plain steps contract at about ``(beta R)^(1/sigma)/R`` (0.963 at the calibration): the
    error is carried along the saving rule, a period per step, and fades only as the horizon
    grows, which no extrapolation of the iterates undoes in a few steps (Anderson
    acceleration and Aitken's extrapolation were tried). The step's Jacobian in the expected
    marginal value is sparse instead: each grid point's ``Va`` depends on ``EVa`` at the two
    next-asset points whose endogenous points bracket it (its interpolation segment), in its
    own ability state. Three more steps, each perturbing every third next-asset point, give
    both entries of every row (finite differences, relative step ``h``); the Newton system
    ``(I - J) d = T(Va) - Va`` is then solved by fixed-point iteration on the linear map, a
    few microseconds an iteration instead of a step's hundreds, to a tolerance that shrinks
    with the residual. A Newton iterate that does not halve the residual (or leaves ``Va``
    non-positive) is dropped: the caller goes on with plain steps from the best point.
    """
    na, ne = Va.shape
    cols = np.arange(ne)
    best, best_res, steps = (Va, warm), np.inf, 0
    x = Va
    for _ in range(max_newton):
        EVa = x @ PT
        base = step(EVa, warm)
        steps += 1
        r = base["Va"] - x
        res = float(np.max(np.abs(r) / x))
        if not res < 0.5 * best_res:
            break
        best, best_res, warm = (base["Va"], base), res, base
        if res < 1e-13:
            break
        # each point's segment: its left next-asset node k, the right one k + 1
        k = np.minimum(base["interp"].seg // ne, na - 2).reshape(na, ne)
        lo, hi = np.zeros((na, ne)), np.zeros((na, ne))
        for color in range(3):
            dE = np.zeros_like(EVa)
            dE[color::3] = h * EVa[color::3]
            moved = step(EVa + dE, base)
            steps += 1
            dVa = moved["Va"] - base["Va"]
            for D, kk in ((lo, k), (hi, k + 1)):
                sel = kk % 3 == color
                D[sel] = dVa[sel] / dE[kk, cols][sel]
        bound = base["bound"]
        lo[: bound.shape[0]][bound] = 0.0  # the borrowing limit binds: Va does not move
        hi[: bound.shape[0]][bound] = 0.0
        lo, hi = lo.ravel(), hi.ravel()
        i_lo = (k * ne + cols).ravel()
        i_hi = i_lo + ne
        rf, scale = r.ravel(), x.ravel()
        d, stop = rf, max(1e-15, 1e-3 * res)
        for it in range(2000):
            dEf = (d.reshape(na, ne) @ PT).ravel()
            d_new = rf + lo * dEf.take(i_lo) + hi * dEf.take(i_hi)
            if it % 4 == 3 and np.max(np.abs(d_new - d) / scale) < stop:
                d = d_new
                break
            d = d_new
        x_new = x + d.reshape(na, ne)
        if not np.all(x_new > 0.0):
            break
        x = x_new
    return best[0], best[1], steps


class _EgmTerms:
    """What the EGM steps of one problem share (E6 income tax): the grid's terms of
    :func:`_budget` that do not depend on hours, the pay per unit of work share, each full
    [na, ne] (numpy is much slower broadcasting a row of 7 than on whole arrays), and the
    static choice at ``a' = a_min``; kept in the steps' warm dicts."""

    def __init__(self, key, hh, fiscal, prices, agrid, ability):
        self.key = key
        self.hh, self.fiscal, self.prices, self.agrid = hh, fiscal, prices, agrid
        a = self.a = agrid.a
        shape = (agrid.n, ability.n)
        self.tc = 1.0 + fiscal.tau_c
        self.PT = ability.P.T
        full = partial(_full, shape)
        self.weh1 = _labour_wage(hh, prices, ability)[None, :]
        self.weh = full(self.weh1)
        self.weh2 = self.weh**2
        self.a_k = full(a[:, None])
        Ta, Ta1 = _grid_asset_tax(fiscal, a)
        self.ra, self.a1r = full(prices.r * a[:, None]), full((1.0 + prices.r) * a[:, None])
        self.Ta, self.Ta1 = full(Ta), full(Ta1)
        self._at_min = None

    def at_min(self, rows: int):
        """The static choice (f, c, x_a) at ``a' = a_min`` of the first ``rows`` asset points
        at least (made for twice as many when more are asked for)."""
        if self._at_min is None or self._at_min[0].shape[0] < rows:
            rows = min(max(2 * rows, 8), self.agrid.n)
            a = self.a[:rows, None]
            self._at_min = _static_choice(
                self.hh, self.fiscal, self.prices, a, self.a[0], self.weh1
            )
        return self._at_min


def _full(shape, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(x, shape))


def _egm_terms(hh, fiscal, prices, agrid, ability, warm) -> _EgmTerms:
    """The :class:`_EgmTerms` of the problem: the warm dict's if it is the same problem."""
    key = (hh, fiscal, prices, agrid, ability.e.tobytes(), ability.P.tobytes())
    t = None if warm is None else warm.get("terms")
    if t is None or t.key != key:
        t = _EgmTerms(key, hh, fiscal, prices, agrid, ability)
    return t


def _initial_marginal_value(hh, fiscal, prices, agrid, ability) -> np.ndarray:
    """A first guess: consume the period's return on assets plus labour income at f = 1/3."""
    a = agrid.a[:, None]
    weh = _labour_wage(hh, prices, ability)[None, :]
    f = np.full_like(a * weh, 1 / 3 if hh.labour is None else hh.labour)
    x, _, x_a, _ = _budget(fiscal, prices, a, weh * f, 1)
    c = np.maximum(x - a, 0.5 * x) / (1.0 + fiscal.tau_c)
    return hh.u_c(c) / (1.0 + fiscal.tau_c) * x_a


def _expected_step(hh, fiscal, prices, agrid, ability, EVa, warm):
    """The EGM step (endogenous points solved to the end) from ``EVa``, for
    :func:`_newton_phase`."""
    if fiscal.brackets is not None:
        return _egm_step_schedule(hh, fiscal, prices, agrid, ability, None, warm, EVa=EVa)
    t = _egm_terms(hh, fiscal, prices, agrid, ability, warm)
    return _egm_step_expected(hh, fiscal, prices, t, EVa, warm, False, 50)


def solve_known(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    tol: float = 1e-10,
    max_iter: int = 5000,
    init: Solution | None = None,
    value: bool = True,
) -> Solution:
    """The stationary problem in the ``known`` timing by the endogenous grid method.

    Iterates EGM steps until consumption changes by less than ``tol`` (relative, sup norm)
    from one step to the next. Where the problem is concave (all but schedules whose rate
    falls), after 30 steps, Newton's method (:func:`_newton_phase`) takes the marginal
    value near the fixed point first; the plain
    steps after it stop by the same test (``iterations`` counts every step, those of the
    Newton phase and its Jacobians included).
    ``init``: a solution to start from (e.g. at nearby prices). ``value``: also compute the
    value function (policy evaluation), needed for welfare comparisons.
    The iteration contracts at about beta per step, slowest for the richest households.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is not None and init.info.get("warm") is not None:
        # the iteration's own last step (the final exact step is another operator, whose
        # marginal value differs by the interpolation error: no warm start from it)
        warm = init.info["warm"]
        Va = warm["Va"]
    elif init is not None and init.Va is not None:
        Va, warm = init.Va, None
    else:
        Va = _initial_marginal_value(hh, fiscal, prices, agrid, ability)
        warm = None
    c_old = None
    converged = False
    # Newton's method where the problem is concave (not :func:`_envelope_step`'s)
    concave = fiscal.brackets is None or fiscal.schedule.convex or hh.labour is not None
    it, plain, newton_after = 0, 0, 30 if concave else -1
    while it < max_iter:
        it += 1
        plain += 1
        step = egm_step(hh, fiscal, prices, agrid, ability, Va, warm, newton=50 if it < 10 else 1)
        Va, warm = step["Va"], step
        c = step["c"]
        if c_old is not None and np.max(np.abs(c - c_old) / c) < tol:
            converged = True
            break
        c_old = c
        if plain == newton_after and it + 50 < max_iter:
            # Newton's method from here; then plain steps again, until two in a row meet tol
            Va, warm, used = _newton_phase(
                partial(_expected_step, hh, fiscal, prices, agrid, ability), ability.P.T, Va, warm
            )
            it, c_old = it + used, None
        if it % 100 == 0:
            report_step("household EGM", it, f"of at most {max_iter} iterations (tol {tol:g})")
    # a last step with hours re-solved exactly from the saving rule
    step = egm_step(hh, fiscal, prices, agrid, ability, Va, warm, exact=True)
    c, Va = step["c"], step["Va"]
    weh = _labour_wage(hh, prices, ability)
    x = cash_on_hand(fiscal, prices, agrid.a[:, None], weh * step["f"])
    sol = Solution(
        "known",
        hh,
        fiscal,
        prices,
        agrid,
        ability,
        s=step["a_next"] / x,
        f=step["f"],
        V=np.zeros_like(c),
        c=c,
        a_next=step["a_next"],
        Va=Va,
        iterations=it,
        converged=converged,
        info={"warm": warm},
    )
    if value:
        sol.V, sol.info["Vc"], sol.info["Vh"] = value_known(sol)
    sol.seconds = time.perf_counter() - t0
    return sol


def solve_known_path(
    hh: Household,
    fiscals: list[Fiscal],
    prices: list[Prices],
    agrid: AssetGrid,
    ability: AbilityGrid,
    terminal: Solution | None = None,
) -> list[dict]:
    """Backward induction in the ``known`` timing along a path of prices and policies.

    ``prices[t]`` and ``fiscals[t]`` hold in period t = 0..T-1. After T the household lives
    on with ``terminal``'s marginal value of assets, or, if None, period T-1 is its last
    (it saves nothing). Returns the policy of each period (dicts of ``c, f, a_next, Va``).
    """
    T = len(prices)
    if len(fiscals) != T or T < 1:
        raise ValueError(f"{len(fiscals)} fiscal policies for {T} periods: allowed equal, >= 1")
    a = agrid.a[:, None]
    out: list[dict] = [{}] * T
    if terminal is not None:
        Va = terminal.Va
    else:  # last period: consume all cash at the optimal hours
        fl, pr = fiscals[-1], prices[-1]
        weh = _labour_wage(hh, pr, ability)[None, :]
        zero = np.zeros_like(a * weh)
        f, c, x_a = _static_choice(hh, fl, pr, a, zero, weh)
        Va = hh.u_c(c) / (1.0 + fl.tau_c) * x_a
        out[-1] = {"c": c, "f": f, "a_next": zero, "Va": Va}
    warm = None
    for t in range(T - 1 if terminal is None else T, 0, -1):
        step = egm_step(hh, fiscals[t - 1], prices[t - 1], agrid, ability, Va, warm, exact=True)
        out[t - 1] = step
        Va, warm = step["Va"], step
    return out


def euler_errors(sol: Solution, points: int | None = None, a_upper: float | None = None):
    """Euler equation errors ``log10 |1 - c_implied / c|`` of a ``known`` solution [m, ne].

    Evaluated off the grid (at the midpoints of the grid, or ``points`` even points) up to
    ``a_upper`` (default: the grid's 90th percentile point), where the policy is interpolated
    as the solver would. ``c_implied`` is what the Euler equation asks for given the policy
    next period. Points where the borrowing limit binds (the Euler equation holds as an
    inequality there) are NaN. Under a schedule hours are solved exactly (bunching at kinks
    included) and the marginal value of assets of a bunched household uses its shadow rate.
    """
    if sol.timing != "known":
        raise ValueError("euler_errors: allowed a 'known'-timing solution")
    hh, fl, pr, ag, ab = sol.household, sol.fiscal, sol.prices, sol.agrid, sol.ability
    a_upper = ag.a[int(0.9 * (ag.n - 1))] if a_upper is None else a_upper
    if points is None:
        mids = 0.5 * (ag.a[1:] + ag.a[:-1])
        x = mids[mids <= a_upper]
    else:
        x = np.linspace(ag.a[0], a_upper, points)
    tc = 1.0 + fl.tau_c
    weh = _labour_wage(hh, pr, ab)[None, :]
    cols = np.arange(ab.n)[None, :]
    lo, w = ag.locate(x[:, None] * np.ones((1, ab.n)))
    a_next = _lerp(sol.a_next, lo, w, cols)
    f, c = _hours_given_saving(hh, fl, pr, x[:, None], a_next, weh, _lerp(sol.f, lo, w, cols))
    lo2, w2 = ag.locate(a_next, extrapolate=True)
    # next period's policy at a_next for every ability state k: [m, j, k]
    lo3 = np.broadcast_to(lo2[:, :, None], lo2.shape + (ab.n,))
    w3 = np.broadcast_to(w2[:, :, None], w2.shape + (ab.n,))
    kk = np.arange(ab.n)[None, None, :]
    a_nn = _lerp(sol.a_next, lo3, w3, kk)
    f_n, c_n, x_a_n = _static_choice(
        hh, fl, pr, a_next[:, :, None], a_nn, weh[:, None, :], _lerp(sol.f, lo3, w3, kk)
    )
    Va_n = hh.u_c(c_n) / tc * x_a_n
    EVa = (ab.P[None, :, :] * Va_n).sum(-1)
    c_implied = hh.u_c_inv(hh.beta * EVa * tc)
    err = np.log10(np.abs(1.0 - c_implied / c) + 1e-17)
    return np.where(a_next <= ag.a[0] + 1e-12, np.nan, err)
