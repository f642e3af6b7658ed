"""The batched environment: observations, normaliser, mean field, rewards, metrics."""

import pytest
import torch

from smfg.config import economy_params
from smfg.env import (
    LEADER_REWARDS,
    RunningNormalizer,
    SMFGEnv,
    mean_field,
)


def brute_leader_obs(a, income, e):
    """The original's obs: sort descending, top floor(0.1N), bottom from floor(0.5N) on."""
    n = len(a)
    wi = sorted(range(n), key=lambda k: a[k], reverse=True)
    ii = sorted(range(n), key=lambda k: income[k], reverse=True)
    top, bot = wi[: n // 10], wi[n // 2 :]
    itop, ibot = ii[: n // 10], ii[n // 2 :]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return [
        mean([a[k] for k in top]),
        mean([income[k] for k in itop]),
        mean([e[k] for k in itop]),
        mean([a[k] for k in bot]),
        mean([income[k] for k in ibot]),
        mean([e[k] for k in ibot]),
    ]


@pytest.mark.parametrize("variant", ["taxai", "clearing"])
def test_leader_observation_matches_the_original_definition(variant):
    env = SMFGEnv(economy_params(variant), 57, n_envs=3, seed=4, shared_households=False)
    env.reset()
    act = torch.full((3, 57, 2), 0.95, dtype=torch.float64)
    for _ in range(3):
        out = env.step(torch.full((3, 5), 0.001), act)
    st = env.state
    for j in range(3):
        want = brute_leader_obs(st.a[j].tolist(), st.income[j].tolist(), st.e[j].tolist())
        torch.testing.assert_close(out.obs.leader[j], torch.tensor(want, dtype=torch.float64))
    assert out.obs.households.shape == (3, 57, 2)
    torch.testing.assert_close(out.obs.households[..., 1], st.a)
    torch.testing.assert_close(out.obs.households[..., 0], st.e)


def test_first_observation_shows_survey_income_and_assets():
    p = economy_params("taxai")
    env = SMFGEnv(p, 20, seed=0)
    obs = env.reset()
    hh = env.households
    torch.testing.assert_close(obs.households[0, :, 1], hh.a0[0])
    top_income = hh.income0[0].sort(descending=True).values[:2].mean()
    torch.testing.assert_close(obs.leader[0, 1], top_income)


def test_running_normalizer_matches_full_batch_statistics_and_is_saved():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 3, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 5, 0.1]) + 4
    norm = RunningNormalizer(3, dtype=torch.float64)
    for chunk in x.split(137):
        norm.update(chunk)
    torch.testing.assert_close(norm.mean, x.mean(0))
    torch.testing.assert_close(norm.var, x.var(0, unbiased=False))
    before = norm.mean.clone()
    y = norm(x)  # forward never updates
    assert torch.equal(norm.mean, before)
    torch.testing.assert_close(y.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-7, rtol=0)
    other = RunningNormalizer(3, dtype=torch.float64)
    other.load_state_dict(norm.state_dict())
    assert torch.equal(other(x), y)
    with pytest.raises(ValueError, match="NaN"):
        norm.update(torch.tensor([[float("nan"), 0.0, 0.0]]))


def test_mean_field_is_the_mean_over_households():
    obs = torch.arange(24, dtype=torch.float64).reshape(2, 6, 2)
    act = torch.ones(2, 6, 2, dtype=torch.float64)
    mf = mean_field(obs, act)
    assert mf.shape == (2, 4)
    torch.testing.assert_close(mf[0], torch.tensor([5.0, 6.0, 1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("name", LEADER_REWARDS)
def test_leader_rewards(name):
    env = SMFGEnv(economy_params("taxai"), 30, seed=1, leader_reward=name)
    env.reset()
    before = env.state
    out = env.step(torch.full((1, 5), 0.3), torch.full((1, 30, 2), 0.98))
    r, fl = out.leader_reward, out.flows
    if name == "gdp":
        torch.testing.assert_close(r, 100 * (fl.K_next - before.K) / before.K)
        assert r.item() > 0
    elif name == "welfare":
        torch.testing.assert_close(r, fl.u.sum(-1))
    assert torch.isfinite(r).all()


def test_unknown_reward_and_bad_sizes_are_rejected():
    p = economy_params("taxai")
    with pytest.raises(ValueError, match="leader_reward.*allowed"):
        SMFGEnv(p, 20, leader_reward="happiness")
    with pytest.raises(ValueError, match="n_households.*allowed"):
        SMFGEnv(p, 5)


def test_episode_metrics_follow_spec_6():
    env = SMFGEnv(economy_params("clearing"), 40, seed=3)
    env.reset()
    ys, us = [], []
    for _ in range(10):
        out = env.step(torch.full((1, 5), 0.001), torch.full((1, 40, 2), 0.6))
        ys.append(out.flows.Y.item() / 40 * env.params.money_unit)
        us.append(out.flows.u.sum().item())
    m = env.episode_metrics()
    assert m["years"].item() == 10
    assert m["per_capita_gdp"].item() == pytest.approx(sum(ys) / 10, rel=1e-12)
    assert m["social_welfare"].item() == pytest.approx(sum(us) / 10, rel=1e-12)
    env.reset(mask=torch.tensor([True]))
    assert env.episode_metrics()["years"].item() == 0


def test_weighted_reward_uses_the_given_weights_a1_a2_a3():
    """The weighted reward a1 Y/Y_prev + a2 (1 - wealth Gini) + a3 sum u (book:model-rewards),
    term by term: each weight alone gives its own term, and the sum is linear in the weights."""
    terms = []
    for w in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (2.0, -0.5, 0.25)]:
        env = SMFGEnv(
            economy_params("taxai"),
            30,
            seed=1,
            leader_reward="weighted",
            reward_weights="{},{},{}".format(*w),
        )
        env.reset()
        before = env.state
        out = env.step(torch.full((1, 5), 0.3), torch.full((1, 30, 2), 0.98))
        terms.append(out.leader_reward.double())
    fl = out.flows
    torch.testing.assert_close(terms[0], (fl.Y / before.Y_prev).double(), rtol=1e-12, atol=0)
    torch.testing.assert_close(terms[1], (1.0 - fl.wealth_gini).double(), rtol=1e-12, atol=0)
    torch.testing.assert_close(terms[2], fl.u.sum(-1).double(), rtol=1e-12, atol=0)
    mix = 2.0 * terms[0] - 0.5 * terms[1] + 0.25 * terms[2]
    torch.testing.assert_close(terms[3], mix, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bad", [(1.0, 2.0), "1,x,0", (1.0, float("nan"), 0.0), None])
def test_bad_reward_weights_are_rejected_by_name(bad):
    with pytest.raises(ValueError, match="leader_reward_weights.*three finite numbers"):
        SMFGEnv(economy_params("taxai"), 20, leader_reward="weighted", reward_weights=bad)
