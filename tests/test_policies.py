"""Fixed policies (book:model-policies): US federal 2022, piecewise schedules, Saez, household
rules."""

import math

import numpy as np
import pytest
import torch

from smfg.config import economy_params
from smfg.economy.data import load_household_table
from smfg.economy.government import GovAction, tax_e6, tax_piecewise
from smfg.env import SMFGEnv
from smfg.policies import (
    US_2022_RATES,
    FixedShares,
    FreeMarket,
    GovernmentPolicy,
    HouseholdPolicy,
    Saez,
    SurveyReplay,
    UniformRandom,
    USFederal2022,
    check_actions,
    elasticity_from_flat_tax_runs,
    estimate_elasticity,
    local_pareto_parameter,
    raw_from_gov_action,
    saez_schedule,
    saez_schedule_paper,
    saez_top_rate,
    survey_actions,
    us_federal_brackets_2022,
    us_federal_tax_2022,
)

F64 = torch.float64
VARIANTS = ("taxai", "clearing")


def survival_rule(variant):
    return FixedShares(0.99, 0.9) if variant == "taxai" else FixedShares(0.8, 1 / 3)


def pareto(a, n, seed=0, z_min=1.0):
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=gen, dtype=F64)
    return z_min * (1.0 - u) ** (-1.0 / a)


# --- US federal 2022 (book:model-us-federal) ---------------------------------------------


def test_us_federal_hand_computed_bills_in_every_input_kind():
    assert us_federal_tax_2022(50_000) == pytest.approx(4_240.50, abs=1e-9)
    assert us_federal_tax_2022(100_000.0) == pytest.approx(14_768.0, abs=1e-9)
    assert isinstance(us_federal_tax_2022(50_000), float)
    arr = us_federal_tax_2022(np.array([50_000.0, 100_000.0]))
    assert isinstance(arr, np.ndarray)
    np.testing.assert_allclose(arr, [4_240.5, 14_768.0], atol=1e-9)
    ten = us_federal_tax_2022(torch.tensor([[50_000.0, 100_000.0]], dtype=F64))
    assert isinstance(ten, torch.Tensor) and ten.shape == (1, 2)
    torch.testing.assert_close(ten, torch.tensor([[4_240.5, 14_768.0]], dtype=F64))


def test_us_federal_is_zero_below_the_deduction():
    x = np.linspace(-1_000.0, 12_950.0, 101)
    assert np.all(us_federal_tax_2022(x) == 0.0)
    assert us_federal_tax_2022(12_951.0) == pytest.approx(0.10)


def test_us_federal_is_continuous_with_the_right_marginal_rate_in_every_bracket():
    lo, rates = us_federal_brackets_2022()
    assert rates == US_2022_RATES
    eps = 1e-4
    for k, edge in enumerate(lo):
        jump = us_federal_tax_2022(edge + eps) - us_federal_tax_2022(edge - eps)
        assert abs(jump) <= 2 * eps * max(rates) + 1e-9, f"jump at {edge}"
        inside = edge + 0.5 * ((lo[k + 1] - edge) if k + 1 < len(lo) else 1e6)
        d = 1.0
        slope = (us_federal_tax_2022(inside + d) - us_federal_tax_2022(inside - d)) / (2 * d)
        assert slope == pytest.approx(rates[k], abs=1e-9), f"bracket {k}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_us_federal_policy_schedule_reproduces_the_bill_in_model_money(variant):
    p = economy_params(variant)
    env = SMFGEnv(p, 10, n_envs=2)
    obs = env.reset()
    pol = USFederal2022()
    pol.reset(env)
    act = pol(obs, env.state.income)
    assert act.brackets.shape == (2, 7) and act.rates.shape == (2, 7)
    dollars = torch.linspace(0.0, 2e6, 4001, dtype=F64).expand(2, -1)
    model_money = dollars / p.money_unit
    bill = act.income_tax(model_money) * p.money_unit
    torch.testing.assert_close(bill, us_federal_tax_2022(dollars), rtol=1e-12, atol=1e-7)
    assert torch.all(act.asset_tax(model_money) == 0)  # no asset tax
    torch.testing.assert_close(act.g, torch.full((2,), p.g_max * p.action_low, dtype=F64))


