"""The ``smfg`` command line: ``simulate``, ``train``, ``evaluate``, ``sweep``, ``certify`` and
``bench``.

Logic lives in the library; this module parses and checks arguments, reports progress on
long work to stderr (so that ``--json`` output stays clean) and prints results. Every failure
a user can cause ends in one line on stderr and exit status 2 (bad input) or 1 (a computation
that failed; 130 when interrupted); ``--debug`` shows the traceback instead. The library is
imported by the subcommand that needs it, so that ``smfg --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from smfg.config import DTYPES, PROFILES, VARIANTS

#: The economy of every subcommand unless told otherwise (the default for new studies).
DEFAULT_VARIANT = "clearing"
#: The names --help lists, without importing the library (tests check they are the library's).
ALGORITHM_NAMES = ("smfrl", "rule_based", "ddpg", "iddpg", "maddpg", "mfmarl", "ppo")
GOVERNMENT_POLICY_NAMES = ("free-market", "us-federal-2022", "saez", "saez-paper")
HOUSEHOLD_POLICY_NAMES = ("fixed", "random", "survey")
SAEZ_POLICIES = ("saez", "saez-paper")
#: Each economy's own fixed household rule, as the help says it (smfg.paper.fixed_policies)
SAVING_HELP = "the economy's own rule: 0.8 in clearing, 0.99 in taxai"
WORK_HELP = "the economy's own rule: 1/3 in clearing, 0.9 in taxai"


# ----------------------------------------------------------------------------- messages


class Interrupted(Exception):
    """Ctrl-C, with what the command had done and how to go on."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of long work on stderr: the count of ``total`` (if known), the elapsed time and
    an ETA, at most every ``every_s`` seconds (on a terminal one line rewritten in place,
    elsewhere a line at a time, the first one at once)."""

    def __init__(self, label: str, total: int | None = None, unit: str = "", start: int = 0):
        self.label, self.total, self.unit, self.start = label, total, unit, start
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.every_s = 0.2 if self.tty else 5.0
        self.last = -math.inf
        self.pending = False  # a terminal line waits for its newline

    def update(self, done: int | None = None, note: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.t0
        parts = [self.label + ":"]
        if done is not None and self.total:
            parts.append(f"{done}/{self.total} {self.unit} ({100 * done / self.total:.0f}%),")
        parts.append(f"{_duration(elapsed)} elapsed")
        if done is not None and self.total and done > self.start and done < self.total:
            left = elapsed / (done - self.start) * (self.total - done)
            parts[-1] += f", ETA {_duration(left)}"
        line = " ".join(parts) + (f"; {note}" if note else "")
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line)
            self.pending = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def say(self, line: str) -> None:
        """A line that stays (a stage done, a result on the way)."""
        self.close()
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.pending:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.pending = False


# ----------------------------------------------------------------------------- strict JSON


def strict_json(obj: dict, why: Callable[[str, float], str | None] | None = None) -> str:
    """``obj`` as strict JSON: every non-finite number becomes null and is listed under
    ``null_values`` (its path, what it was and why, from ``why(path, value)``)."""
    nulls: dict[str, dict] = {}

    def walk(x, path: str):
        if isinstance(x, float) and not math.isfinite(x):
            reason = (why(path, x) if why else None) or "not a finite number"
            nulls[path] = {"was": repr(float(x)), "why": reason}
            return None
        if isinstance(x, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if hasattr(x, "item") and not isinstance(x, str | bytes):  # numpy scalars
            return walk(x.item(), path)
        return x

    out = walk(obj, "")
    if nulls:
        out["null_values"] = nulls
    return json.dumps(out, allow_nan=False)


def _evaluation_nulls(path: str, value: float) -> str | None:
    if path.endswith((".ci_low", ".ci_high")):
        return "a 95% interval across seeds needs at least 2 seeds (--seeds)"
    return None


def _certify_nulls(path: str, value: float) -> str | None:
    if "cev" in path and value > 0:
        return (
            "an infinite gain: in some states no finite scaling of the rule's consumption "
            "reaches the best response's value (see followers.share_infinite)"
        )
    if path.endswith("leader_return") and value < 0:
        return "an infeasible policy: no stationary equilibrium (see the row's reason)"
    return None


# ----------------------------------------------------------------------------- argparse


def _mark(namespace: argparse.Namespace, dest: str) -> None:
    given = getattr(namespace, "_given", None)
    if given is None:
        given = set()
        namespace._given = given
    given.add(dest)


class _Store(argparse.Action):
    """argparse's store, remembering that the option was given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark(namespace, self.dest)


