"""Evaluation harness: any government policy against any household policy, in either economy.

E = seeds x episodes economies run as one batch (never a Python loop over episodes). Each
seed is a group of economies with its own generator (households, shocks, exploration noise),
so K seeds in one batch equal K separate runs. Results are a tidy DataFrame, one row per seed
and episode, and a summary with the mean and a 95% interval across seeds (book:model-evaluation).

Policies follow the small protocol of ``smfg.policies``: ``reset(env)`` after the reset, then
``gov_policy(obs, income) -> GovAction | Tensor[E, 5]`` and
``household_policy(obs, gov_raw) -> Tensor[E, H, 2]``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from smfg.config import EconomyParams, economy_params
from smfg.economy.government import GovAction
from smfg.economy.household import consumption_equivalent
from smfg.economy.state import initial_output
from smfg.economy.step import termination_reasons
from smfg.env import SMFGEnv
from smfg.policies import FixedShares, FreeMarket, Saez, SurveyReplay, UniformRandom, USFederal2022
from smfg.stats import interval_method, seed_interval

METRICS = (
    "per_capita_gdp",
    "social_welfare",
    "income_gini",
    "wealth_gini",
    "years",
    "leader_return",
    "household_return",
    "welfare_ce",
)

GOVERNMENT_POLICIES = ("free-market", "us-federal-2022", "saez", "saez-paper")
HOUSEHOLD_POLICIES = ("fixed", "random", "survey")


def government_policy(name: str, elasticity: float | None = None, seed: int = 0):
    """A fixed government policy by name (book:model-policies): one of ``GOVERNMENT_POLICIES``.

    ``elasticity`` applies to the Saez policies (proper form default 1; the paper form
    re-estimates it unless given).
    """
    if name == "free-market":
        return FreeMarket()
    if name == "us-federal-2022":
        return USFederal2022()
    if name == "saez":
        return Saez("proper", elasticity=1.0 if elasticity is None else elasticity, seed=seed)
    if name == "saez-paper":
        return Saez("paper", elasticity=elasticity, seed=seed)
    raise ValueError(f"government policy {name!r} is not known: allowed {GOVERNMENT_POLICIES}")


def household_policy(name: str, saving: float = 0.99, work: float = 0.9, seed: int = 0):
    """A fixed household rule by name: ``fixed`` (shares), ``random`` (uniform [0, 1) draws,
    the paper's rule-based households) or ``survey`` (the real-data households,
    book:model-household-rules)."""
    if name == "fixed":
        return FixedShares(saving, work)
    if name == "random":
        return UniformRandom(seed)
    if name == "survey":
        return SurveyReplay()
    raise ValueError(f"household policy {name!r} is not known: allowed {HOUSEHOLD_POLICIES}")


@dataclass(frozen=True)
class EvalResult:
    """Evaluation output: per-episode rows, the across-seed summary and the settings."""

    episodes: pd.DataFrame
    """One row per seed and episode: seed, episode, the metrics, termination, horizon (the
    steps an episode may last, T)."""
    summary: pd.DataFrame
    """One row per metric: mean, ci_low, ci_high (95% across seed means, within the metric's
    range: :func:`smfg.stats.seed_interval`), n_seeds, ci_method (how, in words)."""
    settings: dict
    seconds: float

    def summary_dict(self) -> dict:
        """The summary as {metric: {mean, ci_low, ci_high, ci_method}} plus the settings (for
        --json)."""
        out = {
            row.metric: {
                "mean": row.mean,
                "ci_low": row.ci_low,
                "ci_high": row.ci_high,
                "ci_method": row.ci_method,
            }
            for row in self.summary.itertuples()
        }
        return {"settings": self.settings, "seconds": self.seconds, "metrics": out}


def episode_horizon(episodes: pd.DataFrame) -> float | None:
    """The episodes' horizon T (their ``horizon`` column's largest value), None without one."""
    if "horizon" not in episodes.columns or not len(episodes):
        return None
    h = float(episodes["horizon"].max())
    return h if math.isfinite(h) else None


def summarise(episodes: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean over episodes within each seed, then mean and 95% interval across seeds, each
    within its metric's range (:func:`smfg.stats.seed_interval`; the years' upper end is the
    ``horizon`` column's T), and the method in words (``ci_method``)."""
    per_seed = episodes.groupby("seed")[list(metrics)].mean()
    T = episode_horizon(episodes)
    rows = []
    for m in metrics:
        mean, lo, hi = seed_interval(per_seed[m].tolist(), m, T)
        rows.append(
            {
                "metric": m,
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "n_seeds": len(per_seed),
                "ci_method": interval_method(m, T),
            }
        )
    return pd.DataFrame(rows)


def _check(x: Tensor, shape: tuple, who: str, low: float, high: float) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(f"{who} returned shape {tuple(x.shape)}: allowed {shape}")
    if torch.isnan(x).any():
        raise ValueError(f"{who} returned NaN actions: allowed finite numbers in [{low}, {high}]")
    lo, hi = x.min().item(), x.max().item()
    if lo < low or hi > high:
        raise ValueError(f"{who} returned actions in [{lo:.4g}, {hi:.4g}]: allowed [{low}, {high}]")


