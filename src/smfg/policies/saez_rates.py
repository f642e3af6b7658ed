"""Saez's optimal marginal rates (book:model-saez): the top-rate formula, the local Pareto
parameter and density estimate of an income distribution, and the marginal-rate schedule in
the proper and the paper's form, batched over E economies. The ``Saez`` policy that applies
them is in :mod:`smfg.policies.saez`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

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
