"""MF-MARL (the paper's Table 2): the households learn with a mean-field critic that does not
see the leader's action; the government learns by DDPG.

| network | input | output |
| --- | --- | --- |
| leader actor pi_l | s_l | a_l (5, tanh) |
| leader critic Q_l | s_l, a_l | scalar |
| follower actor pi_f (shared by all households) | s_f, a_l | a_f (2, tanh) |
| follower critic Q_f (shared) | s_f, a_f, L_f (mean s_f, mean a_f) | scalar |

SMFRL's follower critic also sees a_l and its leader critic L_f; here neither does. The mean
field in the follower's actor loss is the stored one (the other households' actions as
given, after Yang et al.'s mean-field MARL); SMFRL lets the gradient flow through the mean
action too. The target's L_f' averages the target actor's next actions over ``mf_sample``
households of the sampled step, as SMFRL's. The networks are SMFRL's (a -BC run starts
from the BC ``follower_actor``, book:learning-bc); update rules, acting, replay and defaults are the
DDPG family's (:mod:`smfg.algos.offpolicy`, whose table compares every row).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from smfg.algos import common
from smfg.algos.core import (
    HH_OBS,
    LEADER_ACT,
    LEADER_OBS,
    Critic,
    DeterministicActor,
    FollowerActor,
    MeanFieldCritic,
)
from smfg.algos.offpolicy import (
    PROFILES,
    Learner,
    OffPolicyConfig,
    OffPolicyPolicy,
    OffPolicyTrainer,
)

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MFMARLConfig(OffPolicyConfig):
    """MF-MARL's settings: the DDPG family's (SMFRL's defaults, book:learning-smfrl-defaults)."""


def mfmarl_config(profile: str = "quick", **overrides) -> MFMARLConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(MFMARLConfig, PROFILES, profile, **overrides)


# --- networks ------------------------------------------------------------------------------


class MFMARLLearner(Learner):
    """Both sides learn; the follower critic sees the mean field but not the leader."""

    def networks(self) -> dict:
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": Critic(LEADER_OBS + LEADER_ACT),  # Q_l(s_l, a_l)
            "actor_f": FollowerActor(),  # pi_f(s_f, a_l)
            "critic_f": MeanFieldCritic(with_leader=False),  # Q_f(s_f, a_f, L_f)
        }

    # --- acting: Learner.act ------------------------------------------------------------
    # --- updates: Learner's rules; the follower critic's extra input is L_f -------------

    def _households(self, key: str, steps: Tensor) -> Tensor:
        """[B, m, 2] normalised observations of m random households of each step (all when
        H <= m = mf_sample)."""
        m, D = self.cfg.mf_sample, self.buf.data
        if self.H <= m:
            return self.nets.norm_f(D[key][steps])
        hh = torch.randint(self.H, (steps.shape[0], m), generator=self.gen)
        return self.nets.norm_f(D[key][steps.unsqueeze(-1), hh])

    def follower_extra(self, j, i):
        n, D = self.nets, self.buf.data
        return {
            "mf": torch.cat([n.norm_f(D["mf"][j, :HH_OBS]), D["mf"][j, HH_OBS:]], -1),
            "mf_obs2": n.norm_f(D["mf_next"][j, :HH_OBS]),
            "nxt": self._households("h_next", j),
        }

    # MeanFieldCritic(s_f, a_f, a_l, L_f) with a_l = None: it has no leader input
    def follower_x(self, b):
        return (None, b["mf"])

    def follower_x2(self, targets, b, a_l2):
        mean_a2 = targets.actor_f(b["nxt"], a_l2.unsqueeze(-2)).mean(-2)
        return (None, torch.cat([b["mf_obs2"], mean_a2], -1))


# --- the trainer ---------------------------------------------------------------------------


class MFMARLTrainer(OffPolicyTrainer):
    algo = "mfmarl"
    learner_cls = MFMARLLearner


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy(OffPolicyPolicy):
    learner_cls = MFMARLLearner
    config_cls = MFMARLConfig


def config_from_spec(spec: dict) -> MFMARLConfig:
    return common.config_from_spec(MFMARLConfig, spec)


__all__ = [
    "MFMARLConfig",
    "MFMARLLearner",
    "MFMARLTrainer",
    "LearnedPolicy",
    "mfmarl_config",
    "config_from_spec",
]
