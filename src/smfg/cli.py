"""The ``smfg`` command line: ``simulate``, ``train``, ``evaluate``, ``sweep`` and ``bench``.

Logic lives in the library; this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smfg.config import DTYPES, VARIANTS


def _simulate(args: argparse.Namespace) -> int:
    from smfg.experiments.simulate import simulate_fixed_rule

    res = simulate_fixed_rule(
        variant=args.variant,
        n_households=args.households,
        saving=args.saving,
        work=args.work,
        steps=args.steps,
        seed=args.seed,
        leader_action=tuple(args.leader_action),
        dtype=args.dtype,
    )
    out = res.to_json_dict()
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>16s}: {v}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from smfg import evaluate as ev

    run_dir = Path(args.policy)
    if run_dir.is_dir():  # a trained run: its leader, and its followers unless told otherwise
        from smfg.experiments.learned import learned_policy
        from smfg.experiments.store import RunStore

        state = RunStore(run_dir.parent).load_policy(run_dir)
        learned = learned_policy(state, noise_std=args.noise, seed=args.seed0)
        cfg = state["config"]
        gov = learned.leader
        households = (
            learned.followers
            if args.households_policy is None
            else ev.household_policy(
                args.households_policy,
                0.8 if args.saving is None else args.saving,
                1 / 3 if args.work is None else args.work,
                args.seed0,
            )
        )
        variant = args.variant or cfg["variant"]
        n = args.households or cfg["n_households"]
        overrides = dict(cfg.get("economy", {}))
        noise = 0.0  # the learned policy adds its own noise, in its actor's output space
    else:
        from smfg.experiments.fixed_policies import FIXED_RULES

        variant = args.variant or "clearing"
        saving, work = FIXED_RULES[variant]  # the variant's own fixed rule unless given
        gov = ev.government_policy(args.policy, elasticity=args.elasticity, seed=args.seed0)
        households = ev.household_policy(
            args.households_policy or "fixed",
            saving if args.saving is None else args.saving,
            work if args.work is None else args.work,
            seed=args.seed0,
        )
        n, overrides, noise = args.households or 100, {}, args.noise
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
        **overrides,
    )
    if args.json:
        print(json.dumps(res.summary_dict()))
    else:
        print(res.summary.to_string(index=False))
        print(f"{len(res.episodes)} episodes in {res.seconds:.1f} s")
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from smfg.experiments.train import PROGRESS_KEYS, run_spec, train

    torch.set_num_threads(args.threads)
    overrides = {"variant": args.variant, "n_households": args.households, "seed": args.seed,
                 "bc": args.bc, "paper_quirks": args.paper_quirks}  # fmt: skip
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.certify_every:
        overrides["certify_every"] = args.certify_every
    spec = run_spec(args.algo, args.profile, **overrides)
    bar = tqdm(total=spec["epochs"], desc=f"{args.algo} {args.variant} N={args.households}",
               unit="epoch", disable=args.json)  # fmt: skip

    def progress(epoch: int, metrics: dict) -> None:
        bar.n = epoch
        bar.set_postfix(
            {k[:12]: f"{metrics[k]:.3g}" for k in PROGRESS_KEYS if k in metrics}, refresh=True
        )

    if args.seeds:  # several seeds as one batched model (smfg.experiments.seeds)
        from smfg.experiments.seeds import train_seeds

        if args.stop_after is not None:
            raise ValueError("--stop-after applies to one seed: leave it out with --seeds")
        del overrides["seed"]
        bar.total = spec["epochs"] * len(args.seeds)
        done: dict[int, int] = {}

        def progress_seed(seed: int, epoch: int, metrics: dict) -> None:
            done[seed] = epoch
            progress(sum(done.values()), metrics)

        results = train_seeds(args.algo, args.profile, seeds=args.seeds, root=args.results,
                              progress=progress_seed, **overrides)  # fmt: skip
        bar.close()
        for res in results:
            last = res.metrics.iloc[-1].to_dict() if len(res.metrics) else {}
            out = {"run_dir": str(res.run_dir), "computed": res.computed,
                   "epochs": len(res.metrics), "seed": res.policy_state["config"]["seed"],
                   "last_epoch": {k: last[k] for k in PROGRESS_KEYS if k in last}}  # fmt: skip
            print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
        return 0
    res = train(args.algo, args.profile, root=args.results, progress=progress,
                stop_after=args.stop_after, **overrides)  # fmt: skip
    bar.close()
    last = res.metrics.iloc[-1].to_dict() if len(res.metrics) else {}
    out = {"run_dir": str(res.run_dir), "computed": res.computed, "epochs": len(res.metrics),
           "last_epoch": {k: last[k] for k in PROGRESS_KEYS if k in last}}  # fmt: skip
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from smfg.experiments import sweep as sw
    from smfg.experiments.store import RunStore

    torch.set_num_threads(1)
    grid_flags = (args.variant, args.households, args.seeds, args.epochs)
    if args.file or args.experiment:
        if any(v is not None for v in grid_flags) or args.bc:
            raise ValueError(
                "--variant/--households/--seeds/--epochs/--bc build a grid; "
                "with --file or --experiment put them in the file instead"
            )
        specs = sw.specs_from_file(args.file) if args.file else []
        names = args.experiment or []
        if "all" in names:
            from smfg.experiments.registry import EXPERIMENTS

            names = [*EXPERIMENTS, sw.CERTIFIED_PAGE]
        for name in names:
            specs += sw.experiment_specs(name, args.profile)
    else:
        over = {} if args.epochs is None else {"epochs": args.epochs}
        specs = sw.grid_specs(args.algo, args.profile, variants=args.variant or ["taxai"],
                              households=args.households or [100], seeds=args.seeds or [0],
                              bc=[args.bc], **over)  # fmt: skip
    specs = sw.unique_specs(specs)  # pages share runs: count each once
    if args.dry_run:
        store = RunStore(args.results)
        for spec in specs:
            print(f"{store.status(spec):8s} {sw.run_label(spec)}  {store.run_dir(spec)}")
        return 0
    bar = tqdm(total=len(specs), desc="sweep", unit="run", disable=args.json)

    def progress(line: str) -> None:
        if line.startswith("["):
            bar.update(1)
        if not args.json:
            tqdm.write(line)

    try:
        res = sw.sweep(specs, args.results, workers=args.workers, scheduler=args.scheduler,
                       local_workers=args.local_workers, retries=args.retries,
                       checkpoint_every=args.checkpoint_every, progress=progress)  # fmt: skip
    except ImportError as e:  # Dask asked for but not installed
        print(f"smfg sweep: error: {e}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    if args.json:
        runs = json.loads(res.runs.to_json(orient="records"))
        print(json.dumps({"ok": res.ok, "seconds": res.seconds, "runs": runs}))
    return 0 if res.ok else 1


def _bench(args: argparse.Namespace) -> int:
    from smfg.experiments import bench

    if args.all:
        report = bench.bench_all(progress=lambda line: print(line, flush=True))
        table = bench.format_table(report)
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
            out.with_suffix(".md").write_text(table + "\n")
            print(f"wrote {out} and {out.with_suffix('.md')}")
        print(table)
        return 0
    if args.seeds_batch:
        res = bench.bench_seeds(args.households, args.seeds_batch, args.variant,
                                threads=args.threads)  # fmt: skip
        print(json.dumps(res) if args.json else bench._seeds_row(res))
        return 0
    if args.training and args.algo is not None:
        res = bench.bench_algorithm(args.algo, args.households, args.variant)
        print(json.dumps(res) if args.json else bench._algorithm_row(res))
        return 0
    if args.training:
        res = bench.bench_training(args.households, args.variant,
                                   follower_batch=args.follower_batch,
                                   updates_timed=args.updates_timed)  # fmt: skip
        print(json.dumps(res) if args.json else bench._training_row(res))
        return 0
    if args.reference:
        res = bench.bench_reference(args.variant, args.households, steps=args.steps or 3)
    else:
        res = bench.bench_env(
            args.variant, args.households, args.economies, args.dtype, steps=args.steps,
            device=args.device, tuned_malloc=args.tune_malloc,
        )  # fmt: skip
    print(json.dumps(res) if args.json else bench._row(res))
    return 0


def _certify(args: argparse.Namespace) -> int:
    from smfg.experiments.certify_run import certify_run, format_report

    res = certify_run(
        args.run_dir, cache=not args.no_cache, burn_in=args.burn_in, na=args.grid,
        ne=args.abilities, grid_points=args.leader_grid, leader=args.leader_grid > 0,
        progress=None if args.json else (lambda line: print(line, flush=True)),
    )  # fmt: skip
    print(json.dumps(res) if args.json else format_report(res))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smfg", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="run a fixed household rule against a fixed leader action")
    s.add_argument("--variant", choices=VARIANTS, default="taxai")
    s.add_argument("--households", type=int, default=100)
    s.add_argument("--saving", type=float, default=0.99, help="saving share of every household")
    s.add_argument("--work", type=float, default=0.9, help="work share (of h_max) of everyone")
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--leader-action", type=float, nargs=5, default=[0.001] * 5,
        metavar=("C0", "C1", "C2", "C3", "C4"),
        help="the leader's five numbers of SPEC 2.2, clipped to [0.001, 0.99] and scaled (E1): "
        "tau=0.2*c0, xi=0.05*c1, tau_a=0.2*c2, xi_a=0.05*c3, G=0.3*c4*Y; default free market",
    )  # fmt: skip
    s.add_argument("--dtype", choices=DTYPES, default="float64")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=_simulate)

    from smfg.evaluate import GOVERNMENT_POLICIES, HOUSEHOLD_POLICIES

    e = sub.add_parser("evaluate", help="evaluate a government policy against household policies")
    e.add_argument(
        "--policy", default="free-market",
        help=f"one of {', '.join(GOVERNMENT_POLICIES)}, or a run directory of `smfg train`",
    )  # fmt: skip
    e.add_argument("--households-policy", choices=HOUSEHOLD_POLICIES, default=None,
                   help="default: the run's followers for a run directory, else fixed")  # fmt: skip
    e.add_argument(
        "--saving",
        type=float,
        default=None,
        help="with --households-policy fixed (default: taxai 0.99, clearing 0.8)",
    )
    e.add_argument(
        "--work",
        type=float,
        default=None,
        help="with --households-policy fixed (default: taxai 0.9, clearing 1/3)",
    )
    e.add_argument("--elasticity", type=float, default=None, help="Saez elasticity")
    e.add_argument("--variant", choices=VARIANTS, default=None, help="default: clearing")
    e.add_argument("--households", type=int, default=None, help="default: 100")
    e.add_argument("--episodes", type=int, default=10, help="episodes per seed")
    e.add_argument("--seeds", type=int, default=5, help="number of seeds")
    e.add_argument("--seed0", type=int, default=0, help="first seed")
    e.add_argument("--steps", type=int, default=None, help="episode length cap (default T)")
    e.add_argument("--noise", type=float, default=0.0, help="exploration noise std")
    e.add_argument("--dtype", choices=DTYPES, default="float64")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_evaluate)

    t = sub.add_parser("train", help="train an algorithm (cached and resumable in the run store)")
    from smfg.experiments.train import ALGORITHMS

    t.add_argument("--algo", default="smfrl", help=f"the algorithm: {', '.join(ALGORITHMS)}")
    t.add_argument("--variant", choices=VARIANTS, default="taxai")
    t.add_argument("--households", type=int, default=100)
    t.add_argument("--bc", action="store_true", help="start followers from behaviour cloning")
    t.add_argument("--profile", default="quick", help="smoke, quick or paper")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds trained as one batched model (smfrl), each its own run")  # fmt: skip
    t.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    t.add_argument("--paper-quirks", action="store_true", help="the original action mapping")
    t.add_argument("--certify-every", type=int, default=0,
                   help="clearing: certify the policies every K epochs (0: never)")  # fmt: skip
    t.add_argument("--results", default="results", help="the run store's root directory")
    t.add_argument(
        "--stop-after", type=int, default=None, help="train at most this many epochs now"
    )
    t.add_argument("--threads", type=int, default=1,
                   help="torch threads (small networks train fastest on one)")  # fmt: skip
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_train)

    w = sub.add_parser(
        "sweep", help="train many runs: a local process pool, or a Dask cluster (the dask extra)"
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
    w.add_argument("--algo", default="smfrl", help=f"grid: one of {', '.join(ALGORITHMS)}")
    w.add_argument(
        "--variant",
        nargs="+",
        choices=VARIANTS,
        default=None,
        help="grid: economies (default taxai)",
    )
    w.add_argument("--households", nargs="+", type=int, default=None, help="grid: N (default 100)")
    w.add_argument("--seeds", nargs="+", type=int, default=None, help="grid: seeds (default 0)")
    w.add_argument("--bc", action="store_true", help="grid: followers start from behaviour cloning")
    w.add_argument("--epochs", type=int, default=None, help="grid: override the profile's epochs")
    w.add_argument("--profile", default="quick", help="smoke, quick or paper")
    w.add_argument("--results", default="results", help="the run store's root directory")
    w.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local process pool size (default: one per core; 0: in this process)",
    )
    w.add_argument("--scheduler", default=None, help="a Dask scheduler, tcp://HOST:PORT")
    w.add_argument(
        "--local-workers",
        type=int,
        default=None,
        help="start a Dask LocalCluster of this many worker processes",
    )
    w.add_argument("--retries", type=int, default=2, help="further attempts of a failed run")
    w.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    w.add_argument("--dry-run", action="store_true", help="list the runs and their status only")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=_sweep)

    b = sub.add_parser("bench", help="household-steps per second of the environment step")
    b.add_argument("--variant", choices=VARIANTS, default="taxai")
    b.add_argument("--households", type=int, default=1000)
    b.add_argument("--economies", type=int, default=1)
    b.add_argument("--steps", type=int, default=None, help="default: as many as fit in 1 s")
    b.add_argument("--dtype", choices=DTYPES, default="float32")
    b.add_argument("--device", default="cpu")
    b.add_argument("--reference", action="store_true", help="time the Python-loop reference")
    b.add_argument("--training", action="store_true", help="seconds per SMFRL epoch")
    b.add_argument(
        "--algo",
        default=None,
        help="with --training: any registered algorithm, timed by the same code",
    )
    b.add_argument(
        "--tune-malloc", action="store_true",
        help="keep freed large blocks in glibc's heap (smfg.runtime.tune_allocator)",
    )  # fmt: skip
    b.add_argument(
        "--seeds-batch",
        type=int,
        default=None,
        help="epoch time of this many SMFRL seeds as one batch against one seed",
    )
    b.add_argument("--threads", type=int, default=1, help="torch threads (with --seeds-batch)")
    b.add_argument(
        "--follower-batch",
        choices=("joint", "sampled"),
        default=None,
        help="with --training: SMFRL's follower batch (default: the profile's)",
    )
    b.add_argument("--updates-timed", type=int, default=None,
                   help="with --training: time this many updates and project to 100")  # fmt: skip
    b.add_argument("--all", action="store_true", help="the full matrix of make bench")
    b.add_argument("--out", default=None, help="with --all: write the JSON report here")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bench)

    c = sub.add_parser(
        "certify", help="exploitability and leader's gap of a trained clearing run (SPEC 12)"
    )
    c.add_argument("run_dir", help="a finished run directory of `smfg train` (clearing)")
    c.add_argument("--burn-in", type=int, default=100, help="years before the averaging window")
    c.add_argument("--grid", type=int, default=500, help="asset grid points")
    c.add_argument("--abilities", type=int, default=7, help="ability states (Rouwenhorst)")
    c.add_argument("--leader-grid", type=int, default=3,
                   help="values of each of tau, xi, g in the leader's grid (0: none)")  # fmt: skip
    c.add_argument("--no-cache", action="store_true", help="recompute even if certified before")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_certify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"smfg {args.command}: error: {exc}", file=sys.stderr)
        return 2
