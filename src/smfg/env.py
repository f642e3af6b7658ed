"""A batched environment around ``economy.step``: reset, step, observations, rewards, metrics.

E economies of H households run in one batch. The leader observes six population summaries
(book:model-observations), each household its own ability and assets; rewards follow
book:model-rewards. The environment holds no economics of its own: everything it reports comes
from ``smfg.economy``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from smfg.config import EconomyParams, check_dtype
from smfg.economy import metrics as M
from smfg.economy.data import HouseholdTable
from smfg.economy.government import GovAction
from smfg.economy.household import (
    check_household_action,
    clip_household_action,
    consumption_equivalent,
)
from smfg.economy.state import (
    EconState,
    Shocks,
    concat_households,
    draw_households,
    draw_shocks,
    initial_output,
    reset_state,
)
from smfg.economy.step import TIME_LIMIT, Flows, step

LEADER_REWARDS = ("gdp", "gini", "welfare", "gdp_gini", "weighted", "output", "welfare_ce")
#: Rewards that pay the level being optimised each period (so that surviving is worth
#: something): a step's value is never below 0, the value of an economy that has ended.
LEVEL_REWARDS = ("output", "welfare_ce")
LEADER_OBS_NAMES = (
    "top10_wealth",
    "top10_income",
    "top10_ability",
    "bottom50_wealth",
    "bottom50_income",
    "bottom50_ability",
)


def leader_observation(state: EconState) -> Tensor:
    """The leader's six numbers in the original order (book:model-observations): [E, 6].

    Wealth is the post-step assets a', income the step's pre-tax income, ability the e used
    in the step; top 10% are the floor(0.1 N) largest, bottom 50% the N - floor(0.5 N)
    smallest. Means of wealth and income come from the state's sorted copies (exact whatever
    the ties); ability by income rank uses :func:`smfg.economy.metrics.companion_mean`.
    """
    H = state.n_households
    k_top, k_bottom = H // 10, H - H // 2
    w_top, w_bottom = M.top_bottom_sums(state.a_sorted, k_top, k_bottom)
    i_top, i_bottom = M.top_bottom_sums(state.income_sorted, k_top, k_bottom)
    e_top = M.companion_mean(
        state.income, state.e, state.income_sorted[:, H - k_top], k_top, top=True
    )
    e_bottom = M.companion_mean(
        state.income, state.e, state.income_sorted[:, k_bottom - 1], k_bottom, top=False
    )
    return torch.stack(
        [w_top / k_top, i_top / k_top, e_top, w_bottom / k_bottom, i_bottom / k_bottom, e_bottom],
        -1,
    )


def household_observation(state: EconState) -> Tensor:
    """Each household's own ability and assets, in that order (book:model-observations):
    [E, H, 2]."""
    return torch.stack([state.e, state.a], -1)


def mean_field(hh_obs: Tensor, hh_action: Tensor) -> Tensor:
    """The mean field L_f: means over households of observation and action
    (book:model-observations).

    hh_obs: [..., H, 2] (normalised), hh_action: [..., H, 2] -> [..., 4]. A function so that
    richer summaries (quantiles, histograms) can replace it.
    """
    return torch.cat([hh_obs.mean(-2), hh_action.mean(-2)], -1)


class RunningNormalizer(nn.Module):
    """Running mean/variance normaliser, part of a policy and saved with it
    (book:model-observations).

    ``update(x)`` folds a batch ([..., D]) into the statistics (Chan et al.'s parallel
    algorithm); ``forward(x)`` returns (x - mean) / (std + eps) and never updates, so an
    evaluation uses the statistics the policy was trained with.
    """

    def __init__(self, dim: int, eps: float = 1e-8, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim, dtype=dtype))
        self.register_buffer("var", torch.ones(dim, dtype=dtype))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        x = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
        if torch.isnan(x).any():
            raise ValueError("RunningNormalizer.update got NaN: allowed finite observations")
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(0)
        b_var = x.var(0, unbiased=False)
        tot = self.count + n
        delta = b_mean - self.mean
        w = float(n / tot)
        self.mean += delta * w
        m2 = self.var * float(self.count) + b_var * n + delta.pow(2) * float(self.count * n / tot)
        self.var.copy_(m2 / float(tot))
        self.count.fill_(float(tot))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(x.dtype)) / (self.var.to(x.dtype).sqrt() + self.eps)


def check_reward_weights(weights) -> tuple[float, float, float]:
    """The weights (a1, a2, a3) of the ``weighted`` leader reward (a sequence, or a string
    "a1,a2,a3" as a notebook parameter gives them) as a tuple of three finite floats;
    ValueError naming the value otherwise."""
    try:
        parts = weights.split(",") if isinstance(weights, str) else weights
        out = tuple(float(w) for w in parts)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or not all(math.isfinite(w) for w in out):
        raise ValueError(
            f"leader_reward_weights = {weights!r}: allowed three finite numbers (a1, a2, a3): "
            "the weights of output growth, equality and welfare"
        )
    return out  # type: ignore[return-value]


def reward_floor(
    name: str, gini_weight: float = 1.0, weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> float | None:
    """The lowest per-step value of leader reward ``name``, where it has one (None: none).

    ``gdp``: -100 (all capital lost); ``gdp_gini``: -1 - gini_weight (output lost, both Ginis
    at 1); the level rewards: 0 (nothing produced or consumed). ``gini``, ``welfare`` (E25's
    utility is unbounded below) and ``weighted`` have none: a learner then uses the lowest
    reward it has seen (:class:`smfg.algos.offpolicy.Learner`).
    """
    floors = {"gdp": -100.0, "gdp_gini": -1.0 - gini_weight, "output": 0.0, "welfare_ce": 0.0}
    return floors.get(name)


def leader_reward(
    name: str,
    before: EconState,
    flows: Flows,
    gini_weight: float = 1.0,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    params: EconomyParams | None = None,
) -> Tensor:
    """The leader's reward by name (book:model-rewards, and two level rewards,
    book:level-rewards): [E].

    - ``gdp``: capital growth in percent, 100 (K' - K)/K (the paper's headline runs).
    - ``gini``: 100 x the sum of the relative reductions, pre-tax to post-tax, of the income
      Gini and of the wealth Gini.
    - ``welfare``: sum of utilities.
    - ``gdp_gini``: growth of per-capita GDP minus ``gini_weight`` x wealth Gini x income Gini.
    - ``weighted``: a1 Y/Y_prev + a2 (1 - wealth Gini) + a3 sum u, with (a1, a2, a3) =
      ``weights``: output relative to last period, equality, welfare.
    - ``output``: output per household relative to the start, Y / Y0 (needs ``params``).
    - ``welfare_ce``: utilitarian welfare in consumption units relative to the start's output
      per household: the consumption equivalent of the mean utility
      (:func:`smfg.economy.household.consumption_equivalent`) over Y0 / N (needs ``params``).
    """
    if name == "gdp":
        return 100.0 * (flows.K_next - flows.K) / flows.K
    if name == "gini":
        g_i0, g_a0 = M.gini(flows.income), M.gini(before.a)
        d_i = (g_i0 - flows.income_gini) / g_i0
        d_a = (g_a0 - flows.wealth_gini) / g_a0
        return 100.0 * (d_i + d_a)
    if name == "welfare":
        return flows.u.sum(-1)
    if name == "gdp_gini":
        growth = (flows.Y - before.Y_prev) / before.Y_prev
        return growth - gini_weight * flows.wealth_gini * flows.income_gini
    if name == "weighted":
        a1, a2, a3 = weights
        return a1 * flows.Y / before.Y_prev + a2 * (1.0 - flows.wealth_gini) + a3 * flows.u.sum(-1)
    if name in LEVEL_REWARDS:
        if params is None:
            raise ValueError(f"leader_reward = {name!r} needs the economy's params")
        H = flows.u.shape[-1]
        y0 = initial_output(params, H) / H
        if name == "output":
            return flows.Y / (y0 * H)
        return consumption_equivalent(flows.u.mean(-1), params) / y0
    raise ValueError(f"leader_reward = {name!r} is not known: allowed {LEADER_REWARDS}")


#: How :meth:`SMFGEnv.step` runs the period: ``eager``, op by op (the reference), or
#: ``compiled``, the economy step, the observations and the leader's reward as one graph of
#: ``torch.compile`` (inductor, one compilation per shape, variant and dtype; eager again, with a
#: warning, where compilation fails). Compiled results equal eager ones to rounding, not bit for
#: bit: inductor's log and exp differ from ATen's in the last bit and its sums add in another
#: order (tests/test_step_compiled.py states the tolerances).
STEP_IMPLS = ("eager", "compiled")


def _step_core(
    state: EconState,
    leader_action: Tensor | GovAction,
    household_action: Tensor,
    shocks: Shocks,
    params: EconomyParams,
    reward: str,
    gini_weight: float,
    weights: tuple[float, float, float],
) -> tuple:
    """One period and all the environment reports of it: (next state, flows, leader
    observation [E, 6], household observation [E, H, 2], leader reward [E], the metrics' step
    values [4, E], done now [E], terminated [E]). Actions raw (E1, book:model-actions) or a
    GovAction."""
    gov = leader_action
    if not isinstance(gov, GovAction):
        gov = GovAction.from_raw(leader_action, params)
    s, f = clip_household_action(household_action, params)
    new, flows = step(state, gov, s, f, shocks, params)
    r = leader_reward(reward, state, flows, gini_weight, weights, params)
    done_now = flows.active & flows.done
    terminated = done_now & ((flows.terminated & ~TIME_LIMIT) != 0)
    obs = (leader_observation(new), household_observation(new))
    return new, flows, *obs, r, M.step_values(flows, params.money_unit), done_now, terminated


_compiled_cores: dict[bool, object] = {}
_INDUCTOR_OPTIONS = {"size_asserts": False, "alignment_asserts": False}
#: Compilations of the step dynamo keeps per process (its default, 8, is reached by a process
#: that steps a few shapes, variants and dtypes, e.g. a test session or a bench matrix; past it
#: dynamo gives up and the environment would step eagerly).
RECOMPILE_LIMIT = 64


def _raise_recompile_limit(limit: int = RECOMPILE_LIMIT) -> None:
    cfg = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the older name, where it exists
        if hasattr(cfg, name):
            setattr(cfg, name, max(int(getattr(cfg, name)), limit))


def compiled_step_core(fullgraph: bool = True):
    """:func:`_step_core` under ``torch.compile`` (made once per process; each new shape,
    variant, dtype or parameter set compiles again, up to :data:`RECOMPILE_LIMIT` compilations,
    after which the environment warns and steps eagerly). ``fullgraph``: one graph, rows sorted
    inside it (H up to ``metrics.GRAPH_SORT_MAX``); otherwise NumPy sorts between graphs."""
    if fullgraph not in _compiled_cores:
        _raise_recompile_limit()
        _compiled_cores[fullgraph] = torch.compile(
            _step_core, dynamic=False, fullgraph=fullgraph, options=_INDUCTOR_OPTIONS
        )
    return _compiled_cores[fullgraph]


def _root_cause(exc: BaseException) -> str:
    """'Type: first line' of the innermost exception ``exc`` was raised from."""
    # dynamo's BackendCompilerFailed keeps the backend's error as ``inner_exception``
    while (inner := getattr(exc, "inner_exception", None) or exc.__cause__) is not None:
        exc = inner
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


@dataclass(frozen=True)
class Observation:
    """Observations of E economies: leader [E, 6], households [E, H, 2]."""

    leader: Tensor
    households: Tensor


@dataclass(frozen=True)
class StepResult:
    """What one environment step returns."""

    obs: Observation
    leader_reward: Tensor  # [E]
    household_reward: Tensor  # [E, H]
    done: Tensor  # [E] bool: the episode ended in this step
    flows: Flows
    terminated: Tensor | None = None  # [E] bool: ended in this step by a failure condition
    truncated: Tensor | None = None  # [E] bool: ended in this step by the time limit alone


class SMFGEnv:
    """E parallel economies of H households with one interface for both variants.

    The households are drawn once, when the environment is built (as the original did), and
    every reset restores them. Shocks come from the environment's own ``torch.Generator``
    seeded with ``seed``: the same seed gives the same trajectory bit for bit. With a list of
    K seeds the E economies form K equal groups, group k drawing its households and shocks
    from a generator seeded with seeds[k]: a batch of K seeds then equals K separate
    environments with one seed each.
    """

    def __init__(
        self,
        params: EconomyParams,
        n_households: int,
        n_envs: int = 1,
        seed: int | Sequence[int] = 0,
        dtype: str = "float64",
        device: str | torch.device = "cpu",
        leader_reward: str = "gdp",
        gini_weight: float = 1.0,
        reward_weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
        shared_households: bool = True,
        table: HouseholdTable | None = None,
        step_impl: str = "eager",
    ):
        if step_impl not in STEP_IMPLS:
            raise ValueError(f"step_impl = {step_impl!r}: allowed {STEP_IMPLS}")
        if leader_reward not in LEADER_REWARDS:
            raise ValueError(f"leader_reward = {leader_reward!r}: allowed {LEADER_REWARDS}")
        if not isinstance(n_households, int) or n_households < 10:
            raise ValueError(
                f"n_households = {n_households!r}: allowed an integer >= 10 (the leader observes "
                "the top 10%)"
            )
        if not isinstance(n_envs, int) or n_envs < 1:
            raise ValueError(f"n_envs = {n_envs!r}: allowed an integer >= 1")
        self.params = params
        self.n_households = n_households
        self.n_envs = n_envs
        self.dtype = getattr(torch, check_dtype(dtype))
        self.device = torch.device(device)
        self.leader_reward_name = leader_reward
        self.gini_weight = gini_weight
        self.reward_weights = check_reward_weights(reward_weights)
        seeds = [seed] if isinstance(seed, int) else [int(x) for x in seed]
        if not seeds or n_envs % len(seeds):
            raise ValueError(
                f"{len(seeds)} seeds for n_envs = {n_envs}: allowed a number of seeds that "
                "divides n_envs"
            )
        self.seeds = seeds
        self.group = n_envs // len(seeds)
        self.gens = [torch.Generator(device="cpu").manual_seed(k) for k in seeds]
        where = (self.dtype, self.device, table, shared_households)
        draws = [draw_households(params, self.group, n_households, g, *where) for g in self.gens]
        self.households = concat_households(draws)
        self.state: EconState | None = None
        self.metrics = M.EpisodeMetrics(n_envs)
        self.step_impl = step_impl
        """``compiled`` until a compilation fails, then ``eager`` for good."""

    # -- shocks are drawn on the CPU generator, then moved: identical streams on any device
    def _shocks(self, groups: list[bool] | None = None) -> Shocks:
        """Shocks of every economy; with ``groups``, only the groups marked True draw (the
        others get zeros and leave their generator untouched, as a separate environment
        that did nothing would)."""
        parts = [
            draw_shocks(g, self.group, self.n_households, self.dtype)
            if groups is None or groups[k]
            else Shocks(*(torch.full((self.group, self.n_households), 0.5, dtype=self.dtype),) * 2)
            for k, g in enumerate(self.gens)
        ]
        if len(parts) == 1:
            eps, u = parts[0].eps, parts[0].u
        else:
            eps, u = torch.cat([p.eps for p in parts]), torch.cat([p.u for p in parts])
        return Shocks(eps.to(self.device), u.to(self.device))

    def observe(self) -> Observation:
        """Observations of the current state."""
        return Observation(leader_observation(self.state), household_observation(self.state))

    def reset(self, mask: Tensor | None = None) -> Observation:
        """Start new episodes: all economies, or those where ``mask`` ([E] bool) is True.

        With a mask, only the seed groups that hold a masked economy draw shocks, so a group
        of a multi-seed environment follows the same random stream as its seed alone.
        """
        groups = None
        if mask is not None and len(self.gens) > 1:
            groups = mask.reshape(len(self.gens), self.group).any(1).tolist()
        fresh = reset_state(self.params, self.households, self._shocks(groups))
        if self.state is None or mask is None:
            self.state = fresh
            self.metrics = M.EpisodeMetrics(self.n_envs)
        else:
            mask = mask.to(self.device)
            self.state = self.state.where(mask, fresh)
            for k in self.metrics.sums:
                self.metrics.sums[k][mask.cpu()] = 0.0
            self.metrics.years[mask.cpu()] = 0
        return self.observe()

    def step(self, leader_action: Tensor | GovAction, household_action: Tensor) -> StepResult:
        """One period for every economy. leader_action: raw [E, 5] (E1) or a GovAction;
        household_action: raw [E, H, 2] (saving share, work share), clipped here."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if not isinstance(leader_action, GovAction):
            leader_action = leader_action.to(self.device, self.dtype)
        household_action = household_action.to(self.device, self.dtype)
        compiled = self.step_impl == "compiled"
        if compiled:  # the compiled core does not check (a data-dependent raise breaks a graph)
            if not isinstance(leader_action, GovAction):
                GovAction.check_raw(leader_action, self.params)
            check_household_action(household_action, self.params)
        shape = tuple(household_action.shape)
        if len(shape) == 3 and shape[-1] == 2 and shape[:2] != (self.n_envs, self.n_households):
            raise ValueError(
                f"household action has shape {shape}: allowed "
                f"[{self.n_envs}, {self.n_households}, 2]"
            )
        before = self.state
        args = (
            before,
            leader_action,
            household_action,
            self._shocks(),
            self.params,
            self.leader_reward_name,
            self.gini_weight,
            self.reward_weights,
        )
        out = None
        if compiled:
            try:
                out = compiled_step_core(self.n_households <= M.GRAPH_SORT_MAX)(*args)
            except Exception as exc:  # no C++ compiler, an op inductor cannot lower, ...
                warnings.warn(
                    f"step_impl = 'compiled' failed ({_root_cause(exc)}); this environment "
                    "steps eagerly from now on",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.step_impl = "eager"
        if out is None:
            out = _step_core(*args)
        self.state, flows, obs_leader, obs_households, r_leader, values, done_now, term = out
        self.metrics.add(values, flows.active)
        obs = Observation(obs_leader, obs_households)
        return StepResult(obs, r_leader, flows.u, done_now, flows, term, done_now & ~term)

    def episode_metrics(self) -> dict[str, Tensor]:
        """The metrics (book:model-metrics) of the current episodes so far: [E] each."""
        return self.metrics.summary()
