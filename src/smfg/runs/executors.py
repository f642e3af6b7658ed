"""Where a sweep's runs execute: one run in a worker (:func:`run_one`: train, resume or load
it in the store), in this process one after the other, on a local pool of spawned processes,
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
    last = res.metrics.iloc[-1].to_dict() if len(res.metrics) else {}
    how = "cached" if not res.computed else ("resumed" if before == "partial" else "trained")
    return {
        "run": res.run_dir.name,
        "how": how,
        "resumed_from": res.resumed_from,
        "epochs": len(res.metrics),
        "seconds": time.perf_counter() - t0,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        **{k: float(last[k]) for k in PROGRESS_KEYS if k in last},
    }


def cached_summary(store: RunStore, spec: Mapping[str, Any]) -> dict:
    metrics = store.load_metrics(spec)
    last = metrics.iloc[-1].to_dict() if len(metrics) else {}
    return {
        "run": store.run_dir(spec).name,
        "how": "cached",
        "resumed_from": None,
        "epochs": len(metrics),
        "seconds": 0.0,
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


def _run_inprocess(jobs, root, checkpoint_every, retries, on_done: Done) -> None:
    for i, spec in jobs:
        for attempt in range(retries + 1):
            try:
                summary = run_one(spec, root, checkpoint_every, threads=None)
            except Exception as e:  # any failure of a run is reported
                on_done(i, None, _error(e), attempt < retries)
                continue
            on_done(i, summary, None, False)
            break


def _run_pool(jobs, root, checkpoint_every, retries, workers, on_done: Done) -> None:
    """A process pool; a crashed worker breaks the pool, so the runs left go to a new one."""
    attempts = {i: 0 for i, _ in jobs}
    pending = list(jobs)
    ctx = get_context("spawn")  # fork after torch's threads started is unsafe
    while pending:
        n = max(1, min(workers, len(pending)))
        with ProcessPoolExecutor(
            n, mp_context=ctx, initializer=_init_worker, initargs=(1,)
        ) as pool:
            futures = {
                pool.submit(run_one, spec, root, checkpoint_every): (i, spec) for i, spec in pending
            }
            pending = []
            for fut in as_completed(futures):
                i, spec = futures[fut]
                try:
                    summary = fut.result()
                except Exception as e:  # the run failed, or its worker died
                    attempts[i] += 1
                    retry = attempts[i] <= retries
                    if retry:
                        pending.append((i, spec))
                    on_done(i, None, _error(e), retry)
                    continue
                on_done(i, summary, None, False)


def _run_dask(jobs, root, checkpoint_every, retries, client, on_done: Done) -> None:
    """Futures on the cluster; Dask reruns the task of a lost worker elsewhere by itself
    (``distributed.scheduler.allowed-failures`` times) and ``retries`` times on an error."""
    from distributed import as_completed as dask_as_completed

    token = uuid.uuid4().hex[:8]
    index = {}
    for i, spec in jobs:
        key = f"smfg-run-{RunStore(root).run_dir(spec).name}-{token}"
        fut = client.submit(
            run_one, spec, root, checkpoint_every, key=key, pure=False, retries=retries
        )
        index[fut] = i
    for fut in dask_as_completed(list(index)):
        try:
            summary = fut.result()
        except Exception as e:  # KilledWorker, the run's own error
            on_done(index[fut], None, _error(e), False)
            continue
        on_done(index[fut], summary, None, False)


def _error(e: BaseException) -> str:
    if isinstance(e, BrokenProcessPool):
        return "worker process died (BrokenProcessPool)"
    return f"{type(e).__name__}: {e}"[:500]


def execute(
    jobs, root, workers, scheduler, local_workers, client, retries, checkpoint_every, on_done: Done
) -> None:
    """Send ``jobs`` to the executor the arguments choose (see :func:`sweep`)."""
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
