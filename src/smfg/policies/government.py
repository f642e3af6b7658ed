"""Fixed government policies (book:model-policies): free market and US federal 2022 (Saez's
schedule, with its density estimate and elasticity, is :mod:`smfg.policies.saez`).

All act on E economies at once and return a ``GovAction``; the two tax schedules that are
not of the form E6 (US brackets, Saez brackets) are piecewise-linear schedules
(``GovAction.with_schedule``) in the economy's money (dollars divided by
``params.money_unit``). Spending stays at the lower clip (``g = g_max * action_low``) and the
consumption tax ``tau_c`` stays on in all of them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.env import Observation, SMFGEnv
from smfg.policies.base import GovernmentPolicy

__all__ = [
    "US_2022_RATES",
    "US_2022_STANDARD_DEDUCTION",
    "US_2022_THRESHOLDS",
    "FreeMarket",
    "USFederal2022",
    "schedule_base_action",
    "us_federal_brackets_2022",
    "us_federal_tax_2022",
]

# --------------------------------------------------------------------------------------
# Free market (book:model-free-market)
# --------------------------------------------------------------------------------------


class FreeMarket(GovernmentPolicy):
    """Leader action all at the lower clip (book:model-free-market): ``tau = 0.0002``, ``G = 0.03%``
    of Y."""

    name = "free-market"

    def reset(self, env: SMFGEnv) -> None:
        super().reset(env)
        raw = torch.full((self.n_envs, 5), self.params.action_low, dtype=self.dtype)
        self._action = GovAction.from_raw(raw.to(self.device), self.params)

    def act(self, obs: Observation, income: Tensor) -> GovAction:
        return self._action


def schedule_base_action(params: EconomyParams, n: int, dtype: torch.dtype, device) -> GovAction:
    """E6 fields of a schedule policy: income-tax fields at the lower clip (unused once a
    schedule is attached), no asset tax, spending at the lower clip."""
    low = params.action_low

    def full(v: float) -> Tensor:
        return torch.full((n,), v, dtype=dtype, device=device)

    return GovAction(
        tau=full(params.tau_max * low),
        xi=full(params.xi_max * low),
        tau_a=full(0.0),
        xi_a=full(0.0),
        g=full(params.g_max * low),
    )


# --------------------------------------------------------------------------------------
# US federal 2022 (book:model-us-federal)
# --------------------------------------------------------------------------------------

#: Standard deduction of a single filer, 2022 (dollars).
US_2022_STANDARD_DEDUCTION = 12_950.0
#: Lower thresholds of the brackets in taxable income, 2022 single filer (dollars).
US_2022_THRESHOLDS = (0.0, 10_275.0, 41_775.0, 89_075.0, 170_050.0, 215_950.0, 539_900.0)
#: Marginal rates of the brackets.
US_2022_RATES = (0.10, 0.12, 0.22, 0.24, 0.32, 0.35, 0.37)


def us_federal_brackets_2022() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Lower bracket thresholds in gross income (deduction + thresholds, dollars) and rates."""
    lo = tuple(US_2022_STANDARD_DEDUCTION + t for t in US_2022_THRESHOLDS)
    return lo, US_2022_RATES


def us_federal_tax_2022(income):
    """The 2022 federal income tax bill of a single filer (book:model-us-federal), in dollars.

    ``sum_k rate_k * clamp(income - lo_k, 0, lo_{k+1} - lo_k)`` over the brackets of
    :func:`us_federal_brackets_2022` (the standard deduction of $12,950 is untaxed; no other
    deduction or credit: the original's $559.98 is not subtracted). A float, a NumPy array or
    a tensor in, the same kind out (elementwise). $50,000 -> $4,240.50; $100,000 -> $14,768.
    """
    lo, rates = us_federal_brackets_2022()
    hi = lo[1:] + (math.inf,)
    if isinstance(income, Tensor):
        x = income if income.is_floating_point() else income.to(torch.float64)
        lo_t = torch.tensor(lo, dtype=x.dtype, device=x.device)
        width = torch.tensor(hi, dtype=x.dtype, device=x.device) - lo_t
        base = (x.unsqueeze(-1) - lo_t).clamp_min(0.0)
        r = torch.tensor(rates, dtype=x.dtype, device=x.device)
        return (torch.minimum(base, width) * r).sum(-1)
    x = np.asarray(income, dtype=np.float64)
    base = np.maximum(x[..., None] - np.asarray(lo), 0.0)
    tax = (np.minimum(base, np.asarray(hi) - np.asarray(lo)) * np.asarray(rates)).sum(-1)
    if np.ndim(tax) == 0 and not isinstance(income, np.ndarray):
        return float(tax)
    return tax


class USFederal2022(GovernmentPolicy):
    """US federal 2022 single-filer income tax on total income (book:model-us-federal).

    The schedule of :func:`us_federal_tax_2022` with brackets converted from dollars to the
    economy's money (divided by ``params.money_unit``, so it taxes the same dollars in both
    variants); no asset tax (``tau_a = xi_a = 0``); spending at the lower clip; the
    consumption tax stays.
    """

    name = "us-federal-2022"

    def reset(self, env: SMFGEnv) -> None:
        super().reset(env)
        lo, rates = us_federal_brackets_2022()
        kw = {"dtype": self.dtype, "device": self.device}
        brackets = torch.tensor(lo, **kw) / self.params.money_unit
        r = torch.tensor(rates, **kw)
        E = self.n_envs
        base = schedule_base_action(self.params, E, self.dtype, self.device)
        self._action = base.with_schedule(brackets.expand(E, -1), r.expand(E, -1))

    def act(self, obs: Observation, income: Tensor) -> GovAction:
        return self._action
