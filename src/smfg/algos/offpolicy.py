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
observation and action; L_f: the mean field (mean s_f, mean a_f, SPEC 4); S, A: every
household's observation and action, s_1..s_N and a_1..a_N (MADDPG's joint input). "Shared": one
actor and one critic for all households (a household's own s_f and a_f tell the critic whom
it values). "random": uniform [0, 1) shares every step (the original rule-based
households); "BC": the behaviour-cloned SMFRL follower actor pi_f(s_f, a_l), frozen.

The update rules, with X_l and X_f a critic's extra inputs from the table (X' built from the
next step with the target actors):

- leader: y_l = r_l + gamma (1 - done) Q_l'(s_l', pi_l'(s_l'), X_l'); loss (Q_l(s_l, a_l, X_l)
  - y_l)^2; actor: maximise Q_l(s_l, pi_l(s_l), X_l), the followers' part of X_l held fixed.
- follower: y_f = r_f + gamma (1 - done) Q_f'(s_f', pi_f'(s_f', a_l'), X_f') with a_l' =
  pi_l'(s_l'); actor: maximise Q_f(s_f, pi_f(s_f, a_l), X_f) with the household's own action
  replaced wherever X_f holds it (MADDPG's joint action), everything else from the replay.

Defaults, exploration (one noise draw per action dimension shared by the households of an
economy), replay, target updates, learning-rate decay and the normalisers are SMFRL's (SPEC
9, ``smfrl.py``). ``paper_quirks`` restores the original's action mappings (SPEC 2.2): these
households sent their raw tanh output as shares, and the DDPG and MADDPG leaders theirs
unscaled (SPEC 2.2 names no such quirk for the IDDPG and MF-MARL leaders, so they keep the
corrected mapping); the rule-based households' uniform draws are sent as they are either way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

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
    DeterministicActor,
    ReplayBuffer,
    follower_env_action,
    leader_env_action,
    signed_log,
    soft_update,
)
from smfg.config import economy_params
from smfg.env import RunningNormalizer

