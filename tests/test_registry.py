"""The experiment registry: what each artefact needs, caching, aggregation, mixed populations."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import smfg.paper.collection as collection
import smfg.paper.comparison as comparison
import smfg.runs.algorithms as algorithms_module
import smfg.runs.evaluations as evaluations
from smfg import paper
from smfg.evaluate import evaluate
from smfg.paper import aggregate as agg
from smfg.paper.artefacts import (
    EXPERIMENTS,
    Experiment,
    Row,
    RunRequest,
    Setting,
    get_experiment,
    with_reward,
)
from smfg.paper.collection import collect
from smfg.paper.values import PAPER_TABLE1, PAPER_VALUES
from smfg.policies import FixedShares, FreeMarket
from smfg.runs.algorithms import ALGORITHMS
from smfg.runs.evaluations import cached_tables
from smfg.runs.learned import ClonedHouseholds, GroupMeans, MixedHouseholds
from smfg.runs.store import RunStore, config_hash
from smfg.runs.train import train
from smfg.stats import seed_interval

# a tiny SMFRL run: seconds, not minutes
TINY = dict(
    epochs=1,
    steps_per_epoch=10,
    leader_updates=2,
    follower_updates=2,
    batch_size=8,
    eval_episodes=1,
    eval_steps=5,
    mf_sample=4,
    bc_epochs=1,
)
SMALL = (Setting("N=20", 20, False),)


def test_every_artefact_of_issue_7_is_registered():
    names = {
        "table1_algorithms",
        "table3_policies",
        "fig2_training_curves",
        "fig3_policy_curves",
        "fig4_efficiency_equity",
        "fig5_smfg_household_share",
        "fig6_algorithm_efficiency_equity",
        "fig7_bc_loss",
        "clearing_policies",
    }
    assert names <= set(EXPERIMENTS)
    assert EXPERIMENTS["clearing_policies"].variant == "clearing"
    assert EXPERIMENTS["table1_algorithms"].variant == "taxai"
    with pytest.raises(ValueError, match=r"experiment 'table2' is not known: allowed \["):
        get_experiment("table2")


def test_table1_names_the_paper_algorithms_and_runs_only_registered_ones(monkeypatch):
    t1 = get_experiment("table1_algorithms")
    assert [r.key for r in t1.rows] == ["rule-based", "ddpg", "maddpg", "iddpg", "mfmarl", "smfrl"]
    assert {r.label for r in t1.rows} == set(PAPER_TABLE1.paper_row)
    assert [s.label for s in t1.settings] == ["N=100", "N=100-BC", "N=1000-BC"]
    monkeypatch.setattr("smfg.runs.algorithms.ALGORITHMS", {"smfrl": ALGORITHMS["smfrl"]})
    assert {r.key for r in t1.missing()} == {"ddpg", "maddpg", "iddpg", "mfmarl"}
    runs = t1.runs("quick")
    assert {r.algo for r in runs} == {"smfrl"}
    assert len(runs) == 3 * 3  # 3 settings x 3 seeds (quick)
    assert [(r.n_households, r.bc) for r in runs[::3]] == [(100, False), (100, True), (1000, True)]
    assert len(t1.runs("paper")) == 3 * 5
    # a baseline that lands is run without touching the registry
    monkeypatch.setattr(
        "smfg.runs.algorithms.ALGORITHMS",
        {"smfrl": ALGORITHMS["smfrl"], "ddpg": ALGORITHMS["smfrl"]},
    )
    assert {r.algo for r in t1.runs("smoke")} == {"smfrl", "ddpg"}
    assert "ddpg" not in {r.key for r in t1.missing()}
    # Rule-based: a fixed policy pair until its run-store algorithm is registered
    rule = t1.rows[0]
    assert rule.mode() == "fixed" and rule.government == "free-market"
    monkeypatch.setitem(algorithms_module.ALGORITHMS, "rule_based", ALGORITHMS["smfrl"])
    assert rule.mode() == "learned" and "rule_based" in {r.algo for r in t1.runs("smoke")}


def test_table3_rows_settings_and_shared_runs():
    t3 = get_experiment("table3_policies")
    keys = [r.key for r in t3.rows]
    assert keys[:4] == ["free-market", "saez", "saez-paper", "us-federal-2022"]
    assert keys[-1] == "smfrl"
    aie = next(r for r in t3.rows if r.key == "ppo")
    assert [s.n_households for s in t3.settings_for(aie)] == [100]
    assert all(not s.bc for s in t3.settings_for(aie))
    # SMFG's runs are Table 1's SMFRL "-BC" runs: one training serves both
    t1 = get_experiment("table1_algorithms")
    smfg = {r for r in t3.runs("quick") if r.algo == "smfrl"}
    assert smfg <= set(t1.runs("quick"))
    assert {r.variant for r in get_experiment("clearing_policies").runs("smoke")} == {"clearing"}
    assert t3.runs("smoke", sizes=[100]) == [r for r in t3.runs("smoke") if r.n_households == 100]
    with pytest.raises(ValueError, match="variant"):
        t3.runs("smoke", variant="other")
    with pytest.raises(ValueError, match="profile"):
        t3.runs("fast")


def test_paper_values_are_the_spec():
    t1 = PAPER_TABLE1.set_index(["paper_row", "setting", "metric"]).value
    assert t1["SMFRL", "N=1000-BC", "per_capita_gdp"] == 9.68e12
    assert t1["MF-MARL", "N=100", "per_capita_gdp"] == 8.66e7
    assert t1["Rule-based", "N=100-BC", "years"] == 217.45
    assert t1["SMFRL", "N=1000-BC", "social_welfare"] == 975.15
    t3 = PAPER_VALUES["table3"].set_index(["paper_row", "setting", "metric"]).value
    assert t3["US Federal", "N=100", "per_capita_gdp"] == 4.88e11
    assert t3["SMFG", "N=1000", "per_capita_gdp"] == 9.68e12
    assert ("AI Economist", "N=1000", "per_capita_gdp") not in t3.index


def test_run_request_is_the_run_train_makes(tmp_path):
    req = RunRequest("smfrl", "smoke", "clearing", 20, False, 3, tuple(sorted(TINY.items())))
    res = train("smfrl", "smoke", root=tmp_path, **req.kwargs())
    assert res.run_dir == RunStore(tmp_path).run_dir(req.spec())


def test_cached_tables_round_trip_exactly(tmp_path):
    calls = []
    df = pd.DataFrame({"x": [0.1 + 0.2, math.nan, 1e300], "s": ["a", "b,c", ""], "i": [1, 2, 3]})

    def compute():
        calls.append(1)
        return {"t": df}

    a = cached_tables(tmp_path, "k", {"n": 1}, compute)["t"]
    b = cached_tables(tmp_path, "k", {"n": 1}, compute)["t"]
    assert len(calls) == 1
    assert b.x.iloc[0] == 0.1 + 0.2 and math.isnan(b.x.iloc[1]) and b.x.iloc[2] == 1e300
    assert list(b.s) == ["a", "b,c", ""] and list(b.i) == [1, 2, 3]
    pd.testing.assert_frame_equal(a, df)
    cached_tables(tmp_path, "k", {"n": 2}, compute)
    assert len(calls) == 2 and len(list((tmp_path / "evaluations").glob("k-*.json"))) == 2


def test_a_new_metrics_version_recomputes_evaluations_but_keeps_runs(tmp_path, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return {"t": pd.DataFrame({"x": [float(len(calls))]})}

    spec = {"run": "smfrl-0123456789abcdef", "episodes": 2}
    run_hash = config_hash(spec)
    assert cached_tables(tmp_path, "evaluation", spec, compute)["t"].x.iloc[0] == 1.0
    monkeypatch.setattr(evaluations, "METRICS_VERSION", evaluations.METRICS_VERSION + 1)
    assert cached_tables(tmp_path, "evaluation", spec, compute)["t"].x.iloc[0] == 2.0
    assert config_hash(spec) == run_hash  # a run's hash does not depend on it


def test_collect_trains_evaluates_and_never_recomputes(tmp_path, monkeypatch):
    exp = Experiment(
        "tiny",
        "Test",
        "tiny",
        variant="clearing",
        settings=SMALL,
        rows=(
            Row("fm", "Free Market", government="free-market", households="fixed"),
            Row("smfrl", "SMFRL", algo="smfrl"),
            Row("ddpg", "DDPG", algo="ddpg"),
        ),
    )
    monkeypatch.setattr("smfg.runs.algorithms.ALGORITHMS", {"smfrl": ALGORITHMS["smfrl"]})
    lines = []
    c = collect(exp, "smoke", root=tmp_path, seeds=2, progress=lines.append, **TINY)
    assert [r.key for r in c.missing] == ["ddpg"]
    assert set(c.episodes.row) == {"fm", "smfrl"}
    assert len(c.episodes) == 2 * 2 * 2  # rows x seeds x episodes (smoke: 2)
    assert c.runs.computed.all() and len(c.runs) == 2
    assert any("trained" in x for x in lines)
    assert (c.episodes.years <= paper.ARTEFACT_PROFILES["smoke"].steps).all()

    def boom(*a, **k):
        raise AssertionError("evaluated again")

    monkeypatch.setattr(collection, "evaluate", boom)
    again = collect(exp, "smoke", root=tmp_path, seeds=2, progress=None, **TINY)
    assert not again.runs.computed.any()
    pd.testing.assert_frame_equal(again.episodes, c.episodes)
    curves = paper.training_curves(again)
    assert len(curves) == 2 * TINY["epochs"] and {"per_capita_gdp", "seed"} <= set(curves)
    table = agg.comparison_table(
        agg.summarise_cells(c.episodes), exp.rows, exp.settings, None, c.missing
    )
    assert list(table.row) == ["Free Market", "SMFRL", "DDPG"]
    assert table.loc[2, "per-capita GDP: ours"] == "not yet available"
    assert "not registered" in table.loc[2, "note"]
    assert table.loc[0, "seeds"] == 2


def test_a_run_locked_by_another_process_is_waited_for(tmp_path, monkeypatch):
    calls = []
    real = collection.train

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("x is being computed by another process (lock held)")
        return real(*a, **k)

    monkeypatch.setattr(collection, "train", flaky)
    lines = []
    reqs = [
        RunRequest("smfrl", "smoke", "clearing", 20, False, s, tuple(sorted(TINY.items())))
        for s in (4, 2)
    ]
    res = paper.train_requests(reqs, tmp_path, lines.append, poll_s=0.0, batch_seeds=False)
    assert [r.run_dir for r in res] == [RunStore(tmp_path).run_dir(q.spec()) for q in reqs]
    assert all((r.run_dir / "DONE").exists() for r in res)
    assert len(calls) == 4 and sum("waiting" in x for x in lines) == 1


def test_a_cells_seeds_train_as_one_batch_as_the_sweep_trains_them(tmp_path, monkeypatch):
    """The seeds of one DDPG-family request train as one batch (the runs train_specs
    leaves, bit for bit), a PPO request alone; where another process holds a run of the
    batch, its requests go one by one and wait."""
    from smfg.runs.seeds import train_specs

    reqs = [
        RunRequest("smfrl", "smoke", "clearing", 20, False, s, tuple(sorted(TINY.items())))
        for s in (4, 2)
    ]
    lines = []
    res = paper.train_requests(reqs, tmp_path / "a", lines.append)
    assert sum("as one batch" in x for x in lines) == 1
    assert sum("trained in a batch of 2" in x for x in lines) == 2
    ref = train_specs([q.spec() for q in reqs], tmp_path / "b")
    for r, b in zip(res, ref, strict=True):
        assert r.run_dir.name == b.run_dir.name
        cols = [c for c in r.metrics if c not in ("wall_time_s", "train_s", "eval_s")]
        pd.testing.assert_frame_equal(r.metrics[cols], b.metrics[cols])
    calls = []

    def locked(*a, **k):
        calls.append(1)
        raise RuntimeError("x is being computed by another process (lock held)")

    monkeypatch.setattr(collection, "train_specs", locked)
    again = paper.train_requests(reqs, tmp_path / "c", poll_s=0.0)
    assert len(calls) == 1 and all((r.run_dir / "DONE").exists() for r in again)


# --- aggregation ---------------------------------------------------------------------------


def _episodes():
    rows = []
    for row, gdp in (("a", (1.0, 3.0)), ("b", (10.0, 30.0))):
        for seed, g in enumerate(gdp):
            for ep in range(2):  # two episodes per seed: g - 0.5 and g + 0.5
                rows.append(
                    {
                        "row": row,
                        "label": row.upper(),
                        "setting": "S",
                        "seed": seed,
                        "episode": ep,
                        "per_capita_gdp": g + (ep - 0.5),
                        "social_welfare": 1.0,
                        "income_gini": 0.5,
                        "wealth_gini": 0.2 * (seed + 1),
                        "years": 300,
                    }
                )
    return pd.DataFrame(rows)


def test_summary_averages_episodes_within_a_seed_then_across_seeds():
    s = agg.summarise_cells(_episodes()).set_index("row")
    m, lo, hi = seed_interval([1.0, 3.0], "per_capita_gdp")  # 2 [0.4, 10] on the log scale
    assert s.loc["a", "per_capita_gdp"] == pytest.approx(2.0)
    assert (s.loc["a", "per_capita_gdp_lo"], s.loc["a", "per_capita_gdp_hi"]) == (lo, hi)
    assert 0 < lo < 2 < hi  # the ordinary t-interval, 2 +- 12.7, would reach below 0
    assert s.loc["a", "per_capita_gdp_median"] == 2.0 and s.loc["a", "per_capita_gdp_max"] == 3
    assert s.loc["a", "n_seeds"] == 2 and s.loc["a", "label"] == "A"
    assert s.loc["a", "years"] == s.loc["a", "years_lo"] == s.loc["a", "years_hi"] == 300
    note = agg.interval_note(s.reset_index())
    assert note.startswith("95% intervals across 2 seeds, each within its range")
    assert "per-capita GDP: t-interval on the log scale" in note
    assert "years: t-interval on the log scale (horizon unknown" in note  # no horizon column
    s300 = agg.summarise_cells(_episodes().assign(horizon=300)).set_index("row")
    assert s300.loc["a", "horizon"] == 300
    assert "years / T (T = 300)" in agg.interval_note(s300)
    assert agg.format_interval(2.0, lo, hi) == f"2 [{lo:.3g}, {hi:.3g}]"
    assert agg.format_interval(2.0, math.nan, math.nan) == "2"
    assert agg.format_interval(math.inf, math.nan, math.nan) == "inf"
    assert agg.format_interval(-math.inf, math.nan, math.nan) == "-inf"
    assert agg.format_interval(math.nan, math.nan, math.nan) == "n/a"


def test_multi_objective_has_both_signs():
    mo = agg.multi_objective(_episodes(), alphas=(0.0, 10.0), keys=("label", "setting"))
    a = mo[mo.label == "A"].set_index(["sign", "alpha"])["mean"]
    base = np.mean(np.log([1.0, 3.0]))
    gini = np.mean([0.2, 0.4])
    assert a[1, 0.0] == pytest.approx(base) and a[-1, 0.0] == pytest.approx(base)
    assert a[1, 10.0] == pytest.approx(base + 10 * gini)
    assert a[-1, 10.0] == pytest.approx(base - 10 * gini)
    assert set(mo.objective) == {"paper: log GDP + alpha Gini", "equality: log GDP - alpha Gini"}


def test_paper_notes_and_headline_ratios():
    assert agg.paper_note(1.4e5, 1.41e5, 1, 1) == "same order"
    assert agg.paper_note(1.4e5, 1e13, 1, 300).startswith("ours ends in year 1")
    assert agg.paper_note(1e13, 1.4e5, 300, 1).startswith("the paper's ends in year 1")
    assert agg.paper_note(1.0, math.nan, 1, 1) == "no paper value"
    summary = pd.DataFrame(
        {
            "row": ["smfrl", "saez", "us-federal-2022"],
            "label": ["SMFG", "Saez", "US Federal"],
            "paper_row": ["SMFG", "Saez", "US Federal"],
            "setting": "N=100",
            "per_capita_gdp": [8.0, 2.0, 0.5],
        }
    )
    r = agg.headline_ratios(summary, PAPER_VALUES["table3"]).set_index("ratio")
    assert r.loc["SMFG / Saez", "ours"] == 4.0
    assert r.loc["SMFG / Saez", "paper"] == pytest.approx(1.01e13 / 2.34e12)
    assert r.loc["SMFG / US Federal", "paper"] == pytest.approx(1.01e13 / 4.88e11)


def test_fixed_references_are_the_fixed_rows_means_by_metric():
    rows = (
        Row("smfrl", "SMFG", algo="smfrl"),  # learned: no line
        Row("free-market", "Free Market", government="free-market"),
        Row("later", "Later", algo="not-registered", government="saez"),  # its fallback draws
        Row("gone", "Gone", algo="not-registered"),  # missing: no line
    )
    summary = pd.DataFrame(
        {
            "row": ["smfrl", "free-market", "later", "gone", "free-market"],
            "label": ["SMFG", "Free Market", "Later", "Gone", "Free Market"],
            "setting": ["N=100", "N=100", "N=100", "N=100", "N=1000"],
            "per_capita_gdp": [9.0, 1.0, 2.0, 3.0, 4.0],
            "years": [300.0, 1.0, 2.0, 3.0, 5.0],
            "income_gini": 0.5,
        }
    )
    refs = agg.fixed_references(summary, rows, ("per_capita_gdp", "years"))
    assert list(refs.columns) == ["setting", "label", "metric", "mean"]
    got = {(r.setting, r.label, r.metric): r.mean for r in refs.itertuples()}
    assert got == {
        ("N=100", "Free Market", "per_capita_gdp"): 1.0,
        ("N=100", "Later", "per_capita_gdp"): 2.0,
        ("N=1000", "Free Market", "per_capita_gdp"): 4.0,
        ("N=100", "Free Market", "years"): 1.0,
        ("N=100", "Later", "years"): 2.0,
        ("N=1000", "Free Market", "years"): 5.0,
    }
    assert agg.fixed_references(summary, rows[:1], ("years",)).empty


# --- mixed populations ---------------------------------------------------------------------


def test_mixed_households_and_group_means():
    k, n = 7, 20
    mixed = MixedHouseholds(FixedShares(0.9, 0.6), FixedShares(0.8, 0.3), k)
    means = GroupMeans({"first": range(k), "rest": range(k, n)})
    ev = evaluate(
        FreeMarket(),
        mixed,
        variant="clearing",
        n_households=n,
        n_episodes=2,
        seeds=(0,),
        steps=5,
        on_step=means,
    )
    t = means.table().set_index(["economy", "group", "quantity"]).value
    for e in range(2):
        assert t[e, "first", "saving_share"] == pytest.approx(0.9)
        assert t[e, "rest", "work_share"] == pytest.approx(0.3)
    assert (ev.episodes.years == 5).all()
    with pytest.raises(ValueError, match="k"):
        MixedHouseholds(FixedShares(0.9, 0.6), FixedShares(0.8, 0.3), -1)


def test_cloned_households_act_like_the_bc_follower():
    from smfg.algos.bc import free_market_u, pretrained_follower
    from smfg.algos.core import follower_env_action, signed_log
    from smfg.config import economy_params
    from smfg.env import SMFGEnv

    env = SMFGEnv(economy_params("taxai"), 20, n_envs=2, seed=0, dtype="float32")
    obs = env.reset()
    pol = ClonedHouseholds("taxai", epochs=1, seed=0)
    pol.reset(env)
    got = pol(obs, None)
    actor, norm = pretrained_follower("taxai", epochs=1, seed=0)
    with torch.no_grad():
        u = actor(norm(signed_log(obs.households.float())), free_market_u().expand(2, 1, 5))
    assert torch.allclose(got, follower_env_action(u))
    assert got.shape == (2, 20, 2) and got.min() >= 0 and got.max() <= 1


def test_household_share_and_bc_losses_are_cached(tmp_path, monkeypatch):
    out = paper.household_share(
        "smoke",
        root=tmp_path,
        shares=(0.0, 1.0),
        seeds=(0,),
        n_households=20,
        progress=None,
        **TINY,
    )
    g = out["groups"]
    assert set(g[g.share == 0.0].group) == {"real-data (BC)"}  # no SMFG household at 0%
    assert set(g[g.share == 1.0].group) == {"SMFG"}
    assert len(out["episodes"]) == 2 * paper.ARTEFACT_PROFILES["smoke"].episodes
    losses = paper.bc_losses("smoke", root=tmp_path, epochs=1, progress=None)
    assert set(losses.network) == {
        "mlp_gaussian",
        "lstm_gaussian",
        "follower_actor",
        "maddpg_actor",
    }
    assert set(losses.split) == {"train", "validation"} and set(losses.epoch) == {0, 1}
    monkeypatch.setattr("smfg.algos.bc.train_all", lambda *a, **k: 1 / 0)
    again = paper.bc_losses("smoke", root=tmp_path, epochs=1, progress=None)
    pd.testing.assert_frame_equal(again, losses)


def test_leader_reward_weights_reach_every_trainer_and_only_with_weighted():
    """The a1-a3 notebook parameter: a string or a sequence, validated, sent to the runs only
    with the 'weighted' reward (so a 'gdp' run stays the same run whatever the weights), and
    handed by each algorithm's config to its training and evaluation economies."""
    assert with_reward({}, "gdp", "2,0,1") == {}
    assert with_reward({}, "welfare", (2, 0, 1)) == {"leader_reward": "welfare"}
    got = with_reward({}, "weighted", "2,0,1")
    assert got == {"leader_reward": "weighted", "leader_reward_weights": (2.0, 0.0, 1.0)}
    with pytest.raises(ValueError, match="leader_reward_weights"):
        with_reward({}, "weighted", "2,0")
    from smfg.runs.train import make_trainer, run_spec

    for algo in ALGORITHMS:
        spec = run_spec(algo, "smoke", variant="taxai", n_households=20, seed=0, **got)
        spec = json.loads(json.dumps(spec))  # as the run store keeps it: a list
        trainer = make_trainer(spec)
        assert trainer.cfg.leader_reward_weights == (2.0, 0.0, 1.0), algo
        envs = [
            e
            for e in (getattr(trainer, "env", None), getattr(trainer, "eval_env", None))
            if e is not None
        ]
        assert envs, algo
        for env in envs:
            assert env.leader_reward_name == "weighted", algo
            assert env.reward_weights == (2.0, 0.0, 1.0), algo


