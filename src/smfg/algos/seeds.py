"""K seeds of SMFRL trained as one batched model, in one process.

A seed's run is dominated by thousands of small tensor operations (networks of 128 units,
batches of 128, economies of 100 households), each paying a fixed dispatch cost, so K seeds
run one after the other cost K times one seed. Here the K seeds' networks are stacked
(every parameter gets a leading dimension K), each update evaluates the K seeds' losses in
one pass (each Linear layer one batched matrix product), one fused Adam steps all K (Adam is
elementwise, so a stacked Adam is K independent ones), and the K economies step as one
multi-seed environment.

The K seeds are K ordinary :class:`~smfg.algos.smfrl.SMFRLTrainer` objects, the
*members*: they build the networks (same initialisation, same behaviour-cloning start),
own the replay buffers, normalisers and random generators, and draw every batch exactly as
a run alone would. The batched trainer holds only the stacked parameters, optimiser and
environment while it trains; :meth:`BatchedSMFRL.scatter` writes them back into the members,
whose ``state_dict`` and ``policy_state`` are then those of single-seed runs (the run store
checkpoints each seed in its own directory), and :meth:`BatchedSMFRL.gather` builds the
batch from members (a fresh start or K resumed checkpoints).

Equality with separate runs: every random draw is the same, but a batched matrix product
may round differently from K separate ones, and training amplifies the last bits; the test
states the tolerance after two epochs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import fields, replace

import torch
from torch import Tensor, nn

from smfg.algos import smfrl
from smfg.algos.core import (
    HH_OBS,
    LEADER_ACT,
    Critic,
    DeterministicActor,
    FollowerActor,
    MeanFieldCritic,
    gaussian_noise,
    signed_log,
)
from smfg.algos.smfrl import SMFRLConfig, SMFRLTrainer
from smfg.env import SMFGEnv

NETS = ("actor_l", "critic_l", "actor_f", "critic_f")


class SeedsOutOfStep(ValueError):
    """The seeds' trainers are at different epochs (e.g. resumed from different checkpoints)."""


# --- the four networks on stacked parameters ------------------------------------------
# Each forward is the module's own, written once more for weights with a leading seed
# dimension K: a Linear layer becomes one batched matrix product (baddbmm) over the K seeds.


def _linear(P: dict, name: str, x: Tensor) -> Tensor:
    """x [K, ..., d_in] through the K seeds' Linear ``name`` -> [K, ..., d_out]."""
    W, b = P[name + ".weight"], P[name + ".bias"]
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    return torch.baddbmm(b.unsqueeze(1), flat, W.transpose(1, 2)).reshape(*x.shape[:-1], W.shape[1])


def _mlp(P: dict, prefix: str, seq: nn.Sequential, x: Tensor) -> Tensor:
    for i, layer in enumerate(seq):
        if isinstance(layer, nn.Linear):
            x = _linear(P, f"{prefix}{i}", x)
        elif isinstance(layer, nn.ReLU):
            x = torch.relu(x)
        elif isinstance(layer, nn.Tanh):
            x = torch.tanh(x)
        else:
            raise TypeError(f"no batched form of {type(layer).__name__}")
    return x


def _actor_l(m: DeterministicActor, P: dict, s_l: Tensor) -> Tensor:
    return _mlp(P, "net.", m.net, s_l)


def _critic(m: Critic, P: dict, *inputs: Tensor) -> Tensor:
    return _mlp(P, "net.", m.net, torch.cat(inputs, -1)).squeeze(-1)


