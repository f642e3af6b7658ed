"""K seeds trained as one batched model equal K separate runs, in memory and in the store.

Tolerance: every random draw is the same, but a stacked (batched) matrix product rounds
differently from K separate ones. Over the two-epoch runs below, metrics agree to a relative
1e-5 and parameters to 1e-4 (measured: about 1e-7 and 1e-6). Over longer runs the last bits
are amplified by training (at N = 100 after two quick epochs: GDP within 2e-4 relative, the
follower actor's weights within 0.06): batched runs are the same runs, not bit for bit.
"""

import math

import pytest
import torch

from smfg.algos.seeds import BatchedSMFRL, SeedsOutOfStep
from smfg.algos.smfrl import SMFRLConfig, SMFRLTrainer
from smfg.runs.seeds import train_seeds
from smfg.runs.store import RunStore
from smfg.runs.train import run_spec, train

TINY = dict(
    variant="clearing",
    n_households=20,
    epochs=2,
    steps_per_epoch=25,
    leader_updates=4,
    follower_updates=4,
    batch_size=16,
    eval_episodes=2,
    eval_steps=10,
    mf_sample=8,
)
KEYS = (
    "per_capita_gdp",
    "social_welfare",
    "income_gini",
    "wealth_gini",
    "years",
    "leader_return",
    "leader_q_loss",
    "leader_pi_loss",
    "follower_q_loss",
    "follower_pi_loss",
    "episodes_ended",
)


def _close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-8)


def _params_close(p: dict, q: dict, atol: float = 1e-4) -> bool:
    return all(
        torch.allclose(p[net][k], q[net][k], atol=atol, rtol=0)
        for net in ("actor_l", "actor_f")
        for k in p[net]
    )


def test_batched_seeds_equal_separate_runs():
    seeds = [0, 3, 7]
    cfg = SMFRLConfig(**TINY)
    batch = BatchedSMFRL(cfg, seeds)
    rows = [batch.train_epoch() for _ in range(cfg.epochs)]
    policies = batch.policy_states()
    for k, seed in enumerate(seeds):
        alone = SMFRLTrainer(SMFRLConfig(**{**TINY, "seed": seed}))
        for epoch in range(cfg.epochs):
            row = alone.train_epoch()
            for key in KEYS:
                assert _close(row[key], rows[epoch][k][key]), (seed, epoch, key)
        assert _params_close(alone.policy_state(), policies[k])
    # the seeds really differ
    assert rows[-1][0]["per_capita_gdp"] != rows[-1][1]["per_capita_gdp"]


def test_batched_state_round_trips_through_the_members():
    cfg = SMFRLConfig(**{**TINY, "epochs": 3})
    a = BatchedSMFRL(cfg, [1, 2])
    a.train_epoch()
    a.scatter()
    states = [m.state_dict() for m in a.members]
    resumed = [SMFRLTrainer(m.cfg) for m in a.members]
    for m, st in zip(resumed, states, strict=True):
        m.load_state_dict(st)
    b = BatchedSMFRL(cfg, [1, 2], members=resumed)
    ra, rb = a.train_epoch(), b.train_epoch()
    for k in range(2):
        for key in KEYS:
            assert ra[k][key] == rb[k][key], key


def test_bad_seeds_and_members_out_of_step():
    cfg = SMFRLConfig(**TINY)
    with pytest.raises(ValueError, match="distinct integers"):
        BatchedSMFRL(cfg, [1, 1])
    with pytest.raises(ValueError, match="distinct integers"):
        train_seeds("smfrl", "smoke", seeds=[], root="unused")
    members = [SMFRLTrainer(SMFRLConfig(**{**TINY, "seed": s})) for s in (0, 1)]
    members[0].train_epoch()
    with pytest.raises(SeedsOutOfStep, match=r"epochs \[1, 0\]"):
        BatchedSMFRL(cfg, [0, 1], members=members)
    with pytest.raises(ValueError, match="members must be trainers of cfg"):
        BatchedSMFRL(cfg, [1, 0], members=members)


