"""SMFRL: Stackelberg mean field reinforcement learning (the paper's method, book:learning-smfrl).

A deterministic actor-critic with centralised training and decentralised execution:

| network | input | output |
| --- | --- | --- |
| leader actor pi_l | s_l (6 leader observations) | a_l (5, tanh) |
| leader critic Q_l | s_l, a_l, L_f (mean field: mean s_f, mean a_f) | scalar |
| follower actor pi_f (shared by all households) | s_f (own ability, assets), a_l | a_f (2, tanh) |
| follower critic Q_f | s_f, a_f, a_l, L_f | scalar |

Targets (both times 1 - terminated): y_l = r_l + gamma Q_l'(s_l', pi_l'(s_l'), L_f') and
y_f = r_f + gamma Q_f'(s_f', pi_f'(s_f', a_l'), a_l', L_f') with a_l' = pi_l'(s_l') and L_f'
the mean over households of the target follower actor's next actions. The leader's policy
gradient flows through its own action only (the followers' reaction in L_f is held fixed:
``leader_gradient="nash"``, book:learning-leader), or also through the followers' reaction
(``"stackelberg"``: L_f's mean action is the follower actor's response pi_f(s_f, pi_l(s_l))
at the step's households, differentiated through); the follower's through its action and
the mean over households of its actions.

The Stackelberg gradient is as good as the follower actor's reaction to the leader's
action: it is the followers' learned best response only where they learn faster than the
leader. Single-loop actor-critic methods for Stackelberg mean field games with guarantees
(AC-SMFG, Zeng et al. 2025, arXiv 2509.15392) run the followers and the mean field on a
faster timescale than the leader and use the leader's partial gradient under a "gradient
alignment" condition; here the full gradient through pi_f is the option, and the leader's
actor learns at ``leader_actor_lr`` (smaller than the followers' for a two-timescale run).

SMFRL is a learner of the DDPG family (:mod:`smfg.algos.offpolicy`): the environment loop,
the leader's update (TD3 by default: twin critics of the table's inputs, target smoothing,
a delayed actor; ``leader_method="ddpg"`` is the original's), exploration, endings, the replay and
the state are that module's; this file holds what is SMFRL's own, what its critics and
actors see (the mean field) and its follower batch.

Corrections of the original (book:learning-corrections), all on by default: every critic sees
actions in the actor's output space (the original fitted the follower critic on mapped actions and
fed it raw ones), the mean-state input has its own embedding, target networks are real copies, the
replay buffer wraps around, and the normalisers are saved with the policy and frozen at evaluation.
``paper_quirks=True`` restores only the action mapping (saving in [0.5, 1] for the followers, the
leader's raw tanh output).

The follower batch is the original's by default (``follower_batch="joint"``: ``batch_size`` joint
transitions of all N households, each with its exact mean field); ``"sampled"`` is a cheaper,
different estimator: (step, household) pairs, with L_f' and the follower actor's mean action
averaged over ``mf_sample`` households drawn at random from the sampled step (exact for N <=
mf_sample). The profiles ``smoke`` and ``quick`` use the sampled batch, ``paper`` the joint
one. The replay buffer holds as many steps as fit in ``replay_memory_gb`` (1e6 joint
transitions in the original: 17 GB at N = 1000).

Sections, in the order every algorithm file follows: config, networks, updates (what the
critics see), the trainer, policies for evaluation.
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
    ReplayBuffer,
)
from smfg.algos.offpolicy import (
    HOUSEHOLD_FOLLOWERS,
    STABLE_LEADER,
    Learner,
    OffPolicyConfig,
    OffPolicyPolicy,
    OffPolicyTrainer,
)
from smfg.profiles import ALL_PROFILES

# --- config --------------------------------------------------------------------------------


FOLLOWER_BATCHES = ("joint", "sampled")
LEADER_GRADIENTS = ("nash", "stackelberg")
FOLLOWER_GRADIENTS = ("population", "own")


@dataclass(frozen=True)
class SMFRLConfig(OffPolicyConfig):
    """SMFRL's settings: the DDPG family's (the original runs', book:learning-smfrl-defaults) and
    its own."""

    follower_batch: str = "joint"
    """The follower update's batch. 'joint' (the original's, book:learning-follower-batch):
    ``batch_size`` joint transitions, each with all N households and the step's exact mean field
    (``batch_size x N`` household rows). 'sampled' (cheaper, a different estimator at N >
    ``mf_sample``): ``batch_size`` (step, household) pairs from ``pair_steps`` steps, the mean
    action of each step over ``mf_sample`` of its households."""
    leader_gradient: str = "nash"
    """The leader actor's gradient. 'nash' (the original's, book:learning-leader): through its own
    action only, the followers' mean action in L_f taken from the replay and held fixed.
    'stackelberg': the mean action in L_f is the follower actor's response to the leader's action at
    the step's household states (all N with the joint batch, ``mf_sample`` with the sampled one),
    differentiated through: the leader anticipates the followers' reaction."""
    follower_gradient: str = "population"
    """The follower actor's gradient. 'population' (the original's, book:learning-smfrl-updates):
    through the household's own action and the mean action of the population, both the shared
    actor's, so the shared actor also weighs what every household's doing the same does to the mean
    field (a mean field control objective: with taxes redistributed as transfers, working more
    together raises everyone's transfer). 'own': through the household's own action only, the
    population's mean action that of the current actor but taken as given (detached): each household
    is a price taker, the Nash condition of a mean field game and the best response that
    certification measures exploitability against."""
    pair_steps: int = 32
    """With the sampled batch: distinct steps in a follower batch; its ``batch_size`` (step,
    household) pairs are ``pair_steps`` uniform steps times ``batch_size / pair_steps``
    uniform households each, so the population's mean action is computed once per step
    (``pair_steps x mf_sample`` actor rows, not ``batch_size x mf_sample``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ints(("pair_steps",), 1)
        if self.follower_batch not in FOLLOWER_BATCHES:
            self._bad("follower_batch", FOLLOWER_BATCHES)
        if self.leader_gradient not in LEADER_GRADIENTS:
            self._bad("leader_gradient", LEADER_GRADIENTS)
        if self.follower_gradient not in FOLLOWER_GRADIENTS:
            self._bad("follower_gradient", FOLLOWER_GRADIENTS)
        if self.batch_size % self.batch_steps:
            self._bad("pair_steps", f"a divisor of batch_size = {self.batch_size} (or >= it)")

    @property
    def batch_steps(self) -> int:
        """Distinct steps in a follower batch: ``pair_steps``, at most ``batch_size``."""
        return min(self.pair_steps, self.batch_size)


#: SMFRL's profiles: the DDPG family's, with the original's joint follower batch in ``paper`` and
#: the sampled one in ``smoke`` and ``quick`` (see ``follower_batch``; every claim says which); a
#: view of :class:`smfg.profiles.Profile`.
SMFRL_PROFILES = {p.name: p.smfrl_settings() for p in ALL_PROFILES}


#: The settings with which SMFRL solves its game in `clearing` (book:learning-solving): the
#: stable leader, followers that learn the households' own problem, and the follower gradient
#: of a price taker (``follower_gradient="own"``: the Nash condition that certification
#: measures exploitability against).
SOLVING = (*STABLE_LEADER, *HOUSEHOLD_FOLLOWERS, ("follower_gradient", "own"))


def smfrl_config(profile: str = "quick", **overrides) -> SMFRLConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(SMFRLConfig, SMFRL_PROFILES, profile, **overrides)


# --- networks and what the critics see ----------------------------------------------------


def _subsample(buf: ReplayBuffer, key: str, steps: Tensor, m: int, gen: torch.Generator):
    """[B, m, 2] observations of m random households of each sampled step (all when H <= m)."""
    H = buf.H
    if H <= m:
        return buf.data[key][steps]
    hh = torch.randint(H, (steps.shape[0], m), generator=gen)
    return buf.data[key][steps.unsqueeze(-1), hh]


def _own_and_mean(actor, own: Tensor, pop: Tensor, leader: Tensor) -> tuple[Tensor, Tensor]:
    """Actions of each step's own households [..., S, k, 2] and its population sample
    [..., S, m, 2] under that step's leader action [..., S, 5], in one pass: the own actions
    [..., S k, 2] and each step's mean population action repeated for its k rows."""
    k = own.shape[-2]
    acts = actor(torch.cat([own, pop], -2), leader.unsqueeze(-2))
    mean = acts[..., k:, :].mean(-2).repeat_interleave(k, -2)
    return acts[..., :k, :].flatten(-3, -2), mean


