"""Many runs at once: a local process pool by default, a Dask cluster when given one.

A sweep is a list of run specs (what :func:`smfg.runs.train.run_spec` returns): from a grid
(:func:`grid_specs`) or a YAML/JSON file (:func:`specs_from_file`); the paper layer gives the
specs of its artefacts (``smfg.paper.specs``), and resolves a file's ``experiment`` key
when it passes its ``experiment_specs`` in. :func:`sweep` sends each run that the run store
does not hold finished yet to a worker, which trains it with
``RunStore(root).run(spec, make_trainer)``:

- the runs of an algorithm with a batched form that differ only in their seed go to one
  worker together and train as one batched model (``batch_seeds``, :mod:`smfg.runs.seeds`:
  three seeds cost about 1.7 times one), each still in its own directory;
- each run writes only its own directory ``<root>/<algo>-<hash>``, checkpointed every
  ``checkpoint_every`` epochs, so a lost worker costs at most that run's progress since its
  last checkpoint; the run is retried (``retries``), and resumes bit for bit;
- a finished run is never sent again: rerunning a sweep after a failure computes only what
  is missing;
- the longest runs first, when the caller says how long each takes (``cost``: the CLI
  passes ``smfg.perf.estimate.run_seconds``, calibrated by ``make bench``'s epoch
  times, and prints the estimate of the whole sweep first);
- one progress line per finished run, ``[k/n]`` (on Dask with the worker's host and process
  id), and a total at the end.

Executors: ``workers=N`` a ``ProcessPoolExecutor`` of N spawned processes (the default, one
per core); ``workers=0`` in this process, one run after the other; ``scheduler="tcp://..."``
a running Dask cluster; ``local_workers=N`` a Dask ``LocalCluster`` of N processes; or any
``distributed.Client`` as ``client``. Dask is the optional extra ``pip install .[dask]``.
Every worker trains with one torch thread: the networks are small and runs in parallel
scale better than threads within one run. On a cluster of several machines the results root
must be a filesystem every worker sees at the same path.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smfg.runs.executors import DASK_MISSING, cached_summary, dask_client, execute, run_one
from smfg.runs.store import RunStore
from smfg.runs.sweep_specs import (
    grid_specs,
    run_label,
    seed_groups,
    specs_from_file,
    specs_from_mapping,
    unique_specs,
)
from smfg.runs.train import PROGRESS_KEYS

__all__ = [
    "DASK_MISSING",
    "SweepResult",
    "dask_client",
    "grid_specs",
    "run_label",
    "run_one",
    "seed_groups",
    "specs_from_file",
    "specs_from_mapping",
    "sweep",
    "unique_specs",
]


class _EpochWatcher:
    """Reports the epochs done across ``specs`` (their metrics rows on disk) every ``poll_s``
    seconds from a thread, and once more when stopped: ``report(done, total, share)``, where
    ``share`` is the work done as a fraction of the whole, each run's epochs weighted by its
    ``cost(spec)`` per epoch (its estimated seconds: the epochs of a run at N = 1,000 weigh
    more than those at N = 100), or by one without ``cost``."""

    def __init__(
        self, store: RunStore, specs: list, report, lock: threading.Lock, poll_s: float, cost=None
    ):
        self.store, self.specs, self.report, self.lock = store, specs, report, lock
        self.poll_s = poll_s
        self.totals = [int(spec.get("epochs", 0)) for spec in specs]
        self.weights = [
            (float(cost(spec)) / max(total, 1)) if cost is not None else 1.0
            for spec, total in zip(specs, self.totals, strict=True)
        ]
        self.whole = sum(w * t for w, t in zip(self.weights, self.totals, strict=True))
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="sweep-epochs", daemon=True)
        self.thread.start()

    def _tell(self) -> None:
        done, work = 0, 0.0
        for spec, total, w in zip(self.specs, self.totals, self.weights, strict=True):
            with contextlib.suppress(OSError, ValueError):
                k = min(self.store.epochs_done(spec), total)
                done, work = done + k, work + w * k
        share = work / self.whole if self.whole > 0 else 1.0
        with self.lock:
            self.report(done, sum(self.totals), share)

    def _loop(self) -> None:
        while not self.halt.wait(self.poll_s):
            self._tell()

    def stop(self, tell: bool = True) -> None:
        self.halt.set()
        self.thread.join()
        if tell:
            self._tell()


# ----------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` returns."""

    runs: pd.DataFrame
    """One row per distinct spec, in input order: label, run (directory name), status ('done',
    'failed'), how ('trained', 'resumed', 'cached'), epochs, seconds, worker, error and the
    last epoch's metrics."""
    root: Path
    """The run store."""
    seconds: float
    """Wall time of the sweep."""

    @property
    def ok(self) -> bool:
        """Every run is done."""
        return bool((self.runs["status"] == "done").all())

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != "done"]

    def summary_line(self) -> str:
        how = self.runs["how"].value_counts()
        return (
            f"sweep: {int((self.runs['status'] == 'done').sum())}/{len(self.runs)} runs done "
            f"({int(how.get('trained', 0))} trained, {int(how.get('resumed', 0))} resumed, "
            f"{int(how.get('cached', 0))} already in the store), {len(self.failed)} failed, "
            f"{self.seconds:.1f} s"
        )


