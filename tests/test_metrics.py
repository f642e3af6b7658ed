"""Gini closed forms (SPEC 6), weighted and unweighted, and the episode metrics."""

import itertools

import pytest
import torch

from smfg.economy.metrics import (
    companion_mean,
    gini,
    gini_sorted,
    sort_last,
    top_bottom_sums,
    weighted_gini,
)


def pairwise_gini(x):
    """Mean absolute difference over twice the mean: an independent definition."""
    n = len(x)
    mad = sum(abs(a - b) for a, b in itertools.product(x, x)) / (n * n)
    return mad / (2 * (sum(x) / n))


def test_gini_of_equal_values_is_zero_and_of_one_holder_is_n_minus_1_over_n():
    for n in (2, 10, 1000):
        assert gini(torch.full((1, n), 3.7, dtype=torch.float64)).item() == pytest.approx(
            0, abs=1e-15
        )
        x = torch.zeros(1, n, dtype=torch.float64)
        x[0, n // 3] = 5.0
        assert gini(x).item() == pytest.approx((n - 1) / n, rel=1e-14)
    assert gini(torch.zeros(2, 5)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_gini_of_pareto_samples_is_one_over_2a_minus_1(a):
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(1, 2_000_000, generator=gen, dtype=torch.float64)
    x = (1 - u).pow(-1 / a)  # Pareto(a) with minimum 1
    # the estimator converges slowly for heavy tails (a = 1.5 has infinite variance)
    tol = {1.5: 0.02, 2.0: 0.005, 3.0: 0.002}[a]
    assert gini(x).item() == pytest.approx(1 / (2 * a - 1), abs=tol)


def test_gini_matches_the_pairwise_definition_and_is_batched():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 40, generator=gen, dtype=torch.float64) ** 3
    g = gini(x)
    for j in range(3):
        assert g[j].item() == pytest.approx(pairwise_gini(x[j].tolist()), rel=1e-12)
    assert torch.equal(gini_sorted(sort_last(x)), g)


def test_weighted_gini_equals_replication_and_unweighted_with_equal_weights():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(2, 30, generator=gen, dtype=torch.float64)
    w = torch.randint(1, 5, (2, 30), generator=gen).to(torch.float64)
    for j in range(2):
        rep = torch.repeat_interleave(x[j], w[j].long())
        assert weighted_gini(x[j : j + 1], w[j : j + 1]).item() == pytest.approx(
            gini(rep[None]).item(), rel=1e-12
        )
    assert torch.allclose(weighted_gini(x, torch.ones_like(x)), gini(x), rtol=1e-13)
    # weights scale-free
    assert torch.allclose(weighted_gini(x, 7 * w), weighted_gini(x, w), rtol=1e-13)


def test_top_bottom_sums_and_companion_means_with_ties():
    key = torch.tensor([[5.0, 1.0, 3.0, 3.0, 3.0, 9.0, 0.0, 3.0, 7.0, 2.0]], dtype=torch.float64)
    other = torch.arange(10, dtype=torch.float64)[None]
    ks = sort_last(key)
    top, bottom = top_bottom_sums(ks, 3, 5)
    assert top.item() == 9 + 7 + 5 and bottom.item() == 0 + 1 + 2 + 3 + 3
    # bottom 5: 0,1,2 then two of the four 3s (rows 2,3,4,7: others 2,3,4,7 share 2 slots)
    m = companion_mean(key, other, ks[:, 4], 5, top=False)
    expect = (6 + 1 + 9 + 2 / 4 * (2 + 3 + 4 + 7)) / 5
    assert m.item() == pytest.approx(expect, rel=1e-14)
    # permuting the tied rows does not change the result
    perm = torch.tensor([0, 1, 7, 3, 4, 5, 6, 2, 8, 9])
    assert companion_mean(key[:, perm], other[:, perm], ks[:, 4], 5, top=False).item() == (
        pytest.approx(expect, rel=1e-14)
    )
