"""The certification page's functions (smfg.paper.certification): each group of the page's
cells calls one, which runs the solver checks at the profile's sizes and returns the facts
the page glues. The checks themselves are tested in test_certify_chapter.py; here, what each
function asks them and what it glues."""

import pytest

from smfg.certify import e6_grid
from smfg.config import economy_params
from smfg.paper import certification as cn
from smfg.paper import certify_run as cr
from smfg.runs.certify import MIN_WINDOW
from smfg.runs.curves import CURVE_SETTINGS


@pytest.fixture
def calls(monkeypatch):
    """Every solver check replaced by a fake that records its arguments."""
    seen = {}

    def fake(name, result):
        def run(*args, **kw):
            seen.setdefault(name, []).append((args, kw))
            return dict(result)

        monkeypatch.setattr(cn.ck, name, run)

    fake("brock_mirman", {"worst_error": 1e-12, "na": 100})
    fake("ability_moments", {"sd": 0.5, "ok": True})
    fake("euler_check", {"mean_log10": -6.4747, "share_binding": 0.0123})
    fake("timing_check", {"no_risk_value": 2e-5})
    fake("best_response_check", {"r": 0.25})
    fake("schedule_checks", {"us_r": 0.01})
    return seen


def test_solver_checks_run_each_check_at_the_profiles_sizes(calls):
    chp = cr.chapter_profile("smoke")
    params = economy_params("clearing")
    out = cn.solver_checks("smoke")
    assert list(out.results) == ["bm", "ab", "eu", "tm", "br", "sc"]
    assert calls["brock_mirman"] == [(chp.brock_mirman, {})]
    assert calls["ability_moments"] == [((params, chp.grid[1]), {})]
    assert calls["euler_check"] == [((params, *chp.grid), {})]
    assert calls["timing_check"] == [((params, chp.timing_na), {})]
    assert calls["best_response_check"] == [((params, *chp.best_response), {})]
    assert calls["schedule_checks"] == [((params, *chp.schedule), {"eq_grid": chp.schedule_eq})]
    assert out.facts == {
        "bm_worst_error": "1e-12",
        "bm_na": "100",
        "ab_sd": "0.5",
        "ab_ok": "yes",
        "eu_mean_log10": "-6.47",
        "eu_share_binding": "0.0123",
        "eu_share_binding_pct": "1.23",
        "tm_no_risk_value": "2e-05",
        "tm_no_risk_value_pct": "0.002",
        "br_r": "0.25",
        "br_r_pct": "25",
        "sc_us_r": "0.01",
        "sc_us_r_pct": "1",
    }


@pytest.mark.parametrize(("ky", "more"), [(9.0, "more"), (1.0, "less")])
def test_equilibrium_checks_glue_the_rates_move_and_whether_capital_is_above_the_start(
    monkeypatch, ky, more
):
    seen = []

    def fake(params, fiscal, **kw):
        seen.append((fiscal, kw))
        r = {None: 0.02 if kw["na"] == cr.chapter_profile("smoke").grid[0] else 0.0234}
        row = dict.fromkeys(cn.EQUILIBRIUM_COLUMNS, 0.5)
        return row | {"r": r.get(fiscal, 0.01), "K_over_Y": ky, "grid": [kw["na"], kw["ne"]]}

    monkeypatch.setattr(cn.ck, "equilibrium_check", fake)
    chp = cr.chapter_profile("smoke")
    out = cn.equilibrium_checks("smoke")
    assert [kw["na"] for _, kw in seen] == [chp.grid[0], chp.coarse_na, chp.grid[0]]
    assert seen[0][1] == {
        "labour": 1 / 3,
        "ne": chp.grid[1],
        "r_bracket": (-0.05, 0.06),
        "na": chp.grid[0],
    }
    assert seen[2][0] is not None and seen[2][1]["r_guess"] == 0.01
    assert out.facts["eq0_r_moves"] == "0.34" and out.facts["eqf_more"] == more
    assert (out.facts["eq0_r_pct"], out.facts["eq0c_r_pct"], out.facts["eqf_r"]) == (
        "2",
        "2.34",
        "0.01",
    )
    table = cn.equilibrium_table(out, "smoke")
    assert list(table.index) == list(cn.EQUILIBRIUM_COLUMNS)
    assert table.columns[1] == f"the same on {chp.coarse_na} assets"


def test_leader_grid_lists_each_coordinates_values():
    settings = cr.chapter_profile("smoke").settings()
    grid = e6_grid(economy_params("clearing"), settings["grid_points"])
    values, facts = cn.leader_grid("smoke")
    assert facts["grid_points"] == str(len(grid)) == str(settings["grid_points"] ** 3)
    assert [len(v) for v in values.values()] == [settings["grid_points"]] * 3
    assert facts["grid_tau"] == ", ".join(f"{v:.4g}" for v in values["tau"])


def test_page_facts_glue_the_calibration_and_every_setting():
    params = economy_params("clearing")
    facts = cn.page_facts("smoke")
    assert facts["cal_beta"] == f"{params.beta:g}" and facts["min_window"] == str(MIN_WINDOW)
    assert facts["box_lo"] == f"{params.action_low:g}"
    assert all(facts[f"curve_{k}"] == str(v) for k, v in CURVE_SETTINGS.items())
    settings = cr.chapter_profile("smoke").settings()
    assert all(facts[f"cert_{k}"] == str(v) for k, v in settings.items())
    assert "solver_sweeps" in facts and "solver_env_tol" in facts
    assert all(isinstance(v, str) for v in facts.values())
