"""The mean-field check (the ``scaling`` page): the same fixed policies evaluated at growing
N, several seeds each, the five metrics of book:model-metrics with 95% intervals across seeds.
A mean-field model claims that per-capita results do not depend on N once N is large; the
check shows from which N that holds in ``smfg``'s economies.

Social welfare (book:model-metrics) is a sum over households, so it grows with N; the check
reports it and also the mean utility per household (``mean_utility`` = welfare / N), the
per-capita quantity that can converge. The page's cost measurements are
:mod:`smfg.perf.scaling`'s; the multiples of the original code's figures it shows beside them
are computed here (:func:`env_against_original`, :func:`epoch_against_original`), from the
measurements' tables alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from smfg.evaluate import evaluate, government_policy, household_policy, summarise
from smfg.paper.fixed_policies import FIXED_RULES
from smfg.runs.evaluations import cached_tables

__all__ = [
    "CHECK_METRICS",
    "MEAN_FIELD_POLICIES",
    "convergence_table",
    "env_against_original",
    "epoch_against_original",
    "mean_field_check",
    "settling_summary",
]

#: (government policy, household rule) pairs of the mean-field check: the free market and the
#: 2022 US federal tax with every household on the variant's fixed rule, and the US federal
#: tax with the survey households (heterogeneous behaviour drawn from real data).
MEAN_FIELD_POLICIES = (
    ("free-market", "fixed"),
    ("us-federal-2022", "fixed"),
    ("us-federal-2022", "survey"),
)
#: The metrics of the check: the five of book:model-metrics and the mean utility per household.
CHECK_METRICS = (
    "per_capita_gdp",
    "social_welfare",
    "mean_utility",
    "income_gini",
    "wealth_gini",
    "years",
)

Progress = Callable[[str], None] | None


def check_cell(
    gov: str,
    hh: str,
    variant: str,
    n: int,
    seeds: Sequence[int],
    episodes: int,
    steps: int | None,
    dtype: str,
    max_rows: int,
) -> pd.DataFrame:
    """Per-episode metrics of one policy pair at one N, seeds batched up to ``max_rows``."""
    saving, work = FIXED_RULES[variant]
    per_call = max(1, max_rows // (episodes * n))
    frames = []
    for i in range(0, len(seeds), per_call):
        chunk = list(seeds)[i : i + per_call]
        res = evaluate(
            government_policy(gov, seed=chunk[0]),
            household_policy(hh, saving, work, seed=chunk[0]),
            variant=variant,
            n_households=n,
            n_episodes=episodes,
            seeds=chunk,
            steps=steps,
            dtype=dtype,
        )
        frames.append(res.episodes)
    ep = pd.concat(frames, ignore_index=True)
    return ep.assign(mean_utility=ep["social_welfare"] / n)


def mean_field_check(
    sizes: Sequence[int] = (100, 1_000, 10_000, 100_000),
    policies: Sequence[tuple[str, str]] = MEAN_FIELD_POLICIES,
    variant: str = "clearing",
    seeds: Sequence[int] | int = 5,
    episodes: int = 2,
    steps: int | None = None,
    dtype: str = "float32",
    root: str | Path | None = None,
    max_rows: int = 2_000_000,
    progress: Progress = None,
) -> pd.DataFrame:
    """The same fixed policies at each N: metrics with 95% intervals across seeds.

    Returns a long table: government, households, n_households, metric (``CHECK_METRICS``),
    mean, ci_low, ci_high (within the metric's range), n_seeds, ci_method. Seed ``s`` draws
    the households and shocks; each seed's value is the mean over its ``episodes``. Seeds are
    batched into one evaluation while seeds x episodes x N stays under ``max_rows`` household
    rows. With ``root``, each cell is cached in the results root
    (``evaluations/mean_field-<hash>.json``) and never recomputed.
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    rows = []
    for gov, hh in policies:
        for n in sizes:
            n = int(n)
            spec = {
                "government": gov,
                "households": hh,
                "variant": variant,
                "n_households": n,
                "seeds": seeds,
                "episodes": int(episodes),
                "steps": steps,
                "dtype": dtype,
            }

            def compute(gov=gov, hh=hh, n=n):
                return {
                    "episodes": check_cell(
                        gov, hh, variant, n, seeds, int(episodes), steps, dtype, max_rows
                    )
                }

            ep = (
                cached_tables(root, "mean_field", spec, compute) if root is not None else compute()
            )["episodes"]
            summary = summarise(ep, CHECK_METRICS)
            for rec in summary.itertuples():
                rows.append(
                    {
                        "government": gov,
                        "households": hh,
                        "n_households": n,
                        "metric": rec.metric,
                        "mean": rec.mean,
                        "ci_low": rec.ci_low,
                        "ci_high": rec.ci_high,
                        "n_seeds": rec.n_seeds,
                        "ci_method": rec.ci_method,
                    }
                )
            if progress is not None:
                m = summary.set_index("metric")["mean"]
                progress(
                    f"{gov} / {hh} households, N={n:,}: per-capita GDP "
                    f"{m['per_capita_gdp']:.4g}, wealth Gini {m['wealth_gini']:.3f}, "
                    f"years {m['years']:.0f}"
                )
    return pd.DataFrame(rows)


def convergence_table(check: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The check as a table: one row per policy pair and N, one column per metric showing
    'mean [ci_low, ci_high]', and for each metric the relative gap to the largest N's mean
    (``<metric> gap``: (mean_N - mean_Nmax) / |mean_Nmax|)."""
    metrics = list(metrics or dict.fromkeys(check["metric"]))
    out = []
    for (gov, hh), g in check.groupby(["government", "households"], sort=False):
        largest = g[g.n_households == g.n_households.max()].set_index("metric")["mean"]
        for n, gn in g.groupby("n_households"):
            cells = gn.set_index("metric")
            row = {"government": gov, "households": hh, "N": int(n)}
            for m in metrics:
                c = cells.loc[m]
                row[m] = f"{_fmt(c['mean'])} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]"
            for m in metrics:
                ref = largest[m]
                gap = (cells.loc[m, "mean"] - ref) / abs(ref) if ref else math.nan
                row[f"{m} gap"] = f"{gap:+.1%}"
            out.append(row)
    return pd.DataFrame(out)


def settling_summary(
    check: pd.DataFrame, metrics: Sequence[str] | None = None, tolerance: float = 0.02
) -> pd.DataFrame:
    """Where each metric settles: one row per policy pair and metric.

    ``settles_from``: the smallest N from which the mean at every larger N of the check lies
    within ``tolerance`` (relative) of the largest N's mean (the largest N itself when none
    smaller does); ``largest_gap``: the largest relative gap of a smaller N; ``overlap``: the
    95% intervals of the two largest N overlap.
    """
    metrics = list(metrics or dict.fromkeys(check["metric"]))
    rows = []
    for (gov, hh), g in check.groupby(["government", "households"], sort=False):
        for m in metrics:
            c = g[g.metric == m].sort_values("n_households")
            ref = c["mean"].iloc[-1]
            gaps = ((c["mean"] - ref) / (abs(ref) if ref else math.nan)).to_numpy()
            ns = c.n_households.to_list()
            settles = ns[-1]
            for i in range(len(ns) - 1, -1, -1):
                if abs(gaps[i]) <= tolerance:
                    settles = ns[i]
                else:
                    break
            a, b = c.iloc[-2] if len(c) > 1 else c.iloc[-1], c.iloc[-1]
            overlap = bool(a.ci_low <= b.ci_high and b.ci_low <= a.ci_high)
            rows.append(
                {
                    "government": gov,
                    "households": hh,
                    "metric": m,
                    "largest_N": ns[-1],
                    "settles_from": settles,
                    "largest_gap": f"{max(abs(x) for x in gaps[:-1]):.1%}"
                    if len(ns) > 1
                    else "n/a",
                    "overlap_two_largest": overlap,
                }
            )
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"


# --- the costs beside the original code's (the page's speed tables) --------------------------


def env_against_original(env: pd.DataFrame) -> pd.DataFrame:
    """The environment step's timings with ``x_original``, our household-step rate as a
    multiple of the original simulator's: ``household_steps_per_s`` over
    ``original_household_steps_per_s`` (:func:`smfg.perf.scaling.time_env`'s columns; NaN at
    an N the original was not measured at)."""
    return env.assign(x_original=env.household_steps_per_s / env.original_household_steps_per_s)


def epoch_against_original(train: pd.DataFrame) -> pd.DataFrame:
    """The SMFRL epoch's timings with ``x_original``, the original's epoch time over ours
    (above one: ours is faster), taking the mid-point of ``original_epoch_s_low`` and
    ``original_epoch_s_high`` where the original's time is a range
    (:func:`smfg.perf.scaling.time_training`'s columns; NaN for the sampled follower batch,
    which the original did not run, and at an N it was not measured at)."""
    mid = (train.original_epoch_s_low + train.original_epoch_s_high) / 2
    return train.assign(x_original=mid / train.epoch_s)
