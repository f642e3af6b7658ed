"""Where a sweep's runs execute: one run in a worker (:func:`run_one`: train, resume or load
it in the store) or the seeds of one configuration as one batched model (:func:`run_batch`),
in this process one after the other, on a local pool of spawned processes,
or on a Dask cluster (:func:`dask_client`), with retries; each reports to the sweep's
``on_done`` as it finishes.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

import torch

from smfg.runs.store import RunStore
from smfg.runs.train import PROGRESS_KEYS, make_trainer
from smfg.runtime import tune_allocator

DASK_MISSING = (
    "Dask is not installed: it is the optional extra of smfg, `pip install .[dask]` "
    "(or `pip install 'dask[distributed]'`); without it, sweeps run on the local process pool"
)
#: What the store's lock error says while another process computes a run.
LOCKED = "being computed by another process"


def _init_worker(threads: int | None) -> None:
    """What every worker process does first: torch threads and the allocator (smfg.runtime)."""
    if threads is not None:
        torch.set_num_threads(threads)
    tune_allocator()


def run_one(
    spec: Mapping[str, Any],
    root: str,
    checkpoint_every: int = 1,
    threads: int | None = 1,
    poll_s: float = 2.0,
) -> dict:
    """Train (resume, or load) one run in the store at ``root``; a small summary dict.

    What a worker executes. While another process holds the run's lock (a worker presumed
    lost that still runs it) it waits and then loads or resumes the run. ``threads``: torch
    threads of this process (None: leave them).
    """
    _init_worker(threads)
    store = RunStore(root)
    before = store.status(spec)
    t0 = time.perf_counter()
    while True:
        try:
            res = store.run(spec, make_trainer, checkpoint_every=checkpoint_every)
            break
        except RuntimeError as e:
            if LOCKED not in str(e):
                raise
            time.sleep(poll_s)
    return _summary(res, before, time.perf_counter() - t0)


def _summary(res, before: str, seconds: float, batch: int = 1) -> dict:
    last = res.metrics.iloc[-1].to_dict() if len(res.metrics) else {}
    how = "cached" if not res.computed else ("resumed" if before == "partial" else "trained")
    return {
        "run": res.run_dir.name,
        "how": how,
        "resumed_from": res.resumed_from,
        "epochs": len(res.metrics),
        "seconds": seconds,
        "batch": batch,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        **{k: float(last[k]) for k in PROGRESS_KEYS if k in last},
    }


def run_batch(
    specs: list[Mapping[str, Any]],
    root: str,
    checkpoint_every: int = 1,
    threads: int | None = 1,
    poll_s: float = 2.0,
) -> list[dict]:
    """Train (resume, or load) runs that differ only in their seed as one batched model
    (:func:`smfg.runs.seeds.train_specs`); the summary dict of each, in order, with the
    batch's seconds and size. One spec: :func:`run_one`. While another process holds one of
    the runs' locks, the runs go one by one (:func:`run_one` waits for each)."""
    if len(specs) == 1:
        return [run_one(specs[0], root, checkpoint_every, threads, poll_s)]
    from smfg.runs.seeds import train_specs

    _init_worker(threads)
    store = RunStore(root)
    before = [store.status(s) for s in specs]
    t0 = time.perf_counter()
    try:
        results = train_specs(specs, root, checkpoint_every)
    except RuntimeError as e:
        if LOCKED not in str(e):
            raise
        return [run_one(s, root, checkpoint_every, None, poll_s) for s in specs]
    seconds = time.perf_counter() - t0
    return [_summary(r, b, seconds, len(specs)) for r, b in zip(results, before, strict=True)]


def cached_summary(store: RunStore, spec: Mapping[str, Any]) -> dict:
    metrics = store.load_metrics(spec)
    last = metrics.iloc[-1].to_dict() if len(metrics) else {}
    return {
        "run": store.run_dir(spec).name,
        "how": "cached",
        "resumed_from": None,
        "epochs": len(metrics),
        "seconds": 0.0,
        "batch": 1,
        "worker": "",
        **{k: float(last[k]) for k in PROGRESS_KEYS if k in last},
    }


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answers at the address given."""


def _probe_scheduler(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, naming the address, when nothing listens at a tcp:// scheduler
    (the Dask client itself retries for its whole timeout before it gives up)."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme != "tcp":
        return  # tls://, ucx://, inproc://: left to Dask
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"scheduler {address!r} is not an address: allowed tcp://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise SchedulerUnreachable(
            f"no Dask scheduler answers at {address} ({e.strerror or type(e).__name__}); start "
            "one (`dask scheduler`) or give the address it prints"
        ) from None


def dask_client(
    scheduler: str | None = None, local_workers: int | None = None, connect_timeout_s: int = 30
):
    """(client, cluster): a ``distributed.Client`` of the scheduler at ``scheduler``
    ('tcp://HOST:PORT') and None, or of a new ``LocalCluster`` of ``local_workers`` processes
    of one thread each and that cluster; close both when done. ImportError naming
    ``pip install .[dask]`` when Dask is not installed; :class:`SchedulerUnreachable` when
    nothing listens at a tcp:// address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(DASK_MISSING) from None
    if scheduler:
        _probe_scheduler(scheduler)
        return Client(scheduler, timeout=connect_timeout_s), None
    n = int(local_workers or 0)
    if n < 1:
        raise ValueError(f"local_workers = {local_workers!r}: allowed an integer >= 1")
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