def evaluate(
    gov_policy,
    household_policy,
    variant: str = "clearing",
    n_households: int = 100,
    n_episodes: int = 10,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    steps: int | None = None,
    noise_std: float = 0.0,
    dtype: str = "float64",
    leader_reward: str = "gdp",
    reward_weights: Sequence[float] = (1.0, 1.0, 1.0),
    params: EconomyParams | None = None,
    progress=None,
    on_step=None,
    **overrides,
) -> EvalResult:
    """Run ``n_episodes`` episodes for each seed, all in one batch, and summarise them.

    ``noise_std``: Gaussian exploration noise added to the household actions (and to raw
    leader actions; a GovAction, such as a tax schedule, is used as is), drawn per seed
    group, as the paper's evaluation with exploration did (std 0.01). ``steps`` caps the
    episode length (default T). ``progress``: an optional callable(step, n_alive).
    ``on_step``: an optional callable(StepResult) called after every step, for statistics
    the summary does not keep (e.g. means over groups of households).
    """
    if not 0.0 <= noise_std <= 1.0:
        raise ValueError(f"noise_std = {noise_std!r} is out of range: allowed [0, 1]")
    if n_episodes < 1 or not seeds:
        raise ValueError(f"n_episodes = {n_episodes}, seeds = {seeds}: allowed >= 1 of each")
    params = params or economy_params(variant, **overrides)
    T = params.T if steps is None else int(steps)
    K = len(seeds)
    E = K * n_episodes
    t0 = time.perf_counter()
    env = SMFGEnv(
        params,
        n_households,
        n_envs=E,
        seed=list(seeds),
        dtype=dtype,
        leader_reward=leader_reward,
        reward_weights=reward_weights,
    )
    obs = env.reset()
    gov_policy.reset(env)
    household_policy.reset(env)
    gov_name = getattr(gov_policy, "name", type(gov_policy).__name__)
    hh_name = getattr(household_policy, "name", type(household_policy).__name__)
    noise_gens = [torch.Generator().manual_seed(10_000 + int(s)) for s in seeds]
    leader_return = torch.zeros(E, dtype=torch.float64)
    household_return = torch.zeros(E, dtype=torch.float64)
    ce_sum = torch.zeros(E, dtype=torch.float64)
    y0 = initial_output(params, n_households) / n_households

    def noise(shape_tail: tuple) -> Tensor:
        parts = [
            torch.randn((n_episodes, *shape_tail), generator=g, dtype=env.dtype) for g in noise_gens
        ]
        return noise_std * torch.cat(parts).to(env.device)

    for t in range(T):
        gov = gov_policy(obs, env.state.income)
        raw_gov = None
        if not isinstance(gov, GovAction):
            _check(gov, (E, 5), f"government policy {gov_name}", 0.0, 1.0)
            raw_gov = gov + noise((5,)) if noise_std > 0 else gov
            gov = raw_gov
        act = household_policy(obs, raw_gov)
        _check(act, (E, n_households, 2), f"household policy {hh_name}", 0.0, 1.0)
        if noise_std > 0:
            act = act + noise((n_households, 2))
        out = env.step(gov, act)
        if on_step is not None:
            on_step(out)
        active = out.flows.active.cpu()
        leader_return += torch.where(active, out.leader_reward.double().cpu(), 0.0)
        household_return += torch.where(active, out.flows.u.double().mean(-1).cpu(), 0.0)
        ce = consumption_equivalent(out.flows.u.double().mean(-1), params).cpu() / y0
        ce_sum += torch.where(active, ce, 0.0)
        obs = out.obs
        if progress is not None:
            progress(t + 1, int((~env.state.done).sum()))
        if bool(env.state.done.all()):
            break
    m = env.episode_metrics()
    reasons = [",".join(termination_reasons(x)) for x in env.state.termination.tolist()]
    episodes = pd.DataFrame(
        {
            "seed": [int(s) for s in seeds for _ in range(n_episodes)],
            "episode": [j for _ in seeds for j in range(n_episodes)],
            "per_capita_gdp": m["per_capita_gdp"].tolist(),
            "social_welfare": m["social_welfare"].tolist(),
            "income_gini": m["income_gini"].tolist(),
            "wealth_gini": m["wealth_gini"].tolist(),
            "years": m["years"].tolist(),
            "leader_return": leader_return.tolist(),
            "household_return": household_return.tolist(),
            "welfare_ce": (ce_sum / m["years"].double().clamp_min(1).cpu()).tolist(),
            "termination": reasons,
            "horizon": T,
        }
    )
    settings = {
        "government_policy": gov_name,
        "household_policy": hh_name,
        "variant": params.variant,
        "n_households": n_households,
        "n_episodes": n_episodes,
        "seeds": [int(s) for s in seeds],
        "steps": T,
        "noise_std": noise_std,
        "dtype": dtype,
    }
    return EvalResult(episodes, summarise(episodes), settings, time.perf_counter() - t0)
