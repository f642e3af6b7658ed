"""The certification chapter's code: the solver checks it prints (smfg.certify.checks) and its
tables of certified runs (smfg.paper.certify_run). Small grids: each check must still
be able to fail."""

import inspect
import math

import numpy as np
import pandas as pd
import pytest
import torch

from smfg.certify import checks as ck
from smfg.certify import solve_env
from smfg.certify.exploitability import CERTIFY_A_MAX
from smfg.config import economy_params
from smfg.paper import certify_run as cr
from smfg.paper.specs import experiment_specs
from smfg.runs.certify import DEFAULTS
from smfg.runs.store import config_hash

CLEARING = economy_params("clearing")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# --- the solver checks ---------------------------------------------------------------------


def test_brock_mirman_saves_alpha_beta_y_and_a_short_horizon_shows():
    long = ck.brock_mirman(na=200, horizon=600)
    assert long["worst_error"] < 1e-8, long
    assert long["k_ss"] == pytest.approx((0.36 * 0.96) ** (1 / 0.64))
    # a horizon barely longer than the periods read: the end of life shows in the saving
    short = ck.brock_mirman(na=200, horizon=90)
    assert short["worst_error"] > 1e3 * long["worst_error"]


def test_rouwenhorst_matches_the_ability_process():
    m = ck.ability_moments(CLEARING, 5)
    assert m["chain_sd"] == pytest.approx(m["sd"], rel=1e-10)
    assert m["chain_rho"] == pytest.approx(CLEARING.rho_e, rel=1e-10)
    assert m["sd"] == pytest.approx(CLEARING.sigma_e / math.sqrt(1 - CLEARING.rho_e**2))


def test_euler_check_on_a_small_grid():
    e = ck.euler_check(CLEARING, na=100, ne=3)
    assert e["converged"] and e["mean_log10"] < -4.5 and e["max_log10"] < -1.5
    assert e["budget_residual"] < 1e-12 and e["labour_residual"] < 1e-9
    assert 0.0 <= e["share_binding"] < 0.1
    # a coarser grid has larger errors: the check measures the interpolation
    assert ck.euler_check(CLEARING, na=30, ne=3)["mean_log10"] > e["mean_log10"]


def test_timing_check_agrees_without_risk_and_orders_the_values_with_it():
    t = ck.timing_check(CLEARING, na=200)
    assert t["converged"]
    assert t["no_risk_value"] < 1e-4 and t["no_risk_shares"] < 1e-2
    assert t["below_everywhere"] and t["risk_gap_max"] < 0.0 and t["risk_gap_min"] < -1e-3


def test_best_response_check_finds_the_poor_rule_exploitable_and_the_best_not():
    b = ck.best_response_check(CLEARING, na=60, ne=3)
    assert b["years"] == 120 and b["r"] > 0.2
    assert b["cev_median_pct"] > 100.0 and 40.0 < b["loss_mean_pct"] < 90.0
    assert b["best_max_cev_pct"] < 1e-4
    assert b["best_deviation_gain"] <= 1e-9


def test_equilibrium_check_reports_the_residuals():
    eq = ck.equilibrium_check(CLEARING, None, labour=1 / 3, na=60, ne=3, r_bracket=(-0.05, 0.06))
    assert eq["capital_residual"] < 1e-6 and eq["r"] < eq["r_bound"] - 1e-3
    assert eq["r_bound"] == pytest.approx(1 / CLEARING.beta - 1)
    assert eq["budget_residual"] == 0.0 and abs(eq["firm_residual"]) < 1e-12
    assert eq["hours"] == pytest.approx(1 / 3) and eq["grid"] == [60, 3]
    fm = ck.equilibrium_check(CLEARING, ck.free_market(CLEARING), na=60, ne=3, r_guess=0.01)
    assert fm["tr"] > 0 and abs(fm["budget_residual"]) < 1e-9 and 0.2 < fm["hours"] < 0.6


