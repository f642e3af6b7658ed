"""K seeds of one DDPG-family algorithm (SMFRL or a baseline) trained as one batched model.

A seed's run is dominated by thousands of small tensor operations (networks of 128 units,
batches of 128, economies of 100 households), each paying a fixed dispatch cost, so K seeds
run one after the other cost K times one seed. Here the K seeds' networks are stacked
(every parameter gets a leading dimension K: each linear layer of a network becomes one
batched product of the K seeds' layers, :func:`smfg.algos.core.linear`), each update
evaluates the learner's own loss functions once on the K seeds' stacked batches (they are
written over leading dimensions, so the seed dimension passes through them), the backward
pass reaches only the parameters of the network being stepped (as the trainer's frozen
critics), one Adam steps all K (Adam is elementwise, so a stacked Adam is K
independent ones; the members' own fused implementation, so that the batch's steps are the
separate runs'), the K seeds act in one pass of their stacked actors
(:meth:`BatchedTrainer.act_all`), the K seeds' economies step as one multi-seed
environment, and a step of the K seeds is stored in one pass (:meth:`BatchedTrainer.
_record_all`: the members' replay buffers are the K slices of one tensor per field).

The K seeds are K ordinary trainers of the algorithm (:class:`~smfg.algos.offpolicy.
OffPolicyTrainer`), the *members*: they build the networks (same initialisation, same
behaviour-cloning start), own the replay buffers, normalisers and random generators, draw
every batch exactly as a run alone would, draw their own exploration noise, and record
with the trainer's own code the steps the batched recording leaves to them (those with a
non-finite reward or observation). The batched trainer holds the stacked
parameters, optimiser and environment while it trains; :meth:`BatchedTrainer.scatter`
writes them back into the members after every update phase, whose ``state_dict`` and
``policy_state`` are then those of single-seed runs (the run store checkpoints each seed in
its own directory), and :meth:`BatchedTrainer.gather` builds the batch from members (a fresh
start or K resumed checkpoints). Whatever learner the members hold is batched: the losses
are functions of the networks and the batch (``Learner.*_loss(nets, targets, b)``).

Equality with separate runs: every random draw is the same, but a batched matrix product
may round differently from K separate ones, and training amplifies the last bits; the test
states the tolerance after two epochs.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import fields, replace

import torch
from torch import Tensor, nn

from smfg.algos.common import EVAL_KEYS, EVAL_SEED_OFFSET, evaluated_epoch, exploration
from smfg.algos.core import (
    HH_OBS,
    LEADER_ACT,
    gaussian_noise,
    leader_env_action,
    linear,
    signed_log,
)
from smfg.algos.offpolicy import OffPolicyTrainer
from smfg.algos.offpolicy_learner import Learner
from smfg.algos.smfrl import SMFRLLearner, SMFRLTrainer
from smfg.env import Observation, SMFGEnv

NETS = ("actor_l", "critic_l", "actor_f", "critic_f")


class SeedsOutOfStep(ValueError):
    """The seeds' trainers are at different epochs (e.g. resumed from different checkpoints)."""


class _Nets:
    """The K seeds' networks by name (None where the algorithm has none), as a learner's
    ``nets`` and ``targets`` are to its losses."""

    def __init__(self, modules: dict):
        for name in NETS:
            setattr(self, name, modules.get(name))


class _StackedLinear(nn.Module):
    """K seeds' ``nn.Linear`` layers as one: weight [K, out, in], bias [K, out]."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


def _stacked_module(template: nn.Module, modules: list[nn.Module]) -> nn.Module:
    """A copy of ``template`` whose linear layers hold the K ``modules``' parameters stacked
    (copies): the same forward on inputs with a leading seed dimension [K, ...]."""
    params = _stack([{p: t.detach().clone() for p, t in m.named_parameters()} for m in modules])
    out = copy.deepcopy(template)
    for name, layer in list(out.named_modules()):
        if isinstance(layer, nn.Linear):
            parent, _, attr = name.rpartition(".")
            stacked = _StackedLinear(params[f"{name}.weight"], params.get(f"{name}.bias"))
            setattr(out.get_submodule(parent), attr, stacked)
    names = [p for p, _ in out.named_parameters()]
    if sorted(names) != sorted(params):
        raise ValueError(
            f"{type(template).__name__}: only linear layers' parameters can be "
            f"stacked, not {sorted(set(params) - set(names))}"
        )
    return out


def _clip_per_seed(grads: list[Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` for each seed's slice of stacked gradients (the same formula)."""
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)  # [K]
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.ndim - 1))))


