"""Certified learning curves: a `clearing` run's exploitability, leader's gap and years,
certified every few epochs into its metrics, resumable, read back and plotted."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from smfg.algos.smfrl import smfrl_config
from smfg.paper import curves as cc
from smfg.paper.aggregate import curve_summary
from smfg.plotting import plot_certified_curves, save_figure
from smfg.runs.certify import certify_run
from smfg.runs.curves import CURVE_METRICS, certified_curves, certify_point
from smfg.runs.seeds import train_seeds
from smfg.runs.train import run_spec, train

#: a tiny certification: 60 x 3 grid, one leader grid point, a window from year 10
SMALL = dict(na=60, ne=3, grid_points=1, grid_na=60, burn_in=10)
RUN = dict(variant="clearing", n_households=20, seed=0, epochs=2, certify_settings=SMALL)
#: columns that measure time, not results
CLOCKS = ["wall_time_s", "train_s", "eval_s", "cert_s"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_the_exploitability_curve_resumes_with_the_run(tmp_path):
    """Two epochs straight equal one epoch, a kill and a resume (every metric, cert_* too,
    bit for bit); each epoch carries its certification; certifying draws nothing from the
    run's generators (the same training without it ends with the same policy); the last
    point is what `smfg certify` reports for the finished run with the same settings (its
    followers; the leader's grid is left out there, where it would add a row of its own)."""
    straight = train("smfrl", "smoke", root=tmp_path / "a", certify_every=1, **RUN)
    m = straight.metrics
    assert list(m.epoch) == [1, 2]
    assert set(CURVE_METRICS) <= set(m.columns)
    assert (m.cert_years >= 30).all()  # long enough to certify the followers
    assert m[[c for c in CURVE_METRICS if c != "cert_leader_gap"]].notna().all().all()
    assert m.cert_leader_gap.notna().all() and (m.cert_s > 0).all()
    assert ((m.cert_loss_median_pct >= 0) & (m.cert_loss_median_pct < 100)).all()

    first = train("smfrl", "smoke", root=tmp_path / "b", certify_every=1, stop_after=1, **RUN)
    assert not first.done and len(first.metrics) == 1
    resumed = train("smfrl", "smoke", root=tmp_path / "b", certify_every=1, **RUN)
    assert resumed.resumed_from == 1 and resumed.done
    assert m.drop(columns=CLOCKS).equals(resumed.metrics.drop(columns=CLOCKS))
    assert resumed.metrics.cert_s.iloc[0] == first.metrics.cert_s.iloc[0]  # kept, not redone

    plain = {k: v for k, v in RUN.items() if k != "certify_settings"}
    bare = train("smfrl", "smoke", root=tmp_path / "c", **plain)
    assert not any(c.startswith("cert_") for c in bare.metrics.columns)
    shared = [c for c in bare.metrics.columns if c not in CLOCKS]
    assert bare.metrics[shared].equals(m[shared])
    a, b = straight.policy_state, bare.policy_state
    for k in ("actor_l", "actor_f"):
        assert all(torch.equal(a[k][n], b[k][n]) for n in a[k]), k

    out = certify_run(straight.run_dir, cache=False, **dict(SMALL, leader=False))
    last = m.iloc[-1]
    assert out["followers"]["cev_median_pct"] == last.cert_cev_median_pct
    assert out["followers"]["loss_median_pct"] == last.cert_loss_median_pct
    assert out["episode"]["leader_return"] == last.cert_leader_return
    assert out["episode"]["years"] == last.cert_years


def test_epochs_between_certifications_hold_nan_and_are_read_back(tmp_path):
    """certify_every = 2 over 3 epochs: epoch 2 is certified, 1 and 3 hold NaN;
    certified_curves keeps the certified epochs, tidy, with the run's algo and seed."""
    run = dict(RUN, epochs=3, certify_settings=dict(SMALL, leader=False))
    res = train("smfrl", "smoke", root=tmp_path, certify_every=2, **run)
    m = res.metrics
    assert m.cert_years.notna().tolist() == [False, True, False]
    assert m.cert_leader_gap.isna().all()  # no leader grid asked
    curves = certified_curves([res, res.run_dir])
    assert list(curves.columns[:5]) == ["algo", "seed", "n_households", "epoch", "run_dir"]
    assert len(curves) == 2 and (curves.epoch == 2).all() and (curves.algo == "smfrl").all()
    assert curves.cert_years.iloc[0] == m.cert_years.iloc[1]
    bare = train("smfrl", "smoke", root=tmp_path, variant="clearing", n_households=20, epochs=1)
    with pytest.raises(ValueError, match="trained without certify_every"):
        certified_curves([bare])


def test_batched_seeds_certify_each_seed(tmp_path):
    """Seeds trained as one batch certify each seed's own policies into its run."""
    settings = dict(SMALL, leader=False)
    run = {k: v for k, v in RUN.items() if k != "seed"} | {"certify_settings": settings}
    results = train_seeds("smfrl", "smoke", seeds=(0, 1), root=tmp_path, certify_every=2, **run)
    for res in results:
        last = res.metrics.iloc[-1]
        assert res.metrics.cert_years.notna().tolist() == [False, True]
        again = certify_point(res.policy_state, settings)
        assert math.isnan(last.cert_leader_gap)  # no leader grid asked
        for k in CURVE_METRICS:
            if k != "cert_s":
                assert np.array_equal(again[k], last[k], equal_nan=True), k


def test_bad_certification_settings_are_refused():
    with pytest.raises(ValueError, match=r"certify_every = 'x' is out of range: allowed an int"):
        smfrl_config("smoke", variant="clearing", certify_every="x")
    with pytest.raises(ValueError, match=r"certify_every = 2 is out of range: allowed 0 in 'tax"):
        smfrl_config("smoke", variant="taxai", certify_every=2)
    with pytest.raises(ValueError, match=r"certify_settings = \{'na': 60\} is out of range"):
        smfrl_config("smoke", variant="clearing", certify_settings={"na": 60})
    with pytest.raises(ValueError, match=r"certify_settings = \{'grid': 3\}: certify settings"):
        run_spec("ppo", "smoke", variant="clearing", certify_every=1, certify_settings={"grid": 3})
    with pytest.raises(ValueError, match=r"certify setting na = 2: allowed a larger integer"):
        run_spec("ppo", "smoke", variant="clearing", certify_every=1, certify_settings={"na": 2})


def test_specs_without_curves_keep_their_hash():
    """The curve's fields stay out of a spec at their defaults (cached runs keep their
    directories) and enter it otherwise."""
    spec = run_spec("ppo", "smoke", variant="clearing")
    assert "certify_every" not in spec and "certify_settings" not in spec
    spec = run_spec("ppo", "smoke", variant="clearing", certify_every=5)
    assert spec["certify_every"] == 5 and "certify_settings" not in spec


# --- reading and plotting (synthetic tables) ------------------------------------------------


def _synthetic_curves() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for algo, scale in (("smfrl", 1.0), ("ppo", 3.0)):
        for seed in range(3):
            for epoch in (5, 10, 15, 20):
                rows.append(
                    {
                        "algo": algo,
                        "seed": seed,
                        "n_households": 100,
                        "epoch": epoch,
                        "run_dir": f"{algo}-{seed}",
                        "cert_cev_median_pct": scale * 50 / epoch + rng.uniform(0, 1),
                        "cert_cev_mean_pct": math.inf,
                        "cert_loss_median_pct": 10.0 / epoch,
                        "cert_leader_gap": scale * (20 - epoch) + rng.normal(),
                        "cert_leader_return": 100.0 - epoch,
                        "cert_years": min(300.0, 60.0 * epoch / 5 + seed),
                        "cert_s": 2.0,
                    }
                )
    return pd.DataFrame(rows)


def test_certified_curves_plot_one_line_and_band_per_algorithm(tmp_path):
    curves = _synthetic_curves()
    metrics = ("cert_cev_median_pct", "cert_leader_gap", "cert_years")
    summary = curve_summary(curves, metrics, keys=("algo",))
    assert len(summary) == 2 * 4 * 3 and (summary.n_seeds == 3).all()
    assert ((summary.lo <= summary["mean"]) & (summary["mean"] <= summary.hi)).all()
    fig = plot_certified_curves(summary)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if ln.get_label() in ("smfrl", "ppo")]
        assert [ln.get_label() for ln in lines] == ["smfrl", "ppo"]
        assert len(ax.collections) == 2  # one band per algorithm
        for ln, band in zip(lines, ax.collections, strict=True):
            x, y = ln.get_xdata(), ln.get_ydata()
            assert list(x) == [5, 10, 15, 20]
            verts = band.get_paths()[0].vertices
            for xi, yi in zip(x, y, strict=True):
                ys = verts[np.isclose(verts[:, 0], xi), 1]
                assert ys.min() <= yi <= ys.max()  # the band contains the mean
    assert fig.axes[0].get_yscale() == "symlog"
    assert fig.axes[2].get_ylabel() == "years (certification episode)"
    assert fig.axes[0].get_title() == "Followers' exploitability"
    png, svg = save_figure(fig, "certified", tmp_path)
    assert png.stat().st_size > 1000 and "smfrl" in svg.read_text()
    # an infinite mean (some seed's gain is infinite) leaves a gap, not an error
    inf = curve_summary(curves, ("cert_cev_mean_pct",), keys=("algo",))
    fig = plot_certified_curves(inf, ("cert_cev_mean_pct",))
    assert np.isnan(fig.axes[0].get_lines()[0].get_ydata()).all()
    assert len(plot_certified_curves(summary.iloc[:0]).axes) == 3


