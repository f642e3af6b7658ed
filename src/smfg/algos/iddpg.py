"""IDDPG (the paper's Table 2): independent DDPG learners, one per agent type. Each critic
sees only its own agent's observation and action; the household actor sees only its own
observation (not the leader's action).

| network | input | output |
| --- | --- | --- |
| leader actor pi_l | s_l | a_l (5, tanh) |
| leader critic Q_l | s_l, a_l | scalar |
| follower actor pi_f (shared by all households) | s_f | a_f (2, tanh) |
| follower critic Q_f (shared) | s_f, a_f | scalar |

The follower actor is MADDPG's (s_f -> 128 -> 128 -> 2), so a -BC run starts from the BC
``maddpg_actor`` (book:learning-bc). Update rules, acting, replay and defaults are the DDPG family's
(:mod:`smfg.algos.offpolicy`, whose table compares every row).
"""

from __future__ import annotations

from dataclasses import dataclass

from smfg.algos import common
from smfg.algos.core import HH_ACT, HH_OBS, LEADER_ACT, LEADER_OBS, Critic, DeterministicActor
from smfg.algos.offpolicy import (
    PROFILES,
    Learner,
    ObsActor,
    OffPolicyConfig,
    OffPolicyPolicy,
    OffPolicyTrainer,
)

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IDDPGConfig(OffPolicyConfig):
    """IDDPG's settings: the DDPG family's (SMFRL's defaults, book:learning-smfrl-defaults)."""


def iddpg_config(profile: str = "quick", **overrides) -> IDDPGConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(IDDPGConfig, PROFILES, profile, **overrides)


# --- networks ------------------------------------------------------------------------------


class IDDPGLearner(Learner):
    """Both sides learn; every critic sees its own agent only."""

    bc_name = "maddpg_actor"

    def networks(self) -> dict:
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": Critic(LEADER_OBS + LEADER_ACT),  # Q_l(s_l, a_l)
            "actor_f": ObsActor(),  # pi_f(s_f)
            "critic_f": Critic(HH_OBS + HH_ACT),  # Q_f(s_f, a_f)
        }


# --- acting: Learner.act -------------------------------------------------------------------
# --- updates: Learner.leader_update and follower_update with no extra critic inputs --------

# --- the trainer ---------------------------------------------------------------------------


class IDDPGTrainer(OffPolicyTrainer):
    algo = "iddpg"
    learner_cls = IDDPGLearner


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy(OffPolicyPolicy):
    learner_cls = IDDPGLearner
    config_cls = IDDPGConfig


def config_from_spec(spec: dict) -> IDDPGConfig:
    return common.config_from_spec(IDDPGConfig, spec)


__all__ = [
    "IDDPGConfig",
    "IDDPGLearner",
    "IDDPGTrainer",
    "LearnedPolicy",
    "iddpg_config",
    "config_from_spec",
]
