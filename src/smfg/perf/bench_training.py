"""Speed of training (``make bench``'s epoch tables): seconds per SMFRL epoch and the replay
buffer's memory (:func:`bench_training`), batched seeds against separate runs
(:func:`bench_seeds`), and an epoch of every algorithm of Table 2 (:func:`bench_algorithm`),
with the lines and tables that print them.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import replace

import torch

from smfg.runtime import tune_allocator


def bench_training(
    n_households: int = 100,
    variant: str = "taxai",
    epochs: int = 3,
    threads: int | None = 1,
    profile: str = "paper",
    follower_batch: str | None = None,
    updates_timed: int | None = None,
) -> dict:
    """Seconds per SMFRL epoch with the paper's settings (300 steps, 100 + 100 updates of
    batch 128, 10 evaluation episodes of 300 steps), and the replay buffer's memory for the
    paper's run length (1,000 epochs of 300 steps, under its memory cap). Another
    ``profile`` times that profile's epoch and replay buffer instead.

    ``follower_batch``: 'joint' (the original's, the ``paper`` profile's) or 'sampled' (None: the
    profile's). ``updates_timed``: time only this many leader and follower updates per epoch
    and project the update phase to the profile's count (an update's cost does not change
    within an epoch); the row then says ``projected_from_updates``. Collection and
    evaluation are always timed in full.
    """
    from smfg.algos.smfrl import SMFRLTrainer, smfrl_config

    if threads is not None:
        torch.set_num_threads(threads)
    tune_allocator()  # as smfg.runs.train.train does
    over = {"eval_steps": 300} if profile == "paper" else {}
    if follower_batch is not None:
        over["follower_batch"] = follower_batch
    cfg = smfrl_config(profile, variant=variant, n_households=n_households, **over)
    tr = SMFRLTrainer(cfg)
    L = tr.learner
    scale = 1.0
    if updates_timed is not None and updates_timed < max(cfg.leader_updates, 1):
        # the learner reads its update counts from its config: a copy with fewer updates
        L.cfg = replace(cfg, leader_updates=updates_timed, follower_updates=updates_timed)
        scale = cfg.leader_updates / updates_timed
    times = []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        tr.collect()
        t1, c1 = time.perf_counter(), time.process_time()
        tr.update()
        t2, c2 = time.perf_counter(), time.process_time()
        tr.evaluate()
        tr.epoch += 1
        t3, c3 = time.perf_counter(), time.process_time()
        upd, upd_cpu = (t2 - t1) * scale, (c2 - c1) * scale
        times.append(
            (t1 - t0 + upd + t3 - t2, t1 - t0 + upd, t3 - t2, c1 - c0 + upd_cpu + c3 - c2, upd)
        )
    steady = times[1:] or times  # the first epoch pays for lazy initialisation
    mean = [sum(x[i] for x in steady) / len(steady) for i in range(5)]
    flops = update_flops(L)
    gflop = (flops["leader"] * cfg.leader_updates + flops["follower"] * cfg.follower_updates) / 1e9
    peak = matmul_gflops(rows=cfg.batch_size * n_households)
    return {
        "kind": "smfrl-epoch",
        "profile": profile,
        "follower_batch": cfg.follower_batch,
        "variant": variant,
        "n_households": n_households,
        "n_envs": 1,
        "dtype": cfg.dtype,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "epochs_timed": len(steady),
        "projected_from_updates": updates_timed if scale != 1.0 else None,
        "epoch_s": mean[0],
        "train_s": mean[1],
        "eval_s": mean[2],
        "update_s": mean[4],
        # CPU seconds of this process: on a machine shared with other work, closer than the
        # wall time to what the epoch costs on an idle one
        "epoch_cpu_s": mean[3],
        "load_average_1min": os.getloadavg()[0],
        "replay_capacity_steps": L.buf.capacity,
        "replay_mb": L.buf.nbytes / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "original_epoch_s": {100: "30-42", 1000: "390"}.get(n_households, "n/a"),
        "target_epoch_s": {100: 3.0, 1000: 8.0}.get(n_households),
        # the updates' arithmetic (matrix products, counted) and what it takes at best on
        # this machine: an epoch's update GFLOP at the rate of one large matrix product
        "update_gflop": gflop,
        "update_gflop_per_s": gflop / mean[4] if mean[4] > 0 else None,
        "matmul_gflop_per_s": peak,
        "update_floor_s": gflop / peak,
    }


def update_flops(learner) -> dict[str, float]:
    """Floating-point operations of one leader and one follower update of an off-policy
    ``learner`` (its matrix products, as ``torch.utils.flop_counter`` counts them: the
    elementwise work is not counted). Runs one update of each side: call it after timing."""
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for side, update in (("leader", learner.leader_update), ("follower", learner.follower_update)):
        with FlopCounterMode(display=False) as counter:
            update()
        out[side] = float(counter.get_total_flops())
    return out


def matmul_gflops(rows: int = 128_000, width: int = 128, seconds: float = 1.0) -> float:
    """GFLOP/s of a [rows, width] x [width, width] float32 product on this process's torch
    threads (the shape of a follower update's largest products: a batch's household rows
    through a 128-unit layer), the best of repeats over about ``seconds``."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(rows, width, generator=gen)
    b = torch.randn(width, width, generator=gen)
    out = torch.empty(rows, width)
    torch.mm(a, b, out=out)  # warm-up
    best, t_end = math.inf, time.perf_counter() + seconds
    for _ in range(1000):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
        if t0 > t_end:
            break
    return 2.0 * rows * width * width / best / 1e9


