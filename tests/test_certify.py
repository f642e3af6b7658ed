"""Certification (book:certification): the exact household problem, exploitability, the stationary
equilibrium of `clearing`. Closed forms where they exist, cross-checks of independent solvers
where they do not."""

import math

import numpy as np
import pytest
import torch

from smfg.certify import (
    AbilityGrid,
    AssetGrid,
    Fiscal,
    GridRule,
    Household,
    Prices,
    ability_grid,
    by_ability,
    certify_followers,
    consumption_equivalent,
    consumption_loss,
    e6_marginal,
    e6_tax,
    euler_errors,
    exploitability,
    fixed_rule,
    rouwenhorst,
    simulate,
    solve_env,
    solve_known,
    solve_known_path,
    stationary_equilibrium,
    value_env,
)
from smfg.config import economy_params
from smfg.economy.government import tax_e6
from smfg.policies import FixedShares, FreeMarket

CLEARING = economy_params("clearing")
FREE_MARKET = Fiscal(0.0002, 0.00005, 0.0002, 0.00005, 0.0003, CLEARING.tau_c)


def calibration_prices(p=CLEARING, r=0.035) -> Prices:
    """A wage near the calibration's (Y/N = 1, mean hours h_max/3) and a given interest."""
    return Prices(r, (1 - p.alpha) / (p.mean_ability * p.h_max / 3), 0.0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# --- the ability process -------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 7])
def test_rouwenhorst_matches_the_ar1_moments_exactly(n):
    rho, sigma = 0.982, 0.2
    z, P = rouwenhorst(n, rho, sigma)
    ab = AbilityGrid(np.exp(z), P, np.ones(n) / n)
    from smfg.certify.grids import stationary_distribution

    pi = stationary_distribution(P)
    assert np.allclose(P.sum(1), 1.0) and (P >= 0).all()
    var = pi @ z**2 - (pi @ z) ** 2
    assert abs(pi @ z) < 1e-12
    assert var == pytest.approx(sigma**2 / (1 - rho**2), rel=1e-10)
    autocov = pi @ (z * (P @ z))
    assert autocov / var == pytest.approx(rho, rel=1e-10)
    assert ab.n == n


def test_superstar_state_follows_e11():
    p = CLEARING
    ab = ability_grid(p, 7, superstar=True)
    n = ab.n_normal
    assert ab.n == 8 and ab.superstar and np.allclose(ab.P.sum(1), 1.0)
    assert np.allclose(ab.P[:n, n], p.p_super)
    assert ab.P[n, n] == pytest.approx(p.stay_super)
    normal = ability_grid(p, 7)
    assert ab.e[n] == pytest.approx(p.mult_super * normal.pi @ normal.e)
    # leavers land on the normal states in proportion to their cells on [0, e_max]
    assert ab.P[n, :n].sum() == pytest.approx(1 - p.stay_super)
    assert ab.P[n, n - 1] > ab.P[n, 0]
    # a superstar's ability is recognised without its flag
    lo, w = ab.locate(np.array([ab.e[n], normal.e[-1]]))
    assert lo.tolist() == [n, n - 2] and w[1] == pytest.approx(1.0)


def test_e6_equals_the_economys_tax_and_its_derivative():
    x = np.array([-1.0, 0.0, 1e-6, 0.3, 1.0, 7.5, 1e4])
    for tau, xi in [(0.0002, 0.00005), (0.198, 0.0495), (0.1, 0.0)]:
        ours = e6_tax(x, tau, xi)
        f64 = torch.float64
        theirs = tax_e6(
            torch.tensor(x)[None], torch.tensor([tau], dtype=f64), torch.tensor([xi], dtype=f64)
        )[0]
        # (Tax = x - k x^(1-xi) cancels when tau is small: agreement to rounding of x)
        assert np.allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-14 * np.abs(x).max())
        h = 1e-6 * np.maximum(x[3:], 1.0)
        fd = (e6_tax(x[3:] + h, tau, xi) - e6_tax(x[3:] - h, tau, xi)) / (2 * h)
        assert np.allclose(e6_marginal(x[3:], tau, xi), fd, rtol=1e-6, atol=1e-9)


