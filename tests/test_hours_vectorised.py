"""The household's static choice under a piecewise-linear income tax, solved for all the
schedule's segments at once (:func:`smfg.certify.hours._hours_schedule`), against the loop over
segments it replaced (kept here as the slow reference ``_hours_schedule_loop``): the same
work shares, consumption and effective marginal rates, on a two-bracket schedule, US federal
2022 and a Saez schedule (whose rates fall), over grids of assets, next assets and abilities,
at kinks and where no segment is feasible; to the bit in fact, which the tests do not ask.
And the upper envelope's bookkeeping of :mod:`smfg.certify.egm_schedule` without its sorts
picks what the sorts picked."""

from functools import partial

import numpy as np
import pytest
import torch

from smfg.certify import Fiscal, Household, Prices, ability_grid
from smfg.certify.egm_schedule import _best_of_each, _consistent_first
from smfg.certify.hours import _hours_schedule, _labour_gap, _labour_gap_df, _static_choice
from smfg.certify.primitives import _tax3, cash_on_hand
from smfg.config import economy_params
from smfg.policies import saez_schedule

CLEARING = economy_params("clearing")
HH = Household.from_params(CLEARING)
PRICES = Prices(0.035, (1 - CLEARING.alpha) / (CLEARING.mean_ability * CLEARING.h_max / 3), 0.01)
PAY = PRICES.W * ability_grid(CLEARING, 5).e * HH.h_max  # W e h_max, per ability state


# --- the reference: the loop over segments --------------------------------------------------


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


def _hours_schedule_loop(hh, fiscal, prices, a, a_next, weh, iters: int = 100):
    """The static choice under a schedule, segment by segment (the implementation before the
    segments were stacked): each segment's best work share, kept where its value beats every
    earlier segment's."""
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


# --- schedules and points -------------------------------------------------------------------


def _saez() -> Fiscal:
    """Saez's proper schedule (10 brackets, elasticity 1) of a lognormal income sample: its
    rates fall from the bottom bracket up, as in the `clearing` economy's Saez runs."""
    gen = torch.Generator().manual_seed(0)
    inc = torch.exp(0.8 * torch.randn(2000, generator=gen, dtype=torch.float64)) * 0.4
    lo, rates = saez_schedule(inc[None], 1.0)
    return Fiscal(tau_c=CLEARING.tau_c, brackets=lo[0].tolist(), rates=rates[0].tolist())


SCHEDULES = {
    "two brackets": Fiscal(tau_c=CLEARING.tau_c, brackets=(0.0, 0.5), rates=(0.1, 0.3)),
    "two brackets, asset tax": Fiscal(
        tau_a=0.02, xi_a=0.1, tau_c=CLEARING.tau_c, brackets=(0.0, 0.5), rates=(0.4, 0.1)
    ),
    "US 2022": Fiscal.us_federal_2022(CLEARING),
    "Saez": _saez(),
}


def _grid_points(fiscal):
    """Assets x next assets (shares of assets) x pay per unit of work share [na, ns, ne] (the
    calibration's five ability states, and a zero and a negative pay, for which no segment is
    feasible), and points whose income lies exactly at a kink at a bound of the work share or
    at f = 0.5, or one ulp either side [n]."""
    a = np.concatenate([[0.0, 1e-3], np.geomspace(0.01, 200.0, 40)])[:, None, None]
    share = np.linspace(0.0, 1.1, 12)[None, :, None]
    weh = np.concatenate([PAY, [0.0, -0.5]])[None, None, :]
    grid = (a, a * share + 0.02 * share, weh)
    kinks = fiscal.schedule.kinks
    r = PRICES.r
    pts = []
    for w in PAY[[0, 2, 4]]:
        for bound in (HH.f_lo, HH.f_hi, 0.5):
            at = (kinks - w * bound) / r  # income w f + r a = kink at f = bound
            at = at[at >= 0]
            for x in (at, np.nextafter(at, -np.inf), np.nextafter(at, np.inf)):
                for s in (0.0, 0.3, 0.9):
                    pts.append((x, s * x, np.full_like(x, w)))
    a1, ap1, w1 = (np.concatenate(x) for x in zip(*pts, strict=True))
    # assets at the kinks with a zero pay (0/0: no feasible segment), and NaN assets
    a1 = np.concatenate([a1, kinks[kinks >= 0] / r, [np.nan]])
    ap1 = np.concatenate([ap1, np.zeros(int((kinks >= 0).sum())), [0.0]])
    w1 = np.concatenate([w1, np.zeros(int((kinks >= 0).sum())), [PAY[2]]])
    return grid, (a1, ap1, w1)


