"""Simulating the population a pair of policies generates (book:certification), and the
stationary environment a price-taking household faces in it: the prices (``r``, ``W``, the
transfer ``tr``), the fiscal policy and the leader's raw action averaged over a window after a
burn-in, and the households' states pooled over it. What :mod:`smfg.certify.exploitability`
and :mod:`smfg.certify.leader` start from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from smfg.certify.primitives import Fiscal, Prices
from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.economy.step import termination_reasons
from smfg.env import SMFGEnv


@dataclass
class Population:
    """What a simulation records, step by step (``[T]`` aggregates, ``[T, H]`` households).

    Household states are those the households decided on: the ability they observed (last
    period's) and their assets at the start of the period.
    """

    r: np.ndarray
    W: np.ndarray
    tr: np.ndarray
    K: np.ndarray
    Y: np.ndarray
    fiscal: np.ndarray
    """[T, 5]: tau, xi, tau_a, xi_a, g faced in each step."""
    gov_raw: np.ndarray | None
    """[T, 5] raw leader numbers (None for a GovAction policy)."""
    leader_reward: np.ndarray
    e: np.ndarray
    a: np.ndarray
    superstar: np.ndarray
    s: np.ndarray
    f: np.ndarray
    u: np.ndarray
    steps: int
    termination: list[str]
    schedule: list | None = None
    """[T] the income-tax schedule in force each step, (brackets [K], rates [K]) or None for
    E6; None (the whole list) when the policy never set one."""

    @property
    def leader_return(self) -> float:
        """Undiscounted sum of the leader's rewards over the episode."""
        return float(self.leader_reward.sum())


@torch.no_grad()
def simulate(
    params: EconomyParams,
    gov_policy,
    household_policy,
    n_households: int,
    seed: int = 0,
    steps: int | None = None,
    leader_reward: str = "gdp",
    dtype: str = "float64",
    reward_weights: Sequence[float] = (1.0, 1.0, 1.0),
) -> Population:
    """One episode of one economy under the two policies (the protocol of
    :func:`smfg.evaluate.evaluate`, no exploration noise), recording what certification needs.
    """
    env = SMFGEnv(
        params,
        n_households,
        n_envs=1,
        seed=seed,
        dtype=dtype,
        leader_reward=leader_reward,
        reward_weights=reward_weights,
    )
    obs = env.reset()
    gov_policy.reset(env)
    household_policy.reset(env)
    T = params.T if steps is None else int(steps)
    keys = ("r", "W", "tr", "K", "Y", "fiscal", "gov_raw", "lr", "e", "a", "sup", "s", "f", "u")
    rec: dict[str, list] = {k: [] for k in keys}
    schedule: list = []
    for _ in range(T):
        st = env.state
        gov = gov_policy(obs, st.income)
        raw = None
        if not isinstance(gov, GovAction):
            raw = gov
            rec["gov_raw"].append(raw[0].double().cpu().numpy())
        act = household_policy(obs, raw)
        out = env.step(gov, act)
        fl = out.flows
        g = GovAction.from_raw(raw.to(env.dtype), params) if raw is not None else gov
        rec["fiscal"].append([float(x[0]) for x in (g.tau, g.xi, g.tau_a, g.xi_a, g.g)])
        schedule.append(
            None
            if g.brackets is None
            else tuple(x[0].double().cpu().numpy() for x in (g.brackets, g.rates))
        )
        for k, v in (
            ("r", fl.r),
            ("W", fl.W),
            ("tr", fl.transfer),
            ("K", fl.K),
            ("Y", fl.Y),
            ("lr", out.leader_reward),
        ):
            rec[k].append(float(v[0]))
        rec["e"].append(st.e[0].cpu().numpy())
        rec["a"].append(st.a[0].cpu().numpy())
        rec["sup"].append(st.superstar[0].cpu().numpy())
        rec["s"].append(fl.s[0].cpu().numpy())
        rec["f"].append(fl.f[0].cpu().numpy())
        rec["u"].append(fl.u[0].cpu().numpy())
        obs = out.obs
        if bool(env.state.done.all()):
            break
    arr = {k: np.asarray(v, dtype=np.float64) for k, v in rec.items() if k not in ("sup",)}
    return Population(
        r=arr["r"],
        W=arr["W"],
        tr=arr["tr"],
        K=arr["K"],
        Y=arr["Y"],
        fiscal=arr["fiscal"],
        gov_raw=arr["gov_raw"] if rec["gov_raw"] else None,
        leader_reward=arr["lr"],
        e=arr["e"],
        a=arr["a"],
        superstar=np.asarray(rec["sup"], dtype=bool),
        s=arr["s"],
        f=arr["f"],
        u=arr["u"],
        steps=len(rec["r"]),
        termination=termination_reasons(int(env.state.termination[0])),
        schedule=schedule if any(x is not None for x in schedule) else None,
    )


@dataclass(frozen=True)
class StationaryEnvironment:
    """Window averages of a simulated population: what a price-taking household faces."""

    fiscal: Fiscal
    prices: Prices
    gov_raw: np.ndarray | None
    """Mean raw leader numbers over the window [5] (what the followers observed, averaged)."""
    e: np.ndarray
    a: np.ndarray
    superstar: np.ndarray
    window: tuple[int, int]
    drift: float
    """Relative change of mean capital between the window's two halves."""
    price_sd: dict
    s: np.ndarray | None = None
    """The saving shares the window's households chose (pooled as ``e`` and ``a``)."""
    f: np.ndarray | None = None
    """Their work shares."""


def _window_schedule(pop: Population, sl: slice, fiscal: Fiscal) -> Fiscal:
    """``fiscal`` with the income-tax schedule of the window's steps: the one in force if it
    did not change, else the mean, threshold by threshold and rate by rate, over the steps
    that had one (Saez's policy recomputes its schedule every 100 steps)."""
    window = [x for x in (pop.schedule or [])[sl] if x is not None]
    if not window:
        return fiscal
    lo, rates = window[-1]
    if any(not (np.array_equal(b, lo) and np.array_equal(r, rates)) for b, r in window):
        lo = np.mean([b for b, _ in window], axis=0)
        rates = np.mean([r for _, r in window], axis=0)
    return fiscal.with_schedule(tuple(lo.tolist()), tuple(rates.tolist()))


def stationary_environment(pop: Population, params: EconomyParams, burn_in: int = 100):
    """Average prices and policy over steps ``[burn_in, end)``, pool the households' states.

    Falls back to the second half of the episode if it ended before ``burn_in``. An
    income-tax schedule is kept as in :func:`_window_schedule`.
    """
    T = pop.steps
    start = burn_in if burn_in < T else T // 2
    sl = slice(start, T)
    fis = pop.fiscal[sl].mean(0)
    fiscal = _window_schedule(pop, sl, Fiscal(*fis.tolist(), tau_c=params.tau_c))
    prices = Prices(float(pop.r[sl].mean()), float(pop.W[sl].mean()), float(pop.tr[sl].mean()))
    K = pop.K[sl]
    half = len(K) // 2
    drift = float(K[half:].mean() / K[:half].mean() - 1.0) if half else 0.0
    sd = {k: float(getattr(pop, k)[sl].std()) for k in ("r", "W", "tr")}
    raw = pop.gov_raw[sl].mean(0) if pop.gov_raw is not None else None
    return StationaryEnvironment(
        fiscal,
        prices,
        raw,
        pop.e[sl].ravel(),
        pop.a[sl].ravel(),
        pop.superstar[sl].ravel(),
        (start, T),
        drift,
        sd,
        pop.s[sl].ravel(),
        pop.f[sl].ravel(),
    )