def test_compare_leaders_puts_every_leader_against_the_same_households(tmp_path):
    """Both populations: within one, the fixed and the learned leader see the same
    households; against the reference run's own followers the SMFRL row is its own run's
    evaluation; the page's train overrides reach the algorithms that have the field."""
    exp = Experiment(
        "tiny",
        "Test",
        "tiny",
        variant="clearing",
        settings=SMALL,
        rows=(
            Row("free-market", "Free Market", government="free-market", households="bc"),
            Row("smfrl", "SMFG", algo="smfrl", bc=True),
        ),
        train_overrides=(
            ("*", "bc_follower_lr", 0.0),
            ("*", "no_such_field", 1),
            ("ppo", "epochs", 99),
        ),
    )
    assert exp.overrides_for("smfrl", {}) == {"bc_follower_lr": 0.0}
    assert exp.overrides_for("smfrl", {"bc_follower_lr": 1e-3}) == {"bc_follower_lr": 1e-3}
    assert exp.overrides_for("ppo", {}) == {"epochs": 99}  # PPO has no follower lr
    c = paper.compare_leaders(
        exp,
        "smoke",
        root=tmp_path,
        seeds=2,
        progress=None,
        noise_std=0.0,
        leader_reward="welfare_ce",
        populations=("clone", "learned"),
        **TINY,
    )
    assert set(c.episodes.followers) == {"clone", "learned"}
    assert len(c.episodes) == 2 * 2 * 2 * 2  # populations x rows x seeds x episodes
    assert (c.episodes[c.episodes.followers == "learned"].followers_run != "").all()
    # frozen followers (the page's override): learned and clone are the same households
    ep = c.episodes.set_index(["followers", "row", "seed", "episode"]).sort_index()
    a = ep.loc["clone"].per_capita_gdp.to_numpy()
    b = ep.loc["learned"].per_capita_gdp.to_numpy()
    assert np.allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match=r"populations = \['aliens'\]"):
        paper.compare_leaders(exp, "smoke", root=tmp_path, populations=("aliens",))