def test_free_market_is_every_leader_number_at_its_lower_clip():
    fm = ck.free_market(CLEARING)
    low = CLEARING.action_low
    assert (fm.tau, fm.xi, fm.g) == pytest.approx(
        (CLEARING.tau_max * low, CLEARING.xi_max * low, CLEARING.g_max * low)
    )
    assert fm.tau_a == pytest.approx(CLEARING.tau_a_max * low) and fm.tau_c == CLEARING.tau_c


def test_schedule_checks_on_a_small_grid():
    s = ck.schedule_checks(CLEARING, na=100, ne=3)
    assert s["tax_error"] < 1e-12
    assert s["bunched"] > 0.0 and 0.1 < s["shadow_min"] <= s["shadow_max"] < 0.3
    assert s["zero_rate_known"] < 1e-12 and s["zero_rate_env"] < 1e-9
    assert abs(s["us_budget_residual"]) < 1e-9 and 0.0 < s["us_r"] < 1 / CLEARING.beta - 1
    assert s["kink_mean_log10"] < -4.0


def test_solver_settings_are_the_solvers_defaults():
    st = ck.solver_settings()
    assert st["sweeps"] == inspect.signature(solve_env).parameters["sweeps"].default
    assert st["env_tol"] == inspect.signature(solve_env).parameters["tol"].default
    assert st["certify_a_max"] == CERTIFY_A_MAX and st["shift"] > 0


# --- the chapter's profiles and runs -------------------------------------------------------


def test_every_profile_has_chapter_sizes_and_smoke_is_the_coarsest():
    assert set(cr.CHAPTER_PROFILES) == {"smoke", "quick", "paper"}
    for name, prof in cr.CHAPTER_PROFILES.items():
        assert prof.settings()["burn_in"] == DEFAULTS["burn_in"], name
    smoke, paper = cr.chapter_profile("smoke"), cr.chapter_profile("paper")
    assert paper.settings() == DEFAULTS
    assert smoke.settings()["na"] < paper.settings()["na"]
    assert smoke.grid[0] < paper.grid[0] and smoke.brock_mirman[1] < paper.brock_mirman[1]
    with pytest.raises(ValueError, match="profile"):
        cr.chapter_profile("huge")


def test_chapter_runs_are_the_clearing_comparisons_smfrl_runs():
    reqs = cr.chapter_requests("smoke")
    assert {r.algo for r in reqs} == {"smfrl"} and {r.variant for r in reqs} == {"clearing"}
    assert all(r.bc and dict(r.overrides)["leader_reward"] == "output" for r in reqs)
    assert sorted({r.n_households for r in reqs}) == [100, 1000]
    swept = {config_hash(s) for s in experiment_specs("clearing_policies", "smoke")}
    assert {config_hash(r.spec()) for r in reqs} <= swept  # `make runs` trains every one
    assert len(cr.chapter_requests("smoke", seeds=1, sizes=[100])) == 1
    welfare = cr.chapter_requests("smoke", objective="welfare_ce")
    assert {dict(r.overrides)["leader_reward"] for r in welfare} == {"welfare_ce"}
    with pytest.raises(ValueError, match="objective = 'gdp'"):
        cr.chapter_requests("smoke", objective="gdp")


def _result(n, seed, r, cev, skipped=False, gap=10.0):
    """A certification result as certify_run returns it, with made-up numbers."""
    fol = (
        {"skipped": "the episode ended in year 3"}
        if skipped
        else {
            "cev_median_pct": cev,
            "cev_mean_pct": math.inf if cev > 100 else cev,
            "share_infinite": 0.1 if cev > 100 else 0.0,
            "loss_mean_pct": cev / 2,
            "capital_drift": 0.01,
            "saving_gap_mean": -0.1,
        }
    )
    return {
        "run_dir": f"/store/smfrl-{n}-{seed}",
        "n_households": n,
        "seed": seed,
        "episode": {
            "years": 3 if skipped else 300,
            "leader_return": 100.0,
            "r": r,
            "K_over_Y": 2.0,
        },
        "followers": fol,
        "leader": {
            "best": {"policy": "tau=0.0002", "leader_return": 100.0 + gap},
            "gap": gap,
            "rows": [
                {"policy": "tau=0.0002", "on_grid": True, "leader_return": 110.0},
                {"policy": "window mean", "on_grid": False, "leader_return": 2500.0},
            ],
        },
    }


