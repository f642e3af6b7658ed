"""The sweep's estimate: seconds of a run from the bench's epoch times, the wall time of a pool
that starts the longest runs first, the dry run's summary line and the calibration file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smfg.cli import main
from smfg.perf import estimate as E
from smfg.runs.store import RunStore
from smfg.runs.train import run_spec

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(
    r"^estimate: (?P<runs>\d+) runs \((?P<new>\d+) new, (?P<partial>\d+) partial, "
    r"(?P<done>\d+) done\); (?P<cpu>[\d.]+) CPU-hours; wall (?P<wall>[\d.]+) h\b.* on "
    r"(?P<workers>\d+) workers; calibration: (?P<source>.+)$"
)


def _spec(algo="smfrl", n=100, epochs=20, profile="quick", **over):
    return run_spec(algo, profile, variant="taxai", n_households=n, seed=0, epochs=epochs, **over)


def test_a_run_costs_seconds_that_grow_with_epochs_and_households():
    cal = E.load_calibration()
    for algo in ("smfrl", "rule_based", "ddpg", "iddpg", "maddpg", "mfmarl", "ppo"):
        one, two, four = (E.run_seconds(_spec(algo, epochs=k), cal) for k in (10, 20, 40))
        assert 0 < one < two < four
        assert four - two == pytest.approx(2 * (two - one))  # each epoch costs the same
        assert E.run_seconds(_spec(algo, n=1000), cal) >= E.run_seconds(_spec(algo), cal)
    # a partial run costs its epochs left
    full = E.run_seconds(_spec(epochs=40), cal)
    half = E.run_seconds(_spec(epochs=40), cal, epochs_done=20)
    assert half < full and E.run_seconds(_spec(epochs=40), cal, epochs_done=40) > 0
    # the joint follower batch (the paper profile's) costs more than the sampled one, more so
    # as N grows
    joint, sampled = (
        E.epoch_seconds(_spec(n=1000, follower_batch=b), cal) for b in ("joint", "sampled")
    )
    assert joint > 10 * sampled


def test_the_bench_epoch_is_the_estimate_of_a_bench_shaped_epoch():
    """At the bench's settings (paper profile, N = 100 and 1,000) an epoch costs what the bench
    measured, apart from the evaluation's floor of full-length episodes."""
    report = json.loads((REPO / E.CALIBRATION_FILE).read_text())
    cal = E.Calibration.from_bench(report, "test")
    for row in report["algorithms"]:
        if row["algo"] == "smfrl":
            continue
        spec = run_spec(row["algo"], "paper", variant="taxai", n_households=row["n_households"])
        est = E.epoch_seconds(spec, cal)
        train = row["train_s"] * row["epoch_cpu_s"] / row["epoch_s"]
        assert train <= est <= train + max(row["eval_s"], 300 * 0.01) + 1e-9
    for row in report["training"]:
        spec = run_spec(
            "smfrl",
            "paper",
            variant="taxai",
            n_households=row["n_households"],
            follower_batch=row["follower_batch"],
        )
        k = row["epoch_cpu_s"] / row["epoch_s"]
        # the training part is the bench's; the evaluation adds at most its floor of full-length
        # episodes (the bench's SMFRL economies end in year 1)
        floor = 300 * cal.step("taxai", 10 * row["n_households"])
        est = E.epoch_seconds(spec, cal)
        assert row["train_s"] * k * 0.95 <= est <= (row["epoch_s"] * k + floor) * 1.05


def test_wall_time_on_workers_packs_the_longest_first():
    costs = [10.0, 7.0, 5.0, 4.0, 3.0, 1.0]
    assert E.wall_seconds(costs, 1) == sum(costs)
    walls = [E.wall_seconds(costs, w) for w in (1, 2, 3, 6, 10)]
    assert walls == sorted(walls, reverse=True)
    assert E.wall_seconds(costs, 2) == 15.0  # 10 + 4 + 1 and 7 + 5 + 3
    assert E.wall_seconds(costs, 6) == E.wall_seconds(costs, 10) == max(costs)
    assert E.wall_seconds([], 2) == 0.0
    with pytest.raises(ValueError, match="workers"):
        E.wall_seconds(costs, 0)


def test_the_sweep_estimate_counts_only_runs_left(tmp_path: Path):
    specs = [
        run_spec("smfrl", "quick", variant="taxai", n_households=100, seed=s) for s in range(3)
    ]
    one = E.estimate(specs, tmp_path, workers=1, batch_seeds=False)
    three = E.estimate(specs, tmp_path, workers=3, batch_seeds=False)
    assert (one.runs, one.new, one.done) == (3, 3, 0)
    assert one.cpu_seconds == pytest.approx(three.cpu_seconds) and one.cpu_seconds > 0
    assert three.wall_seconds < one.wall_seconds
    assert one.wall_seconds == pytest.approx(one.cpu_seconds + E.SWEEP_START_S)
    # a run done in the store costs nothing
    done = RunStore(tmp_path).run_dir(specs[0])
    done.mkdir()
    (done / "DONE").write_text("")
    less = E.estimate(specs, tmp_path, workers=1, batch_seeds=False)
    assert (less.new, less.done) == (2, 1)
    assert less.cpu_seconds == pytest.approx(one.cpu_seconds * 2 / 3)


