"""Inequality measures, group means and per-episode metrics (book:model-metrics), batched over
economies.

Sorting dominates the cost of a step at large H; on the CPU NumPy's vectorised quicksort is
about 15 times faster than ``torch.sort`` (8 ms against 120 ms for 1e6 float32 values on
these machines), so :func:`sort_last` uses it there and ``torch.sort`` elsewhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

#: Under ``torch.compile`` rows up to this length are sorted by ``torch.sort`` inside the graph
#: (a graph break costs more than the slower sort); longer ones by NumPy, outside it.
GRAPH_SORT_MAX = 4096


def sort_last(x: Tensor) -> Tensor:
    """Values of ``x`` sorted ascending along the last dimension (no indices)."""
    if x.device.type == "cpu" and not x.requires_grad:
        if not torch.compiler.is_compiling():
            return _sort_numpy(x)
        if x.shape[-1] > GRAPH_SORT_MAX:
            return _sort_numpy_outside_graph(x)
    return torch.sort(x, dim=-1).values


def _sort_numpy(x: Tensor) -> Tensor:
    return torch.from_numpy(np.sort(x.contiguous().numpy(), axis=-1))


_sort_numpy_outside_graph = torch.compiler.disable(_sort_numpy)


@functools.lru_cache(maxsize=16)
def _ranks(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """1, 2, ..., n (cached: the Gini of every step needs it)."""
    return torch.arange(1, n + 1, dtype=dtype, device=device)


def _rank_vector(n: int, xs: Tensor) -> Tensor:
    """1, ..., n in the dtype and device of ``xs`` (cached in eager code, made in a graph)."""
    if torch.compiler.is_compiling():
        return torch.arange(1, n + 1, dtype=xs.dtype, device=xs.device)
    return _ranks(n, xs.dtype, xs.device)


def gini_sorted(xs: Tensor) -> Tensor:
    """Population Gini of rows already sorted ascending: sum_i (2i - n - 1) x_(i) / (n sum x).

    xs: [..., n] -> [...]. All-zero rows give 0. Negative values are kept (G may exceed 1, or
    be negative): the economies' metrics use :func:`gini_rsv_sorted`, which equals this one on
    non-negative values and stays in [0, 1) otherwise.
    """
    n = xs.shape[-1]
    i = _rank_vector(n, xs)
    total = xs.sum(-1)
    num = 2.0 * (xs @ i) - (n + 1.0) * total
    return torch.where(total == 0, torch.zeros_like(total), num / (n * total))


def gini(x: Tensor) -> Tensor:
    """Population Gini of each row (book:model-metrics): [..., n] -> [...]. See
    :func:`gini_sorted`."""
    return gini_sorted(sort_last(x))


def gini_rsv_sorted(xs: Tensor) -> Tensor:
    """Gini normalised for negative values (Raffinetti, Siletti and Vernizzi 2015) of rows
    already sorted ascending: sum_i (2i - n - 1) x_(i) / (n sum_i |x_i|).

    The numerator is the ordinary Gini's, half the sum of |x_i - x_j| over all pairs; the
    ordinary Gini divides it by n times the total, which has no meaning once some values are
    negative (the value exceeds 1, or turns negative with the total). Dividing by n times the
    sum of the absolute values (the positive total plus the negatives' magnitude) instead
    measures the spread against the most unequal distribution with the same positive and
    negative totals: the whole negative total held by one unit, the positive one by another,
    everyone else at zero, whose value is (n - 1) / n. So the result lies in [0, 1) whatever
    the signs, is unchanged by scaling all values by c > 0, and with no negative value it is
    the ordinary Gini bit for bit (sum |x| is then the same sum as sum x). So the paper's
    `taxai` numbers keep its definition: there post-tax incomes and assets are never negative
    (r > 0, assets below 0 end the episode, and every tax leaves a non-negative remainder),
    and its termination rule (a Gini >= 1) is still checked on the ordinary Gini.

    Reference: E. Raffinetti, E. Siletti, A. Vernizzi (2015), "On the Gini coefficient
    normalization when attributes with negative values are considered", Stat Methods Appl
    24: 507-521 (their G^RSV with unit weights).

    xs: [..., n] -> [...]. All-zero rows give 0.
    """
    n = xs.shape[-1]
    i = _rank_vector(n, xs)
    total = xs.sum(-1)
    scale = xs.abs().sum(-1)
    num = 2.0 * (xs @ i) - (n + 1.0) * total
    return torch.where(scale == 0, torch.zeros_like(scale), num / (n * scale))


def gini_rsv(x: Tensor) -> Tensor:
    """Gini normalised for negative values of each row: [..., n] -> [...], in [0, 1).
    See :func:`gini_rsv_sorted`."""
    return gini_rsv_sorted(sort_last(x))


def weighted_gini(x: Tensor, w: Tensor) -> Tensor:
    """Weighted population Gini, 1 - sum_i p_i (L_i + L_{i-1}) over values sorted ascending.

    x, w: [..., n] (weights >= 0) -> [...]. Equals :func:`gini` when all weights are equal.
    """
    order = torch.argsort(x, dim=-1, stable=True)
    xs = torch.gather(x, -1, order)
    ws = torch.gather(w, -1, order)
    p = ws / ws.sum(-1, keepdim=True)
    mass = p * xs
    L = mass.cumsum(-1) / mass.sum(-1, keepdim=True)
    L_prev = torch.cat([torch.zeros_like(L[..., :1]), L[..., :-1]], -1)
    return 1.0 - (p * (L + L_prev)).sum(-1)


def top_bottom_sums(xs: Tensor, k_top: int, k_bottom: int) -> tuple[Tensor, Tensor]:
    """Sums of the ``k_top`` largest and the ``k_bottom`` smallest values of sorted rows.

    xs: [E, H] sorted ascending -> ([E], [E]). Exact whatever the ties.
    """
    H = xs.shape[-1]
    return xs[:, H - k_top :].sum(-1), xs[:, :k_bottom].sum(-1)


def companion_mean(key: Tensor, other: Tensor, threshold: Tensor, k: int, top: bool) -> Tensor:
    """Mean of ``other`` over the k rows with the largest (``top``) or smallest ``key``.

    ``threshold`` ([E]) is the k-th largest (smallest) key. Rows tied at the threshold share
    the remaining weight equally, so the result does not depend on the order of tied rows.
    key, other: [E, H] -> [E].
    """
    thr = threshold.unsqueeze(-1)
    inside = key >= thr if top else key <= thr
    n_inside = inside.sum(-1)
    compiling = torch.compiler.is_compiling()
    if not compiling and bool((n_inside == k).all()):  # no tie straddles the boundary (usual)
        return (other * inside).sum(-1) / k
    strict = key > thr if top else key < thr
    tie = key == thr
    n_strict = strict.sum(-1).to(key.dtype)
    share = (k - n_strict) / tie.sum(-1).to(key.dtype)
    s_strict = torch.where(strict, other, 0.0).sum(-1)
    s_tie = torch.where(tie, other, 0.0).sum(-1)
    with_ties = (s_strict + share * s_tie) / k
    if compiling:  # both forms, the same choice for all economies as the branch above
        return torch.where((n_inside == k).all(), (other * inside).sum(-1) / k, with_ties)
    return with_ties


def step_values(flows, money_unit: float) -> Tensor:
    """One step's values of the summed metrics, in ``EpisodeMetrics.NAMES`` order: [4, E]."""
    return torch.stack(
        [
            flows.Y * money_unit / flows.u.shape[-1],
            flows.welfare,
            flows.income_gini,
            flows.wealth_gini,
        ]
    )


@dataclass
class EpisodeMetrics:
    """Running sums of the per-step metrics of E economies; ``summary()`` gives the five of
    book:model-metrics.

    Per episode: per-capita GDP (mean over steps of Y/N, in dollars), social welfare (mean over
    steps of sum_i u_i), income and wealth Gini (of post-tax income and post-tax assets, mean
    over steps) and years (steps survived; the step that terminates counts).
    """

    n_envs: int
    dtype: torch.dtype = torch.float64
    sums: dict[str, Tensor] = field(default_factory=dict)
    years: Tensor | None = None

    NAMES = ("per_capita_gdp", "social_welfare", "income_gini", "wealth_gini")

    def __post_init__(self) -> None:
        self.sums = {k: torch.zeros(self.n_envs, dtype=self.dtype) for k in self.NAMES}
        self.years = torch.zeros(self.n_envs, dtype=torch.long)

    def update(self, flows, money_unit: float) -> None:
        """Add one step's flows (only economies that were active in it)."""
        self.add(step_values(flows, money_unit), flows.active)

    def add(self, values: Tensor, active: Tensor) -> None:
        """Add one step's :func:`step_values` ([4, E]) where ``active`` ([E] bool)."""
        act = active
        stacked = torch.where(act.cpu(), values.to("cpu", self.dtype), 0.0)
        torch._foreach_add_([self.sums[k] for k in self.NAMES], list(stacked.unbind(0)))
        self.years += act.long().cpu()

    def summary(self) -> dict[str, Tensor]:
        """Per-economy episode metrics: the four means and ``years``. [E] each."""
        n = self.years.clamp_min(1).to(self.dtype)
        out = {k: v / n for k, v in self.sums.items()}
        out["years"] = self.years.clone()
        return out