# --- the household problem -----------------------------------------------------------------


def test_brock_mirman_saving_rule_is_alpha_beta_y():
    """Log utility, Cobb-Douglas, full depreciation, no risk, inelastic labour: along the
    equilibrium price path the household saves K' = alpha beta Y (to 1e-6), from several
    starting capitals."""
    alpha, beta, A = 0.36, 0.96, 1.0
    hh = Household(sigma=1.0, chi=0.0, beta=beta, h_max=1.0, labour=1.0)
    one = AbilityGrid(np.ones(1), np.ones((1, 1)), np.ones(1))
    k_ss = (alpha * beta * A) ** (1 / (1 - alpha))
    grid = AssetGrid(200, 3 * k_ss, 0.05)
    T = 600  # the horizon's effect on period t is of order beta^(T - t)
    for k0 in (0.2 * k_ss, 0.7 * k_ss, 1.8 * k_ss):
        K = [k0]
        for _ in range(T - 1):
            K.append(alpha * beta * A * K[-1] ** alpha)
        K = np.array(K)
        prices = [Prices(alpha * A * k ** (alpha - 1) - 1.0, (1 - alpha) * A * k**alpha) for k in K]
        path = solve_known_path(hh, [Fiscal()] * T, prices, grid, one)
        a, worst = k0, 0.0
        for t in range(80):
            lo, w = grid.locate(np.array([a]))
            a_next = float(
                path[t]["a_next"][lo[0], 0] * (1 - w[0]) + path[t]["a_next"][lo[0] + 1, 0] * w[0]
            )
            worst = max(worst, abs(a_next - alpha * beta * A * K[t] ** alpha))
            a = a_next
        assert worst < 1e-6, (k0, worst)


@pytest.fixture(scope="module")
def standard_solution():
    """The clearing calibration under the free market: 500 assets x 7 abilities."""
    hh = Household.from_params(CLEARING)
    return solve_known(
        hh,
        FREE_MARKET,
        calibration_prices(),
        AssetGrid(500, 200.0),
        ability_grid(CLEARING, 7),
        tol=1e-9,
    )


def test_euler_errors_on_the_standard_calibration(standard_solution):
    sol = standard_solution
    assert sol.converged
    err = euler_errors(sol)
    finite = err[np.isfinite(err)]
    assert finite.size > 0.5 * err.size  # the borrowing limit binds at few points
    assert finite.mean() < -5.0, finite.mean()
    # the budget and the labour condition hold exactly on the grid
    weh = sol.prices.W * sol.ability.e * sol.household.h_max
    from smfg.certify.primitives import _budget

    x, x_y, _, _ = _budget(sol.fiscal, sol.prices, sol.agrid.a[:, None], weh * sol.f, 1)
    assert np.abs((1 + FREE_MARKET.tau_c) * sol.c + sol.a_next - x).max() < 1e-12
    hh = sol.household
    interior = (sol.f > hh.f_lo) & (sol.f < hh.f_hi)
    lhs = hh.v_f(sol.f)
    rhs = hh.u_c(sol.c) / (1 + FREE_MARKET.tau_c) * weh * x_y
    assert np.abs(lhs - rhs)[interior].max() / rhs[interior].max() < 1e-9