@pytest.mark.slow
def test_exact_households_answer_each_leader_and_the_verdict_pairs_the_seeds(tmp_path):
    """The exact population: each fixed leader's households play their best response to it
    (US 2022's exactly its brackets), so two leaders' households differ; the run is cached
    (a second call computes nothing); the verdict compares the learned leader seed by seed."""
    exp = Experiment(
        "tiny",
        "Test",
        "tiny",
        variant="clearing",
        settings=(Setting("N=20", 20, True),),
        rows=(
            Row("free-market", "Free Market", government="free-market", households="bc"),
            Row("us-federal-2022", "US Federal", government="us-federal-2022", households="bc"),
            Row("smfrl", "SMFG", algo="smfrl", bc=True),
        ),
    )
    kw = dict(root=tmp_path, seeds=1, noise_std=0.0, leader_reward="output", **TINY)
    c = paper.compare_leaders(exp, "smoke", progress=None, populations=("exact",), **kw)
    ep = c.episodes
    assert {"free-market", "us-federal-2022"} <= set(ep.row) and set(ep.followers) == {"exact"}
    assert np.isfinite(ep.per_capita_gdp).all() and (ep.years > 0).all()
    fm, us = (ep[ep.row == r].per_capita_gdp.mean() for r in ("free-market", "us-federal-2022"))
    assert fm != us  # different leaders, different best responses
    lines = []
    again = paper.compare_leaders(exp, "smoke", progress=lines.append, populations=("exact",), **kw)
    assert again.episodes.equals(ep) and not any("trained" in x for x in lines)
    # taxai has no prices to take as given: the exact population is dropped there
    t = paper.compare_leaders(
        Experiment("t", "T", "t", variant="taxai", settings=SMALL, rows=exp.rows[:1]),
        "smoke",
        root=tmp_path,
        seeds=1,
        progress=None,
        populations=("clone", "exact"),
    )
    assert set(t.episodes.followers) == {"clone"}


