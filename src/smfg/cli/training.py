"""``smfg train`` and ``smfg sweep``: train one run (or a batch of seeds) or many, cached and
resumable in the run store."""

from __future__ import annotations

import argparse
import json
import math

from smfg.cli.options import DEFAULT_VARIANT, refuse
from smfg.cli.output import Interrupted, Progress, strict_json

# ----------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from smfg.runs.algorithms import check_algo
    from smfg.runs.store import RunStore
    from smfg.runs.train import PROGRESS_KEYS, run_spec, train

    check_algo(args.algo)
    if args.seeds:
        refuse(args, ["seed"], "with --seeds (each of the seeds is a run)")
        refuse(args, ["stop_after"], "with --seeds: it stops one seed's run")
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
        # an epoch that does not evaluate (eval_every) has NaN there: not shown
        shown = [k for k in PROGRESS_KEYS if k in metrics and not math.isnan(metrics[k])]
        note = ", ".join(f"{k} {metrics[k]:.3g}" for k in shown)
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


def cmd_sweep(args: argparse.Namespace) -> int:
    grid = ("algo", "variant", "households", "seeds", "epochs", "bc")
    if args.file or args.experiment:
        refuse(args, grid, "with --file or --experiment: they build a grid (put them in a file)")
    if args.file:
        refuse(args, ["profile"], "with --file: the file's `profile` key sets it")
    if args.scheduler or args.local_workers:
        refuse(args, ["workers"], "to a Dask cluster (--scheduler, --local-workers)")
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
    from smfg.perf.estimate import batch_seconds, estimate, run_seconds
    from smfg.runs import sweep as sw
    from smfg.runs.store import RunStore

    workers = _sweep_workers(args, client)
    cost = estimate(specs, args.results, workers, calibration, batch_seeds=args.batch_seeds)
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

    def epochs(done: int, total: int, share: float) -> None:
        if bar.total is None:  # the first report: epochs resumed runs had count as start
            bar.total, bar.start = total, done
        bar.update(done, force=done == total, share=share)

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
            batch_seeds=args.batch_seeds,
            batch_cost=lambda specs: batch_seconds(specs, calibration),
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