def test_env_timing_equals_known_timing_without_risk():
    """With no ability risk the two timings are the same problem: EGM and policy iteration
    by golden section, two independent solvers, agree away from the borrowing limit (where
    the environment's action box, s >= 0.001, differs from a' >= 0) to the grid's
    interpolation error."""
    hh = Household.from_params(CLEARING)
    one = AbilityGrid(np.ones(1) * CLEARING.mean_ability, np.ones((1, 1)), np.ones(1))
    grid = AssetGrid(300, 60.0)
    prices = calibration_prices(r=0.03)
    known = solve_known(hh, FREE_MARKET, prices, grid, one, tol=1e-10)
    env = solve_env(hh, FREE_MARKET, prices, grid, one, init=None)
    assert known.converged and env.converged
    inner = (grid.a >= 1.0) & (grid.a <= 40.0)
    rel = np.abs(env.V - known.V)[inner] / np.abs(known.V[inner])
    assert rel.max() < 2e-5, rel.max()
    assert np.abs(env.s - known.s)[inner].max() < 1e-3
    assert np.abs(env.f - known.f)[inner].max() < 1e-3
    # at zero assets the box binds: the env household must save 0.1% of its cash
    assert env.s[0, 0] == pytest.approx(hh.s_lo) and known.a_next[0, 0] == 0.0


def test_env_timing_is_worth_less_than_knowing_the_ability():
    """The environment's households choose before this period's ability is drawn: the value
    of that problem is at most the expected value of choosing after seeing it."""
    hh = Household.from_params(CLEARING)
    ab = ability_grid(CLEARING, 3)
    grid = AssetGrid(200, 60.0)  # (at 100 points the grid's error at the top exceeds it)
    known = solve_known(hh, FREE_MARKET, calibration_prices(), grid, ab, tol=1e-10)
    env = solve_env(hh, FREE_MARKET, calibration_prices(), grid, ab, init=known)
    gap = (env.V - known.V @ ab.P.T) / np.abs(known.V)
    assert gap.max() < 0.0
    assert gap.min() < -1e-3  # information has value here


# --- exploitability ------------------------------------------------------------------------


def test_consumption_equivalents_invert_their_definitions():
    rng = np.random.default_rng(0)
    Vc, Vh = -rng.uniform(1, 50, 20), -rng.uniform(0, 10, 20)
    lam = rng.uniform(0, 2, 20)
    for sigma, beta in [(2.0, 0.96), (3.0, 0.9)]:
        V_best = (1 + lam) ** (1 - sigma) * Vc + Vh
        assert np.allclose(consumption_equivalent(V_best, Vc, Vh, sigma, beta), lam)
        mu = 1 - 1 / (1 + lam)  # the same scaling seen from the better side
        assert np.allclose(consumption_loss(Vc + Vh, V_best - Vh, Vh, sigma, beta), mu)
    Vc_log = rng.normal(0, 5, 20)
    V_best = Vc_log + np.log(1 + lam) / (1 - 0.96) + Vh
    assert np.allclose(consumption_equivalent(V_best, Vc_log, Vh, 1.0, 0.96), lam)
    # no finite scaling of consumption reaches a value above the labour part alone (sigma > 1)
    assert consumption_equivalent(-1.0, -5.0, -2.0, 2.0, 0.96) == math.inf


@pytest.fixture(scope="module")
def half_saving_population():
    """Free market and everybody saving half of cash on hand, a third of the hours."""
    pop = simulate(CLEARING, FreeMarket(), FixedShares(0.5, 1 / 3), 100, seed=0, steps=120)
    assert pop.steps == 120 and not pop.termination
    return pop


