"""Behaviour cloning (book:learning-bc): survey pairs, the four networks and their losses, the
follower actor that initialises the "-BC" runs."""

import numpy as np
import pytest
import torch

from smfg.algos.bc import (
    LOSSES,
    NETWORKS,
    SurveyPairs,
    _pretrained_state,
    actor_output,
    fit_normalizer,
    free_market_u,
    pretrained_follower,
    survey_pairs,
    train_all,
    train_bc,
)
from smfg.algos.core import follower_env_action, leader_env_action, signed_log
from smfg.config import economy_params
from smfg.economy.data import load_household_table, weighted_stats
from smfg.env import RunningNormalizer, SMFGEnv
from smfg.policies.households import survey_actions

VARIANTS = ("taxai", "clearing")
SURVEY_EPOCHS = 4  # the Figure 7 fits below; the library default is 30


@pytest.fixture(scope="module")
def trained():
    """The four networks per variant, 4 epochs on 80% of the families (about 15 s in all)."""
    return {v: train_all(v, epochs=SURVEY_EPOCHS, seed=0) for v in VARIANTS}


# --- survey pairs ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_pairs_hold_the_survey_actions_and_weights(variant):
    table = load_household_table()
    p = survey_pairs(variant)
    assert len(p) == table.n_rows and p.states.dtype == torch.float32
    s, f = survey_actions(table, variant)
    assert torch.equal(p.actions, torch.as_tensor(np.stack([s, f], -1), dtype=torch.float32))
    assert torch.equal(p.rows, torch.arange(table.n_rows))
    assert torch.equal(p.family, p.rows // 5)
    if variant == "taxai":
        assert torch.equal(p.weights, torch.ones(table.n_rows)) and p.asset_scale == 1.0
    else:
        assert torch.equal(p.weights, torch.tensor(table.wgt, dtype=torch.float32))
        # assets in initial-output units: weighted mean = assets_over_output0 (3)
        w = p.weights.double()
        mean = float((w * p.states[:, 1].double()).sum() / w.sum())
        assert mean == pytest.approx(economy_params("clearing").assets_over_output0, rel=1e-6)


def test_split_keeps_families_together_and_is_seeded():
    p = survey_pairs("clearing")
    tr, va = p.split(0.2, seed=0)
    assert len(tr) + len(va) == len(p)
    assert not set(tr.family.tolist()) & set(va.family.tolist())
    assert len(va) % 5 == 0 and len(va) / len(p) == pytest.approx(0.2, abs=1e-3)
    assert torch.equal(va.rows, p.split(0.2, seed=0)[1].rows)
    assert not torch.equal(va.rows, p.split(0.2, seed=1)[1].rows)
    with pytest.raises(ValueError, match="frac_valid"):
        p.split(1.0)


def _env_households(variant):
    """Two economies of 500 households, each drawing its own rows."""
    env = SMFGEnv(economy_params(variant), 500, n_envs=2, seed=3, shared_households=False)
    hh = env.households
    assert hh.rows.shape == (2, 500) and not np.array_equal(hh.rows[0], hh.rows[1])
    return hh, survey_pairs(variant).states[torch.as_tensor(hh.rows)]


def test_taxai_states_are_the_env_initial_households():
    hh, st = _env_households("taxai")
    keep = ~hh.superstar0  # a superstar's e0 is replaced at reset (probability 2.2e-6)
    assert torch.equal(st[..., 0][keep], hh.e0.float()[keep])  # EDUC, -1 -> 0.1
    assert torch.equal(st[..., 1], hh.a0.float())  # ASSET in dollars


def test_clearing_states_match_the_env_up_to_one_factor_per_economy():
    """The reset scales each economy's drawn net worth to mean assets_over_output0; BC scales
    the whole weighted survey to that mean. So env assets = BC assets x (weighted survey mean
    net worth / mean net worth of the economy's draw), one constant per economy."""
    hh, st = _env_households("clearing")
    assert torch.equal(st[..., 0][~hh.superstar0], hh.e0.float()[~hh.superstar0])
    table = load_household_table()
    nw = np.maximum(table.networth, 0.0)
    survey_mean = np.sum(table.wgt * nw) / np.sum(table.wgt)
    ratios = []
    for e in range(2):
        pos = st[e, :, 1] > 0
        assert torch.all(hh.a0[e][~pos] == 0)  # net worth <= 0: zero assets in both
        ratio = hh.a0[e][pos] / st[e, pos, 1].double()
        expected = survey_mean / nw[hh.rows[e]].mean()
        np.testing.assert_allclose(ratio.numpy(), expected, rtol=1e-6)  # float32 states
        ratios.append(expected)
    assert ratios[0] != pytest.approx(ratios[1], rel=1e-3)  # each draw has its own factor


def test_fit_normalizer_with_unit_weights_equals_running_update():
    x = signed_log(survey_pairs("taxai").states[:5000])
    ref = RunningNormalizer(2)
    ref.update(x)
    got = fit_normalizer(x)
    torch.testing.assert_close(got.mean, ref.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.var, ref.var, rtol=1e-5, atol=1e-6)
    assert float(got.count) == float(ref.count) == 5000


def test_free_market_leader_input_maps_to_the_lower_clip():
    torch.testing.assert_close(leader_env_action(free_market_u()), torch.full((5,), 0.001))
    q = free_market_u(paper_quirks=True)
    torch.testing.assert_close(leader_env_action(q, paper_quirks=True), torch.full((5,), 0.001))


# --- synthetic linear-Gaussian policy: the fits recover it --------------------------------

W = torch.tensor([[0.3, -0.15], [0.1, 0.25]])
B = torch.tensor([0.1, -0.2])
SIGMA = torch.tensor([0.15, 0.25])


def _synthetic(n, seed):
    """x ~ N(0, I); u = W x + b + sigma eps (|u| > 0.9 for about 2.5% of draws)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    mean = x @ W.T + B
    u = (mean + SIGMA * torch.randn(n, 2, generator=g)).clamp(-0.999, 0.999)
    i = torch.arange(n)
    return SurveyPairs(x, (u + 1.0) / 2.0, torch.ones(n), i, i), mean


def _r2(pred, truth):
    return 1.0 - ((pred - truth) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)


@pytest.mark.parametrize("network", ["mlp_gaussian", "maddpg_actor"])
def test_fit_recovers_a_linear_gaussian_policy(network):
    # Observed (3,000 points, 15 epochs, batch 64, lr 3e-3): held-out R^2 0.986 / 0.982
    # (mlp_gaussian) and 0.992 / 0.981 (maddpg_actor); std 0.157 / 0.248 for 0.15 / 0.25.
    train, _ = _synthetic(3000, seed=0)
    test, mean_test = _synthetic(2000, seed=1)
    res = train_bc(train, network, epochs=15, batch_size=64, lr=3e-3, seed=0, valid=test)
    net, norm = res.policy()
    pred = actor_output(network, net, norm, test.states)
    assert torch.all(_r2(pred, mean_test) > 0.95)
    if LOSSES[network] == "nll":
        torch.testing.assert_close(net.log_std.exp(), SIGMA, rtol=0.15, atol=0.0)
    assert res.valid_loss[-1] < res.valid_loss[0]


# --- survey: the loss falls, the follower reproduces the shares ------------------------------

# Ratio initial / final validation loss after 4 epochs, observed with seed 0:
#   taxai     mlp_gaussian 1.51, lstm_gaussian 1.67, follower_actor 1.92, maddpg_actor 1.94
#   clearing  mlp_gaussian 2.24, lstm_gaussian 2.55, follower_actor 3.83, maddpg_actor 3.26
# (validation loss initial -> final: taxai NLL 2.01 -> 1.33, 2.22 -> 1.33, MSE 0.424 -> 0.221,
# 0.429 -> 0.221; clearing NLL 1.84 -> 0.82, 2.11 -> 0.83, MSE 0.467 -> 0.122, 0.366 -> 0.112).
# Asserted: about half the observed fall.
MIN_FALL = {
    ("taxai", "nll"): 1.25,
    ("taxai", "mse"): 1.45,
    ("clearing", "nll"): 1.6,
    ("clearing", "mse"): 2.0,
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("network", NETWORKS)
def test_survey_validation_loss_falls_by_a_stated_factor(trained, variant, network):
    res = trained[variant][network]
    assert len(res.train_loss) == len(res.valid_loss) == SURVEY_EPOCHS + 1
    # a ratio needs positive losses: the Gaussian NLL stays positive because the shares pile
    # up at the clips (non-workers, dissavers), which keeps the fitted std large
    v0, v1 = res.valid_loss[0], res.valid_loss[-1]
    assert v0 > 0 and v1 > 0
    assert v0 / v1 > MIN_FALL[variant, res.loss], (v0, v1)
    assert res.train_loss[-1] < res.train_loss[0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_cloned_follower_reproduces_the_survey_shares(variant):
    """On held-out families, through follower_env_action and the free-market leader input.

    Observed (8 epochs, seed 0), predicted / survey, weighted: taxai saving median
    0.254 / 0.244, mean 0.341 / 0.341, work mean 0.324 / 0.332; clearing saving median
    0.696 / 0.733, mean 0.618 / 0.605, work mean 0.309 / 0.310. The work share's median is
    not reproduced and is not tested: the survey's work shares are bimodal (a quarter of the
    rows at the lower clip, not working; nearly half at the full-time 0.534), ability and
    assets do not tell the two apart, and a deterministic actor fitted by MSE predicts the
    conditional mean, so its median sits near the survey's mean (work median 0.330 / 0.492
    in taxai, 0.312 / 0.415 in clearing).
    """
    actor, norm = pretrained_follower(variant, epochs=8, seed=0)
    _, valid = survey_pairs(variant).split(0.2, seed=0)  # the families the actor never saw
    shares = follower_env_action(actor_output("follower_actor", actor, norm, valid.states))
    w = valid.weights.numpy()
    pred = [weighted_stats(shares[:, k].numpy(), w) for k in (0, 1)]
    survey = [weighted_stats(valid.actions[:, k].numpy(), w) for k in (0, 1)]
    assert abs(pred[0]["median"] - survey[0]["median"]) < 0.1
    assert abs(pred[0]["mean"] - survey[0]["mean"]) < 0.05
    assert abs(pred[1]["mean"] - survey[1]["mean"]) < 0.05


def test_pretrained_follower_is_the_figure7_actor_cached_and_fresh(trained):
    a1, n1 = pretrained_follower("clearing", epochs=SURVEY_EPOCHS, seed=0)
    hits = _pretrained_state.cache_info().hits
    a2, n2 = pretrained_follower("clearing", economy_params("clearing"), SURVEY_EPOCHS, 0)
    assert _pretrained_state.cache_info().hits == hits + 1
    ref = trained["clearing"]["follower_actor"]
    for k, v in ref.state_dict.items():
        assert torch.equal(a1.state_dict()[k], v) and torch.equal(a2.state_dict()[k], v)
    assert torch.equal(n1.mean, ref.normalizer["mean"])
    with torch.no_grad():  # fresh copies: changing one leaves the cache and the other alone
        next(a1.parameters()).add_(1.0)
    assert torch.equal(next(a2.parameters()), next(iter(ref.state_dict.values())))
    a3, _ = pretrained_follower("clearing", epochs=SURVEY_EPOCHS, seed=0)
    assert torch.equal(next(a3.parameters()), next(a2.parameters()))


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["lstm_gaussian", "follower_actor"])
def test_same_seed_same_weights_other_seed_other_weights(network):
    train, valid = survey_pairs("clearing").subset(torch.arange(2000)).split(0.2, seed=0)
    rng, threads = torch.random.get_rng_state(), torch.get_num_threads()
    a = train_bc(train, network, epochs=1, seed=0, valid=valid)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global RNG is left alone
    assert torch.get_num_threads() == threads
    b = train_bc(train, network, epochs=1, seed=0, valid=valid)
    c = train_bc(train, network, epochs=1, seed=1, valid=valid)
    assert a.valid_loss == b.valid_loss
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert not all(torch.equal(a.state_dict[k], c.state_dict[k]) for k in a.state_dict)


def test_bad_arguments_are_named():
    p = survey_pairs("taxai").subset(torch.arange(50))
    with pytest.raises(ValueError, match="network = 'cnn'"):
        train_bc(p, "cnn")
    with pytest.raises(ValueError, match="epochs"):
        train_bc(p, "maddpg_actor", epochs=-1)
    with pytest.raises(ValueError, match="variant"):
        survey_pairs("nope")


def test_action_distributions_follow_the_mapping_and_the_food_share():
    """The distributions of book:learning-bc: the survey rows' actions are ``survey_actions``' own,
    weighted by the survey weights; a higher food share means less estimated consumption, so saving
    rises (weakly, row by row) while work does not move; the cloned rows are the cloned households'
    first-period actions, inside the action range."""
    from smfg import paper
    from smfg.paper import aggregate as agg
    from smfg.policies.households import survey_actions

    d = paper.action_distributions("smoke", "taxai", food_shares=(0.10, 0.16), n_households=50)
    table = load_household_table()
    sav10, work = survey_actions(table, "taxai", economy_params("taxai"), food_share=0.10)
    sav16, _ = survey_actions(table, "taxai", economy_params("taxai"), food_share=0.16)
    got = d[(d.source == "survey") & (d.food_share == 0.10)]
    np.testing.assert_array_equal(got.value.to_numpy(), sav10)
    np.testing.assert_array_equal(got.weight.to_numpy(), np.asarray(table.wgt, dtype=float))
    assert np.all(sav16 >= sav10) and sav16.mean() > sav10.mean() + 0.05
    w = d[(d.source == "survey") & (d.action == "work share")]
    assert len(w) == len(table.wgt) and w.food_share.isna().all()
    np.testing.assert_array_equal(w.value.to_numpy(), work)
    cloned = d[d.source == "cloned"]
    assert len(cloned) == 2 * 50 and cloned.value.between(0.001, 0.99).all()
    t = agg.action_table(d).set_index(["source", "action", "food_share"])
    row = t.loc[("survey", "saving share", 0.10)]
    assert row["mean"] == pytest.approx(np.average(sav10, weights=table.wgt), rel=1e-12)
    at_low = np.asarray(table.wgt)[sav10 <= 0.001 + 1e-6].sum() / np.sum(table.wgt)
    assert row["at lower clip"] == pytest.approx(at_low, rel=1e-12)
    assert row["p10"] <= row["median"] <= row["p90"]
    with pytest.raises(ValueError, match="food_shares"):
        paper.action_distributions("smoke", "taxai", food_shares=(0.0,))
