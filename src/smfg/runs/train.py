"""Training runs through the run store: one call trains (or resumes, or loads) an algorithm.

``train("smfrl", profile="quick", variant="taxai", n_households=100, bc=True, seed=0)``
builds the algorithm's config from the profile and overrides, and hands it to
:class:`smfg.runs.store.RunStore`, which keys the run by a hash of the full config,
checkpoints it, resumes it after an interruption and never recomputes a finished one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from smfg.evaluate import evaluate, summarise
from smfg.runs.algorithms import algorithm, algorithm_trainer
from smfg.runs.curves import curve_settings, with_curves
from smfg.runs.learned import learned_policy
from smfg.runs.store import RunStore, canonical_spec
from smfg.runtime import tune_allocator

__all__ = [
    "OMITTED_AT_DEFAULT",
    "PROGRESS_KEYS",
    "evaluate_trained",
    "make_trainer",
    "run_spec",
    "train",
]

#: config fields added after runs were cached, left out of a spec at their default so that
#: those runs keep their hashes (and directories)
OMITTED_AT_DEFAULT = {
    "certify_every": 0,
    "certify_settings": {},
    "leader_start_epoch": 0,
    "eval_every": 1,
    "follower_gradient": "population",
    "follower_actor_start_epoch": 0,
}

#: the metrics a progress bar shows
PROGRESS_KEYS = ("per_capita_gdp", "social_welfare", "income_gini", "wealth_gini", "years")


def run_spec(algo: str, profile: str = "quick", **overrides) -> dict:
    """The full spec of a run: the algorithm's name and every field of its config, as plain
    JSON values (a tuple field is a list), i.e. as the run store keeps it; the fields of
    :data:`OMITTED_AT_DEFAULT` only where they differ from their defaults."""
    build, _, _ = algorithm(algo)
    cfg = asdict(build(profile, **overrides))
    if cfg["certify_every"]:
        curve_settings(cfg["certify_settings"])  # checked before anything is written
    cfg = {k: v for k, v in cfg.items() if OMITTED_AT_DEFAULT.get(k, ...) != v}
    return canonical_spec({"algo": algo, **cfg})


def make_trainer(spec: dict):
    """The trainer of a stored spec (what the run store calls to start or resume a run): the
    algorithm's, certifying every ``certify_every`` epochs where the spec asks
    (:func:`smfg.runs.curves.with_curves`)."""
    return with_curves(algorithm_trainer(spec), spec)


def train(
    algo: str,
    profile: str = "quick",
    root: str | Path = "results",
    checkpoint_every: int = 1,
    progress: Callable[[int, dict], None] | None = None,
    stop_after: int | None = None,
    **overrides,
):
    """Train ``algo`` with the profile's config and ``overrides`` in the run store at ``root``.

    Returns the store's RunResult (run directory, per-epoch metrics, final policy state).
    """
    spec = run_spec(algo, profile, **overrides)
    tune_allocator()  # small-tensor updates run ~40% faster (smfg.runtime)
    return RunStore(root).run(
        spec,
        make_trainer,
        checkpoint_every=checkpoint_every,
        progress=progress,
        stop_after=stop_after,
    )


def evaluate_trained(
    algo: str = "smfrl",
    profile: str = "quick",
    seeds=(0, 1, 2, 3, 4),
    n_episodes: int = 10,
    noise_std: float = 0.01,
    root: str | Path = "results",
    **overrides,
):
    """Train (or load) one run per seed and evaluate each run's policy on ``n_episodes``.

    Returns (episodes DataFrame with a ``seed`` column, summary with the 95% interval across
    seeds), as :func:`smfg.evaluate.evaluate` does for fixed policies. ``noise_std`` is the
    exploration noise of the evaluation (the paper's 0.01; 0 for the noiseless policy).
    """
    frames = []
    for seed in seeds:
        res = train(algo, profile, root=root, seed=seed, **overrides)
        cfg = res.policy_state["config"]
        pol = learned_policy(res.policy_state, noise_std=noise_std, seed=seed)
        ev = evaluate(
            pol.leader,
            pol.followers,
            variant=cfg["variant"],
            n_households=cfg["n_households"],
            n_episodes=n_episodes,
            seeds=(seed,),
            leader_reward=cfg["leader_reward"],
            **cfg["economy"],
        )
        frames.append(ev.episodes.assign(run_dir=str(res.run_dir)))
    episodes = pd.concat(frames, ignore_index=True)
    return episodes, summarise(episodes)
