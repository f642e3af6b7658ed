"""AI-Economist (the paper's Table 2, book:learning-baselines): PPO households with an MLP-LSTM-MLP
policy, first trained without tax (the free market), then jointly with a PPO planner that is frozen
for its first ``planner_freeze_epochs`` epochs of the joint phase.

| network | input | output |
| --- | --- | --- |
| planner policy pi_l | s_l | Gaussian on u_l (5); the environment gets (u_l + 1)/2 |
| planner value V_l | s_l | scalar |
| household policy pi_f (shared by all households) | s_f, and its LSTM state | Gaussian on u_f (2) |
| household value V_f (shared) | s_f, u_l | scalar |

The household policy is ``GaussianActor(2, 2, lstm=True)`` (the MLP-LSTM-MLP of
book:learning-bc, cloned by BC as ``lstm_gaussian``); its hidden state is carried from step to
step, zeroed when a new episode begins, and kept across epoch ends as the episodes are. Both
sides learn by PPO on the epoch's rollout: advantages by GAE(gamma, lambda) (:func:`gae`), the
clipped surrogate (:func:`clipped_surrogate`), a squared-error value loss, an entropy bonus,
gradient-norm clipping. The LSTM is trained by truncated backpropagation through ``seq_len``
steps: the rollout is cut into chunks, each replayed from the hidden state the rollout had at
its start (:func:`lstm_unroll`). At N > ``update_households`` each update uses a random subset
of that many households' sequences.

Phases: for ``household_epochs`` epochs the leader plays the free market (the planner does
not act); then the planner acts, and learns from epoch ``household_epochs +
planner_freeze_epochs`` on. (The original had no household-only phase: its planner's
learning rate was 0 for 10 epochs and its households' 1e-6 throughout.)
Evaluation, here and in :class:`LearnedPolicy`, acts by the policies' means plus
``eval_noise_std`` exploration noise, as the DDPG family does. ``paper_quirks`` restores the
original's continuation mask ``done - 1`` in the advantages (book:learning-corrections); both
sides send (u + 1)/2 either way (book:model-actions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from smfg.algos import common
from smfg.algos.common import BaseConfig, TrainerBase, exploration, free_market_u, module_states
from smfg.algos.core import (
    HH_ACT,
    HH_OBS,
    LEADER_ACT,
    LEADER_OBS,
    Critic,
    GaussianActor,
    follower_env_action,
    leader_env_action,
    signed_log,
)
from smfg.algos.onpolicy import (
    Rollout,
    _entropy,
    _log_prob,
    clipped_surrogate,
    gae,
    lstm_unroll,
    zero_state,
)
from smfg.env import RunningNormalizer
from smfg.profiles import ALL_PROFILES

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PPOConfig(BaseConfig):
    """The AI-Economist baseline's settings."""

    household_epochs: int = 100
    """Epochs of the first phase: households learn under the free market, no planner."""
    planner_freeze_epochs: int = 10
    """Epochs of the joint phase in which the planner acts but does not learn."""
    gamma: float = 0.975
    """Discount factor of both sides (SMFRL's)."""
    gae_lambda: float = 0.95
    """GAE's lambda."""
    clip: float = 0.2
    """PPO's clipping of the probability ratio."""
    lr: float = 3e-4
    """Adam's learning rate, both sides."""
    update_epochs: int = 4
    """Passes over the rollout per update."""
    minibatches: int = 4
    """Minibatches per pass."""
    seq_len: int = 30
    """Truncated backpropagation: LSTM sequences of this many steps (divides the rollout)."""
    update_households: int = 100
    """Households whose sequences enter an update (a random subset when N is larger)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip of each side's update."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ints(("update_epochs", "minibatches", "seq_len", "update_households"), 1)
        self._ints(("household_epochs", "planner_freeze_epochs"), 0)
        for name, lo, hi in (("gamma", 0.0, 1.0), ("gae_lambda", 0.0, 1.0), ("lr", 0.0, 1.0)):
            if not lo <= getattr(self, name) <= hi:
                self._bad(name, f"[{lo}, {hi}]")
        for name in ("clip", "max_grad_norm"):
            if not getattr(self, name) > 0:
                self._bad(name, "> 0")
        for name in ("vf_coef", "ent_coef"):
            if not getattr(self, name) >= 0:
                self._bad(name, ">= 0")
        if self.steps_per_epoch % self.seq_len:
            self._bad("seq_len", f"a divisor of steps_per_epoch = {self.steps_per_epoch}")


#: PPO's profiles: a view of :class:`smfg.profiles.Profile`.
PROFILES = {p.name: p.ppo_settings() for p in ALL_PROFILES}


def ppo_config(profile: str = "quick", **overrides) -> PPOConfig:
    """The config of a profile (``smoke``, ``quick``, ``paper``) with overrides by field name."""
    return common.build_config(PPOConfig, PROFILES, profile, **overrides)


# --- networks ------------------------------------------------------------------------------


@dataclass
class Networks:
    """The planner's and the households' policies and values, and the normalisers."""

    actor_l: GaussianActor
    critic_l: nn.Module
    actor_f: GaussianActor
    critic_f: nn.Module
    norm_l: RunningNormalizer
    norm_f: RunningNormalizer

    NAMES = ("actor_l", "critic_l", "actor_f", "critic_f", "norm_l", "norm_f")

    @classmethod
    def build(cls, seed: int) -> Networks:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(
                actor_l=GaussianActor(LEADER_OBS, LEADER_ACT),
                critic_l=Critic(LEADER_OBS),  # V_l(s_l)
                actor_f=GaussianActor(HH_OBS, HH_ACT, lstm=True),
                critic_f=Critic(HH_OBS + LEADER_ACT),  # V_f(s_f, u_l)
                norm_l=RunningNormalizer(LEADER_OBS),
                norm_f=RunningNormalizer(HH_OBS),
            )

    def modules(self) -> dict[str, nn.Module]:
        return {k: getattr(self, k) for k in self.NAMES}


# --- acting --------------------------------------------------------------------------------


class PPOLearner:
    """The AI-Economist's networks, acting and PPO updates, without an environment (a test
    drives it on a toy game): ``policy`` step by step into a :class:`Rollout`, then
    ``update``."""

    def __init__(self, cfg: PPOConfig, params=None, train: bool = True):
        self.cfg = cfg
        self.params = params or cfg.params
        self.nets = Networks.build(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed + 104729)
        if cfg.bc and train:
            actor, norm = common.bc_network(
                "lstm_gaussian", cfg.variant, self.params, cfg.bc_epochs, cfg.seed
            )
            self.nets.actor_f.load_state_dict(actor.state_dict())
            self.nets.norm_f.load_state_dict(norm.state_dict())
        n = self.nets
        params_l = [*n.actor_l.parameters(), *n.critic_l.parameters()]
        params_f = [*n.actor_f.parameters(), *n.critic_f.parameters()]
        self.opt = {
            "leader": torch.optim.Adam(params_l, lr=cfg.lr, eps=1e-5, foreach=True),
            "follower": torch.optim.Adam(params_f, lr=cfg.lr, eps=1e-5, foreach=True),
        }

    def normalise(self, leader_obs: Tensor, hh_obs: Tensor, update: bool):
        """Raw observations -> network inputs (s_l [E, 6], s_f [E, H, 2]); ``update`` folds
        them into the normalisers first (training)."""
        l, h = signed_log(leader_obs.float()), signed_log(hh_obs.float())
        if update:
            self.nets.norm_l.update(l)
            self.nets.norm_f.update(h)
        return self.nets.norm_l(l), self.nets.norm_f(h)

    @torch.no_grad()
    def policy(
        self,
        s_l,
        s_f,
        hc,
        first,
        gen,
        planner_acts: bool,
        sample: bool = True,
        noise_std: float = 0.0,
    ) -> dict:
        """One step for E economies: the planner (or the free market) then the households.

        ``first`` [E]: 1 where an episode begins (the LSTM state is zeroed); ``sample``: draw
        from the Gaussians (training), else the means plus ``noise_std`` noise.
        """
        n = self.nets
        E, H = s_f.shape[:2]
        if planner_acts:
            mean, std, _ = n.actor_l(s_l)
            u_l = mean + std * torch.randn(mean.shape, generator=gen) if sample else mean
            logp_l = _log_prob(mean, std, u_l)
            if not sample:
                u_l = exploration(u_l, noise_std, gen)
        else:
            u_l, logp_l = free_market_u(E), torch.zeros(E)
        keep = (1.0 - first).repeat_interleave(H).view(1, -1, 1)
        mean, std, hc = n.actor_f(s_f.reshape(E * H, HH_OBS), (hc[0] * keep, hc[1] * keep))
        mean, std = mean.view(E, H, HH_ACT), std.reshape(E, H, HH_ACT)
        u_f = mean + std * torch.randn(mean.shape, generator=gen) if sample else mean
        logp_f = _log_prob(mean, std, u_f)
        if not sample:
            u_f = exploration(u_f, noise_std, gen)
        v_l = n.critic_l(s_l)
        v_f = n.critic_f(s_f, u_l.unsqueeze(1).expand(E, H, LEADER_ACT))
        return dict(u_l=u_l, logp_l=logp_l, v_l=v_l, u_f=u_f, logp_f=logp_f, v_f=v_f, hc=hc)

    @staticmethod
    def env_actions(u_l: Tensor, u_f: Tensor) -> tuple[Tensor, Tensor]:
        """Both sides send (u + 1)/2 (book:model-actions), clipped by the environment."""
        return leader_env_action(u_l), follower_env_action(u_f)

    # updates -------------------------------------------------------------------------------
    def _advantages(self, ro: Rollout, side: str):
        cfg = self.cfg
        r, v, last = (ro.r_l, ro.v_l, ro.last_v_l) if side == "l" else (ro.r_f, ro.v_f, ro.last_v_f)
        done = ro.done if side == "l" else ro.done.unsqueeze(-1).expand_as(r)
        return gae(r, v, done, last, cfg.gamma, cfg.gae_lambda, cfg.paper_quirks)

    def _step(self, side: str, loss: Tensor, params) -> None:
        opt = self.opt[side]
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        opt.step()

    def update_leader(self, ro: Rollout) -> float:
        """PPO on the planner's T x E steps."""
        cfg, n = self.cfg, self.nets
        adv, ret = self._advantages(ro, "l")
        s, u, lp = ro.s_l.flatten(0, 1), ro.u_l.flatten(0, 1), ro.logp_l.flatten(0, 1)
        adv, ret = adv.flatten(), ret.flatten()
        params = [*n.actor_l.parameters(), *n.critic_l.parameters()]
        total = 0.0
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(s.shape[0], generator=self.gen)
            for mb in perm.chunk(cfg.minibatches):
                mean, std, _ = n.actor_l(s[mb])
                a = adv[mb]
                a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
                loss = (
                    clipped_surrogate(_log_prob(mean, std, u[mb]), lp[mb], a, cfg.clip)
                    + cfg.vf_coef * (n.critic_l(s[mb]) - ret[mb]).pow(2).mean()
                    - cfg.ent_coef * _entropy(std).mean()
                )
                self._step("leader", loss, params)
                total += loss.item()
        return total / (cfg.update_epochs * cfg.minibatches)

    def update_followers(self, ro: Rollout) -> float:
        """PPO on the households' sequences, truncated to ``seq_len`` steps."""
        cfg, n = self.cfg, self.nets
        T, E, H = ro.r_f.shape
        L = cfg.seq_len
        C = T // L
        adv, ret = self._advantages(ro, "f")
        agents = E * H
        pick = torch.arange(agents)
        if agents > cfg.update_households:
            pick = torch.randperm(agents, generator=self.gen)[: cfg.update_households]

        def seqs(x: Tensor) -> Tensor:  # [T, E, H, ...] -> [L, C * len(pick), ...]
            x = x.reshape(T, agents, *x.shape[3:])[:, pick]
            x = x.reshape(C, L, len(pick), *x.shape[2:]).transpose(0, 1)
            return x.reshape(L, C * len(pick), *x.shape[3:])

        s, u, lp, a_all, r_all = (seqs(x) for x in (ro.s_f, ro.u_f, ro.logp_f, adv, ret))
        ul = seqs(ro.u_l.unsqueeze(2).expand(T, E, H, LEADER_ACT))
        first = seqs(ro.first.unsqueeze(-1).expand(T, E, H))
        h0 = torch.cat([h[:, pick] for h, _ in ro.hc], 1)  # [1, C * len(pick), h], chunk-major
        c0 = torch.cat([c[:, pick] for _, c in ro.hc], 1)
        params = [*n.actor_f.parameters(), *n.critic_f.parameters()]
        total = 0.0
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(s.shape[1], generator=self.gen)
            for mb in perm.chunk(cfg.minibatches):
                mean, std, _ = lstm_unroll(
                    n.actor_f, s[:, mb], first[:, mb], (h0[:, mb], c0[:, mb])
                )
                a = a_all[:, mb]
                a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
                v = n.critic_f(s[:, mb], ul[:, mb])
                loss = (
                    clipped_surrogate(_log_prob(mean, std, u[:, mb]), lp[:, mb], a, cfg.clip)
                    + cfg.vf_coef * (v - r_all[:, mb]).pow(2).mean()
                    - cfg.ent_coef * _entropy(std).mean()
                )
                self._step("follower", loss, params)
                total += loss.item()
        return total / (cfg.update_epochs * cfg.minibatches)

    # state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "nets": module_states(self.nets.modules()),
            "opt": {k: o.state_dict() for k, o in self.opt.items()},
        }

    def load_state_dict(self, d: dict) -> None:
        for k, v in d["nets"].items():
            getattr(self.nets, k).load_state_dict(v)
        for k, v in d["opt"].items():
            self.opt[k].load_state_dict(v)


