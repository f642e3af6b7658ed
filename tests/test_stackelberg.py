"""SMFRL's own update rules: the original's joint follower batch (all N households of each sampled
step, with its exact mean field) and the leader's gradient, 'nash' (the followers' mean action
held fixed, book:learning-leader) or 'stackelberg' (differentiated through the follower actor's
reaction), on the one-step game of ``toygame.py`` whose two equilibria are known in closed form."""

import pytest
import torch
from toygame import (
    TOL,
    TOY,
    X_NASH,
    X_STACKELBERG,
    Y_CONTROL,
    Y_PRICE_TAKING,
    externality_rewards,
    play_offpolicy,
)

from smfg.algos import smfrl
from smfg.algos.core import HH_OBS
from smfg.env import Observation


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _filled_learner(n: int = 30, steps: int = 40, **over) -> smfrl.SMFRLLearner:
    """A learner whose replay holds ``steps`` random steps of 2 economies of ``n`` households."""
    cfg = smfrl.smfrl_config(
        "smoke",
        variant="clearing",
        n_households=n,
        batch_size=16,
        **{"follower_batch": "joint", **over},
    )
    L = smfrl.SMFRLLearner(cfg)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        lo, ho = torch.rand(2, 6, generator=g) * 5, torch.rand(2, n, 2, generator=g) * 5
        u_l, u_f = L.act(lo, ho, 0.3, g, 0.3)
        r_l, r_f = torch.randn(2, generator=g), torch.randn(2, n, generator=g)
        L.store(lo, u_l, r_l, lo + 1, ho, u_f, r_f, ho + 1, torch.zeros(2, dtype=torch.bool))
    return L


def test_joint_follower_batch_holds_all_households_and_their_exact_mean_field():
    n = 30
    L = _filled_learner(n)
    b = L.follower_batch()
    S = L.cfg.batch_size
    assert b["s_f"].shape == (S, n, HH_OBS) and b["a_f"].shape == (S, n, 2)
    assert b["r_f"].shape == (S, n) and b["s_f2"].shape == (S, n, HH_OBS)
    # the stored mean field is the exact mean of the batch's households (normalising is affine)
    assert torch.allclose(b["mf"][:, :HH_OBS], b["s_f"].mean(1), atol=1e-6)
    assert torch.allclose(b["mf"][:, HH_OBS:], b["a_f"].mean(1), atol=1e-6)
    assert torch.allclose(b["mf_obs2"], b["s_f2"].mean(1), atol=1e-6)
    # the target's and the actor's mean actions: the exact means over all n households
    a_l2 = L.targets.actor_l(b["s_l2"])
    acts, mean = smfrl.joint_response(L.targets.actor_f, b["s_f2"], a_l2)
    assert acts.shape == (S, n, 2)
    one = torch.stack([L.targets.actor_f(b["s_f2"][k], a_l2[k]) for k in range(S)])
    assert torch.allclose(mean, one.mean(1), atol=1e-6)
    # losses are finite and the critic's broadcast step inputs equal its per-row inputs
    assert torch.isfinite(L.follower_critic_loss(L.nets, L.targets, b))
    assert torch.isfinite(L.follower_actor_loss(L.nets, L.targets, b))
    q_b = L.nets.critic_f(b["s_f"], b["a_f"], b["a_l"][:, None], b["mf"][:, None])
    q_r = L.nets.critic_f(
        b["s_f"], b["a_f"], b["a_l"][:, None].expand(-1, n, -1), b["mf"][:, None].expand(-1, n, -1)
    )
    assert torch.allclose(q_b, q_r, atol=1e-5)


def test_stackelberg_leader_batch_holds_the_households_of_its_steps():
    L = _filled_learner(leader_gradient="stackelberg")
    b = L.leader_batch()
    assert b["cur"].shape == (L.cfg.batch_size, 30, HH_OBS)
    assert torch.allclose(b["mf"][:, :HH_OBS], b["cur"].mean(1), atol=1e-6)
    # the gradient reaches the leader through the followers' reaction, not their parameters
    L.leader_update()
    L.leader_update()
    assert all(p.grad is None for p in L.nets.actor_f.parameters())


