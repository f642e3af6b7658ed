"""Certification under piecewise-linear income taxes (US federal 2022, Saez): the schedule's
tax against the economy's, exact household best responses with bunching at kinks, the
stationary equilibrium, and households that play the exact best response in the
environment."""

import numpy as np
import pytest
import torch

from smfg.certify import (
    AssetGrid,
    Fiscal,
    Household,
    Prices,
    ability_grid,
    euler_errors,
    exact_households,
    schedule_tax,
    simulate,
    solve,
    solve_known,
    stationary_equilibrium,
    stationary_fiscal,
)
from smfg.certify.egm_schedule import _endogenous_schedule
from smfg.certify.grids import _lerp
from smfg.certify.hours import _static_choice
from smfg.config import economy_params
from smfg.economy.government import tax_piecewise
from smfg.env import SMFGEnv
from smfg.policies import FixedShares, Saez, USFederal2022, us_federal_tax_2022

CLEARING = economy_params("clearing")
KINK = 0.5  # model money: the labour income of the middle ability state at calibration wages
TWO_BRACKETS = Fiscal(tau_c=CLEARING.tau_c, brackets=(0.0, KINK), rates=(0.1, 0.3))


def calibration_prices(p=CLEARING, r=0.035, tr=0.0) -> Prices:
    """A wage near the calibration's (Y/N = 1, mean hours h_max/3) and a given interest."""
    return Prices(r, (1 - p.alpha) / (p.mean_ability * p.h_max / 3), tr)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def two_brackets():
    """10% up to the middle ability's labour income, 30% above: 200 assets x 5 abilities."""
    hh = Household.from_params(CLEARING)
    return solve_known(
        hh,
        TWO_BRACKETS,
        calibration_prices(),
        AssetGrid(200, 200.0),
        ability_grid(CLEARING, 5),
        tol=1e-9,
    )


def _income(sol):
    weh = sol.prices.W * sol.ability.e * sol.household.h_max
    return weh[None, :] * sol.f + sol.prices.r * sol.agrid.a[:, None]


# --- the tax --------------------------------------------------------------------------------


def test_schedule_tax_equals_the_economys_tax_piecewise():
    """On random incomes, at every threshold and on negative incomes, for US 2022, a
    schedule whose rates fall, one with a repeated threshold, one starting below zero and
    one taxing nothing; and the marginal rate is the slope of the tax between kinks."""
    rng = np.random.default_rng(0)
    us = Fiscal.us_federal_2022(CLEARING)
    schedules = [
        (us.brackets, us.rates),
        ((0.0, 0.15, 0.3, 0.6, 1.0), (0.5, 0.45, 0.42, 0.4, 0.35)),
        ((0.1, 0.3, 0.3, 0.8), (0.1, 0.5, 0.2, 0.4)),
        ((-0.2, 0.4), (0.05, 0.25)),
        ((0.0,), (0.0,)),
    ]
    for lo, rates in schedules:
        fis = Fiscal(tau_c=0.065, brackets=lo, rates=rates)
        x = np.concatenate(
            [
                rng.uniform(-2, 12, 500),
                rng.lognormal(0, 2, 200),
                lo,
                np.nextafter(lo, -np.inf),
                [-5.0, 0.0, 1e4],
            ]
        )
        theirs = tax_piecewise(
            torch.tensor(x)[None],
            torch.tensor([lo], dtype=torch.float64),
            torch.tensor([rates], dtype=torch.float64),
        )[0].numpy()
        assert np.abs(fis.income_tax(x) - theirs).max() < 1e-12, lo
        assert np.abs(schedule_tax(x, lo, rates) - theirs).max() < 1e-12, lo
        h = 1e-7
        kinks = fis.schedule.kinks
        away = np.all(np.abs(x[:, None] - kinks[None, :]) > 10 * h, axis=1)
        fd = (fis.income_tax(x[away] + h) - fis.income_tax(x[away] - h)) / (2 * h)
        assert np.allclose(fis.marginal_income_tax(x[away]), fd, atol=1e-6), lo
    assert Fiscal(brackets=[0.0, 1.0], rates=[0.1, 0.2]).schedule.convex
    assert not Fiscal(brackets=schedules[1][0], rates=schedules[1][1]).schedule.convex
    # the US bills in model money: dollars divided by money_unit, as the policy does it
    dollars = np.array([0.0, 12_950.0, 50_000.0, 100_000.0, 1e6])
    mu = CLEARING.money_unit
    assert np.allclose(us.income_tax(dollars / mu) * mu, us_federal_tax_2022(dollars), atol=1e-8)


