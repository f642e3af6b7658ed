"""The command line as a new user meets it (issue 17): every failure a user can cause is one
line on stderr naming the culprit, with exit status 2 (bad input) or 1 (a failed
computation), and leaves every finished run as it was; a damaged policy.pt is rebuilt bit for
bit; progress goes to stderr; --json output is strict JSON; --help starts without the library.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from smfg import cli
from smfg.cli import main

SMOKE = ["--profile", "smoke", "--households", "10"]


@pytest.fixture(autouse=True)
def _one_thread(_threads):
    # as `smfg train` and sweep workers run; two threads on a busy 2-core box crawl
    import torch

    torch.set_num_threads(1)


def train_args(root, variant="clearing", epochs=2, *extra):
    return [
        "train",
        "--variant",
        variant,
        *SMOKE,
        "--epochs",
        str(epochs),
        "--results",
        str(root),
        *extra,
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A run store with a finished clearing run (2 epochs) and a finished taxai run (1)."""
    root = tmp_path_factory.mktemp("store")
    runs = {}
    for variant, epochs in (("clearing", 2), ("taxai", 1)):
        # main() writes to sys.stdout; capture it by hand (capsys is function-scoped)
        out = _run_quietly(train_args(root, variant, epochs, "--json"))
        runs[variant] = Path(json.loads(out)["run_dir"])
    return root, runs