def test_train_seeds_fills_the_store_as_separate_runs_would(tmp_path):
    seeds = (0, 1, 2)
    batched = train_seeds("smfrl", "smoke", seeds=seeds, root=tmp_path / "b", **TINY)
    for seed, res in zip(seeds, batched, strict=True):
        alone = train("smfrl", "smoke", root=tmp_path / "a", seed=seed, **TINY)
        assert res.run_dir.name == alone.run_dir.name  # the same spec, the same directory
        assert res.computed and res.done and (res.run_dir / "DONE").exists()
        for key in KEYS:
            for x, y in zip(res.metrics[key], alone.metrics[key], strict=True):
                assert _close(x, y), (seed, key)
        assert _params_close(res.policy_state, alone.policy_state)
        assert RunStore(tmp_path / "b").status(run_spec("smfrl", "smoke", seed=seed, **TINY))
    again = train_seeds("smfrl", "smoke", seeds=seeds, root=tmp_path / "b", **TINY)
    assert not any(r.computed for r in again)  # finished runs are loaded, never retrained


def test_train_seeds_resumes_interrupted_seeds(tmp_path):
    tiny = {**TINY, "epochs": 3}
    straight = [train("smfrl", "smoke", root=tmp_path / "a", seed=s, **tiny) for s in (0, 1, 2)]
    # seeds 0 and 1 stopped after one epoch (a kill), seed 2 never started: 0 and 1 resume
    # as one batch, 2 trains alone; then a pair interrupted after two epochs
    for s in (0, 1):
        assert not train("smfrl", "smoke", root=tmp_path / "b", seed=s, stop_after=1, **tiny).done
    res = train_seeds("smfrl", "smoke", seeds=(0, 1, 2), root=tmp_path / "b", **tiny)
    assert [r.resumed_from for r in res] == [1, 1, None]
    for s in (2, 3):
        train("smfrl", "smoke", root=tmp_path / "c", seed=s, stop_after=2, **tiny)
    res_c = train_seeds("smfrl", "smoke", seeds=(2, 3), root=tmp_path / "c", **tiny)
    assert [r.resumed_from for r in res_c] == [2, 2]
    for r, alone in zip(res + res_c[:1], straight + straight[2:], strict=True):
        assert r.done and len(r.metrics) == 3
        for key in KEYS:
            for x, y in zip(r.metrics[key], alone.metrics[key], strict=True):
                assert _close(x, y), key


def test_train_command_line_with_several_seeds(tmp_path, capsys):
    import json

    from smfg.cli import main

    args = [
        *"train --variant clearing --households 20 --profile smoke".split(),
        *"--epochs 1 --seeds 0 1 --results".split(),
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["seed"] for x in lines] == [0, 1] and all(x["computed"] for x in lines)
    assert len({x["run_dir"] for x in lines}) == 2


@pytest.mark.parametrize("algo", ["mfmarl", "maddpg", "ddpg"])
def test_any_off_policy_learner_batches_as_separate_runs(algo):
    """The batched trainer is the algorithm's own loop and losses (on the seeds' stacked networks):
    MF-MARL, MADDPG (joint critics) and DDPG with frozen BC households equal their runs
    alone, to the tolerance of the module docstring."""
    from smfg.algos.seeds import BatchedTrainer
    from smfg.runs.algorithms import ALGORITHMS

    build, trainer_cls, _ = ALGORITHMS[algo]
    over = {**TINY, "bc": algo == "ddpg", "bc_epochs": 1}
    if algo == "maddpg":
        over["households_per_step"] = 4
    cfg = build("smoke", **over)
    batch = BatchedTrainer(cfg, [0, 5], trainer_cls=trainer_cls)
    rows = [batch.train_epoch() for _ in range(cfg.epochs)]
    policies = batch.policy_states()
    for k, seed in enumerate((0, 5)):
        alone = trainer_cls(build("smoke", **{**over, "seed": seed}))
        for epoch in range(cfg.epochs):
            row = alone.train_epoch()
            for key in ("per_capita_gdp", "years", "leader_return", "leader_q_loss"):
                assert _close(row[key], rows[epoch][k][key]), (algo, seed, epoch, key)
        assert _params_close(alone.policy_state(), policies[k])