Done = Callable[[int, dict | None, str | None, bool], None]
"""on_done(index, summary or None, error or None, retrying)"""


def _report(indices, summaries, on_done: Done) -> None:
    for i, summary in zip(indices, summaries, strict=True):
        on_done(i, summary, None, False)


def _run_inprocess(jobs, root, checkpoint_every, retries, on_done: Done) -> None:
    for indices, specs in jobs:
        for attempt in range(retries + 1):
            try:
                summaries = run_batch(specs, root, checkpoint_every, threads=None)
            except Exception as e:  # any failure of a run is reported
                for i in indices:
                    on_done(i, None, _error(e), attempt < retries)
                continue
            _report(indices, summaries, on_done)
            break


def _run_pool(jobs, root, checkpoint_every, retries, workers, on_done: Done) -> None:
    """A process pool; a crashed worker breaks the pool, so the jobs left go to a new one."""
    attempts = {tuple(ix): 0 for ix, _ in jobs}
    pending = list(jobs)
    ctx = get_context("spawn")  # fork after torch's threads started is unsafe
    while pending:
        n = max(1, min(workers, len(pending)))
        with ProcessPoolExecutor(
            n, mp_context=ctx, initializer=_init_worker, initargs=(1,)
        ) as pool:
            futures = {
                pool.submit(run_batch, specs, root, checkpoint_every): (ix, specs)
                for ix, specs in pending
            }
            pending = []
            for fut in as_completed(futures):
                ix, specs = futures[fut]
                try:
                    summaries = fut.result()
                except Exception as e:  # a run failed, or its worker died
                    attempts[tuple(ix)] += 1
                    retry = attempts[tuple(ix)] <= retries
                    if retry:
                        pending.append((ix, specs))
                    for i in ix:
                        on_done(i, None, _error(e), retry)
                    continue
                _report(ix, summaries, on_done)


def _run_dask(jobs, root, checkpoint_every, retries, client, on_done: Done) -> None:
    """Futures on the cluster; Dask reruns the task of a lost worker elsewhere by itself
    (``distributed.scheduler.allowed-failures`` times) and ``retries`` times on an error."""
    from distributed import as_completed as dask_as_completed

    token = uuid.uuid4().hex[:8]
    index = {}
    for ix, specs in jobs:
        key = f"smfg-run-{RunStore(root).run_dir(specs[0]).name}-{token}"
        fut = client.submit(
            run_batch, specs, root, checkpoint_every, key=key, pure=False, retries=retries
        )
        index[fut] = ix
    for fut in dask_as_completed(list(index)):
        try:
            summaries = fut.result()
        except Exception as e:  # KilledWorker, the run's own error
            for i in index[fut]:
                on_done(i, None, _error(e), False)
            continue
        _report(index[fut], summaries, on_done)


def _error(e: BaseException) -> str:
    if isinstance(e, BrokenProcessPool):
        return "worker process died (BrokenProcessPool)"
    return f"{type(e).__name__}: {e}"[:500]


def execute(
    jobs, root, workers, scheduler, local_workers, client, retries, checkpoint_every, on_done: Done
) -> None:
    """Send ``jobs`` to the executor the arguments choose (see :func:`sweep`): each job is
    (indices, specs), runs that train together (:func:`run_batch`; usually one)."""
    if client is not None or scheduler or local_workers:
        own = client is None
        cluster = None
        if own:
            client, cluster = dask_client(scheduler, local_workers)
        try:
            _run_dask(jobs, str(root), checkpoint_every, retries, client, on_done)
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
    elif workers == 0:
        _run_inprocess(jobs, str(root), checkpoint_every, retries, on_done)
    else:
        workers = cores() if workers is None else int(workers)
        if workers < 0:
            raise ValueError(f"workers = {workers}: allowed 0 (this process) or more")
        _run_pool(jobs, str(root), checkpoint_every, retries, workers, on_done)
