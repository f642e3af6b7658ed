"""DDPG (the paper's Table 2): the government learns by DDPG; the households do not learn.

| network | input | output |
| --- | --- | --- |
| leader actor pi_l | s_l (6 leader observations) | a_l (5, tanh) |
| leader critic Q_l | s_l, a_l | scalar |
| households (fixed) | uniform [0, 1) draws; -BC: the BC follower actor pi_f(s_f, a_l) | shares |

Unlike SMFRL's, the leader critic does not see the mean field: the households' response is
part of the environment it learns. Update rules, acting, replay and defaults are the DDPG
family's (:mod:`smfg.algos.offpolicy`, whose table compares every row). With
``paper_quirks`` the leader sends its tanh output unscaled (book:learning-corrections).
"""

from __future__ import annotations

from dataclasses import dataclass

from smfg.algos import common
from smfg.algos.core import LEADER_ACT, LEADER_OBS, Critic, DeterministicActor
from smfg.algos.offpolicy import (
    PROFILES,
    Learner,
    OffPolicyConfig,
    OffPolicyPolicy,
    OffPolicyTrainer,
)

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DDPGConfig(OffPolicyConfig):
    """DDPG's settings: the DDPG family's (SMFRL's defaults, book:learning-smfrl-defaults)."""


def ddpg_config(profile: str = "quick", **overrides) -> DDPGConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(DDPGConfig, PROFILES, profile, **overrides)


# --- networks ------------------------------------------------------------------------------


class DDPGLearner(Learner):
    """The leader learns; the households are fixed (random, or the BC actor with ``bc``)."""

    leader_learns = True
    followers_learn = False
    leader_sends_raw = True

    def networks(self) -> dict:
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": Critic(LEADER_OBS + LEADER_ACT),  # Q_l(s_l, a_l)
        }


# --- acting: Learner.act -------------------------------------------------------------------
# --- updates: Learner.leader_update; the leader critic sees (s_l, a_l) only ----------------

# --- the trainer ---------------------------------------------------------------------------


class DDPGTrainer(OffPolicyTrainer):
    algo = "ddpg"
    learner_cls = DDPGLearner


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy(OffPolicyPolicy):
    learner_cls = DDPGLearner
    config_cls = DDPGConfig


def config_from_spec(spec: dict) -> DDPGConfig:
    return common.config_from_spec(DDPGConfig, spec)


__all__ = [
    "DDPGConfig",
    "DDPGLearner",
    "DDPGTrainer",
    "LearnedPolicy",
    "ddpg_config",
    "config_from_spec",
]