def test_parallel_economies_per_seed_batch_as_separate_runs():
    """``n_envs`` economies per seed: each step stores all of them, alone and batched alike."""
    over = {**TINY, "n_envs": 3}
    cfg = SMFRLConfig(**over)
    batch = BatchedSMFRL(cfg, [0, 2])
    rows = batch.train_epoch()
    for k, seed in enumerate((0, 2)):
        alone = SMFRLTrainer(SMFRLConfig(**{**over, "seed": seed}))
        row = alone.train_epoch()
        assert alone.learner.buf.size == 3 * TINY["steps_per_epoch"]
        assert batch.members[k].learner.buf.size == alone.learner.buf.size
        for key in ("per_capita_gdp", "years", "leader_q_loss", "follower_q_loss"):
            assert _close(row[key], rows[k][key]), (seed, key)


def test_batched_seeds_equal_separate_runs_with_a_late_leader_and_price_taking_followers():
    """A leader and a follower actor that start at epoch 1 (NaN columns before) batch as
    separate runs do."""
    over = {
        **TINY,
        "leader_start_epoch": 1,
        "follower_actor_start_epoch": 1,
        "follower_gradient": "own",
    }
    batch = BatchedSMFRL(SMFRLConfig(**over), [0, 5])
    rows = [batch.train_epoch() for _ in range(2)]
    for k, seed in enumerate((0, 5)):
        alone = SMFRLTrainer(SMFRLConfig(**{**over, "seed": seed}))
        for epoch in range(2):
            row = alone.train_epoch()
            for key in KEYS:
                a, b = row[key], rows[epoch][k][key]
                assert (math.isnan(a) and math.isnan(b)) or _close(a, b), (seed, epoch, key)
        assert math.isnan(rows[0][k]["leader_q_loss"]) and not math.isnan(
            rows[1][k]["leader_q_loss"]
        )
        assert _params_close(alone.policy_state(), batch.policy_states()[k])


def test_batched_seeds_equal_separate_runs_with_the_solving_settings():
    """The stable leader's trust region (its anchor taken per seed) and initial action, and
    the household followers, batch as separate runs do; the leader's mean action too."""
    from smfg.algos.smfrl import SOLVING

    over = {**TINY, **dict(SOLVING), "follower_updates": 4}
    batch = BatchedSMFRL(SMFRLConfig(**over), [0, 5])
    rows = [batch.train_epoch() for _ in range(2)]
    for k, seed in enumerate((0, 5)):
        alone = SMFRLTrainer(SMFRLConfig(**{**over, "seed": seed}))
        for epoch in range(2):
            row = alone.train_epoch()
            for key in (*KEYS, "leader_c0", "leader_c4"):
                assert _close(row[key], rows[epoch][k][key]), (seed, epoch, key)
        assert _params_close(alone.policy_state(), batch.policy_states()[k])