def test_a_leader_grid_is_counted_once_per_worker(tmp_path: Path):
    """Certified runs of one economy solve the same leader grid (cached in each worker
    process): the sweep's estimate counts it for at most one run per worker."""
    cert = {"certify_every": 5, "epochs": 10}
    specs = [
        run_spec("smfrl", "quick", variant="clearing", n_households=100, seed=s, **cert)
        for s in range(4)
    ]
    cal = E.load_calibration()
    full = [E.run_seconds(s, cal) for s in specs]
    bare = [E.run_seconds(s, cal, grid=False) for s in specs]
    grid = full[0] - bare[0]
    assert grid == pytest.approx(E.CERT_GRID_S) and len({E.grid_key(s) for s in specs}) == 1
    for workers, solves in ((1, 1), (2, 2), (8, 4)):
        est = E.estimate(specs, tmp_path, workers=workers, calibration=cal, batch_seeds=False)
        assert est.cpu_seconds == pytest.approx(sum(bare) + solves * grid)
    # another grid (a coarser one) is another solve; a run past its first certification, or
    # one that certifies without the leader's gap, solves none
    other = run_spec(
        "smfrl",
        "quick",
        variant="clearing",
        n_households=100,
        seed=0,
        certify_settings={"grid_points": 2},
        **cert,
    )
    assert E.grid_key(other) != E.grid_key(specs[0])
    one = E.estimate([*specs, other], tmp_path, workers=1, calibration=cal, batch_seeds=False)
    assert one.cpu_seconds == pytest.approx(sum(bare) + grid + E.run_seconds(other, cal), rel=1e-12)
    assert E.grid_key(specs[0], epochs_done=5) is None
    assert E.grid_key(run_spec("smfrl", "quick", variant="clearing", seed=0)) is None
    no_leader = dict(specs[0], certify_settings={"leader": False})
    assert E.grid_key(no_leader) is None


def test_seeds_trained_as_one_batch_cost_the_bench_batch_factor(tmp_path: Path):
    """K seeds of one configuration are one job of 1 + (K - 1) x seed_extra epochs of one
    seed (seed_extra from the bench's one-thread batch of 5 seeds), plus each run's start
    and certifications; other algorithms (PPO) and batch_seeds=False keep one job a run."""
    report = json.loads((REPO / E.CALIBRATION_FILE).read_text())
    cal = E.Calibration.from_bench(report, "test")
    row = next(r for r in report["seeds"] if r["threads"] == 1)
    extra = (row["ratio_to_one_seed"] - 1) / (row["seeds"] - 1)
    assert cal.seed_extra == pytest.approx(extra) and 0 < extra < 1
    assert E.batch_factor(1, cal) == 1.0 and E.batch_factor(5, cal) == pytest.approx(
        row["ratio_to_one_seed"]
    )
    specs = [
        run_spec("smfrl", "quick", variant="clearing", n_households=100, seed=s, certify_every=10)
        for s in range(3)
    ]
    one = E.run_seconds(specs[0], cal)
    epochs = specs[0]["epochs"] * E.epoch_seconds(specs[0], cal)
    fixed = one - epochs  # start and certifications
    assert fixed > 0
    assert E.batch_seconds(specs, cal) == pytest.approx(3 * fixed + epochs * E.batch_factor(3, cal))
    assert E.batch_seconds(specs[:1], cal) == pytest.approx(one)
    # two seeds at epoch 5 and one fresh: a batch of two from epoch 5, the third alone
    part = E.batch_seconds(specs, cal, epochs_done=[5, 5, 0])
    per = E.epoch_seconds(specs[0], cal)
    left = specs[0]["epochs"] - 5
    starts = sum(E.run_seconds(s, cal, d) for s, d in zip(specs, (5, 5, 0), strict=True))
    starts -= (2 * left + specs[0]["epochs"]) * per
    assert part == pytest.approx(starts + left * per * E.batch_factor(2, cal) + epochs)
    ppo = [run_spec("ppo", "quick", variant="taxai", n_households=100, seed=s) for s in range(3)]
    batched = E.estimate([*specs, *ppo], tmp_path, workers=1, calibration=cal)
    alone = E.estimate([*specs, *ppo], tmp_path, workers=1, calibration=cal, batch_seeds=False)
    assert len(batched.per_run) == 4 and len(alone.per_run) == 6
    saved = 3 * one - E.batch_seconds(specs, cal)
    assert alone.cpu_seconds - batched.cpu_seconds == pytest.approx(saved) and saved > 0