def joint_response(actor, s_f: Tensor, a_l: Tensor) -> tuple[Tensor, Tensor]:
    """Every household's action [..., S, N, 2] at its state ``s_f`` [..., S, N, 2] under its
    step's leader action ``a_l`` [..., S, 5], and each step's exact mean action [..., S, 2]."""
    acts = actor(s_f, a_l.unsqueeze(-2))
    return acts, acts.mean(-2)


class SMFRLLearner(Learner):
    """Both sides learn; the leader critic sees the mean field, the follower critic the
    leader's action and the mean field, and the follower actor the leader's action."""

    leader_sends_raw = True
    follower_saving_quirk = True

    def networks(self) -> dict:
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": Critic(LEADER_OBS + LEADER_ACT + 2 * HH_OBS),  # Q_l(s_l, a_l, L_f)
            "actor_f": FollowerActor(),  # pi_f(s_f, a_l)
            "critic_f": MeanFieldCritic(with_leader=True),  # Q_f(s_f, a_f, a_l, L_f)
        }

    def _mean_field(self, rows: Tensor) -> Tensor:
        """L_f from stored mean rows [..., 4] (normalising is affine: the normalised mean
        observation is the mean of the normalised observations)."""
        return torch.cat([self.nets.norm_f(rows[..., :HH_OBS]), rows[..., HH_OBS:]], -1)

    def _households(self, key: str, idx: Tensor) -> Tensor:
        """Normalised observations of the households of the sampled steps ``idx`` that a mean
        action is taken over: all N with the joint batch, else ``mf_sample`` at random."""
        if self.cfg.follower_batch == "joint":
            return self.nets.norm_f(self.buf.data[key][idx])
        return self.nets.norm_f(_subsample(self.buf, key, idx, self.cfg.mf_sample, self.gen))

    # the leader: Q_l(s_l, a_l, L_f), L_f' from the target follower actor ------------------
    def leader_extra(self, idx: Tensor) -> dict:
        D = self.buf.data
        b = {
            "mf": self._mean_field(D["mf"][idx]),
            "mf_obs2": self.nets.norm_f(D["mf_next"][idx, :HH_OBS]),
            "nxt": self._households("h_next", idx),
        }
        if self.cfg.leader_gradient == "stackelberg":
            b["cur"] = self._households("h_obs", idx)
        return b

    def leader_x(self, b: dict) -> tuple:
        return (b["mf"],)

    def leader_x2(self, targets, b: dict, a_l2: Tensor) -> tuple:
        mean2 = targets.actor_f(b["nxt"], a_l2.unsqueeze(-2)).mean(-2)
        return (torch.cat([b["mf_obs2"], mean2], -1),)

    def leader_actor_loss(self, nets, targets, b: dict) -> Tensor:
        """-Q_l(s_l, pi_l(s_l), L_f): with the 'stackelberg' gradient L_f's mean action is the
        follower actor's response to pi_l(s_l) at the step's households, differentiated
        through; with 'nash' the replay's."""
        a_l = nets.actor_l(b["s_l"])
        mf = b["mf"]
        if "cur" in b:
            _, mean = joint_response(nets.actor_f, b["cur"], a_l)
            mf = torch.cat([mf[..., :HH_OBS], mean], -1)
        return self.leader_pi_objective(self._q_l(nets.critic_l, b["s_l"], a_l, mf)[..., 0], a_l, b)

    # the followers, joint (book:learning-follower-batch): ``batch_size`` steps, all N of each ---
    def follower_batch(self) -> dict:
        if self.cfg.follower_batch == "sampled":
            return self._sampled_batch()
        n, D = self.nets, self.buf.data
        js = self.buf.sample_steps(self.cfg.batch_size, self.gen)
        return {
            "s_f": n.norm_f(D["h_obs"][js]),
            "s_f2": n.norm_f(D["h_next"][js]),
            "a_f": D["h_act"][js],
            "r_f": D["h_rew"][js],
            "term": D["term"][js],
            "a_l": D["l_act"][js],
            "mf": self._mean_field(D["mf"][js]),
            "mf_obs2": n.norm_f(D["mf_next"][js, :HH_OBS]),
            "s_l2": n.norm_l(D["l_next"][js]),
        }

    def _joint_critic_loss(self, nets, targets, b: dict) -> Tensor:
        with torch.no_grad():
            a_l2 = targets.actor_l(b["s_l2"])
            a_f2, mean2 = joint_response(targets.actor_f, b["s_f2"], a_l2)
            mf2 = torch.cat([b["mf_obs2"], mean2], -1).unsqueeze(-2)
            q2 = targets.critic_f(b["s_f2"], a_f2, a_l2.unsqueeze(-2), mf2)
            y = b["r_f"] + self.cfg.follower_discount * (1.0 - b["term"]).unsqueeze(-1) * q2
        q = nets.critic_f(b["s_f"], b["a_f"], b["a_l"].unsqueeze(-2), b["mf"].unsqueeze(-2))
        return (q - y).pow(2).mean((-2, -1))

    def _joint_actor_loss(self, nets, targets, b: dict) -> Tensor:
        a_pi, mean_pi = joint_response(nets.actor_f, b["s_f"], b["a_l"])
        if self.cfg.follower_gradient == "own":
            mean_pi = mean_pi.detach()
        mf_pi = torch.cat([b["mf"][..., :HH_OBS], mean_pi], -1).unsqueeze(-2)
        return -nets.critic_f(b["s_f"], a_pi, b["a_l"].unsqueeze(-2), mf_pi).mean((-2, -1))

    # the followers, sampled: ``batch_steps`` steps x k households, and ``mf_sample``
    # households of each step for the mean action (next and current) ----------------------
    def _sampled_batch(self) -> dict:
        cfg, n, D, gen = self.cfg, self.nets, self.buf.data, self.gen
        S = cfg.batch_steps
        k = cfg.batch_size // S
        js = self.buf.sample_steps(S, gen)
        hh = torch.randint(self.H, (S, k), generator=gen)
        j, i = js.repeat_interleave(k), hh.reshape(-1)
        m = cfg.mf_sample
        return {
            "s_f": n.norm_f(D["h_obs"][j, i]),
            "s_f2": n.norm_f(D["h_next"][j, i]),
            "a_f": D["h_act"][j, i],
            "r_f": D["h_rew"][j, i],
            "term": D["term"][j],
            "a_l": D["l_act"][j],
            "a_ls": D["l_act"][js],
            "mf": self._mean_field(D["mf"][j]),
            "mf_obs2": n.norm_f(D["mf_next"][j, :HH_OBS]),
            "s_l2s": n.norm_l(D["l_next"][js]),
            "nxt": n.norm_f(_subsample(self.buf, "h_next", js, m, gen)),
            "cur": n.norm_f(_subsample(self.buf, "h_obs", js, m, gen)),
        }

    def follower_critic_loss(self, nets, targets, b: dict) -> Tensor:
        """TD error of Q_f against y_f = r_f + gamma Q_f'(s_f', pi_f'(s_f', a_l'), a_l', L_f')."""
        if self.cfg.follower_batch == "joint":
            return self._joint_critic_loss(nets, targets, b)
        S = b["a_ls"].shape[-2]
        with torch.no_grad():
            a_l2s = targets.actor_l(b["s_l2s"])
            own2 = b["s_f2"].unflatten(-2, (S, -1))
            a_f2, mean2 = _own_and_mean(targets.actor_f, own2, b["nxt"], a_l2s)
            a_l2 = a_l2s.repeat_interleave(own2.shape[-2], -2)
            mf2 = torch.cat([b["mf_obs2"], mean2], -1)
            q2 = targets.critic_f(b["s_f2"], a_f2, a_l2, mf2)
            y = b["r_f"] + self.cfg.follower_discount * (1.0 - b["term"]) * q2
        return (nets.critic_f(b["s_f"], b["a_f"], b["a_l"], b["mf"]) - y).pow(2).mean(-1)

    def follower_actor_loss(self, nets, targets, b: dict) -> Tensor:
        """-Q_f(s_f, pi_f(s_f, a_l), a_l, L_f): the gradient flows through the household's own
        action and (``follower_gradient="population"``) the population's mean action."""
        if self.cfg.follower_batch == "joint":
            return self._joint_actor_loss(nets, targets, b)
        S = b["a_ls"].shape[-2]
        own = b["s_f"].unflatten(-2, (S, -1))
        a_pi, mean_pi = _own_and_mean(nets.actor_f, own, b["cur"], b["a_ls"])
        if self.cfg.follower_gradient == "own":
            mean_pi = mean_pi.detach()
        mf_pi = torch.cat([b["mf"][..., :HH_OBS], mean_pi], -1)
        return -nets.critic_f(b["s_f"], a_pi, b["a_l"], mf_pi).mean(-1)


# --- the trainer ---------------------------------------------------------------------------


class SMFRLTrainer(OffPolicyTrainer):
    """Trains SMFRL epoch by epoch; implements the run store's Trainer protocol."""

    algo = "smfrl"
    learner_cls = SMFRLLearner


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy(OffPolicyPolicy):
    """A trained SMFRL leader and follower actor, for :func:`smfg.evaluate.evaluate`."""

    learner_cls = SMFRLLearner
    config_cls = SMFRLConfig


def config_from_spec(spec: dict) -> SMFRLConfig:
    """Rebuild the config of a stored run spec (the run store keeps ``asdict(config)``)."""
    return common.config_from_spec(SMFRLConfig, spec)


__all__ = [
    "SMFRLConfig",
    "SMFRLLearner",
    "SMFRLTrainer",
    "LearnedPolicy",
    "smfrl_config",
    "config_from_spec",
    "joint_response",
    "FOLLOWER_BATCHES",
    "LEADER_GRADIENTS",
    "FOLLOWER_GRADIENTS",
    "SMFRL_PROFILES",
    "SOLVING",
]