def test_certified_table_takes_each_runs_last_point_and_the_facts_judge_the_targets():
    rows = []
    for label, cevs, rets in (
        ("SMFRL (nash)", (40.0, 3.0), (100.0, 95.0)),
        ("SMFRL (stackelberg)", (30.0, 8.0), (100.0, 99.0)),
    ):
        for seed, (cev_last, ret_last) in enumerate(zip(cevs, rets, strict=True)):
            for epoch, cev, ret in ((5, 500.0, 10.0), (10, cev_last, ret_last)):
                rows.append(
                    {
                        "label": label,
                        "seed": seed,
                        "epoch": epoch,
                        "run_dir": f"{label}-{seed}",
                        "cert_cev_median_pct": cev,
                        "cert_loss_median_pct": cev / 2,
                        "cert_saving_gap": -0.1,
                        "cert_leader_return": ret,
                        "cert_leader_gap": 100.0 - ret,
                        "cert_years": 300.0,
                    }
                )
    curves = pd.DataFrame(rows)
    curves["cert_best_return"] = curves.cert_leader_return + curves.cert_leader_gap
    curves["cert_leader_gap_pct"] = 100.0 * curves.cert_leader_gap / curves.cert_best_return
    t = cc.certified_table(curves).set_index("label")
    assert (t.epoch == 10).all() and (t.seeds == 2).all()  # the last point of each run
    assert t.loc["SMFRL (nash)", "cert_cev_median_pct"] == (40.0 + 3.0) / 2
    assert t.loc["SMFRL (nash)", "cev_median_by_seed"] == "40, 3"
    assert t.loc["SMFRL (stackelberg)", "cert_leader_gap_pct"] == (0.0 + 1.0) / 2
    f = cc.curve_facts(t.reset_index())
    assert f["cc_nash_cev_ok"] == "misses" and f["cc_stack_gap_ok"] == "meets"
    # with the runs' like-for-like gaps (best-responding households), those judge the leader
    runs = pd.DataFrame(
        {
            "run_dir": [f"SMFRL (stackelberg)-{k}" for k in (0, 1)],
            "final_br_gap_pct": [30.0, 50.0],
            "final_saving_gap": -0.1,
        }
    )
    t2 = cc.certified_table(curves, runs=runs).set_index("label")
    assert t2.loc["SMFRL (stackelberg)", "br_gap_pct"] == 40.0
    assert cc.curve_facts(t2.reset_index())["cc_stack_gap_ok"] == "misses"
    assert cc.curve_facts(t2.reset_index())["cc_stack_policy"] == "n/a"  # runs without them
    # the finished leaders' policies and the best grid points, each distinct one once, by seed
    corner = {"tau": 2e-4, "xi": 5e-5, "tau_a": 2e-4, "xi_a": 5e-5, "g": 3e-4}
    best = {"policy": "tau=0.198 xi=5e-05 g=0.1487", "tau": 0.198, "xi": 5e-5, "g": 0.14865}
    assert cc.policy_name(corner) == "tau=0.0002 xi=5e-05 tau_a=0.0002 xi_a=5e-05 g=0.0003"
    assert cc.policy_name(best) == "tau=0.198 xi=5e-05 g=0.149"
    runs = runs.assign(
        seed=[1, 0],
        final_policy=[cc.policy_name(corner), cc.policy_name({**corner, "g": 0.1})],
        final_best_policy=cc.policy_name(best),
    )
    f2 = cc.curve_facts(cc.certified_table(curves, runs=runs))
    assert f2["cc_stack_policy"] == (
        "tau=0.0002 xi=5e-05 tau_a=0.0002 xi_a=5e-05 g=0.1; "
        "tau=0.0002 xi=5e-05 tau_a=0.0002 xi_a=5e-05 g=0.0003"
    )
    assert f2["cc_best_policy"] == "tau=0.198 xi=5e-05 g=0.149"
    assert f2["cc_nash_policy"] == "n/a"  # no runs of that row: no policy
    assert f["cc_better_gradient"] == "stackelberg" and f["cc_epoch"] == "10"
    assert cc.curve_facts(t.reset_index().iloc[:0])["cc_nash_cev"] == "n/a"
    # a last certification without a best response (NaN figures, cert_converged 0) is a miss
    curves["cert_converged"] = 1.0
    lost = (curves.run_dir == "SMFRL (nash)-1") & (curves.epoch == 10)
    curves.loc[lost, ["cert_cev_median_pct", "cert_converged"]] = [math.nan, 0.0]
    t3 = cc.certified_table(curves).set_index("label")
    assert t3.loc["SMFRL (nash)", "uncertified"] == 1
    assert t3.loc["SMFRL (nash)", "cert_cev_median_pct"] == math.inf
    assert t3.loc["SMFRL (stackelberg)", "uncertified"] == 0
    assert cc.curve_facts(t3.reset_index())["cc_nash_cev_ok"] == "misses"