def test_the_options_are_validated_by_name():
    with pytest.raises(ValueError, match="follower_batch"):
        smfrl.smfrl_config("smoke", follower_batch="all")
    with pytest.raises(ValueError, match="leader_gradient"):
        smfrl.smfrl_config("smoke", leader_gradient="bilevel")
    assert smfrl.smfrl_config("paper").follower_batch == "joint"
    assert smfrl.smfrl_config("quick").follower_batch == "sampled"


@pytest.mark.slow
@pytest.mark.parametrize(
    "gradient, target, other",
    [("nash", X_NASH, X_STACKELBERG), ("stackelberg", X_STACKELBERG, X_NASH)],
)
def test_smfrl_reaches_the_equilibrium_of_its_leader_gradient(gradient, target, other):
    """SMFRL's own act/store/update on the one-step game, joint batch, three seeds: 'nash'
    reaches x_N, 'stackelberg' x_S (0.32 apart), each within the game's tolerance."""
    h = 10
    for seed in (0, 1, 2):
        cfg = smfrl.smfrl_config(
            "quick",
            **{**TOY, "n_households": h},
            seed=seed,
            follower_batch="joint",
            leader_gradient=gradient,
        )
        x, _ = play_offpolicy(smfrl.SMFRLLearner(cfg), iters=100, seed=seed, households=h)
        assert abs(x - target) < TOL and abs(x - other) > 0.25, (gradient, seed, x, target)


@pytest.mark.slow
@pytest.mark.parametrize(
    "gradient, target, other",
    [("own", Y_PRICE_TAKING, Y_CONTROL), ("population", Y_CONTROL, Y_PRICE_TAKING)],
)
def test_smfrl_followers_reach_the_equilibrium_of_their_gradient(gradient, target, other):
    """The followers' game with an externality (``toygame.externality_rewards``), joint
    batch, two seeds: price-taking households ('own') reach the mean field game's y_N, the
    shared actor differentiated through the population's mean ('population',
    book:learning-smfrl-updates) the mean field control's y_C (0.2 apart), each within the game's
    tolerance."""
    h = 10
    for seed in (0, 1):
        cfg = smfrl.smfrl_config(
            "quick",
            **{**TOY, "n_households": h},
            seed=seed,
            follower_batch="joint",
            follower_gradient=gradient,
        )
        _, y = play_offpolicy(
            smfrl.SMFRLLearner(cfg), iters=100, seed=seed, households=h, rewards=externality_rewards
        )
        assert abs(y - target) < TOL and abs(y - other) > 0.12, (gradient, seed, y, target)


def test_collection_noise_options_of_the_followers():
    """The original's one draw per economy shared by its households, or independent draws; the
    followers' own discount in their critic's target."""
    n = 30
    obs_l, obs_h = torch.rand(2, 6) * 5, torch.rand(2, n, 2) * 5

    def spread(**over):
        L = smfrl.SMFRLLearner(
            smfrl.smfrl_config("smoke", variant="clearing", n_households=n, **over), train=False
        )
        g = torch.Generator().manual_seed(0)
        _, u = L.collect_act(Observation(obs_l, obs_h), g, 0.0)
        _, u0 = L.act(obs_l, obs_h, 0.0, g, 0.0)
        return (u - u0).std(1).max().item(), (u - u0).abs().max().item()

    within, size = spread()  # shared: the households of an economy move together
    assert within < 1e-6 and 0.0 < size < 0.1
    within, size = spread(follower_noise_std=0.3, follower_noise_per_household=True)
    assert within > 0.1
    cfg = smfrl.smfrl_config("smoke", follower_gamma=0.96)
    assert cfg.follower_discount == 0.96 and cfg.gamma == 0.975
    with pytest.raises(ValueError, match="follower_noise_std"):
        smfrl.smfrl_config("smoke", follower_noise_std=3.0)
