"""The bench's arithmetic of an update: the matrix products of one leader and one follower
update, counted, and the rate of one large matrix product that bounds them (``make bench``'s
SMFRL epoch table: update GFLOP, GFLOP/s and the floor at the product's rate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from smfg.algos.smfrl import SMFRLTrainer, smfrl_config
from smfg.perf import bench
from smfg.perf.bench_training import matmul_gflops, update_flops

REPO = Path(__file__).resolve().parents[1]


def _learner(n: int, batch: str):
    torch.manual_seed(0)
    cfg = smfrl_config("smoke", variant="taxai", n_households=n, follower_batch=batch)
    tr = SMFRLTrainer(cfg)
    tr.collect()
    return tr.learner, cfg


def test_a_joint_follower_update_costs_in_proportion_to_the_households():
    """The joint batch holds batch_size x N household rows: the follower update's products
    grow as N (the step's mean-field parts, once per step, make it slightly less than
    proportional); the sampled batch's do not depend on N; the leader's grow with N only
    through the next mean action."""
    (j20, cfg), (j40, _) = _learner(20, "joint"), _learner(40, "joint")
    f20, f40 = update_flops(j20), update_flops(j40)
    assert f20["follower"] > 0 and f20["leader"] > 0
    assert 1.9 < f40["follower"] / f20["follower"] <= 2.0
    # a household row's products: its actor pass and its critic's layers, at least the
    # critic's two 128 x 128 layers forward once for the target and once for the loss
    rows = cfg.batch_size * 20
    assert f20["follower"] > rows * 2 * (2 * 128 * 128) * 2
    s20, s40 = update_flops(_learner(20, "sampled")[0]), update_flops(_learner(40, "sampled")[0])
    assert s20["follower"] == pytest.approx(s40["follower"], rel=0.02)
    assert s20["follower"] < f20["follower"]


def test_the_matmul_rate_is_a_rate():
    rate = matmul_gflops(rows=4096, seconds=0.05)
    assert 0.1 < rate < 1e5


def test_the_epoch_table_shows_the_arithmetic_and_older_rows_say_na():
    report = json.loads((REPO / "benchmarks" / "results.json").read_text())
    flops = ("update_gflop", "update_gflop_per_s", "matmul_gflop_per_s", "update_floor_s")
    # a row from before the FLOP columns (the committed bench may have them or not)
    old = {k: v for k, v in report["training"][0].items() if k not in flops}
    report = {"results": [], "training": [old]}
    lines = bench.format_table(report).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("| SMFRL epoch"))
    header, rule, row = lines[at : at + 3]
    assert header.count("|") == rule.count("|") == row.count("|")
    assert "update GFLOP" in header and row.rstrip(" |").endswith("n/a")
    report["training"][0].update(
        update_gflop=5130.0,
        update_gflop_per_s=27.6,
        matmul_gflop_per_s=60.0,
        update_floor_s=85.5,
    )
    new = bench.format_table(report).splitlines()[at + 2]
    assert new.endswith("| 5130 | 27.6 | 60.0 | 85.50 |")