# --- the trainer ---------------------------------------------------------------------------


class PPOTrainer(TrainerBase):
    """Roll out with the stochastic policies, update by PPO, evaluate with the means."""

    algo = "ppo"

    def __init__(self, cfg: PPOConfig):
        super().__init__(cfg)
        self.learner = PPOLearner(cfg, self.params)
        self.gen = self.learner.gen  # one generator for sampling and minibatches
        E, H = self.env.n_envs, cfg.n_households
        self.hc = zero_state(E * H)
        self.first = torch.ones(E)

    @property
    def planner_acts(self) -> bool:
        return self.epoch >= self.cfg.household_epochs

    @property
    def planner_learns(self) -> bool:
        return self.epoch >= self.cfg.household_epochs + self.cfg.planner_freeze_epochs

    def collect(self) -> dict:
        """``steps_per_epoch`` steps with the stochastic policies into a rollout."""
        cfg, env, L = self.cfg, self.env, self.learner
        T, E, H = cfg.steps_per_epoch, env.n_envs, cfg.n_households
        ro = Rollout.empty(T, E, H)
        done_count = 0
        for t in range(T):
            if t % cfg.seq_len == 0:
                ro.hc.append((self.hc[0].clone(), self.hc[1].clone()))
            s_l, s_f = L.normalise(self.obs.leader, self.obs.households, update=True)
            p = L.policy(s_l, s_f, self.hc, self.first, self.gen, self.planner_acts)
            out = env.step(*L.env_actions(p["u_l"], p["u_f"]))
            r_l, r_f = self.rewards(out.leader_reward, out.household_reward)
            for k in ("u_l", "logp_l", "v_l", "u_f", "logp_f", "v_f"):
                getattr(ro, k)[t] = p[k]
            ro.s_l[t], ro.s_f[t], ro.r_l[t], ro.r_f[t] = s_l, s_f, r_l, r_f
            ro.done[t], ro.first[t] = out.done.float(), self.first
            self.hc, self.first = p["hc"], out.done.float()
            self.obs = out.obs
            if bool(out.done.any()):
                done_count += int(out.done.sum())
                self.obs = env.reset(mask=out.done)
        s_l, s_f = L.normalise(self.obs.leader, self.obs.households, update=False)
        with torch.no_grad():  # bootstrap values; V_f with the planner's mean action
            u_l = L.nets.actor_l(s_l)[0] if self.planner_acts else free_market_u(E)
            ro.last_v_l = L.nets.critic_l(s_l)
            ro.last_v_f = L.nets.critic_f(s_f, u_l.unsqueeze(1).expand(E, H, LEADER_ACT))
        self.rollout = ro
        return {"episodes_ended": done_count}

    def update(self) -> dict:
        out = {"household_loss": self.learner.update_followers(self.rollout)}
        out["planner_loss"] = math.nan
        if self.planner_learns:
            out["planner_loss"] = self.learner.update_leader(self.rollout)
        del self.rollout
        return out

    def initial_carry(self, E: int):
        return zero_state(E * self.cfg.n_households)

    def act(self, obs, carry, noise_std, gen):
        L = self.learner
        s_l, s_f = L.normalise(obs.leader, obs.households, update=False)
        first = torch.zeros(obs.leader.shape[0])
        kw = dict(sample=False, noise_std=noise_std)
        p = L.policy(s_l, s_f, carry, first, gen, self.planner_acts, **kw)
        return (*L.env_actions(p["u_l"], p["u_f"]), p["hc"])

    def _state(self) -> dict:
        return {**self.learner.state_dict(), "hc": self.hc, "first": self.first}

    def _load_state(self, d: dict) -> None:
        self.learner.load_state_dict(d)
        self.hc, self.first = tuple(x.clone() for x in d["hc"]), d["first"].clone()

    def policy_state(self) -> dict:
        n = self.learner.nets
        return {
            **self._policy_header(),
            "planner_acts": self.planner_acts,
            **module_states({k: getattr(n, k) for k in ("actor_l", "actor_f", "norm_l", "norm_f")}),
        }