def test_exploitability_of_the_best_response_is_zero_and_of_half_saving_positive(
    half_saving_population,
):
    res, env = certify_followers(
        CLEARING,
        half_saving_population,
        lambda g: fixed_rule(0.5, 1 / 3),
        burn_in=60,
        na=150,
        ne=5,
        a_max=2000.0,
    )
    s = res.summary()
    # saving half of cash on hand starves capital (r about 29%): a household that saved
    # would gain more than doubling its consumption; stated in the book's chapter
    assert env.prices.r > 0.2
    assert s["cev_median_pct"] > 100.0 and s["share_above_1pct"] == 1.0
    assert 40.0 < s["loss_mean_pct"] < 90.0
    # ability state by ability state: the population's shares add up, the fixed rule saves
    # half everywhere, and the states' gaps weighted by their shares are the population's
    by = s["by_ability"]
    assert abs(sum(r["share"] for r in by) - 1.0) < 1e-12
    assert all(abs(r["s_rule"] - 0.5) < 1e-12 and r["s_best"] > 0.5 for r in by)
    gap = sum(r["share"] * (r["s_rule"] - r["s_best"]) for r in by)
    assert abs(gap - s["saving_gap_mean"]) < 1e-12
    work = sum(r["share"] * (r["f_rule"] - r["f_best"]) for r in by)
    assert abs(work - s["work_gap_mean"]) < 1e-12
    assert min(r["cev_median_pct"] for r in by) > 100.0
    # the best response itself, solved again from another start, is not exploitable
    best = res.best
    again = solve_env(
        best.household, best.fiscal, best.prices, best.agrid, best.ability, init=_crude_start(best)
    )
    res_br = exploitability(
        GridRule(again),
        best.household,
        env.fiscal,
        env.prices,
        best.agrid,
        best.ability,
        env.e,
        env.a,
        best=best,
    )
    assert np.abs(res_br.cev).max() < 1e-4
    # and every deviation from it loses
    s_dev = np.clip(best.s - 0.02, 0.001, 0.99)
    V_dev, _, _ = value_env(
        best.household, best.fiscal, best.prices, best.agrid, best.ability, s_dev, best.f
    )
    assert (V_dev <= best.V + 1e-9 * np.abs(best.V).max()).all()


def test_by_ability_groups_households_by_their_nearest_state():
    ab = ability_grid(CLEARING, 4)
    state = np.array([0, 0, 2, 2, 2, 3])
    shares = {"s_rule": np.array([0.1, 0.3, 0.5, 0.6, 0.7, 0.9])}
    cev = np.array([1.0, 3.0, 2.0, np.inf, 5.0, 7.0])
    rows = by_ability(state, ab, shares, cev)
    assert [r["state"] for r in rows] == [0, 2, 3]  # state 1 has no household: left out
    assert [r["share"] for r in rows] == [2 / 6, 3 / 6, 1 / 6]
    assert np.allclose([r["s_rule"] for r in rows], [0.2, 0.6, 0.9], atol=1e-15, rtol=0)
    assert [r["cev_median_pct"] for r in rows] == [1.0, 5.0, 7.0]  # the lower median, inf-safe
    assert [r["ability"] for r in rows] == [float(ab.e[j]) for j in (0, 2, 3)]


def _crude_start(sol):
    """A poor first guess: save 0.6 and work 0.3 everywhere."""
    from smfg.certify.primitives import Solution

    return Solution(
        "env",
        sol.household,
        sol.fiscal,
        sol.prices,
        sol.agrid,
        sol.ability,
        s=np.full_like(sol.s, 0.6),
        f=np.full_like(sol.f, 0.3),
        V=np.zeros_like(sol.V),
    )


# --- the stationary equilibrium ------------------------------------------------------------


@pytest.mark.slow
def test_stationary_equilibrium_without_government_and_inelastic_labour():
    """book:certification: r lies below 1/beta - 1 (the bracket reaches above it, so this is found,
    not imposed), the capital market clears to 1e-6, Brent's root is bracketed by evaluations of
    opposite sign within 1e-3, and r moves by less than 1e-4 when the asset grid doubles."""
    p = CLEARING
    rates = []
    for na in (150, 300):
        eq = stationary_equilibrium(p, None, labour=1 / 3, na=na, ne=7, r_bracket=(-0.05, 0.06))
        assert eq.capital_residual < 1e-6
        assert eq.r < 1 / p.beta - 1 - 1e-3
        assert eq.tr == 0 and eq.taxes == 0 and eq.hours == pytest.approx(1 / 3)
        assert eq.A == pytest.approx(eq.K, rel=1e-6)
        near = [(r, x) for r, x in eq.history if abs(r - eq.r) < 1e-3]
        assert any(x < 0 for _, x in near) and any(x > 0 for _, x in near)
        # the firm pays marginal products at the solution (E22)
        Y = p.A * eq.K**p.alpha * eq.L ** (1 - p.alpha)
        assert eq.r == pytest.approx(p.alpha * Y / eq.K - p.delta, abs=1e-12)
        rates.append(eq.r)
    assert abs(rates[0] - rates[1]) < 1e-4, rates


