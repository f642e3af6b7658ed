"""Gini closed forms (book:model-metrics), weighted and unweighted, the Gini normalised for negative
values, and the episode metrics."""

import itertools

import pytest
import torch

from smfg.economy.metrics import (
    companion_mean,
    gini,
    gini_rsv,
    gini_rsv_sorted,
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


def test_gini_rsv_of_a_hand_computed_case_with_negatives():
    # x = (-2, 1, 3): pairwise |differences| 3, 5, 2, so sum over ordered pairs 20;
    # n = 3, sum |x| = 6: G_RSV = 20 / (2 * 3 * 6) = 5/9. The ordinary Gini divides by
    # 2 * 3 * sum x = 12 instead and gives 20/12 = 5/3, above 1.
    x = torch.tensor([[3.0, -2.0, 1.0]], dtype=torch.float64)
    assert gini_rsv(x).item() == pytest.approx(5 / 9, rel=1e-15)
    assert gini(x).item() == pytest.approx(5 / 3, rel=1e-15)
    # the polarised case, all negatives with one unit and all positives with another:
    # (-4, 0, 0, 6): |differences| 4, 4, 10, 0, 6, 6 -> 30 per ordered half, 60 in all;
    # 60 / (2 * 4 * 10) = 3/4 = (n - 1) / n, the largest value for n = 4
    y = torch.tensor([[0.0, -4.0, 6.0, 0.0]], dtype=torch.float64)
    assert gini_rsv(y).item() == pytest.approx(3 / 4, rel=1e-15)
    # a negative total: the ordinary Gini turns negative, the normalised one does not
    z = torch.tensor([[-5.0, 1.0]], dtype=torch.float64)  # 2 * 6 / (2 * 2 * 6) = 1/2
    assert gini_rsv(z).item() == pytest.approx(0.5, rel=1e-15) and gini(z).item() < 0


def test_gini_rsv_lies_in_0_1_is_scale_free_and_is_the_ordinary_gini_without_negatives():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(64, 37, generator=gen, dtype=torch.float64) * 5 + 1  # many negatives
    x[0] = -x[0].abs()  # a row with only negatives
    x[1] = 0.0
    g = gini_rsv(x)
    assert g.shape == (64,) and ((g >= 0) & (g < 1)).all()
    assert g[1] == 0.0
    assert torch.allclose(gini_rsv(7.5 * x), g, rtol=1e-12, atol=0)
    for j in (0, 5, 9):  # against the pairwise definition over the sum of |x|
        row = x[j].tolist()
        pair = sum(abs(a - b) for a, b in itertools.product(row, row))
        assert g[j].item() == pytest.approx(pair / (2 * 37 * sum(map(abs, row))), rel=1e-12)
    pos = x.abs()
    assert (gini_rsv(pos) - gini(pos)).abs().max().item() < 1e-12
    assert torch.equal(gini_rsv(pos), gini(pos))  # the same sums: bit for bit
    assert torch.equal(gini_rsv_sorted(sort_last(x)), g)


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
