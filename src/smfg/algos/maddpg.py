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
computation, each piece computed once where it is the same number:

- A leader target needs the next joint action of each of its ``batch_size`` steps: the target
  actor on all N next observations (N evaluations, 17 MMAC at N = 1,000). No leader update moves
  the target follower actor (a leader phase soft-updates the leader's targets only), the follower
  normaliser or the replay, so within a phase it is computed once per distinct stored step and
  looked up after (``_next_actions``, which starts over when any of the three changes; in a seeds
  batch, :mod:`smfg.algos.seeds`, the members' target actors are the batch's during a leader
  phase, the batch being written back after every epoch's updates). A phase of 100 updates of
  128 steps draws 12,800 steps: in a run's first epochs, with a few hundred steps stored, that is
  a few hundred evaluations of N instead of 12,800; once the replay holds tens of thousands of
  steps (53,365 at N = 1,000 under the default memory cap) most draws are distinct (about 90%,
  190 GMAC a phase at N = 1,000), and this, not the loops, is what the joint critic costs. The
  lookup keeps at most min(replay steps, 12,800) joint actions (100 MB at N = 1,000).
- The critics' first layer is split (:class:`JointCritic`), W (own, joint) = W_own own +
  W_joint joint: the joint part once per step of a follower batch, broadcast over the
  ``households_per_step`` households drawn from that step (whose next joint action the target
  actor computes for ``batch_size / households_per_step`` steps only), and the actor loss's
  replacement of the household's own action is W's columns of its slot times its move u - a_i,
  not a joint input rebuilt for every pair. The leader's TD loss keeps the concatenation (one
  row per step); its actor loss differentiates through the own columns only.
- Without a gradient (acting, targets) the actor runs in blocks of rows (``ObsActor``), about
  twice as fast on 10^4 to 10^5 rows.

Memory stays small because one actor and
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
from torch import Tensor

from smfg.algos import common
from smfg.algos.core import (
    HH_ACT,
    HH_OBS,
    LEADER_ACT,
    LEADER_OBS,
    Critic,
    DeterministicActor,
    linear,
)
from smfg.algos.offpolicy import (
    PROFILES,
    Learner,
    ObsActor,
    OffPolicyConfig,
    OffPolicyPolicy,
    OffPolicyTrainer,
    TwinCritic,
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


class JointCritic(Critic):
    """Q(own inputs, a step's joint input): the ``Critic`` of their concatenation (the same
    layers, weights and initialisation), whose first layer is split into the own columns and the
    joint ones, W (own, joint) = W_own own + W_joint joint, so that the joint part is computed once
    per step and broadcast over that step's rows (as ``MeanFieldCritic`` does with its step inputs).

    ``slots_at``: the column where the joint input's per-household action slots (``HH_ACT`` wide)
    begin. Given ``slot`` and ``delta``, household ``slot``'s action in the joint input is taken
    as moved by ``delta``: the first layer gains W[:, its slot] delta (exact, the layer being
    linear), instead of a joint input rebuilt for every row.
    """

    def __init__(self, d_own: int, d_joint: int, slots_at: int | None = None):
        super().__init__(d_own + d_joint)
        self.d_own, self.slots_at = d_own, slots_at

    def forward(
        self,
        s: Tensor,
        a: Tensor,
        joint: Tensor,
        slot: Tensor | None = None,
        delta: Tensor | None = None,
    ) -> Tensor:
        """s, a: [..., B, d] own inputs of B rows; joint: [..., G, d_joint], one per step of G
        (B = G k: the rows of a step are consecutive); slot [..., B] and delta [..., B, 2]:
        the own action's slot and its move. Returns [..., B]."""
        lin, k = self.net[0], self.d_own
        own = torch.cat([s, a], -1)
        if slot is None and own.shape[-2] == joint.shape[-2] and not own.requires_grad:
            # one row per step and no gradient to the own inputs (a critic's TD loss, a
            # target): the concatenation, whose weight gradient needs no split
            return self.net(torch.cat([own, joint], -1)).squeeze(-1)
        own = own.unflatten(-2, (joint.shape[-2], -1))  # [..., G, k, d_own]
        W = lin.weight
        w_own, w_joint = W.split([k, W.shape[-1] - k], -1)
        if W.requires_grad and torch.is_grad_enabled():
            # contiguous blocks: a strided weight takes addmm's slow backward path; split's
            # backward concatenates the blocks' gradients (two slices' would each zero a W)
            w_own, w_joint = w_own.contiguous(), w_joint.contiguous()
        h = linear(own, w_own, lin.bias) + linear(joint, w_joint).unsqueeze(-2)
        h = h.flatten(-3, -2)
        if slot is not None:
            w = W[..., self.slots_at :].unflatten(-1, (-1, HH_ACT)).movedim(-2, -3)
            w_i = torch.take_along_dim(w, slot[..., None, None], dim=-3)  # [..., B, 128, 2]
            h = h + (w_i @ delta.unsqueeze(-1)).squeeze(-1)
        return self.net[1:](h).squeeze(-1)


class MADDPGLearner(Learner):
    """Both sides learn; both critics see the joint observation and action."""

    bc_name = "maddpg_actor"
    leader_sends_raw = True

    def _critic_l(self) -> JointCritic:
        return JointCritic(LEADER_OBS + LEADER_ACT, (HH_OBS + HH_ACT) * self.H)

    def networks(self) -> dict:
        own, leader, H = HH_OBS + HH_ACT, LEADER_OBS + LEADER_ACT, self.H
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": self._critic_l(),  # Q_l(s_l, a_l; s_1.., a_1..)
            "actor_f": ObsActor(),  # pi_f(s_f)
            # Q_f(s_i, a_i; s_l, a_l, s_1.., a_1..): the slots a_1.. follow s_l, a_l, s_1..
            "critic_f": JointCritic(own, leader + own * H, slots_at=own + leader + HH_OBS * H),
        }

    def twin_critic(self, critic) -> TwinCritic:
        return TwinCritic(make=self._critic_l)

    # --- acting: Learner.act ------------------------------------------------------------
    # --- updates: Learner's rules; the critics' extra input is the joint (s, a) of a step -

    def _joint(self, steps):
        """Normalised joint observations now and next [B, N, 2] and stored joint actions."""
        n, D = self.nets, self.buf.data
        return n.norm_f(D["h_obs"][steps]), D["h_act"][steps], n.norm_f(D["h_next"][steps])

    def _next_actions(self, steps: Tensor) -> Tensor:
        """The target actor's actions [B, N, 2] on the next observations of every household of
        the stored ``steps`` [B]: computed once per stored step for as long as the target actor,
        the follower normaliser and the replay stay as they are (a whole leader phase: its
        updates move only the leader's targets), then looked up."""
        t, D = self.targets.actor_f, self.buf.data
        key = [*t.parameters(), *self.nets.norm_f.buffers(), D["h_next"]]
        key = [(x, x._version) for x in key]
        old = getattr(self, "_cache", None)
        fresh = old is not None and all(
            x is y and v == w for (x, v), (y, w) in zip(key, old["key"], strict=True)
        )
        if not fresh:
            self._cache = {
                "key": key,
                "slot": torch.full((self.buf.capacity,), -1),
                "used": 0,
                "rows": old["rows"] if old is not None else None,
            }
        c = self._cache
        new = steps[c["slot"][steps] < 0].unique()
        if new.numel():
            if c["rows"] is None:  # room for a phase's distinct steps, at most the replay's
                n = max(self.cfg.leader_updates, 1) * len(steps)
                c["rows"] = D["h_next"].new_empty(min(self.buf.capacity, n), self.H, HH_ACT)
            if c["used"] + len(new) > len(c["rows"]):  # more updates than a phase: start over
                c["slot"].fill_(-1)
                c["used"] = 0
                new = steps.unique()
            with torch.no_grad():
                a = t(self.nets.norm_f(D["h_next"][new]))
            c["rows"][c["used"] : c["used"] + len(new)] = a
            c["slot"][new] = torch.arange(c["used"], c["used"] + len(new))
            c["used"] += len(new)
        return c["rows"][c["slot"][steps]]

    def leader_extra(self, idx):
        S, A, S2 = self._joint(idx)
        return {
            "SA": torch.cat([S.flatten(-2), A.flatten(-2)], -1),
            "S2": S2,
            "A2": self._next_actions(idx),
        }

    def leader_x(self, b):
        return (b["SA"],)

    def leader_x2(self, targets, b, a_l2):
        S2 = b["S2"]
        A2 = b["A2"] if "A2" in b else targets.actor_f(S2)
        return (torch.cat([S2.flatten(-2), A2.flatten(-2)], -1),)

    def sample_pairs(self):
        k, B = self.cfg.households_per_step, self.cfg.batch_size
        steps = self.buf.sample_steps(B // k, self.gen).repeat_interleave(k)
        return steps, torch.randint(self.H, (B,), generator=self.gen)

    def follower_extra(self, j, i):
        n, D = self.nets, self.buf.data
        js = j[:: self.cfg.households_per_step]  # the distinct steps, each k times in j
        S, A, S2 = self._joint(js)
        joint = torch.cat(
            [n.norm_l(D["l_obs"][js]), D["l_act"][js], S.flatten(1), A.flatten(1)], -1
        )
        return {"joint": joint, "S2": S2, "slot": i}

    def follower_x(self, b):
        return (b["joint"],)

    def follower_x2(self, targets, b, a_l2):
        k, S2 = self.cfg.households_per_step, b["S2"]
        A2 = targets.actor_f(S2)
        s_l2, a_l2 = b["s_l2"][..., ::k, :], a_l2[..., ::k, :]  # a step's rows share them
        return (torch.cat([s_l2, a_l2, S2.flatten(-2), A2.flatten(-2)], -1),)

    def follower_x_pi(self, nets, b, u):
        """The household's own action replaced in its slot of the joint action: moved by
        u - a_i, the stored a_i being the pair's own action."""
        return (b["joint"], b["slot"], u - b["a_f"])


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


__all__ = [
    "MADDPGConfig",
    "MADDPGLearner",
    "MADDPGTrainer",
    "LearnedPolicy",
    "maddpg_config",
    "config_from_spec",
    "JointCritic",
]
