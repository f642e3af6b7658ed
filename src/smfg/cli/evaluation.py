"""``smfg simulate``, ``smfg evaluate`` and ``smfg certify``: run fixed or learned policies
and report on them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from smfg.cli.options import DEFAULT_VARIANT, GOVERNMENT_POLICY_NAMES, SAEZ_POLICIES, refuse
from smfg.cli.output import Progress, strict_json


def _evaluation_nulls(path: str, value: float) -> str | None:
    if path.endswith((".ci_low", ".ci_high")):
        return "a 95% interval across seeds needs at least 2 seeds (--seeds)"
    return None


# ----------------------------------------------------------------------------- simulate


def cmd_simulate(args: argparse.Namespace) -> int:
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


def cmd_evaluate(args: argparse.Namespace) -> int:
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
        refuse(args, ["elasticity"], f"to --policy {name} (only to {' and '.join(SAEZ_POLICIES)})")
    rule = args.households_policy or (None if is_run else "fixed")
    if rule != "fixed":
        who = f"--households-policy {rule}" if rule else "the run's own followers"
        refuse(args, ["saving", "work"], f"to {who}, only to --households-policy fixed")

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


# ----------------------------------------------------------------------------- certify


def _certify_nulls(path: str, value: float) -> str | None:
    if "cev" in path and value > 0:
        return (
            "an infinite gain: in some states no finite scaling of the rule's consumption "
            "reaches the best response's value (see followers.share_infinite)"
        )
    if path.endswith("leader_return") and value < 0:
        return "an infeasible policy: no stationary equilibrium (see the row's reason)"
    return None


def cmd_certify(args: argparse.Namespace) -> int:
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