# --- piecewise schedules against E6 ------------------------------------------------------


def test_piecewise_schedule_equals_flat_e6_exactly():
    x = torch.rand(3, 50, generator=torch.Generator().manual_seed(1), dtype=F64) * 1e6
    tau = torch.tensor([0.0, 0.1, 0.37], dtype=F64)
    flat = tax_e6(x, tau, torch.zeros(3, dtype=F64))
    sched = GovAction(tau, tau * 0, tau * 0, tau * 0, tau * 0).with_schedule(
        torch.zeros(3, 1, dtype=F64), tau.unsqueeze(-1)
    )
    torch.testing.assert_close(sched.income_tax(x), flat, rtol=1e-14, atol=1e-9)


def test_fine_piecewise_interpolation_of_progressive_e6():
    tau, xi = torch.tensor([0.18], dtype=F64), torch.tensor([0.04], dtype=F64)
    knots = torch.cat([torch.zeros(1, dtype=F64), torch.logspace(0, 8, 3000, dtype=F64)])
    T = tax_e6(knots.unsqueeze(0), tau, xi)[0]
    rates = (T[1:] - T[:-1]) / (knots[1:] - knots[:-1])
    rates = torch.cat([rates, rates[-1:]])  # the open top bracket continues the last secant
    assert torch.all((rates >= 0) & (rates <= 1))
    x = torch.logspace(0.5, 7.9, 500, dtype=F64).unsqueeze(0)
    approx = tax_piecewise(x, knots.unsqueeze(0), rates.unsqueeze(0))
    torch.testing.assert_close(approx, tax_e6(x, tau, xi), rtol=1e-4, atol=1e-6)


# --- Saez (book:model-saez) ---------------------------------------------------------------


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_saez_top_rate_on_pareto_incomes_matches_the_closed_form(a):
    z = pareto(a, 1_000_000, seed=int(10 * a))
    g, e = 0.25, 0.5
    lo, rates = saez_schedule(z, e, welfare_weight=g)
    want = saez_top_rate(g, a, e)
    assert float(rates[0, -1]) == pytest.approx(want, rel=0.02)
    # the local Pareto parameter is a everywhere in the tail, so every bracket above the
    # first (which starts at 0, below the support) has the same rate
    torch.testing.assert_close(
        rates[0, 1:-1], torch.full_like(rates[0, 1:-1], want), rtol=0.02, atol=0
    )
    pts = torch.tensor([1.5, 2.5, 4.0], dtype=F64)
    alpha = local_pareto_parameter(z, pts)
    torch.testing.assert_close(alpha, torch.full_like(alpha, a), rtol=0.03, atol=0)


def test_saez_paper_top_rate_on_pareto_incomes_matches_the_closed_form():
    a, g, e = 3.0, 0.25, 1.0
    z = pareto(a, 1_000_000, seed=3, z_min=1e6)  # 1/64 of the incomes above the $4M cutoff
    cut = torch.tensor([0.0, 1e6, 2e6, 3e6, 4e6], dtype=F64)
    rates = saez_schedule_paper(z, e, cut, welfare_weight=g)
    assert float(rates[0, -1]) == pytest.approx(saez_top_rate(g, a, e), rel=0.02)
    assert torch.all((rates >= 0) & (rates <= 1))