def test_verdict_table_pairs_each_seed_with_the_fixed_leaders():
    ep = pd.DataFrame(
        {
            "objective": "output",
            "followers": "exact",
            "setting": "N=100",
            "row": ["free-market", "saez", "smfrl"] * 2,
            "label": ["FM", "Saez", "S"] * 2,
            "seed": [0, 0, 0, 1, 1, 1],
            "per_capita_gdp": [1.0, 2.0, 4.0, 1.0, 3.0, 3.0],
            "welfare_ce": [1.0, 1.1, 1.2, 1.0, 1.3, 1.2],
            "income_gini": 0.3,
            "wealth_gini": 0.5,
            "years": 300,
            "leader_return": [1.0, 2.0, 5.0, 1.0, 3.0, 4.0],
        }
    )
    v = agg.verdict_table(ep).set_index("against")
    assert list(v.index) == ["saez"]  # US 2022 and the best E6 point were not run
    assert math.isclose(v.loc["saez", "output_ratio"], (2.0 + 1.0) / 2)  # 4/2 and 3/3
    assert abs(v.loc["saez", "welfare_diff_pct"]) < 1e-9  # +10 and -10 points
    assert math.isclose(v.loc["saez", "objective_diff"], (3.0 + 1.0) / 2)
    facts = agg.verdict_facts(v.reset_index())
    assert facts["vd_setting"] == "N=100" and facts["vd_output_saez"].startswith("1.5")
    assert facts["vd_output_us"] == "n/a" and facts["vd_welfare_ce_saez"] == "n/a"
    assert len(agg.format_verdict_table(v.reset_index())) == 1


