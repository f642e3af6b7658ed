"""The ``env`` timing (the environment's, book:model-taxai and book:model-clearing) by policy
iteration.

The household observes last period's ability and its assets, chooses a saving share ``s`` of
cash on hand and a work share ``f``, both in the action box ``[0.001, 0.99]``, and only then
is this period's ability drawn. This is the problem the environment's followers face, so its
solution is the best response that exploitability compares a learned policy with. The
endogenous grid method does not apply (both choices precede the shock, and the share applies
to realised cash), so it is solved by policy iteration: improvement by bisection on the
slope in ``s`` and golden-section search in ``f``, alternating between them (the objective is
concave in each), then jointly; evaluation of the policy on the grid
(:mod:`smfg.certify.evaluation`) to convergence; started from the ``known`` solution
(:mod:`smfg.certify.egm`).

Arrays are [na, ne] over (assets, last period's ability state), or flattened to [na ne]; a
leading axis [ne] runs over this period's realised state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from smfg.certify.egm import solve_known
from smfg.certify.evaluation import _env_shares, value_env
from smfg.certify.grids import AbilityGrid, AssetGrid
from smfg.certify.primitives import (
    _C_FLOOR,
    Fiscal,
    Household,
    Prices,
    Solution,
    _check_inputs,
    _income_tax3,
    _labour_wage,
    _tax3,
)
from smfg.certify.progress import report_step

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


_MAGIC = 1.5 * 2.0**52  # t + _MAGIC rounds t to an integer, read from the low bits
_MAGIC_BITS = int(np.array(_MAGIC).view(np.int64))


@dataclass
class _EnvCash:
    """Cash on hand of a set of states at work shares ``f`` [m]: ``X`` [ne(drawn), m], the
    disutility of work ``vf`` [m], and whether every consumption share of it stays above the
    utility's floor (so the floor need not be applied)."""

    X: np.ndarray
    vf: np.ndarray
    floor_free: bool
    positive: bool
    """Whether all cash is positive (so are next assets)."""
    dX: np.ndarray | None = None
    """Cash's derivative in the work share, ``W e h_max (1 - Tax'(i))`` (if asked for)."""

    def subset(self, rel: np.ndarray) -> _EnvCash:
        dX = None if self.dX is None else self.dX[:, rel]
        return _EnvCash(self.X[:, rel], self.vf[rel], self.floor_free, self.positive, dX)