# --- the leader's gap and the command line --------------------------------------------------


@pytest.mark.slow
def test_leader_gap_ranks_grid_points_with_best_responding_households():
    """Two E6 points at N = 20 for 60 years: the free market's return (capital growth) beats
    the top income tax's, whose transfers crowd out saving; a policy whose lump-sum tax
    exceeds the least able household's pay is infeasible; the gap is best minus learned."""
    from smfg.certify import leader_gap

    low, high = CLEARING.action_low, CLEARING.action_high
    grid = [
        (0.2 * low, 0.05 * low, 0.3 * low),
        (0.2 * high, 0.05 * low, 0.3 * low),
        (0.2 * low, 0.05 * low, 0.3 * high),
    ]
    res = leader_gap(
        CLEARING, learned_return=-5.0, n_households=20, seed=0, steps=60, grid=grid, na=60, ne=3
    )
    free, taxed, spend = res["rows"]
    assert free["feasible"] and taxed["feasible"] and not spend["feasible"]
    assert "larger than its pay" in spend["reason"]
    assert free["equilibrium"]["r"] < taxed["equilibrium"]["r"] < 1 / CLEARING.beta - 1
    assert free["leader_return"] > taxed["leader_return"]
    assert res["best"]["policy"] == free["policy"]
    assert res["gap"] == pytest.approx(free["leader_return"] + 5.0)


def test_certify_refuses_taxai():
    from smfg.runs.certify import certify_policies

    with pytest.raises(ValueError, match="defined for 'clearing'"):
        certify_policies(economy_params("taxai"), FreeMarket(), FixedShares(0.5, 0.5), 10)


def test_cli_certify_reports_and_caches_a_run(tmp_path, capsys):
    import json

    from smfg.cli import main
    from smfg.runs.train import train

    res = train("smfrl", "smoke", root=tmp_path, variant="clearing", n_households=10, seed=0)
    args = [
        "certify",
        str(res.run_dir),
        *"--grid 80 --abilities 3 --burn-in 100 --leader-grid 0 --json".split(),
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["variant"] == "clearing" and out["config"]["n_households"] == 10
    fol = out["followers"]
    assert fol["n_states"] == 10 * (out["episode"]["years"] - 100)
    assert 0.0 <= fol["loss_median_pct"] < 100.0 and fol["cev_median_pct"] >= 0.0
    assert "leader" not in out
    cached = list(res.run_dir.glob("certify-*.json"))
    assert len(cached) == 1
    assert main(args) == 0  # read back from the run directory
    assert json.loads(capsys.readouterr().out) == out
    # the report says where the rule errs, a line per ability state of the breakdown
    assert main(args[:-1]) == 0
    report = capsys.readouterr().out
    states = fol["by_ability"]
    assert 1 <= len(states) <= 3 and report.count("  ability state ") == len(states)
    assert f"saving share {states[0]['s_rule']:.3f} (best {states[0]['s_best']:.3f})" in report
    assert main(["certify", str(tmp_path / "nope")]) == 2


def test_a_rule_must_act_on_each_households_observation():
    from smfg.certify import rule_from_policy
    from smfg.env import SMFGEnv

    env = SMFGEnv(CLEARING, 10)
    env.reset()
    pol = FixedShares(0.8, 1 / 3)
    pol.reset(env)
    with pytest.raises(ValueError, match="acts on each household's observation"):
        rule_from_policy(pol)(np.ones(25), np.ones(25))
    s, f = fixed_rule(0.8, 1 / 3)(np.ones(25), np.ones(25))
    assert s.shape == (25,) and (s == 0.8).all() and (f == 1 / 3).all()
