"""Intervals across seeds that stay within what they bound (smfg.stats)."""

import math
import random

import pytest

from smfg.stats import (
    METRIC_RANGES,
    interval_method,
    mean_interval,
    seed_interval,
    seed_spread,
    t_quantile_975,
)


def t_interval(x):
    """The textbook t-interval, written out: an independent reference."""
    n = len(x)
    m = sum(x) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return m, m - half, m + half


def test_an_unbounded_metric_gets_the_ordinary_t_interval():
    rng = random.Random(0)
    for n in (2, 3, 5, 40):
        x = [rng.gauss(-3.0, 10.0) for _ in range(n)]
        for metric in ("social_welfare", "leader_return", None, "not_a_metric"):
            got, want = seed_interval(x, metric), t_interval(x)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert mean_interval(x) == pytest.approx(t_interval(x), rel=1e-12, abs=1e-12)
    assert interval_method("social_welfare") == "plain t-interval"


# (metric, range (low, high), horizon, adversarial seeds' values)
ADVERSARIAL = [
    ("per_capita_gdp", (0.0, math.inf), None, [1.4e5, 1.5e5, 1.4e12]),  # one huge outlier
    ("per_capita_gdp", (0.0, math.inf), None, [0.0, 0.0, 5.0]),  # values at the bound
    ("per_capita_gdp", (0.0, math.inf), None, [1e-300, 1e150]),
    ("income_gini", (0.0, 1.0), None, [0.05, 0.06, 0.999]),
    ("income_gini", (0.0, 1.0), None, [0.0, 0.0, 0.9]),
    ("wealth_gini", (0.0, 1.0), None, [1.0, 1.0, 0.2]),
    ("years", (0.0, 300.0), 300, [1.0, 32.0, 300.0]),  # the `clearing` page's 111 [-295, 517]
    ("years", (0.0, 300.0), 300, [300.0, 300.0, 1.0]),
    ("years", (0.0, 40.0), 40, [1.0, 40.0]),
    ("cert_years", (0.0, 300.0), 300, [299.0, 300.0, 300.0]),
    ("welfare_ce_pct", (-100.0, math.inf), None, [-99.9, -99.0, 500.0]),
    ("output_ratio", (0.0, math.inf), None, [1e-3, 1e3, 1e4]),
    ("welfare_ce", (0.0, math.inf), None, [0.1, 0.1, 90.0]),
]


@pytest.mark.parametrize(("metric", "bounds", "horizon", "x"), ADVERSARIAL)
def test_the_interval_never_leaves_the_range_and_contains_the_mean(metric, bounds, horizon, x):
    m, lo, hi = seed_interval(x, metric, horizon)
    assert m == pytest.approx(sum(x) / len(x), rel=1e-15)
    assert bounds[0] <= lo <= m <= hi <= bounds[1]
    # where the ordinary t-interval leaves the range, this one stays inside it
    _, tlo, thi = t_interval(x)
    if tlo < bounds[0] or thi > bounds[1]:
        assert (lo, hi) != (tlo, thi)


def test_random_data_stay_in_range_for_every_bounded_metric():
    rng = random.Random(1)
    for _ in range(2000):
        n = rng.choice((2, 3, 3, 5))
        kind = rng.choice(("gdp", "gini", "years"))
        if kind == "gdp":  # log-uniform over 12 orders of magnitude
            x = [10 ** rng.uniform(0, 12) for _ in range(n)]
            metric, lo_b, hi_b, T = "per_capita_gdp", 0.0, math.inf, None
        elif kind == "gini":
            x = [rng.choice((0.0, 1.0, rng.random(), rng.betavariate(0.2, 0.2))) for _ in range(n)]
            metric, lo_b, hi_b, T = "income_gini", 0.0, 1.0, None
        else:
            T = rng.choice((40, 300))
            x = [float(rng.choice((1, T, rng.randint(1, T)))) for _ in range(n)]
            metric, lo_b, hi_b = "years", 0.0, float(T)
        m, lo, hi = seed_interval(x, metric, T)
        assert lo_b <= lo <= m <= hi <= hi_b, (metric, x, (m, lo, hi))


def test_it_is_close_to_the_t_interval_when_the_spread_is_small():
    x = [0.50, 0.51, 0.52]
    _, lo, hi = seed_interval(x, "income_gini")
    _, tlo, thi = t_interval(x)
    assert lo == pytest.approx(tlo, abs=2e-4) and hi == pytest.approx(thi, abs=2e-4)
    g = [1.00e6, 1.01e6, 1.02e6]
    _, lo, hi = seed_interval(g, "per_capita_gdp")
    _, tlo, thi = t_interval(g)
    assert lo == pytest.approx(tlo, rel=1e-3) and hi == pytest.approx(thi, rel=1e-3)


def test_degenerate_cases_are_documented_ones():
    # one seed: the mean alone, no interval
    m, lo, hi = seed_interval([0.3], "income_gini")
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in seed_interval([], "years", 300))
    # every seed on a closed end, or all equal: the point
    assert seed_interval([300.0, 300.0, 300.0], "years", 300) == (300.0, 300.0, 300.0)
    assert seed_interval([0.0, 0.0], "per_capita_gdp") == (0.0, 0.0, 0.0)
    m, lo, hi = seed_interval([0.4, 0.4, 0.4], "wealth_gini")
    assert lo == m == hi == pytest.approx(0.4)
    # a value that is not finite: the mean as it is, no interval
    m, lo, hi = seed_interval([1.0, math.inf], "welfare_ce")
    assert m == math.inf and math.isnan(lo) and math.isnan(hi)
    # a value outside the range says the table or the data is wrong
    with pytest.raises(ValueError, match="'income_gini'.*outside its range"):
        seed_interval([0.5, 1.2], "income_gini")
    with pytest.raises(ValueError, match="'years'"):
        seed_interval([10.0, 301.0], "years", 300)
    # without a horizon the years are bounded below only, and the method says so
    m, lo, hi = seed_interval([1.0, 32.0, 300.0], "years")
    assert 0 < lo < m < hi
    assert "horizon unknown" in interval_method("years")


def test_the_methods_read_as_the_table_says():
    assert interval_method("per_capita_gdp") == "t-interval on the log scale"
    assert interval_method("income_gini") == "t-interval on the logit scale of [0, 1]"
    assert interval_method("years", 300) == "t-interval on the logit scale of years / T (T = 300)"
    assert interval_method("welfare_ce_pct") == "t-interval on the log scale of x + 100"
    assert METRIC_RANGES["per_capita_gdp"].heavy_tailed
    assert seed_spread([3.0, 1.0, 1e12]) == (3.0, 1.0, 1e12)


def test_coverage_of_a_bounded_share_stays_near_95_percent():
    # Beta(8, 12) shares (mean 0.4), 5 seeds: the logit-scale interval covers the mean
    rng = random.Random(2)
    cover = sum(
        (lambda r: r[1] <= 0.4 <= r[2])(
            seed_interval([rng.betavariate(8, 12) for _ in range(5)], "income_gini")
        )
        for _ in range(1000)
    )
    assert 0.92 <= cover / 1000 <= 0.98