def test_leader_table_compares_each_seed_with_its_own_free_market():
    ep = pd.DataFrame(
        {
            "row": ["free-market", "free-market", "smfrl", "smfrl"],
            "label": ["FM", "FM", "S", "S"],
            "seed": [0, 1, 0, 1],
            "per_capita_gdp": [1.0, 2.0, 3.0, 4.0],
            "welfare_ce": [1.0, 2.0, 1.5, 2.2],
            "income_gini": 0.3,
            "wealth_gini": 0.5,
            "years": 300,
            "leader_return": [10.0, 20.0, 12.0, 23.0],
        }
    )
    t = agg.leader_table(ep).set_index("row")
    assert t.loc["free-market", "welfare_ce_pct"] == 0.0
    assert math.isclose(t.loc["smfrl", "welfare_ce_pct"], (50.0 + 10.0) / 2)  # +50%, +10%
    assert t.loc["smfrl", "n_seeds"] == 2
    mean, lo, hi = agg.paired_gain(ep, "smfrl", "free-market", "leader_return")
    assert mean == 2.5 and lo < 2.5 < hi  # gains of 2 and 3
    shown = agg.format_leader_table(t.reset_index())
    assert list(shown.columns)[1:4] == [
        "output per household ($)",
        "output per household ($): median [range]",
        "welfare, CE % vs free market",
    ]
    assert shown.iloc[1, 2] == "3.5 [3, 4]"  # SMFRL's seeds: 3 and 4
    note = agg.interval_note(t.reset_index(), agg.LEADER_TABLE_METRICS)
    assert note.startswith("95% intervals across 2 seeds") and "median [smallest" in note