def test_run_table_formats_and_states_the_facts():
    results = [
        _result(1000, 0, 0.2, 5.0),
        _result(100, 1, 0.005, 300.0, gap=-5.0),
        _result(100, 0, 0.3, 0.5, skipped=True),
    ]
    table = cr.run_table(results)
    assert list(table.n_households) == [100, 100, 1000] and list(table.seed) == [0, 1, 0]
    assert table.r_pct.tolist() == pytest.approx([30.0, 0.5, 20.0])
    assert table.note[0] == "the episode ended in year 3" and math.isnan(table.cev_median_pct[0])
    shown = cr.format_table(table)
    assert "CEV mean (%)" in shown and "inf" in set(shown["CEV mean (%)"])
    assert set(shown["own taxes, BR households"]) == {"2,500"}
    baselines = pd.concat(
        [
            cr.run_table([_result(100, 0, -0.05, 400.0, gap=-200.0)]).assign(
                households=cr.BASELINES["bc"]
            ),
            cr.run_table([_result(100, 0, 0.03, 9.0)]).assign(households=cr.BASELINES["fixed"]),
        ]
    )
    f = cr.run_facts(table, baselines, free_market_r=0.01)
    assert (f["cr_runs"], f["cr_certified"], f["cr_skipped"]) == ("3", "2", "1")
    assert (f["cr_r_lo"], f["cr_r_hi"], f["cr_r_above"]) == ("0.5", "20", "1")
    assert (f["cr_cev_lo"], f["cr_cev_hi"], f["cr_inf"], f["cr_close"]) == ("5", "300", "1", "0")
    assert (f["cr_gap_lo"], f["cr_gap_hi"], f["cr_gap_pos"]) == ("-5", "10", "2")
    assert f["cr_own_below"] == "0" and f["cr_sizes"] == "100, 1000"
    assert (f["bl_bc_r_lo"], f["bl_bc_gap_lo"], f["bl_rule_cev_hi"]) == ("-5", "-200", "9")
    assert f["bl_rule_saving_pct"] == "80" and f["bl_n"] == "100"


def test_check_facts_glue_numbers_percentages_and_truth_values():
    f = cr.check_facts("t", {"r": 0.0123456, "na": 500, "ok": True, "grid": [1, 2], "x": 2e-10})
    assert f == {"t_r": "0.0123", "t_r_pct": "1.23", "t_na": "500", "t_ok": "yes", "t_x": "2e-10"}


def test_baselines_certify_each_kind_and_seed_once(tmp_path, monkeypatch):
    calls = []

    def fake(params, gov, hh, n, seed, reward, progress, rule=None, leader_mean=True, **st):
        calls.append((type(hh).__name__, n, seed, reward, rule is not None, leader_mean))
        return _result(n, seed, 0.01 * (seed + 1), 5.0)

    monkeypatch.setattr(cr, "certify_policies", fake)
    monkeypatch.setattr(cr, "ClonedHouseholds", lambda variant, epochs, seed: "clone")
    bl = cr.certify_baselines("smoke", tmp_path, n_households=20, seeds=2)
    assert sorted(calls) == [
        ("FixedShares", 20, 0, "output", True, False),
        ("FixedShares", 20, 1, "output", True, False),
        ("str", 20, 0, "output", False, False),
        ("str", 20, 1, "output", False, False),
    ]
    assert list(bl.households) == [cr.BASELINES["bc"]] * 2 + [cr.BASELINES["fixed"]] * 2
    assert np.allclose(bl.r_pct, [1.0, 2.0, 1.0, 2.0])
    again = cr.certify_baselines("smoke", tmp_path, n_households=20, seeds=2)  # from the cache
    assert len(calls) == 4 and again.equals(bl)
