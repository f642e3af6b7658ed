"""``smfg bench``: the speed of the environment step and of training, one mode at a time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smfg.cli.options import ALGORITHM_NAMES, refuse
from smfg.cli.output import one_line, strict_json

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
        raise ValueError(f"--device {name} cannot be used ({one_line(e)[:200]})") from None
    return device


def cmd_bench(args: argparse.Namespace) -> int:
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
    refuse(args, _BENCH_ALL - _BENCH_OPTIONS[mode] - {"algo"}, f"to {_BENCH_LABELS[mode]}")
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
