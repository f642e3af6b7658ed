"""The artefact pages' facts (smfg.paper.facts): each page's function on small frames of
the shape the page passes it, against values worked out by hand; the pages' edge cases (a
missing row, an empty frame); and that every glue key a page's prose uses is one its facts
functions return (and every key they return is used)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from smfg.paper import facts
from smfg.paper.pages import glue_facts

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


# --- frames of the shape each page passes --------------------------------------------------


def comparison(notes: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """aggregate.comparison_table's frame: setting, row (label), ..., seeds, note."""
    return pd.DataFrame(notes, columns=["setting", "row", "seeds", "note"]).assign(
        **{"per-capita GDP: ours": "1 [0, 2]"}
    )


def summary(cells: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """aggregate.summarise_cells' frame: one row per (row, setting) with the metrics."""
    df = pd.DataFrame(cells, columns=["row", "setting", "years", "per_capita_gdp"])
    return df.assign(years_lo=df.years, years_hi=df.years, n_seeds=2, label=df.row)


def episodes(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """collection.collect's episodes: row, setting, seed, episode, the metrics."""
    df = pd.DataFrame(rows, columns=["row", "years", "per_capita_gdp"])
    return df.assign(setting="N=100", seed=0, episode=range(len(df)), wealth_gini=0.9)


def curves(points: list[tuple[str, str, int, str, float]]) -> pd.DataFrame:
    """aggregate.curve_summary's frame: label, setting, epoch, metric, mean, lo, hi, n_seeds."""
    df = pd.DataFrame(points, columns=["label", "setting", "epoch", "metric", "mean"])
    return df.assign(lo=df["mean"], hi=df["mean"], n_seeds=2)


NOTES = [
    ("N=100", "Rule-based", 2, "ours ends in year 1 (x0.92)"),
    ("N=100", "SMFRL", 2, "same order"),
    ("N=100-BC", "Rule-based", 2, "same order"),
    ("N=100-BC", "SMFRL", 2, "the paper's ends in year 1 (x5)"),
    ("N=1000-BC", "SMFRL", 1, "ours x1e-06 the paper's"),
    ("N=100", "DDPG", 0, "algorithm 'ddpg' is not registered yet"),
]


# --- Table 1 -------------------------------------------------------------------------------


def table1_inputs():
    s = summary(
        [
            ("rule-based", "N=100", 1.0, 144_000.0),
            ("rule-based", "N=100-BC", 217.4, 3.66e11),
            ("smfrl", "N=100", 1.0, 142_123.0),
            ("ddpg", "N=100", 300.0, 1e13),
        ]
    )
    c = pd.DataFrame(
        {
            "row": "smfrl",
            "label": "SMFRL",
            "setting": "N=100",
            "seed": 0,
            "epoch": [1, 2, 3],
            "per_capita_gdp": 1.0,
        }
    )
    return comparison(NOTES), s, [SimpleNamespace(label="DDPG")], c


def test_table1_facts_by_hand():
    f = facts.table1_facts(*table1_inputs())
    assert f == {
        "t1_cells": 5,  # the DDPG cell has no seed
        "t1_same": 2,
        "t1_year1": 1,  # "the paper's ends in year 1" is the other way round
        "t1_missing": "DDPG",
        "t1_rule_years": "1, 217",
        "t1_rule_gdp": "1.44e+05, 3.66e+11",
        "t1_smfrl_years": "1",
        "t1_smfrl_gdp": "1.42e+05",
        "t1_smfrl_epochs": 3,
    }


def test_table1_facts_without_cells_or_runs():
    no_curves = pd.DataFrame(columns=["row", "label", "setting", "seed", "epoch"])
    f = facts.table1_facts(pd.DataFrame(), pd.DataFrame(), [], no_curves)
    assert (f["t1_cells"], f["t1_same"], f["t1_year1"], f["t1_smfrl_epochs"]) == (0, 0, 0, 0)
    assert f["t1_missing"] == "none"
    assert f["t1_rule_years"] == f["t1_smfrl_gdp"] == "n/a"
    # no SMFRL row: n/a, the rule's still stated
    table, s, missing, c = table1_inputs()
    f = facts.table1_facts(table, s[s.row != "smfrl"], missing, c)
    assert (f["t1_smfrl_years"], f["t1_rule_years"]) == ("n/a", "1, 217")


# --- Table 3 -------------------------------------------------------------------------------


def table3_inputs():
    s = summary(
        [
            ("free-market", "N=100", 1.25, 1.4e5),
            ("saez", "N=100", 10.84, 2e6),
            ("us-federal-2022", "N=1000", 3.0, 1.3e5),
            ("ppo", "N=100", 50.0, 1e9),
            ("smfrl", "N=100", 1.0, 121_000.0),
            ("smfrl", "N=1000", 1.0, 124_499.0),
        ]
    )
    e = episodes(
        [
            ("free-market", 1, 1e5),
            ("free-market", 1, 2e5),
            ("free-market", 2, 9e9),
            ("saez", 1, 3e5),
            ("saez", 30, 9e9),
            ("us-federal-2022", 1, 4e5),
            ("ppo", 1, 7e7),
            ("smfrl", 1, 7e7),
        ]
    )
    return comparison(NOTES), s, e


def test_table3_facts_by_hand():
    f = facts.table3_facts(*table3_inputs())
    assert f == {
        "t3_cells": 5,
        "t3_same": 2,
        "t3_year1": 1,
        "t3_fixed_years_max": "10.8",  # ppo's 50 years do not count: it learns
        "t3_year1_share": "67%",  # 4 of the fixed policies' 6 episodes
        "t3_year1_gdp": "2.5e+05",  # mean of 1e5, 2e5, 3e5, 4e5
        "t3_smfg_years": "1, 1",
        "t3_smfg_gdp": "1.21e+05, 1.24e+05",
    }


def test_table3_facts_without_fixed_rows_or_year1():
    table, s, e = table3_inputs()
    learned = facts.table3_facts(table, s[s.row == "smfrl"], e[e.row == "smfrl"])
    assert learned["t3_fixed_years_max"] == learned["t3_year1_share"] == "n/a"
    assert learned["t3_year1_gdp"] == "n/a" and learned["t3_smfg_years"] == "1, 1"
    alive = facts.table3_facts(table, s, e.assign(years=5))
    assert (alive["t3_year1_share"], alive["t3_year1_gdp"]) == ("0%", "n/a")


def test_table3_cloned_and_rule_facts_by_hand():
    shares = pd.DataFrame({"saving_share": [0.1, 0.3, 0.5], "work_share": [0.2, 0.4, 0.6]})
    # the 90th percentile interpolates: 0.3 + 0.8 * (0.5 - 0.3)
    assert facts.table3_cloned_facts(shares) == {
        "t3_bc_saving": "0.30",
        "t3_bc_saving_p90": "0.46",
        "t3_bc_work": "0.40",
    }
    grid = pd.DataFrame(
        {
            "households": ["fixed", "fixed", "survey", "survey", "bc"],
            "years": [59.6, 120.0, 1.0, 31.84, 0.5],
            "per_capita_gdp": [5e12, 3.08e9, 1e5, 1e6, 1.0],
        }
    )
    assert facts.table3_rule_facts(grid) == {
        "t3_rule_years_min": "60",
        "t3_rule_gdp_min": "3.08e+09",
        "t3_survey_years": "1 to 31.8",
    }
    none = facts.table3_rule_facts(grid[grid.households == "bc"])
    assert set(none.values()) == {"n/a"}
    assert set(facts.table3_cloned_facts(shares.iloc[0:0]).values()) == {"n/a"}


# --- Figures 2 and 3 -----------------------------------------------------------------------


def test_fig2_facts_read_the_last_epoch_by_setting():
    c = curves(
        [
            ("SMFRL", "N=100-BC", 2, "per_capita_gdp", 1.2e5),
            ("SMFRL", "N=100", 2, "per_capita_gdp", 1.41e5),
            ("SMFRL", "N=100", 1, "per_capita_gdp", 9.0),
            ("SMFRL", "N=1000-BC", 1, "per_capita_gdp", 9.0),  # ends before the last epoch
            ("DDPG", "N=100", 2, "per_capita_gdp", 7.0),
        ]
    )
    assert facts.fig2_facts(c) == {"f2_epochs": 2, "f2_smfrl_gdp": "1.41e+05, 1.2e+05"}
    table = facts.last_epoch_table(c)
    assert list(table.index) == [("N=100", "DDPG"), ("N=100", "SMFRL"), ("N=100-BC", "SMFRL")]
    assert facts.fig2_facts(c[c.label != "SMFRL"])["f2_smfrl_gdp"] == "n/a"
    assert facts.fig2_facts(pd.DataFrame()) == {"f2_epochs": 0, "f2_smfrl_gdp": "n/a"}


def test_fig3_facts_by_hand():
    c = curves(
        [
            ("SMFG", "N=1000", 3, "years", 2.0),
            ("SMFG", "N=100", 3, "years", 1.0),
            ("SMFG", "N=100", 3, "per_capita_gdp", 1e5),
            ("SMFG", "N=100", 2, "years", 9.0),
        ]
    )
    refs = pd.DataFrame(
        {
            "setting": ["N=1000", "N=1000", "N=100", "N=100", "N=100"],
            "label": ["Free Market", "Saez", "Free Market", "US Federal", "Saez"],
            "metric": ["years", "years", "years", "years", "per_capita_gdp"],
            "mean": [1.0, 10.84, 1.25, 1.1, 1e9],
        }
    )
    assert facts.fig3_facts(c, refs) == {
        "f3_epochs": 3,
        "f3_fixed_years": "1.25, 10.8",  # N=100, then N=1000
        "f3_smfg_years": "1, 2",
    }
    none = facts.fig3_facts(c[c.label != "SMFG"], refs.iloc[0:0])
    assert (none["f3_smfg_years"], none["f3_fixed_years"]) == ("n/a", "n/a")


# --- Figures 4 and 6 -----------------------------------------------------------------------


def test_fig4_facts_by_hand():
    seeds = pd.DataFrame(
        {
            "label": ["Saez", "SMFG", "Free Market"],
            "setting": "N=100",
            "seed": [0, 0, 1],
            "per_capita_gdp": [1e5, 7.54e7, 2e5],
            "wealth_gini": [0.889, 0.9551, 0.9],
            "social_welfare": 1.0,
        }
    )
    assert facts.fig4_seed_facts(seeds) == {
        "f4_gini_lo": "0.889",
        "f4_gini_hi": "0.955",
        "f4_gdp_span": "754",
    }
    assert set(facts.fig4_seed_facts(seeds.iloc[0:0]).values()) == {"n/a"}
    best = pd.DataFrame(
        {
            "setting": ["N=100"] * 6 + ["N=1000"] * 2,
            "objective": ["paper"] * 3 + ["equality"] * 3 + ["paper"] * 2,
            "alpha": [0.0, 1.0, 2.0] * 2 + [0.0, 1.0],
            "best": ["A", "A", "B", "A", "A", "A", "C", "D"],
            "score": 1.0,
        }
    )
    assert facts.fig4_ranking_facts(best) == {"f4_changes": 2}
    assert facts.fig4_ranking_facts(best.iloc[0:0]) == {"f4_changes": 0}


def test_fig6_facts_name_each_settings_highest_gdp_seed():
    seeds = pd.DataFrame(
        {
            "setting": ["N=100-BC", "N=100-BC", "N=100", "N=100"],
            "label": ["IDDPG", "SMFRL", "MADDPG", "SMFRL"],
            "seed": [1, 0, 1, 0],
            "per_capita_gdp": [3.25e7, 1e5, 1.63e5, 1.2e5],
            "wealth_gini": 0.9,
            "social_welfare": 1.0,
            "years": [40.0, 1.0, 1.0, 1.0],
        }
    )
    assert facts.fig6_facts(seeds) == {
        "f6_top": "N=100: MADDPG (seed 1, 1.63e+05 dollars, 1 years); "
        "N=100-BC: IDDPG (seed 1, 3.25e+07 dollars, 40 years)"
    }
    assert facts.fig6_facts(seeds.iloc[0:0]) == {"f6_top": "n/a"}


# --- Figure 5 ------------------------------------------------------------------------------


def fig5_inputs():
    g = pd.DataFrame(
        [
            (0.5, "SMFG", "utility", 0.942),
            (0.5, "real-data (BC)", "utility", 0.9534),
            (0.5, "SMFG", "saving_share", 0.2951),
            (0.5, "real-data (BC)", "saving_share", 0.304),
            (0.0, "real-data (BC)", "utility", 0.5),
        ],
        columns=["share", "group", "quantity", "mean"],
    )
    a = pd.DataFrame(
        [
            (1.0, "per_capita_gdp", 1.21e5),
            (0.0, "per_capita_gdp", 1.29e5),
            (0.5, "per_capita_gdp", 9.0),
            (1.0, "years", 3.0),
            (0.0, "years", 1.0),
            (0.5, "years", 9.0),
        ],
        columns=["share", "metric", "mean"],
    )
    return g.assign(lo=g["mean"], hi=g["mean"], n_seeds=2), a.assign(n_seeds=2)


def test_fig5_facts_by_hand():
    assert facts.fig5_facts(*fig5_inputs()) == {
        "f5_u_smfg": "0.942",
        "f5_u_bc": "0.953",
        "f5_s_smfg": "0.30",
        "f5_s_bc": "0.30",
        "f5_gdp_0": "1.29e+05",  # the smallest share, whatever the frame's order
        "f5_gdp_1": "1.21e+05",
        "f5_years_0": "1",
        "f5_years_1": "3",
    }


def test_fig5_facts_without_a_half_share_or_aggregates():
    g, a = fig5_inputs()
    for groups in (g[g.share != 0.5], g[g.group == "SMFG"]):
        f = facts.fig5_facts(groups, a)
        assert [f[k] for k in ("f5_u_smfg", "f5_u_bc", "f5_s_smfg", "f5_s_bc")] == [
            "n/a (no 50% share in this run)"
        ] * 4
        assert f["f5_gdp_0"] == "1.29e+05"
    f = facts.fig5_facts(g, a.iloc[0:0])
    assert f["f5_years_1"] == f["f5_gdp_0"] == "n/a" and f["f5_u_smfg"] == "0.942"


# --- Figure 7 ------------------------------------------------------------------------------


def test_fig7_facts_by_hand():
    losses = pd.DataFrame(
        {
            "network": ["mlp", "lstm", "mfmarl"],
            "loss": ["nll", "nll", "mse"],
            "epochs": 2,
            "validation fall": [0.324, 0.5, 0.4],
            "gap": [0.0149, 0.004, 0.01],
        }
    )
    assert facts.fig7_loss_facts(losses) == {
        "f7_epochs": 2,
        "f7_drop_min": "32%",
        "f7_drop_max": "50%",
        "f7_gap": "1%",
    }
    cols = ["source", "food_share", "action", "mean", "p10", "median", "p90", "at lower clip"]
    actions = pd.DataFrame(
        [
            ("survey", 0.10, "saving share", 0.30, 0, 0.3, 0.9, 0.36),
            ("survey", 0.16, "saving share", 0.16, 0, 0.1, 0.8, 0.60),
            ("survey", 0.13, "saving share", 0.2, 0, 0.2, 0.8, 0.5),
            ("survey", float("nan"), "work share", 0.4, 0, 0.37, 1.0, 0.29),
            ("cloned", 0.13, "saving share", 0.31, 0.1, 0.3, 0.5, 0.0),
            ("cloned", 0.13, "work share", 0.33, 0.27, 0.33, 0.38, 0.0),
        ],
        columns=cols,
    )
    assert facts.fig7_action_facts(actions) == {
        "f7_sav_lo": "0.16",
        "f7_sav_hi": "0.30",
        "f7_sav_clip_lo": "36%",
        "f7_sav_clip_hi": "60%",
        "f7_work_none": "29%",
        "f7_work_median": "0.37",
        "f7_cl_sav": "0.31",
        "f7_cl_work_p10": "0.27",
        "f7_cl_work_p90": "0.38",
    }
    survey_only = facts.fig7_action_facts(actions[actions.source == "survey"])
    assert survey_only["f7_cl_sav"] == "n/a" and survey_only["f7_work_none"] == "29%"


# --- the pages' glue keys ------------------------------------------------------------------

#: Each page's facts, on the hand-made frames above, as the page calls them.
PAGE_FACTS = {
    "table1_algorithms": lambda: facts.table1_facts(*table1_inputs()),
    "table3_policies": lambda: {
        **facts.table3_facts(*table3_inputs()),
        **facts.table3_cloned_facts(pd.DataFrame({"saving_share": [0.5], "work_share": [0.5]})),
        **facts.table3_rule_facts(pd.DataFrame(columns=["households", "years", "per_capita_gdp"])),
    },
    "fig2_training_curves": lambda: facts.fig2_facts(pd.DataFrame()),
    "fig3_policy_curves": lambda: facts.fig3_facts(
        pd.DataFrame(), pd.DataFrame(columns=["setting", "label", "metric", "mean"])
    ),
    "fig4_efficiency_equity": lambda: {
        **facts.fig4_seed_facts(pd.DataFrame(columns=["per_capita_gdp", "wealth_gini"])),
        **facts.fig4_ranking_facts(pd.DataFrame()),
    },
    "fig5_smfg_household_share": lambda: facts.fig5_facts(*fig5_inputs()),
    "fig6_algorithm_efficiency_equity": lambda: facts.fig6_facts(pd.DataFrame()),
    "fig7_bc_loss": lambda: {
        **facts.fig7_loss_facts(pd.DataFrame(columns=["epochs", "validation fall", "gap"])),
        **facts.fig7_action_facts(
            pd.DataFrame(columns=["source", "action", "mean", "median", "at lower clip"])
        ),
    },
}
#: A glue role's key in MyST: {glue:text}`key`, {glue:text}`key:.2f`, {glue}`key`; a key with
#: ``::`` is another notebook's.
GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`]+)`")
GLUE_CALL = re.compile(r"""\bglue\(\s*["']([^"']+)["']""")
FACTS_CALL = re.compile(r"\b((?:table|fig)\d_[a-z_]*facts)\(")


def glue_keys(text: str) -> set[str]:
    """The keys of this page's own glue roles in ``text`` (format specs dropped)."""
    return {m.split(":")[0] for m in GLUE_ROLE.findall(text) if "::" not in m}


def unknown_keys(page: str, text: str) -> set[str]:
    """The glue keys ``text`` (page's notebook) uses that neither its facts return nor it
    glues itself."""
    return glue_keys(text) - set(PAGE_FACTS[page]()) - set(GLUE_CALL.findall(text))


@pytest.mark.parametrize("page", sorted(PAGE_FACTS))
def test_the_pages_glue_keys_are_its_facts(page: str):
    text = (NOTEBOOKS / f"{page}.md").read_text()
    used, produced = glue_keys(text), set(PAGE_FACTS[page]())
    assert used, f"{page}: no glue role found"
    assert not unknown_keys(page, text), sorted(unknown_keys(page, text))
    assert produced <= used, f"{page}: facts no prose uses: {sorted(produced - used)}"
    # the page glues what its own facts functions return, through glue_facts
    called = set(FACTS_CALL.findall(text))
    assert called and all(hasattr(facts, name) for name in called), called
    assert all(name.startswith(page.split("_")[0] + "_") for name in called), called
    assert "glue_facts(" in text


def test_the_key_check_reads_roles_skips_other_pages_and_fails_on_a_planted_key():
    text = (
        "{glue:text}`a` {glue:text}`b:.2f` {glue}`c` "
        "{glue:text}`audit_taxai_dynamics.ipynb::threshold:.2f`"
    )
    assert glue_keys(text) == {"a", "b", "c"}
    page = (NOTEBOOKS / "table1_algorithms.md").read_text()
    assert unknown_keys("table1_algorithms", page + "{glue:text}`t1_nope`") == {"t1_nope"}
    assert not unknown_keys("table1_algorithms", page + 'glue("t1_nope", 1)\n{glue:text}`t1_nope`')


def test_glue_facts_glues_each_key_hidden(monkeypatch):
    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda key, value, display=True: calls.append((key, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue_facts({"a": 1, "b": "two"})
    assert calls == [("a", 1, False), ("b", "two", False)]