def test_a_certification_without_a_best_response_certifies_nothing(monkeypatch):
    """Where the best response did not converge (a collapsed economy's prices), the followers'
    figures are NaN and ``cert_converged`` is 0, not a comparison with an unfound optimum."""
    import smfg.runs.curves as rc

    def fake(*args, **kwargs):
        fol = {"cev_median_pct": -9.5, "cev_mean_pct": -9.8, "loss_median_pct": -14.6}
        fol |= {"saving_gap_mean": -0.15, "best_response_converged": False}
        return {"followers": fol, "episode": {"leader_return": 1.0, "years": 300}}

    monkeypatch.setattr(rc, "certify_policies", fake)
    monkeypatch.setattr(
        rc, "learned_policy", lambda *a, **k: type("P", (), dict(leader=0, followers=0))
    )
    cfg = {"variant": "clearing", "n_households": 20, "seed": 0}
    got = rc.certify_point({"config": cfg}, dict(SMALL, leader=False))
    assert got["cert_converged"] == 0.0 and got["cert_years"] == 300.0
    for k in ("cert_cev_median_pct", "cert_cev_mean_pct", "cert_loss_median_pct"):
        assert math.isnan(got[k]), k
    assert math.isnan(got["cert_saving_gap"])

    def fake_ok(*args, **kwargs):
        out = fake()
        out["followers"]["best_response_converged"] = True
        return out

    monkeypatch.setattr(rc, "certify_policies", fake_ok)
    got = rc.certify_point({"config": cfg}, dict(SMALL, leader=False))
    assert got["cert_converged"] == 1.0 and got["cert_cev_median_pct"] == -9.5


