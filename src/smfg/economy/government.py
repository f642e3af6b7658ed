"""The government: leader actions (E1), tax functions (E6 and piecewise-linear schedules),
the budget and its closure (E10, E23). Shapes: [E] per economy, [E, H] per household."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from smfg.config import EconomyParams


@dataclass(frozen=True)
class GovAction:
    """One period's government policy for E economies.

    ``tau, xi`` parametrise the income tax E6 and ``tau_a, xi_a`` the asset tax E6; ``g`` is
    spending as a share of output. When ``brackets`` and ``rates`` are given ([E, K]: lower
    bracket thresholds, ascending, and marginal rates) the income tax is that piecewise-linear
    schedule instead of E6 (US federal, Saez); the asset tax stays E6.
    """

    tau: Tensor
    xi: Tensor
    tau_a: Tensor
    xi_a: Tensor
    g: Tensor
    brackets: Tensor | None = None
    rates: Tensor | None = None

    @staticmethod
    def check_raw(raw: Tensor, params: EconomyParams) -> None:
        """``ValueError`` unless ``raw`` is [E, 5] without NaN."""
        if raw.ndim != 2 or raw.shape[-1] != 5:
            raise ValueError(f"leader action has shape {tuple(raw.shape)}: allowed [E, 5]")
        if torch.isnan(raw).any():
            raise ValueError(
                "leader action contains NaN: allowed finite numbers (clipped to "
                f"[{params.action_low}, {params.action_high}])"
            )

    @classmethod
    def from_raw(cls, raw: Tensor, params: EconomyParams) -> GovAction:
        """Clip the leader's five numbers to [action_low, action_high] and scale them (E1).

        raw: [E, 5] -> GovAction with [E] fields. NaN raises ``ValueError``.
        """
        if not torch.compiler.is_compiling():  # a compiled step has the caller check first
            cls.check_raw(raw, params)
        c = raw.clamp(params.action_low, params.action_high)
        return cls(
            tau=params.tau_max * c[:, 0],
            xi=params.xi_max * c[:, 1],
            tau_a=params.tau_a_max * c[:, 2],
            xi_a=params.xi_a_max * c[:, 3],
            g=params.g_max * c[:, 4],
        )

    def with_schedule(self, brackets: Tensor, rates: Tensor) -> GovAction:
        """The same policy with a piecewise-linear income-tax schedule ([E, K] each)."""
        validate_schedule(brackets, rates)
        return GovAction(self.tau, self.xi, self.tau_a, self.xi_a, self.g, brackets, rates)

    def income_tax(self, income: Tensor) -> Tensor:
        """Income tax of each household: E6 with (tau, xi), or the schedule. [E, H] -> [E, H]."""
        if self.brackets is not None:
            return tax_piecewise(income, self.brackets, self.rates)
        return tax_e6(income, self.tau, self.xi)

    def asset_tax(self, assets: Tensor) -> Tensor:
        """Asset tax of each household: E6 with (tau_a, xi_a). [E, H] -> [E, H]."""
        return tax_e6(assets, self.tau_a, self.xi_a)


def tax_e6(x: Tensor, tau: Tensor, xi: Tensor) -> Tensor:
    """Tax(x) = x - (1-tau)/(1-xi) x^(1-xi) (E6), with Tax(x) = 0 for x <= 0.

    x: [E, H]; tau, xi: [E]. E6 is only defined for positive x; it tends to 0 as x -> 0+, so
    extending it by 0 keeps it continuous (no tax, and no subsidy, on non-positive income).
    """
    xp = x.clamp_min(0.0)
    tau, xi = tau.unsqueeze(-1), xi.unsqueeze(-1)
    compiling = torch.compiler.is_compiling()
    if not compiling and not bool(xi.any()):  # a flat tax (no asset tax, say): exact, cheaper
        return tau * xp
    # x^(1-xi) as exp((1-xi) log x): 2.5x faster than pow on the CPU; exact 0 at x = 0
    kept = torch.log(xp).mul_(1.0 - xi).exp_().mul_((1.0 - tau) / (1.0 - xi))
    general = kept.neg_().add_(xp)
    # compiled: both forms, the same choice for all economies as the branch above
    return torch.where(xi.any(), general, tau * xp) if compiling else general


def tax_piecewise(x: Tensor, brackets: Tensor, rates: Tensor) -> Tensor:
    """Piecewise-linear tax: sum_k rate_k * clamp(x - lo_k, 0, lo_{k+1} - lo_k).

    x: [E, H]; brackets (lower thresholds lo_k, ascending) and rates: [E, K]. The top bracket is
    open. Income below lo_0 is untaxed (a standard deduction is lo_0 > 0).
    """
    lo = brackets.unsqueeze(1)  # [E, 1, K]
    hi = torch.cat([brackets[:, 1:], torch.full_like(brackets[:, :1], float("inf"))], -1)
    width = (hi - brackets).unsqueeze(1)
    base = (x.unsqueeze(-1) - lo).clamp_min(0.0)
    return (torch.minimum(base, width) * rates.unsqueeze(1)).sum(-1)


def validate_schedule(brackets: Tensor, rates: Tensor) -> None:
    """Raise ``ValueError`` unless brackets/rates are [E, K], ascending, finite, rates in [0, 1]."""
    if brackets.shape != rates.shape or brackets.ndim != 2:
        raise ValueError(
            f"tax schedule shapes {tuple(brackets.shape)} and {tuple(rates.shape)}: "
            "allowed two equal shapes [E, K]"
        )
    if not (torch.isfinite(brackets).all() and torch.isfinite(rates).all()):
        raise ValueError("tax schedule contains NaN or infinity: allowed finite numbers")
    if (brackets[:, 1:] < brackets[:, :-1]).any():
        raise ValueError("tax schedule brackets are not ascending: allowed lo_0 <= lo_1 <= ...")
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError(f"tax schedule rates {rates.tolist()} out of range: allowed [0, 1]")


def transfer_closing_budget(R0: Tensor, z: Tensor, s: Tensor, tau_c: float, n: int) -> Tensor:
    """Lump-sum transfer per household that closes the budget with the consumption tax (E23).

    N tr = R0 + tau_c * C with C = sum (1-s_i)(z_i + tr)/(1+tau_c): linear in tr, so
    tr = (R0 + k sum (1-s) z) / (N - k sum (1-s)), k = tau_c/(1+tau_c) < 1. R0: [E] revenue
    without the consumption tax minus spending and debt service; z: [E, H] cash on hand
    before the transfer; s: [E, H] saving shares. Returns [E].
    """
    k = tau_c / (1.0 + tau_c)
    one_minus_s = 1.0 - s
    return (R0 + k * (one_minus_s * z).sum(-1)) / (n - k * one_minus_s.sum(-1))