def test_elasticity_regression_recovers_a_planted_elasticity():
    gen = torch.Generator().manual_seed(7)
    tau = torch.rand(200, generator=gen, dtype=F64) * 0.6
    x = torch.log1p(-tau)
    e_true = 0.7
    log_z = 11.0 + e_true * x + 0.01 * torch.randn(200, generator=gen, dtype=F64)
    assert estimate_elasticity(log_z, x) == pytest.approx(e_true, rel=0.05)
    assert estimate_elasticity(log_z.numpy(), x.numpy()) == pytest.approx(e_true, rel=0.05)
    with pytest.raises(ValueError, match="does not vary"):
        estimate_elasticity([1.0, 2.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="NaN"):
        estimate_elasticity([1.0, float("nan")], [0.1, 0.2])


@pytest.mark.parametrize("variant", VARIANTS)
def test_elasticity_from_flat_tax_runs_runs_with_any_household_policy(variant):
    p = economy_params(variant)
    out = elasticity_from_flat_tax_runs(p, 20, n_steps=5, details=True)
    assert math.isfinite(out["elasticity"]) and len(out["mean_log_z"]) == 4
    e = elasticity_from_flat_tax_runs(p, 20, household_policy=UniformRandom(1), n_steps=3)
    assert math.isfinite(e)


def test_saez_on_survey_incomes_is_a_valid_schedule_decreasing_in_elasticity():
    t = load_household_table()
    gen = torch.Generator().manual_seed(0)
    idx = torch.multinomial(torch.tensor(t.wgt), 20_000, replacement=True, generator=gen)
    z = torch.tensor(t.income)[idx]
    tops = []
    for e in (0.25, 0.5, 1.0, 2.0):
        lo, rates = saez_schedule(z, e, floor=1.0)
        assert torch.all(lo[:, 1:] >= lo[:, :-1]) and lo[0, 0] == 0
        assert torch.all((rates >= 0) & (rates <= 1))
        tops.append(float(rates[0, -1]))
    assert tops == sorted(tops, reverse=True)


def test_saez_schedule_batched_equals_single_economies():
    z = torch.stack([pareto(2.0, 3000, seed=s) * (1 + s) for s in range(3)])
    e = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    lo, rates = saez_schedule(z, e)
    cut = torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0], dtype=F64)
    paper = saez_schedule_paper(z, e, cut)
    for j in range(3):
        lo_j, rates_j = saez_schedule(z[j], float(e[j]))
        torch.testing.assert_close(lo[j], lo_j[0])
        torch.testing.assert_close(rates[j], rates_j[0])
        torch.testing.assert_close(paper[j], saez_schedule_paper(z[j], float(e[j]), cut)[0])


def _run(env, gov, hh, n):
    obs = env.reset()
    gov.reset(env)
    hh.reset(env)
    acts = []
    for _ in range(n):
        act = gov(obs, env.state.income)
        acts.append(act)
        obs = env.step(act, hh(obs, raw_from_gov_action(act, env.params))).obs
    return acts


def test_saez_recomputes_every_period_and_paper_form_starts_random_then_estimates():
    p = economy_params("clearing")
    env = SMFGEnv(p, 20, n_envs=2, seed=1)
    proper = Saez("proper", elasticity=0.5, period=3)
    acts = _run(env, proper, survival_rule("clearing"), 7)
    same = [torch.equal(acts[k].rates, acts[k - 1].rates) for k in range(1, 7)]
    assert same == [True, True, False, True, True, False]  # new rates at calls 0, 3, 6

    paper = Saez("paper", period=3, buffer_size=40, seed=5)
    acts = _run(env, paper, survival_rule("clearing"), 7)
    first = acts[0].rates
    assert first.shape == (2, 5) and not torch.equal(first[0], first[1])  # random, per economy
    twin = Saez("paper", period=3, buffer_size=40, seed=5)
    torch.testing.assert_close(_run(env, twin, survival_rule("clearing"), 1)[0].rates, first)
    torch.testing.assert_close(acts[0].brackets[0, 1] * p.money_unit, torch.tensor(1e6, dtype=F64))
    assert paper._buf.shape == (2, 40)  # 6 appended steps of 20 incomes, the last 40 kept
    assert torch.all(paper.elasticity_estimate >= 0)
    # the paper's planner keeps its buffer and clock across episodes
    calls, buf = paper._calls, paper._buf.clone()
    env.reset()
    paper.reset(env)
    assert paper._calls == calls and torch.equal(paper._buf, buf)


