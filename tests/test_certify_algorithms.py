"""Every algorithm's `clearing` run certifies (book:certification), recurrent households too."""

import numpy as np
import pytest
import torch

from smfg.certify import rule_from_policy, simulate, stationary_environment
from smfg.config import economy_params
from smfg.runs.algorithms import ALGORITHMS
from smfg.runs.certify import certify_run
from smfg.runs.learned import learned_policy
from smfg.runs.store import RunStore
from smfg.runs.train import train

N = 20
#: small certification: a 60 x 3 grid, no leader grid, a window from year 10
SMALL = dict(na=60, ne=3, grid_points=0, leader=False, burn_in=10)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_every_algorithm_certifies_a_smoke_clearing_run(tmp_path, algo):
    """The followers' rule is read on the grid (3 x 60 states, not N = 20) and certified:
    the best response gains something (>= 0, up to inf), the loss lies in [0, 100)."""
    res = train(algo, "smoke", root=tmp_path, variant="clearing", n_households=N, seed=0)
    out = certify_run(res.run_dir, **SMALL)
    fol = out["followers"]
    assert "skipped" not in fol, fol
    assert fol["grid"] == [60, 3]
    assert fol["n_states"] == N * (out["episode"]["years"] - SMALL["burn_in"])
    assert fol["cev_median_pct"] >= 0.0 and fol["cev_mean_pct"] >= 0.0
    assert 0.0 <= fol["loss_median_pct"] < 100.0
    assert 0.0 <= fol["rule_diff_s"] < 1.0 and 0.0 <= fol["rule_diff_f"] < 1.0
    if algo in ("iddpg", "maddpg"):  # pi_f(s_f): the rule is exactly the households' choice
        assert fol["rule_diff_s"] == fol["rule_diff_f"] == 0.0


def test_lstm_households_are_read_with_a_settled_memory(tmp_path):
    """A PPO household's LSTM state has no size of its own on the grid: the rule starts a
    fresh memory per batch and lets it settle on the state. Its shares are then far closer
    to those the window's households chose than the first-step (empty memory) shares are."""
    res = train("ppo", "smoke", root=tmp_path, variant="clearing", n_households=N, seed=0)
    state = RunStore(tmp_path).load_policy(res.run_dir)
    params = economy_params("clearing")
    pol = learned_policy(state)
    pop = simulate(params, pol.leader, pol.followers, N, seed=0, steps=120)
    env = stationary_environment(pop, params, burn_in=60)

    def diff(memory_steps):
        s, f = rule_from_policy(pol.followers, env.gov_raw, batch=500, memory_steps=memory_steps)(
            env.e, env.a
        )
        return np.abs(s - env.s).mean() + np.abs(f - env.f).mean()

    assert diff(20) < diff(0) / 3
    assert env.e.size > 500  # several batches, each with its own fresh memory
    with pytest.raises(ValueError, match="memory_steps = -1: allowed an int >= 0"):
        rule_from_policy(pol.followers, memory_steps=-1)
