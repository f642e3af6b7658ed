"""How long a sweep takes: each run's seconds on one core, from the epoch times ``make bench``
measures, and the wall time of a pool of workers that starts the longest runs first.

The calibration is the bench's JSON (``benchmarks/results.json``, written by ``make bench``):
its SMFRL epoch rows (``training``, one per follower batch and N), every algorithm's epoch
rows (``algorithms``, N = 100 and 1,000) and the environment's step times (``results``). It is
read from the path given, else from ``benchmarks/results.json`` under the working directory or
the repository of this package; where none exists (an installed package), from
:data:`DEFAULT_BENCH`, the committed bench's numbers. :attr:`Calibration.source` says which.

A sweep's wall time (:func:`estimate`) is that of its runs left on the workers, longest first
(:func:`wall_seconds`), plus :data:`SWEEP_START_S`. One run's seconds (:func:`run_seconds`)
are its epochs left times an epoch's seconds, plus its start (:data:`RUN_START_S`, and
behaviour cloning where the run starts from it) and its certifications (``certify_every``;
the leader grid a certified run solves at its first certification is counted once per worker
and grid, as each worker process caches it: :func:`grid_key`).
An epoch's seconds come from the bench row of the
algorithm (SMFRL: of its follower batch) interpolated in N on a log-log scale between the
sizes measured (extrapolated beyond them with the nearest segment's slope), on one torch
thread, in CPU seconds (on an idle core, the wall time); then scaled to the run's settings:

- collection by ``steps_per_epoch`` over the bench's 300 steps, updates by the mean of
  ``leader_updates`` and ``follower_updates`` over its 100 (where the bench row gives the
  update seconds apart; otherwise the epoch's training part by the mean of both ratios);
- evaluation by ``eval_steps`` over 300, and at least ``eval_steps`` environment steps of
  ``N x eval_episodes`` households (the bench's step time): the bench's untrained households
  of ``taxai`` die within a few years, trained ones may live the whole episode; times the
  share of the run's epochs that evaluate (``eval_every``, :func:`eval_share`).

The bench's rows are measured in ``taxai``; a ``clearing`` epoch costs about as much apart
from its longer evaluation, which the bench's full evaluation (all 300 steps, the policy
acting; rows that record one) gives, else the environment's step time of ``clearing``.
Checkpoint writes and the pages' evaluations are not counted.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from smfg.algos.common import evaluated_epoch
from smfg.runs.curves import curve_settings
from smfg.runs.store import RunStore
from smfg.runs.sweep_specs import seed_groups

__all__ = [
    "CALIBRATION_FILE",
    "DEFAULT_BENCH",
    "Calibration",
    "Estimate",
    "epoch_seconds",
    "estimate",
    "batch_factor",
    "batch_seconds",
    "eval_share",
    "format_hours",
    "grid_key",
    "load_calibration",
    "run_seconds",
    "wall_seconds",
]

#: where ``make bench`` writes the calibration, relative to the repository root
CALIBRATION_FILE = "benchmarks/results.json"

#: the bench's settings an epoch row is measured with (the ``paper`` profile's)
BENCH_STEPS, BENCH_UPDATES, BENCH_EVAL_STEPS = 300, 100, 300
#: and its evaluation episodes
BENCH_EVAL_EPISODES = 10

#: seconds to start a run in a worker (trainer, networks, replay buffer)
RUN_START_S = 2.0
#: seconds before the first run trains: the sweep's specs, the workers' processes and imports
SWEEP_START_S = 10.0
#: seconds of one behaviour-cloning epoch of one network (survey data; measured on the
#: 2-core development machine: 30 epochs of the four networks in 30 s)
BC_EPOCH_S = 0.25
#: seconds of one certification of a curve point at N = 100 with the curve's settings, and of
#: the leader grid's points solved at a run's first certification (measured in a quick build
#: on 2 cores, 938289e: 0.5 to 0.6 s a point after the first, 15 s for the first of a worker)
CERT_POINT_S = 0.6
CERT_GRID_S = 15.0

#: The committed bench's numbers (benchmarks/results.json of the 2-core development machine,
#: CPU seconds of one torch thread, three significant digits): what the estimate uses where
#: no bench file exists.
DEFAULT_BENCH: dict[str, list[dict]] = {
    "training": [
        {"follower_batch": b, "n_households": n, "train_s": t, "update_s": u, "eval_s": e}
        for b, n, t, u, e in [
            ("joint", 100, 10.6, 10.0, 0.00718),
            ("joint", 1000, 161.0, 161.0, 0.00785),
            ("joint", 10000, 3060.0, 3060.0, 0.0608),
            ("sampled", 100, 1.36, 0.789, 0.00632),
            ("sampled", 1000, 1.57, 0.807, 0.00664),
            ("sampled", 10000, 2.39, 0.814, 0.0716),
        ]
    ],
    # SMFRL's rows give only their full evaluation (its sampled batch's epoch: "training")
    "algorithms": [
        {"algo": a, "n_households": n, "train_s": t, "eval_s": e, "eval_full_s": f}
        for a, n, t, e, f in [
            ("smfrl", 100, 1.34, 0.0063, 0.507),
            ("smfrl", 1000, 1.57, 0.00647, 1.12),
            ("rule_based", 100, 3.66e-06, 0.00158, 0.331),
            ("rule_based", 1000, 4.92e-06, 0.00246, 0.537),
            ("ddpg", 100, 0.759, 0.00242, 0.381),
            ("ddpg", 1000, 0.818, 0.00335, 0.576),
            ("iddpg", 100, 0.97, 0.555, 0.555),
            ("iddpg", 1000, 1.16, 1.78, 1.76),
            ("maddpg", 100, 1.52, 0.00313, 0.592),
            ("maddpg", 1000, 3.86, 1.78, 1.75),
            ("mfmarl", 100, 1.26, 0.00268, 0.505),
            ("mfmarl", 1000, 1.43, 0.00637, 1.1),
            ("ppo", 100, 2.88, 0.00784, 1.61),
            ("ppo", 1000, 3.8, 0.0596, 16.7),
        ]
    ],
    # 5 seeds of SMFRL (taxai, N = 100, quick) as one batch, one thread: x one seed alone
    "seeds": [{"kind": "smfrl-seeds", "seeds": 5, "threads": 1, "ratio_to_one_seed": 2.51}],
    "results": [
        {
            "kind": "env",
            "variant": v,
            "n_households": n,
            "n_envs": 1,
            "dtype": "float32",
            "tuned_malloc": True,
            "step_ms": ms,
        }
        for v, n, ms in [
            ("taxai", 100, 0.884),
            ("taxai", 1000, 0.962),
            ("taxai", 10000, 1.63),
            ("taxai", 100000, 4.57),
            ("taxai", 1000000, 43.9),
            ("clearing", 100, 0.807),
            ("clearing", 1000, 0.899),
            ("clearing", 10000, 1.58),
            ("clearing", 100000, 4.66),
            ("clearing", 1000000, 47.7),
        ]
    ],
}


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class _Epoch:
    """An epoch of the bench at one N: training, of it the updates (None: not measured
    apart), and evaluation, in CPU seconds."""

    train: float
    update: float | None
    eval: float
    eval_full: float | None = None
    """an evaluation that runs all of its 300 steps (the bench's untrained economies of
    ``taxai`` end within a few years; trained ones in ``clearing`` live the episode)"""


def _interp(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise linear in log-log through ``points`` (x, y > 0), sorted by x; beyond them the
    nearest segment's slope (at least 0: more households never cost less)."""
    pts = [(math.log(px), math.log(max(py, 1e-9))) for px, py in points]
    lx = math.log(x)
    if len(pts) == 1:
        return math.exp(pts[0][1])
    i = 0
    while i < len(pts) - 2 and lx > pts[i + 1][0]:
        i += 1
    (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    slope = (y1 - y0) / (x1 - x0)
    if lx < x0 or lx > x1:
        slope = max(slope, 0.0)
    return math.exp(y0 + slope * (lx - x0))


@dataclass(frozen=True)
class Calibration:
    """Epoch rows by (algorithm, follower batch or None) and N, and the environment's step
    seconds by variant and number of households; ``source`` names where they come from."""

    epochs: dict[tuple[str, str | None], list[tuple[int, _Epoch]]]
    steps: dict[str, list[tuple[int, float]]]
    source: str
    fallback: tuple[str, str | None] = ("smfrl", "sampled")
    seed_extra: float = 1.0
    """What each seed of a batch adds to one seed's epoch, as a share of it (the bench's K
    seeds batched on one thread cost 1 + (K - 1) x this times one seed: :func:`batch_factor`);
    1: no batch row, K seeds cost K times one."""

    @classmethod
    def from_bench(cls, report: Mapping[str, Any], source: str) -> Calibration:
        """The calibration of a bench report (``smfg bench --all``'s JSON); rows it lacks
        (an algorithm, a follower batch, the environment) come from :data:`DEFAULT_BENCH`."""
        epochs: dict[tuple[str, str | None], dict[int, _Epoch]] = {}

        def add(key, r: Mapping[str, Any]) -> None:
            wall = r.get("epoch_s")
            cpu = r.get("epoch_cpu_s")
            k = cpu / wall if cpu and wall else 1.0  # CPU seconds: an idle core's wall time
            upd, full = r.get("update_s"), r.get("eval_full_s")
            epochs.setdefault(key, {})[int(r["n_households"])] = _Epoch(
                float(r["train_s"]) * k,
                None if upd is None else float(upd) * k,
                float(r.get("eval_s") or 0.0) * k,
                None if full is None else float(full),
            )

        for r in report.get("training") or []:
            add(("smfrl", r.get("follower_batch", "sampled")), r)
        measured = set(epochs)
        for r in report.get("algorithms") or []:
            # SMFRL's follower batch is not in its row: the training rows give each batch
            key = ("smfrl", "sampled") if r["algo"] == "smfrl" else (r["algo"], None)
            if key not in measured:
                add(key, r)
            elif r.get("eval_full_s") is not None:  # a full evaluation: the same policy's
                n = int(r["n_households"])
                if n in epochs.get(key, {}) and epochs[key][n].eval_full is None:
                    e = epochs[key][n]
                    epochs[key][n] = _Epoch(e.train, e.update, e.eval, float(r["eval_full_s"]))
        steps: dict[str, dict[int, float]] = {}
        for r in report.get("results") or []:
            if r.get("kind") == "env" and r.get("n_envs") == 1 and r.get("dtype") == "float32":
                if r.get("tuned_malloc", True):
                    steps.setdefault(r["variant"], {})[int(r["n_households"])] = (
                        float(r["step_ms"]) / 1e3
                    )
        extra = None
        for r in report.get("seeds") or []:
            if r.get("threads") == 1 and int(r.get("seeds") or 0) > 1:
                extra = (float(r["ratio_to_one_seed"]) - 1.0) / (int(r["seeds"]) - 1)
        if report is not DEFAULT_BENCH:
            base = _default_calibration()
            for key, rows in base.epochs.items():
                epochs.setdefault(key, dict(rows))
            for v, rows in base.steps.items():
                steps.setdefault(v, dict(rows))
            if extra is None:
                extra = base.seed_extra
        return cls(
            {k: sorted(v.items()) for k, v in epochs.items()},
            {k: sorted(v.items()) for k, v in steps.items()},
            source,
            seed_extra=1.0 if extra is None else min(max(extra, 0.0), 1.0),
        )

    def epoch(self, algo: str, batch: str | None, n: int) -> _Epoch:
        """The bench's epoch of ``algo`` (SMFRL: with follower batch ``batch``) at N = ``n``;
        an algorithm without a row costs what SMFRL's sampled batch does."""
        rows = self.epochs.get((algo, batch)) or self.epochs.get((algo, None))
        rows = rows or self.epochs[self.fallback]
        sizes = [float(m) for m, _ in rows]

        def at(get) -> float:
            return _interp(list(zip(sizes, (get(e) for _, e in rows), strict=True)), n)

        upd = full = None
        if all(e.update is not None for _, e in rows):
            upd = at(lambda e: e.update)
        have = [(float(m), e.eval_full) for m, e in rows if e.eval_full is not None]
        if have:  # the sizes that recorded one
            full = _interp(have, n)
        return _Epoch(at(lambda e: e.train), upd, at(lambda e: e.eval), full)

    def step(self, variant: str, households: int) -> float:
        """Seconds of one environment step of ``households`` households (float32)."""
        rows = self.steps.get(variant) or next(iter(self.steps.values()))
        return _interp([(float(h), s) for h, s in rows], max(households, 1))


@lru_cache(maxsize=1)
def _default_calibration() -> Calibration:
    return Calibration.from_bench(DEFAULT_BENCH, "built-in defaults (the committed bench)")


def _candidates() -> list[Path]:
    repo = Path(__file__).resolve().parents[3]  # src/smfg/perf/estimate.py
    return [Path.cwd() / CALIBRATION_FILE, repo / CALIBRATION_FILE]


def load_calibration(path: str | os.PathLike | None = None) -> Calibration:
    """The calibration of the bench file at ``path``; None: ``benchmarks/results.json`` under
    the working directory or this package's repository where one exists, else the built-in
    defaults. FileNotFoundError when ``path`` is given and missing, ValueError when it is not
    a bench report."""
    if path is None:
        found = next((p for p in _candidates() if p.is_file()), None)
        if found is None:
            return _default_calibration()
        path = found
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no calibration file {p} (write one with `make bench`)")
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"calibration file {p} is not valid JSON: {e.msg}") from None
    if not isinstance(report, Mapping) or not (report.get("training") or report.get("algorithms")):
        raise ValueError(
            f"calibration file {p} holds no epoch rows ('training' or 'algorithms' of "
            "`smfg bench --all`)"
        )
    try:
        shown = p.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = p
    return Calibration.from_bench(report, f"{shown} (make bench)")


