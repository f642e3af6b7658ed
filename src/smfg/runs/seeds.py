"""Several seeds of one configuration trained as one batched model, through the run store.

``train_seeds("smfrl", "quick", seeds=range(5), variant="taxai", n_households=100, bc=True)``
leaves the same five run directories as five calls of :func:`smfg.runs.train.train`
(metrics, checkpoints, policy and completion marker for each seed, keyed by its own spec),
but trains them together (:class:`smfg.algos.seeds.BatchedTrainer`: SMFRL and every
learning baseline of the DDPG family).

How it meets the store: each seed's run is an ordinary ``RunStore.run`` in its own thread,
whose trainer is a proxy of that seed. A proxy's ``train_epoch`` waits at a barrier; when
every seed has arrived, one batched epoch runs (in one thread: the threads only write
files), its state is written back into the seeds' trainers, and each proxy returns its
seed's metrics, which the store writes and checkpoints as for a run alone. Finished seeds
are loaded, not retrained; seeds that resume from the same epoch share a batch; a seed
alone at its epoch, or of an algorithm without a batched form, trains as ``train`` would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from smfg.algos.offpolicy import OffPolicyTrainer
from smfg.algos.seeds import BatchedTrainer, SeedsOutOfStep
from smfg.runs.algorithms import algorithm_trainer
from smfg.runs.curves import with_curves
from smfg.runs.store import RunStore
from smfg.runs.sweep_specs import BATCHED, seed_groups, seed_key
from smfg.runs.train import make_trainer, run_spec
from smfg.runtime import tune_allocator


class _Shared:
    def __init__(self, members: list[OffPolicyTrainer]):
        self.members = members
        self.batched: BatchedTrainer | None = None
        self.rows: list[dict] = []
        self.error: BaseException | None = None
        self.barrier = threading.Barrier(len(members), action=self._epoch)

    def _epoch(self) -> None:
        try:
            if self.batched is None:  # after every seed has resumed (or not) from disk
                m0 = self.members[0]
                self.batched = BatchedTrainer(
                    m0.cfg, [m.cfg.seed for m in self.members], members=self.members
                )
            self.rows = self.batched.train_epoch()
            self.batched.scatter()
        except BaseException as e:
            self.error = e
            raise


class _SeedProxy:
    """The run store's trainer for one seed of the batch."""

    def __init__(self, shared: _Shared, k: int):
        self.shared, self.k = shared, k
        self.member = shared.members[k]
        self.algo = self.member.algo
        self.n_epochs = self.member.n_epochs

    @property
    def epoch(self) -> int:
        return self.member.epoch

    def train_epoch(self) -> dict:
        try:
            self.shared.barrier.wait()
        except threading.BrokenBarrierError:
            raise self.shared.error or RuntimeError("a seed of the batch stopped") from None
        return self.shared.rows[self.k]

    def state_dict(self) -> dict:
        return self.member.state_dict()

    def load_state_dict(self, d: dict) -> None:
        self.member.load_state_dict(d)

    def policy_state(self) -> dict:
        return self.member.policy_state()


def train_seeds(
    algo: str = "smfrl",
    profile: str = "quick",
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    root: str | Path = "results",
    checkpoint_every: int = 1,
    progress: Callable[[int, int, dict], None] | None = None,
    **overrides,
) -> list:
    """Train (or resume, or load) ``algo`` for each of ``seeds``, batched where possible.

    Seeds whose runs resume from the same epoch (fresh runs: epoch 0) train as one batch;
    a seed alone at its epoch trains by itself. Returns the store's RunResult of each seed,
    in order. ``progress(seed, epoch, row)`` is called after each seed's epoch is on disk.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds = {seeds!r}: allowed a non-empty list of distinct integers")
    specs = [run_spec(algo, profile, **{**overrides, "seed": s}) for s in seeds]
    return train_specs(specs, root, checkpoint_every, progress)


def train_specs(
    specs: Sequence[Mapping],
    root: str | Path = "results",
    checkpoint_every: int = 1,
    progress: Callable[[int, int, dict], None] | None = None,
) -> list:
    """Train (or resume, or load) the runs ``specs`` (full specs, as
    :func:`smfg.runs.train.run_spec` returns them) that differ only in their seed, batched
    as :func:`train_seeds` does; the store's RunResult of each, in order. ValueError where
    the specs differ in more than their seed, or repeat a seed."""
    specs = [dict(s) for s in specs]
    if not specs or len({seed_key(s) for s in specs}) != 1:
        raise ValueError("train_specs: allowed a non-empty list of specs that differ only in seed")
    seeds = [s.get("seed") for s in specs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds = {seeds!r}: allowed distinct seeds")
    store = RunStore(root)
    results: list = [None] * len(specs)
    groups: dict[int, list[int]] = {}
    for k, spec in enumerate(specs):
        if store.status(spec) != "done":
            groups.setdefault(store.checkpoint_epoch(spec), []).append(k)
    for group in groups.values():
        if specs[0]["algo"] in BATCHED and len(group) > 1:
            _train_batch(store, specs, group, results, checkpoint_every, progress)
    # seeds alone at their epoch, finished runs (loaded), and batches that could not form
    tune_allocator()
    for k, spec in enumerate(specs):
        if results[k] is None or not results[k].done:
            report = None
            if progress is not None:
                report = lambda epoch, row, s=spec["seed"]: progress(s, epoch, row)  # noqa: E731
            results[k] = store.run(
                spec, make_trainer, checkpoint_every=checkpoint_every, progress=report
            )
    return results


def _train_batch(store, specs, group, results, checkpoint_every, progress) -> None:
    """Train the runs ``group`` (indices into ``specs``) as one batch, each in its thread."""
    tune_allocator()
    members = [algorithm_trainer(specs[k]) for k in group]
    shared = _Shared(members)
    errors: list[BaseException] = []

    def run(i: int, k: int) -> None:
        proxy = _SeedProxy(shared, i)
        report = None
        if progress is not None:
            seed = specs[k]["seed"]
            report = lambda epoch, row: progress(seed, epoch, row)  # noqa: E731
        try:
            results[k] = store.run(
                specs[k],
                lambda spec: with_curves(proxy, spec),
                checkpoint_every=checkpoint_every,
                progress=report,
            )
        except BaseException as e:
            errors.append(e)
            shared.barrier.abort()  # the others stop at their next epoch

    threads = [threading.Thread(target=run, args=(i, k)) for i, k in enumerate(group)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors and not isinstance(shared.error, SeedsOutOfStep):
        raise shared.error or errors[0]


__all__ = ["BATCHED", "seed_groups", "seed_key", "train_seeds", "train_specs"]
