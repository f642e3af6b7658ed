"""Intervals across seeds that stay within the range of what they bound.

A seed is the unit of replication: each seed's value is its mean over episodes, and a table
shows the mean across seeds with a 95% interval. With the few seeds of a build (2 to 5), the
ordinary t-interval ``m +- t s / sqrt(n)`` of a bounded quantity can leave its range: a
negative per-capita GDP, a Gini above 1, years below 0. :func:`seed_interval` decides the
interval of each metric from its known range, one table (:data:`METRIC_RANGES`):

===============================================  ==============  ==========================
metric                                           range           scale
===============================================  ==============  ==========================
per_capita_gdp, output_ratio, welfare_ce         [0, inf)        log
welfare_ce_pct (percent of a positive baseline)  [-100, inf)     log of (x + 100)
income_gini, wealth_gini                         [0, 1]          logit
years, cert_years                                [0, T]          logit of years / T
social_welfare, leader_return, anything else     unbounded       none: the t-interval
===============================================  ==============  ==========================

(T: the episodes' horizon, the number of steps an episode may last.) On a scale ``g`` the
interval is the t-interval of the mean by the delta method, mapped back,

    g^-1( g(m) -+ t_{n-1} |g'(m)| s / sqrt(n) ),

with m and s the mean and standard deviation of the n seeds' values and t_{n-1} the 0.975
quantile of Student's t with n - 1 degrees of freedom. On the log scale this is
``m exp(-+ h)`` with ``h = t s / (sqrt(n) m)``; on the logit scale the share
``p = (m - low) / (high - low)`` moves by ``t s / (sqrt(n) (high - low) p (1 - p))`` in
logits. So the interval

- lies inside the range and contains the mean (which is the arithmetic mean, as the paper's
  tables report, not a geometric one);
- is the ordinary t-interval for an unbounded metric, and close to it whenever the spread
  is small against the distance to the bounds; near a bound it is asymmetric, stretching
  away from the bound instead of crossing it (a GDP of 4.6e11 whose t-interval is
  [-1.5e12, 2.5e12] becomes [6e9, 3e13]: with 3 seeds that far apart, its order of
  magnitude is what is known);
- with every seed on a closed end (every economy lasting T years) is the point [m, m]: the
  seeds do not vary;
- needs two seeds: with one the interval is NaN (the mean alone is shown), as is the
  interval of values that are not all finite.

A metric whose mean misleads because one seed can be orders of magnitude above the others
(``heavy_tailed``: the per-capita GDP of `taxai`, which grows without bound in the economies
that survive) is shown with the median and the range of the seeds beside its mean
(:func:`seed_spread`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "METRIC_RANGES",
    "MetricRange",
    "interval_method",
    "mean_interval",
    "metric_range",
    "seed_interval",
    "seed_spread",
    "t_quantile_975",
]

# two-sided 95% quantiles of Student's t by degrees of freedom (1..30, then 40, 60, 120)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042]  # fmt: skip


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table, then normal)."""
    if df < 1:
        return math.nan
    if df <= 30:
        return _T975[df - 1]
    for bound, q in ((40, 2.021), (60, 2.000), (120, 1.980)):
        if df <= bound:
            return q
    return 1.960


@dataclass(frozen=True)
class MetricRange:
    """The closed range a metric's values lie in, which decides the scale of its interval."""

    low: float = -math.inf
    """Smallest possible value (-inf: unbounded below)."""
    high: float = math.inf
    """Largest possible value (inf: unbounded above; ignored when ``horizon``)."""
    horizon: bool = False
    """The upper end is the episodes' horizon T, given with the values."""
    heavy_tailed: bool = False
    """Seeds can differ by orders of magnitude: show the median and range beside the mean."""

    def bounds(self, horizon: float | None = None) -> tuple[float, float]:
        """(low, high), the horizon as ``high`` where it is the upper end (inf if unknown)."""
        if self.horizon:
            return self.low, math.inf if horizon is None else float(horizon)
        return self.low, self.high

    def scale(self, horizon: float | None = None) -> str:
        """'t' (unbounded), 'log' (bounded on one side) or 'logit' (bounded on both)."""
        lo, hi = self.bounds(horizon)
        finite = math.isfinite(lo) + math.isfinite(hi)
        return ("t", "log", "logit")[finite]