# ----------------------------------------------------------------------------- one run


def _updates_ratio(spec: Mapping[str, Any]) -> float | None:
    ups = [spec[k] for k in ("leader_updates", "follower_updates") if k in spec]
    return sum(ups) / len(ups) / BENCH_UPDATES if ups else None


def _eval_steps(spec: Mapping[str, Any]) -> int:
    if spec.get("eval_steps"):
        return int(spec["eval_steps"])
    return int((spec.get("economy") or {}).get("T", 300))


def epoch_seconds(spec: Mapping[str, Any], calibration: Calibration | None = None) -> float:
    """Seconds of one epoch of the run ``spec`` on one core (see the module docstring)."""
    cal = calibration or load_calibration()
    algo = spec.get("algo", "smfrl")
    n = int(spec.get("n_households", 100))
    ref = cal.epoch(algo, spec.get("follower_batch") if algo == "smfrl" else None, n)
    steps = float(spec.get("steps_per_epoch", BENCH_STEPS)) / BENCH_STEPS
    updates = _updates_ratio(spec)
    if updates is None:  # PPO: its updates follow the steps collected
        updates = steps
    if ref.update is not None:
        train = (ref.train - ref.update) * steps + ref.update * updates
    else:
        train = ref.train * (steps + updates) / 2.0
    ev_steps = _eval_steps(spec)
    variant = spec.get("variant", "taxai")
    households = n * int(spec.get("eval_episodes", 10))
    ev = max(
        ref.eval * ev_steps / BENCH_EVAL_STEPS,
        ev_steps * cal.step(variant, households),
    )
    if variant == "clearing" and ref.eval_full is not None:
        # its economies live the episode: the bench's full evaluation (policy and step, 10
        # episodes), scaled to the run's steps and episodes by the step's time
        scale = cal.step(variant, households) / cal.step(variant, n * BENCH_EVAL_EPISODES)
        ev = max(ev, ref.eval_full * ev_steps / BENCH_EVAL_STEPS * scale)
    return train + ev * eval_share(spec)