def _actor_f(m: FollowerActor, P: dict, s_f: Tensor, a_l: Tensor) -> Tensor:
    h_obs = _mlp(P, "obs.", m.obs, s_f)
    h_l = _mlp(P, "leader.", m.leader, a_l)
    W, b = P["head.0.weight"], P["head.0.bias"]
    k = h_obs.shape[-1]
    w_obs, w_l = W[..., :k].transpose(1, 2), W[..., k:].transpose(1, 2)
    flat = h_obs.reshape(h_obs.shape[0], -1, k)
    out_obs = torch.baddbmm(b.unsqueeze(1), flat, w_obs).reshape(*h_obs.shape[:-1], -1)
    out_l = torch.bmm(h_l.reshape(h_l.shape[0], -1, k), w_l).reshape(*h_l.shape[:-1], -1)
    return torch.tanh(out_obs + out_l)


def _critic_f(m: MeanFieldCritic, P: dict, s_f, a_f, a_l, mf) -> Tensor:
    parts = [
        _mlp(P, "s.", m.s, s_f),
        _mlp(P, "a.", m.a, a_f),
        _mlp(P, "ms.", m.ms, mf[..., :HH_OBS]),
        _mlp(P, "ma.", m.ma, mf[..., HH_OBS:]),
    ]
    if m.l is not None:
        parts.append(_mlp(P, "l.", m.l, a_l))
    return _mlp(P, "head.", m.head, torch.cat(parts, -1)).squeeze(-1)


_FORWARD = {"actor_l": _actor_l, "critic_l": _critic, "actor_f": _actor_f, "critic_f": _critic_f}


class _Stacked:
    """The four networks as callables on [K, ...] inputs with stacked parameters ``params``
    (the modules give only the architecture)."""

    def __init__(self, modules: dict, params: dict):
        for name, module in modules.items():
            setattr(self, name, _bind(_FORWARD[name], module, params[name]))


def _bind(forward, module, params):
    return lambda *args: forward(module, params, *args)


