"""The household's static choice (book:certification): its work share and consumption at given
assets and next assets, from the intratemporal labour condition ``chi f^(1/phi) =
u'(c)/(1+tau_c) W e h_max (1 - Tax'(i))`` and the budget. Under E6 by Newton's method in a
bracket; under a piecewise-linear schedule exactly, segment by segment, with bunching at the
kinks priced by the shadow marginal rate. Shared by the endogenous grid method, its Euler
errors and its last period."""

from __future__ import annotations

import numpy as np

from smfg.certify.primitives import (
    _C_FLOOR,
    _budget,
    _dx_da,
    _tax3,
    cash_on_hand,
)


def _hours_given_saving(hh, fiscal, prices, a, a_next, weh, f0=None, iters: int = 100):
    """Work share and consumption at assets ``a`` with next assets ``a_next`` fixed.

    Solves the intratemporal condition ``chi f^(1/phi) = u'(c)/(1+tau_c) weh (1 - Tax'(i))``
    with ``(1+tau_c) c = x(a, f) - a_next``: its left side rises and its right side falls in
    f (E6 is convex), so Newton's method kept inside a shrinking bracket [lo, hi] (bisection
    where a step would leave it) finds the root, or the bound of [f_lo, f_hi] where there is
    none. Shapes broadcast; returns (f, c). A piecewise-linear schedule is solved exactly by
    :func:`_hours_schedule`.
    """
    if fiscal.brackets is not None:
        return _hours_schedule(hh, fiscal, prices, a, a_next, weh, iters)[:2]
    tc = 1.0 + fiscal.tau_c
    shape = np.broadcast(a, a_next, weh).shape
    if hh.labour is not None:
        f = np.full(shape, float(hh.labour))
        return f, (cash_on_hand(fiscal, prices, a, weh * f) - a_next) / tc
    k = 1.0 / hh.phi

    def resid(f):
        x, x_y, _, x_yy = _budget(fiscal, prices, a, weh * f, 2)
        c = (x - a_next) / tc
        ok = c > 0
        cs = np.where(ok, c, 1.0)
        lam = cs ** (-hh.sigma) / tc
        R = np.where(ok, hh.chi * f**k - lam * weh * x_y, -np.inf)
        dR = hh.chi * k * f ** (k - 1.0) + lam * weh**2 * (hh.sigma * x_y**2 / (tc * cs) - x_yy)
        return R, dR

    lo = np.full(shape, hh.f_lo)
    hi = np.full(shape, hh.f_hi)
    f = np.full(shape, 0.3) if f0 is None else np.clip(np.broadcast_to(f0, shape), lo, hi)
    for _ in range(iters):
        R, dR = resid(f)
        lo = np.where(R < 0, f, lo)
        hi = np.where(R > 0, f, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = f - R / dR
        bad = ~np.isfinite(step) | (step < lo) | (step > hi)
        f_new = np.where(bad, 0.5 * (lo + hi), step)
        change = np.max(np.abs(f_new - f))
        f = f_new
        if change <= 1e-13:
            break
    c = (cash_on_hand(fiscal, prices, a, weh * f) - a_next) / tc
    return f, c


def _labour_gap(hh, A, c0, f):
    """The labour condition's gap ``u'(c) A - chi f^(1/phi)`` with ``c = c0 + A f`` (A: d c /
    d f on a segment of the tax), decreasing in f."""
    return hh.u_c(c0 + A * f) * A - hh.v_f(f)


def _labour_gap_df(hh, A, c0, f):
    cs = np.maximum(c0 + A * f, _C_FLOOR)
    k = 1.0 / hh.phi
    return -hh.sigma * cs ** (-hh.sigma - 1.0) * A * A - hh.chi * k * f ** (k - 1.0)


def _newton_by_segment(hh, A, c0, lo, hi, f, seg, iters: int = 100, tol: float = 1e-14):
    """Roots of the labour gaps ``_labour_gap(hh, A, c0, .)`` (decreasing, ``> 0`` at ``lo``
    and ``< 0`` at ``hi``) of many (segment, point) pairs at once, 1-d arrays sorted by
    segment ``seg``.

    Newton's method kept inside a shrinking bracket [lo, hi] (bisection where a step would
    leave it), stopped segment by segment: a segment's pairs stop together, after the first
    iteration whose largest move over them is at most ``tol``, as if each segment were solved
    on its own. Stopped segments leave the working arrays, so every pair sees exactly the
    iterations, and gets exactly the root, that a Newton on its segment's points alone gives
    (the gap and its slope as :func:`_labour_gap` and :func:`_labour_gap_df`, operation for
    operation).
    """
    out = np.empty_like(f)
    pos = np.arange(len(f))  # where each working pair goes in ``out``
    first = np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))  # segments' starts
    k = 1.0 / hh.phi
    for _ in range(iters):
        c = c0 + A * f
        R = hh.u_c(c) * A - hh.v_f(f)  # _labour_gap
        lo = np.where(R > 0, f, lo)
        hi = np.where(R < 0, f, hi)
        cs = np.maximum(c, _C_FLOOR)  # _labour_gap_df
        dR = -hh.sigma * cs ** (-hh.sigma - 1.0) * A * A - hh.chi * k * f ** (k - 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = f - R / dR
        # the step where it stays in the bracket (finite: lo and hi are), else bisection
        f_new = np.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
        done = np.maximum.reduceat(np.abs(f_new - f), first) <= tol
        f = f_new
        if done.all():
            break
        if done.any():  # these segments have converged: out of the working arrays
            stop = np.repeat(done, np.diff(np.append(first, len(f))))
            out[pos[stop]] = f[stop]
            go = ~stop
            A, c0, lo, hi, f, seg, pos = (x[go] for x in (A, c0, lo, hi, f, seg, pos))
            first = np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))
    out[pos] = f
    return out