def eval_share(spec: Mapping[str, Any]) -> float:
    """The share of the run's epochs that evaluate (``eval_every``: the first, every k-th and
    the last, :func:`smfg.algos.common.evaluated_epoch`)."""
    epochs = max(int(spec.get("epochs", 1)), 1)
    every = int(spec.get("eval_every") or 1)
    return sum(evaluated_epoch(e, every, epochs) for e in range(1, epochs + 1)) / epochs


def grid_key(spec: Mapping[str, Any], epochs_done: int = 0) -> tuple | None:
    """What the leader grid a run solves at its first certification depends on (the economy
    and the grid's settings, not the seed or N: ``smfg.certify.leader`` caches its points in
    the process), or None where the run solves none from ``epochs_done``."""
    every = int(spec.get("certify_every") or 0)
    if not every or epochs_done >= every:
        return None
    s = curve_settings(spec.get("certify_settings") or {})
    if not s.get("leader"):
        return None
    economy = json.dumps(spec.get("economy") or {}, sort_keys=True, default=str)
    return (spec.get("variant"), economy, s["grid_points"], s["grid_na"])


def _certify_seconds(spec: Mapping[str, Any], epochs_done: int, grid: bool = True) -> float:
    every = int(spec.get("certify_every") or 0)
    if not every:
        return 0.0
    s = curve_settings(spec.get("certify_settings") or {})
    n = int(spec.get("n_households", 100))
    size = max(s["na"] * s["ne"] / 1000.0, 0.25)  # the curve's 200 x 5 states
    point = CERT_POINT_S * size * (0.6 + 0.4 * n / 100.0)
    count = int(spec.get("epochs", 1)) // every - epochs_done // every
    solve = 0.0
    if grid and s.get("leader") and epochs_done < every:  # solved at its first certification
        solve = CERT_GRID_S * s["grid_points"] ** 3 / 27.0 * s["grid_na"] / 60.0
    return max(count, 0) * point + solve