# --- policies for evaluation ---------------------------------------------------------------


class LearnedPolicy:
    """The trained planner and households for :func:`smfg.evaluate.evaluate`: means plus
    ``noise_std`` noise; the households' LSTM state runs through the episode."""

    def __init__(self, policy_state: dict, noise_std: float = 0.0, seed: int = 0):
        cfg = config_from_spec(policy_state["config"])
        self.learner = PPOLearner(cfg, train=False)
        for k in ("actor_l", "actor_f", "norm_l", "norm_f"):
            getattr(self.learner.nets, k).load_state_dict(policy_state[k])
        self.planner_acts = bool(policy_state["planner_acts"])
        self.noise_std = noise_std
        self.gen = torch.Generator().manual_seed(seed)
        self.u_l: Tensor | None = None
        self.leader = _LeaderView(self)
        self.followers = _FollowerView(self)


class _LeaderView:
    name = "ppo-planner"

    def __init__(self, owner: LearnedPolicy):
        self.owner = owner

    def reset(self, env) -> None:
        self.dtype = env.dtype

    def __call__(self, obs, income):
        o, L = self.owner, self.owner.learner
        if not o.planner_acts:
            o.u_l = free_market_u(obs.leader.shape[0])
        else:
            s_l = L.nets.norm_l(signed_log(obs.leader.float()))
            with torch.no_grad():
                o.u_l = exploration(L.nets.actor_l(s_l)[0], o.noise_std, o.gen)
        return leader_env_action(o.u_l).to(self.dtype)


