"""The book's figures: each plotting function draws what it is given and saves PNG and SVG."""

import numpy as np
import pandas as pd
import pytest

from smfg.plotting import (
    plot_bc_loss,
    plot_efficiency_equity,
    plot_household_share,
    plot_multi_objective,
    plot_training_curves,
    save_figure,
)


def _saved(fig, tmp_path, name):
    png, svg = save_figure(fig, name, tmp_path)
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    return svg.read_text()


def test_training_curves_with_fixed_references(tmp_path):
    curves = pd.DataFrame(
        [
            {
                "setting": s,
                "label": "SMFRL",
                "epoch": e,
                "metric": m,
                "mean": 1.0 + e,
                "lo": 0.5 + e,
                "hi": 1.5 + e,
            }
            for s in ("N=100", "N=1000")
            for e in range(1, 4)
            for m in ("per_capita_gdp", "wealth_gini")
        ]
    )
    refs = pd.DataFrame(
        [{"setting": "N=100", "label": "Free Market", "metric": "wealth_gini", "mean": 0.9}]
    )
    fig = plot_training_curves(curves, ("per_capita_gdp", "wealth_gini"), references=refs)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_yscale() == "log"
    svg = _saved(fig, tmp_path, "curves")
    assert "Free Market (fixed)" in svg and "SMFRL" in svg
    empty = plot_training_curves(curves.iloc[:0], ("per_capita_gdp",), references=refs)
    assert len(empty.axes) == 1


def test_multi_objective_panels(tmp_path):
    scores = pd.DataFrame(
        [
            {
                "setting": "N=100",
                "label": p,
                "objective": o,
                "alpha": a,
                "mean": a * s,
                "lo": np.nan,
                "hi": np.nan,
            }
            for p in ("SMFG", "Saez")
            for o, s in (("paper", 1), ("equality", -1))
            for a in range(11)
        ]
    )
    fig = plot_multi_objective(scores)
    assert len(fig.axes) == 2
    assert "equality" in _saved(fig, tmp_path, "mo")


def test_household_share_bars_and_dots(tmp_path):
    shares = (0.0, 0.5, 1.0)
    groups = pd.DataFrame(
        [
            {"share": s, "group": g, "quantity": q, "mean": 1.0 + s, "lo": 0.9, "hi": 2.1}
            for s in shares
            for g in ("real-data (BC)", "SMFG")
            for q in ("utility", "wealth", "income", "work_share")
            if not (s == 0.0 and g == "SMFG")
        ]
    )
    aggs = pd.DataFrame(
        [
            {"share": s, "metric": m, "mean": 2.0, "lo": np.nan, "hi": np.nan}
            for s in shares
            for m in ("per_capita_gdp", "social_welfare", "wealth_gini", "years")
        ]
    )
    fig = plot_household_share(groups, aggs)
    assert len([a for a in fig.axes if a.get_visible()]) == 8
    assert "share of SMFG households" in _saved(fig, tmp_path, "share")


def test_bc_loss_one_panel_per_network(tmp_path):
    losses = pd.DataFrame(
        [
            {
                "network": n,
                "loss": "nll" if "gaussian" in n else "mse",
                "split": sp,
                "epoch": e,
                "value": 1.0 / (1 + e),
            }
            for n in ("mlp_gaussian", "follower_actor")
            for sp in ("train", "validation")
            for e in range(4)
        ]
    )
    fig = plot_bc_loss(losses)
    assert [a.get_ylabel() for a in fig.axes] == ["negative log-likelihood", "mean squared error"]
    _saved(fig, tmp_path, "bc")


@pytest.mark.parametrize("n_hue", [1, 3])
def test_efficiency_equity_per_seed(tmp_path, n_hue):
    eps = pd.DataFrame(
        [
            {
                "variant": "taxai",
                "setting": "N=100",
                "label": f"p{h}",
                "seed": s,
                "episode": e,
                "per_capita_gdp": 1e5 * (h + 1),
                "wealth_gini": 0.5,
                "social_welfare": 90.0 + s,
            }
            for h in range(n_hue)
            for s in range(3)
            for e in range(2)
        ]
    )
    fig = plot_efficiency_equity(eps, panels="variant", columns="setting", hue="label")
    _saved(fig, tmp_path, "ee")
