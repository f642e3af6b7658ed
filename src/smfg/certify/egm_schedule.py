"""The endogenous grid method under a piecewise-linear income-tax schedule (US federal 2022,
Saez), for :mod:`smfg.certify.egm`, and what every EGM step starts from.

Under a schedule the tax is linear between kinks and households bunch at a kink where the
rate rises: the candidates are each bracket's labour condition and each such kink, with the
shadow marginal rate ``1 - chi f^(1/phi)/(lam W e h_max)`` between the adjacent rates (it also
prices assets there, by the envelope theorem); with rates that never fall exactly one
candidate is consistent. Where a rate falls the problem is not concave, and an upper envelope
over the candidates, valued exactly, picks the household's choice. Arrays are [na, ne] over
(assets, this period's ability state).
"""

from __future__ import annotations

import itertools

import numpy as np

from smfg.certify.grids import _lerp
from smfg.certify.hours import _static_choice
from smfg.certify.interp import _ColumnInterp, _interp_cols
from smfg.certify.primitives import Fiscal, _labour_wage, _tax3, cash_on_hand

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
    ok, A = _consistent_first(valid, A, n_most)
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
    best = _best_of_each(idx, vals, na * ne)  # the best candidate of each state

    def pick(x, x_min):
        return np.concatenate([x, x_min.ravel()])[best].reshape(na, ne)

    f, c, x_a = pick(f, f_m), pick(c, c_m), pick(x_a, x_m)
    a_next = pick(ap, np.full((na, ne), a[0]))
    Va = hh.u_c(c) / tc * x_a
    V = vals[best].reshape(na, ne)
    return {"c": c, "f": f, "a_next": a_next, "Va": Va, "V": V, "at_min": at_min}


def _consistent_first(valid, A, n_most: int):
    """The consistent candidates of each point first, in their order: (ok, A) [n_most, na,
    ne], ``ok[v]`` whether point's v-th consistent candidate exists and ``A[v]`` its assets
    (0 where it does not). What ``np.argsort(~valid, axis=0, kind="stable")[:n_most]``
    takes from ``valid`` and ``A``, without the sort: each consistent candidate goes to the
    rank it has among its point's (a cumulative sum along the candidates)."""
    n_cand = valid.shape[0]
    flat = valid.reshape(n_cand, -1)
    n_pts = flat.shape[1]
    sel = np.flatnonzero(flat)  # candidate * n_pts + point, the consistent ones
    rank = np.cumsum(flat, axis=0).reshape(-1)[sel] - 1
    dest = rank * n_pts + sel % n_pts
    ok = np.zeros(n_most * n_pts, dtype=bool)
    ok[dest] = True
    A_first = np.zeros(n_most * n_pts)
    A_first[dest] = A.reshape(-1)[sel]
    shape = (n_most,) + valid.shape[1:]
    return ok.reshape(shape), A_first.reshape(shape)


def _best_of_each(idx, vals, n_states: int):
    """For each state s in ``range(n_states)`` (each one present in ``idx``), the position of
    its best candidate: the largest of ``vals`` where ``idx == s``, the first of equals. What
    ``o = np.lexsort((-vals, idx)); o[np.unique(idx[o], return_index=True)[1]]`` gives,
    without the sort (that sort, where some value is NaN)."""
    if np.isnan(vals).any():
        o = np.lexsort((-vals, idx))
        return o[np.unique(idx[o], return_index=True)[1]]
    top = np.full(n_states, -np.inf)
    np.maximum.at(top, idx, vals)
    hit = np.flatnonzero(vals == top[idx])
    first = np.full(n_states, len(vals))
    np.minimum.at(first, idx[hit], hit)
    return first