__all__ = ["OffPolicyConfig", "PROFILES", "Learner", "OffPolicyTrainer", "OffPolicyPolicy"]

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffPolicyConfig(BaseConfig):
    """The DDPG family's settings; defaults are SMFRL's original runs (SPEC 9)."""

    leader_updates: int = 100
    """Leader updates per epoch, each on its own batch."""
    follower_updates: int = 100
    """Follower updates per epoch, each on its own batch."""
    batch_size: int = 128
    """Transitions per update (steps for the leader, (step, household) pairs for followers)."""
    gamma: float = 0.975
    """Discount factor of both critics."""
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
    """Follower actor learning rate with BC (None: ``lr``; the paper used 1e-6)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ints(("batch_size", "mf_sample", "lr_decay_every", "replay_steps"), 1)
        self._ints(("leader_updates", "follower_updates"), 0)
        if not 0.0 <= self.gamma < 1.0:
            self._bad("gamma", "[0, 1)")
        if not 0.0 < self.tau <= 1.0:
            self._bad("tau", "(0, 1]")
        if not 0.0 <= self.noise_std <= 1.0:
            self._bad("noise_std", "[0, 1]")
        for name in ("lr", "bc_follower_lr"):
            if getattr(self, name) is not None and not 0.0 < getattr(self, name) < 1.0:
                self._bad(name, "(0, 1) or None")
        if not 0.0 < self.lr_decay <= 1.0:
            self._bad("lr_decay", "(0, 1]")
        if not self.replay_memory_gb > 0:
            self._bad("replay_memory_gb", "> 0")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-4 if self.n_households <= 100 else 3e-4)


#: The profiles of every DDPG-family algorithm (SMFRL's).
PROFILES = {
    "smoke": dict(epochs=2, steps_per_epoch=40, leader_updates=10, follower_updates=10,
                  eval_episodes=2, eval_steps=40, bc_epochs=3),
    "quick": dict(epochs=20, steps_per_epoch=300, leader_updates=100, follower_updates=100,
                  eval_episodes=5, eval_steps=300, bc_epochs=20),
    "paper": dict(epochs=1000, steps_per_epoch=300, leader_updates=100, follower_updates=100,
                  eval_episodes=10, eval_steps=None, bc_epochs=30),
}  # fmt: skip

# --- networks ------------------------------------------------------------------------------


class ObsActor(DeterministicActor):
    """A household actor pi_f(s_f) that does not see the leader: s_f -> 128 -> 128 -> 2 tanh
    (the MADDPG actor of SPEC 8, which BC clones as ``maddpg_actor``)."""

    def __init__(self):
        super().__init__(HH_OBS, 2, hidden=(128, 128))

    def forward(self, s_f: Tensor, a_l: Tensor | None = None) -> Tensor:
        return self.net(s_f)


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
    its critics see more than (s, a), ``leader_inputs`` and ``follower_inputs``.
    """

    leader_learns: bool = True
    """False: the leader plays the free market (Rule-based)."""
    followers_learn: bool = True
    """False: the households are random, or (with ``bc``) the frozen BC follower actor."""
    bc_name: str = "follower_actor"
    """The BC network (SPEC 8) that starts the follower actor, or is the fixed households."""
    leader_sends_raw: bool = False
    """With ``paper_quirks``: the leader sent its tanh output unscaled (DDPG, MADDPG)."""

    def __init__(self, cfg: OffPolicyConfig, params=None, train: bool = True):
        self.cfg, self.H = cfg, cfg.n_households
        self.params = params or economy_params(cfg.variant, **cfg.economy)
        self.leader_raw = cfg.paper_quirks and self.leader_sends_raw
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            mods = {"actor_l": None, "critic_l": None, "actor_f": None, "critic_f": None}
            mods.update(self.networks())
            if not self.followers_learn and cfg.bc:
                from smfg.algos.bc import make_network

                mods["actor_f"] = make_network(self.bc_name)
            self.nets = Networks(**mods, norm_l=RunningNormalizer(LEADER_OBS),
                                 norm_f=RunningNormalizer(HH_OBS))  # fmt: skip
        self.gen = torch.Generator().manual_seed(cfg.seed + 104729)
        self.learns = self.leader_learns or self.followers_learn
        if cfg.bc and train:
            actor, norm = bc_network(self.bc_name, cfg.variant, self.params, cfg.bc_epochs,
                                     cfg.seed)  # fmt: skip
            self.nets.actor_f.load_state_dict(actor.state_dict())
            self.nets.norm_f.load_state_dict(norm.state_dict())
        if train and self.learns:
            self._build_training()

    def networks(self) -> dict[str, nn.Module]:
        """The learned modules by name (``actor_l``, ``critic_l``, ``actor_f``, ``critic_f``)."""
        raise NotImplementedError

    def _build_training(self) -> None:
        cfg, n = self.cfg, self.nets
        self.targets = copy.deepcopy(n)
        lr = cfg.learning_rate
        lr_f = cfg.bc_follower_lr if cfg.bc and cfg.bc_follower_lr is not None else lr
        learned = (["actor_l", "critic_l"] if self.leader_learns else []) + (
            ["actor_f", "critic_f"] if self.followers_learn else []
        )
        self.opt = {
            k: torch.optim.Adam(getattr(n, k).parameters(), lr=lr_f if k == "actor_f" else lr,
                                eps=1e-5 if k.endswith("_f") else 1e-8, foreach=True)
            for k in learned
        }  # fmt: skip
        self.sched = {
            k: torch.optim.lr_scheduler.StepLR(o, cfg.lr_decay_every, cfg.lr_decay)
            for k, o in self.opt.items()
        }
        cap = min(cfg.replay_steps, cfg.epochs * cfg.steps_per_epoch,
                  ReplayBuffer.capacity_for(cfg.replay_memory_gb * 1e9, self.H))  # fmt: skip
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
    def follower_u(self, hh_obs: Tensor, u_l: Tensor, noise_std: float, gen) -> Tensor:
        """Household actor outputs u_f [E, H, 2] from raw observations [E, H, 2] and u_l."""
        n = self.nets
        if n.actor_f is None:
            return random_follower_u(hh_obs.shape[0], hh_obs.shape[1], gen)
        u = n.actor_f(n.norm_f(signed_log(hh_obs.float())), u_l.unsqueeze(-2))
        return exploration(u, noise_std, gen)

    def act(self, leader_obs: Tensor, hh_obs: Tensor, noise_std: float, gen: torch.Generator):
        """(u_l [E, 5], u_f [E, H, 2]): actor outputs with exploration noise."""
        u_l = self.leader_u(leader_obs, noise_std, gen)
        return u_l, self.follower_u(hh_obs, u_l, noise_std, gen)

    def env_actions(self, u_l: Tensor, u_f: Tensor) -> tuple[Tensor, Tensor]:
        """Actor outputs -> the environment's raw actions (SPEC 2.2, see the module doc)."""
        a_l = leader_env_action(u_l, self.leader_raw)
        if self.nets.actor_f is None:  # uniform draws, sent as they are
            return a_l, (u_f + 1.0) / 2.0
        if self.cfg.paper_quirks:  # the baselines' households sent their raw tanh output
            return a_l, u_f.clamp(0.0, 1.0)
        return a_l, follower_env_action(u_f)

    # replay --------------------------------------------------------------------------------
    def store(self, leader_obs, u_l, r_l, leader_next, hh_obs, u_f, r_f, hh_next, done) -> None:
        """One step of E economies (raw observations) into the replay; normalisers follow the
        learned agents' observations (a fixed BC policy keeps its own)."""
        l_obs, h_obs = signed_log(leader_obs.float()), signed_log(hh_obs.float())
        l_next, h_next = signed_log(leader_next.float()), signed_log(hh_next.float())
        self.buf.add(
            l_obs=l_obs, l_act=u_l, l_rew=r_l, l_next=l_next,
            h_obs=h_obs, h_act=u_f, h_rew=r_f, h_next=h_next,
            mf=torch.cat([h_obs.mean(1), u_f.mean(1)], -1),
            mf_next=torch.cat([h_next.mean(1), torch.zeros_like(u_f[:, 0])], -1),
            done=done.float(),
        )  # fmt: skip
        self.nets.norm_l.update(l_obs)
        if self.followers_learn:
            self.nets.norm_f.update(h_obs)

    # what the critics see beyond (s, a): the algorithms' difference ------------------------
    def leader_inputs(self, idx: Tensor, a_l2: Tensor) -> tuple[tuple, tuple]:
        """Q_l's extra inputs X_l at the sampled steps and X_l' at the next steps."""
        return (), ()

    def follower_inputs(self, j: Tensor, i: Tensor, a_l2: Tensor):
        """Q_f's extra inputs: (X_f, X_f', X_f with the own action replaced by u: a function)."""
        return (), (), lambda u: ()

    def sample_pairs(self) -> tuple[Tensor, Tensor]:
        """(step, household) pairs of a follower batch."""
        return self.buf.sample_pairs(self.cfg.batch_size, self.gen)

    # updates -------------------------------------------------------------------------------
    def _step(self, name: str, loss: Tensor) -> None:
        self.opt[name].zero_grad()
        loss.backward()
        self.opt[name].step()

    def leader_update(self) -> tuple[float, float]:
        """One critic and one actor step of the leader on a batch of steps."""
        cfg, n, t, D = self.cfg, self.nets, self.targets, self.buf.data
        idx = self.buf.sample_steps(cfg.batch_size, self.gen)
        s_l, s_l2 = n.norm_l(D["l_obs"][idx]), n.norm_l(D["l_next"][idx])
        with torch.no_grad():
            a_l2 = t.actor_l(s_l2)
            x, x2 = self.leader_inputs(idx, a_l2)
            q2 = t.critic_l(s_l2, a_l2, *x2)
            y = D["l_rew"][idx] + cfg.gamma * (1.0 - D["done"][idx]) * q2
        q_loss = (n.critic_l(s_l, D["l_act"][idx], *x) - y).pow(2).mean()
        self._step("critic_l", q_loss)
        pi_loss = -n.critic_l(s_l, n.actor_l(s_l), *x).mean()
        self._step("actor_l", pi_loss)
        return q_loss.item(), pi_loss.item()

    def next_leader_action(self, j: Tensor) -> Tensor:
        """a_l' of the follower target: the target leader actor's, or the fixed leader's."""
        if self.nets.actor_l is None:
            return free_market_u(j.shape[0], self.leader_raw)
        return self.targets.actor_l(self.nets.norm_l(self.buf.data["l_next"][j]))

    def follower_update(self) -> tuple[float, float]:
        """One critic and one actor step of the shared follower on (step, household) pairs."""
        cfg, n, t, D = self.cfg, self.nets, self.targets, self.buf.data
        j, i = self.sample_pairs()
        s_f, s_f2 = n.norm_f(D["h_obs"][j, i]), n.norm_f(D["h_next"][j, i])
        a_l = D["l_act"][j]
        with torch.no_grad():
            a_l2 = self.next_leader_action(j)
            x, x2, x_pi = self.follower_inputs(j, i, a_l2)
            q2 = t.critic_f(s_f2, t.actor_f(s_f2, a_l2), *x2)
            y = D["h_rew"][j, i] + cfg.gamma * (1.0 - D["done"][j]) * q2
        q_loss = (n.critic_f(s_f, D["h_act"][j, i], *x) - y).pow(2).mean()
        self._step("critic_f", q_loss)
        u = n.actor_f(s_f, a_l)
        pi_loss = -n.critic_f(s_f, u, *x_pi(u)).mean()
        self._step("actor_f", pi_loss)
        return q_loss.item(), pi_loss.item()

    def update(self) -> dict:
        """The leader's updates, then the followers', each followed by a soft update of that
        side's targets and a step of its learning-rate schedules (as SMFRL)."""
        cfg, out = self.cfg, {}
        sides = []
        if self.leader_learns:
            names = ("actor_l", "critic_l")
            sides.append(("leader", self.leader_update, cfg.leader_updates, names))
        if self.followers_learn:
            names = ("actor_f", "critic_f")
            sides.append(("follower", self.follower_update, cfg.follower_updates, names))
        for side, fn, n_updates, names in sides:
            q = pi = 0.0
            for _ in range(n_updates):
                dq, dpi = fn()
                q, pi = q + dq, pi + dpi
                for name in names:
                    soft_update(getattr(self.targets, name), getattr(self.nets, name), cfg.tau)
                    self.sched[name].step()
            if n_updates:
                out[f"{side}_q_loss"], out[f"{side}_pi_loss"] = q / n_updates, pi / n_updates
        self.updates += max(cfg.leader_updates, cfg.follower_updates) if sides else 0
        return out

    # state ---------------------------------------------------------------------------------
    def policy_state(self) -> dict:
        n = self.nets
        return module_states({"actor_l": n.actor_l, "actor_f": n.actor_f, "norm_l": n.norm_l,
                              "norm_f": n.norm_f})  # fmt: skip

    def load_policy_state(self, d: dict) -> None:
        for k in ("actor_l", "actor_f", "norm_l", "norm_f"):
            if k in d:
                getattr(self.nets, k).load_state_dict(d[k])

    def state_dict(self) -> dict:
        """Networks, targets, optimisers, schedules, replay (the generator is the trainer's)."""
        out = {"nets": module_states(self.nets.modules())}
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
        """``steps_per_epoch`` environment steps with exploration into the replay (none when
        nothing learns)."""
        cfg, env, L = self.cfg, self.env, self.learner
        if not L.learns:
            return {}
        done_count = 0
        for _ in range(cfg.steps_per_epoch):
            lo, ho = self.obs.leader, self.obs.households
            u_l, u_f = L.act(lo, ho, cfg.noise_std, self.gen)
            out = env.step(*L.env_actions(u_l, u_f))
            r_l, r_f = self.rewards(out.leader_reward, out.household_reward)
            L.store(lo, u_l, r_l, out.obs.leader, ho, u_f, r_f, out.obs.households, out.done)
            self.obs = out.obs
            if bool(out.done.any()):
                done_count += int(out.done.sum())
                self.obs = env.reset(mask=out.done)
        return {"episodes_ended": done_count}

    def update(self) -> dict:
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
