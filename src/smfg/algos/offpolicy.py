"""The DDPG family of the paper's Table 2, written once: who learns, and what each critic sees.

Every row below is one small file (``rule_based.py``, ``ddpg.py``, ``iddpg.py``,
``maddpg.py``, ``mfmarl.py``) that subclasses :class:`Learner` with its networks and the
extra inputs of its critics; the update rules, acting, replay and the trainer are here.

| algorithm | leader | Q_l sees | households | pi_f sees | Q_f sees |
| --- | --- | --- | --- | --- | --- |
| Rule-based | free market | - | random or BC, fixed | - | - |
| DDPG | DDPG | s_l, a_l | random or BC, fixed | - | - |
| IDDPG | DDPG | s_l, a_l | DDPG, shared | s_f | s_f, a_f |
| MADDPG | DDPG | s_l, a_l, S, A | DDPG, shared | s_f | s_f, a_f, s_l, a_l, S, A |
| MF-MARL | DDPG | s_l, a_l | DDPG, shared | s_f, a_l | s_f, a_f, L_f |
| SMFRL (``smfrl.py``) | DDPG | s_l, a_l, L_f | DDPG, shared | s_f, a_l | s_f, a_f, a_l, L_f |

s_l: the leader's 6 observations; a_l its action (actor output u_l); s_f, a_f: a household's
observation and action; L_f: the mean field (mean s_f, mean a_f, book:model-observations); S, A:
every household's observation and action, s_1..s_N and a_1..a_N (MADDPG's joint input). "Shared":
one actor and one critic for all households (a household's own s_f and a_f tell the critic whom it
values). "random": uniform [0, 1) shares every step (the original rule-based households); "BC": the
behaviour-cloned SMFRL follower actor pi_f(s_f, a_l), frozen.

The update rules, with X_l and X_f a critic's extra inputs from the table (X' built from the
next step with the target actors), and m = 1 - terminated: the bootstrap is cut only where an
economy failed, never at the time limit (there the episode is truncated, not over):

- leader (``leader_method = "td3"``, the default): twin critics Q_l1, Q_l2 and
  y_l = r_l + gamma m min_k Q_lk'(s_l', a_l', X_l') with a_l' = pi_l'(s_l') plus clipped
  Gaussian smoothing noise; loss sum_k (Q_lk(s_l, a_l, X_l) - y_l)^2; the actor maximises
  Q_l1(s_l, pi_l(s_l), X_l), the followers' part of X_l held fixed, every ``policy_delay``-th
  update (Fujimoto et al. 2018). ``"ddpg"``: one critic, no smoothing, no delay
  (book:learning-smfrl-updates).
- follower: y_f = r_f + gamma m Q_f'(s_f', pi_f'(s_f', a_l'), X_f') with a_l' =
  pi_l'(s_l'); actor: maximise Q_f(s_f, pi_f(s_f, a_l), X_f) with the household's own action
  replaced wherever X_f holds it (MADDPG's joint action), everything else from the replay.

An early ending costs the leader what the lost years are worth: on the step where an economy
fails after t of T years, its reward gains floor x sum_{k=1}^{T-t} gamma^k, the discounted
value of living the remaining years at the reward's lowest per-step value
(:func:`smfg.env.reward_floor`, or the lowest reward seen so far where the reward has no
floor). Rewards and observations are made finite before they reach a normaliser or a critic,
and the replacements are counted in the epoch's metrics.

The leader explores with its own Gaussian noise of ``leader_noise_std`` on the actor output
(the action box is [-1, 1]^5), multiplied by ``leader_noise_decay`` every epoch down to
``leader_noise_min``; the households with ``noise_std``, one draw per action dimension shared
by the households of an economy (book:learning-smfrl-defaults). ``n_envs`` economies step in
parallel and each step stores all of them. A follower learning rate of 0 (``follower_lr`` or, with
BC, ``bc_follower_lr``) freezes the followers: no follower update, and their normaliser stays. With
BC the follower normaliser is part of the clone and never moves. Replay, target updates,
learning-rate decay and the other defaults are SMFRL's (book:learning-smfrl-defaults).

``paper_quirks`` restores the original's action mappings (book:learning-corrections): these
households sent their raw tanh output as shares, and the DDPG and MADDPG leaders theirs
unscaled (the IDDPG and MF-MARL leaders are not known to have done so, and keep the
corrected mapping); the rule-based households' uniform draws are sent as they are either way.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grad_norm_

from smfg.algos.common import (
    BaseConfig,
    TrainerBase,
    bc_network,
    exploration,
    free_market_u,
    module_states,
    random_follower_u,
)
from smfg.algos.core import (
    HH_OBS,
    LEADER_ACT,
    LEADER_OBS,
    Critic,
    DeterministicActor,
    ReplayBuffer,
    follower_env_action,
    gaussian_noise,
    leader_env_action,
    signed_log,
    soft_update,
)
from smfg.config import economy_params
from smfg.env import Observation, RunningNormalizer, reward_floor
from smfg.profiles import ALL_PROFILES

__all__ = [
    "OffPolicyConfig",
    "PROFILES",
    "Learner",
    "OffPolicyTrainer",
    "OffPolicyPolicy",
    "TwinCritic",
    "LEADER_METHODS",
    "STABLE_LEADER",
    "HOUSEHOLD_FOLLOWERS",
    "start_at",
]

LEADER_METHODS = ("td3", "ddpg")

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffPolicyConfig(BaseConfig):
    """The DDPG family's settings; defaults are SMFRL's original runs
    (book:learning-smfrl-defaults)."""

    leader_updates: int = 100
    """Leader updates per epoch, each on its own batch."""
    follower_updates: int = 100
    """Follower updates per epoch, each on its own batch."""
    batch_size: int = 128
    """Transitions per update (steps for the leader, (step, household) pairs for followers)."""
    gamma: float = 0.975
    """Discount factor of the leader's critic, and of the followers' unless
    ``follower_gamma`` is set (book:learning-smfrl-defaults: 0.975 for both)."""
    follower_gamma: float | None = None
    """Discount factor of the followers' critic (None: ``gamma``). A household's own discount
    factor (E25's beta, 0.96) makes the followers' objective the household's, the one whose
    best response certification measures exploitability against."""
    lr: float | None = None
    """Learning rate of every network; None: 5e-4 at N <= 100, else 3e-4."""
    lr_decay: float = 0.95
    """Multiplicative learning-rate decay ..."""
    lr_decay_every: int = 3500
    """... every this many updates."""
    tau: float = 0.05
    """Target update weight on the new parameters."""
    noise_std: float = 0.01
    """Exploration noise on the tanh outputs (one draw per dimension shared by households)."""
    replay_steps: int = 1_000_000
    """Replay capacity in environment steps, before the memory cap."""
    replay_memory_gb: float = 1.5
    """Memory cap of the replay buffer."""
    mf_sample: int = 16
    """Households per sampled step averaged into a target's mean action (MF-MARL)."""
    bc_follower_lr: float | None = None
    """Follower learning rate with BC (None: ``follower_lr``; the paper used 1e-6); 0 freezes
    the cloned followers."""
    follower_lr: float | None = None
    """Follower learning rate (None: ``lr``); 0 freezes the followers."""
    leader_method: str = "td3"
    """The leader's update: 'td3' (twin critics, target smoothing, delayed actor) or 'ddpg'
    (one critic, book:learning-smfrl-updates)."""
    leader_actor_lr: float | None = None
    """The leader actor's learning rate (None: ``lr``)."""
    leader_critic_lr: float | None = None
    """The leader critic's learning rate (None: ``lr``)."""
    leader_noise_std: float | None = None
    """The leader's exploration noise on its actor output (the box is [-1, 1]^5). None: 0.2
    in 'clearing'; ``noise_std`` (the original's 0.01) in 'taxai', whose economies end on a year
    of exploration at the box's scale (measured: every training episode of an N = 50 -BC
    run ends within a few years at 0.2, none at 0.01)."""
    follower_noise_std: float | None = None
    """The households' exploration noise while collecting (None: ``noise_std``, the
    original's 0.01); evaluation uses ``eval_noise_std`` whatever this is."""
    follower_noise_per_household: bool = False
    """Independent draws per household while collecting (book:learning-smfrl-defaults: one draw per
    action dimension shared by an economy's households, so the follower critic sees the actions of
    one step's households move together)."""
    leader_noise_decay: float = 0.9
    """The leader's noise is multiplied by this every epoch ..."""
    leader_noise_min: float = 0.05
    """... down to this."""
    leader_start_epoch: int = 0
    """Epochs in which only the followers learn: the leader's networks update from this
    epoch on (0: from the first), and its exploration noise decays from it. Before it the
    leader plays its initial actor with its full exploration noise, so that the followers
    learn to respond to a spread of policies, and the leader's critic first sees households
    that have adapted (a two-timescale start: the followers settle, then the leader moves)."""
    follower_actor_start_epoch: int = 0
    """Epochs in which the followers' critic learns alone: the follower actor updates from this
    epoch on (0: from the first). A fresh critic values a step by its reward first, the future
    entering only as its bootstrap propagates (about 1 / (1 - gamma) target refreshes), so an
    actor that follows it from the start learns to consume what it should save (measured in
    `clearing`: BC followers that over-save swing to a saving share 0.15 to 0.35 below the best
    response's within five epochs, and capital collapses). Meanwhile the followers act as they
    started (the clone), with their exploration noise (book:learning-solving)."""
    leader_trust: float | None = None
    """The leader's trust region (None: none, the original's). Each epoch the leader's actor may
    move about this far, in the Euclidean norm of its output (the box [-1, 1]^5), from where it
    stood when the epoch's updates began: its loss becomes -Q_l / mean |Q_l| (the critic's scale
    divided out, as TD3+BC does) plus mean((||pi_l(s) - pi_anchor(s)|| - leader_trust)_+^2) /
    leader_trust^2 over the batch's states. An actor that follows its critic's gradient runs to
    where the critic extrapolates, the corners of the box (measured in `clearing`: within three
    epochs), which the critic has never seen; a radius of about the exploration noise keeps it
    where its critic was fitted (book:learning-choices)."""
    leader_init: tuple[float, ...] | None = None
    """The leader's initial action: E1's five numbers in (0, 1) (None: the network's own, about
    0.5 each, i.e. a 10% asset tax and spending of 15% of output). The actor's output layer is
    scaled down 10 times and its bias set so that every state starts near these numbers."""
    policy_delay: int = 2
    """TD3: one leader actor update every this many critic updates."""
    target_noise: float = 0.2
    """TD3: std of the smoothing noise on the target leader action ..."""
    target_noise_clip: float = 0.5
    """... clipped to this."""
    n_envs: int = 1
    """Economies stepped in parallel while collecting (each step stores all of them)."""
    ending_penalty: bool = True
    """An early ending costs the leader the discounted lost years at the reward's floor."""
    max_grad_norm: float | None = 1000.0
    """Each network's gradient norm is clipped to this before its step (None: never). Adam's
    step does not depend on the gradient's scale, so this only keeps rewards of 1e10 and
    more (E25's utility of a household that cannot consume) from overflowing its moments."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ints(("batch_size", "mf_sample", "lr_decay_every", "replay_steps"), 1)
        self._ints(("leader_updates", "follower_updates"), 0)
        self._ints(("policy_delay", "n_envs"), 1)
        self._ints(("leader_start_epoch", "follower_actor_start_epoch"), 0)
        if self.leader_method not in LEADER_METHODS:
            self._bad("leader_method", LEADER_METHODS)
        optional = ("leader_noise_std", "follower_noise_std")
        for name in (*optional, "leader_noise_min", "target_noise", "target_noise_clip"):
            v = getattr(self, name)
            if (v is not None or name not in optional) and not 0.0 <= v <= 2.0:
                self._bad(name, "[0, 2]" + (" or None" if name in optional else ""))
        if self.leader_trust is not None and not 0.0 < self.leader_trust <= 4.0:
            self._bad("leader_trust", "(0, 4] or None")
        if self.leader_init is not None:
            init = tuple(self.leader_init)
            if len(init) != LEADER_ACT or not all(0.0 < float(v) < 1.0 for v in init):
                self._bad("leader_init", f"{LEADER_ACT} numbers in (0, 1), or None")
            object.__setattr__(self, "leader_init", tuple(float(v) for v in init))
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            self._bad("max_grad_norm", "> 0 or None")
        if not 0.0 < self.leader_noise_decay <= 1.0:
            self._bad("leader_noise_decay", "(0, 1]")
        for name in ("leader_actor_lr", "leader_critic_lr"):
            if getattr(self, name) is not None and not 0.0 < getattr(self, name) < 1.0:
                self._bad(name, "(0, 1) or None")
        for name in ("bc_follower_lr", "follower_lr"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) < 1.0:
                self._bad(name, "[0, 1) or None (0 freezes the followers)")
        if not 0.0 <= self.gamma < 1.0:
            self._bad("gamma", "[0, 1)")
        if self.follower_gamma is not None and not 0.0 <= self.follower_gamma < 1.0:
            self._bad("follower_gamma", "[0, 1) or None")
        if not 0.0 < self.tau <= 1.0:
            self._bad("tau", "(0, 1]")
        if not 0.0 <= self.noise_std <= 1.0:
            self._bad("noise_std", "[0, 1]")
        if self.lr is not None and not 0.0 < self.lr < 1.0:
            self._bad("lr", "(0, 1) or None")
        if not 0.0 < self.lr_decay <= 1.0:
            self._bad("lr_decay", "(0, 1]")
        if not self.replay_memory_gb > 0:
            self._bad("replay_memory_gb", "> 0")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-4 if self.n_households <= 100 else 3e-4)

    @property
    def follower_noise(self) -> float:
        """The households' exploration noise while collecting."""
        return self.noise_std if self.follower_noise_std is None else self.follower_noise_std

    @property
    def follower_discount(self) -> float:
        """The followers' discount factor: ``follower_gamma``, else ``gamma``."""
        return self.gamma if self.follower_gamma is None else self.follower_gamma

    @property
    def follower_learning_rate(self) -> float:
        """The followers' learning rate: with BC ``bc_follower_lr`` if set, else
        ``follower_lr`` if set, else ``lr``; 0: frozen followers."""
        if self.bc and self.bc_follower_lr is not None:
            return self.bc_follower_lr
        return self.follower_lr if self.follower_lr is not None else self.learning_rate

    def leader_noise(self, epoch: int) -> float:
        """The leader's exploration noise in epoch ``epoch`` (0-based): the start decayed,
        down to ``leader_noise_min`` (never above the start)."""
        start = self.leader_noise_std
        if start is None:
            start = self.noise_std if self.variant == "taxai" else 0.2
        decayed = start * self.leader_noise_decay ** max(0, epoch - self.leader_start_epoch)
        return max(min(start, self.leader_noise_min), decayed)


#: The profiles of every DDPG-family algorithm (SMFRL's adds its follower batch): a view of
#: :class:`smfg.profiles.Profile` (cloned followers learn at the original's 1e-6 in ``paper``
#: only, see there).
PROFILES = {p.name: p.offpolicy_settings() for p in ALL_PROFILES}

#: A leader that learns in `clearing` without running to the corners of its box
#: (book:learning-solving): a trust region of 0.1 an epoch in the actor's output space (about
#: the exploration noise), and a start near the free market: every E1 number at 0.05 (income
#: and asset tax levels of 1%, spending of 1.5% of output), where the tanh still has slope.
STABLE_LEADER = (("leader_trust", 0.1), ("leader_init", (0.05,) * LEADER_ACT))

#: Followers that learn the households' own problem (book:learning-solving): the households'
#: discount beta = 0.96, independent exploration draws of 0.1 per household, and three
#: follower updates per environment step of the quick profile (300 an epoch).
HOUSEHOLD_FOLLOWERS = (
    ("follower_gamma", 0.96),
    ("follower_noise_std", 0.1),
    ("follower_noise_per_household", True),
    ("follower_updates", 300),
)

# --- networks ------------------------------------------------------------------------------


@contextmanager
def frozen(*modules: nn.Module | None):
    """Parameters of ``modules`` need no gradient inside the block (an actor's step passes its
    gradient through a critic whose own gradient would be thrown away: a third less work)."""
    params = [p for m in modules if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


def rowwise(fn, x: Tensor, rows: int = 2048) -> Tensor:
    """``fn(x)`` for a row-wise ``fn`` (an MLP) on x [..., d], ``rows`` rows of its flattened
    leading axes at a time: the same rows, with hidden layers that stay in cache (MADDPG's actor
    on 128,000 rows: 130 -> 60 ms on one thread of these machines, 10,000 rows: 9.6 -> 5 ms)."""
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[0] <= rows:
        return fn(x)
    out = torch.cat([fn(flat[i : i + rows]) for i in range(0, flat.shape[0], rows)])
    return out.reshape(*x.shape[:-1], out.shape[-1])


class ObsActor(DeterministicActor):
    """A household actor pi_f(s_f) that does not see the leader: s_f -> 128 -> 128 -> 2 tanh
    (the MADDPG actor of book:learning-bc, which BC clones as ``maddpg_actor``). Without a
    gradient (acting, targets) it runs in blocks of rows (:func:`rowwise`): MADDPG's target
    actor sees every household of a batch's steps."""

    def __init__(self):
        super().__init__(HH_OBS, 2, hidden=(128, 128))

    def forward(self, s_f: Tensor, a_l: Tensor | None = None) -> Tensor:
        if torch.is_grad_enabled() or self.net[0].weight.dim() != 2:  # 3-D: a seeds batch's
            return self.net(s_f)
        return rowwise(self.net, s_f)


@torch.no_grad()
def start_at(actor: DeterministicActor, init: tuple[float, ...], raw: bool = False) -> None:
    """Make ``actor`` start near the environment action ``init`` (E1's numbers in (0, 1)) in
    every state: its output layer's weights scaled down 10 times and its bias the inverse of
    the action mapping (``raw``: the actor's output is sent unscaled)."""
    last = [m for m in actor.net if isinstance(m, nn.Linear)][-1]
    c = torch.tensor(init, dtype=last.bias.dtype)
    u = c if raw else 2.0 * c - 1.0
    last.weight.mul_(0.1)
    last.bias.copy_(torch.atanh(u.clamp(-0.999, 0.999)))


class TwinCritic(nn.Module):
    """Two critics of the same inputs (TD3): ``forward`` returns [..., 2], Q1 and Q2; each a
    ``Critic(d_in)``, or what ``make()`` builds."""

    def __init__(self, d_in: int | None = None, make: Callable[[], nn.Module] | None = None):
        super().__init__()
        make = make or (lambda: Critic(d_in))
        self.q1, self.q2 = make(), make()

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.stack([self.q1(*inputs), self.q2(*inputs)], -1)


@dataclass
class Networks:
    """An algorithm's networks and observation normalisers; None where an agent is fixed."""

    actor_l: nn.Module | None
    critic_l: nn.Module | None
    actor_f: nn.Module | None
    critic_f: nn.Module | None
    norm_l: RunningNormalizer
    norm_f: RunningNormalizer

    NAMES = ("actor_l", "critic_l", "actor_f", "critic_f", "norm_l", "norm_f")

    def modules(self) -> dict[str, nn.Module | None]:
        return {k: getattr(self, k) for k in self.NAMES}


# --- the learner: networks, acting, replay and the update rules, without an environment -----


class Learner:
    """One DDPG-family algorithm without its environment, so that a test can drive its update
    rules on a toy game: ``act`` -> ``env_actions`` -> ``store`` -> ``update``.

    A subclass sets who learns and overrides ``networks`` (the learned modules), and where
    its critics see more than (s, a), the hooks that add the data of those inputs to a batch
    (``leader_extra``, ``follower_extra``) and build them (``leader_x``, ``leader_x2``,
    ``follower_x``, ``follower_x2``, ``follower_x_pi``).

    Every update is a batch (all sampling and normalising: :meth:`leader_batch`,
    :meth:`follower_batch`) and losses that are functions of the networks and the batch
    alone (``*_loss(nets, targets, b)``), so that :mod:`smfg.algos.seeds` can evaluate K
    seeds' losses as one batched model.
    """

    leader_learns: bool = True
    """False: the leader plays the free market (Rule-based)."""
    followers_learn: bool = True
    """False: the households are random, or (with ``bc``) the frozen BC follower actor."""
    bc_name: str = "follower_actor"
    """The BC network (book:learning-bc) that starts the follower actor, or is the fixed
    households."""
    leader_sends_raw: bool = False
    """With ``paper_quirks``: the leader sent its tanh output unscaled (SMFRL, DDPG, MADDPG)."""
    follower_saving_quirk: bool = False
    """With ``paper_quirks``: the households mapped their saving into [0.5, 1] (SMFRL's
    original; the other algorithms' households sent their raw tanh output)."""
    leader_critic_inputs: int = 0
    """Inputs of the leader critic beyond (s_l, a_l) (for the twin critic of TD3)."""

    def __init__(self, cfg: OffPolicyConfig, params=None, train: bool = True):
        self.cfg, self.H = cfg, cfg.n_households
        self.params = params or economy_params(cfg.variant, **cfg.economy)
        self.leader_raw = cfg.paper_quirks and self.leader_sends_raw
        self.twin = cfg.leader_method == "td3" and self.leader_learns
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            mods = {"actor_l": None, "critic_l": None, "actor_f": None, "critic_f": None}
            mods.update(self.networks())
            if self.twin:  # TD3: the leader critic's architecture, twice
                mods["critic_l"] = self.twin_critic(mods["critic_l"])
            if not self.followers_learn and cfg.bc:
                from smfg.algos.bc import make_network

                mods["actor_f"] = make_network(self.bc_name)
            self.nets = Networks(
                **mods, norm_l=RunningNormalizer(LEADER_OBS), norm_f=RunningNormalizer(HH_OBS)
            )
        if cfg.leader_init is not None and self.nets.actor_l is not None:
            start_at(self.nets.actor_l, cfg.leader_init, self.leader_raw)
        self.gen = torch.Generator().manual_seed(cfg.seed + 104729)
        lr_f = cfg.follower_learning_rate
        self.followers_update = self.followers_learn and lr_f > 0
        self.learns = self.leader_learns or self.followers_update
        # the follower normaliser tracks the learned followers' states, except a clone's
        self.norm_f_moves = self.followers_update and not cfg.bc
        self.leader_steps = 0
        self.leader_paused = False  # set by the trainer before ``leader_start_epoch``
        self.follower_actor_paused = False  # ... and before ``follower_actor_start_epoch``
        if cfg.bc and train:
            actor, norm = bc_network(
                self.bc_name, cfg.variant, self.params, cfg.bc_epochs, cfg.seed
            )
            self.nets.actor_f.load_state_dict(actor.state_dict())
            self.nets.norm_f.load_state_dict(norm.state_dict())
        if train and self.learns:
            self._build_training()

    def networks(self) -> dict[str, nn.Module]:
        """The learned modules by name (``actor_l``, ``critic_l``, ``actor_f``, ``critic_f``)."""
        raise NotImplementedError

    def twin_critic(self, critic: nn.Module) -> TwinCritic:
        """TD3's twin leader critic: two fresh critics of ``critic``'s architecture."""
        return TwinCritic(critic.net[0].in_features)

    def _build_training(self) -> None:
        cfg, n = self.cfg, self.nets
        self.targets = copy.deepcopy(n)
        lr = cfg.learning_rate
        lrs = {
            "actor_l": cfg.leader_actor_lr or lr,
            "critic_l": cfg.leader_critic_lr or lr,
            "actor_f": cfg.follower_learning_rate,
            "critic_f": lr,
        }
        learned = (["actor_l", "critic_l"] if self.leader_learns else []) + (
            ["actor_f", "critic_f"] if self.followers_update else []
        )
        self.opt = {
            k: torch.optim.Adam(
                getattr(n, k).parameters(),
                lr=lrs[k],
                eps=1e-5 if k.endswith("_f") else 1e-8,
                foreach=True,
            )
            for k in learned
        }
        self.sched = {
            k: torch.optim.lr_scheduler.StepLR(o, cfg.lr_decay_every, cfg.lr_decay)
            for k, o in self.opt.items()
        }
        cap = min(
            cfg.replay_steps,
            cfg.epochs * cfg.steps_per_epoch * cfg.n_envs,
            ReplayBuffer.capacity_for(cfg.replay_memory_gb * 1e9, self.H),
        )
        self.buf = ReplayBuffer(cap, self.H)
        self.updates = 0

    # acting --------------------------------------------------------------------------------
    @torch.no_grad()
    def leader_u(self, leader_obs: Tensor, noise_std: float, gen: torch.Generator) -> Tensor:
        """Leader actor output u_l [E, 5] from raw observations [E, 6], with noise."""
        n = self.nets
        if n.actor_l is None:
            return free_market_u(leader_obs.shape[0], self.leader_raw)
        return exploration(n.actor_l(n.norm_l(signed_log(leader_obs.float()))), noise_std, gen)

    @torch.no_grad()
    def follower_u(
        self, hh_obs: Tensor, u_l: Tensor, noise_std: float, gen, per_household: bool = False
    ) -> Tensor:
        """Household actor outputs u_f [E, H, 2] from raw observations [E, H, 2] and u_l."""
        n = self.nets
        if n.actor_f is None:
            return random_follower_u(hh_obs.shape[0], hh_obs.shape[1], gen)
        u = n.actor_f(n.norm_f(signed_log(hh_obs.float())), u_l.unsqueeze(-2))
        return exploration(u, noise_std, gen, per_household)

    def act(
        self,
        leader_obs: Tensor,
        hh_obs: Tensor,
        noise_std: float,
        gen: torch.Generator,
        leader_noise_std: float | None = None,
        per_household: bool = False,
    ):
        """(u_l [E, 5], u_f [E, H, 2]): actor outputs with exploration noise (the leader's
        ``leader_noise_std``, default ``noise_std``; the households' one draw per economy,
        or per household)."""
        l_std = noise_std if leader_noise_std is None else leader_noise_std
        u_l = self.leader_u(leader_obs, l_std, gen)
        return u_l, self.follower_u(hh_obs, u_l, noise_std, gen, per_household)

    def collect_act(self, obs: Observation, gen: torch.Generator, leader_noise: float):
        """``act`` with the collection's noises (``follower_noise``, per household or not)."""
        noise, per_household = self.cfg.follower_noise, self.cfg.follower_noise_per_household
        return self.act(obs.leader, obs.households, noise, gen, leader_noise, per_household)

    def env_actions(self, u_l: Tensor, u_f: Tensor) -> tuple[Tensor, Tensor]:
        """Actor outputs -> the environment's raw actions (book:model-actions; the module doc
        says what ``paper_quirks`` changes)."""
        a_l = leader_env_action(u_l, self.leader_raw)
        if self.nets.actor_f is None:  # uniform draws, sent as they are
            return a_l, (u_f + 1.0) / 2.0
        if self.cfg.paper_quirks and self.follower_saving_quirk:  # SMFRL's saving in [0.5, 1]
            return a_l, follower_env_action(u_f, paper_quirks=True)
        if self.cfg.paper_quirks:  # the baselines' households sent their raw tanh output
            return a_l, u_f.clamp(0.0, 1.0)
        return a_l, follower_env_action(u_f)

    # replay --------------------------------------------------------------------------------
    def store(
        self, leader_obs, u_l, r_l, leader_next, hh_obs, u_f, r_f, hh_next, terminated
    ) -> None:
        """One step of E economies (raw, finite observations) into the replay; ``terminated``
        [E] cuts the bootstrap (an economy that failed; not the time limit). The leader
        normaliser follows the observations; the follower normaliser those of learned
        followers (a clone and frozen followers keep theirs)."""
        l_obs, h_obs = signed_log(leader_obs.float()), signed_log(hh_obs.float())
        l_next, h_next = signed_log(leader_next.float()), signed_log(hh_next.float())
        self.buf.add(
            l_obs=l_obs,
            l_act=u_l,
            l_rew=r_l,
            l_next=l_next,
            h_obs=h_obs,
            h_act=u_f,
            h_rew=r_f,
            h_next=h_next,
            mf=torch.cat([h_obs.mean(1), u_f.mean(1)], -1),
            mf_next=torch.cat([h_next.mean(1), torch.zeros_like(u_f[:, 0])], -1),
            term=terminated.float(),
        )
        self.nets.norm_l.update(l_obs)
        if self.norm_f_moves:
            self.nets.norm_f.update(h_obs)

    def ending_floor(self, lowest_seen: float) -> float:
        """The per-step leader reward an early ending is charged for each lost year: the
        reward's floor (:func:`smfg.env.reward_floor`), else ``lowest_seen``, the lowest
        reward the environment has paid (before any penalty: penalties never compound)."""
        cfg = self.cfg
        floor = reward_floor(cfg.leader_reward, 1.0, cfg.leader_reward_weights)
        if floor is None:
            floor = lowest_seen if math.isfinite(lowest_seen) else 0.0
        return floor

    # batches: every random draw of an update, observations normalised ----------------------
    def leader_batch(self) -> dict:
        """``batch_size`` steps for the leader (and TD3's target smoothing noise)."""
        cfg, n, D = self.cfg, self.nets, self.buf.data
        idx = self.buf.sample_steps(cfg.batch_size, self.gen)
        b = {
            "s_l": n.norm_l(D["l_obs"][idx]),
            "s_l2": n.norm_l(D["l_next"][idx]),
            "a_l": D["l_act"][idx],
            "r_l": D["l_rew"][idx],
            "term": D["term"][idx],
        }
        if self.twin:
            eps = gaussian_noise((cfg.batch_size, LEADER_ACT), cfg.target_noise, self.gen)
            b["smooth"] = eps.clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
        b.update(self.leader_extra(idx))
        if cfg.leader_trust is not None:
            with torch.no_grad():
                b["anchor"] = self.anchor_l(b["s_l"])
        return b

    def follower_batch(self) -> dict:
        """``batch_size`` (step, household) pairs for the followers."""
        n, D = self.nets, self.buf.data
        j, i = self.sample_pairs()
        b = {
            "s_f": n.norm_f(D["h_obs"][j, i]),
            "s_f2": n.norm_f(D["h_next"][j, i]),
            "a_f": D["h_act"][j, i],
            "r_f": D["h_rew"][j, i],
            "term": D["term"][j],
            "a_l": D["l_act"][j],
            "s_l2": n.norm_l(D["l_next"][j]),
        }
        b.update(self.follower_extra(j, i))
        return b

    def sample_pairs(self) -> tuple[Tensor, Tensor]:
        """(step, household) pairs of a follower batch."""
        return self.buf.sample_pairs(self.cfg.batch_size, self.gen)

    # what the critics see beyond (s, a): the algorithms' difference ------------------------
    def leader_extra(self, idx: Tensor) -> dict:
        """Data of Q_l's extra inputs at the sampled steps ``idx``, added to the batch."""
        return {}

    def leader_x(self, b: dict) -> tuple:
        """Q_l's extra inputs X_l at the sampled steps."""
        return ()

    def leader_x2(self, targets, b: dict, a_l2: Tensor) -> tuple:
        """Q_l's extra inputs X_l' at the next steps (with the target networks)."""
        return ()

    def follower_extra(self, j: Tensor, i: Tensor) -> dict:
        """Data of Q_f's extra inputs at the sampled (step, household) pairs."""
        return {}

    def follower_x(self, b: dict) -> tuple:
        return ()

    def follower_x2(self, targets, b: dict, a_l2: Tensor) -> tuple:
        return ()

    def follower_x_pi(self, nets, b: dict, u: Tensor) -> tuple:
        """Q_f's extra inputs with the household's own action replaced by ``u``."""
        return self.follower_x(b)

    def next_leader_action(self, targets, b: dict) -> Tensor:
        """a_l' of the follower target: the target leader actor's, or the fixed leader's."""
        if self.nets.actor_l is None:
            return free_market_u(b["s_l2"].shape[-2], self.leader_raw).expand_as(b["a_l"])
        return targets.actor_l(b["s_l2"])

    # losses: functions of the networks and the batch ---------------------------------------
    def _q_l(self, critic, *inputs) -> Tensor:
        """[..., n_critics]: the leader critic's values (two for TD3)."""
        q = critic(*inputs)
        return q if self.twin else q.unsqueeze(-1)

    def leader_critic_loss(self, nets, targets, b: dict) -> Tensor:
        gamma = self.cfg.gamma
        with torch.no_grad():
            a_l2 = targets.actor_l(b["s_l2"])
            if "smooth" in b:
                a_l2 = (a_l2 + b["smooth"]).clamp(-1.0, 1.0)
            q2 = self._q_l(targets.critic_l, b["s_l2"], a_l2, *self.leader_x2(targets, b, a_l2))
            y = b["r_l"] + gamma * (1.0 - b["term"]) * q2.min(-1).values
        q = self._q_l(nets.critic_l, b["s_l"], b["a_l"], *self.leader_x(b))
        return (q - y.unsqueeze(-1)).pow(2).mean(-2).sum(-1)

    def leader_actor_loss(self, nets, targets, b: dict) -> Tensor:
        a_l = nets.actor_l(b["s_l"])
        q = self._q_l(nets.critic_l, b["s_l"], a_l, *self.leader_x(b))
        return self.leader_pi_objective(q[..., 0], a_l, b)

    def leader_pi_objective(self, q: Tensor, a_l: Tensor, b: dict) -> Tensor:
        """The leader actor's loss from its critic's values ``q`` [..., B] at its actions
        ``a_l`` [..., B, 5]: -mean Q, or with ``leader_trust`` the trust region's loss."""
        if "anchor" not in b:
            return -q.mean(-1)
        delta = self.cfg.leader_trust
        scale = q.abs().mean(-1, keepdim=True).detach().clamp_min(1e-8)
        dist = (a_l - b["anchor"]).norm(dim=-1)
        return -(q / scale).mean(-1) + (dist - delta).clamp_min(0.0).pow(2).mean(-1) / delta**2

    @torch.no_grad()
    def refresh_anchor(self) -> None:
        """The trust region's anchor: the leader's actor as it is now (``leader_trust``)."""
        if self.cfg.leader_trust is not None and self.nets.actor_l is not None:
            self.anchor_l = copy.deepcopy(self.nets.actor_l).requires_grad_(False)

    def follower_critic_loss(self, nets, targets, b: dict) -> Tensor:
        with torch.no_grad():
            a_l2 = self.next_leader_action(targets, b)
            x2 = self.follower_x2(targets, b, a_l2)
            q2 = targets.critic_f(b["s_f2"], targets.actor_f(b["s_f2"], a_l2), *x2)
            y = b["r_f"] + self.cfg.follower_discount * (1.0 - b["term"]) * q2
        return (nets.critic_f(b["s_f"], b["a_f"], *self.follower_x(b)) - y).pow(2).mean(-1)

    def follower_actor_loss(self, nets, targets, b: dict) -> Tensor:
        u = nets.actor_f(b["s_f"], b["a_l"])
        return -nets.critic_f(b["s_f"], u, *self.follower_x_pi(nets, b, u)).mean(-1)

    # updates -------------------------------------------------------------------------------
    def _step(self, name: str, loss: Tensor) -> float:
        self.opt[name].zero_grad()
        loss.backward()
        if self.cfg.max_grad_norm is not None:
            clip_grad_norm_(getattr(self.nets, name).parameters(), self.cfg.max_grad_norm)
        self.opt[name].step()
        return loss.item()

    def leader_update(self) -> tuple[float, float | None]:
        """One critic step of the leader on a batch of steps, and (every ``policy_delay``-th
        with TD3) one actor step: (critic loss, actor loss or None)."""
        n, b = self.nets, self.leader_batch()
        q = self._step("critic_l", self.leader_critic_loss(n, self.targets, b))
        self.leader_steps += 1
        pi = None
        if not self.twin or self.leader_steps % self.cfg.policy_delay == 0:
            with frozen(n.critic_l, n.actor_f):  # the gradient passes, no parameter takes it
                pi = self._step("actor_l", self.leader_actor_loss(n, self.targets, b))
        return q, pi

    def follower_update(self) -> tuple[float, float | None]:
        """One critic and one actor step of the shared follower on (step, household) pairs
        (the critic's alone before ``follower_actor_start_epoch``: (critic loss, None))."""
        n, b = self.nets, self.follower_batch()
        q = self._step("critic_f", self.follower_critic_loss(n, self.targets, b))
        if self.follower_actor_paused:
            return q, None
        with frozen(n.critic_f, n.actor_l):
            pi = self._step("actor_f", self.follower_actor_loss(n, self.targets, b))
        return q, pi

    def sides(self) -> list[tuple]:
        """(side, number of updates, (actor, critic)) of each side that learns."""
        cfg, out = self.cfg, []
        if self.leader_learns and not self.leader_paused:
            out.append(("leader", cfg.leader_updates, ("actor_l", "critic_l")))
        if self.followers_update:
            out.append(("follower", cfg.follower_updates, ("actor_f", "critic_f")))
        return out

    def update(self) -> dict:
        """The leader's updates, then the followers', each followed by a soft update of the
        targets and a step of the learning-rate schedules of the networks it stepped (a
        delayed TD3 actor and its target move on its own steps only)."""
        cfg, out = self.cfg, {}
        fns = {"leader": self.leader_update, "follower": self.follower_update}
        self.refresh_anchor()
        for side, n_updates, names in self.sides():
            q, pis = 0.0, []
            for _ in range(n_updates):
                dq, dpi = fns[side]()
                q += dq
                stepped = names if dpi is not None else names[1:]  # a delayed actor waits
                if dpi is not None:
                    pis.append(dpi)
                for name in stepped:
                    soft_update(getattr(self.targets, name), getattr(self.nets, name), cfg.tau)
                    self.sched[name].step()
            if n_updates:
                out[f"{side}_q_loss"] = q / n_updates
                out[f"{side}_pi_loss"] = sum(pis) / len(pis) if pis else float("nan")
        self.updates += max(cfg.leader_updates, cfg.follower_updates) if self.sides() else 0
        if self.leader_learns and self.leader_paused:  # the columns of the epochs to come
            out = {"leader_q_loss": math.nan, "leader_pi_loss": math.nan, **out}
        return out

    # state ---------------------------------------------------------------------------------
    def policy_state(self) -> dict:
        n = self.nets
        return module_states(
            {"actor_l": n.actor_l, "actor_f": n.actor_f, "norm_l": n.norm_l, "norm_f": n.norm_f}
        )

    def load_policy_state(self, d: dict) -> None:
        for k in ("actor_l", "actor_f", "norm_l", "norm_f"):
            if k in d:
                getattr(self.nets, k).load_state_dict(d[k])

    def state_dict(self) -> dict:
        """Networks, targets, optimisers, schedules, replay (the generator is the trainer's)."""
        out = {"nets": module_states(self.nets.modules()), "leader_steps": self.leader_steps}
        if self.learns:
            out.update(
                targets=module_states(self.targets.modules()),
                opt={k: o.state_dict() for k, o in self.opt.items()},
                sched={k: s.state_dict() for k, s in self.sched.items()},
                buf=self.buf.state_dict(),
                updates=self.updates,
            )
        return out

    def load_state_dict(self, d: dict) -> None:
        for k, v in d["nets"].items():
            getattr(self.nets, k).load_state_dict(v)
        self.leader_steps = int(d["leader_steps"])
        if self.learns:
            for k, v in d["targets"].items():
                getattr(self.targets, k).load_state_dict(v)
            for k, v in d["opt"].items():
                self.opt[k].load_state_dict(v)
            for k, v in d["sched"].items():
                self.sched[k].load_state_dict(v)
            self.buf.load_state_dict(d["buf"])
            self.updates = int(d["updates"])


# --- the trainer ---------------------------------------------------------------------------


class OffPolicyTrainer(TrainerBase):
    """Collect with exploration into the replay, update, evaluate: SMFRL's epoch."""

    learner_cls: type[Learner] = Learner

    def __init__(self, cfg: OffPolicyConfig):
        super().__init__(cfg)
        self.learner = self.learner_cls(cfg, self.params)
        self.gen = self.learner.gen  # one generator for noise and sampling, as SMFRL

    def collect(self) -> dict:
        """``steps_per_epoch`` steps of the ``n_envs`` economies with exploration into the
        replay (none when nothing learns): finite rewards and observations, the ending
        penalty on failed economies, terminated apart from truncated."""
        cfg, env, L = self.cfg, self.env, self.learner
        if not L.learns:
            return {}
        self.start_collect()
        for _ in range(cfg.steps_per_epoch):
            u_l, u_f = L.collect_act(self.obs, self.gen, self.leader_noise)
            out = env.step(*L.env_actions(u_l, u_f))
            rewards = (out.leader_reward, out.household_reward)
            nxt = self.record(u_l, u_f, *rewards, out.obs, out.terminated, out.done, env.state.t)
            if bool(out.done.any()):
                nxt = self.finite_obs(env.reset(mask=out.done))
            self.obs = nxt
        return self.end_collect()

    def start_collect(self) -> None:
        """Counters of an epoch's collection; the leader's noise of this epoch."""
        self.leader_noise = self.cfg.leader_noise(self.epoch)
        self.ended = self.failed = 0
        self.leader_sum, self.leader_n = torch.zeros(LEADER_ACT, dtype=torch.float64), 0

    def end_collect(self) -> dict:
        """The epoch's counters, and the leader's mean action (E1's five numbers in [0, 1],
        exploration included) over the epoch's steps: ``leader_c0`` .. ``leader_c4``."""
        mean = (self.leader_sum / max(self.leader_n, 1)).tolist()
        return {
            "episodes_ended": self.ended,
            "episodes_failed": self.failed,
            "leader_noise": self.leader_noise,
            **{f"leader_c{k}": v for k, v in enumerate(mean)},
            **self.take_nonfinite(),
        }

    def record(self, u_l, u_f, r_l, r_f, next_obs, terminated, done, t) -> Observation:
        """Store one step taken from ``self.obs`` with actor outputs (u_l, u_f): rewards made
        finite, the ending penalty where an economy failed (``t``: its years after the step),
        the next observation made finite (returned)."""
        cfg, L = self.cfg, self.learner
        r_l, r_f = self.rewards(r_l, r_f)
        nxt = self.finite_obs(next_obs)
        if bool(terminated.any()):
            self.failed += int(terminated.sum())
            if cfg.ending_penalty:
                lost = (self.params.T - t).clamp_min(0).to(r_l.dtype)
                g = cfg.gamma
                years = g * (1.0 - g**lost) / (1.0 - g)
                r_l = torch.where(terminated, r_l + L.ending_floor(self.r_l_seen_min) * years, r_l)
                # households too: a lost year is worth their lowest reward (E25's utility
                # is negative, so without this an ending would be a gain to them)
                gf = cfg.follower_discount
                years_f = gf * (1.0 - gf**lost) / (1.0 - gf)
                lost_f = self.household_floor() * years_f.unsqueeze(-1)
                r_f = torch.where(terminated.unsqueeze(-1), r_f + lost_f, r_f)
        obs = self.obs
        L.store(
            obs.leader, u_l, r_l, nxt.leader, obs.households, u_f, r_f, nxt.households, terminated
        )
        self.ended += int(done.sum())
        if hasattr(self, "leader_sum"):
            self.leader_sum += leader_env_action(u_l, L.leader_raw).double().sum(0)
            self.leader_n += u_l.shape[0]
        return nxt

    def update(self) -> dict:
        self.learner.leader_paused = self.epoch < self.cfg.leader_start_epoch
        self.learner.follower_actor_paused = self.epoch < self.cfg.follower_actor_start_epoch
        return self.learner.update() if self.learner.learns else {}

    def act(self, obs, carry, noise_std, gen):
        u_l, u_f = self.learner.act(obs.leader, obs.households, noise_std, gen)
        return (*self.learner.env_actions(u_l, u_f), carry)

    def _state(self) -> dict:
        return self.learner.state_dict()

    def _load_state(self, d: dict) -> None:
        self.learner.load_state_dict(d)

    def policy_state(self) -> dict:
        return {**self._policy_header(), **self.learner.policy_state()}


# --- policies for evaluation ---------------------------------------------------------------


class OffPolicyPolicy:
    """A trained leader and household policy for :func:`smfg.evaluate.evaluate`.

    ``leader`` and ``followers`` are the government and household policies; followers that
    observe the leader see the leader view's actor output of the same step. Under another
    government policy they see its raw numbers in the actor's output space (a tax schedule,
    which has none, as the free market's numbers).
    """

    learner_cls: type[Learner] = Learner
    config_cls: type[OffPolicyConfig] = OffPolicyConfig

    def __init__(self, policy_state: dict, noise_std: float = 0.0, seed: int = 0):
        from smfg.algos.common import config_from_spec

        cfg = config_from_spec(self.config_cls, policy_state["config"])
        self.learner = self.learner_cls(cfg, train=False)
        self.learner.load_policy_state(policy_state)
        self.noise_std = noise_std
        self.gen = torch.Generator().manual_seed(seed)
        self.u_l: Tensor | None = None
        self.leader = _LeaderView(self, f"{policy_state['algo']}-leader")
        self.followers = _FollowerView(self, f"{policy_state['algo']}-followers")


class _View:
    def __init__(self, owner: OffPolicyPolicy, name: str):
        self.owner, self.name = owner, name

    def reset(self, env) -> None:
        self.dtype = env.dtype


class _LeaderView(_View):
    def __call__(self, obs, income):
        o = self.owner
        o.u_l = o.learner.leader_u(obs.leader, o.noise_std, o.gen)
        return leader_env_action(o.u_l, o.learner.leader_raw).to(self.dtype)


class _FollowerView(_View):
    def __call__(self, obs, gov_raw):
        o, L = self.owner, self.owner.learner
        if o.u_l is not None:  # the leader view acted this step
            u_l, o.u_l = o.u_l, None
        else:  # another government policy: its raw numbers in the actor's output space
            E = obs.leader.shape[0]
            c = gov_raw.float() if gov_raw is not None else torch.full((E, LEADER_ACT), 0.001)
            u_l = c if L.leader_raw else 2.0 * c - 1.0
        u_f = L.follower_u(obs.households, u_l, o.noise_std, o.gen)
        return L.env_actions(u_l, u_f)[1].to(self.dtype)