class _EnvStates:
    """The env-timing objective ``Q(s, f) = E[u(c) + beta V(a')] - v(f)`` at a set of states
    (all ``na ne`` of them, flattened as ``s.ravel()``, or a subset), for the next-period
    value V of :meth:`set_value`; arrays are [ne(drawn), m] over the drawn ability and the
    states, so that the expectation is a sum over the first axis.

    ``V(a')`` is linear between the asset grid's points and held at ``a_max`` above it, as
    :meth:`AssetGrid.locate` and :func:`_lerp` make it: here each segment is stored as its
    line (intercept and slope, times beta) and the segment found from the grid's analytic
    inverse by rounding, so one evaluation costs two gathers; with preallocated buffers
    (fresh arrays of this size cost page faults). Equal to the per-point definition up to
    rounding.
    """

    def __init__(self, hh, fiscal, prices, agrid, ability, parent=None, rel=None):
        self.hh, self.fiscal, self.prices, self.agrid = hh, fiscal, prices, agrid
        self.ability = ability
        if parent is None:
            na, ne = agrid.n, ability.n
            a = np.repeat(agrid.a, ne)  # assets of each state [na ne]
            j = np.tile(np.arange(ne), na)  # its (observed) ability state
            self.weh = _labour_wage(hh, prices, ability)[:, None]  # [ne, 1]
            self.Pk = np.ascontiguousarray(ability.P[j].T)  # [ne, m]: P[j(state), k]
            self.ra, self.a1r = prices.r * a, (1.0 + prices.r) * a
            self.Ta = _tax3(a, fiscal.tau_a, fiscal.xi_a, 0)[0]
            self.koff = (np.arange(ne) * na - _MAGIC_BITS)[:, None]  # k na, less the magic
            self.tab_B = self.tab_S = None
        else:
            self.weh, self.koff = parent.weh, parent.koff
            self.Pk = np.ascontiguousarray(parent.Pk[:, rel])
            self.ra, self.a1r, self.Ta = parent.ra[rel], parent.a1r[rel], parent.Ta[rel]
            self.tab_B, self.tab_S = parent.tab_B, parent.tab_S
        self.m = self.Pk.shape[1]
        self.ne = self.Pk.shape[0]
        self.tc = 1.0 + fiscal.tau_c
        self.shift, self.a_max = agrid.shift, float(agrid.a[-1])
        self.inv_du = 1.0 / agrid.du
        self.c0 = math.log(agrid.shift) * self.inv_du + 0.5
        self._buf = None

    def subset(self, rel: np.ndarray) -> _EnvStates:
        """The states ``rel`` (indices into this set's states)."""
        return _EnvStates(
            self.hh, self.fiscal, self.prices, self.agrid, self.ability, parent=self, rel=rel
        )

    def set_value(self, V: np.ndarray) -> None:
        """Next period's value V [na, ne]: the lines of its segments, times beta, as tables
        indexed by ``k na + lo`` (the segment above ``a_max`` held at ``V(a_max)``)."""
        a = self.agrid.a
        with np.errstate(divide="ignore", invalid="ignore"):
            S = (V[1:] - V[:-1]) / (a[1:] - a[:-1])[:, None]
        B = V[:-1] - a[:-1, None] * S
        beta = self.hh.beta
        self.tab_B = (beta * np.concatenate([B, V[-1:]])).T.ravel()
        self.tab_S = (beta * np.concatenate([S, np.zeros((1, V.shape[1]))])).T.ravel()

    def cash(self, f: np.ndarray, slope: bool = False) -> _EnvCash:
        """Cash on hand at work shares ``f`` [m] (E20, as :func:`cash_on_hand`); ``slope``:
        with its derivative in f."""
        y = self.weh * f
        T, T1, _ = _income_tax3(self.fiscal, y + self.ra, 1 if slope else 0)
        dX = self.weh * (1.0 - T1) if slope else None
        X = y + self.a1r - T - self.Ta
        if self.prices.tr != 0.0:
            X = X + self.prices.tr
        low = float(X.min())
        floor_free = (1.0 - self.hh.s_hi) * low / self.tc > _C_FLOOR
        return _EnvCash(X, self.hh.v(f), bool(floor_free), bool(low > 0.0), dX)

    def _segments(self, s: np.ndarray, cash: _EnvCash):
        """Next assets ``s x`` [ne, m] at saving shares ``s`` [m] (held in [0, a_max]) and the
        table index of each one's segment, in the scratch buffers: (buffers, a')."""
        if self._buf is None:
            shape = (self.ne, self.m)
            self._buf = (
                np.empty(shape),
                np.empty(shape),
                np.empty(shape),
                np.empty(shape, dtype=np.int64),
            )
        b1, b2, b3, ib = self._buf
        np.multiply(cash.X, s, out=b1)  # next assets, held in [0, a_max]
        np.minimum(b1, self.a_max, out=b1)
        if not cash.positive:
            np.maximum(b1, 0.0, out=b1)
        np.add(b1, self.shift, out=b2)  # the segment: floor of log1p(a'/shift)/du
        np.log(b2, out=b2)
        np.multiply(b2, self.inv_du, out=b2)
        np.subtract(b2, self.c0, out=b2)
        np.add(b2, _MAGIC, out=b2)
        np.add(b2.view(np.int64), self.koff, out=ib)  # k na + lo
        return self._buf

    def q(self, s: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective at saving shares ``s`` [m] and the work shares of ``cash``."""
        b1, b2, b3, ib = self._segments(s, cash)
        X = cash.X
        self.tab_B.take(ib, out=b2, mode="clip")
        self.tab_S.take(ib, out=b3, mode="clip")
        np.multiply(b3, b1, out=b3)
        np.add(b2, b3, out=b2)  # beta V(a')
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u(c) = -1/c, c = (1 - s) x / (1 + tau_c)
            np.divide(-self.tc / (1.0 - s), X, out=b1)
        else:
            np.multiply(X, (1.0 - s) * (1.0 / self.tc), out=b1)
            b1 = hh.u(b1)
        np.add(b1, b2, out=b1)
        np.multiply(b1, self.Pk, out=b1)
        return b1.sum(0) - cash.vf

    def slope(self, s: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective's derivative in s at saving shares ``s`` [m], from the right (V's
        slope is its segment's, above a_max 0): ``E[x (beta V'(a') - u'(c)/(1+tau_c))]``."""
        b1, b2, b3, ib = self._segments(s, cash)
        X = cash.X
        self.tab_S.take(ib, out=b3, mode="clip")  # beta V'(a')
        held = b1 >= self.a_max  # V is flat above a_max (and below 0), whatever the segment
        if not cash.positive:
            held |= b1 <= 0.0
        if held.any():
            b3[held] = 0.0
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u'(c)/(1+tau_c) = (1+tau_c)/((1-s) x)^2
            np.multiply(X, 1.0 - s, out=b2)
            np.multiply(b2, b2, out=b2)
            np.divide(self.tc, b2, out=b2)
        else:
            c = X * ((1.0 - s) * (1.0 / self.tc))
            b2 = hh.u_c(c) / self.tc
            b2[c <= _C_FLOOR] = 0.0  # u is held at the floor
        np.subtract(b3, b2, out=b3)
        np.multiply(b3, X, out=b3)
        np.multiply(b3, self.Pk, out=b3)
        return b3.sum(0)

    def slope_f(self, s: np.ndarray, f: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective's derivative in f at saving shares ``s`` and work shares ``f`` [m]
        (their cash ``cash``, made with its slope), from the right as :meth:`slope`:
        ``E[x_f (u'(c) (1-s)/(1+tau_c) + beta V'(a') s)] - v'(f)``."""
        b1, b2, b3, ib = self._segments(s, cash)
        X = cash.X
        self.tab_S.take(ib, out=b3, mode="clip")  # beta V'(a')
        held = b1 >= self.a_max
        if not cash.positive:
            held |= b1 <= 0.0
        if held.any():
            b3[held] = 0.0
        np.multiply(b3, s, out=b3)
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u'(c) (1-s)/(1+tau_c) = (1+tau_c)/((1-s) x^2)
            np.multiply(X, X, out=b2)
            np.divide(self.tc / (1.0 - s), b2, out=b2)
        else:
            c = X * ((1.0 - s) * (1.0 / self.tc))
            b2 = hh.u_c(c) * ((1.0 - s) / self.tc)
            b2[c <= _C_FLOOR] = 0.0
        np.add(b3, b2, out=b3)
        np.multiply(b3, cash.dX, out=b3)
        np.multiply(b3, self.Pk, out=b3)
        return b3.sum(0) - hh.v_f(f)


@dataclass(frozen=True)
class _Objective:
    """An objective of each state, callable, with its slope (from the right): searched by
    bisection on the slope (:func:`_bisect_max`)."""

    value: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray], np.ndarray]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.value(x)


def _search(factory, old, lo_bound, hi_bound, half_width, tol):
    """Golden section in [old - half_width, old + half_width] within the bounds; points whose
    maximum lands on an inner edge of that bracket are searched again on the full range,
    alone. ``factory(rel)``: the objective at the states ``rel`` (indices into ``old``; None:
    all of them). ``half_width``: a number, or one per state (then :func:`_search_groups`
    searches the states of much narrower brackets apart)."""
    lo = np.maximum(old - half_width, lo_bound)
    hi = np.minimum(old + half_width, hi_bound)
    if np.ndim(half_width):
        x, fx = _search_groups(factory, lo, hi, tol)
    else:
        x, fx = _maximise(factory(None), lo, hi, tol)
    edge = ((x <= lo + 2 * tol) & (lo > lo_bound)) | ((x >= hi - 2 * tol) & (hi < hi_bound))
    if edge.any():  # (a bracket of the full range has no inner edge)
        rel = np.flatnonzero(edge)
        full = np.ones(len(rel))
        x2, fx2 = _maximise(factory(rel), full * lo_bound, full * hi_bound, tol)
        x, fx = x.copy(), fx.copy()
        x[rel], fx[rel] = x2, fx2
    return x, fx


_CALL_STATES = 400.0
"""What one evaluation of the objective costs beyond its states, in states (its fixed cost,
about 25 us, over the cost of one more state of seven draws, about 0.06 us)."""


def _search_groups(factory, lo, hi, tol):
    """:func:`_maximise` ``factory``'s objective on the brackets [lo, hi] of each state, in
    two groups where that costs less: a search takes as many steps for every state as the
    widest bracket needs, so the states of much narrower brackets (most of them, once
    a policy has settled) are searched apart, in fewer steps. The split minimises the
    evaluations' cost, each :data:`_CALL_STATES` plus its states."""
    width = hi - lo
    m = len(width)
    order = np.argsort(width, kind="stable")
    steps = np.log(np.maximum(width[order], tol) / tol) / -math.log(_GOLDEN) + 4.0  # (golden)
    i = np.arange(1, m)  # the i narrowest apart
    cost = steps[i - 1] * (_CALL_STATES + i) + steps[-1] * (_CALL_STATES + m - i)
    k = int(np.argmin(cost)) if m > 1 else 0
    if m < 2 or cost[k] >= 0.9 * steps[-1] * (_CALL_STATES + m):
        return _maximise(factory(None), lo, hi, tol)
    x, fx = np.empty(m), np.empty(m)
    for rel in (np.sort(order[: k + 1]), np.sort(order[k + 1 :])):
        x[rel], fx[rel] = _maximise(factory(rel), lo[rel], hi[rel], tol)
    return x, fx


def _q_at_s(st: _EnvStates, cash: _EnvCash):
    """The objective in s at fixed work shares (their cash ``cash``), for :func:`_search`."""

    def factory(rel):
        sub, c = (st, cash) if rel is None else (st.subset(rel), cash.subset(rel))
        return _Objective(partial(sub.q, cash=c), partial(sub.slope, cash=c))

    return factory


def _q_at_f(st: _EnvStates, s: np.ndarray):
    """The objective in f at fixed saving shares ``s`` [m], for :func:`_search`."""

    def factory(rel):
        sub, s_sub = (st, s) if rel is None else (st.subset(rel), s[rel])
        return _Objective(
            lambda f: sub.q(s_sub, sub.cash(f)),
            lambda f: sub.slope_f(s_sub, f, sub.cash(f, slope=True)),
        )

    return factory


def _q_best_s(st: _EnvStates, s0: np.ndarray, width: float, tol: float):
    """The objective in f of the best s at each f (searched in s), for :func:`_search`.

    The first searches in s span ``s0`` +- ``width``. Later ones, while the search in f
    closes in, span the line through the last two maxima, widened by twice their distance
    and more the farther f lies beyond them (the best s moves little with f, and a kink of
    the interpolated value can at most turn its slope round), at most ``width``: the search
    then takes fewer steps, and a maximum on the edge of that span is searched
    again on the full range by :func:`_search`.
    """
    hh = st.hh

    def factory(rel):
        sub, s_sub = (st, s0) if rel is None else (st.subset(rel), s0[rel])
        w = width if rel is None or not np.ndim(width) else width[rel]
        seen = []  # the last two (f, its best s)

        def best(f):
            centre, half = s_sub, w
            if len(seen) == 2:
                (f1, s1), (f2, s2) = seen
                step = f2 - f1
                with np.errstate(divide="ignore", invalid="ignore"):
                    reach = np.abs(f - f2) / np.abs(step)
                    slope = (s2 - s1) / step
                if bool((reach <= 3.0).all()):  # near the last two (else, as the first)
                    centre = s2 + slope * (f - f2)
                    half = np.minimum(2.0 * np.abs(s2 - s1) * (1.0 + reach) + 1e-6, w)
            s, q = _search(_q_at_s(sub, sub.cash(f)), centre, hh.s_lo, hh.s_hi, half, tol)
            seen[:] = [*seen[-1:], (f, s)]
            return q

        return best

    return factory


def _maximise(fun, lo, hi, tol):
    """The maximum of ``fun`` on [lo, hi] per state: by bisection on its slope where it has
    one (``fun.slope``), else by golden section. Returns (argmax, max)."""
    if hasattr(fun, "slope"):
        return _bisect_max(fun, lo, hi, tol)
    return _golden_max(fun, lo, hi, tol)


def _bisect_max(fun, lo, hi, tol):
    """Vectorised bisection on the slope (from the right) of a concave ``fun`` on [lo, hi]:
    the bracket halves at each evaluation where golden section keeps 0.618 of it; then the
    better of its middle and the two ends. Returns (argmax, max). Where ``fun`` is not
    concave, a local maximum (the bracket always has a rising left end and a falling right
    end)."""
    a, b = lo.copy(), hi.copy()
    width = max(float(np.max(hi - lo)), tol)
    for _ in range(max(int(math.ceil(math.log2(width / tol))), 1)):
        mid = 0.5 * (a + b)
        up = fun.slope(mid) > 0.0  # rising: the maximum is above mid
        a = np.where(up, mid, a)
        b = np.where(up, b, mid)
    x = 0.5 * (a + b)
    fx = fun(x)
    for end in (lo, hi):
        fe = fun(end)
        better = fe > fx
        x, fx = np.where(better, end, x), np.where(better, fe, fx)
    return x, fx


def _golden_max(fun, lo, hi, tol):
    """Vectorised golden-section search for the maximum of a concave ``fun`` on [lo, hi],
    then the better of that and the two ends. Returns (argmax, max)."""
    a, b = lo.copy(), hi.copy()
    x1 = b - _GOLDEN * (b - a)
    x2 = a + _GOLDEN * (b - a)
    f1, f2 = fun(x1), fun(x2)
    width = max(float(np.max(hi - lo)), tol)
    n = int(math.ceil(math.log(tol / width) / math.log(_GOLDEN)))
    for _ in range(max(n, 1)):
        left = f1 >= f2  # the maximum is in [a, x2]
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x_new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_new = fun(x_new)
        x2, f2, x1, f1 = (
            np.where(left, x1, x_new),
            np.where(left, f1, f_new),
            np.where(left, x_new, x2),
            np.where(left, f_new, f2),
        )
    x = np.where(f1 >= f2, x1, x2)
    fx = np.maximum(f1, f2)
    for end in (lo, hi):
        fe = fun(end)
        better = fe > fx
        x, fx = np.where(better, end, x), np.where(better, fe, fx)
    return x, fx


def solve_env(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    tol: float = 1e-8,
    max_iter: int = 300,
    init: Solution | None = None,
    share_tol: float = 1e-8,
    sweeps: int = 40,
) -> Solution:
    """The stationary problem in the ``env`` timing (the environment's), by modified policy
    iteration.

    Each improvement maximises the objective over the saving share (bisection on its slope, f
    held), then over the work share (golden section, s held), in a bracket around the current
    policy that widens where the maximum reaches its edge; ``sweeps`` applications of the new
    policy's Bellman operator then evaluate it approximately. Once that converges, improvements
    search both shares jointly (golden section over f of the maximum over s) until it converges
    again: alternating searches can stall at a kink of the interpolated value. The first joint
    search looks within 0.02 of the policy, later ones within ten times each state's last move
    (at least 1e-4); a maximum on the edge of a bracket is searched again on the full range.
    Convergence: the Bellman residual ``TV - V`` bounds the distance to the fixed point
    (McQueen-Porteus: within beta/(1-beta) times its span) by ``tol`` relative to the value's
    scale. The final policy is then evaluated exactly. Shares are not required to settle: where
    the objective is flat (the work share of the very rich) they wander within the search
    tolerance at no cost. ``init``: a solution whose shares start the iteration (default: the
    ``known`` timing's at the same prices, read as shares). Under an income-tax schedule whose
    rate falls somewhere the objective in the work share need not be unimodal: golden section
    then finds a maximum near the starting (``known``-timing) policy, not necessarily the global
    one.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is None:
        init = solve_known(hh, fiscal, prices, agrid, ability, tol=1e-8, value=False)
    s, f = _env_shares(hh, init.s, init.f)
    V, _, _ = value_env(hh, fiscal, prices, agrid, ability, s, f)
    na, ne = agrid.n, ability.n
    s, f, V = s.ravel(), f.ravel(), V.ravel()  # the states flattened: [na ne]
    st = _EnvStates(hh, fiscal, prices, agrid, ability)
    k = np.arange(ne)[:, None]
    sweep0, sweep1 = np.empty((ne, na * ne)), np.empty((ne, na * ne))
    width_s = width_f = 1.0
    step_s = step_f = 1.0  # the joint searches' widths per state (after the first)
    converged = joint = False
    joint_iterations = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        st.set_value(V.reshape(na, ne))
        if hh.labour is not None:
            s_new, TV = _search(_q_at_s(st, st.cash(f)), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new = f
        elif not joint:  # alternate: s given f, then f given s
            s_new, _ = _search(_q_at_s(st, st.cash(f)), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new, TV = _search(_q_at_f(st, s_new), f, hh.f_lo, hh.f_hi, width_f, share_tol)
        else:  # jointly: f by golden section on the best s for each f
            if joint_iterations == 0:  # room for the stalled states to move
                ws, wf = max(width_s, 0.02), max(width_f, 0.02)
            else:  # after that, each state's own: most have settled
                ws, wf = step_s, step_f
            f_new, _ = _search(
                _q_best_s(st, s, ws, 10 * share_tol), f, hh.f_lo, hh.f_hi, wf, share_tol
            )
            s_new, TV = _search(_q_at_s(st, st.cash(f_new)), s, hh.s_lo, hh.s_hi, ws, share_tol)
            joint_iterations += 1
        d = TV - V
        scale = 1.0 + np.abs(V).max()
        ds, df = np.max(np.abs(s_new - s)), np.max(np.abs(f_new - f))
        if joint:  # each state's own search widths for the next joint search
            step_s = np.clip(10.0 * np.abs(s_new - s), 1e-4, 1.0)
            step_f = np.clip(10.0 * np.abs(f_new - f), 1e-4, 1.0)
        s, f = s_new, f_new
        report_step("best response", it, f"Bellman span {d.max() - d.min():.3g} (tol {tol:g})")
        width_s = min(1.0, max(10.0 * ds, 1e-4))
        width_f = min(1.0, max(10.0 * df, 1e-4))
        if hh.beta / (1.0 - hh.beta) * (d.max() - d.min()) < tol * scale:
            # Alternating searches can stall where the objective has a kink (the value is
            # interpolated linearly), short of the joint maximum: finish with joint searches.
            if joint or hh.labour is not None:
                converged = True
                break
            joint = True
        # evaluate the new policy approximately: sweeps of its Bellman operator, [ne, states]
        X = st.cash(f).X
        R = (st.Pk * hh.u((1.0 - s) * X / st.tc)).sum(0) - hh.v(f)
        lo, w = agrid.locate(s * X)
        at0 = lo * ne + k  # V[lo, k] of the flat V
        at1 = at0 + ne
        W0, W1 = st.Pk * (1.0 - w), st.Pk * w
        V = TV
        for _ in range(sweeps):
            V.take(at0, out=sweep0)
            V.take(at1, out=sweep1)
            np.multiply(sweep0, W0, out=sweep0)
            np.multiply(sweep1, W1, out=sweep1)
            np.add(sweep0, sweep1, out=sweep0)
            V = R + hh.beta * sweep0.sum(0)
    s, f = s.reshape(na, ne), f.reshape(na, ne)
    _, Vc, Vh = value_env(hh, fiscal, prices, agrid, ability, s, f)
    return Solution(
        "env",
        hh,
        fiscal,
        prices,
        agrid,
        ability,
        s=s,
        f=f,
        V=Vc + Vh,
        iterations=it,
        seconds=time.perf_counter() - t0,
        converged=converged,
        info={
            "Vc": Vc,
            "Vh": Vh,
            "bellman_span": float(d.max() - d.min()),
            "last_share_change": float(max(ds, df)),
            "joint_iterations": joint_iterations,
        },
    )
