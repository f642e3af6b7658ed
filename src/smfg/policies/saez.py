"""Saez's optimal income tax (book:model-saez): the top-rate formula, the local Pareto
parameter and density estimate of the income distribution, the marginal-rate schedule in the
proper and the paper's form, the elasticity from flat-tax runs, and the ``Saez`` policy.

Like the other fixed governments (:mod:`smfg.policies.government`) it acts on E economies at
once and returns a ``GovAction`` with a piecewise-linear schedule in the economy's money.

The formula and the schedules are in :mod:`smfg.policies.saez_rates`, the elasticity in
:mod:`smfg.policies.elasticity`; every public name is importable from here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.env import Observation, SMFGEnv
from smfg.policies.base import GovernmentPolicy, HouseholdPolicy
from smfg.policies.elasticity import (
    _masked_slope,
    elasticity_from_flat_tax_runs,
    estimate_elasticity,
)
from smfg.policies.government import schedule_base_action
from smfg.policies.saez_rates import (
    local_pareto_parameter,
    saez_marginal_rates,
    saez_schedule,
    saez_schedule_paper,
    saez_top_rate,
)

__all__ = [
    "SAEZ_FORMS",
    "Saez",
    "elasticity_from_flat_tax_runs",
    "estimate_elasticity",
    "local_pareto_parameter",
    "saez_marginal_rates",
    "saez_schedule",
    "saez_schedule_paper",
    "saez_top_rate",
]

# --------------------------------------------------------------------------------------
# The Saez policy
# --------------------------------------------------------------------------------------

SAEZ_FORMS = ("proper", "paper")


class Saez(GovernmentPolicy):
    """Saez's optimal income tax (book:model-saez), recomputed from recent incomes.

    Both forms keep, per economy, a buffer of the ``buffer_size`` (500) most recent household
    incomes: each call appends the ``income`` it is given ([E, H]: the last step's pre-tax
    incomes) and keeps the last ``buffer_size`` (with H > buffer_size: the last households
    of the latest step, as the original's list did). Rates are recomputed every ``period``
    (100) calls, the first time at the first call. The result is a piecewise-linear income-tax
    schedule; no asset tax; spending at the lower clip; the consumption tax stays.

    ``form="proper"``: the schedule of :func:`saez_schedule` (quantile brackets, box-kernel
    density of log income for ``alpha(z)``, welfare weights ``1/z``, top bracket from its
    mean) with the given ``elasticity`` (default 1, the paper's estimate; or
    :meth:`with_estimated_elasticity`). The buffer starts empty at every reset; the first
    call appends the reset's incomes (the survey's) and computes the schedule from them.

    ``form="paper"`` reproduces the original planner: 5 brackets with lower cutoffs 0, 1, 2,
    3, 4 $M (divided by ``money_unit``), rates from :func:`saez_schedule_paper` on 100 bins up
    to $4M; uniform random rates in [0, 1] (from the policy's seeded generator) until the
    buffer has held ``buffer_size`` incomes at an update, i.e. for the first ``period``
    steps; the buffer also stores each income's marginal rate, and at every update the
    elasticity is re-estimated by the regression of log Z on log(1 - tau) over the buffer
    (incomes > 0 and rates < 1; skipped with fewer than 10 or no variation in rates),
    negative estimates set to 0 and smoothed ``0.98 old + 0.02 new`` from 0.5, unless
    ``elasticity`` fixes it (the estimate is still tracked in ``elasticity_estimate``).
    Buffer, elasticity, update clock and generator persist across resets (the original's
    planner lived as long as the environment); the first call after a reset appends nothing,
    because its ``income`` is the reset's, not one the schedule produced (the original
    appended each step's income within the step; here it comes one call later, so an
    episode's last step income is not recorded).

    Welfare weights are ``1/max(z, $1)`` (the original's floor, converted by
    ``money_unit``), normalised to mean 1 over the buffer; ``welfare_weight`` replaces them by
    a constant (for closed-form checks).
    """

    def __init__(
        self,
        form: str = "proper",
        elasticity: float | None = None,
        period: int = 100,
        buffer_size: int = 500,
        n_brackets: int | None = None,
        top_share: float = 0.05,
        n_points: int = 16,
        top_cutoff_usd: float = 4e6,
        n_bins: int = 100,
        welfare_weight: float | None = None,
        floor_usd: float = 1.0,
        seed: int = 0,
        name: str | None = None,
    ):
        if form not in SAEZ_FORMS:
            raise ValueError(f"Saez.form = {form!r} is not known: allowed {SAEZ_FORMS}")
        if form == "proper" and elasticity is None:
            elasticity = 1.0
        if elasticity is not None and not (float(elasticity) >= 0.0):
            raise ValueError(f"Saez.elasticity = {elasticity!r}: allowed a number >= 0 or None")
        for field, v in (("period", period), ("buffer_size", buffer_size), ("n_bins", n_bins)):
            if int(v) != v or v < 1:
                raise ValueError(f"Saez.{field} = {v!r}: allowed an integer >= 1")
        n_brackets = (10 if form == "proper" else 5) if n_brackets is None else n_brackets
        if int(n_brackets) != n_brackets or n_brackets < 2:
            raise ValueError(f"Saez.n_brackets = {n_brackets!r}: allowed an integer >= 2")
        if not (0.0 < top_share < 1.0):
            raise ValueError(f"Saez.top_share = {top_share!r}: allowed 0 < top_share < 1")
        if not (top_cutoff_usd > 0 and floor_usd > 0):
            raise ValueError("Saez.top_cutoff_usd and Saez.floor_usd: allowed positive numbers")
        self.form = form
        self.elasticity = None if elasticity is None else float(elasticity)
        self.period = int(period)
        self.buffer_size = int(buffer_size)
        self.n_brackets = int(n_brackets)
        self.top_share = float(top_share)
        self.n_points = int(n_points)
        self.top_cutoff_usd = float(top_cutoff_usd)
        self.n_bins = int(n_bins)
        self.welfare_weight = welfare_weight
        self.floor_usd = float(floor_usd)
        self.seed = int(seed)
        self.gen = torch.Generator(device="cpu").manual_seed(self.seed)
        e_name = "est" if self.elasticity is None else f"{self.elasticity:g}"
        self.name = name or f"saez-{form}(e={e_name})"
        self.elasticity_estimate: Tensor | float | None = None
        self._key = None

    @classmethod
    def with_estimated_elasticity(
        cls,
        params: EconomyParams,
        n_households: int,
        household_policy: HouseholdPolicy | None = None,
        taus=(0.0, 0.1, 0.2, 0.3),
        n_steps: int = 20,
        seed: int = 0,
        n_replicates: int = 1,
        **kwargs,
    ) -> Saez:
        """A proper Saez policy whose elasticity comes from :func:`elasticity_from_flat_tax_runs`
        (negative estimates set to 0); the raw estimate is kept in ``elasticity_estimate``."""
        est = elasticity_from_flat_tax_runs(
            params, n_households, taus, household_policy, n_steps, seed, n_replicates
        )
        policy = cls("proper", elasticity=max(est, 0.0), **kwargs)
        policy.elasticity_estimate = est
        return policy

    # -- state --------------------------------------------------------------------------
    def reset(self, env: SMFGEnv) -> None:
        super().reset(env)
        p, kw = self.params, {"dtype": self.dtype, "device": self.device}
        key = (self.n_envs, p, self.dtype, self.device)
        self._fresh = True
        if self.form == "paper" and key == self._key:
            return  # the paper's planner keeps everything across episodes
        self._key = key
        E = self.n_envs
        self._floor = self.floor_usd / p.money_unit
        self._buf = torch.zeros(E, 0, **kw)  # incomes
        self._buf_tau = torch.zeros(E, 0, **kw)  # their marginal rates (paper)
        self._calls = 0
        self._reached = False
        if self.form == "paper":
            self.elasticity_estimate = torch.full((E,), 0.5, **kw)  # the original's start
            cut = np.linspace(0.0, self.top_cutoff_usd, self.n_brackets) / p.money_unit
            self._cutoffs = torch.tensor(cut, **kw)
            self._brackets = self._cutoffs.expand(E, -1)
            self._rates = torch.zeros(E, self.n_brackets, **kw)
        else:
            self._brackets = torch.zeros(E, self.n_brackets, **kw)
            self._rates = torch.zeros(E, self.n_brackets, **kw)
        self._base = schedule_base_action(p, E, self.dtype, self.device)

    @property
    def brackets(self) -> Tensor:
        """Lower thresholds of the current schedule [E, K] (economy money)."""
        return self._brackets

    @property
    def rates(self) -> Tensor:
        """Marginal rates of the current schedule [E, K]."""
        return self._rates

    def _append(self, income: Tensor) -> None:
        income = income.to(self.dtype)
        B = self.buffer_size
        self._buf = torch.cat([self._buf, income], -1)[:, -B:]
        if self.form == "paper":
            k = torch.searchsorted(self._brackets.contiguous(), income.contiguous(), right=True)
            tau = self._rates.gather(-1, (k - 1).clamp_min(0))
            tau = torch.where(income < 0, 0.0, tau)
            self._buf_tau = torch.cat([self._buf_tau, tau], -1)[:, -B:]

    def _update_proper(self) -> None:
        lo, rates = saez_schedule(
            self._buf,
            self.elasticity,
            self.n_brackets,
            self.top_share,
            self.n_points,
            self.welfare_weight,
            self._floor,
        )
        self._brackets, self._rates = lo, rates

    def _update_paper(self) -> None:
        E = self.n_envs
        if not self._reached and self._buf.shape[-1] >= self.buffer_size:
            self._reached = True
        if not self._reached:
            u = torch.rand((E, self.n_brackets), generator=self.gen, dtype=self.dtype)
            self._rates = u.to(self.device)
            return
        z, tau = self._buf, self._buf_tau
        ok = (z > 0) & (tau < 1)
        x = torch.log((1.0 - tau).clamp_min(1e-9))
        y = torch.log(z.clamp_min(torch.finfo(z.dtype).tiny))
        slope, n, sd = _masked_slope(y, x, ok)
        use = (n >= 10) & (sd >= 1e-6) & torch.isfinite(slope)
        old = self.elasticity_estimate
        new = 0.98 * old + 0.02 * slope.clamp_min(0.0)
        self.elasticity_estimate = torch.where(use, new, old)
        e = self.elasticity_estimate if self.elasticity is None else self.elasticity
        self._rates = saez_schedule_paper(
            z, e, self._cutoffs, self.n_bins, self._floor, self.welfare_weight
        )

    def act(self, obs: Observation, income: Tensor) -> GovAction:
        if income.shape != (self.n_envs, self.n_households):
            raise ValueError(
                f"policy {self.name!r}: income has shape {tuple(income.shape)}: allowed "
                f"[{self.n_envs}, {self.n_households}]"
            )
        if not (self.form == "paper" and self._fresh):
            self._append(income)
        self._fresh = False
        if self._calls % self.period == 0:
            if self.form == "paper":
                self._update_paper()
            else:
                self._update_proper()
            self._action = self._base.with_schedule(self._brackets, self._rates)
        self._calls += 1
        return self._action