def _stack(dicts: list[dict]) -> dict:
    return {k: torch.stack([d[k] for d in dicts]) for k in dicts[0]}


def _normalised(x: Tensor, norms: list) -> Tensor:
    """Each seed's slice of ``x`` [K, ..., D] through its own running normaliser: the
    normaliser's forward, (x - mean) / (std + eps), with the K seeds' statistics stacked."""
    shape = (len(norms), *([1] * (x.ndim - 2)), x.shape[-1])
    mean = torch.stack([n.mean for n in norms]).to(x.dtype).view(shape)
    std = torch.stack([n.var for n in norms]).to(x.dtype).view(shape).sqrt()
    return (x - mean) / (std + norms[0].eps)


@torch.no_grad()
def _update_norms(norms: list, x: Tensor) -> None:
    """Each running normaliser ``norms[k]`` folds in its seed's batch ``x[k]`` ([K, ..., D]):
    :meth:`smfg.env.RunningNormalizer.update`'s formula, for the K seeds in one pass."""
    K, D = len(norms), x.shape[-1]
    dtype = norms[0].mean.dtype
    x = x.reshape(K, -1, D).to(dtype)
    if bool(torch.isnan(x).any()):
        raise ValueError("RunningNormalizer.update got NaN: allowed finite observations")
    n = x.shape[1]
    if n == 0:
        return
    b_mean, b_var = x.mean(1), x.var(1, unbiased=False)
    mean = torch.stack([q.mean for q in norms])
    var = torch.stack([q.var for q in norms])
    count = torch.stack([q.count for q in norms])  # float64, as the normaliser keeps it
    tot = count + n
    delta = b_mean - mean
    # the normaliser's Python floats (doubles) enter its float32 products rounded to float32
    w = (n / tot).to(dtype).unsqueeze(-1)
    new_mean = mean + delta * w
    m2 = var * count.to(dtype).unsqueeze(-1) + b_var * n
    m2 = m2 + delta.pow(2) * (count * n / tot).to(dtype).unsqueeze(-1)
    new_var = m2 / tot.to(dtype).unsqueeze(-1)
    for k, q in enumerate(norms):
        q.mean.copy_(new_mean[k])
        q.var.copy_(new_var[k])
        q.count.copy_(tot[k])


#: The acting methods a learner must keep as :class:`~smfg.algos.offpolicy_learner.Learner`'s
#: for its seeds to act as one batch (every algorithm of the package does).
_ACTING = ("act", "leader_u", "follower_u", "collect_act", "env_actions")