def _hours_schedule(hh, fiscal, prices, a, a_next, weh, iters: int = 100):
    """Work share, consumption and effective marginal rate at assets ``a`` with next assets
    ``a_next`` fixed, under a piecewise-linear income tax: exact, whatever the schedule.

    On each segment of the schedule cash on hand is linear in f, so the objective ``u(c) -
    v(f)`` is concave there: its maximum over the work shares that keep income in the
    segment (and in ``[f_lo, f_hi]``) is the root of the labour condition at the segment's
    rate, or an end of that interval. The best of the segments' maxima is the household's
    choice (convex or not, the schedule is handled exactly). A choice at an end of a segment
    that is a kink bunches there: its effective marginal rate is the shadow rate ``1 - chi
    f^(1/phi) / (lam weh)`` (between the two adjacent rates), else the segment's rate. Shapes
    broadcast; returns (f, c, effective marginal rate).

    All segments at once: the points are flattened to [n] and each segment's interval of
    work shares computed as [Q, n]; the (segment, point) pairs with a non-empty interval are
    then 1-d arrays sorted by segment (flat index ``q n + p``), on which the labour gaps at
    the interval's ends, one Newton's method for the interior roots
    (:func:`_newton_by_segment`, stopped per segment) and the values are computed. Each
    point takes the first segment of largest value (empty intervals -inf), as the loop over
    segments did that kept a segment only where its value beat every earlier one's; the
    effective rate (a shadow rate where the choice bunches at a kink) is computed for that
    pair only. A point with no feasible segment works ``f_lo`` at rate 0. Every number is
    computed by the same operations as in that loop: the results are the same to the bit.
    """
    sc = fiscal.schedule
    tc = 1.0 + fiscal.tau_c
    r = prices.r
    shape = np.broadcast(a, a_next, weh).shape
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), shape)
    a_next = np.broadcast_to(np.asarray(a_next, dtype=np.float64), shape)
    weh = np.broadcast_to(np.asarray(weh, dtype=np.float64), shape)
    if hh.labour is not None:
        f = np.full(shape, float(hh.labour))
        inc = weh * f + r * a
        c = (cash_on_hand(fiscal, prices, a, weh * f) - a_next) / tc
        return f, c, sc.tax3(inc, 1)[1]
    n_seg = len(sc.m)
    w = weh.reshape(-1)
    n = w.size
    edges = np.concatenate([[-np.inf], sc.kinks, [np.inf]])
    with np.errstate(invalid="ignore"):
        f_edge = (edges[:, None] - (r * a).reshape(-1)) / w  # [Q + 1, n]: income at a kink
    fl_all = np.maximum(f_edge[:-1], hh.f_lo)  # [Q, n]: each segment's interval of work shares
    fh_all = np.minimum(f_edge[1:], hh.f_hi)
    feasible = fl_all <= fh_all
    # the feasible (segment, point) pairs, by segment: flat index q n + p
    idx = np.flatnonzero(feasible)
    q = np.repeat(np.arange(n_seg), np.count_nonzero(feasible, axis=1))
    p = idx - q * n
    fl, fh = fl_all.reshape(-1)[idx], fh_all.reshape(-1)[idx]
    m = sc.m[q]
    A = w[p] * (1.0 - m) / tc  # d c / d f on the segment
    Ta = _tax3(a, fiscal.tau_a, fiscal.xi_a, 0)[0].reshape(-1)[p]
    c0 = a.reshape(-1)[p] * (1.0 + r - r * m) - sc.b[q] - Ta + prices.tr  # c at f = 0
    c0 = (c0 - a_next.reshape(-1)[p]) / tc
    D_lo, D_hi = _labour_gap(hh, A, c0, fl), _labour_gap(hh, A, c0, fh)
    f = np.where(D_hi >= 0, fh, np.where(D_lo <= 0, fl, 0.5 * (fl + fh)))
    inner = (D_lo > 0) & (D_hi < 0)
    if inner.any():  # an interior root: Newton's method on those pairs only
        f[inner] = _newton_by_segment(
            hh, A[inner], c0[inner], fl[inner], fh[inner], f[inner], q[inner], iters
        )
    c = c0 + A * f
    val = hh.u(c) - hh.v(f)
    # the best segment of each point: the first of largest value (NaN values never win)
    V = np.full(n_seg * n, -np.inf)
    V[idx] = np.where(np.isnan(val), -np.inf, val)
    V = V.reshape(n_seg, n)
    best = V.max(axis=0)
    won = best > -np.inf
    q_best = np.argmax(V == best, axis=0)  # (argmax of a boolean: its first True)
    pair = np.zeros(n_seg * n, dtype=np.intp)
    pair[idx] = np.arange(len(idx))
    k = pair[np.flatnonzero(won) + q_best[won] * n]  # the winning pairs
    f_best = np.full(n, hh.f_lo)
    f_best[won] = f[k]
    tau_best = np.zeros(n)
    f_edge, k_edge = f_edge.reshape(-1), idx[k]  # (the winners' lower edges; + n: upper)
    tau_best[won] = _effective_rate(
        hh, sc, tc, f[k], c[k], fl[k], fh[k], q[k], w[p[k]], f_edge[k_edge], f_edge[k_edge + n]
    )
    f_best, tau_best = f_best.reshape(shape), tau_best.reshape(shape)
    c = (cash_on_hand(fiscal, prices, a, weh * f_best) - a_next) / tc
    return f_best, c, tau_best