class _Flag(argparse.Action):
    """argparse's store_true, remembering that the option was given."""

    def __init__(self, option_strings, dest, default=False, required=False, help=None):
        super().__init__(
            option_strings, dest, nargs=0, default=default, required=required, help=help
        )

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        _mark(namespace, self.dest)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it is None or False or the help says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, and that remembers the options given."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        for name in (None, "store"):
            self.register("action", name, _Store)
        self.register("action", "store_true", _Flag)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}; see {self.prog} --help\n")


def _given(args: argparse.Namespace) -> set[str]:
    return getattr(args, "_given", set())


def _integer(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not allowed: an integer >= {low}")
        return value

    return parse


def _real(low: float | None = None, high: float | None = None, open_low: bool = False):
    """A finite float in [low, high] (``open_low``: above low)."""
    if low is not None and high is not None:
        allowed = f"{'(' if open_low else '['}{low:g}, {high:g}]"
    elif low is not None:
        allowed = f"a number {'>' if open_low else '>='} {low:g}"
    else:
        allowed = "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = math.isfinite(value)
        ok = ok and (low is None or (value > low if open_low else value >= low))
        ok = ok and (high is None or value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"{text} is out of range: allowed {allowed}")
        return value

    return parse


POSITIVE, NON_NEGATIVE, SHARE = _integer(1), _integer(0), _real(0.0, 1.0)


def _refuse(args: argparse.Namespace, options: Iterable[str], why: str) -> None:
    """ValueError when any of ``options`` (dests) was given: they would be ignored."""
    given = sorted(_given(args) & set(options))
    if given:
        names = ", ".join("--" + g.replace("_", "-") for g in given)
        raise ValueError(f"{names} {'does' if len(given) == 1 else 'do'} not apply {why}")


# ----------------------------------------------------------------------------- simulate


def _simulate(args: argparse.Namespace) -> int:
    from smfg.paper.fixed_policies import FIXED_RULES
    from smfg.paper.simulate import simulate_fixed_rule

    saving, work = FIXED_RULES[args.variant]
    res = simulate_fixed_rule(
        variant=args.variant,
        n_households=args.households,
        saving=saving if args.saving is None else args.saving,
        work=work if args.work is None else args.work,
        steps=args.steps,
        seed=args.seed,
        leader_action=tuple(args.leader_action),
        dtype=args.dtype,
    )
    out = res.to_json_dict()
    if args.json:
        print(strict_json(out))
    else:
        for k, v in out.items():
            print(f"{k:>16s}: {v}")
    return 0


# ----------------------------------------------------------------------------- evaluate


def _evaluate(args: argparse.Namespace) -> int:
    name = args.policy
    run_dir = Path(name)
    is_run = name not in GOVERNMENT_POLICY_NAMES
    if is_run and not run_dir.is_dir():
        if run_dir.exists():
            raise ValueError(f"--policy {name}: a file, not a run directory of `smfg train`")
        if os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
            raise FileNotFoundError(f"--policy {name}: no run directory {run_dir}")
        raise ValueError(
            f"--policy {name!r} is neither a government policy "
            f"({', '.join(GOVERNMENT_POLICY_NAMES)}) nor a run directory of `smfg train`"
        )
    if name not in SAEZ_POLICIES:
        _refuse(args, ["elasticity"], f"to --policy {name} (only to {' and '.join(SAEZ_POLICIES)})")
    rule = args.households_policy or (None if is_run else "fixed")
    if rule != "fixed":
        who = f"--households-policy {rule}" if rule else "the run's own followers"
        _refuse(args, ["saving", "work"], f"to {who}, only to --households-policy fixed")

    from smfg import evaluate as ev
    from smfg.paper.fixed_policies import FIXED_RULES

    if is_run:  # a trained run: its leader, and its followers unless told otherwise
        from smfg.runs.learned import learned_policy
        from smfg.runs.store import RunStore
        from smfg.runs.train import make_trainer

        state = RunStore(run_dir.parent).load_policy(run_dir, make_trainer)
        learned = learned_policy(state, noise_std=args.noise, seed=args.seed0)
        cfg = state["config"]
        gov = learned.leader
        variant = args.variant or cfg["variant"]
        n = args.households or cfg["n_households"]
        overrides = dict(cfg.get("economy", {}))
        noise = 0.0  # the learned policy adds its own noise, in its actor's output space
        households = learned.followers
    else:
        variant = args.variant or DEFAULT_VARIANT
        gov = ev.government_policy(name, elasticity=args.elasticity, seed=args.seed0)
        n, overrides, noise = args.households or 100, {}, args.noise
    if rule is not None:
        saving, work = FIXED_RULES[variant]  # the economy's own fixed rule unless given
        households = ev.household_policy(
            rule,
            saving if args.saving is None else args.saving,
            work if args.work is None else args.work,
            seed=args.seed0,
        )
    from smfg.config import economy_params

    episodes = args.episodes * args.seeds
    steps = args.steps or economy_params(variant, **overrides).T
    bar = Progress(f"evaluate {variant} N={n}", total=steps, unit="steps")

    def progress(step: int, alive: int) -> None:
        bar.update(step, f"{episodes - alive}/{episodes} episodes ended", force=alive == 0)

    res = ev.evaluate(
        gov,
        households,
        variant=variant,
        n_households=n,
        n_episodes=args.episodes,
        seeds=list(range(args.seed0, args.seed0 + args.seeds)),
        steps=args.steps,
        noise_std=noise,
        dtype=args.dtype,
        progress=progress,
        **overrides,
    )
    bar.update(steps, f"{episodes}/{episodes} episodes done", force=True)
    bar.close()
    if args.json:
        print(strict_json(res.summary_dict(), _evaluation_nulls))
    else:
        print(res.summary.to_string(index=False))
        print(f"{len(res.episodes)} episodes in {res.seconds:.1f} s")
    return 0


# ----------------------------------------------------------------------------- train


def _train(args: argparse.Namespace) -> int:
    import torch

    from smfg.runs.algorithms import check_algo
    from smfg.runs.store import RunStore
    from smfg.runs.train import PROGRESS_KEYS, run_spec, train

    check_algo(args.algo)
    if args.seeds:
        _refuse(args, ["seed"], "with --seeds (each of the seeds is a run)")
        _refuse(args, ["stop_after"], "with --seeds: it stops one seed's run")
    torch.set_num_threads(args.threads)
    overrides = {
        "variant": args.variant,
        "n_households": args.households,
        "bc": args.bc,
        "paper_quirks": args.paper_quirks,
    }
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.certify_every:
        overrides["certify_every"] = args.certify_every
    seeds = args.seeds or [args.seed]
    specs = [run_spec(args.algo, args.profile, **overrides, seed=s) for s in seeds]
    store = RunStore(args.results)
    label = f"train {args.algo} {args.variant} N={args.households}"
    n_epochs = specs[0]["epochs"]
    start = {s: store.checkpoint_epoch(spec) for s, spec in zip(seeds, specs, strict=True)}
    done = dict(start)
    bar = Progress(label, total=n_epochs * len(seeds), unit="epochs", start=sum(start.values()))

    def progress_seed(seed: int, epoch: int, metrics: dict) -> None:
        done[seed] = epoch
        note = ", ".join(f"{k} {metrics[k]:.3g}" for k in PROGRESS_KEYS if k in metrics)
        total = sum(done.values())
        bar.update(total, note, force=total == bar.total)

    try:
        if args.seeds:  # several seeds as one batched model (smfg.runs.seeds)
            from smfg.runs.seeds import train_seeds

            results = train_seeds(
                args.algo,
                args.profile,
                seeds=args.seeds,
                root=args.results,
                progress=progress_seed,
                **overrides,
            )
        else:
            results = [
                train(
                    args.algo,
                    args.profile,
                    root=args.results,
                    stop_after=args.stop_after,
                    progress=lambda epoch, m: progress_seed(args.seed, epoch, m),
                    **overrides,
                    seed=args.seed,
                )
            ]
    except KeyboardInterrupt:
        bar.close()
        at = sorted({store.checkpoint_epoch(spec) for spec in specs})
        where = f"epoch {at[0]}" if len(at) == 1 else f"epochs {', '.join(map(str, at))}"
        raise Interrupted(
            f"interrupted at {where} of {n_epochs} (checkpointed); rerun the same command to resume"
        ) from None
    bar.close()
    for res in results:
        last = res.metrics.iloc[-1].to_dict() if len(res.metrics) else {}
        out = {
            "run_dir": str(res.run_dir),
            "computed": res.computed,
            "epochs": len(res.metrics),
            "last_epoch": {k: last[k] for k in PROGRESS_KEYS if k in last},
        }
        if args.seeds:
            out["seed"] = res.policy_state["config"]["seed"]
        print(strict_json(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


# ----------------------------------------------------------------------------- sweep


def _sweep(args: argparse.Namespace) -> int:
    grid = ("algo", "variant", "households", "seeds", "epochs", "bc")
    if args.file or args.experiment:
        _refuse(args, grid, "with --file or --experiment: they build a grid (put them in a file)")
    if args.file:
        _refuse(args, ["profile"], "with --file: the file's `profile` key sets it")
    if args.scheduler or args.local_workers:
        _refuse(args, ["workers"], "to a Dask cluster (--scheduler, --local-workers)")
        if args.scheduler and args.local_workers:
            raise ValueError("--scheduler and --local-workers: give one Dask cluster, not two")

    import torch

    from smfg.perf.estimate import load_calibration
    from smfg.runs import sweep as sw

    torch.set_num_threads(1)
    if args.file or args.experiment:
        from smfg.paper.artefacts import EXPERIMENTS
        from smfg.paper.specs import CERTIFIED_PAGE, experiment_specs

        specs = sw.specs_from_file(args.file, experiment_specs) if args.file else []
        names = args.experiment or []
        if "all" in names:
            names = [*EXPERIMENTS, CERTIFIED_PAGE]
        for name in names:
            specs += experiment_specs(name, args.profile)
    else:
        over = {} if args.epochs is None else {"epochs": args.epochs}
        specs = sw.grid_specs(
            args.algo,
            args.profile,
            variants=args.variant or [DEFAULT_VARIANT],
            households=args.households or [100],
            seeds=args.seeds or [0],
            bc=[args.bc],
            **over,
        )
    specs = sw.unique_specs(specs)  # pages share runs: count each once
    calibration = load_calibration(args.calibration)
    # a running cluster is asked for its workers (the estimate's wall time), and trains with
    # the same client
    client = sw.dask_client(args.scheduler)[0] if args.scheduler else None
    try:
        return _sweep_specs(args, specs, calibration, client)
    finally:
        if client is not None:
            client.close()


def _sweep_workers(args: argparse.Namespace, client) -> int:
    """The workers a sweep runs on: the cluster's threads, the LocalCluster's processes, the
    pool's processes (one per core by default) or this process."""
    from smfg.runs.executors import cores

    if client is not None:
        return int(sum(client.nthreads().values()))
    if args.local_workers:
        return int(args.local_workers)
    if args.workers is None:
        return cores()
    return max(int(args.workers), 1)


def _sweep_specs(args: argparse.Namespace, specs: list, calibration, client) -> int:
    from smfg.perf.estimate import estimate, run_seconds
    from smfg.runs import sweep as sw
    from smfg.runs.store import RunStore

    cost = estimate(specs, args.results, _sweep_workers(args, client), calibration)
    if args.dry_run:
        store = RunStore(args.results)
        rows = [(store.status(s), sw.run_label(s), str(store.run_dir(s))) for s in specs]
        for status, label, path in rows:
            if not args.json:
                print(f"{status:8s} {label}  {path}")
        if args.json:
            runs = [{"status": st, "label": lb, "run_dir": p} for st, lb, p in rows]
            print(strict_json({"runs": runs, "estimate": cost.as_dict()}))
        else:
            print(cost.line())
        return 0
    bar = Progress("sweep", unit="epochs")
    bar.say(cost.line())

    def epochs(done: int, total: int) -> None:
        if bar.total is None:  # the first report: epochs resumed runs had count as start
            bar.total, bar.start = total, done
        bar.update(done, force=done == total)

    try:
        res = sw.sweep(
            specs,
            args.results,
            workers=args.workers,
            local_workers=args.local_workers,
            client=client,
            retries=args.retries,
            checkpoint_every=args.checkpoint_every,
            progress=bar.say,
            epochs_progress=epochs,
            cost=lambda spec: run_seconds(spec, calibration),  # the longest runs first
        )
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(
            "interrupted; finished runs are kept and the others resume from their last "
            "checkpoint: rerun the same command"
        ) from None
    bar.close()
    if args.json:
        runs = json.loads(res.runs.to_json(orient="records"))
        print(strict_json({"ok": res.ok, "seconds": res.seconds, "runs": runs}))
    return 0 if res.ok else 1


# ----------------------------------------------------------------------------- bench

#: the options each mode of ``smfg bench`` uses (the others are refused)
_BENCH_OPTIONS = {
    "all": {"out"},
    "seeds_batch": {"variant", "households", "threads", "json"},
    "training_algo": {"variant", "households", "json"},
    "training": {"variant", "households", "follower_batch", "updates_timed", "json"},
    "reference": {"variant", "households", "steps", "json"},
    "env": {
        "variant",
        "households",
        "economies",
        "steps",
        "dtype",
        "device",
        "tune_malloc",
        "step_impl",
        "json",
    },
}
_BENCH_ALL = {o for opts in _BENCH_OPTIONS.values() for o in opts} | {"algo"}


def _bench_mode(args: argparse.Namespace) -> str:
    if args.all:
        return "all"
    if args.seeds_batch is not None:
        return "seeds_batch"
    if args.training:
        return "training_algo" if args.algo is not None else "training"
    return "reference" if args.reference else "env"


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {name!r} is not a device: allowed cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name}: this torch build sees no CUDA device (torch.cuda.is_available() "
            "is False); use --device cpu"
        )
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as e:
        raise ValueError(f"--device {name} cannot be used ({_one_line(e)[:200]})") from None
    return device


def _bench(args: argparse.Namespace) -> int:
    mode = _bench_mode(args)
    modes = [
        m
        for m in ("all", "seeds_batch", "training", "reference")
        if (getattr(args, m) not in (None, False))
    ]
    if len(modes) > 1:
        names = ", ".join("--" + m.replace("_", "-") for m in modes)
        raise ValueError(f"{names}: choose one of these modes")
    if args.algo is not None and not args.training:
        raise ValueError("--algo applies to --training only")
    _refuse(args, _BENCH_ALL - _BENCH_OPTIONS[mode] - {"algo"}, f"to {_BENCH_LABELS[mode]}")
    from smfg.perf import bench

    if mode == "all":
        report = bench.bench_all(progress=lambda line: print(line, file=sys.stderr, flush=True))
        table = bench.format_table(report)
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
            out.with_suffix(".md").write_text(table + "\n")
            print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
        print(table)
        return 0
    if mode == "seeds_batch":
        res = bench.bench_seeds(
            args.households, args.seeds_batch, args.variant, threads=args.threads
        )
        print(strict_json(res) if args.json else bench.seeds_row(res))
        return 0
    if mode == "training_algo":
        if args.algo not in ALGORITHM_NAMES:
            raise ValueError(f"--algo {args.algo!r} is not known: allowed {ALGORITHM_NAMES}")
        res = bench.bench_algorithm(args.algo, args.households, args.variant)
        print(strict_json(res) if args.json else bench.algorithm_row(res))
        return 0
    if mode == "training":
        res = bench.bench_training(
            args.households,
            args.variant,
            follower_batch=args.follower_batch,
            updates_timed=args.updates_timed,
        )
        print(strict_json(res) if args.json else bench.training_row(res))
        return 0
    if mode == "reference":
        res = bench.bench_reference(args.variant, args.households, steps=args.steps or 3)
    elif args.step_impl == "both":
        if args.device != "cpu" or args.steps is not None or args.tune_malloc:
            raise ValueError("--step-impl both takes no --device, --steps or --tune-malloc")
        res = bench.bench_step_impls(args.variant, args.households, args.economies, args.dtype)
        print(strict_json(res) if args.json else bench.step_impl_row(res))
        return 0
    else:
        device = _device(args.device)
        res = bench.bench_env(
            args.variant,
            args.households,
            args.economies,
            args.dtype,
            steps=args.steps,
            device=str(device),
            tuned_malloc=args.tune_malloc,
            step_impl=args.step_impl,
        )
    print(strict_json(res) if args.json else bench.env_row(res))
    return 0


#: how a refusal names each mode of ``smfg bench``
_BENCH_LABELS = {
    "all": "--all (the full matrix of make bench; it takes only --out)",
    "seeds_batch": "--seeds-batch",
    "training_algo": "--training --algo",
    "training": "--training",
    "reference": "--reference",
    "env": "the environment step (the mode without --training, --reference, --seeds-batch "
    "or --all)",
}


# ----------------------------------------------------------------------------- certify


def _certify(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run directory {run_dir}")
    from smfg.certify import solver_progress
    from smfg.runs.certify import certify_run, format_report
    from smfg.runs.store import RunStore
    from smfg.runs.train import make_trainer

    RunStore(run_dir.parent).load_policy(run_dir, make_trainer)  # rebuilt here if damaged
    bar = Progress(f"certify {run_dir.name}")

    def step(solver: str, k: int, detail: str) -> None:
        bar.update(note=f"{solver} step {k}: {detail}")

    with solver_progress(step):
        res = certify_run(
            run_dir,
            cache=not args.no_cache,
            burn_in=args.burn_in,
            na=args.grid,
            ne=args.abilities,
            grid_points=args.leader_grid,
            leader=args.leader_grid > 0,
            progress=lambda line: bar.say(f"certify: {line}"),
        )
    bar.close()
    print(strict_json(res, _certify_nulls) if args.json else format_report(res))
    return 0


# ----------------------------------------------------------------------------- the parser


def _version() -> str:
    from smfg import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
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

    s = command("simulate", "run a fixed household rule against a fixed leader action", _simulate)
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
        type=_real(),
        nargs=5,
        default=[0.001] * 5,
        metavar=("C0", "C1", "C2", "C3", "C4"),
        help="the leader's five numbers (book:model-actions), clipped to [0.001, 0.99] and "
        "scaled (E1): tau=0.2*c0, xi=0.05*c1, tau_a=0.2*c2, xi_a=0.05*c3, G=0.3*c4*Y; "
        "default free market",
    )
    s.add_argument("--dtype", choices=DTYPES, default="float64", help="floating-point type")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    e = command("evaluate", "evaluate a government policy against household policies", _evaluate)
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
        type=_real(0.0, open_low=True),
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

    t = command("train", "train an algorithm (cached and resumable in the run store)", _train)
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
        "sweep", "train many runs: a local process pool, or a Dask cluster (the dask extra)", _sweep
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

    b = command("bench", "household-steps per second of the environment step", _bench)
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
        _certify,
    )
    c.add_argument("run_dir", help="a finished run directory of `smfg train` (clearing)")
    c.add_argument(
        "--burn-in", type=NON_NEGATIVE, default=100, help="years before the averaging window"
    )
    c.add_argument("--grid", type=_integer(3), default=500, help="asset grid points")
    c.add_argument("--abilities", type=_integer(3), default=7, help="ability states (Rouwenhorst)")
    c.add_argument(
        "--leader-grid",
        type=NON_NEGATIVE,
        default=3,
        help="values of each of tau, xi, g in the leader's grid (0: none)",
    )
    c.add_argument("--no-cache", action="store_true", help="recompute even if certified before")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    return p


# ----------------------------------------------------------------------------- main


def _exit_status(exc: BaseException) -> tuple[int, str]:
    """(exit status, message) of an error: 2 for bad input, 1 for a failed computation."""
    text = _one_line(exc) or type(exc).__name__
    if isinstance(exc, Interrupted):
        return 130, text
    if isinstance(exc, ValueError | LookupError | ImportError | ConnectionError):
        return 2, text  # bad values, unknown names, a missing extra, an unreachable address
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        return 2, text
    if isinstance(exc, PermissionError):
        return 2, f"{text}; check the path and its permissions"
    if isinstance(exc, OSError):
        return 1, text
    if type(exc).__name__ in ("RunLockedError", "CorruptRunError"):  # smfg.runs.store
        return 1, text
    return 1, f"{type(exc).__name__}: {text} (rerun with --debug for the traceback)"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (also for --help and argument errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or an argument error (one line, status 2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    debug = getattr(args, "debug", False)
    who = f"smfg {args.command}"

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{who}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = show
        try:
            return args.func(args)
        except KeyboardInterrupt:
            if debug:
                raise
            print(f"{who}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if debug and not isinstance(exc, Interrupted):
                raise
            status, message = _exit_status(exc)
            print(f"{who}: {'' if status == 130 else 'error: '}{message}", file=sys.stderr)
            return status
