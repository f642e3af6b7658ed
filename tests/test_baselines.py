"""The learning baselines of the paper's Table 2 (Rule-based, DDPG, IDDPG, MADDPG, MF-MARL,
AI-Economist PPO): the run store's resume and bad-input behaviour, each update rule on a
one-step game whose equilibrium is known in closed form, PPO's pieces on hand-computed
values, and MADDPG at N = 1,000."""

import json
import math

import pytest
import torch
from toygame import (
    E_TOY,
    H_TOY,
    TOL,
    TOY,
    X0,
    X_NASH,
    X_STACKELBERG,
    Y_NASH,
    play_offpolicy,
    toy_rewards,
)

from smfg.algos import ddpg, iddpg, maddpg, mfmarl, ppo, rule_based, smfrl
from smfg.algos.core import GaussianActor
from smfg.evaluate import evaluate
from smfg.runs.algorithms import ALGORITHMS
from smfg.runs.learned import learned_policy
from smfg.runs.store import RunStore
from smfg.runs.train import make_trainer, run_spec, train

BASELINES = ("rule_based", "ddpg", "iddpg", "maddpg", "mfmarl", "ppo")
TINY = dict(
    variant="clearing",
    n_households=20,
    epochs=4,
    steps_per_epoch=10,
    eval_episodes=2,
    eval_steps=10,
)
TINY_OFF = dict(leader_updates=4, follower_updates=4, batch_size=16, mf_sample=8)
TINY_PPO = dict(seq_len=5, household_epochs=1, planner_freeze_epochs=1, update_households=8)


@pytest.fixture(autouse=True)
def _threads():
    """One thread (overriding conftest's two): these networks are small, and on shared cores
    a second thread mostly waits (measured: tiny runs 2.5x slower with two under load)."""
    torch.set_num_threads(1)


def tiny(algo: str, **over) -> dict:
    return {**TINY, **(TINY_PPO if algo == "ppo" else TINY_OFF), **over}


# --- configs, the registry and the run store ---------------------------------------------


def test_every_baseline_is_registered_with_its_profiles():
    assert set(BASELINES) <= set(ALGORITHMS)
    for algo in BASELINES:
        build = ALGORITHMS[algo][0]
        assert build("smoke").epochs < build("quick").epochs < build("paper").epochs == 1000
        spec = run_spec(algo, "smoke", bc=True, seed=3)
        assert spec["algo"] == algo and spec["bc"] and spec["seed"] == 3
        spec = run_spec(algo, "smoke", variant="clearing", n_households=20, seed=3)
        assert make_trainer(spec).cfg == build("smoke", variant="clearing", n_households=20, seed=3)


@pytest.mark.parametrize(
    "build, field, value, allowed",
    [
        (ddpg.ddpg_config, "gamma", 1.5, r"\[0, 1\)"),
        (iddpg.iddpg_config, "batch_size", 0, "an integer >= 1"),
        (mfmarl.mfmarl_config, "n_households", 3, "an integer >= 10"),
        (maddpg.maddpg_config, "households_per_step", 7, "a divisor of batch_size = 128"),
        (rule_based.rule_based_config, "eval_noise_std", 2.0, r"\[0, 1\]"),
        (ppo.ppo_config, "seq_len", 7, "a divisor of steps_per_epoch = 300"),
        (ppo.ppo_config, "clip", 0.0, "> 0"),
        (ppo.ppo_config, "variant", "mars", "taxai"),
    ],
)
def test_bad_config_values_name_the_field(build, field, value, allowed):
    name = build("quick").__class__.__name__
    with pytest.raises(
        ValueError,
        match=rf"{name}\.{field} = {value!r} is out of range: "
        rf"allowed .*{allowed}",
    ):
        build("quick", **{field: value})
    with pytest.raises(ValueError, match=r"no field\(s\) \['gama'\]"):
        build("quick", gama=0.9)
    with pytest.raises(ValueError, match="profile.*allowed"):
        build("fast")


