"""The faster household solvers (issue 19) compute what the old ones computed.

``household_reference.py`` keeps the old hot paths: the endogenous grid method's step (its
interpolation per column, Newton's method for the endogenous points, the static choice at
the borrowing limit refined by one Newton step per step) and the environment-timing policy
iteration (its objective on [na, ne, ne] arrays, full-range searches for every state). Each
problem is solved both ways on a small grid and compared: the EGM to the last bits (the
static choice at the borrowing limit is now solved once, exactly, instead of one Newton step
per EGM step: that moves the policies by about 1e-14), the best response within its own
tolerance (its objective is the same up to rounding, so its golden sections may part where
the objective is flat, by far less than they can tell apart)."""

import numpy as np
import pytest
from household_reference import solve_env as solve_env_reference
from household_reference import solve_known as solve_known_reference

from smfg.certify import (
    AssetGrid,
    Fiscal,
    Household,
    Prices,
    ability_grid,
    euler_errors,
    solve_env,
    solve_known,
    value_env,
)
from smfg.certify.interp import _ColumnInterp, _interp_cols
from smfg.config import economy_params

P = economy_params("clearing")
PRICES = Prices(0.035, (1 - P.alpha) / (P.mean_ability * P.h_max / 3))
FISCALS = {
    "free market": Fiscal.from_raw([P.action_low] * 5, P),
    "E6 taxes": Fiscal.from_raw([0.5, 0.5, 0.3, 0.3, 0.3], P),
}


def _interp_loop(x_new, xp, fps):
    out = []
    for fp in fps:
        fp = np.broadcast_to(fp, xp.shape)
        o = np.empty((len(x_new), xp.shape[1]))
        for j in range(xp.shape[1]):
            o[:, j] = np.interp(x_new, xp[:, j], fp[:, j])
            above = x_new > xp[-1, j]
            slope = (fp[-1, j] - fp[-2, j]) / (xp[-1, j] - xp[-2, j])
            o[above, j] = fp[-1, j] + slope * (x_new[above] - xp[-1, j])
        out.append(o)
    return out


def test_interpolation_of_all_columns_equals_np_interp_to_the_bit():
    rng = np.random.default_rng(0)
    grid = AssetGrid(200, 50.0).a
    prev = None
    for trial in range(60):
        xp = np.sort(rng.uniform(-5.0, 55.0, (200, 4)), axis=0)
        if trial % 3 == 0:
            xp[:, 1] = grid  # nodes exactly at the points
        fps = [rng.random((200, 4)), grid[:, None]]
        want = _interp_loop(grid, xp, fps)
        for where in (None, _ColumnInterp.of(grid, xp, prev)):
            for got, w in zip(_interp_cols(grid, xp, fps, where), want, strict=True):
                assert np.array_equal(got, w)
        # nodes moved a little: last step's segments are moved, not counted anew
        moved = np.sort(xp * (1 + 1e-3 * rng.standard_normal(xp.shape)), axis=0)
        where = _ColumnInterp.of(grid, moved, _ColumnInterp(grid, xp))
        np.testing.assert_array_equal(where.j, _ColumnInterp(grid, moved).j)
        for got, w in zip(
            _interp_cols(grid, moved, fps, where), _interp_loop(grid, moved, fps), strict=True
        ):
            assert np.array_equal(got, w)
        prev = where


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize("name", list(FISCALS))
@pytest.mark.parametrize("labour", [None, 0.3])
def test_egm_equals_the_old_solver(name, labour):
    """The old solver stops where consumption changes by less than tol = 1e-9 in a step, at
    a distance of about tol rho/(1-rho), rho ~ 0.963 the contraction, from the fixed point:
    2.4e-8 in consumption, 4.7e-8 in Va. The new one takes Newton's method to the fixed
    point after 30 steps and stops by the same test, far closer (2e-13): the two agree
    within 1e-7 (relative), the new one with at most as many steps (Jacobians counted), and
    both solve a tight reference (tol 1e-13) within what the old one's test promises."""
    hh = Household.from_params(P, labour=labour)
    fis, grid, ab = FISCALS[name], AssetGrid(120, 200.0), ability_grid(P, 5)
    new = solve_known(hh, fis, PRICES, grid, ab, tol=1e-9)
    old = solve_known_reference(hh, fis, PRICES, grid, ab, tol=1e-9)
    assert new.converged and new.iterations <= old.iterations
    for key in ("c", "f", "a_next", "Va", "s", "V"):
        assert _rel(getattr(new, key), getattr(old, key)) < 1e-7, key
    tight = solve_known_reference(hh, fis, PRICES, grid, ab, tol=1e-13, value=False)
    assert _rel(new.c, tight.c) <= _rel(old.c, tight.c) + 1e-12
    e_new, e_old = euler_errors(new), euler_errors(old)
    np.testing.assert_array_equal(np.isnan(e_new), np.isnan(e_old))
    # log10 units, at errors of ~1e-5 to 1e-7: means within 1.2e-5, points within 2.4e-3
    assert abs(np.nanmean(e_new) - np.nanmean(e_old)) < 1e-4
    assert np.nanmax(np.abs(e_new - e_old)) < 1e-2
    # warm started at other prices from each one's own solution, as the equilibrium does
    other = Prices(0.03, PRICES.W * 1.02)
    new2 = solve_known(hh, fis, other, grid, ab, tol=1e-9, init=new, value=False)
    old2 = solve_known_reference(hh, fis, other, grid, ab, tol=1e-9, init=old, value=False)
    assert new2.converged and new2.iterations <= old2.iterations
    assert _rel(new2.c, old2.c) < 1e-7


@pytest.mark.parametrize("name", list(FISCALS))
@pytest.mark.parametrize("labour", [None, 0.3])
def test_best_response_equals_the_old_solver_within_its_tolerance(name, labour):
    hh = Household.from_params(P, labour=labour)
    fis, grid, ab = FISCALS[name], AssetGrid(80, 200.0), ability_grid(P, 3)
    known = solve_known(hh, fis, PRICES, grid, ab, tol=1e-9, value=False)
    new = solve_env(hh, fis, PRICES, grid, ab, init=known)
    old = solve_env_reference(hh, fis, PRICES, grid, ab, init=known)
    assert new.converged and old.converged
    assert new.iterations == old.iterations
    assert new.info["joint_iterations"] == old.info["joint_iterations"]
    # the values: within the solver's tolerance (1e-8 of the value's scale) by far
    scale = 1.0 + np.abs(old.V).max()
    assert np.abs(new.V - old.V).max() < 1e-9 * scale
    # the shares may part only where the objective is flat: each one's value is the other's
    assert np.abs(new.s - old.s).max() < 1e-4
    assert np.abs(new.f - old.f).max() < 1e-4
    V_old_shares, _, _ = value_env(hh, fis, PRICES, grid, ab, old.s, old.f)
    assert np.abs(V_old_shares - new.V).max() < 1e-9 * scale