def run_seconds(
    spec: Mapping[str, Any],
    calibration: Calibration | None = None,
    epochs_done: int = 0,
    grid: bool = True,
) -> float:
    """Seconds of the run ``spec`` on one core from ``epochs_done`` epochs (a resumed run)
    to its end: its start, behaviour cloning (a new run that asks for it), its epochs left
    and its certifications (with the leader grid's solve at the first, unless ``grid`` is
    False: a worker that solved the same grid for an earlier run finds it cached)."""
    cal = calibration or load_calibration()
    left = max(int(spec.get("epochs", 1)) - int(epochs_done), 0)
    start = RUN_START_S
    if spec.get("bc") and epochs_done == 0:
        start += BC_EPOCH_S * int(spec.get("bc_epochs", 0))
    return start + left * epoch_seconds(spec, cal) + _certify_seconds(spec, epochs_done, grid)


def batch_factor(k: int, calibration: Calibration | None = None) -> float:
    """An epoch of ``k`` seeds trained as one batch (:mod:`smfg.algos.seeds`) in multiples
    of one seed's: 1 + (k - 1) x the calibration's :attr:`~Calibration.seed_extra`."""
    cal = calibration or load_calibration()
    return 1.0 + (max(int(k), 1) - 1) * cal.seed_extra