def test_the_certified_page_sweeps_the_runs_it_trains():
    from smfg.paper.specs import CERTIFIED_PAGE, experiment_specs

    reqs = cc.certified_requests("smoke")
    assert len(reqs) == len(cc.CURVE_ROWS) * 2  # rows x the smoke profile's seeds
    specs = experiment_specs(CERTIFIED_PAGE, "smoke")
    assert specs == [r.spec() for _, r in reqs]
    grads = {dict(r.overrides).get("leader_gradient") for _, r in reqs if r.algo == "smfrl"}
    assert grads == {"nash", "stackelberg"}
    assert all(dict(r.overrides)["certify_every"] == 1 for _, r in reqs)


def test_rows_differ_by_the_algorithm_and_the_solving_settings():
    from smfg.algos.offpolicy import STABLE_LEADER
    from smfg.algos.smfrl import SOLVING

    rows = {label: dict(over) for label, (_, over) in cc.CURVE_ROWS.items()}
    assert "leader_trust" not in rows[cc.ORIGINAL]  # the original's settings, unchanged
    for label in ("SMFRL (nash)", "SMFRL (stackelberg)"):
        assert {k: rows[label][k] for k in dict(SOLVING)} == dict(SOLVING)
    for label in ("DDPG", "MF-MARL"):  # the baselines' leaders are the same stable leader
        assert {k: rows[label][k] for k in dict(STABLE_LEADER)} == dict(STABLE_LEADER)


