"""The results summary's table: every headline number of the paper beside ours, with ours
exactly the number the Table 1, Table 3 and `clearing` pages print."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from smfg.paper import aggregate as agg
from smfg.paper.artefacts import get_experiment
from smfg.paper.headline import (
    HEADLINE_COLUMNS,
    headline_facts,
    headline_note,
    headline_table,
    table1_experiment,
)
from smfg.plotting import plot_headline, save_figure

METRICS = {
    "per_capita_gdp": 1e6,
    "social_welfare": 50.0,
    "income_gini": 0.4,
    "wealth_gini": 0.6,
    "years": 100.0,
}


def _episodes(experiment: str, rows=None, seeds=(0, 1), scale=None) -> pd.DataFrame:
    """Two episodes per seed for every cell of an experiment: GDP, welfare and years = base x
    (1 + seed) x the row's scale, the two episodes 10% apart; the Ginis constant."""
    exp = get_experiment(experiment)
    out = []
    for s in exp.settings:
        for r in exp.rows:
            if rows is not None and r.key not in rows:
                continue
            if r.sizes is not None and s.n_households not in r.sizes:
                continue
            for seed in seeds:
                for ep in (0, 1):
                    k = (scale or {}).get(r.key, 1.0) * (1 + seed) * (1.0 + 0.1 * ep)
                    out.append(
                        {
                            "row": r.key,
                            "label": r.label,
                            "paper_row": r.paper_row or r.label,
                            "setting": s.label,
                            "n_households": s.n_households,
                            "bc": s.bc,
                            "seed": seed,
                            "episode": ep,
                            **{m: v * (1 if "gini" in m else k) for m, v in METRICS.items()},
                        }
                    )
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def data():
    t1 = _episodes("table1_algorithms", rows=("smfrl",))
    t3 = _episodes("table3_policies", scale={"smfrl": 8.0, "saez": 2.0})
    cl = _episodes("clearing_policies", scale={"smfrl": 1.1}).query("setting == 'N=100'")
    return t1, t3, cl


def test_every_headline_number_of_the_paper_has_its_row(data):
    t1, t3, cl = data
    table = headline_table(t1, t3, cl)
    assert tuple(table.columns) == HEADLINE_COLUMNS
    taxai = table[table.economy == "taxai"]
    # Table 1: SMFRL's GDP, welfare and years in three settings; Table 3: the six policies
    # (and Saez in the paper's form) at N = 100, the five with a paper value at N = 1,000;
    # the abstract: SMFG over Saez (both forms) and over US 2022
    assert (taxai.source == "Table 1").sum() == 9
    assert (taxai.source == "Table 3").sum() == 7 + 5
    assert (taxai.source == "abstract").sum() == 3
    assert taxai.quantity.is_unique
    assert set(table[table.metric == "ratio"].paper) == {4.0, 19.0}
    smfg = taxai[(taxai.row == "smfrl") & (taxai.setting == "N=100") & (taxai.source == "Table 3")]
    assert smfg.paper.item() == 1.01e13
    # clearing: only the cells it computed (N = 100), beside the same paper values
    clearing = table[table.economy == "clearing"]
    assert set(clearing.setting) == {"N=100"}
    assert (clearing.source == "Table 3").sum() == 7 and (clearing.source == "abstract").sum() == 3
    # each clearing row right after its taxai row
    pairs = table.groupby("quantity", sort=False).economy.agg(list)
    assert all(pairs[q] == ["taxai", "clearing"] for q in clearing.quantity)
    order = list(table.quantity)
    assert all(order[order.index(q) + 1] == q for q in clearing.quantity)


def test_ours_is_what_the_pages_print(data):
    t1, t3, cl = data
    table = headline_table(t1, t3, cl)
    pages = agg.summarise_cells(t3).set_index(["row", "setting"])
    row = table[(table.economy == "taxai") & (table.row == "saez") & (table.setting == "N=1000")]
    cell = pages.loc[("saez", "N=1000")]
    assert row.ours.item() == cell.per_capita_gdp
    assert (row.low.item(), row.high.item()) == (cell.per_capita_gdp_lo, cell.per_capita_gdp_hi)
    assert row.n_seeds.item() == 2
    assert row["median"].item() == cell.per_capita_gdp_median  # beside the heavy-tailed mean
    levels = table[table.metric != "ratio"]
    assert "across 2 seeds" in agg.interval_note(levels, ["per_capita_gdp", "years"])
    # the ratio of the means (the Table 3 page's headline ratio), and the seeds' own range
    ratio = table[(table.economy == "taxai") & (table.metric == "ratio") & (table.row == "saez")]
    assert ratio.ours.item() == pytest.approx(4.0)  # 8 / 2 in every seed
    assert ratio.low.item() == pytest.approx(4.0) and ratio.high.item() == pytest.approx(4.0)
    page = agg.headline_ratios(agg.summarise_cells(t3))
    mine = page[(page.setting == "N=100") & (page.ratio == "SMFG / Saez")].ours.item()
    assert ratio.ours.item() == pytest.approx(mine, rel=1e-12)
    us = table[
        (table.economy == "clearing") & (table.row == "us-federal-2022") & (table.metric == "ratio")
    ]
    assert us.ours.item() == pytest.approx(1.1)
    years = table[(table.source == "Table 1") & (table.metric == "years")]
    assert list(years.paper) == [300.0, 300.0, 300.0]
    assert years.ours.iloc[0] == pytest.approx(100 * 1.05 * 1.5)  # episodes, then seeds


