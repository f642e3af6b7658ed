"""The elasticity of taxable income of Saez's formula (book:model-saez): the regression of log
income on log(1 - tau), and its estimate from flat-tax runs of the environment. The ``Saez``
policy that uses it is in :mod:`smfg.policies.saez`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.env import SMFGEnv
from smfg.policies.base import HouseholdPolicy, raw_from_gov_action
from smfg.policies.government import schedule_base_action
from smfg.policies.households import FixedShares


def estimate_elasticity(log_z, log_one_minus_tau) -> float:
    """OLS slope (with an intercept) of ``log Z`` on ``log(1 - tau)`` across runs (book:model-saez).

    Two 1-D sequences of equal length >= 2 (floats, arrays or tensors); with taxable income
    Z responding as ``Z = Z0 (1 - tau)^e`` the slope is the elasticity ``e``. Raises
    ``ValueError`` on NaN, unequal lengths or no variation in the tax rates.
    """
    y = np.asarray(torch.as_tensor(log_z).detach().cpu(), dtype=np.float64).ravel()
    x = np.asarray(torch.as_tensor(log_one_minus_tau).detach().cpu(), dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(
            f"estimate_elasticity got {y.size} log incomes and {x.size} log(1 - tau): allowed "
            "two sequences of the same length >= 2"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("estimate_elasticity got NaN or infinity: allowed finite numbers")
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx <= 1e-24 * max(1.0, float(x @ x)):
        raise ValueError("estimate_elasticity: log(1 - tau) does not vary: allowed >= 2 rates")
    return float(dx @ (y - y.mean())) / sxx


def _masked_slope(y: Tensor, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row OLS slope with intercept over masked entries: (slope, count, std of x) [E]."""
    x, y = torch.where(mask, x, 0.0), torch.where(mask, y, 0.0)  # no -inf * 0 = NaN
    n = mask.sum(-1).to(y.dtype)
    nn = n.clamp_min(1.0)
    dx = torch.where(mask, x - (x.sum(-1) / nn).unsqueeze(-1), 0.0)
    dy = torch.where(mask, y - (y.sum(-1) / nn).unsqueeze(-1), 0.0)
    sxx = (dx * dx).sum(-1)
    slope = (dx * dy).sum(-1) / sxx.clamp_min(torch.finfo(y.dtype).tiny)
    return slope, n, (sxx / nn).sqrt()


def _default_households(params: EconomyParams) -> HouseholdPolicy:
    # the survival rules of each economy (book:model-household-rules)
    if params.variant == "taxai":
        return FixedShares(0.99, 0.9)
    return FixedShares(0.8, 1.0 / 3.0)


def elasticity_from_flat_tax_runs(
    params: EconomyParams,
    n_households: int,
    taus=(0.0, 0.1, 0.2, 0.3),
    household_policy: HouseholdPolicy | None = None,
    n_steps: int = 20,
    seed: int = 0,
    n_replicates: int = 1,
    dtype: str = "float64",
    device: str | torch.device = "cpu",
    details: bool = False,
):
    """Estimate the elasticity ``e`` of book:model-saez from flat-tax runs.

    For each rate in ``taus``, ``n_replicates`` economies in one batch run ``n_steps`` steps
    under a flat income tax, E6 with ``xi = 0`` (``Tax = tau * i``), no asset tax, spending
    at the lower clip, households acting by ``household_policy`` (default: the survival rule
    of the variant, save 99% and work 90% in ``taxai``, save 80% and work 1/3 in
    ``clearing``). Every rate uses the same ``seed``: the same households and the same
    shocks (common random numbers), so the rates differ only by the tax. Taxable income Z is
    each step's pre-tax income ``i``; the regression (:func:`estimate_elasticity`) is of the
    mean over replicates, steps and households of ``log Z`` (positive incomes, steps before
    the economy's episode ended) on ``log(1 - tau)``.

    With fixed household rules hours do not respond to the tax, so what this measures is the
    mechanical, general-equilibrium response of income (through saving, capital, wages and
    the transfer), not a behavioural elasticity; it is the paper's estimate (book:model-saez) and
    works with any household policy, learned ones included. Returns the slope, or with ``details`` a
    dict with ``elasticity``, ``taus``, ``mean_log_z`` and ``steps`` (mean steps run).
    """
    rates = [float(t) for t in taus]
    if len(rates) < 2 or any(not (0.0 <= t < 1.0) for t in rates):
        raise ValueError(f"taus = {taus!r}: allowed at least two flat rates in [0, 1)")
    if int(n_replicates) != n_replicates or n_replicates < 1:
        raise ValueError(f"n_replicates = {n_replicates!r}: allowed an integer >= 1")
    hh = _default_households(params) if household_policy is None else household_policy
    mean_log_z, mean_steps = [], []
    for tau in rates:  # one short run per rate (4 by default), each batched over replicates
        env = SMFGEnv(params, n_households, n_replicates, seed, dtype, device)
        obs = env.reset()
        hh.reset(env)
        base = schedule_base_action(params, n_replicates, env.dtype, env.device)
        gov = GovAction(
            tau=torch.full_like(base.tau, tau),
            xi=torch.zeros_like(base.xi),
            tau_a=base.tau_a,
            xi_a=base.xi_a,
            g=base.g,
        )
        gov_raw = raw_from_gov_action(gov, params)
        sum_log = torch.zeros((), dtype=env.dtype, device=env.device)
        count = torch.zeros((), dtype=env.dtype, device=env.device)
        steps = torch.zeros(n_replicates, dtype=torch.long, device=env.device)
        for _ in range(n_steps):
            out = env.step(gov, hh(obs, gov_raw))
            obs, fl = out.obs, out.flows
            ok = fl.active.unsqueeze(-1) & (fl.income > 0) & torch.isfinite(fl.income)
            sum_log += torch.where(ok, fl.income.clamp_min(1e-300).log(), 0.0).sum()
            count += ok.sum()
            steps += fl.active.long()
            if bool(fl.done.all()):
                break
        if float(count) == 0:
            raise ValueError(
                f"elasticity_from_flat_tax_runs: no positive income at tau = {tau}: allowed "
                "a household policy under which the economies produce income"
            )
        mean_log_z.append(float(sum_log / count))
        mean_steps.append(float(steps.double().mean()))
    e = estimate_elasticity(mean_log_z, np.log1p(-np.asarray(rates)))
    if details:
        return {"elasticity": e, "taus": rates, "mean_log_z": mean_log_z, "steps": mean_steps}
    return e