def test_the_calibration_file_changes_the_estimate(tmp_path: Path, monkeypatch):
    spec = _spec("ddpg", n=1000)
    report = json.loads((REPO / E.CALIBRATION_FILE).read_text())
    base = E.run_seconds(spec, E.load_calibration(REPO / E.CALIBRATION_FILE))
    for row in report["algorithms"]:
        row["train_s"] *= 3  # a machine three times slower at training
        row["epoch_s"] *= 3
        row["epoch_cpu_s"] *= 3
    slow = tmp_path / "results.json"
    slow.write_text(json.dumps(report))
    cal = E.load_calibration(slow)
    assert E.run_seconds(spec, cal) > 2 * base and "make bench" in cal.source
    # without a file: the committed bench's numbers, said so
    monkeypatch.setattr(E, "_candidates", lambda: [tmp_path / "none.json"])
    default = E.load_calibration()
    assert default.source.startswith("built-in defaults")
    assert E.run_seconds(spec, default) == pytest.approx(base, rel=0.02)
    with pytest.raises(FileNotFoundError, match="make bench"):
        E.load_calibration(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="no epoch rows"):
        E.load_calibration(tmp_path / "bad.json")


def test_dry_run_prints_a_summary_line_that_parses(tmp_path: Path, capsys):
    spec = {"grid": {"seed": [0, 1, 2]}, "profile": "smoke", "overrides": {"variant": "taxai"}}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    args = ["sweep", "--file", str(tmp_path / "s.json"), "--results", str(tmp_path / "r")]
    got = {}
    for workers in ("1", "3"):
        assert main([*args, "--dry-run", "--workers", workers]) == 0
        last = capsys.readouterr().out.strip().splitlines()[-1]
        m = LINE.match(last)
        assert m, last
        got[workers] = m
    one, three = got["1"], got["3"]
    assert (one["runs"], one["new"], one["partial"], one["done"]) == ("3", "3", "0", "0")
    assert one["workers"] == "1" and three["workers"] == "3"
    assert float(one["cpu"]) == float(three["cpu"]) and float(three["wall"]) <= float(one["wall"])
    assert "benchmarks/results.json" in one["source"] or "built-in" in one["source"]
    # another calibration file, and the JSON form
    report = json.loads((REPO / E.CALIBRATION_FILE).read_text())
    for row in report["training"]:
        row["train_s"] *= 100
    (tmp_path / "cal.json").write_text(json.dumps(report))
    assert main([*args, "--dry-run", "--json", "--calibration", str(tmp_path / "cal.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimate"]["runs"] == 3 and out["estimate"]["cpu_hours"] > float(one["cpu"])
    assert str(tmp_path / "cal.json") in out["estimate"]["calibration"]


def test_paper_profile_dry_run_names_runs_and_cpu_hours(tmp_path: Path, capsys):
    args = ["sweep", "--experiment", "all", "--profile", "paper", "--dry-run", "--workers", "2"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    m = LINE.match(out[-1])
    assert m and int(m["runs"]) == len(out) - 1 == int(m["new"])
    # days on two cores (a cluster job): the longest run alone takes more than a day
    assert float(m["cpu"]) > 100 and float(m["wall"]) >= float(m["cpu"]) / 2


def test_an_epoch_evaluated_every_k_counts_its_share_of_evaluations():
    """A run that evaluates every 10 of 20 epochs (epochs 1, 10 and 20) pays 3/20 of the
    evaluations of one that evaluates every epoch; its training part is the same."""
    from smfg.perf.estimate import epoch_seconds, eval_share

    spec = {
        "algo": "ppo",
        "variant": "clearing",
        "n_households": 1000,
        "epochs": 20,
        "steps_per_epoch": 300,
        "eval_episodes": 5,
        "eval_steps": 300,
    }
    assert eval_share(spec) == 1.0 and eval_share({**spec, "eval_every": 10}) == 3 / 20
    every, some = epoch_seconds(spec), epoch_seconds({**spec, "eval_every": 10})
    ends = epoch_seconds({**spec, "eval_every": 20})  # epochs 1 and 20: 2/20
    assert ends < some < every
    assert (some - ends) / (every - ends) == pytest.approx((3 / 20 - 2 / 20) / (1 - 2 / 20))


def test_a_clearing_run_pays_the_bench_full_evaluation_and_taxai_does_not():
    """A bench row's full evaluation (all 300 steps: trained economies of clearing live the
    episode) sets a clearing run's evaluation, scaled by its episodes; taxai's stays the
    epoch's own (its untrained economies end early), and a bench without one is as before."""
    base = {"algo": "ppo", "n_households": 1000, "train_s": 4.0, "eval_s": 0.05}
    report = {"algorithms": [{**base, "eval_full_s": 20.0}]}
    cal = E.Calibration.from_bench(report, "test")
    plain = E.Calibration.from_bench({"algorithms": [base]}, "test")
    spec = {
        "algo": "ppo",
        "n_households": 1000,
        "epochs": 20,
        "steps_per_epoch": 300,
        "eval_episodes": 10,
        "eval_steps": 300,
        "variant": "clearing",
    }
    assert E.epoch_seconds(spec, cal) == pytest.approx(4.0 + 20.0)
    half = E.epoch_seconds({**spec, "eval_episodes": 5}, cal) - 4.0
    assert 0 < half < 20.0  # fewer households a step
    assert E.epoch_seconds({**spec, "variant": "taxai"}, cal) == E.epoch_seconds(
        {**spec, "variant": "taxai"}, plain
    )
    assert E.epoch_seconds(spec, plain) < 24.0
