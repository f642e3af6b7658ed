"""Many runs at once: a local process pool by default, a Dask cluster when given one.

A sweep is a list of run specs (what :func:`smfg.runs.train.run_spec` returns): from a grid
(:func:`grid_specs`) or a YAML/JSON file (:func:`specs_from_file`); the paper layer gives the
specs of its artefacts (``smfg.paper.specs``), and resolves a file's ``experiment`` key
when it passes its ``experiment_specs`` in. :func:`sweep` sends each run that the run store
does not hold finished yet to a worker, which trains it with
``RunStore(root).run(spec, make_trainer)``:

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
import itertools
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from smfg.runs.store import RunStore, canonical_spec
from smfg.runs.train import PROGRESS_KEYS, make_trainer, run_spec
from smfg.runtime import tune_allocator

__all__ = [
    "DASK_MISSING",
    "SweepResult",
    "dask_client",
    "grid_specs",
    "run_label",
    "run_one",
    "specs_from_file",
    "specs_from_mapping",
    "sweep",
    "unique_specs",
]

DASK_MISSING = (
    "Dask is not installed: it is the optional extra of smfg, `pip install .[dask]` "
    "(or `pip install 'dask[distributed]'`); without it, sweeps run on the local process pool"
)
#: keys of a sweep file (see :func:`specs_from_mapping`)
FILE_KEYS = (
    "algo",
    "profile",
    "overrides",
    "grid",
    "runs",
    "experiment",
    "seeds",
    "sizes",
    "variant",
)
_LOCKED = "being computed by another process"


# ----------------------------------------------------------------------------- what to run


def grid_specs(
    algo: str = "smfrl",
    profile: str = "quick",
    variants: Sequence[str] = ("taxai",),
    households: Sequence[int] = (100,),
    seeds: Sequence[int] = (0,),
    bc: Sequence[bool] = (False,),
    **overrides,
) -> list[dict]:
    """The specs of every combination of variant x households x bc x seed, in that order."""
    return [
        run_spec(
            algo, profile, variant=v, n_households=int(n), bc=bool(b), seed=int(s), **overrides
        )
        for v, n, b, s in itertools.product(variants, households, bc, seeds)
    ]


#: What resolves a sweep file's ``experiment`` key: (name, profile, seeds=, sizes=, variant=,
#: **overrides) -> the specs of that paper artefact's runs (the paper layer's
#: ``smfg.paper.specs.experiment_specs``).
ExperimentSpecs = Callable[..., list[dict]]


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def specs_from_mapping(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    experiment_specs: ExperimentSpecs | None = None,
) -> list[dict]:
    """The specs a sweep file describes. A list is a list of runs; a mapping may hold:

    - ``algo`` (default smfrl), ``profile`` (default quick), ``overrides`` (config fields
      every run gets);
    - ``grid``: config fields (``algo`` and ``profile`` too) to lists of values, every
      combination one run, e.g. ``{variant: [taxai, clearing], n_households: [100, 1000],
      seed: [0, 1, 2]}``;
    - ``runs``: a list of runs, each a mapping of config fields (and ``algo``, ``profile``);
    - ``experiment``: registry artefact name(s), with optional ``seeds`` (a count or a list),
      ``sizes`` and ``variant``, resolved by ``experiment_specs`` (a ValueError without it).

    Duplicates (same spec) are kept once, in first-seen order.
    """
    if isinstance(data, list | tuple):
        data = {"runs": list(data)}
    if not isinstance(data, Mapping):
        raise ValueError(f"a sweep file holds a mapping or a list, not {type(data).__name__}")
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ValueError(f"sweep file keys {unknown} are not known: allowed {list(FILE_KEYS)}")
    algo = data.get("algo", "smfrl")
    profile = data.get("profile", "quick")
    base = dict(data.get("overrides") or {})
    specs: list[dict] = []
    grid = data.get("grid")
    if grid:
        if not isinstance(grid, Mapping):
            raise ValueError(f"sweep file 'grid' must map config fields to lists, got {grid!r}")
        names = list(grid)
        for values in itertools.product(*(_as_list(grid[k]) for k in names)):
            kw = {**base, **dict(zip(names, values, strict=True))}
            specs.append(run_spec(kw.pop("algo", algo), kw.pop("profile", profile), **kw))
    for i, run in enumerate(data.get("runs") or []):
        if not isinstance(run, Mapping):
            raise ValueError(f"sweep file 'runs[{i}]' must be a mapping of config fields")
        kw = {**base, **run}
        specs.append(run_spec(kw.pop("algo", algo), kw.pop("profile", profile), **kw))
    names = _as_list(data.get("experiment") or [])
    if names and experiment_specs is None:
        raise ValueError(
            f"sweep file 'experiment' {names}: no resolver of paper artefacts was given "
            "(pass experiment_specs, as `smfg sweep --file` does)"
        )
    for name in names:
        specs += experiment_specs(
            name,
            profile,
            seeds=data.get("seeds"),
            sizes=data.get("sizes"),
            variant=data.get("variant"),
            **base,
        )
    if not specs:
        raise ValueError("the sweep file describes no run: give 'grid', 'runs' or 'experiment'")
    return unique_specs(specs)


def specs_from_file(
    path: str | os.PathLike, experiment_specs: ExperimentSpecs | None = None
) -> list[dict]:
    """The specs of a YAML (``.yaml``, ``.yml``) or JSON sweep file (:func:`specs_from_mapping`,
    whose ``experiment`` key ``experiment_specs`` resolves)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep file {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml comes with the dask and book extras
            raise ImportError(
                f"reading {path} needs PyYAML (`pip install pyyaml`, or the extra "
                "`pip install .[dask]`); a JSON file of the same structure needs nothing"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            what = getattr(e, "problem", None) or type(e).__name__
            raise ValueError(f"sweep file {path} is not valid YAML{where}: {what}") from e
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"sweep file {path} is not valid JSON at line {e.lineno}, column {e.colno}: "
                f"{e.msg} (a .yaml or .yml file is read as YAML)"
            ) from e
    try:
        return specs_from_mapping(data, experiment_specs)
    except (ValueError, TypeError) as e:
        raise ValueError(f"sweep file {path}: {e}") from e


def unique_specs(specs: Iterable[Any]) -> list[dict]:
    """The specs as canonical dicts (RunRequests as their spec), each distinct one once."""
    out, seen = [], set()
    for spec in specs:
        spec = spec.spec() if callable(getattr(spec, "spec", None)) else spec  # a RunRequest
        canon = canonical_spec(spec)
        key = json.dumps(canon, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(canon)
    return out


def run_label(spec: Mapping[str, Any]) -> str:
    """'smfrl taxai N=100 BC seed 0': what a progress line calls a run."""
    parts = [str(spec.get("algo", "run"))]
    if "variant" in spec:
        parts.append(str(spec["variant"]))
    if "n_households" in spec:
        parts.append(f"N={spec['n_households']}")
    if spec.get("bc"):
        parts.append("BC")
    if "seed" in spec:
        parts.append(f"seed {spec['seed']}")
    return " ".join(parts)


# ----------------------------------------------------------------------------- one run


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
            if _LOCKED not in str(e):
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


def _cached_summary(store: RunStore, spec: Mapping[str, Any]) -> dict:
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


# ----------------------------------------------------------------------------- executors


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


def _cores() -> int:
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


def _execute(
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
        workers = _cores() if workers is None else int(workers)
        if workers < 0:
            raise ValueError(f"workers = {workers}: allowed 0 (this process) or more")
        _run_pool(jobs, str(root), checkpoint_every, retries, workers, on_done)


class _EpochWatcher:
    """Reports the epochs done across ``specs`` (their metrics rows on disk) every ``poll_s``
    seconds from a thread, and once more when stopped."""

    def __init__(self, store: RunStore, specs: list, report, lock: threading.Lock, poll_s: float):
        self.store, self.specs, self.report, self.lock = store, specs, report, lock
        self.poll_s = poll_s
        self.totals = [int(spec.get("epochs", 0)) for spec in specs]
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="sweep-epochs", daemon=True)
        self.thread.start()

    def _tell(self) -> None:
        done = 0
        for spec, total in zip(self.specs, self.totals, strict=True):
            with contextlib.suppress(OSError, ValueError):
                done += min(self.store.epochs_done(spec), total)
        with self.lock:
            self.report(done, sum(self.totals))

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
) -> SweepResult:
    """Train every run of ``specs`` in the run store at ``root`` (see the module docstring).

    Runs already finished in the store are not sent to any worker; the others start longest
    first by ``cost(spec)``, a run's estimated seconds, so that the workers of a pool finish
    together (None: in the order given). ``retries``: further
    attempts of a run that failed (a local worker that died, an error in the run; on Dask
    also its own rescheduling of a lost worker's task). ``progress(line)`` gets one line per
    finished or failed run and the total at the end. Failed runs are reported in the result,
    not raised: rerun the sweep to compute them, resuming from their checkpoints.
    ``epochs_progress(done, total)`` gets the epochs completed so far across the runs sent to
    workers (read from their metrics files every ``poll_s`` seconds, so it moves while long
    runs train) and their total epochs, from a thread of this process.
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
            say(
                f"[{finished[0]}/{n}] {row['label']} ({row['run']}): {how}, "
                f"{summary['epochs']} epochs, {summary['seconds']:.1f} s{where}"
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

    jobs = []
    for i, spec in enumerate(specs):
        if store.status(spec) == "done":
            on_done(i, _cached_summary(store, spec), None, False)
        else:
            jobs.append((i, spec))
    # longest first: the pool's last runs are then short ones, and the workers finish together
    if cost is not None:
        jobs.sort(key=lambda job: -cost(job[1]))

    watcher = None
    if jobs and epochs_progress is not None:
        watcher = _EpochWatcher(store, [spec for _, spec in jobs], epochs_progress, said, poll_s)
    try:
        if jobs:
            _execute(
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
        "worker",
        "error",
        *PROGRESS_KEYS,
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    result = SweepResult(table, root, time.perf_counter() - t0)
    say(result.summary_line())
    return result