@pytest.mark.parametrize("algo", BASELINES)
def test_four_epochs_straight_equal_two_a_kill_and_a_resume(tmp_path, algo):
    over = tiny(algo)
    straight = train(algo, "smoke", root=tmp_path / "a", **over)
    first = train(algo, "smoke", root=tmp_path / "b", stop_after=2, **over)
    assert not first.done and not (first.run_dir / "DONE").exists()
    resumed = train(algo, "smoke", root=tmp_path / "b", **over)
    assert resumed.resumed_from == 2 and resumed.done
    drop = ["wall_time_s", "train_s", "eval_s"]
    assert straight.metrics.drop(columns=drop).equals(resumed.metrics.drop(columns=drop))
    a, b = straight.policy_state, resumed.policy_state
    assert a.keys() == b.keys() and a["algo"] == algo
    for k in a:
        if isinstance(a[k], dict) and k != "config":
            assert all(torch.equal(a[k][n], b[k][n]) for n in a[k]), k
    again = train(algo, "smoke", root=tmp_path / "a", **over)
    assert not again.computed  # a finished run is never recomputed
    # the trained policy runs through the evaluation harness
    pol = learned_policy(RunStore(tmp_path).load_policy(straight.run_dir), noise_std=0.01)
    out = evaluate(
        pol.leader,
        pol.followers,
        variant="clearing",
        n_households=20,
        n_episodes=2,
        seeds=(0, 1),
        steps=10,
    )
    assert ((out.episodes.years >= 1) & (out.episodes.years <= 10)).all()


def test_bad_run_input_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"algorithm 'ppo2' is not known: allowed \["):
        train("ppo2", "smoke", root=tmp_path)
    with pytest.raises(ValueError, match=r"DDPGConfig\.tau = 0\.0 is out of range"):
        train("ddpg", "smoke", root=tmp_path, tau=0.0)
    with pytest.raises(ValueError, match=r"EconomyParams has no field\(s\) \['alhpa'\]"):
        train("iddpg", "smoke", root=tmp_path, economy={"alhpa": 0.3})
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_bc_starts_the_followers_from_the_cloned_networks():
    """-BC: MADDPG and IDDPG start from the cloned ``maddpg_actor``, MF-MARL from the
    ``follower_actor``, PPO from the ``lstm_gaussian``; DDPG's fixed BC households keep the
    cloned actor and normaliser through training."""
    from smfg.algos.common import bc_network

    kw = dict(variant="clearing", n_households=20, bc=True, bc_epochs=1)
    learners = (
        (maddpg.MADDPGLearner(maddpg.maddpg_config("smoke", **kw)), "maddpg_actor"),
        (iddpg.IDDPGLearner(iddpg.iddpg_config("smoke", **kw)), "maddpg_actor"),
        (mfmarl.MFMARLLearner(mfmarl.mfmarl_config("smoke", **kw)), "follower_actor"),
        (ppo.PPOLearner(ppo.ppo_config("smoke", **kw)), "lstm_gaussian"),
    )
    for learner, name in learners:
        net, norm = bc_network(name, "clearing", learner.params, 1, 0)
        for k, v in net.state_dict().items():
            assert torch.equal(learner.nets.actor_f.state_dict()[k], v), (name, k)
        assert torch.equal(learner.nets.norm_f.mean, norm.mean)
    tr = ddpg.DDPGTrainer(ddpg.ddpg_config("smoke", **{**kw, **tiny("ddpg", epochs=1)}))
    before = {k: v.clone() for k, v in tr.learner.nets.actor_f.state_dict().items()}
    norm_before = tr.learner.nets.norm_f.mean.clone()
    tr.train_epoch()
    after = tr.learner.nets.actor_f.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(tr.learner.nets.norm_f.mean, norm_before)


def test_rule_based_is_the_free_market_with_uniform_households():
    L = rule_based.RuleBasedLearner(rule_based.rule_based_config("smoke", n_households=50))
    g = torch.Generator().manual_seed(0)
    u_l, u_f = L.act(torch.zeros(3, 6), torch.zeros(3, 50, 2), 0.01, g)
    a_l, a_f = L.env_actions(u_l, u_f)
    assert torch.allclose(a_l, torch.full((3, 5), 0.001))  # every number at the lower clip
    assert a_f.min() >= 0 and a_f.max() < 1 and abs(float(a_f.mean()) - 0.5) < 0.05
    assert not L.learns and L.nets.actor_l is None and L.nets.actor_f is None


