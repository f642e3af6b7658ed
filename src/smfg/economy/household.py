"""Households: the ability process (E11), actions, budgets (E5-E8, E20) and utility (E12, E25).

Shapes: [E, H] per household, [E] per economy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from smfg.config import EconomyParams


def ability_step(
    e: Tensor, superstar: Tensor, eps: Tensor, u: Tensor, params: EconomyParams
) -> tuple[Tensor, Tensor]:
    """Draw next period's ability (E11) for every household at once.

    A normal household follows ``log e' = rho_e log e + sigma_e eps``, or enters the superstar
    state with probability ``p_super``; a superstar stays with probability ``stay_super``. A
    superstar's ability is ``mult_super`` times the mean of the previous period's normal
    abilities; one who leaves draws uniformly between 0 and this period's largest normal
    ability. ``eps`` ~ N(0, 1) and ``u`` ~ U[0, 1) are [E, H]; one uniform serves both the
    regime switch and, rescaled, the leaver's draw (for a leaver u >= stay_super, so
    (u - stay_super)/(1 - stay_super) is again U[0, 1)).
    e, superstar: [E, H] -> (e', superstar'): [E, H].

    Superstars and entrants are few (p_super = 2.2e-6), so they are handled sparsely: the
    full-size work is the AR(1) draw, one selection, one sum and one max.
    """
    e_next = torch.log(e).mul_(params.rho_e).add_(eps, alpha=params.sigma_e).exp_()
    special = superstar | (u < params.p_super)  # superstars, and normal households entering
    if torch.compiler.is_compiling():  # one graph for the compiled step: no branch on data
        return _ability_special_dense(e, superstar, u, e_next, special, params)
    if not bool(special.any()):
        return e_next, superstar
    E, H = e.shape
    ie, ih = special.nonzero(as_tuple=True)
    was_super, u_sp = superstar[ie, ih], u[ie, ih]
    zeros = torch.zeros(E, dtype=e.dtype, device=e.device)
    sum_super = zeros.index_add(0, ie, torch.where(was_super, e[ie, ih], 0.0))
    n_super = zeros.index_add(0, ie, was_super.to(e.dtype))
    total = e.sum(-1)
    # (degenerate case, all superstars: keep their level, mean_normal = their e / mult_super)
    mean_normal = torch.where(
        n_super < H,
        (total - sum_super) / (H - n_super).clamp_min(1.0),
        total / H / params.mult_super,
    )
    stay = was_super & (u_sp < params.stay_super)
    now_super = stay | ~was_super  # a special household that was normal has entered
    e_next[ie, ih] = 0.0  # exclude superstars and leavers from this period's normal maximum
    max_normal = e_next.amax(-1)
    if bool((max_normal == 0).any()):
        # degenerate case, nobody stays normal: leavers draw below last period's largest normal
        # ability (or below the superstar level's normal mean if there was none)
        prev = torch.where(superstar, 0.0, e).amax(-1)
        max_normal = torch.where(
            max_normal == 0, torch.where(prev > 0, prev, mean_normal), max_normal
        )
    leave_u = (u_sp - params.stay_super) / max(1.0 - params.stay_super, 1e-300)
    e_next[ie, ih] = torch.where(
        now_super, params.mult_super * mean_normal[ie], leave_u * max_normal[ie]
    )
    superstar_next = superstar.clone()
    superstar_next[ie, ih] = now_super
    return e_next, superstar_next


def _ability_special_dense(
    e: Tensor, superstar: Tensor, u: Tensor, e_next: Tensor, special: Tensor, params: EconomyParams
) -> tuple[Tensor, Tensor]:
    """The superstar part of :func:`ability_step` on full [E, H] tensors, without a branch on
    the data (for ``torch.compile``): the same rules; the superstars' sum is taken in another
    order, so it may differ in the last bit when an economy holds three superstars or more."""
    H = e.shape[-1]
    sum_super = torch.where(superstar, e, 0.0).sum(-1)
    n_super = superstar.sum(-1).to(e.dtype)
    total = e.sum(-1)
    mean_normal = torch.where(
        n_super < H,
        (total - sum_super) / (H - n_super).clamp_min(1.0),
        total / H / params.mult_super,
    )
    now_super = (superstar & (u < params.stay_super)) | ~superstar
    max_normal = torch.where(special, 0.0, e_next).amax(-1)
    prev = torch.where(superstar, 0.0, e).amax(-1)
    max_normal = torch.where(max_normal == 0, torch.where(prev > 0, prev, mean_normal), max_normal)
    leave_u = (u - params.stay_super) / max(1.0 - params.stay_super, 1e-300)
    drawn = torch.where(
        now_super, params.mult_super * mean_normal.unsqueeze(-1), leave_u * max_normal.unsqueeze(-1)
    )
    return torch.where(special, drawn, e_next), torch.where(special, now_super, superstar)


def check_household_action(raw: Tensor, params: EconomyParams) -> None:
    """``ValueError`` unless ``raw`` is [E, H, 2] without NaN."""
    if raw.ndim != 3 or raw.shape[-1] != 2:
        raise ValueError(f"household action has shape {tuple(raw.shape)}: allowed [E, H, 2]")
    if torch.isnan(raw).any():
        raise ValueError(
            "household action contains NaN: allowed finite (saving, work) shares, clipped to "
            f"[{params.action_low}, {params.action_high}]"
        )


def clip_household_action(raw: Tensor, params: EconomyParams) -> tuple[Tensor, Tensor]:
    """Clip the households' (saving share, work share) to [action_low, action_high]
    (book:model-actions).

    raw: [E, H, 2] -> (s, f): [E, H] each. NaN raises ``ValueError``.
    """
    if not torch.compiler.is_compiling():  # a compiled step has the caller check first
        check_household_action(raw, params)
    c = raw.clamp(params.action_low, params.action_high)
    return c[..., 0], c[..., 1]


def utility_taxai(c: Tensor, f: Tensor, params: EconomyParams) -> Tensor:
    """u = sigmoid(ln(c/1000) - 10 f^3/3) (E12): log utility, inverse Frisch elasticity 2."""
    disutility = (f * f).mul_(f).mul_(params.labor_weight / 3.0)
    return torch.log(c * (1.0 / params.util_scale)).sub_(disutility).sigmoid_()


def utility_clearing(c: Tensor, f: Tensor, params: EconomyParams) -> Tensor:
    """u = c^(1-sigma)/(1-sigma) - chi f^(1+1/phi)/(1+1/phi) (E25); log if sigma = 1.

    Hours enter as the work share f = h/h_max. Consumption is floored at 1e-10 model units so
    a household that cannot consume (the episode then ends) gets a very low, finite utility.
    """
    c = c.clamp_min(1e-10)
    if params.sigma == 1.0:
        uc = torch.log(c)
    elif params.sigma == 2.0:
        uc = torch.reciprocal(c).neg_()  # the default; reciprocal is cheaper than pow
    else:
        uc = c.pow(1.0 - params.sigma) / (1.0 - params.sigma)
    k = 1.0 + 1.0 / params.phi
    return uc.sub_(torch.log(f).mul_(k).exp_().mul_(params.chi / k))  # f >= action_low > 0


def consumption_equivalent(u: Tensor, params: EconomyParams) -> Tensor:
    """The consumption c that, with (almost) no work, gives utility ``u``: the inverse of the
    period utility at f -> 0 (E12 in 'taxai', E25 in 'clearing'), in model units.

    Applied to the mean utility of a population it is the utilitarian welfare in
    consumption units: the consumption every household would need, without working, to be as
    well off on average. 'taxai': sigmoid(ln(c / scale)) = u gives c = scale u / (1 - u);
    'clearing': c = exp(u) (sigma = 1) or ((1 - sigma) u)^(1 / (1 - sigma)); a utility no
    consumption reaches (u >= 0 with sigma > 1) gives +inf, one below every consumption 0.
    """
    if params.variant == "taxai":
        u = u.clamp(0.0, 1.0)
        return params.util_scale * u / (1.0 - u)
    if params.sigma == 1.0:
        return torch.exp(u)
    x = (1.0 - params.sigma) * u
    c = x.clamp_min(0.0).pow(1.0 / (1.0 - params.sigma))
    return torch.where(x > 0, c, torch.inf if params.sigma > 1.0 else 0.0)
