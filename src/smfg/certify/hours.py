"""The household's static choice (book:certification): its work share and consumption at given
assets and next assets, from the intratemporal labour condition ``chi f^(1/phi) =
u'(c)/(1+tau_c) W e h_max (1 - Tax'(i))`` and the budget. Under E6 by Newton's method in a
bracket; under a piecewise-linear schedule exactly, segment by segment, with bunching at the
kinks priced by the shadow marginal rate. Shared by the endogenous grid method, its Euler
errors and its last period."""

from __future__ import annotations

from functools import partial

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


def _bracket_newton(D, dD, lo, hi, f, iters: int = 100, tol: float = 1e-14):
    """Root of a decreasing ``D`` in [lo, hi] (where ``D(lo) > 0 > D(hi)``) by Newton's
    method kept inside a shrinking bracket (bisection where a step would leave it)."""
    for _ in range(iters):
        R = D(f)
        lo = np.where(R > 0, f, lo)
        hi = np.where(R < 0, f, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = f - R / dD(f)
        bad = ~np.isfinite(step) | (step < lo) | (step > hi)
        f_new = np.where(bad, 0.5 * (lo + hi), step)
        change = np.max(np.abs(f_new - f), initial=0.0)
        f = f_new
        if change <= tol:
            break
    return f


def _labour_gap(hh, A, c0, f):
    """The labour condition's gap ``u'(c) A - chi f^(1/phi)`` with ``c = c0 + A f`` (A: d c /
    d f on a segment of the tax), decreasing in f."""
    return hh.u_c(c0 + A * f) * A - hh.v_f(f)


def _labour_gap_df(hh, A, c0, f):
    cs = np.maximum(c0 + A * f, _C_FLOOR)
    k = 1.0 / hh.phi
    return -hh.sigma * cs ** (-hh.sigma - 1.0) * A * A - hh.chi * k * f ** (k - 1.0)


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
    Ta = _tax3(a, fiscal.tau_a, fiscal.xi_a, 0)[0]
    ra = r * a
    edges = np.concatenate([[-np.inf], sc.kinks, [np.inf]])
    best = np.full(shape, -np.inf)
    f_best = np.full(shape, hh.f_lo)
    tau_best = np.zeros(shape)
    for q in range(len(sc.m)):
        m = sc.m[q]
        with np.errstate(invalid="ignore"):
            f_edge_lo = (edges[q] - ra) / weh  # work share putting income at the segment's ends
            f_edge_hi = (edges[q + 1] - ra) / weh
        fl = np.maximum(f_edge_lo, hh.f_lo)
        fh = np.minimum(f_edge_hi, hh.f_hi)
        ok = fl <= fh
        if not ok.any():
            continue
        fl, fh = np.where(ok, fl, hh.f_lo), np.where(ok, fh, hh.f_lo)
        A = np.broadcast_to(weh * (1.0 - m) / tc, shape)  # d c / d f on this segment
        c0 = (a * (1.0 + r - r * m) - sc.b[q] - Ta + prices.tr - a_next) / tc  # c at f = 0
        c0 = np.broadcast_to(c0, shape)
        D_lo, D_hi = _labour_gap(hh, A, c0, fl), _labour_gap(hh, A, c0, fh)
        f = np.where(D_hi >= 0, fh, np.where(D_lo <= 0, fl, 0.5 * (fl + fh)))
        inner = (D_lo > 0) & (D_hi < 0)
        if inner.any():  # an interior root: Newton's method on those points only
            As, cs = A[inner], c0[inner]
            gap, slope = partial(_labour_gap, hh, As, cs), partial(_labour_gap_df, hh, As, cs)
            f[inner] = _bracket_newton(gap, slope, fl[inner], fh[inner], f[inner], iters)
        c = c0 + A * f
        val = np.where(ok, hh.u(c) - hh.v(f), -np.inf)
        # bunched at a kink: the end of the segment is a kink, not a bound of the work share
        up = (f >= fh) & (f_edge_hi < hh.f_hi) & (q < len(sc.m) - 1)
        down = (f <= fl) & (f_edge_lo > hh.f_lo) & (q > 0)
        tau = np.full(shape, m)
        if up.any() or down.any():
            lam_weh = hh.u_c(c) * weh / tc
            shadow = 1.0 - hh.v_f(f) / lam_weh
            if up.any():
                lo_, hi_ = sorted((m, sc.m[q + 1]))
                tau = np.where(up, np.clip(shadow, lo_, hi_), tau)
            if down.any():
                lo_, hi_ = sorted((sc.m[q - 1], m))
                tau = np.where(down, np.clip(shadow, lo_, hi_), tau)
        better = val > best
        best = np.where(better, val, best)
        f_best = np.where(better, f, f_best)
        tau_best = np.where(better, tau, tau_best)
    c = (cash_on_hand(fiscal, prices, a, weh * f_best) - a_next) / tc
    return f_best, c, tau_best


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