def test_leader_actions_read_the_metrics_in_e1_units(tmp_path):
    from smfg.config import economy_params

    p = economy_params("clearing")
    for seed, c in ((0, 0.1), (1, 0.3)):
        d = tmp_path / f"run{seed}"
        d.mkdir()
        pd.DataFrame({"epoch": [1, 2], **{f"leader_c{k}": [c, c / 2] for k in range(5)}}).to_csv(
            d / "metrics.csv", index=False
        )
    (tmp_path / "fixed").mkdir()  # a run without a learned leader has no such columns
    pd.DataFrame({"epoch": [1, 2]}).to_csv(tmp_path / "fixed" / "metrics.csv", index=False)
    dirs = [str(tmp_path / x) for x in ("run0", "run1", "fixed")]
    runs = pd.DataFrame({"label": ["A", "A", "B"], "seed": [0, 1, 0], "run_dir": dirs})
    a = cc.leader_actions(runs).set_index(["label", "epoch"])
    assert list(a.index) == [("A", 1), ("A", 2)]
    assert a.loc[("A", 1), "tau"] == pytest.approx(0.2 * p.tau_max)  # mean of 0.1 and 0.3
    assert a.loc[("A", 2), "g"] == pytest.approx(0.1 * p.g_max)
    assert list(cc.leader_actions(runs, epochs=[2]).epoch) == [2]


def test_start_gap_fact():
    start = pd.DataFrame({"seed": [0, 1, 2], "start_gap_pct": [10.0, 11.0, 12.0]})
    table = pd.DataFrame(columns=["label", "epoch"])
    f = cc.curve_facts(table, start=start)
    assert f["cc_start_gap"].startswith("11 [")
    assert "cc_start_gap" not in cc.curve_facts(table)