def test_the_seeds_act_as_one_batch_as_each_would_alone():
    """``act_all`` (one pass of the stacked actors, each seed's own normalisers and noise) is
    each member's own acting on its slice, draws included, up to the batched products'
    rounding; and a batch made to act member by member trains the same runs."""
    cfg = SMFRLConfig(**{**TINY, "follower_noise_per_household": True})
    batch = BatchedSMFRL(cfg, [0, 3])
    batch.train_epoch()  # normalisers with statistics of their own
    ms = batch.members
    assert batch.acts_as_batch
    assert not torch.equal(ms[0].learner.nets.norm_f.mean, ms[1].learner.nets.norm_f.mean)
    obs = batch.env.observe()
    gens = [torch.Generator().manual_seed(s) for s in (11, 12)]
    u_l, u_f = batch.act_all(obs, [0.3, 0.2], 0.1, gens, True)
    for k, m in enumerate(ms):
        sl = batch._sl(k)
        gen = torch.Generator().manual_seed(11 + k)
        one_l, one_f = m.learner.act(
            obs.leader[sl], obs.households[sl], 0.1, gen, [0.3, 0.2][k], True
        )
        assert torch.allclose(u_l[sl], one_l, atol=1e-6, rtol=0)
        assert torch.allclose(u_f[sl], one_f, atol=1e-6, rtol=0)
        assert torch.equal(gen.get_state(), gens[k].get_state())  # the same draws, in order
    assert not torch.allclose(u_f[batch._sl(0)], u_f[batch._sl(1)])


def test_a_batch_acting_member_by_member_trains_the_same_runs(monkeypatch):
    from smfg.algos.seeds import BatchedTrainer

    cfg = SMFRLConfig(**TINY)
    rows = BatchedSMFRL(cfg, [0, 3]).train_epoch()
    monkeypatch.setattr(BatchedTrainer, "acts_as_batch", property(lambda self: False))
    slow = BatchedSMFRL(cfg, [0, 3])
    assert not slow.acts_as_batch
    for a, b in zip(rows, slow.train_epoch(), strict=True):
        for key in KEYS:
            assert _close(a[key], b[key]), key


def _collect_once(cfg, batched_records: bool, monkeypatch):
    from smfg.algos.seeds import BatchedTrainer

    monkeypatch.setattr(
        BatchedTrainer,
        "records_as_batch",
        property(lambda self: batched_records and hasattr(self, "replay")),
    )
    batch = BatchedSMFRL(cfg, [0, 3])
    infos = batch.collect()
    return batch, infos


def _same_records(fast, slow) -> None:
    for a, b in zip(fast.members, slow.members, strict=True):
        ba, bb = a.learner.buf, b.learner.buf
        assert (ba.pos, ba.size) == (bb.pos, bb.size)
        for key in ba.data:
            assert torch.equal(ba.data[key], bb.data[key]), key
        for name in ("norm_l", "norm_f"):
            na, nb = getattr(a.learner.nets, name), getattr(b.learner.nets, name)
            assert torch.equal(na.count, nb.count)
            assert torch.allclose(na.mean, nb.mean, rtol=1e-6, atol=1e-7)
            assert torch.allclose(na.var, nb.var, rtol=1e-6, atol=1e-7)
        assert (a.r_l_seen_min, a.ended, a.failed) == (b.r_l_seen_min, b.ended, b.failed)
        assert torch.equal(a.obs.households, b.obs.households)