class BatchedTrainer:
    """Train an off-policy algorithm for several seeds at once; each seed ends as its run
    alone would."""

    def __init__(
        self,
        cfg,
        seeds: Sequence[int],
        members: list[OffPolicyTrainer] | None = None,
        trainer_cls: type[OffPolicyTrainer] | None = None,
    ):
        """The batch of ``cfg`` with each of ``seeds``; ``members``: their trainers, already
        built (and perhaps resumed from checkpoints), else fresh ones of ``trainer_cls``
        (default: SMFRL's)."""
        seeds = [int(s) for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds = {seeds!r}: allowed a non-empty list of distinct integers")
        self.cfg = cfg
        self.seeds = seeds
        if members is None:
            if trainer_cls is None:
                trainer_cls = SMFRLTrainer
            members = [trainer_cls(replace(cfg, seed=s)) for s in seeds]
        if [replace(m.cfg, seed=0) for m in members] != [replace(cfg, seed=0)] * len(seeds) or [
            m.cfg.seed for m in members
        ] != seeds:
            raise ValueError("members must be trainers of cfg with the given seeds, in order")
        self.members = members
        m0 = members[0]
        self.algo = m0.algo
        self.params = m0.params
        self.n_epochs = cfg.epochs
        L0 = m0.learner
        self.L0 = L0
        self.names = [n for n in NETS if getattr(L0.nets, n) is not None]
        self.modules = {n: getattr(L0.nets, n) for n in self.names}
        N, K = cfg.n_households, len(seeds)
        kw = dict(
            dtype=cfg.dtype,
            leader_reward=cfg.leader_reward,
            reward_weights=cfg.leader_reward_weights,
        )
        self.env = SMFGEnv(self.params, N, n_envs=K * cfg.n_envs, seed=seeds, **kw)
        self.eval_env = SMFGEnv(self.params, N, n_envs=K * cfg.eval_episodes, seed=seeds, **kw)
        self.gather()

    # --- members <-> batch -------------------------------------------------------------
    def gather(self) -> None:
        """Stack the members' parameters, targets, optimiser states and economies."""
        ms = self.members
        self.epoch = ms[0].epoch
        if any(m.epoch != self.epoch for m in ms):
            raise SeedsOutOfStep(
                f"members at epochs {[m.epoch for m in ms]}: they cannot train as one batch"
            )
        L0 = self.L0
        self.nets, self.P = self._stack_modules(lambda m: m.learner.nets)
        self.opt, self.sched = {}, {}
        self._gather_env()
        if not L0.learns:
            return
        self._link_replays()
        self.targets, self.T = self._stack_modules(lambda m: m.learner.targets)
        for n in self.P:
            for t in self.P[n].values():
                t.requires_grad_(n in L0.opt)
            for t in self.T[n].values():
                t.requires_grad_(False)
        for n, o in L0.opt.items():
            g = o.param_groups[0]
            self.opt[n] = torch.optim.Adam(
                list(self.P[n].values()), lr=g["lr"], betas=g["betas"], eps=g["eps"], fused=True
            )
            sd = o.state_dict()
            states = [m.learner.opt[n].state_dict()["state"] for m in ms]
            sd["state"] = {
                i: {
                    k: (v if k == "step" else torch.stack([s[i][k] for s in states]))
                    for k, v in states[0][i].items()
                }
                for i in states[0]
            }
            self.opt[n].load_state_dict(sd)
            self.sched[n] = torch.optim.lr_scheduler.StepLR(
                self.opt[n], self.cfg.lr_decay_every, self.cfg.lr_decay
            )
            self.sched[n].load_state_dict(L0.sched[n].state_dict())

    def _link_replays(self) -> None:
        """Hold the members' replay buffers as the K slices of one tensor per field (moved
        field by field: the peak is one field's copy), so that a step of the K seeds is
        stored with one write per field (:meth:`_record_all`). Each member's buffer holds its
        slice as its own tensor: it samples, saves and loads as before."""
        bufs = [m.learner.buf for m in self.members]
        if any(b.pos != bufs[0].pos or b.size != bufs[0].size for b in bufs):
            raise SeedsOutOfStep(
                f"members' replays at {[(b.pos, b.size) for b in bufs]}: they cannot record "
                "as one batch"
            )
        self.replay = {}
        for key in bufs[0].data:
            stacked = torch.stack([b.data[key] for b in bufs])
            for k, b in enumerate(bufs):
                b.data[key] = stacked[k]
            self.replay[key] = stacked

    def _stack_modules(self, nets_of) -> tuple[_Nets, dict]:
        """The members' networks stacked, and their parameters by network and name."""
        mods = {
            n: _stacked_module(self.modules[n], [getattr(nets_of(m), n) for m in self.members])
            for n in self.names
        }
        return _Nets(mods), {n: dict(mod.named_parameters()) for n, mod in mods.items()}

    def _gather_env(self) -> None:
        ms = self.members
        st = {
            f.name: torch.cat([getattr(m.env.state, f.name) for m in ms])
            for f in fields(ms[0].env.state)
        }
        self.env.state = type(ms[0].env.state)(**st)
        for k, m in enumerate(ms):
            self.env.gens[k].set_state(m.env.gens[0].get_state())
        self.env.metrics.sums = {
            k: torch.cat([m.env.metrics.sums[k] for m in ms]) for k in ms[0].env.metrics.sums
        }
        self.env.metrics.years = torch.cat([m.env.metrics.years for m in ms])

    def scatter(self) -> None:
        """Write the batch back into the members (each then holds its seed's full state)."""
        for k, m in enumerate(self.members):
            L = m.learner
            if not L.learns:
                continue
            with torch.no_grad():
                for n in self.names:
                    for p, t in getattr(L.nets, n).named_parameters():
                        t.copy_(self.P[n][p][k])
                    for p, t in getattr(L.targets, n).named_parameters():
                        t.copy_(self.T[n][p][k])
            for n, o in self.opt.items():
                sd = o.state_dict()
                sd["state"] = {
                    i: {key: (v if key == "step" else v[k].clone()) for key, v in st.items()}
                    for i, st in sd["state"].items()
                }
                L.opt[n].load_state_dict(sd)
                L.sched[n].load_state_dict(self.sched[n].state_dict())
        for k, m in enumerate(self.members):
            st = {
                f.name: getattr(self.env.state, f.name)[self._sl(k)].clone()
                for f in fields(self.env.state)
            }
            m.env.state = type(self.env.state)(**st)
            m.env.gens[0].set_state(self.env.gens[k].get_state())
            m.env.metrics.sums = {
                key: v[self._sl(k)].clone() for key, v in self.env.metrics.sums.items()
            }
            m.env.metrics.years = self.env.metrics.years[self._sl(k)].clone()

    def _sl(self, k: int, E: int | None = None) -> slice:
        E = self.cfg.n_envs if E is None else E
        return slice(k * E, (k + 1) * E)

    # --- collect: one environment, each member acting and recording on its slice ---------
    def collect(self) -> list[dict]:
        cfg, env, ms = self.cfg, self.env, self.members
        if not self.L0.learns:
            return [{} for _ in ms]
        for m in ms:
            m.start_collect()
        f_noise = cfg.follower_noise
        for _ in range(cfg.steps_per_epoch):
            obs = Observation(
                torch.cat([m.obs.leader for m in ms]), torch.cat([m.obs.households for m in ms])
            )
            if self.acts_as_batch:
                leader_noise = [m.leader_noise for m in ms]
                gens = [m.gen for m in ms]
                u_l, u_f = self.act_all(
                    obs, leader_noise, f_noise, gens, cfg.follower_noise_per_household
                )
                us = [(u_l[self._sl(k)], u_f[self._sl(k)]) for k in range(len(ms))]
                a_l, a_f = self.L0.env_actions(u_l, u_f)
            else:
                us = [m.learner.collect_act(m.obs, m.gen, m.leader_noise) for m in ms]
                acts = [m.learner.env_actions(*u) for m, u in zip(ms, us, strict=True)]
                a_l, a_f = torch.cat([a[0] for a in acts]), torch.cat([a[1] for a in acts])
                u_l, u_f = torch.cat([u[0] for u in us]), torch.cat([u[1] for u in us])
            out = env.step(a_l, a_f)
            fast = self.records_as_batch and self._record_all(obs, u_l, u_f, out, env.state.t)
            if not fast:
                for k, (m, (u_lk, u_fk)) in enumerate(zip(ms, us, strict=True)):
                    sl = self._sl(k)
                    rewards = (out.leader_reward[sl], out.household_reward[sl])
                    nxt = Observation(out.obs.leader[sl], out.obs.households[sl])
                    ends = (out.terminated[sl], out.done[sl], env.state.t[sl])
                    m.obs = m.record(u_lk, u_fk, *rewards, nxt, *ends)
            if bool(out.done.any()):
                fresh = env.reset(mask=out.done)
                for k, m in enumerate(ms):
                    if bool(out.done[self._sl(k)].any()):
                        sl = self._sl(k)
                        m.obs = m.finite_obs(Observation(fresh.leader[sl], fresh.households[sl]))
        return [m.end_collect() for m in ms]

    @property
    def acts_as_batch(self) -> bool:
        """Whether the K seeds act in one pass of their stacked actors (:meth:`act_all`): their
        learner acts as :class:`~smfg.algos.offpolicy_learner.Learner` does, with a leader
        and a household actor (and its trainer evaluates with the learner's acting);
        otherwise each member acts on its slice with its own code."""
        L0 = self.L0
        same = all(getattr(type(L0), f) is getattr(Learner, f) for f in _ACTING)
        same = same and type(self.members[0]).act is OffPolicyTrainer.act
        return same and L0.nets.actor_l is not None and L0.nets.actor_f is not None

    @torch.no_grad()
    def act_all(self, obs: Observation, leader_noise, follower_noise, gens, per_household):
        """(u_l [K E, 5], u_f [K E, H, 2]): every member's ``Learner.act`` on its slice of
        ``obs`` (raw observations of the K seeds' economies, seed by seed) in one pass of the
        stacked actors, each with its own normalisers, and its exploration noise (the
        leader's ``leader_noise[k]``, the households' ``follower_noise``) drawn from
        ``gens[k]`` in its run's order (the leader's, then the households'). Equal to the
        members' own acting up to the batched products' rounding."""
        ms, K = self.members, len(self.members)
        nets = [m.learner.nets for m in ms]
        x_l = signed_log(obs.leader.float()).unflatten(0, (K, -1))
        x_f = signed_log(obs.households.float()).unflatten(0, (K, -1))
        u_l = self.nets.actor_l(_normalised(x_l, [n.norm_l for n in nets]))
        u_l = torch.stack([exploration(u_l[k], leader_noise[k], gens[k]) for k in range(K)])
        u_f = self.nets.actor_f(_normalised(x_f, [n.norm_f for n in nets]), u_l.unsqueeze(-2))
        u_f = torch.stack(
            [exploration(u_f[k], follower_noise, gens[k], per_household) for k in range(K)]
        )
        return u_l.flatten(0, 1), u_f.flatten(0, 1)

    @property
    def records_as_batch(self) -> bool:
        """Whether a step of the K seeds can be stored in one pass (:meth:`_record_all`): the
        members record as :class:`~smfg.algos.offpolicy.OffPolicyTrainer` does, into the
        learner's own replay (every algorithm of the package does)."""
        m0, L0 = self.members[0], self.L0
        same = all(
            getattr(type(m0), f) is getattr(OffPolicyTrainer, f)
            for f in ("record", "rewards", "finite_obs")
        )
        return same and type(L0).store is Learner.store and hasattr(self, "replay")

    @torch.no_grad()
    def _record_all(self, obs: Observation, u_l: Tensor, u_f: Tensor, out, t: Tensor) -> bool:
        """Every member's ``record`` of the step from ``obs`` (the K seeds' raw observations,
        seed by seed) with actor outputs ``u_l`` [K E, 5], ``u_f`` [K E, H, 2], the
        environment's ``out`` and its economies' years ``t`` after the step, in one pass: the
        same rewards (clipped as configured, with the ending penalty where an economy
        failed), stored transitions and normaliser statistics, counters and next
        observations. Only for a step whose rewards and observations are all finite; on any
        other it records nothing and returns False (the members' own code replaces and
        counts the non-finite values)."""
        cfg, ms, K, L0 = self.cfg, self.members, len(self.members), self.L0
        r_l, r_f = out.leader_reward.float(), out.household_reward.float()
        nxt = out.obs
        finite = torch.stack(
            [
                torch.isfinite(t).all()
                for t in (r_l, r_f, nxt.leader.float(), nxt.households.float())
            ]
        )
        if not bool(finite.all()):
            return False
        E = r_l.shape[0] // K
        for m, low in zip(ms, r_l.view(K, E).amin(1).tolist(), strict=True):
            m.r_l_seen_min = min(m.r_l_seen_min, low)
        if cfg.reward_clip is not None:
            r_f = r_f.clamp(-cfg.reward_clip, cfg.reward_clip)
        if cfg.leader_reward_clip is not None:
            r_l = r_l.clamp(-cfg.leader_reward_clip, cfg.leader_reward_clip)
        terminated = out.terminated
        if bool(terminated.any()):  # OffPolicyTrainer.record's ending penalty, seed by seed
            for m, n in zip(ms, terminated.view(K, E).sum(1).tolist(), strict=True):
                m.failed += int(n)
            if cfg.ending_penalty:
                lost = (self.params.T - t).clamp_min(0).to(r_l.dtype)
                g = cfg.gamma
                years = g * (1.0 - g**lost) / (1.0 - g)
                floors = [m.learner.ending_floor(m.r_l_seen_min) for m in ms]
                floor = torch.tensor(floors, dtype=r_l.dtype).repeat_interleave(E)
                r_l = torch.where(terminated, r_l + floor * years, r_l)
                gf = cfg.follower_discount
                years_f = gf * (1.0 - gf**lost) / (1.0 - gf)
                lost_f = ms[0].household_floor() * years_f.unsqueeze(-1)
                r_f = torch.where(terminated.unsqueeze(-1), r_f + lost_f, r_f)
        # Learner.store for the K seeds: one write per field of the stacked replay
        l_obs, h_obs = signed_log(obs.leader.float()), signed_log(obs.households.float())
        l_next, h_next = signed_log(nxt.leader.float()), signed_log(nxt.households.float())
        fields = {
            "l_obs": l_obs,
            "l_act": u_l,
            "l_rew": r_l,
            "l_next": l_next,
            "h_obs": h_obs,
            "h_act": u_f,
            "h_rew": r_f,
            "h_next": h_next,
            "mf": torch.cat([h_obs.mean(1), u_f.mean(1)], -1),
            "mf_next": torch.cat([h_next.mean(1), torch.zeros_like(u_f[:, 0])], -1),
            "term": terminated.float(),
        }
        bufs = [m.learner.buf for m in ms]
        idx = (bufs[0].pos + torch.arange(E)) % bufs[0].capacity
        for key, v in fields.items():
            dest = self.replay[key]
            dest[:, idx] = v.unflatten(0, (K, E)).to(dest.dtype)
        for b in bufs:
            b.pos = (b.pos + E) % b.capacity
            b.size = min(b.size + E, b.capacity)
        nets = [m.learner.nets for m in ms]
        _update_norms([n.norm_l for n in nets], l_obs.unflatten(0, (K, E)))
        if L0.norm_f_moves:
            _update_norms([n.norm_f for n in nets], h_obs.unflatten(0, (K, E)))
        # the trainer's counters, and each member's next observation
        ended = out.done.view(K, E).sum(1).tolist()
        shares = leader_env_action(u_l, L0.leader_raw).double().unflatten(0, (K, E)).sum(1)
        for k, m in enumerate(ms):
            m.ended += int(ended[k])
            if hasattr(m, "leader_sum"):
                m.leader_sum += shares[k]
                m.leader_n += E
            sl = self._sl(k)
            m.obs = Observation(nxt.leader[sl], nxt.households[sl])
        return True

    # --- update: the members' batches, the learner's losses on the stacked networks ------
    def _batch(self, side: str, gather: bool) -> dict:
        """The K members' batches of an update of ``side``, stacked [K, ...]: each member
        draws its own (with ``gather``, :meth:`_sampled_follower_batch` gathers SMFRL's
        sampled follower batches from the linked replay in one pass)."""
        ms = self.members
        if gather:
            return (
                self._sampled_leader_batch() if side == "leader" else self._sampled_follower_batch()
            )
        if side == "leader":
            return _stack([m.learner.leader_batch() for m in ms])
        return _stack([m.learner.follower_batch() for m in ms])

    def _gathers(self) -> bool:
        """SMFRL with the sampled follower batch (and no trust region), whose batches' fields
        the stacked replay gives in one indexing each (the members' buffers are its slices:
        :meth:`_link_replays`)."""
        L0, replay, kind = self.L0, getattr(self, "replay", None), type(self.L0)
        return (
            isinstance(L0, SMFRLLearner)
            and kind.follower_batch is SMFRLLearner.follower_batch
            and kind._sampled_batch is SMFRLLearner._sampled_batch
            and kind.leader_batch is Learner.leader_batch
            and kind.leader_extra is SMFRLLearner.leader_extra
            and self.cfg.follower_batch == "sampled"
            and self.cfg.leader_trust is None
            and bool(replay)
            and all(
                m.learner.buf.data[key].data_ptr() == self.replay[key][k].data_ptr()
                for k, m in enumerate(self.members)
                for key in self.replay
            )
        )

    def _sampled_follower_batch(self) -> dict:
        """The K members' sampled follower batches (``SMFRLLearner._sampled_batch``) as one
        stacked batch: each member draws its indices from its own generator in its run's
        order (steps, households, then the mean action's next and current households), every
        field is gathered from the stacked replay with one indexing, and normalised with the
        K normalisers stacked: equal bit for bit to stacking the members' own batches."""
        cfg, R, learners = self.cfg, self.replay, [m.learner for m in self.members]
        K, H = len(learners), learners[0].H
        S, m = cfg.batch_steps, cfg.mf_sample
        k = cfg.batch_size // S
        js, hh, nxt, cur = [], [], [], []
        for lr in learners:
            js.append(lr.buf.sample_steps(S, lr.gen))
            hh.append(torch.randint(H, (S, k), generator=lr.gen))
            if H > m:
                nxt.append(torch.randint(H, (S, m), generator=lr.gen))
                cur.append(torch.randint(H, (S, m), generator=lr.gen))
        js = torch.stack(js)  # [K, S]
        kk = torch.arange(K).unsqueeze(-1)
        j, i = js.repeat_interleave(k, -1), torch.stack(hh).reshape(K, -1)  # [K, S k]
        nf = [lr.nets.norm_f for lr in learners]
        mf = R["mf"][kk, j]
        b = {
            "s_f": _normalised(R["h_obs"][kk, j, i], nf),
            "s_f2": _normalised(R["h_next"][kk, j, i], nf),
            "a_f": R["h_act"][kk, j, i],
            "r_f": R["h_rew"][kk, j, i],
            "term": R["term"][kk, j],
            "a_l": R["l_act"][kk, j],
            "a_ls": R["l_act"][kk, js],
            "mf": torch.cat([_normalised(mf[..., :HH_OBS], nf), mf[..., HH_OBS:]], -1),
            "mf_obs2": _normalised(R["mf_next"][kk, j, :HH_OBS], nf),
            "s_l2s": _normalised(R["l_next"][kk, js], [lr.nets.norm_l for lr in learners]),
        }
        if H > m:  # m random households of each step
            k3, j3 = kk.unsqueeze(-1), js.unsqueeze(-1)
            b["nxt"] = _normalised(R["h_next"][k3, j3, torch.stack(nxt)], nf)
            b["cur"] = _normalised(R["h_obs"][k3, j3, torch.stack(cur)], nf)
        else:  # all of them
            b["nxt"] = _normalised(R["h_next"][kk, js], nf)
            b["cur"] = _normalised(R["h_obs"][kk, js], nf)
        return b

    def _sampled_leader_batch(self) -> dict:
        """The K members' leader batches (``Learner.leader_batch`` with SMFRL's
        ``leader_extra``, the sampled follower batch's ``mf_sample`` households) as one
        stacked batch, drawn and gathered as :meth:`_sampled_follower_batch` does: each
        member's steps, TD3's smoothing noise and the mean action's households from its own
        generator in its run's order; equal bit for bit to stacking the members' own."""
        cfg, R, learners = self.cfg, self.replay, [m.learner for m in self.members]
        L0, K, H, m = self.L0, len(learners), learners[0].H, cfg.mf_sample
        B, both = cfg.batch_size, cfg.leader_gradient == "stackelberg"
        idx, smooth, nxt, cur = [], [], [], []
        for lr in learners:
            idx.append(lr.buf.sample_steps(B, lr.gen))
            if L0.twin:
                smooth.append(gaussian_noise((B, LEADER_ACT), cfg.target_noise, lr.gen))
            if H > m:
                nxt.append(torch.randint(H, (B, m), generator=lr.gen))
                if both:
                    cur.append(torch.randint(H, (B, m), generator=lr.gen))
        idx = torch.stack(idx)
        kk = torch.arange(K).unsqueeze(-1)
        nl = [lr.nets.norm_l for lr in learners]
        nf = [lr.nets.norm_f for lr in learners]
        mf = R["mf"][kk, idx]
        b = {
            "s_l": _normalised(R["l_obs"][kk, idx], nl),
            "s_l2": _normalised(R["l_next"][kk, idx], nl),
            "a_l": R["l_act"][kk, idx],
            "r_l": R["l_rew"][kk, idx],
            "term": R["term"][kk, idx],
        }
        if L0.twin:
            b["smooth"] = torch.stack(smooth).clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
        b["mf"] = torch.cat([_normalised(mf[..., :HH_OBS], nf), mf[..., HH_OBS:]], -1)
        b["mf_obs2"] = _normalised(R["mf_next"][kk, idx, :HH_OBS], nf)
        k3, i3 = kk.unsqueeze(-1), idx.unsqueeze(-1)
        for key, field, draws in (("nxt", "h_next", nxt), ("cur", "h_obs", cur)):
            if key == "cur" and not both:
                continue
            rows = R[field][k3, i3, torch.stack(draws)] if H > m else R[field][kk, idx]
            b[key] = _normalised(rows, nf)
        return b

    def _descend(self, name: str, loss_fn, batch: dict) -> Tensor:
        losses = loss_fn(self.nets, self.targets, batch)  # [K]
        params = list(self.P[name].values())
        self.opt[name].zero_grad()
        # seeds share no parameter: each gets its own gradient; the other networks take none
        # (as the trainer's frozen critics)
        losses.sum().backward(inputs=params)
        if self.cfg.max_grad_norm is not None:
            _clip_per_seed([p.grad for p in self.P[name].values()], self.cfg.max_grad_norm)
        self.opt[name].step()
        return losses.detach()

    def update(self) -> dict:
        cfg, L0, ms, out = self.cfg, self.L0, self.members, {}
        K = len(ms)
        losses = {
            "leader": (L0.leader_critic_loss, L0.leader_actor_loss),
            "follower": (L0.follower_critic_loss, L0.follower_actor_loss),
        }
        L0.leader_paused = self.epoch < cfg.leader_start_epoch
        L0.follower_actor_paused = self.epoch < cfg.follower_actor_start_epoch
        for m in ms:  # the members hold this epoch's networks (scattered after the last)
            m.learner.refresh_anchor()
        gather = self._gathers()
        for side, n_updates, (actor, critic) in L0.sides():
            q_fn, pi_fn = losses[side]
            q = pi = torch.zeros(K, dtype=torch.float64)
            n_pi = 0
            for _ in range(n_updates):
                batch = self._batch(side, gather)
                q = q + self._descend(critic, q_fn, batch).double()
                stepped = [critic]
                if side == "leader":
                    for m in ms:
                        m.learner.leader_steps += 1
                delayed = side == "leader" and L0.twin
                paused = side == "follower" and L0.follower_actor_paused
                if not paused and (
                    not delayed or ms[0].learner.leader_steps % cfg.policy_delay == 0
                ):
                    pi = pi + self._descend(actor, pi_fn, batch).double()
                    n_pi += 1
                    stepped = [actor, critic]
                for name in stepped:
                    src = [p.detach() for p in self.P[name].values()]
                    torch._foreach_lerp_(list(self.T[name].values()), src, cfg.tau)
                    self.sched[name].step()
            if n_updates:
                out[f"{side}_q_loss"] = q / n_updates
                out[f"{side}_pi_loss"] = pi / n_pi if n_pi else torch.full((K,), float("nan"))
        if L0.sides():
            for m in ms:
                m.learner.updates += max(cfg.leader_updates, cfg.follower_updates)
        if L0.leader_learns and L0.leader_paused:  # the columns of the epochs to come
            nan = torch.full((K,), float("nan"))
            out = {"leader_q_loss": nan, "leader_pi_loss": nan, **out}
        return out

    # --- evaluate: one environment, each member acting on its slice ----------------------
    def evaluate(self) -> list[dict]:
        """Each seed's evaluation episodes, on the shocks its run alone would use."""
        cfg, env, ms = self.cfg, self.eval_env, self.members
        K, E = len(ms), cfg.eval_episodes
        for k, m in enumerate(ms):
            env.gens[k].manual_seed(m.cfg.seed + EVAL_SEED_OFFSET)
        obs = env.reset()
        T = self.params.T if cfg.eval_steps is None else cfg.eval_steps
        ret_l = torch.zeros(env.n_envs)
        for _ in range(T):
            if self.acts_as_batch:
                noise = cfg.eval_noise_std
                u = self.act_all(obs, [noise] * K, noise, env.gens, False)
                a_l, a_f = self.L0.env_actions(*u)
            else:
                acts = []
                for k, m in enumerate(ms):
                    sl = self._sl(k, E)
                    o = Observation(obs.leader[sl], obs.households[sl])
                    acts.append(m.act(o, None, cfg.eval_noise_std, env.gens[k])[:2])
                a_l, a_f = torch.cat([a[0] for a in acts]), torch.cat([a[1] for a in acts])
            out = env.step(a_l, a_f)
            ret_l += torch.where(out.flows.active, out.leader_reward.float(), 0.0)
            obs = out.obs
            if bool(env.state.done.all()):
                break
        met = env.episode_metrics()
        res = []
        for k in range(K):
            sl = self._sl(k, E)
            r = {key: float(v[sl].double().mean()) for key, v in met.items()}
            r["years_min"] = float(met["years"][sl].min())
            r["leader_return"] = float(ret_l[sl].mean())
            res.append(r)
        return res

    # --- one epoch ---------------------------------------------------------------------
    def train_epoch(self) -> list[dict]:
        """One epoch for every seed; the K seeds' metrics (as the trainer's train_epoch)."""
        t0 = time.perf_counter()
        infos = self.collect()
        losses = self.update()
        self.scatter()
        t1 = time.perf_counter()
        if evaluated_epoch(self.epoch + 1, self.cfg.eval_every, self.n_epochs):
            evals = self.evaluate()
        else:
            evals = [dict.fromkeys(EVAL_KEYS, math.nan) for _ in self.members]
        t2 = time.perf_counter()
        self.epoch += 1
        out = []
        for k, (m, info, ev) in enumerate(zip(self.members, infos, evals, strict=True)):
            m.epoch = self.epoch
            row = dict(info)
            row.update({key: float(v[k]) for key, v in losses.items()})
            row.update(ev)
            row["train_s"], row["eval_s"] = t1 - t0, t2 - t1
            out.append(row)
        return out

    def policy_states(self) -> list[dict]:
        """Each seed's policy, as its run alone would save it."""
        self.scatter()
        return [copy.deepcopy(m.policy_state()) for m in self.members]


#: the name this class had when it batched SMFRL alone
BatchedSMFRL = BatchedTrainer

__all__ = ["BatchedTrainer", "BatchedSMFRL", "SeedsOutOfStep"]