def test_the_leader_grid_is_read_once_per_seed_and_laid_out_by_tax_and_spending(
    tmp_path, monkeypatch
):
    import json

    calls = []

    def fake_certify_run(run_dir, **settings):
        calls.append((Path(run_dir).name, settings["grid_points"]))
        seed = int(Path(run_dir).name[-1])
        rows = [
            {"on_grid": True, "tau": t, "xi": 0.0, "g": g, "leader_return": ret + seed, "years": y}
            for t, g, ret, y in (
                (0.0, 0.0, 10.0, 300),
                (0.0, 0.1, -math.inf, 4),
                (0.2, 0.1, 12.0, 300),
            )
        ]
        rows.append({"on_grid": False, "tau": 0.0, "xi": 0.0, "g": 0.0, "leader_return": 9.0})
        return {"leader": {"rows": rows}}

    monkeypatch.setattr(cc, "certify_run", fake_certify_run)
    dirs = []
    for label, seed in (("A", 0), ("A", 1), ("B", 0), ("B", 1)):
        d = tmp_path / f"{label}{seed}"
        d.mkdir()
        spec = {"seed": seed, "certify_settings": {"grid_points": 2}}
        (d / "config.json").write_text(json.dumps({"spec": spec}))
        dirs.append((label, seed, str(d)))
    runs = pd.DataFrame(dirs, columns=["label", "seed", "run_dir"])
    grid = cc.leader_grid(runs)
    assert calls == [("A0", 2), ("A1", 2)]  # each seed's first run, with the run's settings
    assert len(grid) == 6 and sorted(set(grid.seed)) == [0, 1]  # on-grid points only
    land = cc.grid_landscape(grid)
    assert list(land.columns) == ["g=0", "g=0.1"]
    assert list(land.index) == ["tau=0 xi=0", "tau=0.2 xi=0"]
    assert land.loc["tau=0 xi=0", "g=0"] == 10.5  # the mean of the seeds' returns
    assert land.loc["tau=0 xi=0", "g=0.1"] == -math.inf  # an economy that did not last
    assert land.loc["tau=0.2 xi=0", "g=0.1"] == 12.5


def test_follower_gaps_average_the_seeds_by_ability_state_and_the_facts_read_the_ends():
    def state(j, s_rule, cev):
        return {
            "state": j,
            "ability": 0.5 + j,
            "share": 0.5,
            "s_rule": s_rule,
            "s_best": 0.8,
            "f_rule": 0.3 - 0.1 * j,
            "f_best": 0.4,
            "cev_median_pct": cev,
        }

    runs = pd.DataFrame(
        {
            "label": ["SMFRL (nash)", "SMFRL (nash)", "SMFRL (nash)", "DDPG"],
            "seed": [0, 1, 2, 0],
            "final_by_ability": [
                [state(0, 0.9, 1.0), state(3, 0.7, 10.0)],
                [state(0, 0.8, 2.0), state(3, 0.6, math.inf)],
                [],  # followers not certified: left out
                [state(0, 0.5, 50.0)],
            ],
        }
    )
    gaps = cc.follower_gaps(runs)
    nash = gaps[gaps.label == "SMFRL (nash)"].set_index("state")
    assert list(nash.index) == [0, 3] and list(nash.seeds) == [2, 2]
    assert nash.loc[0, "s_rule"] == pytest.approx(0.85, abs=1e-15)
    assert nash.loc[3, "s_rule"] == pytest.approx(0.65, abs=1e-15)
    assert nash.loc[0, "cev_median_pct"] == 1.5 and nash.loc[3, "cev_median_pct"] == math.inf
    f = cc.follower_gap_facts(gaps)
    assert (f["cc_fg_s_rule_lo"], f["cc_fg_s_rule_hi"]) == ("0.850", "0.650")
    assert f["cc_fg_s_rule_dir"] == "falls" and f["cc_fg_f_best_dir"] == "falls"
    assert f["cc_fg_cev_lo"] == "1.5" and f["cc_fg_cev_hi"] == "inf"
    # a row with one state, or none, says nothing
    assert set(cc.follower_gap_facts(gaps, "DDPG").values()) == {"n/a"}
    assert cc.follower_gaps(runs.iloc[2:3]).empty