def _run_quietly(argv) -> str:
    import contextlib
    import io

    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        assert main(argv) == 0, err.getvalue()
    return buf.getvalue().strip().splitlines()[-1]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_line(err: str) -> str:
    """The single line a failure writes to stderr."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def strict(text: str):
    """json.loads that refuses NaN and Infinity."""

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# ----------------------------------------------------------------------------- the table

BAD_YAML = "grid:\n  variant: [taxai, clearing\n  seed: [0, 1]\n"

#: (argv, exit status, words the one line must hold); {clearing}, {taxai}: finished runs,
#: {root}: their run store, {tmp}: a scratch directory holding bad.yaml, bad.json, good.json
CASES = {
    "evaluate --households 0": (
        ["evaluate", "--policy", "{clearing}", "--households", "0"],
        2,
        ["--households", "0"],
    ),
    "evaluate --steps 0": (["evaluate", "--steps", "0"], 2, ["--steps", "0", ">= 1"]),
    "evaluate --steps -3": (["evaluate", "--steps", "-3"], 2, ["--steps", "-3"]),
    "evaluate --episodes 0": (["evaluate", "--episodes", "0"], 2, ["--episodes", "0"]),
    "evaluate --seeds 0": (["evaluate", "--seeds", "0"], 2, ["--seeds", "0"]),
    "evaluate --noise 2": (["evaluate", "--noise", "2"], 2, ["--noise", "2", "[0, 1]"]),
    "evaluate missing run directory": (
        ["evaluate", "--policy", "{tmp}/nope"],
        2,
        ["no run directory", "nope"],
    ),
    "evaluate unknown policy": (
        ["evaluate", "--policy", "nonsense"],
        2,
        ["nonsense", "neither", "free-market"],
    ),
    "evaluate --saving with the run's followers": (
        ["evaluate", "--policy", "{clearing}", "--saving", "0.5"],
        2,
        ["--saving", "fixed"],
    ),
    "evaluate --work with random households": (
        ["evaluate", "--households-policy", "random", "--work", "0.5"],
        2,
        ["--work", "random"],
    ),
    "evaluate --elasticity on the free market": (
        ["evaluate", "--elasticity", "0.5"],
        2,
        ["--elasticity", "free-market", "saez"],
    ),
    "simulate --households 0": (["simulate", "--households", "0"], 2, ["--households", "0"]),
    "simulate --steps 0": (["simulate", "--steps", "0"], 2, ["--steps", "0"]),
    "simulate --saving 1.7": (["simulate", "--saving", "1.7"], 2, ["--saving", "1.7", "[0, 1]"]),
    "simulate --leader-action nan": (
        ["simulate", "--leader-action", "nan", "0", "0", "0", "0"],
        2,
        ["--leader-action", "nan"],
    ),
    "simulate unknown variant": (["simulate", "--variant", "mars"], 2, ["--variant", "mars"]),
    "train --threads 0": (
        ["train", "--threads", "0", "--results", "{root}"],
        2,
        ["--threads", "0"],
    ),
    "train --epochs 0": (["train", "--epochs", "0", "--results", "{root}"], 2, ["--epochs", "0"]),
    "train --seed with --seeds": (
        ["train", "--seed", "1", "--seeds", "0", "1", "--results", "{root}"],
        2,
        ["--seed"],
    ),
    "train unknown algorithm": (
        ["train", "--algo", "nope", "--results", "{root}"],
        2,
        ["'nope'", "smfrl"],
    ),
    "train unknown profile": (["train", "--profile", "huge"], 2, ["--profile", "huge", "smoke"]),
    "sweep YAML syntax error": (
        ["sweep", "--file", "{tmp}/bad.yaml", "--results", "{root}"],
        2,
        ["bad.yaml", "line 3"],
    ),
    "sweep JSON syntax error": (
        ["sweep", "--file", "{tmp}/bad.json", "--results", "{root}"],
        2,
        ["bad.json", "line 1"],
    ),
    "sweep missing file": (
        ["sweep", "--file", "{tmp}/none.yaml", "--results", "{root}"],
        2,
        ["none.yaml"],
    ),
    "sweep --profile with --file": (
        ["sweep", "--file", "{tmp}/good.json", "--profile", "smoke"],
        2,
        ["--profile", "file"],
    ),
    "sweep grid option with --experiment": (
        ["sweep", "--experiment", "table1_algorithms", "--households", "10"],
        2,
        ["--households"],
    ),
    "sweep unknown experiment": (
        ["sweep", "--experiment", "nope", "--dry-run"],
        2,
        ["'nope'", "table1_algorithms"],
    ),
    "sweep unreachable scheduler": (
        [
            *"sweep --scheduler tcp://127.0.0.1:1".split(),
            *SMOKE,
            *"--epochs 1 --results".split(),
            "{root}",
        ],
        2,
        ["tcp://127.0.0.1:1", "scheduler"],
    ),
    "sweep --scheduler and --local-workers": (
        ["sweep", "--scheduler", "tcp://127.0.0.1:1", "--local-workers", "2"],
        2,
        ["--scheduler", "--local-workers"],
    ),
    "sweep --workers with a cluster": (
        ["sweep", "--local-workers", "2", "--workers", "2"],
        2,
        ["--workers"],
    ),
    "sweep --workers -1": (["sweep", "--workers", "-1"], 2, ["--workers", "-1"]),
    "bench --device foo": (["bench", "--device", "foo"], 2, ["--device", "foo"]),
    "bench --all --households 10": (
        ["bench", "--all", "--households", "10"],
        2,
        ["--households", "--all"],
    ),
    "bench --out without --all": (["bench", "--out", "{tmp}/b.json"], 2, ["--out"]),
    "bench --reference --dtype": (
        ["bench", "--reference", "--dtype", "float32"],
        2,
        ["--dtype", "--reference"],
    ),
    "bench two modes": (["bench", "--training", "--reference"], 2, ["--training", "--reference"]),
    "bench --algo without --training": (["bench", "--algo", "ddpg"], 2, ["--algo", "--training"]),
    "bench --households 0": (["bench", "--households", "0"], 2, ["--households", "0"]),
    "certify --grid 2": (["certify", "{clearing}", "--grid", "2"], 2, ["--grid", "2", ">= 3"]),
    "certify missing run directory": (["certify", "{tmp}/nope"], 2, ["no run directory", "nope"]),
    "certify a taxai run": (["certify", "{taxai}", "--leader-grid", "0"], 2, ["'clearing'"]),
    "unknown command": (["frobnicate"], 2, ["frobnicate", "simulate"]),
    "unknown option": (["evaluate", "--housholds", "3"], 2, ["--housholds"]),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scratch")
    (tmp / "bad.yaml").write_text(BAD_YAML)
    (tmp / "bad.json").write_text('{"grid": {"seed": [0, 1]},}')
    (tmp / "good.json").write_text('{"grid": {"seed": [0]}, "profile": "smoke"}')
    return tmp


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_command_is_one_line_and_changes_no_finished_run(case, store, scratch, capsys):
    argv, status, words = CASES[case]
    root, runs = store
    fill = {"root": str(root), "tmp": str(scratch), **{k: str(v) for k, v in runs.items()}}
    before = snapshot(root)
    assert main([a.format(**fill) for a in argv]) == status
    out, err = capsys.readouterr()
    line = one_line(err)
    assert line.startswith("smfg") and "error: " in line, line
    for word in words:
        assert word in line, (word, line)
    assert snapshot(root) == before


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the machine has a CUDA device")
def test_bench_on_cuda_without_a_cuda_device(capsys):
    assert main(["bench", "--device", "cuda", "--households", "10", "--steps", "2"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "--device cuda" in line and "--device cpu" in line


# ----------------------------------------------------------------------------- the store


def test_a_run_locked_by_another_process_names_it(store, tmp_path, capsys):
    root = tmp_path / "r"
    assert main(train_args(root, "clearing", 3, "--stop-after", "1")) == 0
    run_dir = next(root.glob("smfrl-*"))
    holder = textwrap.dedent(
        """
        import fcntl, os, socket, sys, time
        f = open(sys.argv[1], "a+")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.write(f"pid {os.getpid()} on host {socket.gethostname()} since now\\n")
        f.flush()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(run_dir / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        capsys.readouterr()
        before = snapshot(store[0])
        assert main(train_args(root, "clearing", 3)) == 1
        line = one_line(capsys.readouterr().err)
        assert f"pid {proc.pid} on host {socket.gethostname()}" in line
        assert "another process" in line and "run the same command again" in line
        assert snapshot(store[0]) == before
    finally:
        proc.kill()
        proc.wait()
    assert main(train_args(root, "clearing", 3, "--json")) == 0  # the lock went with it
    assert strict(capsys.readouterr().out)["epochs"] == 3


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("command", ["evaluate", "certify", "train"])
def test_a_damaged_policy_is_rebuilt_bit_identical(store, tmp_path, command, capsys):
    root = tmp_path / "r"
    run_dir = root / store[1]["clearing"].name
    shutil.copytree(store[1]["clearing"], run_dir)
    original = (run_dir / "policy.pt").read_bytes()
    _truncate(run_dir / "policy.pt")
    argv = {
        "evaluate": [
            "evaluate",
            "--policy",
            str(run_dir),
            *"--episodes 1 --seeds 1 --steps 3 --json".split(),
        ],
        "certify": [
            "certify",
            str(run_dir),
            *"--grid 40 --abilities 3 --burn-in 10 --leader-grid 0 --json".split(),
        ],
        "train": train_args(root, "clearing", 2, "--json"),
    }[command]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    strict(out.strip().splitlines()[-1])
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "policy.pt was unusable" in warning[0], err
    assert "rebuilt it from ckpt-000002.pt" in warning[0]
    assert (run_dir / "policy.pt").read_bytes() == original
    assert (run_dir / "checkpoints" / "corrupt" / "policy.pt").exists()  # kept, not deleted


def test_a_policy_that_cannot_be_rebuilt_says_so_and_train_repairs_it(store, tmp_path, capsys):
    root = tmp_path / "r"
    run_dir = root / store[1]["clearing"].name
    shutil.copytree(store[1]["clearing"], run_dir)
    original = (run_dir / "policy.pt").read_bytes()
    (run_dir / "policy.pt").unlink()
    _truncate(run_dir / "checkpoints" / "ckpt-000002.pt")
    before = snapshot(root)
    assert main(["evaluate", "--policy", str(run_dir), "--steps", "3"]) == 1
    line = one_line(capsys.readouterr().err)
    assert "policy.pt" in line and "ckpt-000002.pt" in line and "smfg train" in line
    assert snapshot(root) == before
    assert main(train_args(root, "clearing", 2, "--json")) == 0  # resumes from epoch 1
    out, err = capsys.readouterr()
    assert strict(out)["computed"] and "resuming the run" in err
    assert (run_dir / "policy.pt").read_bytes() == original


def test_an_interrupted_training_says_how_to_resume(tmp_path, capsys):
    EPOCHS = 8
    argv = train_args(tmp_path, "clearing", EPOCHS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "smfg", *argv],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        # a job started in the background by a non-interactive shell inherits SIGINT ignored,
        # and Python then raises no KeyboardInterrupt: the child gets the default back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = proc.stderr.readline()  # the first progress line comes after the first epoch
    assert f"1/{EPOCHS} epochs" in first and "ETA" in first, first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    line = one_line(err)
    assert "interrupted at epoch" in line and "rerun the same command to resume" in line
    epoch = int(line.split("interrupted at epoch ")[1].split()[0])
    assert 1 <= epoch < EPOCHS
    assert main([*argv, "--json"]) == 0  # resumes there and finishes
    assert strict(capsys.readouterr().out)["epochs"] == EPOCHS


# ----------------------------------------------------------------------------- output


def test_progress_goes_to_stderr_and_json_is_strict(store, capsys):
    run_dir = store[1]["clearing"]
    args = [
        "evaluate",
        "--policy",
        str(run_dir),
        *"--episodes 2 --seeds 1 --steps 20 --json".split(),
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    res = strict(out)  # one JSON object on stdout, nothing else
    assert res["metrics"]["years"]["ci_low"] is None  # one seed: no interval
    why = res["null_values"]["metrics.years.ci_low"]
    assert why["was"] == "nan" and "2 seeds" in why["why"]
    lines = err.splitlines()
    assert lines[0].startswith("evaluate clearing N=10: 1/20 steps") and "ETA" in lines[0]
    assert lines[-1].startswith("evaluate clearing N=10: 20/20 steps (100%)")
    assert "2/2 episodes" in lines[-1]

    args = [
        "certify",
        str(run_dir),
        *"--grid 40 --abilities 3 --burn-in 10 --leader-grid 0".split(),
        *"--no-cache --json".split(),
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    res = strict(out)
    assert res["config"]["variant"] == "clearing"
    assert "certify: simulated" in err and "certify: followers: exact best response" in err
    assert re.search(rf"certify {run_dir.name}: .* elapsed; [a-zA-Z ]+ step \d+: ", err), err
    if res["followers"]["share_infinite"] > 0:  # `mean inf` says why, in the JSON too
        assert "infinite: in" in err
        assert "no finite scaling" in res["null_values"]["followers.cev_mean_pct"]["why"]

    assert main(["simulate", "--households", "10", "--steps", "5", "--json"]) == 0
    assert strict(capsys.readouterr().out)["years"] == 5


def test_sweep_reports_epochs_across_its_runs(tmp_path, capsys):
    from smfg.runs import sweep as sw
    from smfg.runs.train import run_spec

    specs = [
        run_spec("smfrl", "smoke", variant="clearing", n_households=10, epochs=3, seed=s)
        for s in (0, 1)
    ]
    seen = []
    # seed 1's epochs cost three times seed 0's: the share of the work weighs them so
    cost = {0: 3.0, 1: 9.0}
    res = sw.sweep(
        specs,
        tmp_path,
        workers=0,
        epochs_progress=lambda d, t, share: seen.append((d, t, share)),
        poll_s=0.05,
        cost=lambda spec: cost[spec["seed"]],
        batch_seeds=False,  # one run after the other (a batch trains both at once)
    )
    assert res.ok
    assert seen[-1] == (6, 6, 1.0) and all(t == 6 for _, t, _ in seen)
    assert any(0 < d < 6 for d, _, _ in seen)  # it moved while the runs trained
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
    # the longest run (seed 1) trains first: while it does, each of its epochs is 1/4 of the
    # work (3 of 12 estimated seconds), and after it seed 0's are 1/12 each
    for d, _, share in seen:
        assert share == pytest.approx(d / 4 if d <= 3 else 0.75 + (d - 3) / 12)
    args = [
        *"sweep --variant clearing".split(),
        *SMOKE,
        *"--epochs 3 --seeds 0 1 --workers 0 --results".split(),
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0  # all cached now: the lines still go to stderr
    out, err = capsys.readouterr()
    assert strict(out)["ok"] and "[2/2]" in err and "sweep: 2/2 runs done" in err


# ----------------------------------------------------------------------------- defaults


def test_one_default_economy_and_each_economys_own_rule(store, monkeypatch, capsys):
    parser = cli.build_parser()
    for command in ("simulate", "train", "bench"):
        assert parser.parse_args([command]).variant == "clearing"
    assert cli.DEFAULT_VARIANT == "clearing"

    import smfg.evaluate
    import smfg.paper.simulate

    seen = {}

    def fake_simulate(**kw):
        seen.update(kw)
        raise ValueError("stop here")

    monkeypatch.setattr(smfg.paper.simulate, "simulate_fixed_rule", fake_simulate)
    for variant, shares in (("clearing", (0.8, 1 / 3)), ("taxai", (0.99, 0.9))):
        main(["simulate", "--variant", variant])
        assert (seen["variant"], seen["saving"], seen["work"]) == (variant, *shares)
    main(["simulate", "--saving", "0.5"])
    assert (seen["saving"], seen["work"]) == (0.5, 1 / 3)

    real = smfg.evaluate.household_policy
    rules = []

    def spy(name, saving, work, seed=0):
        rules.append((name, saving, work))
        return real(name, saving, work, seed)

    monkeypatch.setattr(smfg.evaluate, "household_policy", spy)
    for variant, shares in (("clearing", (0.8, 1 / 3)), ("taxai", (0.99, 0.9))):
        args = [
            "evaluate",
            "--policy",
            str(store[1][variant]),
            *"--households-policy fixed --episodes 1 --seeds 1 --steps 2".split(),
            "--json",
        ]
        assert main(args) == 0
        assert rules[-1] == ("fixed", *shares)
        assert strict(capsys.readouterr().out)["settings"]["variant"] == variant


def test_help_starts_without_the_library_and_shows_defaults():
    probe = textwrap.dedent(
        """
        import contextlib, io, sys, time
        t0 = time.process_time()
        from smfg.cli import main
        for argv in (["--help"], ["--version"], *([c, "--help"] for c in
                     ("simulate", "evaluate", "train", "sweep", "bench", "certify"))):
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(argv) == 0
        heavy = sorted({"torch", "pandas", "numpy", "smfg.env", "smfg.evaluate"} & set(sys.modules))
        print(heavy, time.process_time() - t0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "[]", out  # nothing heavy imported
    assert float(out[1]) < 0.5  # CPU seconds for every help page
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "smfg", "--version"], capture_output=True, text=True, check=True
    )
    assert time.perf_counter() - t0 < 3.0  # (wall time of a fresh interpreter, on a busy box)
    from smfg import __version__

    assert done.stdout.strip() == f"smfg {__version__}"
    text = cli.build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help()
    assert "(default: 10)" in text and "(default: float64)" in text
    assert "(default: None)" not in text


def test_the_names_help_lists_are_the_librarys():
    from smfg.evaluate import GOVERNMENT_POLICIES, HOUSEHOLD_POLICIES
    from smfg.paper.fixed_policies import FIXED_RULES
    from smfg.runs.algorithms import ALGORITHMS

    assert set(cli.ALGORITHM_NAMES) == set(ALGORITHMS)
    assert cli.GOVERNMENT_POLICY_NAMES == GOVERNMENT_POLICIES
    assert cli.HOUSEHOLD_POLICY_NAMES == HOUSEHOLD_POLICIES
    assert FIXED_RULES == {"taxai": (0.99, 0.9), "clearing": (0.8, 1 / 3)}  # as the help says


def test_make_bench_children_are_accepted_and_keep_taxai(monkeypatch, capsys):
    """Every `smfg bench` child of `make bench` (bench_all) passes the checks, and the
    training and seeds rows still measure taxai (the old default) now that clearing is."""
    from smfg.perf import bench

    #: where each bench function takes its variant (the CLI passes them positionally)
    where = {
        "bench_env": 0,
        "bench_reference": 0,
        "bench_training": 1,
        "bench_seeds": 2,
        "bench_algorithm": 2,
    }
    variants = []

    def stub(name):
        def run(*args, **kw):
            variants.append((name, args[where[name]]))
            kind = name.removeprefix("bench_")
            return {"kind": kind, "variant": args[where[name]], "household_steps_per_s": 1.0}

        return run

    for name in where:
        monkeypatch.setattr(bench, name, stub(name))
    for row in ("env_row", "training_row", "seeds_row", "algorithm_row", "_household_row"):
        monkeypatch.setattr(bench, row, lambda res: "row")
    monkeypatch.setattr(bench, "bench_household", lambda: {"kind": "household"})

    def child(args):
        assert main(["bench", *args, "--json"]) == 0, capsys.readouterr().err
        return strict(capsys.readouterr().out.strip().splitlines()[-1])

    monkeypatch.setattr(bench, "_run_child", child)
    bench.bench_all(sizes=(100,), progress=lambda line: None)
    assert {name for name, _ in variants} == set(where)
    for name, variant in variants:
        if name in ("bench_training", "bench_seeds", "bench_algorithm"):
            assert variant == "taxai", name
    assert {v for name, v in variants if name == "bench_env"} == {"taxai", "clearing"}


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="neither a government policy"):
        main(["--debug", "evaluate", "--policy", "nonsense"])
    with pytest.raises(ValueError, match="neither a government policy"):
        main(["evaluate", "--policy", "nonsense", "--debug"])


def test_the_progress_eta_follows_the_share_of_the_work(capsys, monkeypatch):
    """With a share of the work the ETA is the time per share since the first report times
    the share left; without it, the time per unit times the units left."""
    from smfg.cli import output

    clock = iter([0.0, 10.0, 70.0, 70.0, 100.0])
    monkeypatch.setattr(output.time, "monotonic", lambda: next(clock))
    bar = output.Progress("sweep", total=100, unit="epochs")  # t0 = 0
    bar.update(10, force=True, share=0.1)  # the first share, at 10 s
    bar.update(20, force=True, share=0.4)  # 0.3 of the work in 60 s: 0.6 left is 120 s
    lines = capsys.readouterr().err.splitlines()
    assert "ETA" not in lines[0]
    assert lines[1] == (
        "sweep: 20/100 epochs (20%), 1.2 min elapsed, ETA 2.0 min (by the estimate's seconds)"
    )
    plain = output.Progress("evaluate", total=10, unit="steps")  # t0 = 70
    plain.update(5, force=True)  # 5 steps in 30 s: 5 left is 30 s
    assert capsys.readouterr().err.strip() == "evaluate: 5/10 steps (50%), 30 s elapsed, ETA 30 s"