def test_every_page_can_say_its_followers_learning_rate():
    assert "smfrl 1e-06" in paper.follower_rates("table1_algorithms", "paper")
    assert "ddpg 0 (frozen)" in paper.follower_rates("table1_algorithms", "quick")
    assert "smfrl 0.0001" in paper.follower_rates("clearing_policies", "quick")


def test_compare_objectives_stacks_one_comparison_per_objective(monkeypatch):
    """Each objective's compare_leaders, with the same arguments and its own leader reward,
    one below the other and tagged; the runs too, and the seconds add up."""
    calls = []

    def fake(experiment, profile, leader_reward=None, **kwargs):
        calls.append((experiment, profile, leader_reward, kwargs))
        k = len(calls)
        return collection.Collected(
            experiment=get_experiment("clearing_policies"),
            profile=profile,
            variant="clearing",
            episodes=pd.DataFrame({"row": ["saez", "smfrl"], "per_capita_gdp": [k, 10.0 * k]}),
            runs=pd.DataFrame({"row": ["smfrl"], "run_dir": [f"runs/{leader_reward}"]}),
            seconds=float(k),
        )

    monkeypatch.setattr(comparison, "compare_leaders", fake)
    c = comparison.compare_objectives(
        "clearing_policies", "quick", ["output", "welfare_ce"], sizes=[100]
    )
    assert [(a[1], a[2], a[3]) for a in calls] == [
        ("quick", "output", {"sizes": [100]}),
        ("quick", "welfare_ce", {"sizes": [100]}),
    ]
    assert list(c.episodes.objective) == ["output", "output", "welfare_ce", "welfare_ce"]
    assert list(c.episodes.per_capita_gdp) == [1.0, 10.0, 2.0, 20.0]
    assert list(c.episodes.index) == [0, 1, 2, 3]
    assert list(c.runs.run_dir) == ["runs/output", "runs/welfare_ce"]
    assert list(c.runs.objective) == ["output", "welfare_ce"]
    assert c.seconds == 3.0 and c.variant == "clearing"
    with pytest.raises(ValueError, match=r"objectives = \[\]"):
        comparison.compare_objectives("clearing_policies", "quick", [])
    with pytest.raises(ValueError, match="rather than as leader_reward"):
        comparison.compare_objectives("clearing_policies", "quick", ["output"], leader_reward="gdp")