class _FollowerView:
    name = "ppo-households"

    def __init__(self, owner: LearnedPolicy):
        self.owner = owner

    def reset(self, env) -> None:
        self.dtype = env.dtype
        self.start_memory(env.n_envs * env.n_households)

    def start_memory(self, n: int) -> None:
        """Forget everything: the LSTM state of ``n`` households at the start of an episode
        (what :func:`smfg.certify.rule_from_policy` reads a grid of states from)."""
        self.hc = zero_state(n)

    def __call__(self, obs, gov_raw):
        o, L = self.owner, self.owner.learner
        E, H = obs.households.shape[:2]
        s_f = L.nets.norm_f(signed_log(obs.households.float()))
        with torch.no_grad():
            mean, _, self.hc = L.nets.actor_f(s_f.reshape(E * H, HH_OBS), self.hc)
        o.u_l = None
        u_f = exploration(mean.view(E, H, HH_ACT), o.noise_std, o.gen)
        return follower_env_action(u_f).to(self.dtype)


def config_from_spec(spec: dict) -> PPOConfig:
    return common.config_from_spec(PPOConfig, spec)


__all__ = [
    "PPOConfig",
    "PPOLearner",
    "PPOTrainer",
    "LearnedPolicy",
    "Rollout",
    "ppo_config",
    "config_from_spec",
    "gae",
    "clipped_surrogate",
    "lstm_unroll",
]
