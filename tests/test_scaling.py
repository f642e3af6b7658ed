"""Scaling: the mean-field check, its tables, evaluation at H = 1e6, the scaling notebook."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from smfg.paper import mean_field as mf
from smfg.perf import scaling as sc

REPO = Path(__file__).resolve().parents[1]
POLICIES = (("free-market", "fixed"), ("us-federal-2022", "survey"))


def test_mean_field_check_gives_every_metric_with_intervals_and_caches(tmp_path: Path):
    kw = dict(sizes=(20, 50), policies=POLICIES, variant="clearing", seeds=3, episodes=1, steps=5)
    check = mf.mean_field_check(root=tmp_path, **kw)
    assert len(check) == 2 * 2 * len(mf.CHECK_METRICS)
    assert set(check.metric) == set(mf.CHECK_METRICS) and (check.n_seeds == 3).all()
    finite = check[check.metric != "years"]  # years: 5 for every seed, a zero-width interval
    assert (finite.ci_low < finite["mean"]).all() and (finite["mean"] < finite.ci_high).all()
    wide = check.pivot_table(index=["government", "n_households"], columns="metric", values="mean")
    n = wide.index.get_level_values("n_households").to_numpy()
    assert wide.mean_utility.to_numpy() == pytest.approx(wide.social_welfare.to_numpy() / n)
    assert (wide.years == 5).all()
    # cached: one file per cell, read back equal
    assert len(list((tmp_path / "evaluations").glob("mean_field-*.json"))) == 4
    pd.testing.assert_frame_equal(mf.mean_field_check(root=tmp_path, **kw), check)
    # seeds evaluated one at a time (max_rows below one seed's rows) equal the batched seeds
    pd.testing.assert_frame_equal(mf.mean_field_check(max_rows=10, **kw), check)


def test_convergence_table_and_settling_summary():
    rows = []
    for n, m in ((100, 90.0), (1_000, 99.0), (10_000, 101.0), (100_000, 100.0)):
        rows.append(
            {
                "government": "g",
                "households": "h",
                "n_households": n,
                "metric": "per_capita_gdp",
                "mean": m,
                "ci_low": m - 2.0,
                "ci_high": m + 2.0,
                "n_seeds": 5,
            }
        )
    check = pd.DataFrame(rows)
    table = mf.convergence_table(check)
    assert list(table.N) == [100, 1_000, 10_000, 100_000]
    assert list(table["per_capita_gdp gap"]) == ["-10.0%", "-1.0%", "+1.0%", "+0.0%"]
    assert table.per_capita_gdp.iloc[0] == "90 [88, 92]"
    s = mf.settling_summary(check, tolerance=0.02).iloc[0]
    assert s.settles_from == 1_000 and s.largest_gap == "10.0%" and s.overlap_two_largest
    s = mf.settling_summary(check, tolerance=0.005).iloc[0]
    assert s.settles_from == 100_000


@pytest.mark.slow
def test_evaluation_of_a_million_households_fits_in_memory():
    """Both economies, the whole evaluation path, float32, H = 1e6: under 2 GB each."""
    res = sc.time_evaluation((1_000_000,), ("taxai", "clearing"), steps=2)
    assert list(res.variant) == ["taxai", "clearing"] and (res.steps == 2).all()
    assert (res.peak_rss_mb < 2048).all(), res
    assert all(math.isfinite(x) and x > 0 for x in res.per_capita_gdp)


@pytest.mark.slow
def test_scaling_notebook_executes(tmp_path: Path):
    jupytext = pytest.importorskip("jupytext")
    papermill = pytest.importorskip("papermill")
    nb = jupytext.read(REPO / "notebooks" / "scaling.md")
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src = tmp_path / "scaling.ipynb"
    jupytext.write(nb, src)
    figures = tmp_path / "figures"
    executed = papermill.execute_notebook(
        str(src),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
        parameters={
            "profile": "smoke",
            "figures_dir": str(figures),
            "results_root": str(tmp_path / "results"),
        },
        cwd=str(tmp_path),
    )
    for name in ("scaling", "scaling_mean_field"):
        assert (figures / f"{name}.png").stat().st_size > 1000, name
    text = "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in executed.cells
        for o in c.get("outputs", [])
    )
    assert "household-steps/s" in text and "SMFRL smoke epoch" in text
    assert "settles_from" in text and "us-federal-2022" in text


def test_the_speed_tables_divide_by_the_originals_figures():
    env = pd.DataFrame(
        {
            "n_households": [100, 1_000, 3_000],
            "household_steps_per_s": [2.2e5, 4.6e4, 1e5],
            "original_household_steps_per_s": [1.1e5, 9.2e4, math.nan],  # 3,000: not measured
        }
    )
    shown = mf.env_against_original(env)
    assert shown.x_original.iloc[:2].tolist() == pytest.approx([2.0, 0.5])
    assert math.isnan(shown.x_original.iloc[2])
    pd.testing.assert_frame_equal(shown.drop(columns="x_original"), env)
    train = pd.DataFrame(
        {
            "follower_batch": ["joint", "joint", "sampled"],
            "n_households": [100, 1_000, 100],
            "epoch_s": [9.0, 780.0, 1.0],
            # the original's range at N = 100 (30 to 42 s); the sampled batch has none
            "original_epoch_s_low": [30.0, 390.0, math.nan],
            "original_epoch_s_high": [42.0, 390.0, math.nan],
        }
    )
    shown = mf.epoch_against_original(train)
    assert shown.x_original.iloc[:2].tolist() == pytest.approx([4.0, 0.5])  # 36 / 9, 390 / 780
    assert math.isnan(shown.x_original.iloc[2])