def test_non_finite_rewards_never_reach_a_learner():
    """A collapsing taxai economy once paid a NaN leader reward, which made IDDPG's critic and
    actor NaN: the trainers replace non-finite rewards before storing them."""
    tr = ddpg.DDPGTrainer(ddpg.ddpg_config("smoke", variant="clearing", n_households=20))
    nan, inf = float("nan"), float("inf")
    r_l, r_f = tr.rewards(torch.tensor([nan, inf, -inf, 5.0]), torch.tensor([[nan, -inf, 0.5]]))
    assert r_l.tolist() == [-100.0, -100.0, -100.0, 5.0]
    assert r_f.tolist() == [[-10.0, -10.0, 0.5]]  # the lower reward clip
    # unclipped, a household's non-finite reward is still its floor, never 0: E25's utility
    # is negative, so 0 would pay the best reward there is for a failed step
    free = ddpg.DDPGTrainer(
        ddpg.ddpg_config("smoke", variant="clearing", n_households=20, reward_clip=None)
    )
    _, r_f = free.rewards(torch.tensor([1.0]), torch.tensor([[nan, -inf, -50.0]]))
    assert r_f.tolist() == [[-10.0, -10.0, -50.0]]


def test_train_and_evaluate_command_lines_take_any_algorithm(tmp_path, capsys):
    from smfg.cli import main

    args = [
        *"train --algo mfmarl --variant clearing --households 20".split(),
        *"--profile smoke --epochs 1 --results".split(),
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["computed"] and out["epochs"] == 1 and "/mfmarl-" in out["run_dir"]
    assert (
        main(
            [
                "evaluate",
                "--policy",
                out["run_dir"],
                *"--episodes 2 --seeds 1 --steps 5 --json".split(),
            ]
        )
        == 0
    )
    ev = json.loads(capsys.readouterr().out)
    assert ev["settings"]["government_policy"] == "mfmarl-leader"
    assert ev["metrics"]["years"]["mean"] == 5


# --- PPO's pieces on hand-computed values -------------------------------------------------


def test_gae_on_hand_computed_values():
    r = torch.tensor([1.0, 2.0, 3.0])
    v = torch.tensor([0.5, 1.0, 1.5])
    d = torch.tensor([0.0, 1.0, 0.0])  # the episode ends at step 1; step 2 begins a new one
    last = torch.tensor(2.0)
    g, lam = 0.9, 0.8
    # by hand: deltas d2 = 3 + 0.9*2 - 1.5 = 3.3; d1 = 2 + 0 - 1 = 1; d0 = 1 + 0.9*1 - 0.5 = 1.4
    # A2 = 3.3; A1 = 1 (no bootstrap across the end); A0 = 1.4 + 0.9*0.8*1 = 2.12
    adv, ret = ppo.gae(r, v, d, last, g, lam)
    assert torch.allclose(adv, torch.tensor([2.12, 1.0, 3.3]))
    assert torch.allclose(ret, torch.tensor([2.62, 2.0, 4.8]))
    # the original's mask done - 1 (book:learning-corrections): continuation -1, and 0 at the end
    # A2 = 3 - 0.9*2 - 1.5 = -0.3; A1 = 1; A0 = (1 - 0.9 - 0.5) + 0.72*(-1)*1 = -1.12
    adv_q, _ = ppo.gae(r, v, d, last, g, lam, paper_quirks=True)
    assert torch.allclose(adv_q, torch.tensor([-1.12, 1.0, -0.3]))


def test_clipped_surrogate_on_hand_computed_values():
    logp_old = torch.zeros(4)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1, 0.7]))  # ratios
    adv = torch.tensor([1.0, 1.0, -2.0, -2.0])
    # min(rho A, clip(rho, 0.8, 1.2) A): 1.2, 0.5, -2.2, -1.6
    loss = ppo.clipped_surrogate(logp, logp_old, adv, 0.2)
    assert math.isclose(float(loss), -(1.2 + 0.5 - 2.2 - 1.6) / 4, rel_tol=1e-6)
    # the clipped side carries no gradient: d/dlogp of the first entry (ratio 1.5 > 1.2) is 0
    lp = logp.clone().requires_grad_(True)
    ppo.clipped_surrogate(lp, logp_old, adv, 0.2).backward()
    assert lp.grad[0] == 0 and lp.grad[3] == 0
    assert torch.isclose(lp.grad[1], torch.tensor(-0.5 / 4))  # -rho A / n
    assert torch.isclose(lp.grad[2], torch.tensor(2.2 / 4))


