"""The stable leader of book:learning-solving: the trust region bounds how far an epoch moves
the leader's actor, the initial action is where the config says, and every epoch reports the
leader's mean action."""

import pytest
import torch

from smfg.algos.core import leader_env_action
from smfg.algos.offpolicy import STABLE_LEADER
from smfg.algos.smfrl import SOLVING, SMFRLConfig, SMFRLTrainer

TINY = dict(
    variant="clearing",
    n_households=10,
    epochs=2,
    steps_per_epoch=20,
    leader_updates=4,
    follower_updates=2,
    batch_size=16,
    eval_episodes=1,
    eval_steps=5,
    mf_sample=8,
)


def _leader_moves(**over) -> float:
    """The mean distance, over the replay's leader states, between the leader's actor output
    after one epoch of aggressive updates (learning rate 1e-2, 60 actor steps) and before."""
    torch.manual_seed(0)
    cfg = SMFRLConfig(
        **{**TINY, "leader_updates": 120, "leader_actor_lr": 1e-2, "leader_method": "td3", **over}
    )
    tr = SMFRLTrainer(cfg)
    L = tr.learner
    tr.collect()
    s_l = L.nets.norm_l(L.buf.data["l_obs"][: L.buf.size])
    with torch.no_grad():
        before = L.nets.actor_l(s_l)
    L.update()
    with torch.no_grad():
        after = L.nets.actor_l(s_l)
    return float((after - before).norm(dim=-1).mean())


def test_trust_region_bounds_an_epochs_move():
    free = _leader_moves()
    bounded = _leader_moves(leader_trust=0.05)
    # without the region the actor runs far (to a corner of the box: up to 2 sqrt 5); with it,
    # the penalty holds it within the radius (allowing a small overshoot of the soft wall)
    assert free > 0.3, free
    assert bounded < 0.05 * 1.5, bounded


def test_trust_objective_is_the_critic_inside_the_radius():
    cfg = SMFRLConfig(**TINY, leader_trust=0.1)
    L = SMFRLTrainer(cfg).learner
    q = torch.tensor([[1.0, 3.0]])
    a = torch.zeros(1, 2, 5, requires_grad=True)
    inside = L.leader_pi_objective(q, a, {"anchor": torch.full((1, 2, 5), 0.01)})
    # -Q / mean |Q| and no penalty within the radius
    assert float(inside.detach()) == pytest.approx(-(1.0 + 3.0) / 2.0 / 2.0)
    outside = L.leader_pi_objective(q, a, {"anchor": torch.full((1, 2, 5), 0.2)})
    dist = (0.2**2 * 5) ** 0.5
    assert float(outside.detach()) == pytest.approx(-1.0 + (dist - 0.1) ** 2 / 0.1**2, rel=1e-6)
    # without the trust region: the original's -mean Q
    plain = SMFRLTrainer(SMFRLConfig(**TINY)).learner
    assert float(plain.leader_pi_objective(q, a, {})) == pytest.approx(-2.0)


def test_leader_starts_at_its_initial_action():
    init = (0.05, 0.2, 0.01, 0.5, 0.3)
    tr = SMFRLTrainer(SMFRLConfig(**TINY, leader_init=init))
    obs = torch.randn(64, 6)  # normalised observations
    c = leader_env_action(tr.learner.nets.actor_l(obs))
    assert torch.allclose(c, torch.tensor(init).expand_as(c), atol=0.03), c.mean(0)
    # the default start is the network's own, about the middle of the box
    mid = leader_env_action(SMFRLTrainer(SMFRLConfig(**TINY)).learner.nets.actor_l(obs))
    assert abs(float(mid.detach().mean()) - 0.5) < 0.15


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("leader_trust", 0.0, "(0, 4]"),
        ("leader_trust", 5.0, "(0, 4]"),
        ("leader_init", (0.1, 0.2), "5 numbers in (0, 1)"),
        ("leader_init", (0.0, 0.1, 0.1, 0.1, 0.1), "5 numbers in (0, 1)"),
    ],
)
def test_bad_trust_and_init_values_are_named(field, value, allowed):
    with pytest.raises(ValueError, match=field) as e:
        SMFRLConfig(**TINY, **{field: value})
    assert allowed in str(e.value)


def test_epochs_report_the_leaders_mean_action_and_presets_hold():
    cfg = SMFRLConfig(**TINY, **dict(STABLE_LEADER))
    tr = SMFRLTrainer(cfg)
    row = tr.train_epoch()
    c = [row[f"leader_c{k}"] for k in range(5)]
    # the stable leader's first epoch: near its start of 0.05, with the exploration noise
    assert all(0.001 <= v <= 0.2 for v in c), c
    assert dict(SOLVING)["follower_gradient"] == "own"
    assert SMFRLConfig(**{**TINY, **dict(SOLVING)}).follower_discount == 0.96