def _effective_rate(hh, sc, tc, f, c, fl, fh, q, weh, f_edge_lo, f_edge_hi):
    """The effective marginal rate of choices ``f`` on segments ``q`` (work shares in [fl,
    fh]; ``f_edge_lo``, ``f_edge_hi``: the work shares putting income at the segment's ends):
    the segment's rate, or where the choice bunches at a kink (an end of the segment that is
    a kink, not a bound of the work share) the shadow rate ``1 - chi f^(1/phi) / (lam weh)``
    clipped to the two adjacent rates. At both ends (a segment of zero width) the one below
    wins, as in the loop over segments."""
    n_seg = len(sc.m)
    m = sc.m[q]
    up = (f >= fh) & (f_edge_hi < hh.f_hi) & (q < n_seg - 1)
    down = (f <= fl) & (f_edge_lo > hh.f_lo) & (q > 0)
    if not (up.any() or down.any()):
        return m
    i = np.flatnonzero(up | down)
    lam_weh = hh.u_c(c[i]) * weh[i] / tc
    shadow = 1.0 - hh.v_f(f[i]) / lam_weh
    m_i, q_i = m[i], q[i]
    t = m_i
    for at, m_adj in (
        (up[i], sc.m[np.minimum(q_i + 1, n_seg - 1)]),
        (down[i], sc.m[np.maximum(q_i - 1, 0)]),
    ):
        t = np.where(at, np.clip(shadow, np.minimum(m_i, m_adj), np.maximum(m_i, m_adj)), t)
    m[i] = t
    return m


def _static_choice(hh, fiscal, prices, a, a_next, weh, f0=None, iters: int = 100):
    """Work share, consumption and d(cash)/d(assets) at assets ``a`` with next assets
    ``a_next`` fixed: (f, c, x_a). Under a schedule, x_a uses the effective marginal rate
    (at a kink, the shadow rate: envelope theorem)."""
    if fiscal.brackets is None:
        f, c = _hours_given_saving(hh, fiscal, prices, a, a_next, weh, f0, iters)
        return f, c, _dx_da(fiscal, prices, a, weh * f)
    f, c, tau = _hours_schedule(hh, fiscal, prices, a, a_next, weh, iters)
    Ta1 = _tax3(a, fiscal.tau_a, fiscal.xi_a, 1)[1]
    return f, c, 1.0 + prices.r - prices.r * tau - Ta1
