"""How costs scale with the number of households N (the ``scaling`` page).

:func:`time_env` and :func:`time_training`: household-steps per second of the environment step
and seconds per SMFRL epoch against N, each N in its own fresh process so that its peak
resident memory (``ru_maxrss``) is its own; beside the original code's figures
(:data:`ORIGINAL_ENV_RATE`, :data:`ORIGINAL_EPOCH_S`). Whether results settle as N grows is
the paper layer's mean-field check (:mod:`smfg.paper.mean_field`), re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context

import pandas as pd

from smfg.paper.mean_field import (
    CHECK_METRICS,
    MEAN_FIELD_POLICIES,
    check_cell,
    convergence_table,
    mean_field_check,
    settling_summary,
)
from smfg.profiles import ALL_PROFILES, ScalingProfile

__all__ = [
    "CHECK_METRICS",
    "MEAN_FIELD_POLICIES",
    "ORIGINAL_ENV_RATE",
    "ORIGINAL_EPOCH_S",
    "SCALING_PROFILES",
    "ScalingProfile",
    "convergence_table",
    "mean_field_check",
    "settling_summary",
    "measure_costs",
    "time_env",
    "time_evaluation",
    "time_training",
]

#: Household-steps per second of the original simulator (issue 9, measured on a 2-core CPU).
ORIGINAL_ENV_RATE = {100: 1.1e5, 1_000: 9.2e4, 10_000: 7.7e4, 100_000: 6.0e4}
#: Seconds per SMFRL epoch of the original code, (low, high), on a 2-core CPU (issue 9).
ORIGINAL_EPOCH_S = {100: (30.0, 42.0), 1_000: (390.0, 390.0)}

Progress = Callable[[str], None] | None


#: What the scaling page measures at each profile: a view of :class:`smfg.profiles.Profile`
#: (``scaling``).
SCALING_PROFILES = {p.name: p.scaling for p in ALL_PROFILES}


# ----------------------------------------------------------------------------- speed, memory

Task = tuple[str, dict]
"""(kind, keyword arguments): kind 'env' (bench.bench_env), 'training' (bench.bench_training)
or 'evaluation' (one evaluation episode)."""


def _evaluation(
    variant: str, n_households: int, steps: int, government: str, households: str
) -> dict:
    """One evaluation episode (float32): seconds and peak memory of this process."""
    import resource
    import time

    t0 = time.perf_counter()
    ep = check_cell(
        government, households, variant, n_households, [0], 1, steps, "float32", n_households
    )
    seconds = time.perf_counter() - t0
    row = ep.iloc[0]
    return {
        "variant": variant,
        "n_households": n_households,
        "government": government,
        "households": households,
        "steps": int(row["years"]),
        "seconds": seconds,
        "household_steps_per_s": row["years"] * n_households / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "per_capita_gdp": float(row["per_capita_gdp"]),
        "wealth_gini": float(row["wealth_gini"]),
    }


def _run_tasks(tasks: list[Task]) -> list[dict]:
    """Runs in a fresh process: the tasks in order, one torch thread, tuned allocator."""
    import torch

    from smfg.perf import bench
    from smfg.runtime import tune_allocator

    torch.set_num_threads(1)
    tune_allocator()
    kinds = {"env": bench.bench_env, "training": bench.bench_training, "evaluation": _evaluation}
    return [kinds[kind](**kw) for kind, kw in tasks]


def _in_children(tasks: list[Task], one_process: bool) -> list[dict]:
    """Each task in a fresh spawned process, or all of them in one (``one_process``)."""
    groups = [tasks] if one_process else [[t] for t in tasks]
    out = []
    for group in groups:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            out += pool.submit(_run_tasks, group).result()
    return out


def _env_tasks(sizes, variants, dtype, min_seconds) -> list[Task]:
    return [
        (
            "env",
            dict(
                variant=v,
                n_households=int(n),
                dtype=dtype,
                min_seconds=min_seconds,
                tuned_malloc=True,
            ),
        )
        for v in variants
        for n in sorted(sizes)
    ]


def _env_rows(results: list[dict], progress: Progress) -> pd.DataFrame:
    rows = []
    for r in results:
        n = int(r["n_households"])
        rows.append(
            {
                "variant": r["variant"],
                "n_households": n,
                "household_steps_per_s": r["household_steps_per_s"],
                "step_ms": r["step_ms"],
                "peak_rss_mb": r["peak_rss_mb"],
                "original_household_steps_per_s": ORIGINAL_ENV_RATE.get(n, math.nan),
            }
        )
        if progress is not None:
            progress(
                f"env {r['variant']} N={n:,}: {r['household_steps_per_s']:.3g} "
                f"household-steps/s, {r['step_ms']:.2f} ms/step, "
                f"{r['peak_rss_mb']:.0f} MB"
            )
    return pd.DataFrame(rows)


def _evaluation_tasks(sizes, variants, steps, government, households) -> list[Task]:
    return [
        (
            "evaluation",
            dict(
                variant=v,
                n_households=int(n),
                steps=int(steps),
                government=government,
                households=households,
            ),
        )
        for v in variants
        for n in sorted(sizes)
    ]


def _evaluation_rows(results: list[dict], progress: Progress) -> pd.DataFrame:
    if progress is not None:
        for r in results:
            progress(
                f"evaluation {r['variant']} N={r['n_households']:,}: {r['steps']} steps in "
                f"{r['seconds']:.1f} s, {r['peak_rss_mb']:.0f} MB"
            )
    return pd.DataFrame(results)


def _training_tasks(
    sizes, variant, profile, epochs, batches=("joint", "sampled"), joint_updates=None
) -> list[Task]:
    joint_updates = joint_updates or {}
    return [
        (
            "training",
            dict(
                n_households=int(n),
                variant=variant,
                epochs=int(epochs),
                threads=1,
                profile=profile,
                follower_batch=batch,
                updates_timed=joint_updates.get(int(n)) if batch == "joint" else None,
            ),
        )
        for batch in batches
        for n in sorted(sizes)
    ]


def _training_rows(results: list[dict], progress: Progress) -> pd.DataFrame:
    rows = []
    for r in results:
        n = int(r["n_households"])
        lo, hi = ORIGINAL_EPOCH_S.get(n, (math.nan, math.nan))
        rows.append(
            {
                "variant": r["variant"],
                "profile": r["profile"],
                "follower_batch": r["follower_batch"],
                "n_households": n,
                "projected_from_updates": r["projected_from_updates"],
                "epoch_s": r["epoch_s"],
                "train_s": r["train_s"],
                "eval_s": r["eval_s"],
                "replay_mb": r["replay_mb"],
                "replay_steps": r["replay_capacity_steps"],
                "peak_rss_mb": r["peak_rss_mb"],
                # the original ran the joint batch: only that row compares with it
                "original_epoch_s_low": lo if r["follower_batch"] == "joint" else math.nan,
                "original_epoch_s_high": hi if r["follower_batch"] == "joint" else math.nan,
            }
        )
        if progress is not None:
            progress(
                f"SMFRL {r['profile']} epoch ({r['follower_batch']} batch) {r['variant']} "
                f"N={n:,}: {r['epoch_s']:.2f} s, "
                f"replay {r['replay_mb']:.0f} MB, {r['peak_rss_mb']:.0f} MB"
            )
    return pd.DataFrame(rows)


def time_env(
    sizes: Sequence[int] = (100, 1_000, 10_000, 100_000, 1_000_000),
    variants: Sequence[str] = ("taxai",),
    dtype: str = "float32",
    min_seconds: float = 2.0,
    one_process: bool = False,
    progress: Progress = None,
) -> pd.DataFrame:
    """Household-steps per second and peak memory of the environment step against N.

    One row per variant and N: household_steps_per_s, step_ms, peak_rss_mb (the whole
    process: Python, torch and the economy), and the original simulator's rate where known.
    Each N runs in a fresh process; ``one_process``: all in one, smallest N first (cheaper;
    the peak memory at N is then the high-water mark of everything before it).
    """
    tasks = _env_tasks(sizes, variants, dtype, min_seconds)
    return _env_rows(_in_children(tasks, one_process), progress)


def time_evaluation(
    sizes: Sequence[int] = (1_000_000,),
    variants: Sequence[str] = ("taxai", "clearing"),
    steps: int = 100,
    government: str = "us-federal-2022",
    households: str = "fixed",
    one_process: bool = False,
    progress: Progress = None,
) -> pd.DataFrame:
    """A whole evaluation (:func:`smfg.evaluate.evaluate`: environment, policies, metrics) of
    one episode of ``steps`` steps at each N, in float32, each in a fresh process: seconds,
    household-steps per second (construction and reset included) and peak memory."""
    tasks = _evaluation_tasks(sizes, variants, steps, government, households)
    return _evaluation_rows(_in_children(tasks, one_process), progress)


def time_training(
    sizes: Sequence[int] = (100, 1_000, 10_000),
    variant: str = "taxai",
    profile: str = "paper",
    epochs: int = 2,
    one_process: bool = False,
    progress: Progress = None,
    batches: Sequence[str] = ("joint", "sampled"),
    joint_updates_timed: dict | None = None,
) -> pd.DataFrame:
    """Seconds per SMFRL epoch of ``profile`` and peak memory against N, one process per N,
    for each follower batch of ``batches``.

    ``profile='paper'`` is the original's epoch: 300 steps, 100 + 100 updates of batch 128,
    10 evaluation episodes of 300 steps; the replay buffer is as large as the paper's run
    needs, under its memory cap. Of ``epochs`` epochs the first is not timed when there are
    more (it pays for lazy initialisation). ``joint_updates_timed``: N -> updates timed with
    the joint batch, the update phase projected to the profile's count.
    """
    tasks = _training_tasks(sizes, variant, profile, epochs, batches, joint_updates_timed)
    return _training_rows(_in_children(tasks, one_process), progress)


def measure_costs(
    profile: str = "quick", progress: Progress = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The profile's timings: (environment step, evaluation, SMFRL epoch) tables as
    :func:`time_env`, :func:`time_evaluation` and :func:`time_training` return them; with
    the profile's ``one_process`` all of them in one fresh process, else one process each."""
    prof = SCALING_PROFILES[profile]
    env = _env_tasks(prof.env_sizes, prof.env_variants, "float32", prof.env_seconds)
    ev = _evaluation_tasks(
        prof.eval_sizes, prof.env_variants, prof.eval_steps, "us-federal-2022", "fixed"
    )
    tr = _training_tasks(
        prof.train_sizes,
        "taxai",
        prof.train_profile,
        prof.train_epochs,
        prof.train_batches,
        prof.joint_updates_timed,
    )
    if prof.one_process:
        res = _in_children(env + ev + tr, True)
        a, b = len(env), len(env) + len(ev)
        return (
            _env_rows(res[:a], progress),
            _evaluation_rows(res[a:b], progress),
            _training_rows(res[b:], progress),
        )
    return (
        _env_rows(_in_children(env, False), progress),
        _evaluation_rows(_in_children(ev, False), progress),
        _training_rows(_in_children(tr, False), progress),
    )


def profile_settings(profile: str) -> dict:
    """The profile's settings as a plain dict (for printing on the page)."""
    return asdict(SCALING_PROFILES[profile])
