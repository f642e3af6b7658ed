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


def test_a_full_evaluation_runs_every_step_and_the_table_compares_it():
    """The row's full evaluation steps the economies for all of ``eval_steps``, ended or not
    (taxai's untrained economies end within a few years), and the table's like-for-like
    ratio is training plus that evaluation over SMFRL's; a row without one reads n/a."""
    row = bench.bench_algorithm("smfrl", n_households=10, epochs=1)
    assert row["eval_full_steps"] == 300 and row["eval_full_s"] > 0
    other = {**row, "algo": "maddpg", "follower_batch": None, "train_s": 3 * row["train_s"]}
    other["eval_full_s"] = row["eval_full_s"]
    old = {k: v for k, v in row.items() if not k.startswith("eval_full")}
    table = bench.format_algorithms([row, other, {**old, "algo": "ppo", "follower_batch": None}])
    cells = [c.strip() for c in table.split("| maddpg |")[1].split("\n")[0].split("|")]
    full = (3 * row["train_s"] + row["eval_full_s"]) / (row["train_s"] + row["eval_full_s"])
    assert cells[4] == f"{full:.2f}" and cells[5] == "3.00"
    ppo = [c.strip() for c in table.split("| ppo |")[1].split("\n")[0].split("|")]
    assert ppo[3:5] == ["n/a", "n/a"]