def test_fiscal_schedule_is_hashable_validated_and_read_from_the_us_policy():
    fis = Fiscal(brackets=[0.0, 1.0], rates=np.array([0.1, 0.2]))
    assert fis.brackets == (0.0, 1.0) and isinstance(fis.rates, tuple)
    assert hash(fis) == hash(Fiscal(brackets=(0.0, 1.0), rates=(0.1, 0.2)))
    with pytest.raises(ValueError, match="ascending"):
        Fiscal(brackets=(1.0, 0.0), rates=(0.1, 0.2))
    with pytest.raises(ValueError, match=r"rates in \[0, 1\]"):
        Fiscal(brackets=(0.0,), rates=(1.5,))
    with pytest.raises(ValueError, match="equal length"):
        Fiscal(brackets=(0.0, 1.0), rates=(0.1,))
    env = SMFGEnv(CLEARING, 10)
    obs = env.reset()
    pol = USFederal2022()
    pol.reset(env)
    gov = pol(obs, env.state.income)
    assert Fiscal.from_gov(gov, CLEARING.tau_c) == Fiscal.us_federal_2022(CLEARING)


# --- the household problem ----------------------------------------------------------------


def test_euler_errors_with_two_brackets_and_bunching_at_the_kink(two_brackets):
    """Known timing, elastic labour: a noticeable share of households bunch exactly at the
    kink (their shadow marginal rate strictly between 10% and 30%), and the Euler equation
    holds to 1e-5 on average off the grid (its worst errors, as under E6, where the borrowing
    limit starts to bind and where a policy kinks between grid points)."""
    sol = two_brackets
    hh, fl, pr = sol.household, sol.fiscal, sol.prices
    assert sol.converged
    inc = _income(sol)
    bunched = np.abs(inc - KINK) <= 1e-12 * KINK
    assert bunched.sum() >= 40 and bunched.mean() > 0.03, bunched.sum()
    err = euler_errors(sol)
    finite = err[np.isfinite(err)]
    assert finite.size > 0.9 * err.size
    assert finite.mean() <= -5.0, finite.mean()
    assert finite.max() < -2.2 and np.quantile(finite, 0.95) < -4.0, finite.max()
    # budget exact; labour condition at the segment's rate off the kink; at the kink the
    # shadow rate lies between the two
    weh = pr.W * sol.ability.e * hh.h_max
    x = fl.income_tax(inc)
    cash = weh[None, :] * sol.f + (1 + pr.r) * sol.agrid.a[:, None] - x + pr.tr
    assert np.abs((1 + fl.tau_c) * sol.c + sol.a_next - cash).max() < 1e-12
    lam_weh = hh.u_c(sol.c) / (1 + fl.tau_c) * weh[None, :]
    shadow = 1 - hh.v_f(sol.f) / lam_weh
    interior = (sol.f > hh.f_lo) & (sol.f < hh.f_hi) & ~bunched
    assert np.abs(shadow - fl.marginal_income_tax(inc))[interior].max() < 1e-9
    assert (shadow[bunched] > 0.1 + 1e-6).all() and (shadow[bunched] < 0.3 - 1e-6).all()


def test_exactly_one_endogenous_candidate_is_consistent_with_a_convex_schedule(two_brackets):
    """The endogenous grid method's candidates (each bracket's labour condition, bunching at
    each kink) at the converged consumption: exactly one is consistent at every point, or
    two that coincide (a bracket's point at the kink is the kink's point)."""
    sol = two_brackets
    weh = (sol.prices.W * sol.ability.e * sol.household.h_max)[None, :]
    a_k = np.broadcast_to(sol.agrid.a[:, None], sol.c.shape)
    tc = 1 + sol.fiscal.tau_c
    c = sol.household.u_c_inv(sol.household.beta * (sol.Va @ sol.ability.P.T) * tc)
    A, F, _, viol = _endogenous_schedule(sol.household, sol.fiscal, sol.prices, c, a_k, weh)
    ok = viol <= 1e-12
    n = ok.sum(0)
    assert (n >= 1).all()
    for i, j in zip(*np.nonzero(n > 1), strict=True):
        a_ok, f_ok = A[ok[:, i, j], i, j], F[ok[:, i, j], i, j]
        assert np.ptp(a_ok) < 1e-9 and np.ptp(f_ok) < 1e-9
    # three brackets (0% below 0, 10%, 30%) and two kinks; some points bunch at 0.5 only
    assert A.shape[0] == 5 and (ok[4] & (n == 1)).sum() > 10


