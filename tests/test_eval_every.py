"""``eval_every``: a run evaluates after its first epoch, every ``eval_every``-th and its last,
and nothing else changes. Training is bit for bit the run that evaluates every epoch (the
evaluation episodes run on their own environment, re-seeded each time), the evaluated epochs'
columns are the same numbers, the others NaN, and a spec at the default keeps its hash."""

import math

import pytest
import torch

from smfg.algos.common import EVAL_KEYS, evaluated_epoch
from smfg.algos.seeds import BatchedTrainer
from smfg.runs.algorithms import ALGORITHMS
from smfg.runs.spec import RunSpec
from smfg.runs.train import run_spec

TINY = dict(variant="clearing", n_households=20, epochs=4, steps_per_epoch=10)
TINY_EVAL = dict(eval_episodes=2, eval_steps=10)
TINY_OFF = dict(leader_updates=4, follower_updates=4, batch_size=16, mf_sample=8)
TINY_PPO = dict(seq_len=5, household_epochs=1, planner_freeze_epochs=1, update_households=8)
TIMES = ("train_s", "eval_s")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _config(algo: str, **over):
    build, trainer_cls, _ = ALGORITHMS[algo]
    extra = TINY_PPO if algo == "ppo" else TINY_OFF
    return build("smoke", **{**TINY, **TINY_EVAL, **extra, **over}), trainer_cls


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _equal_states(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_states(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal_states(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (isinstance(a, float) and _same(a, b))


def test_evaluated_epochs_are_the_first_every_kth_and_the_last():
    assert [e for e in range(1, 11) if evaluated_epoch(e, 4, 10)] == [1, 4, 8, 10]
    assert [e for e in range(1, 6) if evaluated_epoch(e, 1, 5)] == [1, 2, 3, 4, 5]
    assert [e for e in range(1, 8) if evaluated_epoch(e, 100, 7)] == [1, 7]


@pytest.mark.parametrize("algo", ["smfrl", "ppo", "maddpg"])
def test_training_is_the_same_run_and_evaluated_epochs_the_same_numbers(algo):
    """Four epochs evaluated every 3 (epochs 1, 3 and 4) against every epoch: every training
    column and the final policy bit for bit, the evaluation columns equal where evaluated and
    NaN in epoch 2 (with ``eval_s`` 0)."""
    if algo == "maddpg":
        extra = {"households_per_step": 4}
    else:
        extra = {}
    cfg_all, cls = _config(algo, **extra)
    cfg_some, _ = _config(algo, eval_every=3, **extra)
    every, some = cls(cfg_all), cls(cfg_some)
    for epoch in range(1, cfg_all.epochs + 1):
        a, b = every.train_epoch(), some.train_epoch()
        assert list(a) == list(b), (algo, epoch)
        for key in a:
            if key in TIMES:
                continue
            if key in EVAL_KEYS and epoch == 2:
                assert math.isnan(b[key]), (algo, key)
            else:
                assert _same(a[key], b[key]), (algo, epoch, key, a[key], b[key])
        if epoch == 2:
            assert b["eval_s"] == 0.0 or b["eval_s"] < 1e-3
            assert math.isfinite(a["per_capita_gdp"])
    pa, pb = every.policy_state(), some.policy_state()
    assert pb.pop("config")["eval_every"] == 3 and pa.pop("config")["eval_every"] == 1
    assert _equal_states(pa, pb)
    assert _equal_states(every.state_dict()["algo_state"], some.state_dict()["algo_state"])


def test_batched_seeds_skip_the_same_epochs():
    cfg, cls = _config("smfrl", eval_every=3)
    batch = BatchedTrainer(cfg, [0, 1], trainer_cls=cls)
    rows = [batch.train_epoch() for _ in range(cfg.epochs)]
    for epoch, per_seed in enumerate(rows, start=1):
        for row in per_seed:
            assert set(EVAL_KEYS) <= set(row)
            assert math.isnan(row["per_capita_gdp"]) == (epoch == 2), epoch


def test_the_default_keeps_every_hash_and_a_bad_value_is_named():
    spec = RunSpec("smfrl", "smoke", variant="clearing", n_households=20)
    assert "eval_every" not in spec.spec()
    other = RunSpec(
        "smfrl", "smoke", variant="clearing", n_households=20, overrides={"eval_every": 5}
    )
    assert (
        run_spec("smfrl", "smoke", variant="clearing", n_households=20, eval_every=5)["eval_every"]
        == 5
    )
    assert other.hash() != spec.hash()
    with pytest.raises(
        ValueError, match=r"eval_every = 0 is out of range: allowed an integer >= 1"
    ):
        _config("smfrl", eval_every=0)