def test_saez_paper_elasticity_update_matches_a_numpy_regression_on_its_buffer():
    env = SMFGEnv(economy_params("taxai"), 12, n_envs=2, seed=3, shared_households=False)
    paper = Saez("paper", period=3, buffer_size=40, seed=1)
    _run(env, paper, survival_rule("taxai"), 6)  # calls 0 and 3 random (buffer not full)
    z, tau = paper._buf.numpy().copy(), paper._buf_tau.numpy().copy()
    assert torch.equal(paper.elasticity_estimate, torch.full((2,), 0.5, dtype=F64))
    obs = env.observe()
    paper(obs, env.state.income)  # call 6 appends, then updates from the full buffer
    z = np.concatenate([z, env.state.income.numpy()], -1)[:, -40:]
    tau = np.concatenate([tau, paper._buf_tau.numpy()[:, -12:]], -1)[:, -40:]
    for j in range(2):
        ok = (z[j] > 0) & (tau[j] < 1)
        slope = np.polyfit(np.log(1 - tau[j][ok]), np.log(z[j][ok]), 1)[0]
        want = 0.98 * 0.5 + 0.02 * max(slope, 0.0)
        assert float(paper.elasticity_estimate[j]) == pytest.approx(want, rel=1e-9)
    assert not torch.equal(paper.elasticity_estimate, torch.full((2,), 0.5, dtype=F64))


# --- batching, the environment and errors -------------------------------------------------