def test_a_cell_not_computed_keeps_the_paper_value(data):
    t1, _, _ = data
    table = headline_table(t1, None)
    t3 = table[table.source == "Table 3"]
    assert len(t3) == 12 and t3.ours.isna().all() and (t3.n_seeds == 0).all()
    assert table[table.metric == "ratio"].ours.isna().all()
    assert not (table.economy == "clearing").any()
    facts = headline_facts(table)
    assert facts["hl_computed"] == "9" and facts["hl_ratio_saez_taxai"] == "n/a"


def test_facts_count_agreement():
    table = pd.DataFrame(
        {
            "quantity": list("abcde"),
            "metric": ["per_capita_gdp"] * 4 + ["ratio"],
            "row": ["x", "y", "z", "w", "saez"],
            "economy": ["taxai"] * 5,
            "paper": [1.0, 1.0, 1.0, 1.0, 4.0],
            "ours": [1.5, 30.0, -2.0, np.nan, 3.0],
        }
    )
    facts = headline_facts(table)
    assert facts["hl_quantities"] == "5" and facts["hl_computed"] == "4"
    assert facts["hl_same"] == "2"  # 1.5 of 1; 0.75 of 4
    assert facts["hl_far"] == "2"  # 30 times, and a negative value
    assert facts["hl_ratio_saez_taxai"] == "3" and facts["hl_ratio_saez_clearing"] == "n/a"


def test_headline_figure_draws_every_number_on_log_axes(data, tmp_path):
    t1, t3, cl = data
    table = headline_table(t1, t3, cl)
    table.loc[table.index[0], "ours"] = -5.0  # not positive: a triangle at the left edge
    fig = plot_headline(table)
    ax, rel = fig.axes
    assert ax.get_xscale() == "log" and rel.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(dict.fromkeys(table.quantity))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert len(lines["paper"].get_xdata()) == table.quantity.nunique()
    shown = table[table.ours > 0]
    for economy in ("taxai", "clearing"):
        n = (shown.economy == economy).sum()
        assert len(lines[f"ours, {economy}"].get_xdata()) == n
    assert len(lines["ours, taxai: not positive"].get_xdata()) == 1
    assert math.isclose(lines["ours, taxai: not positive"].get_xdata()[0], ax.get_xlim()[0])
    ratios = {line.get_label(): line for line in rel.get_lines()}
    assert len(ratios["ours, clearing"].get_xdata()) == (shown.economy == "clearing").sum()
    png, svg = save_figure(fig, "headline", tmp_path)
    assert png.stat().st_size > 10_000 and "nineteenfold" in svg.read_text()


def test_profile_table_reads_the_configuration():
    from smfg.algos.smfrl import smfrl_config
    from smfg.config import PROFILES
    from smfg.paper.artefacts import ARTEFACT_PROFILES
    from smfg.paper.headline import profile_table

    table = profile_table().set_index("profile")
    assert tuple(table.index) == PROFILES
    for name in PROFILES:
        assert table.loc[name, "SMFRL epochs"] == smfrl_config(name).epochs
        assert table.loc[name, "seeds per cell"] == ARTEFACT_PROFILES[name].seeds
    assert table.loc["paper", "follower batch"] == "joint"
    assert table.loc["paper", "evaluation years (at most)"] == 300  # the economy's horizon


def test_profile_facts_name_the_profile_and_smfrls_epochs():
    from smfg.algos.smfrl import smfrl_config
    from smfg.config import PROFILES
    from smfg.paper.headline import profile_facts

    for name in PROFILES:
        assert profile_facts(name) == {
            "hl_profile": name,
            "hl_epochs": str(smfrl_config(name).epochs),
        }
    assert profile_facts("paper")["hl_epochs"] == "1000"


def test_the_summary_collects_only_table1s_headline_rows():
    full, exp = get_experiment("table1_algorithms"), table1_experiment()
    assert len(full.rows) > 1 and [r.key for r in exp.rows] == ["smfrl"]
    assert exp == replace(full, rows=tuple(r for r in full.rows if r.algo == "smfrl"))
    # every Table 1 number of the headline comes from a row the summary collects
    table = headline_table(_episodes("table1_algorithms", rows=("smfrl",)), None)
    assert set(table[table.source == "Table 1"].row) == {"smfrl"}


def test_the_note_under_the_figure_counts_the_computed_levels_only():
    def row(metric, n_seeds):
        return {"metric": metric, "n_seeds": n_seeds, "horizon": 300.0}

    table = pd.DataFrame(
        [
            row("per_capita_gdp", 3),
            row("social_welfare", 4),
            row("years", 0),  # not computed: no interval
            row("ratio", 7),  # a ratio's range, not an interval across seeds
        ]
    )
    assert headline_note(table) == (
        "95% intervals across 3 to 4 seeds, each within its range (per-capita GDP: t-interval "
        "on the log scale; social welfare: plain t-interval; years: t-interval on the logit "
        "scale of years / T (T = 300))."
    )
    assert headline_note(table.iloc[2:]) == "no cell computed: no intervals"
    assert headline_note(table.iloc[[0, 3]]).startswith("95% intervals across 3 seeds")