def test_the_finished_followers_are_judged_on_the_fine_grid(tmp_path, monkeypatch):
    """The targets judge the finished followers on the fine ability grid (the curve's last
    point on its coarse grid is stated beside it); the grid convergence certifies each seed
    of a row on each grid, with the run's burn-in; an uncertified follower counts as
    infinitely exploitable."""
    import json

    # the settings: the run's burn-in, the profile's fine grid, followers only
    st = cc.fine_settings("quick", {"burn_in": 40, "na": 60, "ne": 3})
    assert (st["burn_in"], st["na"], st["ne"], st["leader"]) == (40, 500, 15, False)
    assert (cc.fine_settings("smoke")["na"], cc.fine_settings("smoke", ne=3)["ne"]) == (60, 3)
    # the gain of a certification: inf where the followers were skipped or have no best response
    fol = {"cev_median_pct": 4.5, "cev_mean_pct": 9.0, "best_response_converged": True}
    assert cc.followers_gain({"followers": fol}) == (4.5, 9.0)
    assert cc.followers_gain({"followers": {"skipped": "ended"}}) == (math.inf, math.inf)
    lost = {**fol, "best_response_converged": False}
    assert cc.followers_gain({"followers": lost}) == (math.inf, math.inf)
    # the table and the facts: the curve's last points (20, 23) miss, the fine grid's meet
    rows = [
        {
            "label": "SMFRL (nash)",
            "seed": seed,
            "epoch": 10,
            "run_dir": f"nash-{seed}",
            "cert_cev_median_pct": cev,
            "cert_loss_median_pct": 1.0,
            "cert_saving_gap": 0.0,
            "cert_leader_return": 95.0,
            "cert_leader_gap": 5.0,
            "cert_years": 300.0,
        }
        for seed, cev in ((0, 20.0), (1, 23.0))
    ]
    curves = pd.DataFrame(rows)
    curves["cert_best_return"] = 100.0
    curves["cert_leader_gap_pct"] = 5.0
    runs = pd.DataFrame(
        {
            "run_dir": ["nash-1", "nash-0"],
            "seed": [1, 0],
            "final_br_gap_pct": [5.0, 5.0],
            "final_saving_gap": 0.0,
            "final_cev_median_pct": [6.0, 3.0],
            "final_grid": "500 x 15",
        }
    )
    t = cc.certified_table(curves, runs=runs).set_index("label")
    assert t.loc["SMFRL (nash)", "cev_fine"] == 4.5
    assert t.loc["SMFRL (nash)", "cev_fine_by_seed"] == "3, 6"  # in seed order
    f = cc.curve_facts(t.reset_index())
    assert f["cc_nash_cev_ok"] == "meets" and f["cc_nash_cev"].startswith("4.5")
    assert f["cc_nash_cev_curve"].startswith("21.5") and f["cc_fine_grid"] == "500 x 15"
    assert cc.curve_facts(cc.certified_table(curves))["cc_nash_cev_ok"] == "misses"  # no runs
    # a seed whose fine certification found no best response makes the row miss
    t_inf = cc.certified_table(curves, runs=runs.assign(final_cev_median_pct=[math.inf, 3.0]))
    assert cc.curve_facts(t_inf)["cc_nash_cev_ok"] == "misses"

    # the grid convergence: each seed of the row on each grid, the run's burn-in kept
    calls = []

    def fake_certify_run(run_dir, **settings):
        calls.append((Path(run_dir).name, settings["ne"], settings["na"], settings["burn_in"]))
        seed = int(Path(run_dir).name[-1])
        cev = 10.0 / settings["ne"] + seed
        return {"followers": {"cev_median_pct": cev, "cev_mean_pct": 2 * cev}}

    monkeypatch.setattr(cc, "certify_run", fake_certify_run)
    dirs = []
    for label, seed in (("SMFRL (nash)", 1), ("SMFRL (nash)", 0), ("DDPG", 0)):
        d = tmp_path / f"{label[:4]}{seed}"
        d.mkdir()
        spec = {"seed": seed, "certify_settings": {"burn_in": 30}}
        (d / "config.json").write_text(json.dumps({"spec": spec}))
        dirs.append((label, seed, str(d)))
    conv = cc.grid_convergence(pd.DataFrame(dirs, columns=["label", "seed", "run_dir"]))
    assert calls == [(f"SMFR{s}", ne, 500, 30) for s in (0, 1) for ne in (5, 7, 11, 15)]
    assert list(conv.columns) == ["seed", "ne", "na", "cev_median_pct", "cev_mean_pct"]
    assert conv.cev_median_pct.tolist() == [10.0 / ne + s for s in (0, 1) for ne in (5, 7, 11, 15)]
