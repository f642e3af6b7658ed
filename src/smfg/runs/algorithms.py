"""The algorithms the run store trains, by name: each one's config builder, trainer and config
from a stored spec.

One table, read at call time by everything that looks an algorithm up (:mod:`smfg.runs.train`,
:func:`smfg.runs.learned.learned_policy`, the paper's registry), so that an algorithm added
here is trained, loaded and listed everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from smfg.algos import ddpg, iddpg, maddpg, mfmarl, ppo, rule_based, smfrl

__all__ = ["ALGORITHMS", "algorithm", "algorithm_trainer", "check_algo"]

#: algorithm name -> (config builder from a profile, trainer class, config from a stored spec)
ALGORITHMS: dict[str, tuple[Callable, type, Callable]] = {
    "smfrl": (smfrl.smfrl_config, smfrl.SMFRLTrainer, smfrl.config_from_spec),
    # the baselines of the paper's Table 2 (their modules also define LearnedPolicy)
    "rule_based": (
        rule_based.rule_based_config,
        rule_based.RuleBasedTrainer,
        rule_based.config_from_spec,
    ),
    "ddpg": (ddpg.ddpg_config, ddpg.DDPGTrainer, ddpg.config_from_spec),
    "iddpg": (iddpg.iddpg_config, iddpg.IDDPGTrainer, iddpg.config_from_spec),
    "maddpg": (maddpg.maddpg_config, maddpg.MADDPGTrainer, maddpg.config_from_spec),
    "mfmarl": (mfmarl.mfmarl_config, mfmarl.MFMARLTrainer, mfmarl.config_from_spec),
    "ppo": (ppo.ppo_config, ppo.PPOTrainer, ppo.config_from_spec),
}


def check_algo(algo: str) -> str:
    """Return ``algo`` if it is known, else raise a ``ValueError`` naming the known ones."""
    if algo not in ALGORITHMS:
        raise ValueError(f"algorithm {algo!r} is not known: allowed {sorted(ALGORITHMS)}")
    return algo


def algorithm(algo: str) -> tuple[Callable, type, Callable]:
    """``ALGORITHMS[algo]``, checked (:func:`check_algo`)."""
    return ALGORITHMS[check_algo(algo)]


def algorithm_trainer(spec: dict):
    """The algorithm's own trainer of a stored spec (no certified curve)."""
    _, trainer_cls, from_spec = algorithm(spec["algo"])
    return trainer_cls(from_spec(spec))