class BatchedSMFRL:
    """Train SMFRL for several seeds at once; each seed ends as its run alone would."""

    algo = "smfrl"

    def __init__(
        self, cfg: SMFRLConfig, seeds: Sequence[int], members: list[SMFRLTrainer] | None = None
    ):
        """The batch of ``cfg`` with each of ``seeds``; ``members``: their trainers, already
        built (and perhaps resumed from checkpoints), else fresh ones."""
        seeds = [int(s) for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds = {seeds!r}: allowed a non-empty list of distinct integers")
        self.cfg = cfg
        self.seeds = seeds
        if members is None:
            members = [SMFRLTrainer(replace(cfg, seed=s)) for s in seeds]
        if [replace(m.cfg, seed=0) for m in members] != [replace(cfg, seed=0)] * len(seeds) or [
            m.cfg.seed for m in members
        ] != seeds:
            raise ValueError("members must be trainers of cfg with the given seeds, in order")
        self.members = members
        m0 = self.members[0]
        self.params = m0.params
        self.n_epochs = cfg.epochs
        N, K = cfg.n_households, len(seeds)
        self.env = SMFGEnv(self.params, N, n_envs=K, seed=seeds, dtype=cfg.dtype,
                           leader_reward=cfg.leader_reward,
                           reward_weights=cfg.leader_reward_weights)  # fmt: skip
        self.eval_env = SMFGEnv(self.params, N, n_envs=K * cfg.eval_episodes, seed=seeds,
                                dtype=cfg.dtype, leader_reward=cfg.leader_reward,
                           reward_weights=cfg.leader_reward_weights)  # fmt: skip
        # the modules give the stacked forwards their architecture
        self.modules = {n: getattr(m0.nets, n) for n in NETS}
        self.gather()

    # --- members <-> batch -------------------------------------------------------------
    def gather(self) -> None:
        """Stack the members' parameters, targets, optimiser states and economies."""
        ms = self.members
        self.epoch, self.updates = ms[0].epoch, ms[0].updates
        if any((m.epoch, m.updates) != (self.epoch, self.updates) for m in ms):
            raise SeedsOutOfStep(
                f"members at epochs {[m.epoch for m in ms]}: they cannot train as one batch"
            )

        def stack(get):
            return {
                n: {p: torch.stack([get(m, n)[p].detach() for m in ms]) for p in get(ms[0], n)}
                for n in NETS
            }

        self.P = stack(lambda m, n: dict(getattr(m.nets, n).named_parameters()))
        self.T = stack(lambda m, n: dict(getattr(m.targets, n).named_parameters()))
        for group in self.P.values():
            for t in group.values():
                t.requires_grad_(True)
        self.opt, self.sched = {}, {}
        for n in NETS:
            g = ms[0].opt[n].param_groups[0]
            self.opt[n] = torch.optim.Adam(list(self.P[n].values()), lr=g["lr"], betas=g["betas"],
                                           eps=g["eps"], fused=True)  # fmt: skip
            sd = ms[0].opt[n].state_dict()
            states = [m.opt[n].state_dict()["state"] for m in ms]
            sd["state"] = {
                i: {k: (v if k == "step" else torch.stack([s[i][k] for s in states]))
                    for k, v in states[0][i].items()}
                for i in states[0]
            }  # fmt: skip
            self.opt[n].load_state_dict(sd)
            self.sched[n] = torch.optim.lr_scheduler.StepLR(
                self.opt[n], self.cfg.lr_decay_every, self.cfg.lr_decay
            )
            self.sched[n].load_state_dict(ms[0].sched[n].state_dict())
        st = {f.name: torch.cat([getattr(m.env.state, f.name) for m in ms]) for f in
              fields(ms[0].env.state)}  # fmt: skip
        self.env.state = type(ms[0].env.state)(**st)
        for k, m in enumerate(ms):
            self.env.gens[k].set_state(m.env.gens[0].get_state())
        self.env.metrics.sums = {k: torch.cat([m.env.metrics.sums[k] for m in ms])
                                 for k in ms[0].env.metrics.sums}  # fmt: skip
        self.env.metrics.years = torch.cat([m.env.metrics.years for m in ms])
        self.obs = type(ms[0].obs)(
            torch.cat([m.obs.leader for m in ms]), torch.cat([m.obs.households for m in ms])
        )

    def scatter(self) -> None:
        """Write the batch back into the members (each then holds its seed's full state)."""
        for k, m in enumerate(self.members):
            m.epoch, m.updates = self.epoch, self.updates
            for n in NETS:
                with torch.no_grad():
                    for p, t in getattr(m.nets, n).named_parameters():
                        t.copy_(self.P[n][p][k])
                    for p, t in getattr(m.targets, n).named_parameters():
                        t.copy_(self.T[n][p][k])
                sd = self.opt[n].state_dict()
                sd["state"] = {
                    i: {key: (v if key == "step" else v[k].clone()) for key, v in st.items()}
                    for i, st in sd["state"].items()
                }
                m.opt[n].load_state_dict(sd)
                m.sched[n].load_state_dict(self.sched[n].state_dict())
            st = {f.name: getattr(self.env.state, f.name)[k : k + 1].clone()
                  for f in fields(self.env.state)}  # fmt: skip
            m.env.state = type(self.env.state)(**st)
            m.env.gens[0].set_state(self.env.gens[k].get_state())
            m.env.metrics.sums = {key: v[k : k + 1].clone()
                                  for key, v in self.env.metrics.sums.items()}  # fmt: skip
            m.env.metrics.years = self.env.metrics.years[k : k + 1].clone()
            m.obs = type(self.obs)(
                self.obs.leader[k : k + 1].clone(), self.obs.households[k : k + 1].clone()
            )

    # --- acting ------------------------------------------------------------------------
    def _act(self, leader_obs: Tensor, hh_obs: Tensor, noise: list) -> tuple[Tensor, Tensor]:
        """Actions of K groups of E economies: leader [K E, 5], followers [K E, H, 2]."""
        K = len(self.members)
        lo = signed_log(leader_obs.float()).unflatten(0, (K, -1))
        ho = signed_log(hh_obs.float()).unflatten(0, (K, -1))
        s_l = torch.stack([m.nets.norm_l(lo[k]) for k, m in enumerate(self.members)])
        s_f = torch.stack([m.nets.norm_f(ho[k]) for k, m in enumerate(self.members)])
        n_l = torch.stack([n[0] for n in noise])
        n_f = torch.stack([n[1] for n in noise])
        nets = _Stacked(self.modules, self.P)
        with torch.no_grad():
            u_l = (nets.actor_l(s_l) + n_l).clamp(-1.0, 1.0)
            u_f = (nets.actor_f(s_f, u_l.unsqueeze(-2)) + n_f).clamp(-1.0, 1.0)
        return u_l.flatten(0, 1), u_f.flatten(0, 1)

    # --- collect -----------------------------------------------------------------------
    def collect(self) -> dict:
        cfg, env = self.cfg, self.env
        done_count = torch.zeros(len(self.members), dtype=torch.long)
        for _ in range(cfg.steps_per_epoch):
            lo, ho = self.obs.leader, self.obs.households
            noise = [m._noise(1, cfg.noise_std, m.gen) for m in self.members]
            u_l, u_f = self._act(lo, ho, noise)
            out = env.step(smfrl.leader_env_action(u_l, cfg.paper_quirks),
                           smfrl.follower_env_action(u_f, cfg.paper_quirks))  # fmt: skip
            l_obs, h_obs = signed_log(lo.float()), signed_log(ho.float())
            l_next = signed_log(out.obs.leader.float())
            h_next = signed_log(out.obs.households.float())
            r_l, r_f = out.leader_reward.float(), out.household_reward.float()
            if cfg.reward_clip is not None:
                r_f = r_f.clamp(-cfg.reward_clip, cfg.reward_clip)
            if cfg.leader_reward_clip is not None:
                r_l = r_l.clamp(-cfg.leader_reward_clip, cfg.leader_reward_clip)
            mf = torch.cat([h_obs.mean(1), u_f.mean(1)], -1)
            mf_next = torch.cat([h_next.mean(1), torch.zeros_like(u_f[:, 0])], -1)
            done = out.done.float()
            for k, m in enumerate(self.members):
                sl = slice(k, k + 1)
                m.buf.add(
                    l_obs=l_obs[sl], l_act=u_l[sl], l_rew=r_l[sl], l_next=l_next[sl],
                    h_obs=h_obs[sl], h_act=u_f[sl], h_rew=r_f[sl], h_next=h_next[sl],
                    mf=mf[sl], mf_next=mf_next[sl], done=done[sl],
                )  # fmt: skip
                m.nets.norm_l.update(l_obs[sl])
                m.nets.norm_f.update(h_obs[sl])
            self.obs = out.obs
            if bool(out.done.any()):
                done_count += out.done.long()
                self.obs = env.reset(mask=out.done)
        return {"episodes_ended": done_count}

    # --- update ------------------------------------------------------------------------
    def _descend(self, names: tuple[str, str], loss_fn, batches: list[dict], step: str):
        """One optimiser step of network ``step`` on the K seeds' losses; [K] losses."""
        batch = {key: torch.stack([b[key] for b in batches]) for key in batches[0]}
        mods = {n: self.modules[n] for n in names}
        losses = loss_fn(_Stacked(mods, self.P), _Stacked(mods, self.T), batch)
        self.opt[step].zero_grad()
        losses.sum().backward()  # seeds share no parameter: each gets its own gradient
        self.opt[step].step()
        return losses.detach()

    def update(self) -> dict:
        cfg, out = self.cfg, {}
        gamma = cfg.gamma
        sides = (
            ("leader", cfg.leader_updates, smfrl.leader_batch, ("actor_l", "critic_l"),
             lambda n, t, b: smfrl.leader_critic_loss(n, t, b, gamma),
             lambda n, t, b: smfrl.leader_actor_loss(n, b)),
            ("follower", cfg.follower_updates, smfrl.follower_batch, ("actor_f", "critic_f"),
             lambda n, t, b: smfrl.follower_critic_loss(n, t, b, gamma),
             lambda n, t, b: smfrl.follower_actor_loss(n, b)),
        )  # fmt: skip
        needs = {"leader": ("actor_l", "critic_l", "actor_f"), "follower": NETS}
        for side, n_updates, make_batch, (actor, critic), q_fn, pi_fn in sides:
            q = pi = torch.zeros(len(self.members), dtype=torch.float64)
            for _ in range(n_updates):
                batches = [make_batch(m.nets, m.buf, cfg, m.gen) for m in self.members]
                q = q + self._descend(needs[side], q_fn, batches, critic).double()
                pi = pi + self._descend(needs[side], pi_fn, batches, actor).double()
                for name in (actor, critic):
                    src = [p.detach() for p in self.P[name].values()]
                    torch._foreach_lerp_(list(self.T[name].values()), src, cfg.tau)
                    self.sched[name].step()
            if n_updates:
                out[f"{side}_q_loss"], out[f"{side}_pi_loss"] = q / n_updates, pi / n_updates
        self.updates += max(cfg.leader_updates, cfg.follower_updates)
        return out

    # --- evaluate ----------------------------------------------------------------------
    def evaluate(self) -> list[dict]:
        """Each seed's evaluation episodes, on the shocks its run alone would use."""
        cfg, env = self.cfg, self.eval_env
        K, E = len(self.members), cfg.eval_episodes
        for k, m in enumerate(self.members):
            env.gens[k].manual_seed(m.cfg.seed + smfrl.EVAL_SEED_OFFSET)
        obs = env.reset()
        T = self.params.T if cfg.eval_steps is None else cfg.eval_steps
        ret_l = torch.zeros(env.n_envs)
        for _ in range(T):
            noise = [
                (gaussian_noise((E, LEADER_ACT), cfg.eval_noise_std, g),
                 gaussian_noise((E, 1, smfrl.HH_ACT), cfg.eval_noise_std, g))
                for g in env.gens
            ]  # fmt: skip
            u_l, u_f = self._act(obs.leader, obs.households, noise)
            out = env.step(smfrl.leader_env_action(u_l, cfg.paper_quirks),
                           smfrl.follower_env_action(u_f, cfg.paper_quirks))  # fmt: skip
            ret_l += torch.where(out.flows.active, out.leader_reward.float(), 0.0)
            obs = out.obs
            if bool(env.state.done.all()):
                break
        m = env.episode_metrics()
        res = []
        for k in range(K):
            sl = slice(k * E, (k + 1) * E)
            r = {key: float(v[sl].double().mean()) for key, v in m.items()}
            r["leader_return"] = float(ret_l[sl].mean())
            res.append(r)
        return res

    # --- one epoch ---------------------------------------------------------------------
    def train_epoch(self) -> list[dict]:
        """One epoch for every seed; the K seeds' metrics (as SMFRLTrainer.train_epoch's)."""
        t0 = time.perf_counter()
        info = self.collect()
        losses = self.update()
        t1 = time.perf_counter()
        evals = self.evaluate()
        t2 = time.perf_counter()
        self.epoch += 1
        out = []
        for k, ev in enumerate(evals):
            row = {"episodes_ended": int(info["episodes_ended"][k])}
            row.update({key: float(v[k]) for key, v in losses.items()})
            row.update(ev)
            row["train_s"], row["eval_s"] = t1 - t0, t2 - t1
            out.append(row)
        return out

    def policy_states(self) -> list[dict]:
        """Each seed's policy, as its run alone would save it."""
        self.scatter()
        return [copy.deepcopy(m.policy_state()) for m in self.members]


__all__ = ["BatchedSMFRL", "SeedsOutOfStep"]
