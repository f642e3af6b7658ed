"""Training runs through the run store: one call trains (or resumes, or loads) an algorithm.

``train("smfrl", profile="quick", variant="taxai", n_households=100, bc=True, seed=0)``
builds the algorithm's config from the profile and overrides, and hands it to
:class:`smfg.experiments.store.RunStore`, which keys the run by a hash of the full config,
checkpoints it, resumes it after an interruption and never recomputes a finished one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from smfg.algos import ddpg, iddpg, maddpg, mfmarl, ppo, rule_based, smfrl
from smfg.experiments.curves import curve_settings, with_curves
from smfg.experiments.store import RunStore
from smfg.runtime import tune_allocator

#: algorithm name -> (config builder from a profile, trainer class, config from a stored spec)
ALGORITHMS: dict[str, tuple[Callable, type, Callable]] = {
    "smfrl": (smfrl.smfrl_config, smfrl.SMFRLTrainer, smfrl.config_from_spec),
    # the baselines of the paper's Table 2 (their modules also define LearnedPolicy)
    "rule_based": (rule_based.rule_based_config, rule_based.RuleBasedTrainer,
                   rule_based.config_from_spec),
    "ddpg": (ddpg.ddpg_config, ddpg.DDPGTrainer, ddpg.config_from_spec),
    "iddpg": (iddpg.iddpg_config, iddpg.IDDPGTrainer, iddpg.config_from_spec),
    "maddpg": (maddpg.maddpg_config, maddpg.MADDPGTrainer, maddpg.config_from_spec),
    "mfmarl": (mfmarl.mfmarl_config, mfmarl.MFMARLTrainer, mfmarl.config_from_spec),
    "ppo": (ppo.ppo_config, ppo.PPOTrainer, ppo.config_from_spec),
}  # fmt: skip

#: config fields added after runs were cached, left out of a spec at their default so that
#: those runs keep their hashes (and directories)
OMITTED_AT_DEFAULT = {
    "certify_every": 0,
    "certify_settings": {},
    "leader_start_epoch": 0,
    "follower_gradient": "population",
}

#: the metrics a progress bar shows
PROGRESS_KEYS = ("per_capita_gdp", "social_welfare", "income_gini", "wealth_gini", "years")


def check_algo(algo: str) -> str:
    """Return ``algo`` if it is known, else raise a ``ValueError`` naming the known ones."""
    if algo not in ALGORITHMS:
        raise ValueError(f"algorithm {algo!r} is not known: allowed {sorted(ALGORITHMS)}")
    return algo


def run_spec(algo: str, profile: str = "quick", **overrides) -> dict:
    """The full spec of a run: the algorithm's name and every field of its config, as plain
    JSON values (a tuple field is a list), i.e. as the run store keeps it; the fields of
    :data:`OMITTED_AT_DEFAULT` only where they differ from their defaults."""
    from smfg.experiments.store import canonical_spec

    build, _, _ = ALGORITHMS[check_algo(algo)]
    cfg = asdict(build(profile, **overrides))
    if cfg["certify_every"]:
        curve_settings(cfg["certify_settings"])  # checked before anything is written
    cfg = {k: v for k, v in cfg.items() if OMITTED_AT_DEFAULT.get(k, ...) != v}
    return canonical_spec({"algo": algo, **cfg})


def algorithm_trainer(spec: dict):
    """The algorithm's own trainer of a stored spec (no certified curve)."""
    _, trainer_cls, from_spec = ALGORITHMS[check_algo(spec["algo"])]
    return trainer_cls(from_spec(spec))


def make_trainer(spec: dict):
    """The trainer of a stored spec (what the run store calls to start or resume a run): the
    algorithm's, certifying every ``certify_every`` epochs where the spec asks
    (:func:`smfg.experiments.curves.with_curves`)."""
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
        spec, make_trainer, checkpoint_every=checkpoint_every, progress=progress,
        stop_after=stop_after,
    )  # fmt: skip


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
    import pandas as pd

    from smfg.evaluate import evaluate, summarise
    from smfg.experiments.learned import learned_policy

    frames = []
    for seed in seeds:
        res = train(algo, profile, root=root, seed=seed, **overrides)
        cfg = res.policy_state["config"]
        pol = learned_policy(res.policy_state, noise_std=noise_std, seed=seed)
        ev = evaluate(pol.leader, pol.followers, variant=cfg["variant"],
                      n_households=cfg["n_households"], n_episodes=n_episodes, seeds=(seed,),
                      leader_reward=cfg["leader_reward"], **cfg["economy"])  # fmt: skip
        frames.append(ev.episodes.assign(run_dir=str(res.run_dir)))
    episodes = pd.concat(frames, ignore_index=True)
    return episodes, summarise(episodes)
