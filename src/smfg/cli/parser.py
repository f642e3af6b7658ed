"""The parser of ``smfg`` and its six subcommands, each bound to the function that runs it."""

from __future__ import annotations

import argparse

from smfg.cli.benchmark import cmd_bench
from smfg.cli.evaluation import cmd_certify, cmd_evaluate, cmd_simulate
from smfg.cli.options import (
    ALGORITHM_NAMES,
    DEFAULT_VARIANT,
    GOVERNMENT_POLICY_NAMES,
    HOUSEHOLD_POLICY_NAMES,
    NON_NEGATIVE,
    POSITIVE,
    SAVING_HELP,
    SHARE,
    WORK_HELP,
    Parser,
    integer,
    real,
)
from smfg.cli.training import cmd_sweep, cmd_train
from smfg.config import DTYPES, PROFILES, VARIANTS


def _version() -> str:
    from smfg import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="smfg",
        description="Stackelberg mean field games for macroeconomic policy: simulate, train, "
        "evaluate, sweep, certify and bench. Progress goes to stderr; errors are one line "
        "(exit 2: bad input, 1: a failed computation).",
    )
    p.add_argument("--version", action="version", version=f"smfg {_version()}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, func) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show the traceback of an error",
        )
        c.set_defaults(func=func)
        return c

    def variant(c, text: str = "the economy") -> None:
        c.add_argument("--variant", choices=VARIANTS, default=DEFAULT_VARIANT, help=text)

    s = command(
        "simulate", "run a fixed household rule against a fixed leader action", cmd_simulate
    )
    variant(s)
    s.add_argument("--households", type=POSITIVE, default=100, help="households")
    s.add_argument(
        "--saving",
        type=SHARE,
        default=None,
        help=f"saving share of every household (default: {SAVING_HELP})",
    )
    s.add_argument(
        "--work",
        type=SHARE,
        default=None,
        help=f"work share (of h_max) of everyone (default: {WORK_HELP})",
    )
    s.add_argument("--steps", type=POSITIVE, default=300, help="steps at most")
    s.add_argument("--seed", type=NON_NEGATIVE, default=0, help="random seed")
    s.add_argument(
        "--leader-action",
        type=real(),
        nargs=5,
        default=[0.001] * 5,
        metavar=("C0", "C1", "C2", "C3", "C4"),
        help="the leader's five numbers (book:model-actions), clipped to [0.001, 0.99] and "
        "scaled (E1): tau=0.2*c0, xi=0.05*c1, tau_a=0.2*c2, xi_a=0.05*c3, G=0.3*c4*Y; "
        "default free market",
    )
    s.add_argument("--dtype", choices=DTYPES, default="float64", help="floating-point type")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    e = command("evaluate", "evaluate a government policy against household policies", cmd_evaluate)
    e.add_argument(
        "--policy",
        default="free-market",
        help=f"one of {', '.join(GOVERNMENT_POLICY_NAMES)}, or a run directory of `smfg train` "
        "(default: free-market)",
    )
    e.add_argument(
        "--households-policy",
        choices=HOUSEHOLD_POLICY_NAMES,
        default=None,
        help="default: the run's followers for a run directory, else fixed",
    )
    e.add_argument(
        "--saving",
        type=SHARE,
        default=None,
        help=f"saving share, with --households-policy fixed (default: {SAVING_HELP})",
    )
    e.add_argument(
        "--work",
        type=SHARE,
        default=None,
        help=f"work share, with --households-policy fixed (default: {WORK_HELP})",
    )
    e.add_argument(
        "--elasticity",
        type=real(0.0, open_low=True),
        default=None,
        help="Saez elasticity (saez: default 1; saez-paper: re-estimated)",
    )
    e.add_argument(
        "--variant",
        choices=VARIANTS,
        default=None,
        help=f"default: the run's economy for a run directory, else {DEFAULT_VARIANT}",
    )
    e.add_argument(
        "--households",
        type=POSITIVE,
        default=None,
        help="households (default: the run's N for a run directory, else 100)",
    )
    e.add_argument("--episodes", type=POSITIVE, default=10, help="episodes per seed")
    e.add_argument("--seeds", type=POSITIVE, default=5, help="number of seeds")
    e.add_argument("--seed0", type=NON_NEGATIVE, default=0, help="first seed")
    e.add_argument(
        "--steps", type=POSITIVE, default=None, help="episode length cap (default: the economy's T)"
    )
    e.add_argument("--noise", type=SHARE, default=0.0, help="exploration noise std")
    e.add_argument("--dtype", choices=DTYPES, default="float64", help="floating-point type")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    t = command("train", "train an algorithm (cached and resumable in the run store)", cmd_train)
    t.add_argument("--algo", default="smfrl", help=f"one of {', '.join(ALGORITHM_NAMES)}")
    variant(t)
    t.add_argument("--households", type=POSITIVE, default=100, help="households")
    t.add_argument("--bc", action="store_true", help="start followers from behaviour cloning")
    t.add_argument("--profile", choices=PROFILES, default="quick", help="the profile")
    t.add_argument("--seed", type=NON_NEGATIVE, default=0, help="random seed")
    t.add_argument(
        "--seeds",
        type=NON_NEGATIVE,
        nargs="+",
        default=None,
        help="seeds trained as one batched model (smfrl), each its own run",
    )
    t.add_argument("--epochs", type=POSITIVE, default=None, help="epochs (default: the profile's)")
    t.add_argument("--paper-quirks", action="store_true", help="the original action mapping")
    t.add_argument(
        "--certify-every",
        type=NON_NEGATIVE,
        default=0,
        help="clearing: certify the policies every K epochs (0: never)",
    )
    t.add_argument("--results", default="results", help="the run store's root directory")
    t.add_argument(
        "--stop-after",
        type=POSITIVE,
        default=None,
        help="train at most this many epochs now (default: to the end)",
    )
    t.add_argument(
        "--threads",
        type=POSITIVE,
        default=1,
        help="torch threads (small networks train fastest on one)",
    )
    t.add_argument("--json", action="store_true", help="print one JSON object per run")

    w = command(
        "sweep",
        "train many runs: a local process pool, or a Dask cluster (the dask extra)",
        cmd_sweep,
    )
    w.add_argument(
        "--file", default=None, help="a YAML or JSON sweep file (grid, runs, experiment)"
    )
    w.add_argument(
        "--experiment",
        nargs="+",
        default=None,
        help="the training runs of registry artefacts (e.g. table1_algorithms; all: every one)",
    )
    w.add_argument("--algo", default="smfrl", help=f"grid: one of {', '.join(ALGORITHM_NAMES)}")
    w.add_argument(
        "--variant",
        nargs="+",
        choices=VARIANTS,
        default=None,
        help=f"grid: economies (default: {DEFAULT_VARIANT})",
    )
    w.add_argument(
        "--households", nargs="+", type=POSITIVE, default=None, help="grid: N (default: 100)"
    )
    w.add_argument(
        "--seeds", nargs="+", type=NON_NEGATIVE, default=None, help="grid: seeds (default: 0)"
    )
    w.add_argument("--bc", action="store_true", help="grid: followers start from behaviour cloning")
    w.add_argument(
        "--epochs", type=POSITIVE, default=None, help="grid: epochs (default: the profile's)"
    )
    w.add_argument(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="the profile of a grid or of --experiment",
    )
    w.add_argument("--results", default="results", help="the run store's root directory")
    w.add_argument(
        "--workers",
        type=NON_NEGATIVE,
        default=None,
        help="local process pool size (default: one per core; 0: in this process)",
    )
    w.add_argument("--scheduler", default=None, help="a Dask scheduler, tcp://HOST:PORT")
    w.add_argument(
        "--local-workers",
        type=POSITIVE,
        default=None,
        help="start a Dask LocalCluster of this many worker processes",
    )
    w.add_argument(
        "--retries", type=NON_NEGATIVE, default=2, help="further attempts of a failed run"
    )
    w.add_argument(
        "--checkpoint-every", type=POSITIVE, default=1, help="epochs between checkpoints"
    )
    w.add_argument(
        "--no-batch-seeds",
        dest="batch_seeds",
        action="store_false",
        help="train every run alone (default: the seeds of one DDPG-family configuration train "
        "as one batched model, equal to the runs alone up to rounding)",
    )
    w.add_argument(
        "--dry-run",
        action="store_true",
        help="list the runs and their status, then the estimate line (nothing is trained)",
    )
    w.add_argument(
        "--calibration",
        default=None,
        help="the bench report the estimate reads (default: benchmarks/results.json where it "
        "exists, else the committed bench's numbers)",
    )
    w.add_argument("--json", action="store_true", help="print one JSON object")

    b = command("bench", "household-steps per second of the environment step", cmd_bench)
    variant(b)
    b.add_argument("--households", type=POSITIVE, default=1000, help="households")
    b.add_argument("--economies", type=POSITIVE, default=1, help="economies in the batch")
    b.add_argument(
        "--steps",
        type=POSITIVE,
        default=None,
        help="steps timed (default: as many as fit in 2 s; --reference: 3)",
    )
    b.add_argument("--dtype", choices=DTYPES, default="float32", help="floating-point type")
    b.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    b.add_argument("--reference", action="store_true", help="time the Python-loop reference")
    b.add_argument("--training", action="store_true", help="seconds per SMFRL epoch")
    b.add_argument(
        "--algo",
        default=None,
        help="with --training: any registered algorithm, timed by the same code",
    )
    b.add_argument(
        "--tune-malloc",
        action="store_true",
        help="keep freed large blocks in glibc's heap (smfg.runtime.tune_allocator)",
    )
    b.add_argument(
        "--step-impl",
        choices=("eager", "compiled", "both"),
        default="eager",
        help="the environment step: eager, compiled (torch.compile), or both in one process, "
        "alternated, with their ratio",
    )
    b.add_argument(
        "--seeds-batch",
        type=POSITIVE,
        default=None,
        help="epoch time of this many SMFRL seeds as one batch against one seed",
    )
    b.add_argument("--threads", type=POSITIVE, default=1, help="torch threads (with --seeds-batch)")
    b.add_argument(
        "--follower-batch",
        choices=("joint", "sampled"),
        default=None,
        help="with --training: SMFRL's follower batch (default: the profile's)",
    )
    b.add_argument(
        "--updates-timed",
        type=POSITIVE,
        default=None,
        help="with --training: time this many updates and project to 100",
    )
    b.add_argument(
        "--all", action="store_true", help="the full matrix of make bench (takes only --out)"
    )
    b.add_argument("--out", default=None, help="with --all: write the JSON report here")
    b.add_argument("--json", action="store_true", help="print one JSON object")

    c = command(
        "certify",
        "exploitability and leader's gap of a trained clearing run (book:certification)",
        cmd_certify,
    )
    c.add_argument("run_dir", help="a finished run directory of `smfg train` (clearing)")
    c.add_argument(
        "--burn-in", type=NON_NEGATIVE, default=100, help="years before the averaging window"
    )
    c.add_argument("--grid", type=integer(3), default=500, help="asset grid points")
    c.add_argument("--abilities", type=integer(3), default=7, help="ability states (Rouwenhorst)")
    c.add_argument(
        "--leader-grid",
        type=NON_NEGATIVE,
        default=3,
        help="values of each of tau, xi, g in the leader's grid (0: none)",
    )
    c.add_argument("--no-cache", action="store_true", help="recompute even if certified before")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    return p
