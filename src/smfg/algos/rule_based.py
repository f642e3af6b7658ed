"""Rule-based (the paper's Table 2): nothing learns. The government plays the free market
(book:model-free-market, every number at the lower clip); the households draw both shares uniformly
from [0, 1) every step, or, in the "-BC" settings, act by the behaviour-cloned follower actor
pi_f(s_f, a_l) (book:learning-bc), frozen.

| agent | policy | learns |
| --- | --- | --- |
| leader | free market | no |
| households | uniform [0, 1) draws, or BC pi_f(s_f, a_l) | no |

It runs through the run store like the learners so that Table 1 and Figure 2 treat every
row alike: an epoch only evaluates (its curve is flat), no experience is collected.
"""

from __future__ import annotations

from dataclasses import dataclass

from smfg.algos import common
from smfg.algos.offpolicy import (
    PROFILES,
    Learner,
    OffPolicyConfig,
    OffPolicyPolicy,
    OffPolicyTrainer,
)

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleBasedConfig(OffPolicyConfig):
    """Rule-based settings: the DDPG family's (only the evaluation fields matter)."""


def rule_based_config(profile: str = "quick", **overrides) -> RuleBasedConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(RuleBasedConfig, PROFILES, profile, **overrides)


# --- networks ------------------------------------------------------------------------------


class RuleBasedLearner(Learner):
    """No network learns; the BC households (with ``bc``) are built by :class:`Learner`."""

    leader_learns = False
    followers_learn = False

    def networks(self) -> dict:
        return {}


# --- acting: Learner.act (free-market leader; random or BC households) ---------------------
# --- updates: none -------------------------------------------------------------------------

# --- the trainer ---------------------------------------------------------------------------


class RuleBasedTrainer(OffPolicyTrainer):
    algo = "rule_based"
    learner_cls = RuleBasedLearner


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy(OffPolicyPolicy):
    learner_cls = RuleBasedLearner
    config_cls = RuleBasedConfig


def config_from_spec(spec: dict) -> RuleBasedConfig:
    return common.config_from_spec(RuleBasedConfig, spec)


__all__ = [
    "RuleBasedConfig",
    "RuleBasedTrainer",
    "LearnedPolicy",
    "rule_based_config",
    "config_from_spec",
]