_POSITIVE = MetricRange(0.0, math.inf)
_SHARE = MetricRange(0.0, 1.0)
_YEARS = MetricRange(0.0, horizon=True)
_FREE = MetricRange()

#: Each metric's range (see the module docstring); a metric not named here is unbounded.
METRIC_RANGES: dict[str, MetricRange] = {
    "per_capita_gdp": MetricRange(0.0, math.inf, heavy_tailed=True),
    "output_ratio": _POSITIVE,
    "welfare_ce": _POSITIVE,
    "welfare_ce_pct": MetricRange(-100.0, math.inf),
    "income_gini": _SHARE,
    "wealth_gini": _SHARE,
    "years": _YEARS,
    "cert_years": _YEARS,
    "social_welfare": _FREE,
    "leader_return": _FREE,
    "household_return": _FREE,
}


def metric_range(metric: str | None) -> MetricRange:
    """The range of ``metric`` (:data:`METRIC_RANGES`; unbounded when not listed or None)."""
    return METRIC_RANGES.get(metric, _FREE) if metric is not None else _FREE


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and ordinary 95% t-interval (lo, hi) of independent values (one per seed), for an
    unbounded quantity; :func:`seed_interval` for a metric with a range."""
    return seed_interval(values)


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _expit(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def seed_interval(
    values: Sequence[float], metric: str | None = None, horizon: float | None = None
) -> tuple[float, float, float]:
    """Mean and 95% interval (lo, hi) across seeds of ``metric`` that stays in its range.

    ``values``: one per seed. ``metric``: a name of :data:`METRIC_RANGES` (None or another
    name: unbounded, the ordinary t-interval). ``horizon``: the episodes' horizon T, the upper
    end of ``years`` (without it ``years`` is bounded below only). The scale follows from the
    range as the module docstring says. One value, or values not all finite: (mean, nan, nan).
    A value outside the range raises ValueError (the table or the data is wrong).
    """
    x = [float(v) for v in values]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    m = sum(x) / n
    if n < 2 or not all(math.isfinite(v) for v in x):
        return m, math.nan, math.nan
    lo_b, hi_b = metric_range(metric).bounds(horizon)
    tol = 1e-9 * max(1.0, abs(m))
    bad = [v for v in x if v < lo_b - tol or v > hi_b + tol]
    if bad:
        raise ValueError(
            f"metric {metric!r}: value {bad[0]!r} lies outside its range [{lo_b}, {hi_b}]"
        )
    sd = statistics.stdev(x)
    q = t_quantile_975(n - 1) * sd / math.sqrt(n)  # the t half-width on the metric's scale
    scale = metric_range(metric).scale(horizon)
    if scale == "t":
        return m, m - q, m + q
    m = min(max(m, lo_b), hi_b)  # rounding
    if scale == "log":
        # distance to the finite end, on the log scale
        d, sign = (m - lo_b, 1.0) if math.isfinite(lo_b) else (hi_b - m, -1.0)
        if d <= 0.0 or sd == 0.0:
            return m, m, m
        h = q / d
        ends = (m - sign * d * (1.0 - math.exp(-h)), m + sign * d * math.expm1(h))
        return m, min(ends), max(ends)
    width = hi_b - lo_b
    p = (m - lo_b) / width
    if p <= 0.0 or p >= 1.0 or sd == 0.0:
        return m, m, m
    h = q / (width * p * (1.0 - p))
    z = _logit(p)
    return m, lo_b + width * _expit(z - h), lo_b + width * _expit(z + h)


def interval_method(metric: str | None, horizon: float | None = None) -> str:
    """How :func:`seed_interval` bounds ``metric``, in words (for a page's note)."""
    r = metric_range(metric)
    lo, hi = r.bounds(horizon)
    scale = r.scale(horizon)
    if scale == "t":
        return "plain t-interval"
    if scale == "log":
        shift = "" if lo == 0 else f" of x + {-lo:g}" if lo < 0 else f" of x - {lo:g}"
        unknown = " (horizon unknown: bounded below only)" if r.horizon else ""
        return f"t-interval on the log scale{shift}{unknown}"
    if r.horizon:
        return f"t-interval on the logit scale of years / T (T = {hi:g})"
    return f"t-interval on the logit scale of [{lo:g}, {hi:g}]"


def seed_spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, smallest and largest of the seeds' values (NaN for none)."""
    x = [float(v) for v in values]
    if not x:
        return math.nan, math.nan, math.nan
    return statistics.median(x), min(x), max(x)
