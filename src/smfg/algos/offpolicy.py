"""The DDPG family of the paper's Table 2, written once: who learns, and what each critic sees.

Every row below is one small file (``rule_based.py``, ``ddpg.py``, ``iddpg.py``,
``maddpg.py``, ``mfmarl.py``) that subclasses :class:`Learner` with its networks and the
extra inputs of its critics. The trainer and the evaluation policy are here; the settings
(:class:`OffPolicyConfig`, its profiles) in ``offpolicy_config.py``; acting, replay, the update
rules (:class:`Learner`) in ``offpolicy_learner.py``; the networks beyond the shared core in
``offpolicy_nets.py``. Every name is importable from here.

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

import torch
from torch import Tensor

from smfg.algos.common import TrainerBase, config_from_spec
from smfg.algos.core import LEADER_ACT, leader_env_action
from smfg.algos.offpolicy_config import (
    HOUSEHOLD_FOLLOWERS,
    LEADER_METHODS,
    PROFILES,
    STABLE_LEADER,
    OffPolicyConfig,
)
from smfg.algos.offpolicy_learner import Learner
from smfg.algos.offpolicy_nets import ObsActor as ObsActor
from smfg.algos.offpolicy_nets import TwinCritic, start_at
from smfg.algos.offpolicy_nets import frozen as frozen
from smfg.env import Observation

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
