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
errors of a solution. Arrays are [na, ne] over (assets, this period's ability state).
"""

from __future__ import annotations

import itertools
import time
from functools import partial

import numpy as np

from smfg.certify.evaluation import value_known
from smfg.certify.grids import AbilityGrid, AssetGrid, _lerp
from smfg.certify.hours import _hours_given_saving, _static_choice
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


class _ColumnInterp:
    """Where each increasing point ``x_new[i]`` [m] falls among the nodes of each column of
    increasing ``xp[:, j]`` [n, ne], for :func:`_interp_cols`: the count ``j`` of nodes at or
    below it, the segment whose slope it takes and the node it is measured from. Between the
    steps of a stationary solve the nodes move little: :meth:`of` moves last step's counts
    to the nodes' new places instead of counting anew."""

    def __init__(self, x_new: np.ndarray, xp: np.ndarray, j: np.ndarray | None = None):
        n, ne = xp.shape
        m = len(x_new)
        cols = np.arange(ne)
        self.shape, self.n = (m, ne), n
        self.x = np.repeat(np.asarray(x_new, dtype=np.float64), ne)  # [m ne], flat
        self._flat = np.empty(n * ne + 2)  # for :meth:`of`
        self._flat[-2:] = (-np.inf, np.inf)
        if j is None:  # counted from the first point at or above each node
            first = np.searchsorted(x_new, xp.ravel(), side="left") * ne + np.tile(cols, n)
            j = np.bincount(first, minlength=(m + 1) * ne)[: m * ne].reshape(m, ne).cumsum(0)
            j = j.ravel()
        self._set(j)

    def _set(self, j: np.ndarray) -> None:
        n, ne = self.n, self.shape[1]
        cols = np.tile(np.arange(ne), self.shape[0])
        self.j = j
        left = np.maximum(j - 1, 0)
        # the segment's slope (the last one above the last node) and its anchor node: the
        # left end inside, the last node at or above it, the first node (slope 0, kept after
        # the last segment's) below it
        self.seg = np.where(j == 0, (n - 1) * ne, np.minimum(left, n - 2) * ne + cols)
        self.anchor = np.where(j == n, n - 1, left) * ne + cols
        # the nodes either side of each point (-inf and +inf beyond the ends), to check it
        self.lo = np.where(j == 0, n * ne, (j - 1) * ne + cols)
        self.hi = np.where(j == n, n * ne + 1, j * ne + cols)

    @classmethod
    def of(cls, x_new: np.ndarray, xp: np.ndarray, prev: _ColumnInterp | None = None):
        """``prev`` (last step's, say) if every point still lies between the same nodes,
        else its counts moved by one node at a time where they no longer do (a few moves at
        most, else counted anew)."""
        if prev is None or prev.shape != (len(x_new), xp.shape[1]) or prev.n != xp.shape[0]:
            return cls(x_new, xp)
        flat = getattr(prev, "_flat", None)  # the nodes, then -inf and +inf
        if flat is None or flat.size != xp.size + 2:
            flat = prev._flat = np.array([*xp.ravel(), -np.inf, np.inf])
        flat[:-2] = xp.ravel()
        cur = prev
        for _ in range(4):
            up = flat.take(cur.hi) <= cur.x  # the node above is no longer above
            down = flat.take(cur.lo) > cur.x  # the node below is no longer below
            if not (up.any() or down.any()):
                return cur
            j = cur.j + up - down
            if cur is prev:  # a new object: prev may be another solution's
                cur = object.__new__(cls)
                cur.shape, cur.n, cur.x, cur._flat = prev.shape, prev.n, prev.x, flat
            cur._set(j)
        return cls(x_new, xp)


def _interp_cols(
    x_new: np.ndarray, xp: np.ndarray, fps: list[np.ndarray], where: _ColumnInterp | None = None
) -> list[np.ndarray]:
    """Linear interpolation per column j of increasing ``xp[:, j]`` (extrapolating linearly
    above the last point, constant below the first) of each array in ``fps`` (broadcast to
    ``xp``'s shape) at the increasing points ``x_new`` [m]: [m, ne].

    All columns at once, with the arithmetic of ``np.interp`` (``slope (x - xp[i]) + fp[i]``
    on the segment ``xp[i] <= x < xp[i+1]``, the slope ``(fp[i+1] - fp[i]) / (xp[i+1] -
    xp[i])``): the same to the bit as ``np.interp`` column by column. ``where``: the points'
    segments, :class:`_ColumnInterp` (made if not given).
    """
    w = _ColumnInterp(x_new, xp) if where is None else where
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = xp[1:] - xp[:-1]
        xa = w.x - xp.ravel().take(w.anchor)
        out = []
        for fp in fps:
            if fp.shape != xp.shape:
                fp = np.broadcast_to(fp, xp.shape)
            fp = np.ascontiguousarray(fp)
            slopes = np.empty(dx.size + 1)  # and a last one of 0, the points' below the first
            slopes[-1] = 0.0
            np.divide(fp[1:] - fp[:-1], dx, out=slopes[:-1].reshape(dx.shape))
            slope = slopes.take(w.seg)
            out.append((slope * xa + fp.ravel().take(w.anchor)).reshape(w.shape))
    return out


_ASSET_TAX_CACHE: dict = {}


def _grid_asset_tax(fiscal: Fiscal, a: np.ndarray):
    """(Tax_a, Tax_a') on the asset grid [na, 1], computed once per policy and grid."""
    key = (fiscal.tau_a, fiscal.xi_a, a.size, float(a[-1]), float(a[1]))
    hit = _ASSET_TAX_CACHE.get(key)
    if hit is None:
        if len(_ASSET_TAX_CACHE) > 64:
            _ASSET_TAX_CACHE.clear()
        Ta, Ta1, _ = _tax3(a[:, None], fiscal.tau_a, fiscal.xi_a, 1)
        hit = _ASSET_TAX_CACHE[key] = (Ta, Ta1)
    return hit


def _euler_points(hh, fiscal, prices, agrid, ability, Va_next, EVa=None):
    """What every EGM step starts from: the asset grid, 1 + tau_c, pay per unit of work share
    [1, ne], and for each next-asset grid point k and state j the consumption the Euler
    equation asks for, ``c_endo`` [na, ne], beside the next assets ``a_k`` [na, ne]. ``EVa``:
    the expected marginal value, if given in place of ``Va_next``."""
    a = agrid.a
    tc = 1.0 + fiscal.tau_c
    weh = _labour_wage(hh, prices, ability)[None, :]
    if EVa is None:
        EVa = Va_next @ ability.P.T  # [k, j]: E[Va(a'_k, e') | e_j]
    c_endo = hh.u_c_inv(hh.beta * EVa * tc)
    return a, tc, weh, c_endo, np.broadcast_to(a[:, None], c_endo.shape)


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


def _solve_assets(fiscal: Fiscal, rhs, slope):
    """Assets ``a`` with ``slope a - Tax_a(a) = rhs`` (E6 asset tax: Newton's method from the
    untaxed solution; exact without an asset tax)."""
    a = rhs / slope
    if fiscal.tau_a == 0.0:
        return a
    for _ in range(50):
        Ta, Ta1, _ = _tax3(a, fiscal.tau_a, fiscal.xi_a, 1)
        da = -(slope * a - Ta - rhs) / (slope - Ta1)
        a = a + da
        if np.max(np.abs(da) / (1.0 + np.abs(a)), initial=0.0) <= 1e-14:
            break
    return a


def _endogenous_schedule(hh, fiscal, prices, c, a_next, weh):
    """Candidate endogenous points of a piecewise-linear income tax, at which consumption
    ``c`` and saving ``a_next`` [na, ne] are optimal: (a, f, effective rate, violation),
    each [n_candidates, na, ne].

    For each segment q of the schedule: f from the labour condition at its rate ``m_q``
    (within [f_lo, f_hi]), then assets from the budget, where the tax is linear; consistent
    when income lands in the segment. For each kink t where the rate rises (bunching): assets
    from the budget with income exactly t, ``f = (t - r a)/weh``; consistent when the
    shadow rate ``1 - chi f^(1/phi)/(lam weh)`` lies between the two adjacent rates and f in
    its bounds. ``violation`` measures the inconsistency (0 when consistent). With a convex
    schedule the household's problem at given ``c`` is concave: exactly one candidate is
    consistent (two at a boundary between a segment and a kink, where they coincide).
    """
    sc = fiscal.schedule
    tc = 1.0 + fiscal.tau_c
    lam = hh.u_c(c) / tc
    M = tc * c + a_next
    r, tr = prices.r, prices.tr
    col = (slice(None), None, None)
    m, b = sc.m[col], sc.b[col]
    edges = np.concatenate([[-np.inf], sc.kinks, [np.inf]])
    # each segment: hours from the labour condition at its rate, assets from the budget
    if hh.labour is not None:
        f = np.full((len(sc.m),) + c.shape, float(hh.labour))
    else:
        base = lam * weh / hh.chi
        f = np.sqrt(base * (1.0 - m)) if hh.phi == 0.5 else (base * (1.0 - m)) ** hh.phi
        f = np.clip(f, hh.f_lo, hh.f_hi)
    y = weh * f
    a = _solve_assets(fiscal, M - y * (1.0 - m) + b - tr, 1.0 + r * (1.0 - m))
    inc = y + r * a
    viol = np.maximum(np.maximum(edges[:-1][col] - inc, inc - edges[1:][col]), 0.0)
    A, F, TAU, V = [a], [f], [np.broadcast_to(m, f.shape)], [viol / (1.0 + np.abs(inc))]
    rising = np.nonzero(np.diff(sc.m) > 0)[0]
    if hh.labour is None and len(rising):  # bunching at each kink where the rate rises
        t = sc.kinks[rising][col]
        lo, hi = sc.m[rising][col], sc.m[rising + 1][col]
        a = _solve_assets(fiscal, M - t + (sc.b[rising + 1][col] + hi * t) - tr, 1.0)
        f = (t - r * a) / weh
        shadow = 1.0 - hh.v_f(np.maximum(f, 0.0)) / (lam * weh)
        viol = np.maximum(np.maximum(lo - shadow, shadow - hi), 0.0)
        viol = viol + np.maximum(np.maximum(hh.f_lo - f, f - hh.f_hi), 0.0)
        A, F, TAU, V = A + [a], F + [f], TAU + [shadow], V + [viol]
    return tuple(np.concatenate(x) for x in (A, F, TAU, V))


def _egm_step_schedule(
    hh, fiscal, prices, agrid, ability, Va_next, warm=None, exact=False, EVa=None
):
    """:func:`egm_step` under a piecewise-linear income tax (see :func:`_endogenous_schedule`).

    Saving, hours and the effective marginal rate are interpolated from the endogenous
    points (hours are linear in assets along a kink, so bunching is interpolated exactly);
    consumption follows from the budget, the marginal value of assets from the effective
    rate. ``exact``, and points where the borrowing limit binds, solve hours exactly
    (:func:`_hours_schedule`).
    """
    a, tc, weh, c_endo, a_k = _euler_points(hh, fiscal, prices, agrid, ability, Va_next, EVa)
    A, F, TAU, viol = _endogenous_schedule(hh, fiscal, prices, c_endo, a_k, weh)
    if not fiscal.schedule.convex and hh.labour is None:
        return _envelope_step(hh, fiscal, prices, agrid, ability, warm, A, viol)
    pick = np.argmin(viol, axis=0)[None]  # the consistent candidate (the least inconsistent)
    a_endo, f_endo, tau_endo = (np.take_along_axis(x, pick, 0)[0] for x in (A, F, TAU))
    where = _ColumnInterp(a, a_endo)
    a_next, f, tau = _interp_cols(a, a_endo, [a_k, f_endo, tau_endo], where)
    f = np.clip(f, hh.f_lo, hh.f_hi) if hh.labour is None else f
    bound = a[:, None] <= a_endo[0][None, :]  # the borrowing limit binds
    a_next = np.where(bound, a[0], np.maximum(a_next, a[0]))
    if exact:
        f, c, x_a = _static_choice(hh, fiscal, prices, a[:, None], a_next, weh)
    else:
        x = cash_on_hand(fiscal, prices, a[:, None], weh * f)
        c = (x - a_next) / tc
        Ta1 = _grid_asset_tax(fiscal, a)[1]
        x_a = 1.0 + prices.r - prices.r * tau - Ta1
        if bound.any():
            # the static problem at a' = a_min does not change between steps: solved once
            at_min = _at_min(hh, fiscal, prices, agrid, ability, warm)
            f, c, x_a = (np.where(bound, m, x) for m, x in zip(at_min[1], (f, c, x_a), strict=True))
    Va = hh.u_c(c) / tc * x_a
    out = {"c": c, "f": f, "a_next": a_next, "Va": Va, "a_endo": a_endo, "f_endo": f_endo}
    out["interp"], out["bound"] = where, bound
    if not exact and bound.any():
        out["at_min"] = at_min
    return out


def _at_min(hh, fiscal, prices, agrid, ability, warm):
    """The static choice (f, c, x_a) [na, ne] of every state at ``a' = a_min``, kept in the
    EGM steps' warm dict (it does not change between steps): (key, arrays)."""
    key = (hh, fiscal, prices, agrid, ability.e.tobytes())
    at_min = None if warm is None else warm.get("at_min")
    if at_min is None or at_min[0] != key:
        weh = _labour_wage(hh, prices, ability)[None, :]
        at_min = (key, _static_choice(hh, fiscal, prices, agrid.a[:, None], agrid.a[0], weh))
    return at_min


def _envelope_step(hh, fiscal, prices, agrid, ability, warm, A, violation):
    """An EGM step under a schedule whose marginal rate falls somewhere (not convex).

    There the household's problem is not concave: at a given consumption several
    candidates of :func:`_endogenous_schedule` can be consistent, each optimal for its own
    assets, and for given assets several savings can satisfy the Euler equation. As in the
    endogenous grid method for discrete-continuous choices (Iskhakov, Joergensen, Rust and
    Schjerning 2017), every segment between consistent endogenous points of consecutive
    savings (in any segments of the schedule or kinks) proposes a saving for the grid
    assets it spans, by linear interpolation; so do ``a' = a_min`` and last step's saving.
    Each proposal is valued exactly, hours solved by :func:`_hours_schedule` (global over
    the segments) and next period's value interpolated, and the best is kept: the upper
    envelope. Needs next period's value ``warm["V"]`` (a first guess if absent).
    """
    a = agrid.a
    na, ne = len(a), ability.n
    tc = 1.0 + fiscal.tau_c
    weh = _labour_wage(hh, prices, ability)
    V_next = None if warm is None else warm.get("V")
    if V_next is None or V_next.shape != (na, ne):  # a first guess: keep assets where they are
        f0, c0, _ = _static_choice(hh, fiscal, prices, a[:, None], a[:, None], weh[None, :])
        V_next = (hh.u(c0) - hh.v(f0)) / (1.0 - hh.beta)
    EV = V_next @ ability.P.T  # [k, j]: E[V(a'_k, e') | e_j]
    valid = violation <= 1e-12
    least = np.argmin(violation, axis=0)
    valid[least, np.arange(na)[:, None], np.arange(ne)[None, :]] |= ~valid.any(0)
    # the consistent candidates of each point first: [n_most, na, ne]
    n_most = int(valid.sum(0).max())
    which = np.argsort(~valid, axis=0, kind="stable")[:n_most]
    ok = np.take_along_axis(valid, which, 0)
    A = np.take_along_axis(A, which, 0)
    pieces = []
    for v0, v1 in itertools.product(range(n_most), repeat=2):  # consecutive consistent points
        kk, jj = np.nonzero(ok[v0, :-1] & ok[v1, 1:])
        pieces.append((A[v0, kk, jj], A[v1, kk + 1, jj], kk, jj))
    a0, a1, k0, jj = (np.concatenate(x) for x in zip(*pieces, strict=True))
    ap0, ap1 = a[k0], a[k0 + 1]
    lo_a, hi_a = np.minimum(a0, a1), np.maximum(a0, a1)
    hi_a = np.where((k0 + 1 == na - 1) & (a1 > a0), np.inf, hi_a)  # extrapolate at the top
    i_lo, i_hi = np.searchsorted(a, lo_a, "left"), np.searchsorted(a, hi_a, "right")
    n = np.maximum(i_hi - i_lo, 0)
    seg = np.repeat(np.arange(len(n)), n)
    ii = i_lo[seg] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(a1 != a0, (ap1 - ap0) / (a1 - a0), 0.0)
    ap = np.maximum(ap0[seg] + (a[ii] - a0[seg]) * slope[seg], a[0])
    jj = jj[seg]
    prev = None if warm is None else warm.get("a_next")
    if prev is not None and prev.shape == (na, ne):
        gi, gj = np.nonzero(np.ones((na, ne), dtype=bool))
        ii, jj, ap = (
            np.concatenate([ii, gi]),
            np.concatenate([jj, gj]),
            np.concatenate([ap, prev.ravel()]),
        )
    f, c, x_a = _static_choice(hh, fiscal, prices, a[ii], ap, weh[jj])
    lo, w = agrid.locate(ap, extrapolate=True)
    val = hh.u(c) - hh.v(f) + hh.beta * _lerp(EV, lo, w, jj)
    # the borrowing limit, a candidate for every state
    at_min = _at_min(hh, fiscal, prices, agrid, ability, warm)
    f_m, c_m, x_m = at_min[1]
    val_m = hh.u(c_m) - hh.v(f_m) + hh.beta * EV[0][None, :]
    idx = np.concatenate([ii * ne + jj, np.arange(na * ne)])
    vals = np.concatenate([val, val_m.ravel()])
    o = np.lexsort((-vals, idx))
    best = o[np.unique(idx[o], return_index=True)[1]]  # the best candidate of each state

    def pick(x, x_min):
        return np.concatenate([x, x_min.ravel()])[best].reshape(na, ne)

    f, c, x_a = pick(f, f_m), pick(c, c_m), pick(x_a, x_m)
    a_next = pick(ap, np.full((na, ne), a[0]))
    Va = hh.u_c(c) / tc * x_a
    V = vals[best].reshape(na, ne)
    return {"c": c, "f": f, "a_next": a_next, "Va": Va, "V": V, "at_min": at_min}


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