def test_lstm_state_is_carried_and_reset_at_episode_starts():
    torch.manual_seed(0)
    net = GaussianActor(2, 2, lstm=True)
    T, B = 6, 3
    obs = torch.randn(T, B, 2)
    starts = torch.zeros(T, B)
    starts[3, 1] = 1.0  # household 1 begins a new episode at step 3
    h0 = (torch.randn(1, B, 128), torch.randn(1, B, 128))
    with torch.no_grad():
        means, _, (h, c) = ppo.lstm_unroll(net, obs, starts, h0)
        # one nn.LSTM call over the whole sequence equals the step-by-step unroll without resets
        full, _, _ = net(obs.transpose(0, 1)[[0, 2]], (h0[0][:, [0, 2]], h0[1][:, [0, 2]]))
        assert torch.allclose(means[:, [0, 2]], full.transpose(0, 1), atol=1e-6)
        # household 1: from step 3 on it is the fresh-state run of its suffix
        fresh, _, (hf, cf) = net(obs[3:, 1:2].transpose(0, 1))
        assert torch.allclose(means[3:, 1], fresh[0], atol=1e-6)
        assert torch.allclose(h[:, 1], hf[:, 0], atol=1e-6)
        before, _, _ = net(obs[:3, 1:2].transpose(0, 1), (h0[0][:, 1:2], h0[1][:, 1:2]))
        assert torch.allclose(means[:3, 1], before[0], atol=1e-6)
        # and differs from the run that ignores the reset
        cont, _, _ = net(obs[:, 1:2].transpose(0, 1), (h0[0][:, 1:2], h0[1][:, 1:2]))
        assert not torch.allclose(means[3:, 1], cont[0, 3:], atol=1e-3)


# --- known optima: the one-step leader-follower game of ``toygame.py`` ------------------------
#
# None of these baselines can learn the followers' reaction in a one-step game (their follower
# critics or actors do not condition on the leader, or the leader's gradient holds the
# followers' actions fixed), so each must reach the Nash equilibrium; DDPG, whose households
# are random (E[ybar] = 0), must reach the leader's best response x = X0.


@pytest.mark.slow
@pytest.mark.parametrize(
    "learner, build",
    [
        (iddpg.IDDPGLearner, iddpg.iddpg_config),
        (maddpg.MADDPGLearner, maddpg.maddpg_config),
        (mfmarl.MFMARLLearner, mfmarl.mfmarl_config),
    ],
)
def test_learners_reach_the_nash_equilibrium_of_the_one_step_game(learner, build):
    x, y = play_offpolicy(learner(build("quick", **TOY)))
    assert abs(x - X_NASH) < TOL and abs(y - Y_NASH) < TOL, (x, y, X_NASH, Y_NASH)
    assert abs(x - X_STACKELBERG) > 0.25


@pytest.mark.slow
def test_ddpg_leader_reaches_its_best_response_to_random_households():
    x, y = play_offpolicy(ddpg.DDPGLearner(ddpg.ddpg_config("quick", **TOY)))
    assert abs(x - X0) < TOL, x


