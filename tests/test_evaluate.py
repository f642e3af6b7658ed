"""The evaluation harness: batching of seeds, intervals, bad policies."""

import math

import pytest
import torch

from smfg.evaluate import evaluate
from smfg.stats import mean_interval, t_quantile_975


class Fixed:
    """A minimal household rule for the harness tests (the library's live in smfg.policies)."""

    name = "fixed"

    def __init__(self, s, f):
        self.s, self.f = s, f

    def reset(self, env):
        self.shape = (env.n_envs, env.n_households, 2)
        self.dtype = env.dtype

    def __call__(self, obs, gov_raw):
        a = torch.empty(self.shape, dtype=self.dtype)
        a[..., 0], a[..., 1] = self.s, self.f
        return a


class Leader:
    name = "raw-leader"

    def __init__(self, value=0.001):
        self.value = value

    def reset(self, env):
        self.E, self.dtype = env.n_envs, env.dtype

    def __call__(self, obs, income):
        return torch.full((self.E, 5), self.value, dtype=self.dtype)


def test_k_seeds_in_one_batch_equal_k_separate_runs():
    kw = dict(variant="clearing", n_households=30, n_episodes=3, steps=25, noise_std=0.01)
    batch = evaluate(Leader(0.2), Fixed(0.8, 0.4), seeds=(3, 4, 5), **kw)
    for s in (3, 4, 5):
        alone = evaluate(Leader(0.2), Fixed(0.8, 0.4), seeds=(s,), **kw)
        mine = batch.episodes[batch.episodes.seed == s].reset_index(drop=True)
        cols = ["per_capita_gdp", "social_welfare", "wealth_gini", "years", "leader_return"]
        for c in cols:
            assert mine[c].tolist() == pytest.approx(alone.episodes[c].tolist(), rel=1e-12), c
    assert len(batch.episodes) == 9 and set(batch.summary.metric) >= {"per_capita_gdp", "years"}
    assert (batch.episodes.horizon == 25).all()
    how = batch.summary.set_index("metric").ci_method
    assert how["years"].endswith("years / T (T = 25)") and how["social_welfare"].startswith("pl")
    for r in batch.summary.itertuples():  # every interval inside its metric's range
        lo, hi = {
            "per_capita_gdp": (0, math.inf),
            "years": (0, 25),
            "income_gini": (0, 1),
            "wealth_gini": (0, 1),
        }.get(r.metric, (-math.inf, math.inf))
        assert lo <= r.ci_low <= r.mean <= r.ci_high <= hi, r


def test_interval_shrinks_as_seeds_grow_on_a_synthetic_case():
    gen = torch.Generator().manual_seed(0)
    widths = []
    for k in (3, 10, 100):
        x = (5.0 + torch.randn(k, generator=gen, dtype=torch.float64)).tolist()
        m, lo, hi = mean_interval(x)
        assert lo < m < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # the interval covers the true mean about 95% of the time
    cover = 0
    for _ in range(400):
        x = (5.0 + torch.randn(5, generator=gen, dtype=torch.float64)).tolist()
        _, lo, hi = mean_interval(x)
        cover += lo <= 5.0 <= hi
    assert 0.91 <= cover / 400 <= 0.99
    assert t_quantile_975(4) == 2.776 and t_quantile_975(10**6) == 1.96
    assert math.isnan(mean_interval([1.0])[1])


def test_taxai_fixed_rule_evaluation_reproduces_the_audit_numbers():
    res = evaluate(
        Leader(),
        Fixed(0.99, 0.9),
        variant="taxai",
        n_households=100,
        n_episodes=2,
        seeds=(0, 1),
        steps=300,
    )
    s = res.summary.set_index("metric")
    assert s.loc["years", "mean"] == 300
    assert 1e12 <= s.loc["per_capita_gdp", "mean"] <= 1e14
    low = evaluate(
        Leader(), Fixed(0.5, 0.9), variant="taxai", n_households=100, n_episodes=2, seeds=(0, 1)
    )
    assert (low.episodes.years == 1).all()
    assert low.episodes.termination.str.contains("goods_market").all()


class NaNPolicy(Fixed):
    name = "broken"

    def __call__(self, obs, gov_raw):
        a = super().__call__(obs, gov_raw)
        a[0, 1, 0] = float("nan")
        return a


def test_a_policy_returning_nan_or_out_of_range_actions_gets_a_clear_error():
    with pytest.raises(ValueError, match="household policy broken returned NaN.*allowed"):
        evaluate(Leader(), NaNPolicy(0.9, 0.5), n_households=20, n_episodes=1, seeds=(0,))
    with pytest.raises(ValueError, match=r"household policy fixed returned actions in.*allowed"):
        evaluate(Leader(), Fixed(1.5, 0.5), n_households=20, n_episodes=1, seeds=(0,))
    with pytest.raises(ValueError, match=r"government policy raw-leader.*allowed"):
        evaluate(Leader(-3.0), Fixed(0.9, 0.5), n_households=20, n_episodes=1, seeds=(0,))