def bench_seeds(
    n_households: int = 100, k: int = 5, variant: str = "taxai", epochs: int = 2, threads: int = 1
) -> dict:
    """Seconds per epoch of K seeds trained as one batch (smfg.algos.seeds) against one seed
    alone, quick profile, BC start, in the same process: K seeds one after the other cost K
    times one seed; the target for the batch is at most 2 times one seed."""
    from smfg.algos.seeds import BatchedSMFRL
    from smfg.algos.smfrl import SMFRLTrainer, smfrl_config

    torch.set_num_threads(threads)
    tune_allocator()
    cfg = smfrl_config("quick", variant=variant, n_households=n_households, bc=True)

    def per_epoch(trainer) -> tuple[float, float]:
        trainer.train_epoch()  # lazy initialisation
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(epochs):
            trainer.train_epoch()
        return (time.perf_counter() - t0) / epochs, (time.process_time() - c0) / epochs

    one, one_cpu = per_epoch(SMFRLTrainer(cfg))
    batch, batch_cpu = per_epoch(BatchedSMFRL(cfg, list(range(k))))
    return {
        "kind": "smfrl-seeds",
        "variant": variant,
        "n_households": n_households,
        "seeds": k,
        "threads": threads,
        "one_seed_epoch_s": one,
        "batch_epoch_s": batch,
        "ratio_to_one_seed": batch / one,
        "one_seed_epoch_cpu_s": one_cpu,
        "batch_epoch_cpu_s": batch_cpu,
        "load_average_1min": os.getloadavg()[0],
        "target_ratio": 2.0,
    }


def seeds_row(r: dict) -> str:
    """One line of a batched-seeds row (what ``smfg bench --seeds-batch`` prints)."""
    return (
        f"smfrl {r['seeds']} seeds batched, {r['variant']} N={r['n_households']}, "
        f"{r['threads']} thread(s): {r['batch_epoch_s']:.2f} s per epoch against "
        f"{r['one_seed_epoch_s']:.2f} s for one seed alone (x{r['ratio_to_one_seed']:.2f}; "
        f"{r['seeds']} one after the other: x{r['seeds']})"
    )


#: The algorithms of ``make bench``'s epoch table, SMFRL first (the baselines of Table 2).
BENCH_ALGORITHMS = ("smfrl", "rule_based", "ddpg", "iddpg", "maddpg", "mfmarl", "ppo")