@pytest.mark.slow
def test_ppo_reaches_the_nash_equilibrium_of_the_one_step_game():
    """PPO's own policy/update on the same game, both sides stochastic (one-step episodes: every
    step ends its episode and begins the next, so the LSTM state is reset each step)."""
    T = 10
    cfg = ppo.ppo_config(
        "quick",
        variant="clearing",
        n_households=H_TOY,
        steps_per_epoch=T,
        seq_len=T,
        lr=1e-3,
        update_households=100,
    )
    L = ppo.PPOLearner(cfg)
    s_l, s_f, ones = torch.zeros(E_TOY, 6), torch.zeros(E_TOY, H_TOY, 2), torch.ones(E_TOY)
    for _ in range(PPO_ITERS):
        ro = ppo.Rollout.empty(T, E_TOY, H_TOY)
        hc = ppo.zero_state(E_TOY * H_TOY)
        ro.hc.append(hc)
        for t in range(T):
            p = L.policy(s_l, s_f, hc, ones, L.gen, planner_acts=True)
            ro.r_l[t], ro.r_f[t] = toy_rewards(p["u_l"], p["u_f"])
            for k in ("u_l", "logp_l", "v_l", "u_f", "logp_f", "v_f"):
                getattr(ro, k)[t] = p[k]
            ro.s_l[t], ro.s_f[t], ro.done[t], ro.first[t] = s_l, s_f, ones, ones
            hc = p["hc"]
        ro.last_v_l, ro.last_v_f = torch.zeros(E_TOY), torch.zeros(E_TOY, H_TOY)
        L.update_followers(ro)
        L.update_leader(ro)
    p = L.policy(s_l[:1], s_f[:1], ppo.zero_state(H_TOY), ones[:1], L.gen, True, sample=False)
    x, y = float(p["u_l"][0, 0]), float(p["u_f"][0, :, 0].mean())
    assert abs(x - X_NASH) < TOL and abs(y - Y_NASH) < TOL, (x, y, X_NASH, Y_NASH)


PPO_ITERS = 25


# --- MADDPG at the paper's N = 1,000 -------------------------------------------------------


def test_maddpg_trains_at_a_thousand_households():
    cfg = maddpg.maddpg_config(
        "smoke",
        variant="taxai",
        n_households=1000,
        epochs=1,
        steps_per_epoch=5,
        leader_updates=2,
        follower_updates=2,
        batch_size=16,
        eval_episodes=1,
        eval_steps=3,
    )
    tr = maddpg.MADDPGTrainer(cfg)
    assert tr.learner.nets.critic_l.q1.net[0].in_features == 4 * 1000 + 11  # TD3: twin critics
    assert tr.learner.nets.critic_f.net[0].in_features == 4 * 1000 + 15
    m = tr.train_epoch()
    assert math.isfinite(m["leader_q_loss"]) and math.isfinite(m["follower_q_loss"])


@pytest.mark.parametrize("paper_quirks", [False, True])
def test_paper_quirks_map_each_algorithms_actions_as_its_original_did(paper_quirks):
    # SMFRL's original: saving 0.5 + 0.25 (u + 1), work (u + 1)/2, the leader's raw tanh; the
    # DDPG-family baselines' households: raw tanh; corrected: (u + 1)/2 everywhere
    u_l = torch.tensor([[-0.5, 0.0, 0.2, 0.6, 1.0]])
    u_f = torch.tensor([[[-1.0, -1.0], [0.0, 0.0], [0.6, -0.2]]])
    kw = {"n_households": 10, "paper_quirks": paper_quirks}
    a_l, a_f = smfrl.SMFRLLearner(smfrl.smfrl_config("smoke", **kw)).env_actions(u_l, u_f)
    b_l, b_f = ddpg.DDPGLearner(ddpg.ddpg_config("smoke", **kw)).env_actions(u_l, u_f)
    c_l, c_f = iddpg.IDDPGLearner(iddpg.iddpg_config("smoke", **kw)).env_actions(u_l, u_f)
    half = ((u_f + 1) / 2).clamp(0, 1)
    if not paper_quirks:
        for x_l, x_f in ((a_l, a_f), (b_l, b_f), (c_l, c_f)):
            torch.testing.assert_close(x_l, ((u_l + 1) / 2).clamp(0, 1))
            torch.testing.assert_close(x_f, half)
        return
    torch.testing.assert_close(a_l, u_l.clamp(0, 1))
    torch.testing.assert_close(a_f[..., 0], 0.5 + 0.25 * (u_f[..., 0] + 1))
    torch.testing.assert_close(a_f[..., 1], half[..., 1])
    torch.testing.assert_close(b_l, u_l.clamp(0, 1))  # DDPG's households do not learn
    torch.testing.assert_close(c_l, ((u_l + 1) / 2).clamp(0, 1))  # IDDPG's leader: corrected
    torch.testing.assert_close(c_f, u_f.clamp(0, 1))