def batch_seconds(
    specs: Sequence[Mapping[str, Any]],
    calibration: Calibration | None = None,
    epochs_done: Sequence[int] | None = None,
    grid: Sequence[bool] | None = None,
) -> float:
    """Seconds on one core of runs that differ only in their seed trained as one batch
    (``smfg.runs.seeds.train_specs``): the epochs of the runs that train together (those
    at the same epoch) at :func:`batch_factor` times one seed's; each run's own start,
    behaviour cloning and certifications. One spec: :func:`run_seconds`."""
    cal = calibration or load_calibration()
    done = list(epochs_done or [0] * len(specs))
    grids = list(grid or [True] * len(specs))
    if len(specs) == 1:
        return run_seconds(specs[0], cal, done[0], grids[0])
    epoch = epoch_seconds(specs[0], cal)
    n_epochs = int(specs[0].get("epochs", 1))
    total = 0.0
    at: dict[int, int] = {}
    for spec, d, g in zip(specs, done, grids, strict=True):
        # each run's start, behaviour cloning and certifications: all but its epochs
        total += run_seconds(spec, cal, d, g) - max(n_epochs - d, 0) * epoch
        at[d] = at.get(d, 0) + 1
    for d, k in at.items():
        total += max(n_epochs - d, 0) * epoch * batch_factor(k, cal)
    return total


def wall_seconds(costs: Iterable[float], workers: int) -> float:
    """The wall time of ``costs`` on ``workers`` workers that take the next run, longest
    first, as each frees up (how the pool and a Dask cluster receive a sweep's runs)."""
    if workers < 1:
        raise ValueError(f"workers = {workers}: allowed an integer >= 1")
    finish = [0.0] * workers
    for c in sorted(costs, reverse=True):
        heapq.heapreplace(finish, finish[0] + c)
    return max(finish)


# ----------------------------------------------------------------------------- a sweep