def test_a_household_at_the_kink_has_a_smooth_value_and_the_shadow_rate(two_brackets):
    """A bunched household: income exactly at the kink, nothing NaN, and its period value
    ``u(c) - v(f)`` (saving held) is continuous in assets across the bunching region and
    differentiable with the envelope theorem's slope ``u'(c)/(1+tau_c) (1 + r - r T'_shadow
    - Tax_a')``, inside the region and at its two ends (where the shadow rate meets 10% and
    30%)."""
    sol = two_brackets
    hh, fl, pr = sol.household, sol.fiscal, sol.prices
    assert all(np.isfinite(x).all() for x in (sol.c, sol.f, sol.a_next, sol.V, sol.Va))
    ii, jj = np.nonzero(np.abs(_income(sol) - KINK) <= 1e-12 * KINK)
    i, j = ii[len(ii) // 2], jj[len(jj) // 2]
    a_next = sol.a_next[i, j]
    weh = pr.W * sol.ability.e[j] * hh.h_max

    def at(a):
        f, c, x_a = _static_choice(hh, fl, pr, np.asarray(a, dtype=float), a_next, weh)
        return f, c, x_a, hh.u(c) - hh.v(f), weh * f + pr.r * a

    def edge(a_in, a_out):  # bisection for where the bunching region ends
        for _ in range(60):
            mid = 0.5 * (a_in + a_out)
            inside = abs(at(mid)[4] - KINK) <= 1e-12
            a_in, a_out = (mid, a_out) if inside else (a_in, mid)
        return a_in

    a0 = sol.agrid.a[i]
    lo, hi = edge(a0, a0 - 5.0), edge(a0, a0 + 5.0)
    assert lo < a0 < hi and hi - lo > 0.02  # a region, not a point
    h = 1e-6
    for a in (lo, 0.5 * (lo + a0), a0, hi):
        f, c, x_a, W, inc = at(np.array([a - h, a, a + h]))
        assert np.isfinite([f, c, x_a, W]).all()
        slope = hh.u_c(c[1]) / (1 + fl.tau_c) * x_a[1]
        assert abs(W[2] - W[0]) <= 2.5 * h * slope  # continuous: O(step)
        assert (W[2] - W[0]) / (2 * h) == pytest.approx(slope, rel=1e-5)
    f, c, x_a, _, inc = at(np.array([a0]))
    shadow = (1 + pr.r - x_a[0]) / pr.r  # no asset tax here
    assert abs(inc[0] - KINK) < 1e-13 and 0.1 < shadow < 0.3
    assert shadow == pytest.approx(1 - hh.v_f(f[0]) * (1 + fl.tau_c) / (hh.u_c(c[0]) * weh))


def test_a_zero_rate_schedule_is_the_free_market_in_both_timings():
    hh = Household.from_params(CLEARING)
    ag, ab = AssetGrid(100, 100.0), ability_grid(CLEARING, 3)
    prices = calibration_prices(tr=0.01)
    free = Fiscal(0.0, 0.0, 0.0002, 0.00005, 0.0003, CLEARING.tau_c)
    zero = Fiscal(0.0, 0.0, 0.0002, 0.00005, 0.0003, CLEARING.tau_c, (0.0, 0.3), (0.0, 0.0))
    k1, k2 = (solve(hh, f, prices, ag, ab, "known") for f in (free, zero))
    assert np.abs(k1.V - k2.V).max() < 1e-12 * np.abs(k1.V).max()
    assert np.abs(k1.a_next - k2.a_next).max() < 1e-10 and np.abs(k1.f - k2.f).max() < 1e-10
    e1, e2 = (solve(hh, f, prices, ag, ab, "env", init=k) for f, k in ((free, k1), (zero, k2)))
    assert e1.converged and e2.converged
    assert np.abs(e1.V - e2.V).max() < 1e-9 * np.abs(e1.V).max()
    # (golden section stops within its share tolerance, where the objective is flat)
    assert np.abs(e1.s - e2.s).max() < 1e-5 and np.abs(e1.f - e2.f).max() < 1e-5


def test_falling_rates_upper_envelope_leaves_no_better_saving():
    """A schedule whose rate falls (40% then 10%: not convex, Saez's are not either): the
    household's problem is not concave, the upper envelope picks among the candidates. No
    saving on a fine grid, hours solved exactly, does better than the solution by more than
    the grid's interpolation error."""
    hh = Household.from_params(CLEARING)
    fis = Fiscal(tau_c=CLEARING.tau_c, brackets=(0.0, KINK), rates=(0.4, 0.1))
    ag, ab = AssetGrid(100, 100.0), ability_grid(CLEARING, 3)
    sol = solve_known(hh, fis, calibration_prices(), ag, ab, tol=1e-9)
    assert sol.converged and np.isfinite(sol.V).all()
    weh = sol.prices.W * ab.e * hh.h_max
    EV = sol.V @ ab.P.T
    best = np.full(sol.V.shape, -np.inf)
    for ap in np.concatenate([[0.0], np.geomspace(1e-3, 100.0, 400)]):
        f, c, _ = _static_choice(hh, fis, sol.prices, ag.a[:, None], ap, weh[None, :])
        lo, w = ag.locate(np.full(sol.V.shape, ap))
        best = np.maximum(best, hh.u(c) - hh.v(f) + hh.beta * _lerp(EV, lo, w, np.arange(3)))
    gain = (best - sol.V) / np.abs(sol.V)
    assert gain.max() < 1e-4, gain.max()
    # and income jumps over the kink: nobody stays at it
    assert (np.abs(_income(sol) - KINK) > 1e-9).all()


# --- the equilibrium and the environment ----------------------------------------------------


def test_stationary_equilibrium_under_us_2022():
    """The transfer closes the budget; r lies below 1/beta - 1; the income-tax revenue is the
    US 2022 bill in dollars of each household's income, summed over the distribution."""
    p = CLEARING
    us = Fiscal.us_federal_2022(p)
    eq = stationary_equilibrium(p, us, na=60, ne=3, r_guess=0.01, tol=1e-6, hh_tol=1e-9)
    assert eq.capital_residual < 1e-6
    assert 0.0 < eq.r < 1 / p.beta - 1 - 1e-3
    assert eq.taxes - eq.G - eq.r * eq.B - eq.tr == pytest.approx(0.0, abs=1e-10)
    assert eq.tr > 0  # the income tax raises far more than the spending at the lower clip
    sol, mu = eq.solution, eq.distribution
    inc = _income(sol)
    income_tax = us_federal_tax_2022(inc * p.money_unit) / p.money_unit
    rest = us.asset_tax(sol.agrid.a[:, None]) + us.tau_c * sol.c
    assert eq.taxes == pytest.approx(float((mu * (income_tax + rest)).sum()), abs=1e-10)
    assert 0.25 < eq.hours < 0.45


def test_exact_households_under_us_2022_run_fifty_years():
    """The US policy's stationary fiscal policy is its own schedule, exactly; households
    best-responding to it (env timing, at its equilibrium prices) run the `clearing`
    economy for 50 years at N = 50 without an ending, with finite rewards."""
    p = CLEARING
    fis = stationary_fiscal(p, USFederal2022(), 20, seed=0, steps=120)
    us = Fiscal.us_federal_2022(p)
    assert fis.brackets == us.brackets and fis.rates == us.rates
    rule = exact_households(p, fis, na=60, ne=3)
    assert rule.sol.timing == "env" and rule.sol.converged
    pop = simulate(p, USFederal2022(), rule, 50, seed=0, steps=50)
    assert pop.steps == 50 and not pop.termination
    assert np.isfinite(pop.u).all() and np.isfinite(pop.leader_reward).all()
    assert pop.schedule is not None and np.array_equal(pop.schedule[-1][0], us.brackets)
    s = pop.s[10:]  # best responses save a share of cash, neither nothing nor everything
    assert 0.05 < s.mean() < 0.95 and 0.1 < pop.f.mean() < 0.6


def test_stationary_fiscal_of_a_changing_schedule_is_its_window_mean():
    p = CLEARING
    pol = Saez(period=10)
    pop = simulate(p, pol, FixedShares(0.8, 1 / 3), 10, seed=0, steps=40)
    fis = stationary_fiscal(p, Saez(period=10), 10, seed=0, steps=40, burn_in=20)
    window = pop.schedule[20:]
    rates = np.array([r for _, r in window])
    assert len({tuple(r) for r in rates}) > 1  # it changed within the window
    assert np.allclose(fis.rates, rates.mean(0), rtol=0, atol=1e-15)
    assert np.allclose(fis.brackets, np.mean([b for b, _ in window], 0), rtol=0, atol=1e-15)