def test_training_epochs_are_each_rows_longest_run(tmp_path):
    def run(name: str, epochs: int) -> str:
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.csv").write_text("epoch\n" + "".join(f"{e}\n" for e in range(epochs)))
        return str(d)

    runs = pd.DataFrame(
        {
            "row": ["smfrl", "smfrl", "ppo-bc", "ppo", "free-market"],
            "run_dir": [run("a", 3), run("b", 5), run("c", 2), run("d", 9), ""],
        }
    )
    # the AI Economist without BC (row 'ppo') is not a row the page reports
    assert paper.training_epochs(runs) == {"smfrl": 5, "ppo": 2}
    assert paper.training_epochs(runs[runs.row != "ppo-bc"]) == {"smfrl": 5}
    assert paper.training_epochs(runs, {"ppo": "ppo"}) == {"ppo": 9}


def test_select_episodes_is_one_objective_against_one_population():
    episodes = pd.DataFrame(
        {
            "objective": ["output", "output", "output", "welfare_ce"],
            "followers": ["learned", "clone", "learned", "learned"],
            "seed": [0, 0, 1, 0],
        }
    )
    sel = paper.select_episodes(episodes, "output")
    assert list(sel.index) == [0, 2] and list(sel.seed) == [0, 1]
    assert list(paper.select_episodes(episodes, "output", followers="clone").index) == [1]
    assert list(paper.select_episodes(episodes, "welfare_ce").index) == [3]
    with pytest.raises(ValueError, match=r"objective = 'gdp': allowed \['output', 'welfare_ce'\]"):
        paper.select_episodes(episodes, "gdp")
    with pytest.raises(ValueError, match=r"followers = 'exact'"):
        paper.select_episodes(episodes, "output", followers="exact")
