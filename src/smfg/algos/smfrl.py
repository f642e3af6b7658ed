"""SMFRL: Stackelberg mean field reinforcement learning (the paper's method, SPEC 9).

A deterministic actor-critic with centralised training and decentralised execution:

| network | input | output |
| --- | --- | --- |
| leader actor pi_l | s_l (6 leader observations) | a_l (5, tanh) |
| leader critic Q_l | s_l, a_l, L_f (mean field: mean s_f, mean a_f) | scalar |
| follower actor pi_f (shared by all households) | s_f (own ability, assets), a_l | a_f (2, tanh) |
| follower critic Q_f | s_f, a_f, a_l, L_f | scalar |

Targets (both times 1 - done): y_l = r_l + gamma Q_l'(s_l', pi_l'(s_l'), L_f') and
y_f = r_f + gamma Q_f'(s_f', pi_f'(s_f', a_l'), a_l', L_f') with a_l' = pi_l'(s_l') and L_f'
the mean over households of the target follower actor's next actions. The leader's policy
gradient flows through its own action only (the followers' reaction in L_f is held fixed);
the follower's through its action and the mean over households of its actions.

Corrections of the original (SPEC 11), all on by default: every critic sees actions in the
actor's output space (the original fitted the follower critic on mapped actions and fed it
raw ones), the mean-state input has its own embedding, target networks are real copies,
the replay buffer wraps around, and the normalisers are saved with the policy and frozen at
evaluation. ``paper_quirks=True`` restores only the action mapping (saving in [0.5, 1] for
the followers, the leader's raw tanh output).

Two choices where the paper's code is too costly: L_f' and the follower actor's mean action
are averaged over ``mf_sample`` households drawn at random from the sampled step (exact for
N <= mf_sample), and the replay buffer holds as many steps as fit in ``replay_memory_gb``
(1e6 joint transitions in the original: 17 GB at N = 1000).

Sections, in the order every algorithm file follows: config, networks, acting, updates,
the trainer (collect, update, evaluate, state), policies for evaluation.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from smfg.algos.core import (
    HH_ACT,
    HH_OBS,
    LEADER_ACT,
    LEADER_OBS,
    Critic,
    DeterministicActor,
    FollowerActor,
    MeanFieldCritic,
    ReplayBuffer,
    follower_env_action,
    gaussian_noise,
    leader_env_action,
    signed_log,
    soft_update,
)
from smfg.config import PROFILES, VARIANTS, check_profile, economy_params
from smfg.economy.state import EconState
from smfg.env import RunningNormalizer, SMFGEnv, check_reward_weights

#: evaluation shocks come from a generator seeded with the run's seed plus this
EVAL_SEED_OFFSET = 7919

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SMFRLConfig:
    """SMFRL's settings; defaults are the original runs' (SPEC 9)."""

    variant: str = "taxai"
    """Economy: 'taxai' (the paper's experiments) or 'clearing'."""
    n_households: int = 100
    """N, the number of households."""
    seed: int = 0
    """Seed of households, shocks, network initialisation, noise and sampling."""
    epochs: int = 1000
    """Training epochs (the paper: 1,000)."""
    steps_per_epoch: int = 300
    """Environment steps per epoch (episodes run across epoch ends)."""
    leader_updates: int = 100
    """Leader updates per epoch, each on its own batch."""
    follower_updates: int = 100
    """Follower updates per epoch, each on its own batch."""
    batch_size: int = 128
    """Transitions per update (steps for the leader, (step, household) pairs for followers)."""
    gamma: float = 0.975
    """Discount factor of both critics."""
    lr: float | None = None
    """Learning rate of all four networks; None: 5e-4 at N <= 100, else 3e-4."""
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
    """Households per sampled step used to average the mean action in targets and losses."""
    pair_steps: int = 32
    """Distinct steps in a follower batch: its ``batch_size`` (step, household) pairs are
    ``pair_steps`` uniform steps times ``batch_size / pair_steps`` uniform households each, so
    the population's mean action is computed once per step (``pair_steps x mf_sample`` actor
    rows, not ``batch_size x mf_sample``). At least ``batch_size``: independent pairs."""
    bc: bool = False
    """Start the follower actor (and its normaliser) from behaviour cloning on survey data."""
    bc_epochs: int = 30
    """Epochs of behaviour cloning for the follower actor."""
    bc_follower_lr: float | None = None
    """Follower actor learning rate with BC (None: ``lr``; the paper used 1e-6)."""
    eval_episodes: int = 10
    """Evaluation episodes after each epoch (one batch)."""
    eval_steps: int | None = None
    """Evaluation episode cap (None: T)."""
    eval_noise_std: float = 0.01
    """Exploration noise during evaluation (the paper evaluated with noise)."""
    leader_reward: str = "gdp"
    """Leader reward (SPEC 5)."""
    leader_reward_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """(a1, a2, a3) of the ``weighted`` leader reward, a1 Y/Y_prev + a2 (1 - wealth Gini) +
    a3 sum u (SPEC 5); ignored by the other rewards."""
    reward_clip: float | None = 10.0
    """The follower critic sees household rewards clipped to [-clip, clip] (None: unclipped).
    E25's utility is unbounded below (-1/c), and a few households with almost no consumption
    otherwise make the critic's targets explode; E12 (taxai) lies in (0, 1), unaffected."""
    leader_reward_clip: float | None = None
    """The same for the leader's reward (None: unclipped, the default)."""
    paper_quirks: bool = False
    """Restore the original's action mapping (SPEC 11)."""
    dtype: str = "float32"
    """Environment precision."""
    economy: dict = field(default_factory=dict)
    """Overrides of EconomyParams fields."""

    def __post_init__(self) -> None:
        def bad(name, allowed):
            raise ValueError(
                f"SMFRLConfig.{name} = {getattr(self, name)!r} is out of range: allowed {allowed}"
            )

        if self.variant not in VARIANTS:
            bad("variant", VARIANTS)
        for name in ("n_households", "epochs", "steps_per_epoch", "batch_size", "eval_episodes",
                     "mf_sample", "pair_steps", "lr_decay_every", "replay_steps"):  # fmt: skip
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                bad(name, "an integer >= 1")
        if self.batch_size % self.batch_steps:
            bad("pair_steps", f"a divisor of batch_size = {self.batch_size} (or >= it)")
        if self.n_households < 10:
            bad("n_households", "an integer >= 10")
        for name in ("leader_updates", "follower_updates", "bc_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                bad(name, "an integer >= 0")
        if not 0.0 <= self.gamma < 1.0:
            bad("gamma", "[0, 1)")
        if not 0.0 < self.tau <= 1.0:
            bad("tau", "(0, 1]")
        for name in ("noise_std", "eval_noise_std"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(name, "[0, 1]")
        if self.lr is not None and not 0.0 < self.lr < 1.0:
            bad("lr", "(0, 1) or None")
        if self.replay_memory_gb <= 0:
            bad("replay_memory_gb", "> 0")
        for name in ("reward_clip", "leader_reward_clip"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                bad(name, "> 0 or None")
        # a JSON spec stores the weights as a list: the config holds a tuple
        object.__setattr__(self, "leader_reward_weights",
                           check_reward_weights(self.leader_reward_weights))  # fmt: skip
        economy_params(self.variant, **self.economy)  # validates the overrides

    @property
    def batch_steps(self) -> int:
        """Distinct steps in a follower batch: ``pair_steps``, at most ``batch_size``."""
        return min(self.pair_steps, self.batch_size)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-4 if self.n_households <= 100 else 3e-4)


_PROFILE_SETTINGS = {
    "smoke": dict(epochs=2, steps_per_epoch=40, leader_updates=10, follower_updates=10,
                  eval_episodes=2, eval_steps=40, bc_epochs=3),
    "quick": dict(epochs=20, steps_per_epoch=300, leader_updates=100, follower_updates=100,
                  eval_episodes=5, eval_steps=300, bc_epochs=20),
    "paper": dict(epochs=1000, steps_per_epoch=300, leader_updates=100, follower_updates=100,
                  eval_episodes=10, eval_steps=None, bc_epochs=30),
}  # fmt: skip


def smfrl_config(profile: str = "quick", **overrides) -> SMFRLConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    settings = dict(_PROFILE_SETTINGS[check_profile(profile)])
    names = {f.name for f in fields(SMFRLConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"SMFRLConfig has no field(s) {sorted(unknown)}: allowed {sorted(names)}")
    settings.update(overrides)
    return SMFRLConfig(**settings)


assert set(_PROFILE_SETTINGS) == set(PROFILES)

# --- networks ------------------------------------------------------------------------------


@dataclass
class Networks:
    """The four networks of SMFRL, their targets and the observation normalisers."""

    actor_l: nn.Module
    critic_l: nn.Module
    actor_f: nn.Module
    critic_f: nn.Module
    norm_l: RunningNormalizer
    norm_f: RunningNormalizer

    @classmethod
    def build(cls, seed: int) -> Networks:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(
                actor_l=DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
                critic_l=Critic(LEADER_OBS + LEADER_ACT + 2 * HH_OBS),
                actor_f=FollowerActor(),
                critic_f=MeanFieldCritic(with_leader=True),
                norm_l=RunningNormalizer(LEADER_OBS),
                norm_f=RunningNormalizer(HH_OBS),
            )


# --- acting --------------------------------------------------------------------------------


@torch.no_grad()
def act(nets: Networks, leader_obs: Tensor, hh_obs: Tensor, noise_l=None, noise_f=None):
    """Actor outputs for E economies: leader u_l [E, 5], followers u_f [E, H, 2] (in (-1, 1),
    noise added then clipped). Observations are raw; they pass signed_log and the normalisers.
    """
    s_l = nets.norm_l(signed_log(leader_obs.float()))
    s_f = nets.norm_f(signed_log(hh_obs.float()))
    u_l = nets.actor_l(s_l)
    if noise_l is not None:
        u_l = (u_l + noise_l).clamp(-1.0, 1.0)
    u_f = nets.actor_f(s_f, u_l.unsqueeze(-2))
    if noise_f is not None:
        u_f = (u_f + noise_f).clamp(-1.0, 1.0)
    return u_l, u_f


# --- updates -------------------------------------------------------------------------------


def _mean_field(nets: Networks, mean_obs_raw: Tensor, mean_act: Tensor) -> Tensor:
    """L_f from the stored raw mean observation (normalising is affine) and the mean action."""
    return torch.cat([nets.norm_f(mean_obs_raw), mean_act], -1)


def _subsample(buf: ReplayBuffer, key: str, steps: Tensor, m: int, gen: torch.Generator):
    """[B, m, 2] observations of m random households of each sampled step (all when H <= m)."""
    H = buf.H
    if H <= m:
        return buf.data[key][steps]
    hh = torch.randint(H, (steps.shape[0], m), generator=gen)
    return buf.data[key][steps.unsqueeze(-1), hh]


# Each update is a batch drawn from the replay buffer (all randomness, observations already
# normalised), a critic loss and an actor loss. The losses are functions of the networks and
# the batch only, so K seeds run them as one batched model (smfg.algos.seeds).


def leader_batch(nets: Networks, buf: ReplayBuffer, cfg: SMFRLConfig, gen) -> dict:
    """``batch_size`` steps for the leader, and ``mf_sample`` households of each step."""
    idx = buf.sample_steps(cfg.batch_size, gen)
    d = {k: v[idx] for k, v in buf.data.items() if not k.startswith("h_")}
    return {
        "s_l": nets.norm_l(d["l_obs"]), "s_l2": nets.norm_l(d["l_next"]), "a_l": d["l_act"],
        "r_l": d["l_rew"], "done": d["done"],
        "mf": _mean_field(nets, d["mf"][:, :HH_OBS], d["mf"][:, HH_OBS:]),
        "mf_obs2": nets.norm_f(d["mf_next"][:, :HH_OBS]),
        "nxt": nets.norm_f(_subsample(buf, "h_next", idx, cfg.mf_sample, gen)),
    }  # fmt: skip


def leader_critic_loss(nets, targets, b: dict, gamma: float) -> Tensor:
    """TD error of Q_l against y_l = r_l + gamma Q_l'(s_l', pi_l'(s_l'), L_f') (1 - done).

    The losses are written for any leading dimensions (a seed dimension in
    smfg.algos.seeds): the batch is the second-to-last dimension of every per-row tensor.
    """
    with torch.no_grad():
        a_l2 = targets.actor_l(b["s_l2"])
        mean2 = targets.actor_f(b["nxt"], a_l2.unsqueeze(-2)).mean(-2)
        mf2 = torch.cat([b["mf_obs2"], mean2], -1)
        y = b["r_l"] + gamma * (1.0 - b["done"]) * targets.critic_l(b["s_l2"], a_l2, mf2)
    return (nets.critic_l(b["s_l"], b["a_l"], b["mf"]) - y).pow(2).mean(-1)


def leader_actor_loss(nets, b: dict) -> Tensor:
    """-Q_l(s_l, pi_l(s_l), L_f): the followers' mean field is held fixed."""
    return -nets.critic_l(b["s_l"], nets.actor_l(b["s_l"]), b["mf"]).mean(-1)


def follower_batch(nets: Networks, buf: ReplayBuffer, cfg: SMFRLConfig, gen) -> dict:
    """``batch_size`` (step, household) pairs: ``batch_steps`` steps x k households, and
    ``mf_sample`` households of each step for the mean action (next and current)."""
    S = cfg.batch_steps
    k = cfg.batch_size // S
    js = buf.sample_steps(S, gen)
    hh = torch.randint(buf.H, (S, k), generator=gen)
    D = buf.data
    j, i = js.repeat_interleave(k), hh.reshape(-1)
    return {
        "s_f": nets.norm_f(D["h_obs"][j, i]), "s_f2": nets.norm_f(D["h_next"][j, i]),
        "a_f": D["h_act"][j, i], "r_f": D["h_rew"][j, i], "done": D["done"][j],
        "a_l": D["l_act"][j], "a_ls": D["l_act"][js],
        "mf": _mean_field(nets, D["mf"][j, :HH_OBS], D["mf"][j, HH_OBS:]),
        "mf_obs2": nets.norm_f(D["mf_next"][j, :HH_OBS]),
        "s_l2s": nets.norm_l(D["l_next"][js]),
        "nxt": nets.norm_f(_subsample(buf, "h_next", js, cfg.mf_sample, gen)),
        "cur": nets.norm_f(_subsample(buf, "h_obs", js, cfg.mf_sample, gen)),
    }  # fmt: skip


def _own_and_mean(actor, own: Tensor, pop: Tensor, leader: Tensor) -> tuple[Tensor, Tensor]:
    """Actions of each step's own households [..., S, k, 2] and its population sample
    [..., S, m, 2] under that step's leader action [..., S, 5], in one pass: the own actions
    [..., S k, 2] and each step's mean population action repeated for its k rows."""
    k = own.shape[-2]
    acts = actor(torch.cat([own, pop], -2), leader.unsqueeze(-2))
    mean = acts[..., k:, :].mean(-2).repeat_interleave(k, -2)
    return acts[..., :k, :].flatten(-3, -2), mean


def follower_critic_loss(nets, targets, b: dict, gamma: float) -> Tensor:
    """TD error of Q_f against y_f = r_f + gamma Q_f'(s_f', pi_f'(s_f', a_l'), a_l', L_f')."""
    S = b["a_ls"].shape[-2]
    with torch.no_grad():
        a_l2s = targets.actor_l(b["s_l2s"])
        own2 = b["s_f2"].unflatten(-2, (S, -1))
        a_f2, mean2 = _own_and_mean(targets.actor_f, own2, b["nxt"], a_l2s)
        a_l2 = a_l2s.repeat_interleave(own2.shape[-2], -2)
        mf2 = torch.cat([b["mf_obs2"], mean2], -1)
        y = b["r_f"] + gamma * (1.0 - b["done"]) * targets.critic_f(b["s_f2"], a_f2, a_l2, mf2)
    return (nets.critic_f(b["s_f"], b["a_f"], b["a_l"], b["mf"]) - y).pow(2).mean(-1)


def follower_actor_loss(nets, b: dict) -> Tensor:
    """-Q_f(s_f, pi_f(s_f, a_l), a_l, L_f): the gradient flows through the household's own
    action and the population's mean action."""
    S = b["a_ls"].shape[-2]
    own = b["s_f"].unflatten(-2, (S, -1))
    a_pi, mean_pi = _own_and_mean(nets.actor_f, own, b["cur"], b["a_ls"])
    mf_pi = torch.cat([b["mf"][..., :HH_OBS], mean_pi], -1)
    return -nets.critic_f(b["s_f"], a_pi, b["a_l"], mf_pi).mean(-1)


def _descend(opt: torch.optim.Optimizer, loss: Tensor) -> Tensor:
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def leader_update(nets, targets, opt, buf, cfg, gen) -> tuple[float, float]:
    """One critic and one actor step of the leader on a batch of steps."""
    b = leader_batch(nets, buf, cfg, gen)
    q = _descend(opt["critic_l"], leader_critic_loss(nets, targets, b, cfg.gamma))
    pi = _descend(opt["actor_l"], leader_actor_loss(nets, b))
    return q.item(), pi.item()


def follower_update(nets, targets, opt, buf, cfg, gen) -> tuple[float, float]:
    """One critic and one actor step of the shared follower on (step, household) pairs."""
    b = follower_batch(nets, buf, cfg, gen)
    q = _descend(opt["critic_f"], follower_critic_loss(nets, targets, b, cfg.gamma))
    pi = _descend(opt["actor_f"], follower_actor_loss(nets, b))
    return q.item(), pi.item()


# --- the trainer ---------------------------------------------------------------------------


class SMFRLTrainer:
    """Trains SMFRL epoch by epoch; implements the run store's Trainer protocol."""

    algo = "smfrl"

    def __init__(self, cfg: SMFRLConfig):
        self.cfg = cfg
        self.params = economy_params(cfg.variant, **cfg.economy)
        N = cfg.n_households
        self.env = SMFGEnv(self.params, N, seed=cfg.seed, dtype=cfg.dtype,
                           leader_reward=cfg.leader_reward,
                           reward_weights=cfg.leader_reward_weights)  # fmt: skip
        self.eval_env = SMFGEnv(self.params, N, n_envs=cfg.eval_episodes, seed=cfg.seed,
                                dtype=cfg.dtype, leader_reward=cfg.leader_reward,
                           reward_weights=cfg.leader_reward_weights)  # fmt: skip
        self.gen = torch.Generator().manual_seed(cfg.seed + 104729)
        self.nets = Networks.build(cfg.seed)
        lr = cfg.learning_rate
        lr_f = lr
        if cfg.bc:
            from smfg.algos.bc import pretrained_follower  # the BC weights of SPEC 8

            actor, norm = pretrained_follower(
                cfg.variant, self.params, epochs=cfg.bc_epochs, seed=cfg.seed,
                paper_quirks=cfg.paper_quirks,
            )  # fmt: skip
            self.nets.actor_f.load_state_dict(actor.state_dict())
            self.nets.norm_f.load_state_dict(norm.state_dict())
            lr_f = cfg.bc_follower_lr if cfg.bc_follower_lr is not None else lr
        self.targets = copy.deepcopy(self.nets)
        n = self.nets
        adam = dict(fused=True)  # one fused kernel per step (3x faster than foreach on a CPU)
        self.opt = {
            "actor_l": torch.optim.Adam(n.actor_l.parameters(), lr=lr, **adam),
            "critic_l": torch.optim.Adam(n.critic_l.parameters(), lr=lr, **adam),
            "actor_f": torch.optim.Adam(n.actor_f.parameters(), lr=lr_f, eps=1e-5, **adam),
            "critic_f": torch.optim.Adam(n.critic_f.parameters(), lr=lr, eps=1e-5, **adam),
        }
        self.sched = {
            k: torch.optim.lr_scheduler.StepLR(o, cfg.lr_decay_every, cfg.lr_decay)
            for k, o in self.opt.items()
        }
        # never more slots than the run can fill, nor than fit in the memory cap
        cap = min(cfg.replay_steps, cfg.epochs * cfg.steps_per_epoch,
                  ReplayBuffer.capacity_for(cfg.replay_memory_gb * 1e9, N))  # fmt: skip
        self.buf = ReplayBuffer(cap, N)
        self.obs = self.env.reset()
        self.epoch = 0
        self.n_epochs = cfg.epochs
        self.updates = 0

    # collect ------------------------------------------------------------------------------
    def _noise(self, E: int, std: float, gen: torch.Generator):
        return (gaussian_noise((E, LEADER_ACT), std, gen),
                gaussian_noise((E, 1, HH_ACT), std, gen))  # fmt: skip

    def collect(self) -> dict:
        """``steps_per_epoch`` environment steps with exploration, into the replay buffer."""
        cfg, env = self.cfg, self.env
        done_count = 0
        for _ in range(cfg.steps_per_epoch):
            lo, ho = self.obs.leader, self.obs.households
            u_l, u_f = act(self.nets, lo, ho, *self._noise(1, cfg.noise_std, self.gen))
            out = env.step(leader_env_action(u_l, cfg.paper_quirks),
                           follower_env_action(u_f, cfg.paper_quirks))  # fmt: skip
            l_obs, h_obs = signed_log(lo.float()), signed_log(ho.float())
            l_next, h_next = (
                signed_log(out.obs.leader.float()),
                signed_log(out.obs.households.float()),
            )
            r_l, r_f = out.leader_reward.float(), out.household_reward.float()
            if cfg.reward_clip is not None:
                r_f = r_f.clamp(-cfg.reward_clip, cfg.reward_clip)
            if cfg.leader_reward_clip is not None:
                r_l = r_l.clamp(-cfg.leader_reward_clip, cfg.leader_reward_clip)
            self.buf.add(
                l_obs=l_obs, l_act=u_l, l_rew=r_l, l_next=l_next,
                h_obs=h_obs, h_act=u_f, h_rew=r_f, h_next=h_next,
                mf=torch.cat([h_obs.mean(1), u_f.mean(1)], -1),
                mf_next=torch.cat([h_next.mean(1), torch.zeros_like(u_f[:, 0])], -1),
                done=out.done.float(),
            )  # fmt: skip
            self.nets.norm_l.update(l_obs)
            self.nets.norm_f.update(h_obs)
            self.obs = out.obs
            if bool(out.done.any()):
                done_count += int(out.done.sum())
                self.obs = env.reset(mask=out.done)
        return {"episodes_ended": done_count}

    # update -------------------------------------------------------------------------------
    def update(self) -> dict:
        """The leader's updates, then the followers' (SPEC 9), each followed by a soft update
        of that side's targets and a step of its learning-rate schedules."""
        cfg, out = self.cfg, {}
        sides = (
            ("leader", leader_update, cfg.leader_updates, ("actor_l", "critic_l")),
            ("follower", follower_update, cfg.follower_updates, ("actor_f", "critic_f")),
        )
        for side, fn, n, names in sides:
            q = pi = 0.0
            for _ in range(n):
                dq, dpi = fn(self.nets, self.targets, self.opt, self.buf, cfg, self.gen)
                q, pi = q + dq, pi + dpi
                for name in names:
                    soft_update(getattr(self.targets, name), getattr(self.nets, name), cfg.tau)
                    self.sched[name].step()
            if n:
                out[f"{side}_q_loss"], out[f"{side}_pi_loss"] = q / n, pi / n
        self.updates += max(cfg.leader_updates, cfg.follower_updates)
        return out

    # evaluate -----------------------------------------------------------------------------
    def evaluate(self) -> dict:
        """Batched evaluation episodes with the current actors (normalisers frozen).

        Every evaluation runs on the same shocks (the run's households, shocks seeded by
        ``seed + 7919``): epochs are compared on common random numbers.
        """
        cfg, env = self.cfg, self.eval_env
        env.gens[0].manual_seed(cfg.seed + EVAL_SEED_OFFSET)
        obs = env.reset()
        T = self.params.T if cfg.eval_steps is None else cfg.eval_steps
        ret_l = torch.zeros(env.n_envs)
        for _ in range(T):
            u_l, u_f = act(self.nets, obs.leader, obs.households,
                           *self._noise(env.n_envs, cfg.eval_noise_std, env.gens[0]))  # fmt: skip
            out = env.step(leader_env_action(u_l, cfg.paper_quirks),
                           follower_env_action(u_f, cfg.paper_quirks))  # fmt: skip
            ret_l += torch.where(out.flows.active, out.leader_reward.float(), 0.0)
            obs = out.obs
            if bool(env.state.done.all()):
                break
        m = env.episode_metrics()
        res = {k: float(v.double().mean()) for k, v in m.items()}
        res["leader_return"] = float(ret_l.mean())
        return res

    # the Trainer protocol ----------------------------------------------------------------
    def train_epoch(self) -> dict:
        t0 = time.perf_counter()
        info = self.collect()
        info.update(self.update())
        t1 = time.perf_counter()
        info.update(self.evaluate())
        info["train_s"] = t1 - t0
        info["eval_s"] = time.perf_counter() - t1
        self.epoch += 1
        return info

    def policy_state(self) -> dict:
        n = self.nets
        return {
            "algo": self.algo,
            "config": asdict(self.cfg),
            "actor_l": n.actor_l.state_dict(),
            "actor_f": n.actor_f.state_dict(),
            "norm_l": n.norm_l.state_dict(),
            "norm_f": n.norm_f.state_dict(),
        }

    def state_dict(self) -> dict:
        """Everything a resume needs, as copies (training on does not change it)."""
        mods = ("actor_l", "critic_l", "actor_f", "critic_f", "norm_l", "norm_f")
        return copy.deepcopy(
            {
                "epoch": self.epoch,
                "updates": self.updates,
                "nets": {k: getattr(self.nets, k).state_dict() for k in mods},
                "targets": {k: getattr(self.targets, k).state_dict() for k in mods},
                "opt": {k: o.state_dict() for k, o in self.opt.items()},
                "sched": {k: s.state_dict() for k, s in self.sched.items()},
                "buf": self.buf.state_dict(),
                "gen": self.gen.get_state(),
                "env": _env_state(self.env),
                "obs": (self.obs.leader, self.obs.households),
            }
        )

    def load_state_dict(self, d: dict) -> None:
        self.epoch, self.updates = int(d["epoch"]), int(d["updates"])
        for k, v in d["nets"].items():
            getattr(self.nets, k).load_state_dict(v)
        for k, v in d["targets"].items():
            getattr(self.targets, k).load_state_dict(v)
        for k, v in d["opt"].items():
            self.opt[k].load_state_dict(v)
        for k, v in d["sched"].items():
            self.sched[k].load_state_dict(v)
        self.buf.load_state_dict(d["buf"])
        self.gen.set_state(d["gen"])
        _load_env_state(self.env, d["env"])
        self.obs = type(self.obs)(*d["obs"])


def _env_state(env: SMFGEnv) -> dict:
    return {
        "state": {f.name: getattr(env.state, f.name) for f in fields(env.state)},
        "gens": [g.get_state() for g in env.gens],
        "metrics": {"sums": dict(env.metrics.sums), "years": env.metrics.years},
    }


def _load_env_state(env: SMFGEnv, d: dict) -> None:
    env.state = EconState(**d["state"])
    for g, s in zip(env.gens, d["gens"], strict=True):
        g.set_state(s)
    env.metrics.sums = {k: v.clone() for k, v in d["metrics"]["sums"].items()}
    env.metrics.years = d["metrics"]["years"].clone()


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy:
    """A trained SMFRL leader and follower actor, for :func:`smfg.evaluate.evaluate`.

    ``leader`` and ``followers`` are the government and household policies; the followers
    see the leader's actor output of the same step (kept by the leader view). With another
    government policy, the followers see its raw numbers mapped into the actor's output
    space (a tax schedule, which has none, is seen as the free market's numbers).
    """

    def __init__(self, policy_state: dict, noise_std: float = 0.0, seed: int = 0):
        cfg = policy_state["config"]
        self.paper_quirks = bool(cfg.get("paper_quirks", False))
        self.nets = Networks.build(0)
        for k in ("actor_l", "actor_f", "norm_l", "norm_f"):
            getattr(self.nets, k).load_state_dict(policy_state[k])
        self.noise_std = noise_std
        self.gen = torch.Generator().manual_seed(seed)
        self.u_l: Tensor | None = None
        self.leader = _LeaderView(self)
        self.followers = _FollowerView(self)


class _LeaderView:
    name = "smfrl-leader"

    def __init__(self, owner: LearnedPolicy):
        self.owner = owner

    def reset(self, env: SMFGEnv) -> None:
        self.dtype = env.dtype

    def __call__(self, obs, income):
        o = self.owner
        noise = gaussian_noise((obs.leader.shape[0], LEADER_ACT), o.noise_std, o.gen)
        with torch.no_grad():
            u = o.nets.actor_l(o.nets.norm_l(signed_log(obs.leader.float())))
            o.u_l = (u + noise).clamp(-1.0, 1.0) if o.noise_std > 0 else u
        return leader_env_action(o.u_l, o.paper_quirks).to(self.dtype)


class _FollowerView:
    name = "smfrl-followers"

    def __init__(self, owner: LearnedPolicy):
        self.owner = owner

    def reset(self, env: SMFGEnv) -> None:
        self.dtype = env.dtype

    def __call__(self, obs, gov_raw):
        o = self.owner
        s_f = o.nets.norm_f(signed_log(obs.households.float()))
        if o.u_l is not None:  # the leader view acted this step
            u_l, o.u_l = o.u_l, None
        else:  # another government policy: its raw numbers in the actor's output space
            c = (
                gov_raw.float()
                if gov_raw is not None
                else torch.full((obs.leader.shape[0], LEADER_ACT), 0.001)
            )
            u_l = c if o.paper_quirks else 2.0 * c - 1.0
        with torch.no_grad():
            u = o.nets.actor_f(s_f, u_l.unsqueeze(-2))
        if o.noise_std > 0:
            u = (u + gaussian_noise((u.shape[0], 1, HH_ACT), o.noise_std, o.gen)).clamp(-1, 1)
        return follower_env_action(u, o.paper_quirks).to(self.dtype)


def config_from_spec(spec: dict) -> SMFRLConfig:
    """Rebuild the config of a stored run spec (the run store keeps ``asdict(config)``)."""
    names = {f.name for f in fields(SMFRLConfig)}
    return SMFRLConfig(**{k: v for k, v in spec.items() if k in names})


__all__ = ["SMFRLConfig", "SMFRLTrainer", "LearnedPolicy", "smfrl_config", "config_from_spec"]
