"""MADDPG (the paper's Table 2): centralised critics over every agent's observation and
action, decentralised actors.

| network | input | output |
| --- | --- | --- |
| leader actor pi_l | s_l | a_l (5, tanh) |
| leader critic Q_l | s_l, a_l, s_1..s_N, a_1..a_N | scalar |
| follower actor pi_f (shared by all households) | s_f | a_f (2, tanh) |
| follower critic Q_f (shared) | s_i, a_i, s_l, a_l, s_1..s_N, a_1..a_N | scalar |

The joint input lists the households in their slots (a household keeps its slot across
resets, book:model-taxai-households), normalised like any s_f. In the targets the next joint action
is the target actor's on every household's next observation; in the follower's actor loss the
household's own action is replaced in its slot of the joint action (the others' stay as stored), as
in Lowe et al.

The critics' input grows with N: 4N + 11 numbers for Q_l and 4N + 15 for Q_f, i.e. a first
layer of 128 (4N + 15) weights (0.5 million at N = 1,000, 2 MB). What grows with N is
computation: each leader update evaluates the target actor on the next observations of all
N households of each of its ``batch_size`` steps (128 N evaluations, 2.2 GMAC at N = 1,000,
most of an epoch's time); a follower batch of (step, household) pairs draws its steps in
groups of ``households_per_step`` households so that the next joint action is computed for
``batch_size / households_per_step`` steps only. Memory stays small because one actor and
one critic are shared by all households (the household's own s_i, a_i tell the critic whom
it values; BC clones this actor as ``maddpg_actor``, book:learning-bc). The original kept an actor
and a critic per household: N + 1 critics of 4N + 11 inputs, about 5e8 weights at N = 1,000 (2 GB
each for the weights, the targets and Adam's two moments), and O(N^2) work per update round; that
does not fit these machines' memory. The replay holds the joint transition of every step (7N floats,
as for every algorithm here) under ``replay_memory_gb``.

Update rules, acting, replay and defaults are the DDPG family's (:mod:`smfg.algos.offpolicy`,
whose table compares every row). With ``paper_quirks`` the leader sends its tanh output
unscaled (book:learning-corrections).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

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
class MADDPGConfig(OffPolicyConfig):
    """MADDPG's settings: the DDPG family's (SMFRL's defaults, book:learning-smfrl-defaults) and one
    of its own."""

    households_per_step: int = 8
    """(step, household) pairs of a follower batch come in groups of this many households of
    one step, so the target actor computes batch_size / this many next joint actions."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ints(("households_per_step",), 1)
        if self.batch_size % self.households_per_step:
            self._bad("households_per_step", f"a divisor of batch_size = {self.batch_size}")


def maddpg_config(profile: str = "quick", **overrides) -> MADDPGConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(MADDPGConfig, PROFILES, profile, **overrides)


# --- networks ------------------------------------------------------------------------------


class MADDPGLearner(Learner):
    """Both sides learn; both critics see the joint observation and action."""

    bc_name = "maddpg_actor"
    leader_sends_raw = True

    def networks(self) -> dict:
        joint = (HH_OBS + HH_ACT) * self.H
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": Critic(LEADER_OBS + LEADER_ACT + joint),  # Q_l(s_l, a_l, s_1.., a_1..)
            "actor_f": ObsActor(),  # pi_f(s_f)
            "critic_f": Critic(HH_OBS + HH_ACT + LEADER_OBS + LEADER_ACT + joint),
        }

    # --- acting: Learner.act ------------------------------------------------------------
    # --- updates: Learner's rules; the critics' extra input is the joint (s, a) ---------

    def _joint(self, steps):
        """Normalised joint observations now and next [B, N, 2] and stored joint actions."""
        n, D = self.nets, self.buf.data
        return n.norm_f(D["h_obs"][steps]), D["h_act"][steps], n.norm_f(D["h_next"][steps])

    def leader_extra(self, idx):
        S, A, S2 = self._joint(idx)
        return {"S": S, "A": A, "S2": S2}

    def leader_x(self, b):
        return (b["S"].flatten(-2), b["A"].flatten(-2))

    def leader_x2(self, targets, b, a_l2):
        return (b["S2"].flatten(-2), targets.actor_f(b["S2"]).flatten(-2))

    def sample_pairs(self):
        k, B = self.cfg.households_per_step, self.cfg.batch_size
        steps = self.buf.sample_steps(B // k, self.gen).repeat_interleave(k)
        return steps, torch.randint(self.H, (B,), generator=self.gen)

    def follower_extra(self, j, i):
        k, n, D = self.cfg.households_per_step, self.nets, self.buf.data
        S, A, S2 = self._joint(j[::k])  # the distinct steps, each repeated k times in j
        return {"s_l": n.norm_l(D["l_obs"][j]), "S_rep": S.flatten(1).repeat_interleave(k, 0),
                "A_rep": A.repeat_interleave(k, 0), "S2": S2,
                "own": torch.nn.functional.one_hot(i, self.H).float().unsqueeze(-1)}  # fmt: skip

    def follower_x(self, b):
        return (b["s_l"], b["a_l"], b["S_rep"], b["A_rep"].flatten(-2))

    def follower_x2(self, targets, b, a_l2):
        k = self.cfg.households_per_step
        S2 = b["S2"]
        A2 = targets.actor_f(S2).flatten(-2).repeat_interleave(k, -2)
        return (b["s_l2"], a_l2, S2.flatten(-2).repeat_interleave(k, -2), A2)

    def follower_x_pi(self, nets, b, u):
        """The household's own action replaced in its slot of the joint action."""
        A_pi = b["A_rep"] * (1.0 - b["own"]) + b["own"] * u.unsqueeze(-2)
        return (b["s_l"], b["a_l"], b["S_rep"], A_pi.flatten(-2))


# --- the trainer ---------------------------------------------------------------------------


class MADDPGTrainer(OffPolicyTrainer):
    algo = "maddpg"
    learner_cls = MADDPGLearner


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy(OffPolicyPolicy):
    learner_cls = MADDPGLearner
    config_cls = MADDPGConfig


def config_from_spec(spec: dict) -> MADDPGConfig:
    return common.config_from_spec(MADDPGConfig, spec)


__all__ = ["MADDPGConfig", "MADDPGLearner", "MADDPGTrainer", "LearnedPolicy", "maddpg_config",
           "config_from_spec"]  # fmt: skip
