"""Speed and memory of the environment step: household-steps per second (``make bench``).

Each configuration runs in its own process so that its peak memory is its own. The
reference is :mod:`smfg.economy.reference`, a plain per-household Python loop of the same
equations, at H = 1e3.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

from smfg.config import economy_params
from smfg.economy.reference import ref_gini, ref_step
from smfg.env import SMFGEnv
from smfg.perf.bench_training import (
    BENCH_ALGORITHMS,
    algorithm_row,
    bench_algorithm,
    bench_seeds,
    bench_training,
    format_algorithms,
    secs,
    seeds_row,
    training_row,
)
from smfg.runtime import tune_allocator

__all__ = [
    "BENCH_ALGORITHMS",
    "RULES",
    "SIZES",
    "STEP_IMPL_SHAPES",
    "TRAINING_SIZES",
    "algorithm_row",
    "bench_algorithm",
    "bench_algorithms",
    "bench_all",
    "bench_env",
    "bench_household",
    "bench_reference",
    "bench_seeds",
    "bench_step_impls",
    "bench_training",
    "env_row",
    "format_algorithms",
    "format_step_impls",
    "format_table",
    "seeds_row",
    "step_impl_row",
    "training_row",
]

RULES = {"taxai": (0.99, 0.9), "clearing": (0.8, 1.0 / 3.0)}
SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
TRAINING_SIZES = (100, 1_000, 10_000)


def bench_env(
    variant: str = "taxai",
    n_households: int = 1000,
    n_envs: int = 1,
    dtype: str = "float32",
    steps: int | None = None,
    min_seconds: float = 2.0,
    seed: int = 0,
    device: str = "cpu",
    tuned_malloc: bool = False,
    step_impl: str = "eager",
) -> dict:
    """Time the full environment step (economy, observations, rewards, metrics).

    Runs ``steps`` steps, or as many as fit in ``min_seconds`` (at least 5), after 3 warm-up
    steps (the first of which compiles, with ``step_impl='compiled'``).
    """
    tuned = tune_allocator() if tuned_malloc else False
    params = economy_params(variant, T=10**9)
    env = SMFGEnv(
        params,
        n_households,
        n_envs=n_envs,
        seed=seed,
        dtype=dtype,
        device=device,
        step_impl=step_impl,
    )
    env.reset()
    s, f = RULES[variant]
    act = torch.empty(n_envs, n_households, 2, dtype=env.dtype, device=env.device)
    act[..., 0], act[..., 1] = s, f
    gov = torch.full((n_envs, 5), 0.001, dtype=env.dtype, device=env.device)
    for _ in range(3):  # warm-up: first allocations, page faults, lazy initialisation
        env.step(gov, act)
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    sync()
    n, t0 = 0, time.perf_counter()
    while True:
        env.step(gov, act)
        n += 1
        elapsed = time.perf_counter() - t0
        if (steps is not None and n >= steps) or (
            steps is None and n >= 5 and elapsed >= min_seconds
        ):
            break
    sync()
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "kind": "env",
        "variant": variant,
        "n_households": n_households,
        "n_envs": n_envs,
        "dtype": dtype,
        "device": str(env.device),
        "steps": n,
        "seconds": elapsed,
        "step_ms": 1e3 * elapsed / n,
        "household_steps_per_s": n * n_households * n_envs / elapsed,
        "peak_rss_mb": peak_mb,
        "tuned_malloc": tuned,
        "step_impl": env.step_impl,
        "all_alive": not bool(env.state.done.any()),
    }


def bench_step_impls(
    variant: str = "taxai",
    n_households: int = 100,
    n_envs: int = 1,
    dtype: str = "float32",
    rounds: int = 15,
    min_seconds: float = 4.0,
    seed: int = 0,
) -> dict:
    """The compiled environment step against the eager one in the same process: rounds of
    steps of each, alternated, so that both see the same load; the best round of each, their
    ratio, the median ratio of the rounds, and the seconds the first compiled step took
    (compilation; less when inductor's cache on disk already holds the graph)."""
    tune_allocator()
    params = economy_params(variant, T=10**9)
    envs = {
        impl: SMFGEnv(params, n_households, n_envs=n_envs, seed=seed, dtype=dtype, step_impl=impl)
        for impl in ("eager", "compiled")
    }
    s, f = RULES[variant]
    act = torch.empty(n_envs, n_households, 2, dtype=envs["eager"].dtype)
    act[..., 0], act[..., 1] = s, f
    gov = torch.full((n_envs, 5), 0.001, dtype=act.dtype)
    first = {}
    for impl, env in envs.items():
        env.reset()
        t0 = time.perf_counter()
        env.step(gov, act)
        first[impl] = time.perf_counter() - t0
        for _ in range(2):
            env.step(gov, act)
    t0 = time.perf_counter()
    env = envs["eager"]
    n = 0
    while n < 3 or time.perf_counter() - t0 < min_seconds / (2 * rounds):
        env.step(gov, act)
        n += 1
    times = {impl: [] for impl in envs}
    for _ in range(rounds):
        for impl, env in envs.items():
            t0 = time.perf_counter()
            for _ in range(n):
                env.step(gov, act)
            times[impl].append((time.perf_counter() - t0) / n)
    best = {impl: min(x) for impl, x in times.items()}
    ratios = sorted(e / c for e, c in zip(times["eager"], times["compiled"], strict=True))
    return {
        "kind": "step-impl",
        "variant": variant,
        "n_households": n_households,
        "n_envs": n_envs,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "steps_per_round": n,
        "rounds": rounds,
        "eager_step_ms": 1e3 * best["eager"],
        "compiled_step_ms": 1e3 * best["compiled"],
        "eager_household_steps_per_s": n_households * n_envs / best["eager"],
        "compiled_household_steps_per_s": n_households * n_envs / best["compiled"],
        "ratio": best["eager"] / best["compiled"],
        "median_round_ratio": ratios[len(ratios) // 2],
        "compile_s": first["compiled"] - first["eager"],
        "compiled_step_impl": envs["compiled"].step_impl,  # 'eager' if compilation failed
        "load_average_1min": os.getloadavg()[0],
        "all_alive": not any(bool(env.state.done.any()) for env in envs.values()),
    }


#: the shapes of the compiled-step table: training's (N = 100, one economy and 64) and 1e6
STEP_IMPL_SHAPES = ((100, 1), (100, 64), (1_000_000, 1))


def step_impl_row(r: dict) -> str:
    """One line of a compiled-vs-eager row (what ``smfg bench --step-impl both`` prints)."""
    fell_back = "" if r["compiled_step_impl"] == "compiled" else "; FELL BACK TO EAGER"
    return (
        f"compiled step {r['variant']:8s} H={r['n_households']:>9,d} E={r['n_envs']:>3d} "
        f"{r['dtype']:>8s}: {r['compiled_household_steps_per_s']:.3e} hh-steps/s against "
        f"{r['eager_household_steps_per_s']:.3e} eager (x{r['ratio']:.2f}, rounds' median "
        f"x{r['median_round_ratio']:.2f}; compile {r['compile_s']:.1f} s; load "
        f"{r['load_average_1min']:.1f}{fell_back})"
    )


def format_step_impls(rows: list) -> str:
    """Markdown: the compiled step beside the eager one, measured in the same process."""
    lines = [
        "| step | variant | H | E | dtype | eager hh-steps/s | compiled hh-steps/s "
        "| x eager (best rounds) | x eager (median round) | compile s | load |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        impl = "compiled" if r["compiled_step_impl"] == "compiled" else "fell back to eager"
        lines.append(
            f"| {impl} | {r['variant']} | {r['n_households']:,} | {r['n_envs']} | {r['dtype']} | "
            f"{r['eager_household_steps_per_s']:.3e} | {r['compiled_household_steps_per_s']:.3e} "
            f"| {r['ratio']:.2f} | {r['median_round_ratio']:.2f} | {r['compile_s']:.1f} | "
            f"{r['load_average_1min']:.1f} |"
        )
    return "\n".join(lines)


def bench_reference(
    variant: str = "taxai", n_households: int = 1000, steps: int = 3, seed: int = 0
) -> dict:
    """Time the per-household Python loop (economy step plus the leader observation)."""
    params = economy_params(variant, T=10**9)
    env = SMFGEnv(params, n_households, seed=seed, dtype="float64")
    env.reset()
    st = {
        "a": env.state.a[0].tolist(),
        "e": env.state.e[0].tolist(),
        "sup": env.state.superstar[0].tolist(),
        "K": float(env.state.K[0]),
        "B": float(env.state.B[0]),
    }
    sv, wk = RULES[variant]
    gov = {"tau": 0.0002, "xi": 0.00005, "tau_a": 0.0002, "xi_a": 0.00005, "g": 0.0003}
    s, f = [sv] * n_households, [wk] * n_households
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        eps = torch.randn(n_households, generator=gen, dtype=torch.float64).tolist()
        u = torch.rand(n_households, generator=gen, dtype=torch.float64).tolist()
        st, fl = ref_step(st, gov, s, f, eps, u, params)
        k10, k50 = n_households // 10, n_households // 2
        wealth = sorted(st["a"], reverse=True)
        income = sorted(zip(fl["income"], fl["e"], strict=True), reverse=True)
        _ = (
            sum(wealth[:k10]) / k10,
            sum(x for x, _ in income[:k10]) / k10,
            sum(w for w in wealth[k50:]) / (n_households - k50),
            ref_gini(st["a"]),
        )
    elapsed = time.perf_counter() - t0
    return {
        "kind": "reference",
        "variant": variant,
        "n_households": n_households,
        "n_envs": 1,
        "dtype": "float64 (Python floats)",
        "device": "cpu",
        "steps": steps,
        "seconds": elapsed,
        "step_ms": 1e3 * elapsed / steps,
        "household_steps_per_s": steps * n_households / elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def bench_household(na: int = 500, ne: int = 7, repeats: int = 3) -> dict:
    """Seconds for the stationary household problem of `clearing` on ``na`` assets x ``ne``
    abilities (free market, the calibration's wage, r = 3.5%): the endogenous grid method
    (textbook timing; best of ``repeats``, wall and CPU), the environment-timing best
    response (policy iteration, once), and the mean log10 Euler error."""
    import numpy as np

    from smfg import certify as C

    p = economy_params("clearing")
    hh, ab, grid = C.Household.from_params(p), C.ability_grid(p, ne), C.AssetGrid(na, 200.0)
    fiscal = C.Fiscal.from_raw([p.action_low] * 5, p)  # the free market
    prices = C.Prices(0.035, (1 - p.alpha) / (p.mean_ability * p.h_max / 3))
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sol = C.solve_known(hh, fiscal, prices, grid, ab, tol=1e-9, value=False)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    env = C.solve_env(hh, fiscal, prices, grid, ab, init=sol)
    env_wall, env_cpu = time.perf_counter() - t0, time.process_time() - c0
    err = C.euler_errors(sol)
    return {
        "kind": "household",
        "grid": [na, ne],
        "egm_s": min(wall),
        "egm_cpu_s": min(cpu),
        "egm_iterations": sol.iterations,
        "env_s": env_wall,
        "env_cpu_s": env_cpu,
        "env_iterations": env.iterations,
        "euler_error_mean_log10": float(np.nanmean(err)),
        "load_average": list(os.getloadavg()),
    }


def _household_row(r: dict) -> str:
    na, ne = r["grid"]
    return (
        f"household problem {na} x {ne}: EGM {r['egm_s']:.3f} s (CPU {r['egm_cpu_s']:.3f} s, "
        f"{r['egm_iterations']} steps), environment-timing best response {r['env_s']:.2f} s "
        f"(CPU {r['env_cpu_s']:.2f} s), mean log10 Euler error "
        f"{r['euler_error_mean_log10']:.2f}; load average {r['load_average'][0]:.1f}"
    )


def _run_child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "smfg", "bench", *args, "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_algorithms(sizes=(100, 1000), algorithms=BENCH_ALGORITHMS, progress=print) -> list:
    """:func:`bench_algorithm` for each algorithm and N, each in its own process."""
    rows = []
    for algo in algorithms:
        for n in sizes:
            res = _run_child(
                ["--training", "--algo", algo, "--households", str(n), "--variant", "taxai"]
            )
            rows.append(res)
            progress(algorithm_row(res))
    return rows


def bench_all(sizes=SIZES, progress=print) -> dict:
    """The full matrix of ``make bench``: sizes x variants x dtypes, 64 x 100, the reference."""
    results = []
    configs = [
        (v, h, 1, d, True)
        for v in ("taxai", "clearing")
        for d in ("float32", "float64")
        for h in sizes
    ]
    configs += [
        (v, 100, 64, d, True) for v in ("taxai", "clearing") for d in ("float32", "float64")
    ]
    # the largest size also with glibc's default allocator settings, for comparison
    configs += [(v, max(sizes), 1, "float32", False) for v in ("taxai", "clearing")]
    for v, h, e, d, tuned in configs:
        args = ["--variant", v, "--households", str(h), "--economies", str(e), "--dtype", d]
        res = _run_child(args + (["--tune-malloc"] if tuned else []))
        results.append(res)
        progress(env_row(res))
    for v in ("taxai", "clearing"):
        res = _run_child(["--variant", v, "--households", "1000", "--reference"])
        results.append(res)
        progress(env_row(res))
    ref = {r["variant"]: r["household_steps_per_s"] for r in results if r["kind"] == "reference"}
    for r in results:
        r["ratio_to_reference"] = r["household_steps_per_s"] / ref[r["variant"]]
    step_impls = []
    for v in ("taxai", "clearing"):
        for h, e in STEP_IMPL_SHAPES:
            args = ["--variant", v, "--households", str(h), "--economies", str(e)]
            res = _run_child(args + ["--dtype", "float32", "--step-impl", "both"])
            step_impls.append(res)
            progress(step_impl_row(res))
    training = []
    for batch in ("joint", "sampled"):
        for n in TRAINING_SIZES:
            args = ["--training", "--households", str(n), "--variant", "taxai"]
            args += ["--follower-batch", batch]
            # a joint follower update takes ~1.5 s at N = 1,000 and ~40 s at 10,000 on 2 cores:
            # time 10 (3) updates of each side and project to 100 (labelled in the row)
            if batch == "joint" and n >= 1_000:
                args += ["--updates-timed", "10" if n < 10_000 else "3"]
            res = _run_child(args)
            training.append(res)
            progress(training_row(res))
    # one torch thread, and (on a machine with two cores or more) two, one seed alone with as
    # many: with two threads on two loaded cores the batch's small products spend their time in
    # OpenMP's waits (measured 20 times slower at a load average of 3.5), so the one-thread
    # row is the robust one and the two-thread row holds on idle cores only
    seeds = []
    for threads in (1, 2) if (os.cpu_count() or 1) >= 2 else (1,):
        args = ["--seeds-batch", "5", "--households", "100", "--threads", str(threads)]
        seeds.append(_run_child([*args, "--variant", "taxai"]))
        progress(seeds_row(seeds[-1]))
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "targets": {
            "household_steps_per_s_at_1e6_float32": 1e7,
            "compiled_step_household_steps_per_s_at_1e6_float32": 3e7,
            "compiled_step_ratio_at_100_households": 4.0,
            "peak_rss_mb_at_1e6": 2048,
            "original_simulator_household_steps_per_s_at_1e5": 6e4,
        },
        "results": results,
        "step_impls": step_impls,
        "training": training,
        "seeds": seeds,
        "algorithms": bench_algorithms(progress=progress),
        "household": _progress_row(bench_household(), _household_row, progress),
    }


def _progress_row(res: dict, row, progress) -> dict:
    progress(row(res))
    return res


def env_row(r: dict) -> str:
    """One line of an environment-step row (``smfg bench`` for one shape)."""
    return (
        f"{r['kind']:9s} {r['variant']:8s} H={r['n_households']:>9,d} E={r['n_envs']:>3d} "
        f"{r['dtype']:>8s}{' tuned' if r.get('tuned_malloc') else '      '}  "
        f"{r['household_steps_per_s']:>12.3e} hh-steps/s  "
        f"{r['step_ms']:>9.3f} ms/step  {r['peak_rss_mb']:>7.0f} MB"
    )


def _num(x, fmt: str) -> str:
    """``x`` formatted, or ``n/a`` for a row measured before the column existed."""
    return "n/a" if x is None else format(x, fmt)


def format_table(report: dict) -> str:
    """A Markdown table of a ``bench_all`` report with the ratios to the reference."""
    lines = [
        "| kind | variant | H | E | dtype | malloc | household-steps/s | ms/step | peak RSS MB "
        "| x reference |",
        "|---|---|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['kind']} | {r['variant']} | {r['n_households']:,} | {r['n_envs']} | "
            f"{r['dtype']} | {'tuned' if r.get('tuned_malloc') else 'default'} | "
            f"{r['household_steps_per_s']:.3e} | {r['step_ms']:.3f} | "
            f"{r['peak_rss_mb']:.0f} | {r['ratio_to_reference']:.1f} |"
        )
    if report.get("step_impls"):
        lines += ["", format_step_impls(report["step_impls"])]
    if report.get("training"):
        lines += [
            "",
            "| SMFRL epoch | follower batch | N | s/epoch | train s | eval s | CPU s/epoch "
            "| original s/epoch | target s | x faster than original | replay MB (steps) "
            "| peak RSS MB | update GFLOP | update GFLOP/s | matmul GFLOP/s | floor s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in report["training"]:
            batch = r.get("follower_batch", "sampled")
            orig = {100: 36.0, 1000: 390.0}.get(r["n_households"])
            # only the joint batch is the original's algorithm: no ratio for the sampled one
            speedup = f"{orig / r['epoch_s']:.1f}" if orig and batch == "joint" else "n/a"
            proj = r.get("projected_from_updates")
            batch += f" (updates projected from {proj})" if proj else ""
            lines.append(
                f"| {r['variant']} | {batch} | {r['n_households']:,} | {r['epoch_s']:.2f} | "
                f"{r['train_s']:.2f} | {r['eval_s']:.2f} | {secs(r.get('epoch_cpu_s'))} | "
                f"{r['original_epoch_s']} | "
                f"{r['target_epoch_s']} | {speedup} | "
                f"{r['replay_mb']:.0f} ({r['replay_capacity_steps']:,}) | {r['peak_rss_mb']:.0f} | "
                f"{_num(r.get('update_gflop'), '.0f')} | "
                f"{_num(r.get('update_gflop_per_s'), '.1f')} | "
                f"{_num(r.get('matmul_gflop_per_s'), '.1f')} | "
                f"{_num(r.get('update_floor_s'), '.2f')} |"
            )
    if report.get("seeds"):
        lines += ["", *(f"- {seeds_row(r)}" for r in report["seeds"])]
    if report.get("algorithms"):
        lines += ["", format_algorithms(report["algorithms"])]
    if report.get("household"):
        lines += ["", f"- {_household_row(report['household'])}"]
    return "\n".join(lines)