def bench_algorithm(
    algo: str,
    n_households: int = 100,
    variant: str = "taxai",
    epochs: int = 3,
    threads: int | None = 1,
) -> dict:
    """Seconds per epoch of any registered algorithm with its paper profile (300 steps; the
    DDPG family 100 + 100 updates of batch 128; PPO 4 passes of 4 minibatches in its joint
    phase, the planner learning; 10 evaluation episodes capped at 300 steps), so that every
    algorithm is timed by the same code, in one ``make bench`` run.

    SMFRL is timed with the 'sampled' follower batch (128 (step, household) pairs, as the
    other DDPG-family followers sample theirs), not the paper profile's 'joint' batch
    (book:learning-follower-batch), whose epochs :func:`bench_training` times apart; the row
    says which (``follower_batch``)."""
    from smfg.runs.algorithms import ALGORITHMS, check_algo

    if threads is not None:
        torch.set_num_threads(threads)
    tune_allocator()  # as smfg.runs.train.train does
    build, trainer_cls, _ = ALGORITHMS[check_algo(algo)]
    over = {"eval_steps": 300}
    if algo == "ppo":  # time the joint phase: households and planner both acting and learning
        over.update(household_epochs=0, planner_freeze_epochs=0)
    if algo == "smfrl":  # like for like with the other followers' (step, household) batches
        over["follower_batch"] = "sampled"
    tr = trainer_cls(build("paper", variant=variant, n_households=n_households, **over))
    times = []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        m = tr.train_epoch()
        times.append(
            (time.perf_counter() - t0, m["train_s"], m["eval_s"], time.process_time() - c0)
        )
    steady = times[1:] or times  # the first epoch pays for lazy initialisation
    mean = [sum(x[i] for x in steady) / len(steady) for i in range(4)]
    full_s, full_steps = full_evaluation_seconds(tr)
    return {
        "kind": "algo-epoch",
        "algo": algo,
        "follower_batch": over.get("follower_batch"),
        "variant": variant,
        "n_households": n_households,
        "threads": torch.get_num_threads(),
        "epochs_timed": len(steady),
        "epoch_s": mean[0],
        "train_s": mean[1],
        "eval_s": mean[2],
        "epoch_cpu_s": mean[3],
        "eval_full_s": full_s,
        "eval_full_steps": full_steps,
        "load_average_1min": os.getloadavg()[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def full_evaluation_seconds(tr) -> tuple[float, int]:
    """Seconds of one evaluation of the trainer's ``eval_steps`` steps that runs them all,
    and that number of steps.

    An epoch's own evaluation stops when its economies end, and in `taxai` the bench's
    untrained economies end within a few years, sooner under some algorithms' first
    policies than under others': its ``eval_s`` compares evaluations of different lengths.
    This one steps the evaluation economies (on the same shocks, through the trainer's own
    ``act``) for every step whether they have ended or not, so that the cost of an epoch
    whose economies live the whole episode, as trained ones do, is compared like with like
    across algorithms. An ended economy costs a step what a living one does (the step is
    computed for every economy and masked)."""
    from smfg.algos.common import EVAL_SEED_OFFSET

    cfg, env = tr.cfg, tr.eval_env
    steps = tr.params.T if cfg.eval_steps is None else int(cfg.eval_steps)
    env.gens[0].manual_seed(cfg.seed + EVAL_SEED_OFFSET)
    obs = env.reset()
    carry = tr.initial_carry(env.n_envs)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            a_l, a_f, carry = tr.act(tr.finite_obs(obs), carry, cfg.eval_noise_std, env.gens[0])
            obs = env.step(a_l, a_f).obs
    return time.perf_counter() - t0, steps


def algorithm_row(r: dict) -> str:
    """One line of an algorithm's epoch row (``smfg bench --training --algo``)."""
    return (
        f"{r['algo']:>10s} epoch {r['variant']} N={r['n_households']:>5d}: {r['epoch_s']:.2f} s "
        f"(train {r['train_s']:.2f} + eval {r['eval_s']:.2f}; CPU {r['epoch_cpu_s']:.2f} s; "
        f"load {r['load_average_1min']:.1f}), peak RSS {r['peak_rss_mb']:.0f} MB"
        + (
            f"; a full evaluation ({r['eval_full_steps']} steps): {r['eval_full_s']:.2f} s"
            if r.get("eval_full_s") is not None
            else ""
        )
    )


def full_epoch_s(r: dict) -> float | None:
    """An algorithm row's epoch with a full-length evaluation: training plus
    :func:`full_evaluation_seconds` (None for a row measured before it was recorded)."""
    if r.get("eval_full_s") is None:
        return None
    return r["train_s"] + r["eval_full_s"]


def format_algorithms(rows: list) -> str:
    """Markdown: seconds per epoch of each algorithm at each N, beside SMFRL's (its sampled
    follower batch, :func:`bench_algorithm`): the epoch as measured (its evaluation as long
    as its economies lasted), the epoch with a full-length evaluation (:func:`full_epoch_s`,
    like with like across algorithms) and the training part alone, each as a ratio to SMFRL's
    (n/a for rows measured before the full evaluation was recorded)."""
    sizes = sorted({r["n_households"] for r in rows})
    by = {(r["algo"], r["n_households"]): r for r in rows}
    head = "| algorithm | " + " | ".join(
        f"N={n:,} s/epoch (train + eval) | CPU s | x SMFRL | train + full eval s | "
        "x SMFRL, full eval | x SMFRL, train"
        for n in sizes
    )
    lines = [head + " |", "|---" + "|---:|---:|---:|---:|---:|---:" * len(sizes) + "|"]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a is not None and b else "n/a"

    for algo in dict.fromkeys(r["algo"] for r in rows):
        cells = []
        for n in sizes:
            r, ref = by.get((algo, n)), by.get(("smfrl", n))
            if r is None:
                cells.append(" | ".join(["n/a"] * 6))
                continue
            full, ref_full = full_epoch_s(r), full_epoch_s(ref) if ref else None
            cells.append(
                f"{r['epoch_s']:.2f} ({r['train_s']:.2f} + {r['eval_s']:.2f}) | "
                f"{r['epoch_cpu_s']:.2f} | {ratio(r['epoch_s'], ref and ref['epoch_s'])} | "
                f"{'n/a' if full is None else f'{full:.2f}'} | {ratio(full, ref_full)} | "
                f"{ratio(r['train_s'], ref and ref['train_s'])}"
            )
        batch = next((r.get("follower_batch") for r in rows if r["algo"] == algo), None)
        name = f"{algo} ({batch} batch)" if batch else algo
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_row(r: dict) -> str:
    """One line of an SMFRL epoch row (what ``smfg bench --training`` prints)."""
    proj = r.get("projected_from_updates")
    return (
        f"smfrl epoch {r['variant']} N={r['n_households']:>5d} "
        f"{r.get('follower_batch', 'sampled')} batch: {r['epoch_s']:.2f} s "
        f"{f'(updates projected from {proj}) ' if proj else ''}"
        f"(train {r['train_s']:.2f} + eval {r['eval_s']:.2f}; CPU {secs(r.get('epoch_cpu_s'))} s), "
        f"replay {r['replay_mb']:.0f} MB "
        f"for {r['replay_capacity_steps']} steps, peak RSS {r['peak_rss_mb']:.0f} MB"
        + (
            f"; updates {r['update_gflop']:.0f} GFLOP an epoch at "
            f"{r['update_gflop_per_s']:.1f} GFLOP/s (one matrix product: "
            f"{r['matmul_gflop_per_s']:.1f} GFLOP/s, a floor of {r['update_floor_s']:.2f} s)"
            if r.get("update_gflop_per_s")
            else ""
        )
    )


def secs(x) -> str:
    """Seconds to two decimals; ``n/a`` for None."""
    return "n/a" if x is None else f"{x:.2f}"
