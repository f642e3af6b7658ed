"""Sweeps: specs from grids and files, the local pool and Dask agree, a killed worker."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from smfg.cli import main
from smfg.runs import sweep as sw
from smfg.runs.store import RunStore
from smfg.runs.train import run_spec

# tiny SMFRL runs (smaller than tests/test_smfrl.py's TINY) of six epochs, to kill one midway
TINY = dict(
    epochs=6,
    steps_per_epoch=8,
    leader_updates=2,
    follower_updates=2,
    batch_size=16,
    eval_episodes=2,
    eval_steps=5,
    mf_sample=8,
)
SPECS = sw.grid_specs(
    "smfrl", "smoke", variants=("clearing", "taxai"), households=(20,), seeds=(0, 1), **TINY
)
TIMING = ["wall_time_s", "train_s", "eval_s"]  # the only columns that differ between runs


def _metrics(root: Path, spec: dict) -> pd.DataFrame:
    return RunStore(root).load_metrics(spec).drop(columns=TIMING)


def _rows(run_dir: Path) -> int:
    """Epochs in the run's metrics file (0 before the first)."""
    path = run_dir / "metrics.csv"
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def _same(a, b) -> bool:
    """Nested dicts, lists and tensors equal exactly."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def _files(run_dir: Path) -> dict[str, bytes]:
    names = ("config.json", "metrics.csv", "policy.pt", "DONE")
    return {n: (run_dir / n).read_bytes() for n in names}


def test_grid_specs_are_full_run_specs_in_order():
    assert len(SPECS) == 4
    assert [(s["variant"], s["seed"]) for s in SPECS] == [
        ("clearing", 0),
        ("clearing", 1),
        ("taxai", 0),
        ("taxai", 1),
    ]
    assert SPECS[0] == run_spec(
        "smfrl", "smoke", variant="clearing", n_households=20, seed=0, bc=False, **TINY
    )


def test_sweep_files_yaml_and_json_describe_the_same_runs(tmp_path: Path):
    grid = {
        "profile": "smoke",
        "overrides": {**TINY, "n_households": 20},
        "grid": {"variant": ["clearing", "taxai"], "seed": [0, 1]},
    }
    (tmp_path / "g.json").write_text(json.dumps(grid))
    assert sw.specs_from_file(tmp_path / "g.json") == [{k: v for k, v in s.items()} for s in SPECS]
    yaml = pytest.importorskip("yaml")
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))
    assert sw.specs_from_file(tmp_path / "g.yaml") == SPECS
    # a list of runs; duplicates are kept once
    runs = [{"profile": "smoke", "variant": "taxai", "n_households": 20, "seed": 1, **TINY}] * 2
    (tmp_path / "r.json").write_text(json.dumps(runs))
    assert sw.specs_from_file(tmp_path / "r.json") == [SPECS[3]]
    with pytest.raises(ValueError, match=r"keys \['seed_list'\] are not known: allowed"):
        sw.specs_from_mapping({"seed_list": [0]})
    with pytest.raises(ValueError, match="SMFRLConfig has no field"):
        sw.specs_from_mapping({"runs": [{"n_agents": 5}]})


def test_a_files_experiments_are_resolved_by_the_callable_passed_in(tmp_path: Path):
    """The sweep knows no paper artefact: a file's ``experiment`` key needs the caller's
    ``experiment_specs`` (the CLI passes the paper layer's), which gets the file's options."""
    data = {
        "profile": "smoke",
        "experiment": ["a", "b"],
        "seeds": 2,
        "variant": "taxai",
        "overrides": {"epochs": 3},
    }
    with pytest.raises(ValueError, match=r"'experiment' \['a', 'b'\]: no resolver"):
        sw.specs_from_mapping(data)
    calls = []

    def resolve(name, profile, **kw):
        calls.append((name, profile, kw))
        return [SPECS[0 if name == "a" else 3], SPECS[0]]

    assert sw.specs_from_mapping(data, resolve) == [SPECS[0], SPECS[3]]
    kw = {"seeds": 2, "sizes": None, "variant": "taxai", "epochs": 3}
    assert calls == [("a", "smoke", kw), ("b", "smoke", kw)]
    (tmp_path / "e.json").write_text(json.dumps(data))
    assert sw.specs_from_file(tmp_path / "e.json", resolve) == [SPECS[0], SPECS[3]]


def test_dask_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ImportError, match=r"pip install \.\[dask\]"):
        sw.dask_client(local_workers=2)


@pytest.fixture(scope="module")
def local_root(tmp_path_factory) -> Path:
    """The four runs on the local process pool of two workers, each alone (a batch of seeds
    interrupted between its seeds' checkpoints resumes them apart: equal up to rounding)."""
    root = tmp_path_factory.mktemp("local")
    res = sw.sweep(SPECS, root, workers=2, batch_seeds=False)
    assert res.ok, res.failed
    assert list(res.runs["how"]) == ["trained"] * 4
    return root


@pytest.mark.slow
def test_dask_agrees_with_the_local_pool_and_survives_a_killed_worker(local_root, tmp_path):
    distributed = pytest.importorskip("distributed")
    root = tmp_path / "dask"
    lines: list[str] = []
    killed: dict = {}

    def kill_a_worker_midrun(line: str) -> None:
        """After the first finished run: SIGKILL the process of a worker that is midway
        through a run (a checkpoint written, epochs left), as a crashed machine would."""
        lines.append(line)
        if killed or not line.startswith("[1/"):
            return
        client = distributed.default_client()  # the client of the sweep's own LocalCluster
        done = {d.name: _files(d) for d in root.iterdir() if (d / "DONE").exists()}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for addr, keys in client.processing().items():
                for key in keys:
                    run = str(key).split("smfg-run-")[-1].rsplit("-", 1)[0]
                    rows = _rows(root / run)
                    ckpts = list((root / run / "checkpoints").glob("ckpt-*.pt"))
                    if 1 <= rows <= TINY["epochs"] - 2 and ckpts:
                        pid = client.run(os.getpid, workers=[addr])[addr]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(run=run, rows=rows, done=done)
                        return
            time.sleep(0.02)

    res = sw.sweep(SPECS, root, local_workers=2, progress=kill_a_worker_midrun, batch_seeds=False)
    assert killed, "no run was caught midway: nothing was killed"
    assert res.ok, res.failed
    # the finished runs were not touched; the killed one resumed from its checkpoint
    for run, files in killed["done"].items():
        assert _files(root / run) == files, run
    row = res.runs.set_index("run").loc[killed["run"]]
    assert row["how"] == "resumed" and row["resumed_from"] >= 1, row
    # bit for bit the local pool's metrics and final policies
    for spec in SPECS:
        pd.testing.assert_frame_equal(_metrics(root, spec), _metrics(local_root, spec))
        assert _rows(RunStore(root).run_dir(spec)) == TINY["epochs"]
        assert _same(RunStore(root).load_policy(spec), RunStore(local_root).load_policy(spec))
    assert lines[-1].startswith("sweep: 4/4 runs done") and len(lines) == 5
    # a rerun sends nothing anywhere: every run is already in the store
    again = sw.sweep(SPECS, root, workers=2)
    assert list(again.runs["how"]) == ["cached"] * 4 and again.ok


def test_the_seeds_of_a_configuration_train_as_one_batch(tmp_path: Path):
    """A sweep sends the seeds of one DDPG-family configuration to one worker as one batch
    (the runs the in-process batch trains, bit for bit, in their own directories); a PPO
    run, or any run with ``batch_seeds=False``, trains alone; the batch equals the runs
    alone up to rounding."""
    from smfg.runs.seeds import train_specs

    tiny = {**TINY, "epochs": 2}
    specs = sw.grid_specs(
        "smfrl", "smoke", variants=("taxai",), households=(20,), seeds=(0, 1), **tiny
    )
    ppo = run_spec("ppo", "smoke", variant="taxai", n_households=20, seed=0, epochs=1)
    assert sw.seed_groups([*specs, ppo]) == [[0, 1], [2]]
    assert sw.seed_groups([*specs, ppo], batch=False) == [[0], [1], [2]]
    lines: list[str] = []
    res = sw.sweep([*specs, ppo], tmp_path / "pool", workers=2, progress=lines.append)
    assert res.ok, res.failed
    assert list(res.runs["batch"]) == [2, 2, 1] and list(res.runs["how"]) == ["trained"] * 3
    assert sum("trained as a batch of 2 seeds" in line for line in lines) == 2
    here = train_specs(specs, tmp_path / "here")
    alone = sw.sweep(specs, tmp_path / "alone", workers=0, batch_seeds=False)
    assert list(alone.runs["batch"]) == [1, 1]
    for spec, r in zip(specs, here, strict=True):
        pool = _metrics(tmp_path / "pool", spec)
        pd.testing.assert_frame_equal(pool, r.metrics.drop(columns=TIMING))
        assert _same(RunStore(tmp_path / "pool").load_policy(spec), r.policy_state)
        one = _metrics(tmp_path / "alone", spec)
        pd.testing.assert_frame_equal(pool, one, check_exact=False, rtol=1e-3)
    again = sw.sweep([*specs, ppo], tmp_path / "pool", workers=2)
    assert list(again.runs["how"]) == ["cached"] * 3


def test_local_pool_retries_nothing_when_done_and_reports_failures(local_root, tmp_path):
    res = sw.sweep(SPECS[:2], local_root, workers=2)
    assert list(res.runs["how"]) == ["cached", "cached"]
    bad = {**SPECS[0], "economy": {"no_such_field": 1.0}}  # fails when the trainer is built
    lines: list[str] = []
    res = sw.sweep([bad], tmp_path, workers=0, retries=1, progress=lines.append)
    assert not res.ok and "no_such_field" in res.runs["error"].iloc[0]
    assert "retrying" in lines[0] and "FAILED" in lines[1]


def test_cli_sweep_dry_run_and_in_process(tmp_path: Path, capsys):
    runs = [
        {
            "profile": "smoke",
            "variant": "taxai",
            "n_households": 20,
            "seed": 1,
            **{**TINY, "epochs": 1},
        }
    ]
    (tmp_path / "s.json").write_text(json.dumps(runs))
    args = ["sweep", "--file", str(tmp_path / "s.json"), "--results", str(tmp_path / "r")]
    assert main([*args, "--dry-run"]) == 0
    assert "new" in capsys.readouterr().out
    assert main([*args, "--workers", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] and out["runs"][0]["how"] == "trained"
    assert main([*args, "--dry-run"]) == 0
    assert "done" in capsys.readouterr().out
    # the grid from flags
    assert (
        main(
            [
                *"sweep --variant taxai clearing --households 100 1000 --seeds".split(),
                *"0 1 2 --profile smoke --bc --dry-run --results".split(),
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("smfrl ") == 12 and "BC" in out


def test_longest_runs_are_started_first(tmp_path: Path):
    """The sweep starts runs in decreasing ``cost`` (None: in the order given); the CLI's cost,
    the estimated seconds of the bench's epoch times, puts MADDPG at N = 1000 (critics over
    every household) first, rule-based (it only evaluates) last."""
    from smfg.perf.estimate import run_seconds as estimated_cost

    # runs that fail as their trainer is built: the progress lines give the order they ran in
    bad = [{**s, "economy": {"no_such_field": 1.0}} for s in SPECS[:3]]
    for cost, order in ((None, [0, 1, 2]), ({0: 1.0, 1: 3.0, 2: 2.0}, [1, 2, 0])):
        lines: list[str] = []
        key = None if cost is None else (lambda spec, c=cost: c[bad.index(spec)])
        res = sw.sweep(
            bad, tmp_path, workers=0, retries=0, progress=lines.append, cost=key, batch_seeds=False
        )
        assert not res.ok and list(res.runs["label"]) == [sw.run_label(s) for s in bad]
        assert [line.split(": FAILED")[0].split("] ")[1] for line in lines[:-1]] == [
            f"{sw.run_label(bad[i])} ({RunStore(tmp_path).run_dir(bad[i]).name})" for i in order
        ]

    def spec(algo, n, epochs=20):
        return run_spec(algo, "quick", variant="taxai", n_households=n, seed=0, epochs=epochs)

    order = [
        spec("maddpg", 1000),
        spec("ppo", 100),
        spec("smfrl", 1000),
        spec("ddpg", 100),
        spec("rule_based", 1000),
    ]
    costs = [estimated_cost(s) for s in order]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs)
    # each epoch costs the same: 20 more epochs cost what the first 20 did, less the start
    c20, c40, c60 = (estimated_cost(spec("smfrl", 100, epochs=k)) for k in (20, 40, 60))
    assert c60 - c40 == pytest.approx(c40 - c20) and c20 > c40 - c20
