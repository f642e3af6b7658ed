"""Fixed-rule simulations: a fixed household rule against a fixed government action.

What ``smfg simulate`` prints and what the audit notebook plots: per-step aggregates of E
economies and the episode's metrics (book:model-metrics), termination reasons and identity
residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from smfg.config import economy_params
from smfg.economy.step import termination_reasons
from smfg.env import SMFGEnv

__all__ = ["FREE_MARKET_ACTION", "SimulationResult", "simulate_fixed_rule"]

FREE_MARKET_ACTION = (0.001, 0.001, 0.001, 0.001, 0.001)


@dataclass(frozen=True)
class SimulationResult:
    """A fixed-rule simulation: per-step table, per-economy summary and the run's settings."""

    trajectory: pd.DataFrame
    """One row per economy and step survived: t, Y_per_capita, K_per_capita, K_over_Y, r,
    interest_income_over_Y, C_over_Y, G_over_Y, ..., in dollars per household."""
    summary: pd.DataFrame
    """One row per economy: the five metrics of book:model-metrics, termination and the max
    residuals."""

    def to_json_dict(self, economy: int = 0) -> dict:
        """The summary of one economy as a plain dict (``smfg simulate --json``)."""
        row = self.summary.iloc[economy]
        return {
            "per_capita_gdp": float(row.per_capita_gdp),
            "social_welfare": float(row.social_welfare),
            "income_gini": float(row.income_gini),
            "wealth_gini": float(row.wealth_gini),
            "years": int(row.years),
            "termination": list(row.termination),
            "max_residuals": {
                k: float(row[f"max_res_{k}"])
                for k in ("household_budget", "government_budget", "goods_market", "capital_market")
            },
        }


def simulate_fixed_rule(
    variant: str = "taxai",
    n_households: int = 100,
    saving: float = 0.99,
    work: float = 0.9,
    steps: int = 300,
    seed: int = 0,
    leader_action: tuple[float, ...] = FREE_MARKET_ACTION,
    n_envs: int = 1,
    dtype: str = "float64",
    **overrides,
) -> SimulationResult:
    """Run every household on the rule (saving share, work share) for up to ``steps`` steps.

    ``leader_action`` is the leader's five raw numbers of book:model-actions (clipped to [0.001,
    0.99] and scaled by E1); the default is the free market. ``overrides`` go to EconomyParams.
    """
    for name, v in (("saving", saving), ("work", work)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} = {v!r} is out of range: allowed [0, 1]")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps = {steps!r}: allowed an integer >= 1")
    if len(leader_action) != 5:
        raise ValueError(f"leader_action = {leader_action!r}: allowed five numbers")
    params = economy_params(variant, **{"T": max(steps, 1), **overrides})
    env = SMFGEnv(params, n_households, n_envs=n_envs, seed=seed, dtype=dtype)
    env.reset()
    E, H = n_envs, n_households
    gov = torch.tensor([leader_action] * E, dtype=env.dtype)
    act = torch.empty(E, H, 2, dtype=env.dtype)
    act[..., 0], act[..., 1] = saving, work
    unit = params.money_unit
    rows = []
    names = ("household_budget", "government_budget", "goods_market", "capital_market")
    res_max = {k: torch.zeros(E, dtype=torch.float64) for k in names}
    for _ in range(steps):
        if bool(env.state.done.all()):
            break
        out = env.step(gov, act)
        fl = out.flows
        for k, v in fl.residuals().items():
            res_max[k] = torch.where(fl.active, torch.maximum(res_max[k], v.double()), res_max[k])
        interest = (fl.r.unsqueeze(-1) * fl.a).sum(-1)
        cols = {
            "t": env.state.t,
            "Y_per_capita": fl.Y * unit / H,
            "K_per_capita": fl.K * unit / H,
            "assets_per_capita": fl.a_next.sum(-1) * unit / H,
            "K_over_Y": fl.K / fl.Y,
            "r": fl.r,
            "interest_income_over_Y": interest / fl.Y,
            "C_over_Y": fl.C / fl.Y,
            "G_over_Y": fl.G / fl.Y,
            "income_gini": fl.income_gini,
            "wealth_gini": fl.wealth_gini,
            "welfare": fl.u.sum(-1),
        }
        for j in torch.nonzero(fl.active).flatten().tolist():
            rows.append({"economy": j, **{k: float(v[j]) for k, v in cols.items()}})
    m = env.episode_metrics()
    summary = pd.DataFrame(
        {
            "economy": range(E),
            "variant": variant,
            "n_households": H,
            "per_capita_gdp": m["per_capita_gdp"].tolist(),
            "social_welfare": m["social_welfare"].tolist(),
            "income_gini": m["income_gini"].tolist(),
            "wealth_gini": m["wealth_gini"].tolist(),
            "years": m["years"].tolist(),
            "termination": [termination_reasons(x) for x in env.state.termination.tolist()],
            **{f"max_res_{k}": v.tolist() for k, v in res_max.items()},
        }
    )
    return SimulationResult(pd.DataFrame(rows), summary)
