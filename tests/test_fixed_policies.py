"""The Table 3 grid of fixed policies and the evaluate command line."""

import json

import pandas as pd
import pytest

from smfg.cli import main
from smfg.config import economy_params
from smfg.paper.fixed_policies import (
    PAPER_TABLE3,
    compare_rules_with_paper,
    compare_with_paper,
    flat_tax_elasticity,
    household_rule,
    run_grid,
    summarise_grid,
)
from smfg.policies import elasticity_from_flat_tax_runs


@pytest.fixture(scope="module")
def smoke_grid():
    return run_grid("smoke", sizes=(100,), elasticities=(1.0,))


def test_grid_covers_every_cell_with_seeds_and_episodes(smoke_grid):
    cells = smoke_grid.groupby(["variant", "n_households", "households", "policy"]).size()
    assert len(cells) == 2 * 1 * 2 * 4  # variants x N x rules x policies
    assert (cells == 2 * 2).all()  # smoke: 2 seeds x 2 episodes


def test_free_market_with_survey_households_dies_in_year_one_as_in_the_paper(smoke_grid):
    s = summarise_grid(smoke_grid)
    cmp = compare_with_paper(s, "taxai", "survey").set_index("policy")
    fm = cmp.loc["free-market"]
    # the paper's Free Market row: 1.1 years, 1.37e5 dollars per capita (the paper's Table 3)
    assert fm["ours: years"] < 2
    assert 0.5 < fm["ratio"] < 2
    assert fm["paper: per-capita GDP"] == PAPER_TABLE3.gdp_100[0]


def test_fixed_rule_survives_the_smoke_horizon_in_both_economies(smoke_grid):
    s = summarise_grid(smoke_grid)
    assert (s[s.households == "fixed"].years == 60).all()
    # progressive taxes lower the wealth Gini in the clearing economy
    cl = s[(s.variant == "clearing") & (s.households == "fixed")].set_index("policy")
    assert cl.loc["saez (e=1)", "wealth_gini"] < cl.loc["free-market", "wealth_gini"]


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="household rule 'lazy'.*allowed"):
        household_rule("lazy", "taxai")


def test_evaluate_cli_prints_a_summary_with_intervals(capsys):
    rc = main(
        [
            *"evaluate --policy us-federal-2022 --households-policy fixed".split(),
            *"--saving 0.8 --work 0.33 --variant clearing --households 30".split(),
            *"--episodes 2 --seeds 3 --steps 20 --json".split(),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    g = out["metrics"]["per_capita_gdp"]
    assert g["ci_low"] <= g["mean"] <= g["ci_high"]
    assert out["settings"]["seeds"] == [0, 1, 2] and out["metrics"]["years"]["mean"] == 20


def test_the_pages_elasticity_row_is_the_flat_tax_regression():
    """The Table 3 and `clearing` pages show the regression's estimate as one row."""
    row = flat_tax_elasticity("clearing", 20)
    assert list(row.columns) == ["variant", "elasticity", "taus", "steps"] and len(row) == 1
    est = elasticity_from_flat_tax_runs(economy_params("clearing"), 20, details=True)
    assert row.elasticity.iloc[0] == est["elasticity"] and row.variant.iloc[0] == "clearing"


def test_the_rules_table_stacks_each_rules_comparison_under_its_name():
    def cell(variant, households, policy, gdp, years):
        return dict(
            variant=variant,
            households=households,
            n_households=100,
            policy=policy,
            policy_name=policy,
            per_capita_gdp=gdp,
            years=years,
        )

    summary = pd.DataFrame(
        [
            cell("taxai", "survey", "us-federal-2022", 4.88e9, 1.0),
            cell("taxai", "fixed", "free-market", 1.5 * 1.37e5, 300.0),
            cell("taxai", "fixed", "saez", 2.34e12, 300.0),
            cell("clearing", "fixed", "saez", 1.0, 300.0),  # another economy: left out
        ]
    )
    rules = compare_rules_with_paper(summary, "taxai")
    assert list(rules.households) == ["fixed", "fixed", "survey"]
    assert list(rules.index) == [0, 1, 0]  # each rule's own rows, as the page shows them
    assert list(rules.policy) == ["free-market", "saez", "us-federal-2022"]
    assert rules.ratio.tolist() == pytest.approx([1.5, 1.0, 0.01])
    assert list(rules.note) == ["same order", "same order", "ours dies in year 1"]
    only_survey = compare_rules_with_paper(summary, "taxai", households=("survey",))
    pd.testing.assert_frame_equal(only_survey, rules.iloc[[2]])