def sweep(
    specs: Iterable[Mapping[str, Any]],
    root: str | os.PathLike = "results",
    workers: int | None = None,
    scheduler: str | None = None,
    local_workers: int | None = None,
    client=None,
    retries: int = 2,
    checkpoint_every: int = 1,
    progress: Callable[[str], None] | None = None,
    epochs_progress: Callable[[int, int], None] | None = None,
    poll_s: float = 5.0,
    cost: Callable[[Mapping[str, Any]], float] | None = None,
    batch_seeds: bool = True,
    batch_cost: Callable[[list[Mapping[str, Any]]], float] | None = None,
) -> SweepResult:
    """Train every run of ``specs`` in the run store at ``root`` (see the module docstring).

    Runs already finished in the store are not sent to any worker; the others start longest
    first by ``cost(spec)``, a run's estimated seconds, so that the workers of a pool finish
    together (None: in the order given). ``retries``: further
    attempts of a run that failed (a local worker that died, an error in the run; on Dask
    also its own rescheduling of a lost worker's task). ``progress(line)`` gets one line per
    finished or failed run and the total at the end. Failed runs are reported in the result,
    not raised: rerun the sweep to compute them, resuming from their checkpoints.
    ``epochs_progress(done, total, share)`` gets the epochs completed so far across the runs
    sent to workers (read from their metrics files every ``poll_s`` seconds, so it moves while
    long runs train), their total epochs and the share of the work done (each run's epochs
    weighted by its ``cost`` per epoch, so that an ETA from it counts an epoch of a long run
    as long), from a thread of this process.

    ``batch_seeds``: the runs of an algorithm with a batched form (the DDPG family) that
    differ only in their seed train as one batched model in one worker
    (:func:`smfg.runs.seeds.train_specs`; equal to the runs trained alone up to rounding,
    book:reproduce-batched-seeds); False: every run alone. ``batch_cost(specs)``: a batch's
    estimated seconds (the CLI's: ``smfg.perf.estimate.batch_seconds``), else the sum of its
    runs' ``cost``.
    """
    t0 = time.perf_counter()
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries = {retries!r}: allowed an integer >= 0")
    specs = unique_specs(specs)
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    store = RunStore(root)
    n = len(specs)
    rows: list[dict] = [
        {
            "label": run_label(s),
            "run": store.run_dir(s).name,
            "status": "failed",
            "how": "",
            "error": "",
        }
        for s in specs
    ]
    finished = [0]
    remote = client is not None or bool(scheduler) or bool(local_workers)  # say which worker
    said = threading.Lock()  # the epoch watcher's thread reports too

    def say(line: str) -> None:
        if progress is not None:
            with said:
                progress(line)

    def on_done(i: int, summary: dict | None, error: str | None, retrying: bool) -> None:
        row = rows[i]
        if summary is not None:
            row.update(summary, status="done", error="")
            finished[0] += 1
            how = summary["how"]
            if how == "resumed" and summary.get("resumed_from") is not None:
                how += f" from epoch {summary['resumed_from']}"
            metrics = ", ".join(
                f"{k} {summary[k]:.4g}"
                for k in ("per_capita_gdp", "years")
                if k in summary and math.isfinite(summary[k])
            )
            where = f" on {summary['worker']}" if remote and summary.get("worker") else ""
            k = int(summary.get("batch") or 1)
            batch = f" (trained as a batch of {k} seeds)" if k > 1 and how != "cached" else ""
            say(
                f"[{finished[0]}/{n}] {row['label']} ({row['run']}): {how}, "
                f"{summary['epochs']} epochs, {summary['seconds']:.1f} s{batch}{where}"
                + (f"; {metrics}" if metrics else "")
            )
        else:
            row["error"] = error or ""
            if retrying:
                say(
                    f"[{finished[0]}/{n}] {row['label']} ({row['run']}): failed ({error}); retrying"
                )
            else:
                finished[0] += 1
                say(f"[{finished[0]}/{n}] {row['label']} ({row['run']}): FAILED ({error})")

    todo = []
    for i, spec in enumerate(specs):
        if store.status(spec) == "done":
            on_done(i, cached_summary(store, spec), None, False)
        else:
            todo.append(i)
    # (indices, specs): a run alone, or the seeds of one configuration as one batch
    jobs = [
        ([todo[k] for k in g], [specs[todo[k]] for k in g])
        for g in seed_groups([specs[i] for i in todo], batch_seeds)
    ]
    # longest first: the pool's last runs are then short ones, and the workers finish together
    if cost is not None or batch_cost is not None:

        def job_cost(job) -> float:
            if len(job[1]) > 1 and batch_cost is not None:
                return float(batch_cost(job[1]))
            return sum(float(cost(s)) for s in job[1]) if cost is not None else 0.0

        jobs.sort(key=lambda job: -job_cost(job))

    watcher = None
    if jobs and epochs_progress is not None:
        sent = [spec for _, group in jobs for spec in group]
        watcher = _EpochWatcher(store, sent, epochs_progress, said, poll_s, cost)
    try:
        if jobs:
            execute(
                jobs,
                root,
                workers,
                scheduler,
                local_workers,
                client,
                retries,
                checkpoint_every,
                on_done,
            )
    except BaseException:
        if watcher is not None:
            watcher.stop(tell=False)
        raise
    if watcher is not None:
        watcher.stop()

    columns = [
        "label",
        "run",
        "status",
        "how",
        "resumed_from",
        "epochs",
        "seconds",
        "batch",
        "worker",
        "error",
        *PROGRESS_KEYS,
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    result = SweepResult(table, root, time.perf_counter() - t0)
    say(result.summary_line())
    return result
