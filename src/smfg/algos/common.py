"""What every learning baseline shares beyond the networks of ``core.py``: the config fields
and profiles, the trainer's environments, evaluation and the run store's Trainer protocol,
the behaviour-cloned starting weights, and the fixed households of the paper's Table 2.

An algorithm file (``ddpg.py``, ``ppo.py``, ...) subclasses :class:`BaseConfig` with its own
fields and :class:`TrainerBase` with its ``collect``, ``update`` and ``act``; everything
around them (the environments, the epoch, the evaluation episodes, checkpointing of the
environment and generators) lives here once; the DDPG family, SMFRL included, shares its
``collect`` and update rules too (``offpolicy.py``).
"""

from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from smfg.algos.bc import make_network, pretrained_follower, train_all
from smfg.algos.core import HH_ACT, LEADER_ACT, gaussian_noise
from smfg.config import PROFILES, VARIANTS, EconomyParams, check_profile, economy_params
from smfg.economy.metrics import EpisodeMetrics
from smfg.economy.state import EconState
from smfg.env import (
    Observation,
    RunningNormalizer,
    SMFGEnv,
    check_reward_weights,
    reward_floor,
)

__all__ = [
    "EVAL_KEYS",
    "BaseConfig",
    "TrainerBase",
    "bc_network",
    "build_config",
    "config_from_spec",
    "env_state",
    "evaluated_epoch",
    "free_market_u",
    "load_env_state",
    "random_follower_u",
]

#: evaluation shocks come from a generator seeded with the run's seed plus this
EVAL_SEED_OFFSET = 7919

#: the columns an evaluation adds to an epoch's metrics (NaN in an epoch not evaluated)
EVAL_KEYS = (*EpisodeMetrics.NAMES, "years", "years_min", "leader_return")


def evaluated_epoch(epoch: int, every: int, n_epochs: int) -> bool:
    """Whether epoch ``epoch`` (counted from 1) of ``n_epochs`` is evaluated when a run
    evaluates every ``every`` epochs: the first, every ``every``-th and the last."""
    return epoch == 1 or epoch % every == 0 or epoch >= n_epochs


# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseConfig:
    """The fields every algorithm has (same names and defaults as ``SMFRLConfig``)."""

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
    bc: bool = False
    """Start the followers from behaviour cloning on survey data (the "-BC" settings)."""
    bc_epochs: int = 30
    """Epochs of behaviour cloning."""
    eval_episodes: int = 10
    """Evaluation episodes after each evaluated epoch (one batch)."""
    eval_every: int = 1
    """Evaluate after every this many epochs, and after the first and the last
    (:func:`evaluated_epoch`); the other epochs' evaluation columns are NaN and their
    ``eval_s`` 0. Training does not depend on it (the evaluation episodes run on their own
    environment, re-seeded each time): it saves the evaluations no page reads."""
    eval_steps: int | None = None
    """Evaluation episode cap (None: T)."""
    eval_noise_std: float = 0.01
    """Exploration noise during evaluation (the paper evaluated with noise)."""
    leader_reward: str = "gdp"
    """Leader reward (book:model-rewards)."""
    leader_reward_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """(a1, a2, a3) of the ``weighted`` leader reward, a1 Y/Y_prev + a2 (1 - wealth Gini) +
    a3 sum u (book:model-rewards); ignored by the other rewards."""
    reward_clip: float | None = 10.0
    """Household rewards the learners see are clipped to [-clip, clip] (None: unclipped);
    E25's utility is unbounded below, E12 (taxai) lies in (0, 1), unaffected."""
    leader_reward_clip: float | None = None
    """The same for the leader's reward (None: unclipped, the default)."""
    paper_quirks: bool = False
    """Restore the original's action mapping (book:learning-corrections)."""
    dtype: str = "float32"
    """Environment precision."""
    economy: dict = field(default_factory=dict)
    """Overrides of EconomyParams fields."""
    certify_every: int = 0
    """Certify the current policies every this many epochs (0: never; 'clearing' only): the
    epoch's metrics gain the followers' exploitability, the leader's gap and the years
    survived (``cert_*``, :mod:`smfg.runs.curves`)."""
    certify_settings: dict = field(default_factory=dict)
    """Overrides of the curve's certification settings (``CURVE_SETTINGS`` of
    :mod:`smfg.runs.curves`: burn_in, na, ne, grid_points, grid_na, leader), checked
    when the run's spec is built; empty unless ``certify_every`` > 0."""

    def _bad(self, name: str, allowed) -> None:
        raise ValueError(
            f"{type(self).__name__}.{name} = {getattr(self, name)!r} is out of range: "
            f"allowed {allowed}"
        )

    def _ints(self, names, low: int) -> None:
        for name in names:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                self._bad(name, f"an integer >= {low}")

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            self._bad("variant", VARIANTS)
        self._ints(("epochs", "steps_per_epoch", "eval_episodes", "eval_every"), 1)
        self._ints(("n_households",), 10)
        self._ints(("bc_epochs",), 0)
        if self.eval_steps is not None:
            self._ints(("eval_steps",), 1)
        if not 0.0 <= self.eval_noise_std <= 1.0:
            self._bad("eval_noise_std", "[0, 1]")
        for name in ("reward_clip", "leader_reward_clip"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                self._bad(name, "> 0 or None")
        # a JSON spec stores the weights as a list: the config holds a tuple
        object.__setattr__(
            self, "leader_reward_weights", check_reward_weights(self.leader_reward_weights)
        )
        # built once (validating the overrides); not a field, so asdict and a run's spec
        # and hash are what they were
        object.__setattr__(self, "_params", economy_params(self.variant, **self.economy))
        self._ints(("certify_every",), 0)
        if self.certify_every and self.variant != "clearing":
            self._bad("certify_every", "0 in 'taxai': certification is defined for 'clearing'")
        if not isinstance(self.certify_settings, dict):
            self._bad("certify_settings", "a dict of certification settings")
        if self.certify_settings and not self.certify_every:
            self._bad("certify_settings", "{} when certify_every = 0 (nothing is certified)")

    @property
    def params(self) -> EconomyParams:
        """The economy, ``economy_params(variant, **economy)``, built once with the config. Not a
        field: ``dataclasses.asdict``, and so a run's spec and hash, leave it out."""
        return self._params


def build_config(cls: type, settings: dict[str, dict], profile: str, **overrides):
    """``cls`` with the profile's ``settings`` and ``overrides`` by field name."""
    assert set(settings) == set(PROFILES), settings.keys()
    values = dict(settings[check_profile(profile)])
    names = {f.name for f in fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(
            f"{cls.__name__} has no field(s) {sorted(unknown)}: allowed {sorted(names)}"
        )
    values.update(overrides)
    return cls(**values)


def config_from_spec(cls: type, spec: dict):
    """Rebuild the config of a stored run spec (the run store keeps ``asdict(config)``)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in spec.items() if k in names})


# --- fixed households and the BC start ----------------------------------------------------


def free_market_u(n: int, paper_quirks: bool = False, low: float = 0.001) -> Tensor:
    """[n, 5] leader actor outputs that ``leader_env_action`` maps onto the free market
    (book:model-free-market, every number at the lower clip): the Rule-based leader of Table 2."""
    value = low if paper_quirks else 2.0 * low - 1.0
    return torch.full((n, LEADER_ACT), value)


def random_follower_u(E: int, H: int, gen: torch.Generator) -> Tensor:
    """The rule-based households of Table 2 in actor-output space: u = 2 U - 1 with U uniform
    on [0, 1), so that the corrected mapping (u + 1)/2 sends the uniform draws themselves."""
    return 2.0 * torch.rand((E, H, HH_ACT), generator=gen) - 1.0


@functools.lru_cache(maxsize=16)
def _bc_state(name: str, variant: str, params, epochs: int, seed: int) -> tuple[dict, dict]:
    res = train_all(variant, params, epochs=epochs, seed=seed, networks=(name,))[name]
    return res.state_dict, res.normalizer


def bc_network(name: str, variant: str, params, epochs: int, seed: int):
    """The behaviour-cloned network ``name`` of book:learning-bc and its normaliser (fresh copies).

    ``follower_actor`` (pi_f(s_f, a_l): MF-MARL, the fixed BC households) is SMFRL's
    ``pretrained_follower`` and shares its cache; ``maddpg_actor`` (pi_f(s_f): MADDPG, IDDPG)
    and ``lstm_gaussian`` (the AI-Economist households) are trained here on the same split.
    Targets always use the corrected action mapping (the original published no BC code).
    """
    if name == "follower_actor":
        return pretrained_follower(variant, params, epochs=epochs, seed=seed)
    sd, nsd = _bc_state(name, variant, params, int(epochs), int(seed))
    norm = RunningNormalizer(nsd["mean"].shape[0])
    norm.load_state_dict(nsd)
    with torch.random.fork_rng(devices=[]):  # building it must not move the global RNG
        net = make_network(name)
    net.load_state_dict(sd)
    return net, norm


# --- environment snapshots -----------------------------------------------------------------


def env_state(env: SMFGEnv) -> dict:
    """Everything of an environment a resume needs: state, generators, episode metrics."""
    return {
        "state": {f.name: getattr(env.state, f.name) for f in fields(env.state)},
        "gens": [g.get_state() for g in env.gens],
        "metrics": {"sums": dict(env.metrics.sums), "years": env.metrics.years},
    }


def load_env_state(env: SMFGEnv, d: dict) -> None:
    """The inverse of :func:`env_state`."""
    env.state = EconState(**d["state"])
    for g, s in zip(env.gens, d["gens"], strict=True):
        g.set_state(s)
    env.metrics.sums = {k: v.clone() for k, v in d["metrics"]["sums"].items()}
    env.metrics.years = d["metrics"]["years"].clone()


# --- the trainer ---------------------------------------------------------------------------


class TrainerBase:
    """The environment loop and the run store's Trainer protocol around an algorithm.

    A subclass sets ``algo`` and implements:

    - ``collect() -> dict`` and ``update() -> dict``: one epoch's experience and learning
      (both return the same keys every epoch);
    - ``act(obs, carry, noise_std, gen) -> (leader raw [E, 5], households raw [E, H, 2],
      carry)``: the current policy's environment actions for evaluation (``carry``: a
      recurrent state, None for feed-forward policies; ``initial_carry(E)`` starts it);
    - ``_state() / _load_state(d)``: its own part of the checkpoint;
    - ``policy_state() -> dict``: what evaluation needs.
    """

    algo = "base"

    def __init__(self, cfg: BaseConfig):
        self.cfg = cfg
        self.params = cfg.params
        N = cfg.n_households
        self.env = SMFGEnv(
            self.params,
            N,
            n_envs=getattr(cfg, "n_envs", 1),
            seed=cfg.seed,
            dtype=cfg.dtype,
            leader_reward=cfg.leader_reward,
            reward_weights=cfg.leader_reward_weights,
        )
        self.eval_env = SMFGEnv(
            self.params,
            N,
            n_envs=cfg.eval_episodes,
            seed=cfg.seed,
            dtype=cfg.dtype,
            leader_reward=cfg.leader_reward,
            reward_weights=cfg.leader_reward_weights,
        )
        self.eval_env.gens[0].manual_seed(cfg.seed + EVAL_SEED_OFFSET)  # other shocks
        self.gen = torch.Generator().manual_seed(cfg.seed + 104729)
        self.nonfinite = {"nonfinite_rewards": 0, "nonfinite_obs": 0}
        self.r_l_seen_min = math.inf
        self.obs = self.finite_obs(self.env.reset())
        self.epoch = 0
        self.n_epochs = cfg.epochs

    # what each algorithm provides ---------------------------------------------------------
    def collect(self) -> dict:
        raise NotImplementedError

    def update(self) -> dict:
        raise NotImplementedError

    def act(self, obs: Observation, carry, noise_std: float, gen: torch.Generator):
        raise NotImplementedError

    def initial_carry(self, E: int):
        return None

    def _state(self) -> dict:
        raise NotImplementedError

    def _load_state(self, d: dict) -> None:
        raise NotImplementedError

    def policy_state(self) -> dict:
        raise NotImplementedError

    # shared --------------------------------------------------------------------------------
    def rewards(self, r_l: Tensor, r_f: Tensor) -> tuple[Tensor, Tensor]:
        """The rewards the learners see: float32, finite, clipped as configured.

        The step on which an economy breaks down can pay a NaN or infinite reward
        (book:model-termination ends the episode on it; e.g. ``gdp`` divides by a vanished capital).
        One such value turns a critic, and then its actor, into NaN for good, so the leader's
        becomes the reward's floor (:func:`smfg.env.reward_floor`; without one, the lowest finite
        reward seen so far, or -100 before any) and a household's the lowest utility it can be paid
        (the lower clip, or 0, E12's infimum). Replacements are counted (``nonfinite``)."""
        cfg = self.cfg
        low = self.household_floor()
        r_l, r_f = r_l.float(), r_f.float()
        ok_l, ok_f = torch.isfinite(r_l), torch.isfinite(r_f)
        bad = int((~ok_l).sum()) + int((~ok_f).sum())
        if bool(ok_l.any()):
            self.r_l_seen_min = min(self.r_l_seen_min, float(r_l[ok_l].min()))
        if bad:
            self.nonfinite["nonfinite_rewards"] += bad
            floor = reward_floor(cfg.leader_reward, 1.0, cfg.leader_reward_weights)
            if floor is None:
                floor = self.r_l_seen_min if math.isfinite(self.r_l_seen_min) else -100.0
            r_l = torch.where(ok_l, r_l, floor)
            r_f = torch.nan_to_num(r_f, nan=low, neginf=low)
        if cfg.reward_clip is not None:
            r_f = r_f.clamp(-cfg.reward_clip, cfg.reward_clip)
        if cfg.leader_reward_clip is not None:
            r_l = r_l.clamp(-cfg.leader_reward_clip, cfg.leader_reward_clip)
        return r_l, r_f

    def household_floor(self) -> float:
        """A household's lowest reward: 0 in 'taxai' (E12's utility lies in (0, 1)); in
        'clearing' (E25's is unbounded below) the lower reward clip, or -10 without one."""
        if self.params.variant == "taxai":
            return 0.0
        return -self.cfg.reward_clip if self.cfg.reward_clip is not None else -10.0

    def finite_obs(self, obs: Observation) -> Observation:
        """Observations with NaN as 0 and infinities as +-1e30 (signed_log: +-69), counted
        (a failed economy's last state can hold them)."""
        lo, ho = obs.leader, obs.households
        bad = int((~torch.isfinite(lo)).sum()) + int((~torch.isfinite(ho)).sum())
        if not bad:
            return obs
        self.nonfinite["nonfinite_obs"] += bad
        fix = functools.partial(torch.nan_to_num, nan=0.0, posinf=1e30, neginf=-1e30)
        return Observation(fix(lo), fix(ho))

    def take_nonfinite(self) -> dict:
        """The replacement counts since the last call (reset to 0)."""
        out, self.nonfinite = self.nonfinite, dict.fromkeys(self.nonfinite, 0)
        return out

    def evaluate(self) -> dict:
        """Batched evaluation episodes with the current policies (normalisers frozen).

        Every evaluation runs on the same shocks (the run's households, shocks seeded by
        ``seed + EVAL_SEED_OFFSET``): epochs are compared on common random numbers."""
        cfg, env = self.cfg, self.eval_env
        env.gens[0].manual_seed(cfg.seed + EVAL_SEED_OFFSET)  # every epoch on the same shocks
        obs = env.reset()
        carry = self.initial_carry(env.n_envs)
        T = self.params.T if cfg.eval_steps is None else cfg.eval_steps
        ret_l = torch.zeros(env.n_envs)
        for _ in range(T):
            a_l, a_f, carry = self.act(obs, carry, cfg.eval_noise_std, env.gens[0])
            out = env.step(a_l, a_f)
            ret_l += torch.where(out.flows.active, out.leader_reward.float(), 0.0)
            obs = out.obs
            if bool(env.state.done.all()):
                break
        m = env.episode_metrics()
        res = {k: float(v.double().mean()) for k, v in m.items()}
        res["years_min"] = float(m["years"].min())
        res["leader_return"] = float(ret_l.mean())
        return res

    def train_epoch(self) -> dict:
        t0 = time.perf_counter()
        info = self.collect()
        info.update(self.update())
        t1 = time.perf_counter()
        if evaluated_epoch(self.epoch + 1, self.cfg.eval_every, self.n_epochs):
            info.update(self.evaluate())
        else:
            info.update(dict.fromkeys(EVAL_KEYS, math.nan))
        info["train_s"] = t1 - t0
        info["eval_s"] = time.perf_counter() - t1
        self.epoch += 1
        return info

    def state_dict(self) -> dict:
        """Everything a resume needs, as copies (training on does not change it)."""
        return copy.deepcopy(
            {
                "epoch": self.epoch,
                "gen": self.gen.get_state(),
                "env": env_state(self.env),
                "eval_gen": self.eval_env.gens[0].get_state(),
                "obs": (self.obs.leader, self.obs.households),
                "algo_state": self._state(),
                "r_l_seen_min": self.r_l_seen_min,
            }
        )

    def load_state_dict(self, d: dict) -> None:
        self.epoch = int(d["epoch"])
        self.gen.set_state(d["gen"])
        load_env_state(self.env, d["env"])
        self.eval_env.gens[0].set_state(d["eval_gen"])
        self.obs = Observation(*d["obs"])
        self._load_state(d["algo_state"])
        self.r_l_seen_min = float(d.get("r_l_seen_min", math.inf))

    def _policy_header(self) -> dict:
        return {"algo": self.algo, "config": asdict(self.cfg)}


def module_states(mods: dict[str, nn.Module | None]) -> dict:
    """State dicts of the modules that exist."""
    return {k: m.state_dict() for k, m in mods.items() if m is not None}


def exploration(u: Tensor, std: float, gen: torch.Generator, per_household: bool = False):
    """u + N(0, std^2) clipped to [-1, 1]: one draw per action dimension and economy (shared
    by the households of an economy, book:learning-smfrl-defaults) unless ``per_household``."""
    if std <= 0:
        return u
    shape = u.shape if per_household or u.ndim < 3 else (u.shape[0], 1, u.shape[-1])
    return (u + gaussian_noise(shape, std, gen)).clamp(-1.0, 1.0)