def _assert_agree(fiscal, a, a_next, weh, iters=100):
    with np.errstate(divide="ignore", invalid="ignore"):  # (zero pay: 0/0)
        new = _hours_schedule(HH, fiscal, PRICES, a, a_next, weh, iters)
        old = _hours_schedule_loop(HH, fiscal, PRICES, a, a_next, weh, iters)
    shape = np.broadcast(a, a_next, weh).shape
    for x, y in zip(new, old, strict=True):
        assert x.shape == y.shape == shape
        assert np.array_equal(np.isnan(x), np.isnan(y))
    (f, c, tau), (f0, c0, tau0) = new, old
    ok = ~np.isnan(c0)
    assert np.abs(f - f0).max() < 1e-10
    assert np.abs(c - c0)[ok].max(initial=0.0) < 1e-10
    # the effective rate: the segment's own off the kinks, the shadow rate at one
    inc = np.broadcast_to(weh, shape) * f0 + PRICES.r * np.broadcast_to(a, shape)
    kinks = fiscal.schedule.kinks
    at_kink = (np.abs(inc[..., None] - kinks) <= 1e-12 * (1.0 + np.abs(kinks))).any(-1)
    assert np.array_equal(tau[~at_kink], tau0[~at_kink])
    assert np.abs(tau - tau0)[at_kink].max(initial=0.0) < 1e-10
    return new, at_kink


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_all_segments_at_once_equal_the_loop_over_segments(name):
    """On the grid and at the kink points: the same choices; some households bunch at a kink,
    some at a bound of the work share, and where the pay is zero or negative no segment is
    feasible (work share f_lo, rate 0), as in the loop."""
    fiscal = SCHEDULES[name]
    grid, pts = _grid_points(fiscal)
    (f, _, tau), at_kink = _assert_agree(fiscal, *grid)
    assert at_kink.sum() > 20, at_kink.sum()
    assert (f == HH.f_hi).any() and (f == HH.f_lo).any()
    negative = grid[2][0, 0] < 0  # [ne]
    assert (f[..., negative] == HH.f_lo).all() and (tau[..., negative] == 0.0).all()
    (f, c, tau), at_kink = _assert_agree(fiscal, *pts)
    none = np.isnan(pts[0]) | (pts[2] == 0.0)
    assert (f[none] == HH.f_lo).all() and (tau[none] == 0.0).all()
    assert at_kink.any()
    # the static choice (and so the EGM) goes through the stacked solver
    with np.errstate(divide="ignore", invalid="ignore"):
        f_s, c_s, _ = _static_choice(HH, fiscal, PRICES, *grid)
        f_g, c_g, _ = _hours_schedule(HH, fiscal, PRICES, *grid)
    assert np.array_equal(f_s, f_g) and np.array_equal(c_s, c_g)


@pytest.mark.parametrize("iters", [1, 2, 4])
def test_newton_stops_segment_by_segment_as_the_loop_did(iters):
    """With too few Newton iterations to converge, the iterates themselves agree: each
    segment's pairs take exactly the iterations its own Newton took in the loop."""
    fiscal = SCHEDULES["Saez"]
    grid, _ = _grid_points(fiscal)
    _assert_agree(fiscal, *grid, iters=iters)


def test_random_points_and_inelastic_labour():
    rng = np.random.default_rng(1)
    for fiscal in SCHEDULES.values():
        a = rng.uniform(0.0, 60.0, 3000)
        a_next = a * rng.uniform(0.0, 1.3, 3000)
        weh = PRICES.W * HH.h_max * rng.lognormal(0.0, 0.7, 3000)
        _assert_agree(fiscal, a, a_next, weh)
        _assert_agree(fiscal, a[:, None], a_next[:40], weh[:5, None, None])
        _assert_agree(fiscal, 3.0, 1.0, PAY[2])  # a scalar point
    fixed = Household.from_params(CLEARING, labour=1 / 3)
    fiscal = SCHEDULES["Saez"]
    a, weh = np.linspace(0.0, 30.0, 50)[:, None], PAY
    new = _hours_schedule(fixed, fiscal, PRICES, a, 0.5, weh)
    old = _hours_schedule_loop(fixed, fiscal, PRICES, a, 0.5, weh)
    for x, y in zip(new, old, strict=True):
        assert np.array_equal(x, y)


def test_no_feasible_segment_anywhere():
    """A call in which no point has a feasible segment (negative pay): work share f_lo and
    rate 0 everywhere, as in the loop."""
    a, weh = np.linspace(0.0, 5.0, 7), np.array([[-0.5], [-1.0]])
    for fiscal in SCHEDULES.values():
        (f, c, tau), _ = _assert_agree(fiscal, a, 0.1, weh)
        assert (f == HH.f_lo).all() and (tau == 0.0).all()


# --- the upper envelope's bookkeeping (smfg.certify.egm_schedule) ---------------------------


def test_consistent_candidates_first_without_the_sort():
    """``_consistent_first`` takes from the candidates what the stable argsort took."""
    rng = np.random.default_rng(2)
    for n_cand, na, ne, share in ((14, 200, 5, 0.1), (5, 30, 3, 0.5), (3, 10, 2, 0.0)):
        valid = rng.random((n_cand, na, ne)) < share
        valid[rng.integers(0, n_cand, (na, ne)), np.arange(na)[:, None], np.arange(ne)] = True
        A = rng.standard_normal((n_cand, na, ne))
        n_most = int(valid.sum(0).max())
        which = np.argsort(~valid, axis=0, kind="stable")[:n_most]
        ok, A_first = _consistent_first(valid, A, n_most)
        assert np.array_equal(ok, np.take_along_axis(valid, which, 0))
        assert np.array_equal(A_first[ok], np.take_along_axis(A, which, 0)[ok])


def test_best_candidate_of_each_state_without_the_sort():
    """``_best_of_each`` picks what the lexsort picked: the largest value of each state, the
    first of equal ones (ties, signed zeros, -inf; NaN values through the sort itself)."""
    rng = np.random.default_rng(3)
    n_states = 300
    for trial in range(6):
        idx = np.concatenate([rng.integers(0, n_states, 700), np.arange(n_states)])
        vals = np.round(rng.standard_normal(len(idx)), 1)  # many ties
        vals[rng.random(len(idx)) < 0.05] = -0.0
        vals[rng.random(len(idx)) < 0.05] = 0.0
        vals[rng.random(len(idx)) < 0.05] = -np.inf
        if trial % 2:
            vals[rng.random(len(idx)) < 0.05] = np.nan
        o = np.lexsort((-vals, idx))
        ref = o[np.unique(idx[o], return_index=True)[1]]
        assert np.array_equal(_best_of_each(idx, vals, n_states), ref)
