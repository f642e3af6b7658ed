"""The algorithm table of make bench compares like with like: SMFRL timed with the sampled
follower batch (the other DDPG-family followers' kind of batch), and the table says so."""

from __future__ import annotations

from smfg.perf import bench


def test_smfrl_is_timed_with_the_sampled_batch_and_the_table_says_it():
    row = bench.bench_algorithm("smfrl", n_households=10, epochs=1)
    assert row["follower_batch"] == "sampled"
    other = {**row, "algo": "ddpg", "follower_batch": None, "epoch_s": 2 * row["epoch_s"]}
    table = bench.format_algorithms([row, other])
    assert "| smfrl (sampled batch) |" in table
    assert "| ddpg |" in table and "| 2.00" in table.split("| ddpg |")[1]