def format_hours(seconds: float) -> str:
    """'617.30 h (25.7 days)', '0.03 h (1.8 min)', '5.20 h': hours, then a readable unit
    where hours are not one."""
    h = seconds / 3600.0
    if seconds < 120:
        human = f"{seconds:.0f} s"
    elif seconds < 7200:
        human = f"{seconds / 60:.1f} min"
    elif h < 72:
        return f"{h:.2f} h"
    else:
        human = f"{h / 24:.1f} days"
    return f"{h:.2f} h ({human})"


@dataclass(frozen=True)
class Estimate:
    """What a sweep will cost: its runs by status, the CPU seconds of those left and the
    wall time on ``workers`` workers (None: no worker to count)."""

    runs: int
    new: int
    partial: int
    done: int
    cpu_seconds: float
    workers: int
    wall_seconds: float | None
    source: str
    per_run: list[float] = field(default_factory=list, repr=False)
    """the seconds of each job, longest first (a job: one run, or a batch of seeds)"""

    @property
    def cpu_hours(self) -> float:
        return self.cpu_seconds / 3600.0

    def line(self) -> str:
        """One line, e.g. ``estimate: 180 runs (180 new, 0 partial, 0 done); 1234.56
        CPU-hours; wall 617.30 h (25.7 days) on 2 workers; calibration: ...``."""
        if self.wall_seconds is None:
            wall = f"wall n/a on {self.workers} workers (none connected yet)"
        else:
            wall = f"wall {format_hours(self.wall_seconds)} on {self.workers} workers"
        return (
            f"estimate: {self.runs} runs ({self.new} new, {self.partial} partial, "
            f"{self.done} done); {self.cpu_hours:.2f} CPU-hours; {wall}; "
            f"calibration: {self.source}"
        )

    def as_dict(self) -> dict:
        return {
            "runs": self.runs,
            "new": self.new,
            "partial": self.partial,
            "done": self.done,
            "cpu_hours": self.cpu_hours,
            "workers": self.workers,
            "wall_hours": None if self.wall_seconds is None else self.wall_seconds / 3600.0,
            "calibration": self.source,
        }


def estimate(
    specs: Sequence[Mapping[str, Any]],
    root: str | os.PathLike = "results",
    workers: int = 1,
    calibration: Calibration | None = None,
    batch_seeds: bool = True,
) -> Estimate:
    """The cost of sweeping ``specs`` into the run store at ``root`` with ``workers``
    workers: done runs cost nothing, partial ones their epochs left (0 workers: no wall).

    With ``batch_seeds`` (the sweep's default) the runs of an algorithm with a batched form
    that differ only in their seed are one job (``smfg.runs.sweep_specs.seed_groups``) of
    :func:`batch_seconds`; otherwise every run is a job. A leader grid (:func:`grid_key`) is
    counted for at most ``workers`` of the runs that solve the same one (at least once):
    each worker process solves it once and finds it cached for its later runs; the longest
    jobs keep it."""
    cal = calibration or load_calibration()
    store = RunStore(root)
    counts = {"new": 0, "partial": 0, "done": 0}
    left = []
    for spec in specs:
        status = store.status(spec)
        counts[status] += 1
        if status != "done":
            left.append((spec, store.epochs_done(spec) if status == "partial" else 0))
    jobs = [[left[i] for i in g] for g in seed_groups([s for s, _ in left], batch_seeds)]

    def cost(job, grids=None) -> float:
        return batch_seconds([s for s, _ in job], cal, [d for _, d in job], grids)

    solves: dict[tuple, int] = {}
    costs = []
    for job in sorted(jobs, key=lambda j: -cost(j)):
        grids = []
        for spec, done in job:
            key = grid_key(spec, done)
            grids.append(key is None or solves.get(key, 0) < max(workers, 1))
            if key is not None and grids[-1]:
                solves[key] = solves.get(key, 0) + 1
        costs.append(cost(job, grids))
    wall = None
    if workers >= 1:
        wall = wall_seconds(costs, workers) + (SWEEP_START_S if costs else 0.0)
    return Estimate(
        len(specs),
        counts["new"],
        counts["partial"],
        counts["done"],
        sum(costs),
        workers,
        wall,
        cal.source,
        costs,
    )