GOVS = {
    "free-market": FreeMarket,
    "us-federal": USFederal2022,
    "saez": lambda: Saez("proper", period=2),
    "saez-paper": lambda: Saez("paper", period=2, buffer_size=30),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("gov_name", list(GOVS))
def test_policies_are_batched_and_drive_the_environment(variant, gov_name):
    p = economy_params(variant)
    E, H = 3, 12
    for hh in (survival_rule(variant), UniformRandom(3), SurveyReplay()):
        env = SMFGEnv(p, H, n_envs=E, seed=2, shared_households=False)
        gov = GOVS[gov_name]()
        obs = env.reset()
        gov.reset(env)
        hh.reset(env)
        for _ in range(4):
            act = gov(obs, env.state.income)
            for field in ("tau", "xi", "tau_a", "xi_a", "g"):
                assert getattr(act, field).shape == (E,)
            if act.brackets is not None:
                assert act.brackets.shape[0] == E and act.rates.shape[0] == E
            raw = hh(obs, raw_from_gov_action(act, p))
            assert raw.shape == (E, H, 2) and raw.dtype == env.dtype
            obs = env.step(act, raw).obs


def test_free_market_and_rule_based_households():
    p = economy_params("taxai")
    env = SMFGEnv(p, 10, n_envs=2)
    obs = env.reset()
    fm = FreeMarket()
    fm.reset(env)
    act = fm(obs, env.state.income)
    torch.testing.assert_close(act.tau, torch.full((2,), 0.0002, dtype=F64))
    torch.testing.assert_close(act.g, torch.full((2,), 0.0003, dtype=F64))
    assert act.brackets is None
    torch.testing.assert_close(raw_from_gov_action(act, p), torch.full((2, 5), 0.001, dtype=F64))
    draws = []
    for _ in range(2):
        pol = UniformRandom(seed=9)
        pol.reset(env)
        draws.append(torch.stack([pol(obs), pol(obs)]))
    torch.testing.assert_close(draws[0], draws[1])  # same seed, same draws
    assert not torch.equal(draws[0][0], draws[0][1])  # new draws every step
    assert float(draws[0].min()) >= 0 and float(draws[0].max()) < 1


def test_survey_replay_gives_each_household_its_rows_shares():
    p = economy_params("clearing")
    env = SMFGEnv(p, 30, n_envs=2, seed=0, shared_households=False)
    obs = env.reset()
    pol = SurveyReplay(food_share=0.2)
    pol.reset(env)
    s, f = survey_actions(load_household_table(), "clearing", p, food_share=0.2)
    rows = env.households.rows
    out = pol(obs)
    torch.testing.assert_close(out[..., 0], torch.tensor(s[rows], dtype=F64))
    torch.testing.assert_close(out[..., 1], torch.tensor(f[rows], dtype=F64))


class _Nan(HouseholdPolicy):
    name = "broken-households"

    def act(self, obs, gov_raw):
        x = torch.full((self.n_envs, self.n_households, 2), 0.5, dtype=self.dtype)
        x[1, 3, 0] = float("nan")
        return x


class _TooHigh(GovernmentPolicy):
    name = "broken-leader"

    def act(self, obs, income):
        one = torch.ones(self.n_envs, dtype=self.dtype)
        return GovAction(one * 0.1, one * 0.01, one * 0, one * 0, one * 1.5)


def test_bad_actions_raise_clear_errors():
    env = SMFGEnv(economy_params("taxai"), 10, n_envs=2)
    obs = env.reset()
    hh, gov = _Nan(), _TooHigh()
    hh.reset(env)
    gov.reset(env)
    with pytest.raises(ValueError, match=r"broken-households.*NaN.*\(1, 3, 0\).*\[0.0, 1.0\]"):
        hh(obs)
    with pytest.raises(ValueError, match=r"broken-leader.*GovAction.g\[0\] = 1.5.*\[0, 1.0\]"):
        gov(obs, env.state.income)
    x = torch.full((2, 10, 2), 0.5, dtype=F64)
    x[0, 2, 1] = -0.3
    with pytest.raises(ValueError, match=r"'p'.*-0.3.*\(0, 2, 1\).*allowed \[0.0, 1.0\]"):
        check_actions(x, (2, 10, 2), "p")
    with pytest.raises(ValueError, match=r"shape \(2, 10, 2\).*allowed \(2, 10, 3\)"):
        check_actions(x, (2, 10, 3), "p")
    assert check_actions(x.clamp(0, 1), (-1, 10, 2), "p") is not None
    with pytest.raises(ValueError, match="FixedShares.saving"):
        FixedShares(float("nan"), 0.5)
    with pytest.raises(ValueError, match="Saez.form"):
        Saez("exact")
    with pytest.raises(RuntimeError, match="reset"):
        FixedShares(0.5, 0.5)(obs)


# --- the survey's implied actions (book:learning-bc) ---------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_survey_actions_shapes_ranges_and_clipping(variant):
    t = load_household_table()
    p = economy_params(variant)
    s, f = survey_actions(t, variant, p)
    lo, hi = p.action_low, p.action_high
    assert s.shape == f.shape == (t.n_rows,)
    for x in (s, f):
        assert np.all(np.isfinite(x)) and np.all((x >= lo) & (x <= hi))
    at_lo, at_hi = float(np.mean(s == lo)), float(np.mean(s == hi))
    print(f"{variant}: saving share clipped at {lo}: {at_lo:.1%}, at {hi}: {at_hi:.1%}")
    assert at_lo + at_hi < 0.7  # most rows keep an interior share
    assert float(np.mean(f == lo)) < 0.5
    not_working = t.lf == 0
    assert np.all(f[not_working] == lo)
    assert np.all(f[~not_working] > lo)
    assert f.max() == pytest.approx(2080.0 / p.h_max)  # full time is the most anyone works
    # a larger food share means less consumption for the same food bill: more saving
    s2, _ = survey_actions(t, variant, p, food_share=0.2)
    assert np.all(s2 >= s) and np.mean(s2 > s) > 0.3
    with pytest.raises(ValueError, match="variant"):
        survey_actions(t, "other" if variant == "taxai" else "taxai", p)
