"""Saez's optimal income tax (book:model-saez): the top-rate formula, the local Pareto
parameter and density estimate of the income distribution, the marginal-rate schedule in the
proper and the paper's form, the elasticity from flat-tax runs, and the ``Saez`` policy.

Like the other fixed governments (:mod:`smfg.policies.government`) it acts on E economies at
once and returns a ``GovAction`` with a piecewise-linear schedule in the economy's money.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.env import Observation, SMFGEnv
from smfg.policies.base import GovernmentPolicy, HouseholdPolicy, raw_from_gov_action
from smfg.policies.government import schedule_base_action

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
# Saez (book:model-saez): the formula, the density estimate, the elasticity
# --------------------------------------------------------------------------------------


def saez_top_rate(g, a, e):
    """Saez's top rate ``(1 - g) / (1 - g + a e)`` for a Pareto(a) tail, welfare weight g of
    the top, elasticity e (floats, arrays or tensors)."""
    return (1.0 - g) / (1.0 - g + a * e)


def _as_batch(x: Tensor) -> Tensor:
    if x.ndim == 1:
        return x.unsqueeze(0)
    if x.ndim != 2:
        raise ValueError(f"incomes have shape {tuple(x.shape)}: allowed [n] or [E, n]")
    return x


def _halfwidth(y_sorted: Tensor) -> Tensor:
    """Half-width of the box kernel on log income: Silverman's rule, [E, 1].

    ``0.9 min(sd, IQR/1.34) n^(-1/5)`` is the Gaussian kernel's standard deviation; a box of
    half-width ``sqrt(3)`` times that has the same variance.
    """
    n = y_sorted.shape[-1]
    sd = y_sorted.std(-1, unbiased=False)
    qs = torch.tensor([0.25, 0.75], dtype=y_sorted.dtype, device=y_sorted.device)
    q = torch.quantile(y_sorted, qs, dim=-1)
    iqr = (q[1] - q[0]) / 1.34
    spread = torch.where(iqr > 0, torch.minimum(sd, iqr), sd)
    h = math.sqrt(3.0) * 0.9 * spread * n ** (-0.2)
    return h.clamp_min(1e-3).unsqueeze(-1)


def local_pareto_parameter(
    incomes: Tensor, z: Tensor, floor: float = 1e-12, bandwidth: float | None = None
) -> Tensor:
    """The local Pareto parameter ``alpha(z) = z f(z) / (1 - F(z))`` of an income sample.

    incomes: [E, n] (or [n]); z: [E, P] (or [P]) -> [E, P] (NaN where no income lies at or
    above z's kernel window). Estimated with a box-kernel density on log income, so that
    ``z f(z)`` is the density of ``log z`` and the kernel-smoothed survival function
    ``1 - F`` is the exact survival of the smoothed distribution: for a Pareto tail (an
    exponential tail in log income) the ratio is then unbiased whatever the bandwidth. The
    half-width is Silverman's rule on log income unless ``bandwidth`` is given. Everything is
    a sort and ``searchsorted`` per economy (O(n log n + P log n)), batched over E. Incomes
    below ``floor`` (zero or negative) are put at ``floor``.
    """
    x, zz = _as_batch(incomes), _as_batch(z)
    if zz.shape[0] != x.shape[0]:
        zz = zz.expand(x.shape[0], -1)
    n = x.shape[-1]
    y = torch.log(x.clamp_min(floor)).sort(-1).values
    h = _halfwidth(y) if bandwidth is None else torch.full_like(y[:, :1], bandwidth)
    yz = torch.log(zz.clamp_min(floor)).contiguous()
    left = torch.searchsorted(y, yz - h, side="left")  # incomes below the window
    right = torch.searchsorted(y, yz + h, side="right")  # incomes up to its top
    inside = (right - left).to(y.dtype)
    csum = torch.cat([torch.zeros_like(y[:, :1]), y.cumsum(-1)], -1)
    sum_inside = csum.gather(-1, right) - csum.gather(-1, left)
    density = inside / (2.0 * h * n)  # of log income = z f(z)
    # P(y_i + U > yz), U ~ Uniform(-h, h): 1 above the window, (y_i - yz + h)/(2h) inside
    survival = ((n - right).to(y.dtype) + (sum_inside - inside * (yz - h)) / (2.0 * h)) / n
    return torch.where(survival > 0, density / survival.clamp_min(1e-300), float("nan"))


def _average_weight_above(
    incomes: Tensor, z: Tensor, floor: float, welfare_weight: float | None
) -> Tensor:
    """G(z): the average welfare weight of incomes >= z, weights 1/max(income, floor)
    normalised to mean 1 over the sample (or the constant ``welfare_weight``). [E, P]."""
    if welfare_weight is not None:
        return torch.full_like(z, float(welfare_weight))
    zs = incomes.sort(-1).values
    n = zs.shape[-1]
    w = 1.0 / zs.clamp_min(floor)
    w = w / w.mean(-1, keepdim=True)
    suffix = w.flip(-1).cumsum(-1).flip(-1)  # sum of weights from index k up
    k = torch.searchsorted(zs, z.contiguous(), side="left").clamp_max(n - 1)
    return suffix.gather(-1, k) / (n - k).to(zs.dtype)


def saez_marginal_rates(
    incomes: Tensor,
    z: Tensor,
    elasticity,
    welfare_weight: float | None = None,
    floor: float = 1e-12,
    bandwidth: float | None = None,
) -> Tensor:
    """Saez's marginal rates ``tau(z) = (1 - G(z)) / (1 - G(z) + alpha(z) e)`` (book:model-saez).

    incomes: [E, n] sample; z: [E, P] income levels; elasticity: float or [E]. ``alpha`` from
    :func:`local_pareto_parameter`; ``G(z)`` the average of the welfare weights ``1/z``
    (floored at ``floor``, normalised to mean 1 over the sample) of incomes at or above z,
    or the constant ``welfare_weight``. Rates lie in [0, 1]; NaN where ``alpha`` is undefined
    (z above the sample).
    """
    x, zz = _as_batch(incomes), _as_batch(z)
    if zz.shape[0] != x.shape[0]:
        zz = zz.expand(x.shape[0], -1)
    e = torch.as_tensor(elasticity, dtype=x.dtype, device=x.device).reshape(-1, 1)
    alpha = local_pareto_parameter(x, zz, floor, bandwidth)
    G = _average_weight_above(x, zz, floor, welfare_weight)
    num = (1.0 - G).clamp_min(0.0)
    den = num + alpha * e
    tau = torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(den))
    return torch.where(torch.isnan(alpha), alpha, tau.clamp(0.0, 1.0))


def saez_schedule(
    incomes: Tensor,
    elasticity,
    n_brackets: int = 10,
    top_share: float = 0.05,
    n_points: int = 16,
    welfare_weight: float | None = None,
    floor: float = 1e-12,
    bandwidth: float | None = None,
) -> tuple[Tensor, Tensor]:
    """The proper Saez schedule of an income sample as brackets and marginal rates [E, K].

    Brackets: the first starts at 0; the others at the sample quantiles
    ``k/(K-1) * (1 - top_share)``, k = 1..K-1, so the top bracket holds the top
    ``top_share`` of incomes. A lower bracket's rate is the average of
    :func:`saez_marginal_rates` at ``n_points`` equally spaced incomes across it (so that the
    flat rate collects what the exact schedule would on an income at the bracket's top). The
    top bracket's rate is Saez's top rate with ``a = zbar/(zbar - z_top)``, ``zbar`` the mean
    income in the top bracket, and ``G`` the average welfare weight there. Rates in [0, 1].
    """
    x = _as_batch(incomes)
    E = x.shape[0]
    if n_brackets < 2:
        raise ValueError(f"n_brackets = {n_brackets!r}: allowed an integer >= 2")
    if not (0.0 < top_share < 1.0):
        raise ValueError(f"top_share = {top_share!r}: allowed 0 < top_share < 1")
    kw = {"dtype": x.dtype, "device": x.device}
    e = torch.as_tensor(elasticity, **kw).reshape(-1).expand(E)
    zs = x.sort(-1).values
    p = torch.linspace(0.0, 1.0 - top_share, n_brackets, **kw)[1:]
    cut = torch.quantile(zs, p, dim=-1).T.clamp_min(0.0).cummax(-1).values  # [E, K-1]
    lo = torch.cat([torch.zeros_like(cut[:, :1]), cut], -1)  # [E, K]
    t = (torch.arange(n_points, **kw) + 0.5) / n_points
    pts = lo[:, :-1, None] + (lo[:, 1:, None] - lo[:, :-1, None]) * t  # [E, K-1, M]
    tau = saez_marginal_rates(zs, pts.reshape(E, -1), e, welfare_weight, floor, bandwidth)
    tau = tau.reshape(E, n_brackets - 1, n_points)
    z_top = lo[:, -1:]
    above = zs >= z_top
    m = above.sum(-1).clamp_min(1).to(x.dtype)
    zbar = torch.where(above, zs, 0.0).sum(-1) / m
    a_top = zbar / (zbar - z_top[:, 0]).clamp_min(1e-300)
    if welfare_weight is None:
        w = 1.0 / zs.clamp_min(floor)
        w = w / w.mean(-1, keepdim=True)
        g_top = torch.where(above, w, 0.0).sum(-1) / m
    else:
        g_top = torch.full_like(zbar, float(welfare_weight))
    num = (1.0 - g_top).clamp_min(0.0)
    den = num + a_top * e
    top = torch.where(den > 0, num / den.clamp_min(1e-300), 0.0).clamp(0.0, 1.0)
    lower = torch.nanmean(tau, -1)
    lower = torch.where(torch.isnan(lower), top.unsqueeze(-1), lower)  # no data: top rate
    return lo, torch.cat([lower, top.unsqueeze(-1)], -1)


def saez_schedule_paper(
    incomes: Tensor,
    elasticity,
    cutoffs: Tensor,
    n_bins: int = 100,
    floor: float = 1.0,
    welfare_weight: float | None = None,
) -> Tensor:
    """Bracket rates of the original code's Saez planner (book:model-saez, ``paper``): [E, K].

    incomes: [E, n] buffer; elasticity: float or [E]; cutoffs: [K] lower bracket thresholds
    (0 first, the last is the top cutoff). On ``n_bins`` equal bins from 0 to the top cutoff:
    welfare weights ``1/max(floor, z)`` at each bin's midpoint (each income above the cutoff
    at its own value, each negative income at ``floor``), normalised over the whole sample;
    ``G`` the average weight at or above each bin edge, averaged over the bin's two edges;
    ``alpha = z_mid p_z / (P(above the bin) + p_z/2) / width`` per non-empty bin and
    ``zbar/(zbar - cutoff)`` above the cutoff; ``tau = (1-G)/(1-G+alpha e)``, empty bins filled
    by linear interpolation (from 0 below the first non-empty bin); a lower bracket's rate is
    the tax its bins collect over its width, the top bracket's the top bin's rate; rates
    clipped to [0, 1]. Same constants (1e-9) as the original.
    """
    x = _as_batch(incomes)
    E = x.shape[0]
    kw = {"dtype": x.dtype, "device": x.device}
    e = torch.as_tensor(elasticity, **kw).reshape(-1, 1).expand(E, 1)
    cut = cutoffs.to(**kw)
    top = float(cut[-1])
    edges = torch.linspace(0.0, top, n_bins + 1, **kw)
    width = top / n_bins
    mid = 0.5 * (edges[:-1] + edges[1:])
    # np.histogram: bins [e_j, e_j+1), the last one closed; values outside [0, top] ignored
    inside = (x >= 0) & (x <= top)
    j = (torch.searchsorted(edges, x.contiguous(), side="right") - 1).clamp(0, n_bins - 1)
    counts = torch.zeros(E, n_bins, **kw).scatter_add_(-1, j, inside.to(x.dtype))
    below, over = x < 0, x > top
    n_below, n_above = below.sum(-1).to(x.dtype), over.sum(-1).to(x.dtype)
    n_total = counts.sum(-1) + n_below + n_above
    pz = torch.cat([counts, n_above.unsqueeze(-1)], -1) / n_total.unsqueeze(-1)  # [E, B+1]
    # G
    if welfare_weight is None:
        w_bins = counts / mid.clamp_min(floor)
        w_above = torch.where(over, 1.0 / x.clamp_min(floor), 0.0).sum(-1)
        w_below = n_below / floor
        norm = w_bins.sum(-1) + w_below + w_above + 1e-9
        dens = torch.cat([w_bins, w_above.unsqueeze(-1)], -1) / norm.unsqueeze(-1)
        avg = dens.flip(-1).cumsum(-1).flip(-1) / (pz.flip(-1).cumsum(-1).flip(-1) + 1e-9)
        gz = torch.cat([0.5 * (avg[:, :-1] + avg[:, 1:]), avg[:, -1:]], -1)
    else:
        gz = torch.full_like(pz, float(welfare_weight))
    # alpha
    cum = (pz.cumsum(-1) + (n_below / n_total).unsqueeze(-1)).clamp(0.0, 1.0)
    p_geq = (1.0 - cum + 0.5 * pz)[:, :n_bins].clamp(0.0, 1.0)
    p_bin = pz[:, :n_bins]
    az = torch.where(p_bin > 0, mid * p_bin / (p_geq + 1e-9) / width, float("nan"))
    zbar = torch.where(over, x, 0.0).sum(-1) / n_above.clamp_min(1.0)
    az_top = torch.where(n_above > 0, zbar / (zbar - top + 1e-9), 0.0)
    az = torch.cat([az, az_top.unsqueeze(-1)], -1)
    taus = (1.0 - gz) / (1.0 - gz + az * e + 1e-9)
    taus = _fill_gaps(taus)
    # bracketize: the tax the bins collect on an income at each cutoff
    sizes = torch.cat([torch.full((n_bins,), width, **kw), torch.tensor([math.inf], **kw)])
    past = (cut[1:, None] - edges[None, :]).clamp_min(0.0)  # [K-1, B+1]
    bin_income = torch.minimum(sizes, past)
    due = (taus @ bin_income.T).clamp_min(0.0)  # [E, K-1]
    burden = torch.diff(due, dim=-1, prepend=torch.zeros_like(due[:, :1]))
    lower = burden / (cut[1:] - cut[:-1])
    return torch.cat([lower, taus[:, -1:]], -1).clamp(0.0, 1.0)


def _fill_gaps(taus: Tensor) -> Tensor:
    """Fill NaN entries by linear interpolation between the nearest real neighbours, with a
    virtual 0 before the first entry (as the original's ``last_real_rate = 0``): [E, B]."""
    E, B = taus.shape
    real = ~torch.isnan(taus)
    if bool(real.all()):
        return taus
    idx = torch.arange(B, device=taus.device).expand(E, B)
    prev = torch.where(real, idx, -1).cummax(-1).values
    nxt = torch.where(real, idx, B).flip(-1).cummin(-1).values.flip(-1)
    prev_val = torch.where(prev >= 0, taus.gather(-1, prev.clamp_min(0)), 0.0)
    next_val = taus.gather(-1, nxt.clamp_max(B - 1))
    frac = (idx - prev).to(taus.dtype) / (nxt - prev).to(taus.dtype)
    filled = prev_val + (next_val - prev_val) * frac
    filled = torch.where(nxt < B, filled, float("nan"))  # no real value after: left as NaN
    return torch.where(real, taus, filled)


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
    from smfg.policies.households import FixedShares

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
