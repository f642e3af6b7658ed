"""The best response's searches (issue 19): the slopes that bisection follows are the
objective's own, bisection and golden section find the same maxima, and searching the
narrow brackets apart changes nothing but the cost."""

import numpy as np

from smfg.certify import AssetGrid, Fiscal, Household, Prices, ability_grid, solve_known
from smfg.certify.env_objective import _EnvStates
from smfg.certify.envtiming import _q_at_f, _q_at_s
from smfg.certify.evaluation import _env_shares, value_env
from smfg.certify.maximise import _bisect_max, _golden_max, _Objective, _search
from smfg.config import economy_params

P = economy_params("clearing")
PRICES = Prices(0.035, (1 - P.alpha) / (P.mean_ability * P.h_max / 3))
FISCALS = [Fiscal.from_raw([P.action_low] * 5, P), Fiscal.from_raw([0.5, 0.5, 0.3, 0.3, 0.3], P)]


def _states(fiscal):
    hh, grid, ab = Household.from_params(P), AssetGrid(60, 200.0), ability_grid(P, 3)
    known = solve_known(hh, fiscal, PRICES, grid, ab, tol=1e-8, value=False)
    s, f = _env_shares(hh, known.s, known.f)
    V, _, _ = value_env(hh, fiscal, PRICES, grid, ab, s, f)
    st = _EnvStates(hh, fiscal, PRICES, grid, ab)
    st.set_value(V)
    return st, s.ravel(), f.ravel()


def test_slopes_are_the_objectives_derivatives():
    for fiscal in FISCALS:
        st, s, f = _states(fiscal)
        h = 1e-6
        for s_at in (s, np.full_like(s, 0.6), np.full_like(s, 0.99)):  # 0.99: a' above a_max
            q = _q_at_s(st, st.cash(f))(None)
            fd = (q(s_at + h) - q(np.maximum(s_at - h, 0.0))) / (s_at + h - np.maximum(s_at - h, 0))
            # from the right: where a kink lies within h the two differ, elsewhere they agree
            agree = np.abs(q.slope(s_at) - fd) <= 1e-4 * (1.0 + np.abs(fd))
            assert agree.mean() > 0.97
        q = _q_at_f(st, s)(None)
        fd = (q(f + h) - q(f - h)) / (2 * h)
        assert (np.abs(q.slope(f) - fd) <= 1e-4 * (1.0 + np.abs(fd))).mean() > 0.97


def test_bisection_and_golden_section_find_the_same_maximum():
    rng = np.random.default_rng(0)
    centre, curv = rng.uniform(0.1, 0.9, 200), rng.uniform(0.5, 50.0, 200)
    kink = rng.random(200) < 0.3  # some with a kink at the maximum

    def value(x):
        return -curv * np.where(kink, np.abs(x - centre), (x - centre) ** 2)

    def slope(x):
        return -curv * np.where(kink, np.sign(x - centre) + (x == centre), 2 * (x - centre))

    lo, hi = np.zeros(200), np.ones(200)
    xb, fb = _bisect_max(_Objective(value, slope), lo, hi, 1e-9)
    xg, fg = _golden_max(value, lo, hi, 1e-9)
    assert np.abs(xb - centre).max() < 2e-9 and np.abs(xg - centre).max() < 2e-9
    # a maximum at a bound: the ends are compared as before
    xb, _ = _bisect_max(_Objective(value, slope), lo, np.minimum(centre, 0.5), 1e-9)
    assert np.allclose(xb, np.minimum(centre, 0.5), atol=1e-9)


def test_brackets_per_state_give_the_maxima_of_one_bracket_for_all():
    st, s, f = _states(FISCALS[1])
    factory = _q_at_s(st, st.cash(f))
    x_wide, q_wide = _search(factory, s, 0.001, 0.99, 0.2, 1e-9)
    # most brackets narrow around the maximum, a few wide, some missing it (searched again)
    i = np.arange(len(s))
    old = np.clip(x_wide + np.where(i % 7 == 0, 3e-4, 3e-5), 0.001, 0.99)
    width = np.where(i % 10 == 0, 0.2, 1e-4)
    x, q = _search(factory, old, 0.001, 0.99, width, 1e-9)
    assert np.abs(x - x_wide).max() < 1e-8
    assert np.abs(q - q_wide).max() <= 1e-11 * np.abs(q_wide).max()  # (kinks: x within 1e-8)
