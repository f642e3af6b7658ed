"""The DDPG family's learner (:mod:`smfg.algos.offpolicy`, whose docstring states the update
rules): networks, acting, replay, batches, losses and updates, without an environment."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grad_norm_

from smfg.algos.bc import make_network
from smfg.algos.common import (
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
    ReplayBuffer,
    follower_env_action,
    gaussian_noise,
    leader_env_action,
    param_list,
    signed_log,
    soft_update,
)
from smfg.algos.offpolicy_config import OffPolicyConfig
from smfg.algos.offpolicy_nets import Networks, TwinCritic, frozen, start_at
from smfg.env import Observation, RunningNormalizer, reward_floor

__all__ = ["Learner"]


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
        self.params = params or cfg.params
        self.leader_raw = cfg.paper_quirks and self.leader_sends_raw
        self.twin = cfg.leader_method == "td3" and self.leader_learns
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            mods = {"actor_l": None, "critic_l": None, "actor_f": None, "critic_f": None}
            mods.update(self.networks())
            if self.twin:  # TD3: the leader critic's architecture, twice
                mods["critic_l"] = self.twin_critic(mods["critic_l"])
            if not self.followers_learn and cfg.bc:
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
                fused=True,  # Adam's step as one kernel: the same formula, rounded in its order
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
        # TD3's actor maximises Q_l1 alone: Q_l2, which takes no part, is not computed (the
        # same loss and gradient; MADDPG's joint critic at N = 1,000: a 4,011-wide layer less)
        critic = nets.critic_l.q1 if self.twin else nets.critic_l
        q = critic(b["s_l"], a_l, *self.leader_x(b))
        return self.leader_pi_objective(q, a_l, b)

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
            clip_grad_norm_(param_list(getattr(self.nets, name)), self.cfg.max_grad_norm)
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
