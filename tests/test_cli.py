"""The command line prints what the library computes."""

import json

from smfg.cli import main


def test_simulate_json_gives_the_documented_keys(capsys):
    rc = main(
        [
            *"simulate --variant taxai --households 100 --saving 0.99".split(),
            *"--work 0.9 --steps 300 --seed 0 --json".split(),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "per_capita_gdp",
        "social_welfare",
        "income_gini",
        "wealth_gini",
        "years",
        "termination",
        "max_residuals",
    }
    assert out["years"] == 300 and 1e12 <= out["per_capita_gdp"] <= 1e14
    assert set(out["max_residuals"]) == {
        "household_budget",
        "government_budget",
        "goods_market",
        "capital_market",
    }
    assert out["max_residuals"]["household_budget"] < 1e-10


def test_simulate_rejects_bad_values_with_a_clear_message(capsys):
    assert main(["simulate", "--saving", "1.7"]) == 2
    assert "--saving: 1.7 is out of range: allowed [0, 1]" in capsys.readouterr().err
    assert main(["simulate", "--variant", "mars"]) == 2
    assert "invalid choice: 'mars'" in capsys.readouterr().err


def test_bench_json_reports_household_steps(capsys):
    assert main(["bench", "--households", "100", "--steps", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 5 and out["household_steps_per_s"] > 0