def test_the_seeds_record_a_step_as_one_batch_as_each_would_alone(monkeypatch):
    """``_record_all`` stores the K seeds' step in one pass: the members' replays (every
    field), normalisers, counters and next observations equal their own ``record``'s, after an
    epoch's collection (economies that end on the time limit included) and on a step where
    one seed's economy failed (the ending penalty); a step with a non-finite reward is left to
    the members' own code."""
    cfg = SMFRLConfig(**{**TINY, "steps_per_epoch": 30, "bc": False, "economy": {"T": 12}})
    fast, fast_infos = _collect_once(cfg, True, monkeypatch)
    slow, slow_infos = _collect_once(cfg, False, monkeypatch)
    assert fast_infos == slow_infos  # episodes ended, leader's mean action, counts
    assert fast_infos[0]["episodes_ended"] == 2  # the time limit, years 12 and 24
    _same_records(fast, slow)
    assert fast.members[0].learner.buf.size == 30
    h_rew = [m.learner.buf.data["h_rew"] for m in fast.members]
    assert not torch.equal(*h_rew)  # seeds of their own
    # a step on which seed 1's economy fails: the same penalty as its own record
    obs = fast.env.observe()
    u_l, u_f = torch.zeros(2, 5), torch.zeros(2, cfg.n_households, 2)
    out = fast.env.step(*fast.L0.env_actions(u_l, u_f))
    failed = type(out)(**{**out.__dict__, "terminated": torch.tensor([False, True])})
    t = torch.tensor([5, 5])
    assert fast._record_all(obs, u_l, u_f, failed, t)
    for k, m in enumerate(slow.members):
        sl = slow._sl(k)
        nxt = type(obs)(out.obs.leader[sl], out.obs.households[sl])
        m.obs = type(obs)(obs.leader[sl], obs.households[sl])
        rewards = (out.leader_reward[sl], out.household_reward[sl])
        m.obs = m.record(
            u_l[sl], u_f[sl], *rewards, nxt, failed.terminated[sl], out.done[sl], t[sl]
        )
    _same_records(fast, slow)
    assert fast.members[1].failed == 1 and fast.members[0].failed == 0
    assert fast.replay["term"][1, fast.members[1].learner.buf.pos - 1] == 1.0
    # the members' buffers are slices of the stacked replay: a member's write is the batch's
    fast.members[1].learner.buf.data["l_rew"][0] = 123.0
    assert fast.replay["l_rew"][1, 0] == 123.0
    # a non-finite reward: nothing is recorded, the caller falls back
    before = [(m.learner.buf.pos, m.ended) for m in fast.members]
    bad = type(out)(**{**out.__dict__, "leader_reward": out.leader_reward * math.nan})
    assert not fast._record_all(obs, u_l, u_f, bad, t)
    assert [(m.learner.buf.pos, m.ended) for m in fast.members] == before


@pytest.mark.parametrize(
    ("households", "gradient"), [(20, "nash"), (12, "nash"), (20, "stackelberg")]
)
def test_the_batches_gathered_in_one_pass_equal_the_members_own(households, gradient):
    """``_sampled_follower_batch`` and ``_sampled_leader_batch`` (SMFRL's batches of the K
    seeds gathered from the stacked replay in one indexing per field) equal stacking the
    members' own ``follower_batch`` and ``leader_batch``, bit for bit, and leave each
    member's generator where its own draws would: with m = 16 households of a step for the
    mean action (N = 20), with all of them (N = 12), and with the Stackelberg gradient's
    current households too."""
    over = {
        "n_households": households,
        "bc": False,
        "mf_sample": 16,
        "follower_batch": "sampled",
        "leader_gradient": gradient,
    }
    cfg = SMFRLConfig(**{**TINY, **over})
    batch = BatchedSMFRL(cfg, [0, 1, 2])
    batch.collect()
    assert batch._gathers()
    for side in ("follower", "leader"):
        gens = [m.learner.gen.get_state() for m in batch.members]
        fast = batch._batch(side, gather=True)
        after = [m.learner.gen.get_state() for m in batch.members]
        for m, g in zip(batch.members, gens, strict=True):
            m.learner.gen.set_state(g)
        slow = batch._batch(side, gather=False)
        assert fast.keys() == slow.keys() and {"nxt", "mf"} <= set(fast)
        assert ("cur" in fast) == (side == "follower" or gradient == "stackelberg")
        for key in slow:
            assert fast[key].shape == slow[key].shape and torch.equal(fast[key], slow[key]), key
        for m, g in zip(batch.members, after, strict=True):
            assert torch.equal(m.learner.gen.get_state(), g)
        assert not torch.equal(fast["mf"][0], fast["mf"][1])  # each seed its own draws
    # a member whose buffer is no longer the stacked replay's slice: each builds its own
    buf = batch.members[1].learner.buf
    buf.data["h_obs"] = buf.data["h_obs"].clone()
    assert not batch._gathers()
    assert not BatchedSMFRL(SMFRLConfig(**{**TINY, **over, "leader_trust": 0.1}), [0, 1])._gathers()
