"""The run store: one directory per run, keyed by a hash of its full spec, that resumes.

A run is a spec (a JSON-like dict, or a :class:`~smfg.runs.spec.RunSpec` that resolves to
one) and a trainer built from it. :class:`RunStore` gives it a
directory ``<root>/<algo>-<hash16>`` and trains it epoch by epoch::

    config.json                 the spec, its hash and the code version (pretty JSON)
    metrics.csv                 one row per completed epoch: epoch, the trainer's metrics,
                                wall_time_s
    checkpoints/ckpt-000012.pt  torch.save of {"epoch", "trainer", "metrics_rows", ...};
                                the newest ``keep`` are kept
    checkpoints/corrupt/        checkpoints that failed to load, moved aside (never deleted)
    policy.pt                   the trainer's ``policy_state()`` at the end
    DONE                        completion marker (hash, epochs, finish time), written last

A finished run (``DONE`` present) is never recomputed. Its ``policy.pt``, when missing or
corrupt, is rebuilt from the checkpoint of its last epoch (bit-identical: the same trainer
state gives the same bytes), with a warning; when that checkpoint is unusable too, training
resumes from the newest one that loads. An interrupted run resumes from its
newest checkpoint that loads and, as the trainer owns all its random state, ends bit-identical
to an uninterrupted run; metrics rows written after that checkpoint are dropped and
recomputed. Every whole-file write is atomic and metrics rows are appended with flush and
fsync (:mod:`smfg.runs.durable`); the directory's files are read back by
:mod:`smfg.runs.rundir`. While a process computes or repairs a run it holds the run's lock
(:mod:`smfg.runs.lock`); another process is told who holds it (:class:`RunLockedError`).

What the store trains, returns and raises (the trainer protocol, :class:`RunResult`,
:class:`CorruptRunError`) is :mod:`smfg.runs.contract`; every name is importable from here.

The hash covers the spec and :data:`CODE_VERSION` (:mod:`smfg.runs.hashing`): bumping
``smfg.__version__`` invalidates every cached run.

Checkpoints and policies are loaded with ``torch.load(weights_only=False)`` (trainer states
may hold numpy arrays or other plain Python objects): open only run directories you trust,
as with any pickle.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from smfg.runs.contract import CorruptRunError, RunResult, Trainer
from smfg.runs.durable import (
    TMP_PREFIX,
    MetricsLog,
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    read_lines,
    read_metrics,
)
from smfg.runs.hashing import (
    CODE_VERSION,
    HASH_CHARS,
    ResolvesToSpec,
    canonical_spec,
    config_hash,
)
from smfg.runs.lock import RunLockedError, locked
from smfg.runs.rundir import (
    CKPT_DIR,
    CONFIG_FILE,
    CORRUPT_DIR,
    DONE_FILE,
    LOCK_FILE,
    METRICS_FILE,
    POLICY_FILE,
    Status,
    checkpoints,
    ckpt_name,
    dir_status,
    done_epochs,
    list_runs,
    move_aside,
    read_checkpoint,
    read_policy,
)

__all__ = [
    "CKPT_DIR",
    "CODE_VERSION",
    "CONFIG_FILE",
    "CORRUPT_DIR",
    "DONE_FILE",
    "HASH_CHARS",
    "LOCK_FILE",
    "METRICS_FILE",
    "POLICY_FILE",
    "CorruptRunError",
    "RunLockedError",
    "RunResult",
    "RunStore",
    "Status",
    "Trainer",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_spec",
    "config_hash",
    "list_runs",
]

_ALGO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


# ----------------------------------------------------------------------------- the store


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= 1")


class RunStore:
    """Directories of runs under ``root``, one per (spec, code version)."""

    def __init__(self, root: str | os.PathLike = "results") -> None:
        self.root = Path(root)

    # --- naming and reading

    def run_dir(self, spec: Mapping[str, Any] | Any) -> Path:
        """``root / f"{algo}-{hash}"``; ``algo`` is the spec's ``algo`` key or 'run'."""
        canon = canonical_spec(spec)
        algo = canon.get("algo", "run")
        if not isinstance(algo, str) or not _ALGO_RE.match(algo):
            raise ValueError(
                f"spec key 'algo' is {algo!r}; it names a directory, so it must be a non-empty "
                "str of letters, digits and _ . + - (not starting with a punctuation mark)"
            )
        return self.root / f"{algo}-{config_hash(canon)}"

    def _dir_of(self, spec_or_dir: Mapping[str, Any] | str | os.PathLike | Any) -> Path:
        if isinstance(spec_or_dir, str | os.PathLike):
            return Path(spec_or_dir)
        return self.run_dir(spec_or_dir)

    def checkpoint_epoch(self, spec: Mapping[str, Any] | Any) -> int:
        """The epoch of the run's newest checkpoint (0 without one): where a resume starts,
        unless that checkpoint turns out to be corrupt."""
        found = checkpoints(self.run_dir(spec))
        return found[-1][0] if found else 0

    def epochs_done(self, spec_or_dir: Mapping[str, Any] | str | os.PathLike) -> int:
        """Epochs the run has completed so far (its complete metrics rows; 0 for a new run):
        what a sweep's progress counts while other processes train."""
        path = self._dir_of(spec_or_dir) / METRICS_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0
        return max(data.count(b"\n") - 1, 0)  # the header; a torn last line has no newline

    def status(self, spec: Mapping[str, Any] | Any) -> Status:
        """'done' (DONE written), 'partial' (directory without DONE) or 'new'."""
        return dir_status(self.run_dir(spec))

    def load_metrics(self, spec_or_dir: Mapping[str, Any] | str | os.PathLike) -> pd.DataFrame:
        """The run's metrics (empty before its first epoch); FileNotFoundError for a new run."""
        d = self._dir_of(spec_or_dir)
        if not d.is_dir():
            raise FileNotFoundError(f"no run directory {d}: the run has not been started")
        return read_metrics(d / METRICS_FILE)

    def load_policy(
        self,
        spec_or_dir: Mapping[str, Any] | str | os.PathLike,
        make_trainer: Callable[[dict], Trainer] | None = None,
    ) -> dict:
        """The finished run's policy_state (policy.pt), on CPU.

        A missing or corrupt policy.pt is rebuilt from the checkpoint of the run's last epoch
        when ``make_trainer`` is given (see :meth:`rebuild_policy`); without it, or when that
        checkpoint is unusable too, :class:`CorruptRunError` says what to do.
        """
        d = self._dir_of(spec_or_dir)
        if not d.is_dir():
            raise FileNotFoundError(f"no run directory {d}")
        if not (d / DONE_FILE).exists():
            raise FileNotFoundError(
                f"{d} holds no finished run (status {dir_status(d)!r}): no {POLICY_FILE} to load; "
                "finish it with `smfg train` (the same options) or `smfg sweep`"
            )
        policy, reason = read_policy(d / POLICY_FILE)
        if policy is not None:
            return policy
        if make_trainer is None:
            raise CorruptRunError(
                f"{d / POLICY_FILE} of a finished run is unusable ({reason}); `smfg train`, "
                "`evaluate` or `certify` of the run rebuild it from its last checkpoint"
            )
        return self.rebuild_policy(d, make_trainer)

    def rebuild_policy(
        self, spec_or_dir: Mapping[str, Any] | str | os.PathLike, make_trainer: Callable
    ) -> dict:
        """Rewrite a finished run's policy.pt from the checkpoint of its last epoch.

        The trainer built by ``make_trainer`` from the stored spec loads that checkpoint and
        saves its ``policy_state()``: the same bytes the run wrote when it finished. A policy
        that is there but does not load is moved to ``checkpoints/corrupt/`` first. Warns
        (RuntimeWarning); :class:`CorruptRunError` when no checkpoint of the last epoch loads.
        """
        d = self._dir_of(spec_or_dir)
        config, digest = self._stored_config(d)
        with locked(d):
            policy, reason = read_policy(d / POLICY_FILE)
            if policy is not None:  # rebuilt by another process meanwhile
                return policy
            epochs = done_epochs(d)
            found = dict(checkpoints(d))
            rows = max(len(read_lines(d / METRICS_FILE)) - 1, 0)
            if epochs is None or epochs not in found:
                why = (
                    f"{DONE_FILE} records no epoch count"
                    if epochs is None
                    else f"no checkpoint of its last epoch {epochs} in {d / CKPT_DIR}"
                )
                raise CorruptRunError(
                    f"{d / POLICY_FILE} of a finished run is unusable ({reason}) and cannot be "
                    f"rebuilt ({why}); `smfg train` with the run's options (in {CONFIG_FILE}) "
                    "resumes it from its newest usable checkpoint"
                )
            ckpt, bad = read_checkpoint(found[epochs], epochs, digest, rows)
            if ckpt is None:
                raise CorruptRunError(
                    f"{d / POLICY_FILE} of a finished run is unusable ({reason}) and so is "
                    f"{found[epochs]} ({bad}); `smfg train` with the run's options (in "
                    f"{CONFIG_FILE}) resumes it from its newest usable checkpoint"
                )
            trainer = make_trainer(config["spec"])
            trainer.load_state_dict(ckpt["trainer"])
            if trainer.epoch != epochs:
                raise RuntimeError(
                    f"after loading {found[epochs]} the trainer is at epoch {trainer.epoch}, "
                    f"not {epochs}: its state_dict must include `epoch`"
                )
            policy = trainer.policy_state()
            moved = ""
            if (d / POLICY_FILE).exists():
                moved = f"; moved it to {move_aside(d / POLICY_FILE, d / CKPT_DIR / CORRUPT_DIR)}"
            atomic_torch_save(d / POLICY_FILE, policy)
        warnings.warn(
            f"{d / POLICY_FILE} was unusable ({reason}){moved}; rebuilt it from "
            f"{found[epochs].name}",
            RuntimeWarning,
            stacklevel=3,
        )
        return policy

    def _stored_config(self, d: Path) -> tuple[dict, str]:
        """The run's config.json and its hash; ValueError when it is missing or broken."""
        path = d / CONFIG_FILE
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            return config, config["hash"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path} is not a valid run config ({e}); inspect it") from e

    # --- training

    def run(
        self,
        spec: Mapping[str, Any] | Any,
        make_trainer: Callable[[dict], Trainer],
        checkpoint_every: int = 1,
        keep: int = 2,
        progress: Callable[[int, dict], None] | None = None,
        stop_after: int | None = None,
    ) -> RunResult:
        """Train the run of ``spec`` to the end, resuming or loading what is on disk.

        ``make_trainer(spec)`` builds a fresh trainer (epoch 0) from the spec as given (a
        :class:`~smfg.runs.spec.RunSpec` as the full spec it resolves to).
        A checkpoint is written every ``checkpoint_every`` epochs, after the last epoch and
        when ``stop_after`` stops the run; the newest ``keep`` are kept. ``progress(epoch, row)``
        is called after each epoch's row (and checkpoint) is on disk. ``stop_after=k`` trains
        at most k more epochs and returns with ``done=False``.
        """
        _check_positive("checkpoint_every", checkpoint_every)
        _check_positive("keep", keep)
        if stop_after is not None and (
            isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 0
        ):
            raise ValueError(f"stop_after={stop_after!r} is not allowed; use None or an int >= 0")
        if isinstance(spec, ResolvesToSpec):
            spec = spec.spec()
        canon = canonical_spec(spec)
        run_dir = self.run_dir(canon)
        digest = config_hash(canon)
        self._check_config(run_dir, digest)
        if (run_dir / DONE_FILE).exists():
            with contextlib.suppress(CorruptRunError):  # then it resumes, below
                return self._load_done(run_dir, make_trainer)

        (run_dir / CKPT_DIR).mkdir(parents=True, exist_ok=True)
        reopened: list[str] = []
        with locked(run_dir):
            if (run_dir / DONE_FILE).exists():  # finished by another process meanwhile
                if read_policy(run_dir / POLICY_FILE)[0] is not None:
                    return self._load_done(run_dir)
                # a finished run whose policy cannot be rebuilt: unfinish it and resume
                aside = run_dir / CKPT_DIR / CORRUPT_DIR
                for name in (POLICY_FILE, DONE_FILE):
                    if (run_dir / name).exists():
                        move_aside(run_dir / name, aside)
                _warn(
                    reopened,
                    f"{run_dir / POLICY_FILE} could not be rebuilt from a checkpoint of the "
                    f"run's last epoch; moved it and {DONE_FILE} to {aside} and resuming the run",
                )
            if not (run_dir / CONFIG_FILE).exists():
                config = {"hash": digest, "code_version": CODE_VERSION, "spec": canon}
                atomic_write_text(run_dir / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
            result = self._train(
                run_dir, spec, digest, make_trainer, checkpoint_every, keep, progress, stop_after
            )
        result.warnings[:0] = reopened
        return result

    def _check_config(self, run_dir: Path, digest: str) -> None:
        path = run_dir / CONFIG_FILE
        if not path.exists():
            return
        try:
            stored = json.loads(path.read_text(encoding="utf-8")).get("hash")
        except (ValueError, AttributeError) as e:
            raise ValueError(f"{path} is not a valid run config ({e}); inspect or remove it") from e
        if stored != digest:
            raise ValueError(
                f"{path} records hash {stored!r} but the spec hashes to {digest!r} "
                f"(code version {CODE_VERSION}): the directory was edited or the hash collides"
            )

    def _load_done(self, run_dir: Path, make_trainer: Callable | None = None) -> RunResult:
        return RunResult(
            run_dir=run_dir,
            metrics=read_metrics(run_dir / METRICS_FILE),
            policy_state=self.load_policy(run_dir, make_trainer),
            resumed_from=None,
            computed=False,
        )

    def _train(
        self,
        run_dir: Path,
        spec: Mapping[str, Any] | Any,
        digest: str,
        make_trainer: Callable[[dict], Trainer],
        checkpoint_every: int,
        keep: int,
        progress: Callable[[int, dict], None] | None,
        stop_after: int | None,
    ) -> RunResult:
        ckpt_dir = run_dir / CKPT_DIR
        for d in (run_dir, ckpt_dir):  # temp files of a killed write are partial by definition
            for tmp in d.glob(TMP_PREFIX + "*"):
                tmp.unlink(missing_ok=True)
        log = MetricsLog(run_dir / METRICS_FILE)
        messages: list[str] = []
        trainer = make_trainer(spec)
        if trainer.epoch != 0:
            raise ValueError(f"make_trainer built a trainer at epoch {trainer.epoch}; expected 0")
        resumed_from = self._resume(run_dir, digest, trainer, log, messages)
        if resumed_from is None:
            log.truncate(0)
        if trainer.epoch > trainer.n_epochs:
            raise ValueError(
                f"checkpoint at epoch {trainer.epoch} is past the trainer's n_epochs="
                f"{trainer.n_epochs}"
            )

        last_saved = trainer.epoch
        trained = 0
        while trainer.epoch < trainer.n_epochs:
            if stop_after is not None and trained >= stop_after:
                break
            before = trainer.epoch
            t0 = time.perf_counter()
            metrics = trainer.train_epoch()
            wall = time.perf_counter() - t0
            if trainer.epoch != before + 1:
                raise RuntimeError(
                    f"train_epoch moved epoch from {before} to {trainer.epoch}; it must add one"
                )
            if "epoch" in metrics or "wall_time_s" in metrics:
                raise ValueError("trainer metrics must not use the names 'epoch', 'wall_time_s'")
            row = {"epoch": trainer.epoch, **metrics, "wall_time_s": wall}
            log.append(row)
            trained += 1
            if trainer.epoch % checkpoint_every == 0 or trainer.epoch == trainer.n_epochs:
                self._save_checkpoint(run_dir, digest, trainer, log, keep)
                last_saved = trainer.epoch
            if progress is not None:
                progress(trainer.epoch, row)

        done = trainer.epoch >= trainer.n_epochs
        if not done and last_saved != trainer.epoch:  # a pause loses no epochs
            self._save_checkpoint(run_dir, digest, trainer, log, keep)
        policy = trainer.policy_state()
        if done:
            atomic_torch_save(run_dir / POLICY_FILE, policy)
            marker = {
                "hash": digest,
                "epochs": trainer.epoch,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            atomic_write_text(run_dir / DONE_FILE, json.dumps(marker, indent=2) + "\n")
        return RunResult(
            run_dir=run_dir,
            metrics=read_metrics(run_dir / METRICS_FILE),
            policy_state=policy,
            resumed_from=resumed_from,
            computed=True,
            done=done,
            warnings=messages,
        )

    def _save_checkpoint(
        self, run_dir: Path, digest: str, trainer: Trainer, log: MetricsLog, keep: int
    ) -> None:
        ckpt = {
            "epoch": trainer.epoch,
            "trainer": trainer.state_dict(),
            "metrics_rows": log.rows,
            "hash": digest,
            "code_version": CODE_VERSION,
        }
        atomic_torch_save(run_dir / CKPT_DIR / ckpt_name(trainer.epoch), ckpt)
        for _, old in checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)

    def _resume(
        self,
        run_dir: Path,
        digest: str,
        trainer: Trainer,
        log: MetricsLog,
        messages: list[str],
    ) -> int | None:
        """Load the newest checkpoint that loads into ``trainer``; its epoch, or None."""
        candidates = checkpoints(run_dir)
        for epoch, path in reversed(candidates):
            ckpt, reason = read_checkpoint(path, epoch, digest, log.rows)
            if ckpt is None:
                moved = move_aside(path)
                _warn(
                    messages,
                    f"checkpoint {path} is unusable ({reason}); moved it to {moved} and falling "
                    "back to the previous checkpoint",
                )
                continue
            trainer.load_state_dict(ckpt["trainer"])
            if trainer.epoch != epoch:
                raise RuntimeError(
                    f"after loading {path} the trainer is at epoch {trainer.epoch}, not {epoch}: "
                    "its state_dict must include `epoch`"
                )
            log.truncate(ckpt["metrics_rows"])
            return epoch
        if candidates:
            _warn(
                messages,
                f"no usable checkpoint in {run_dir / CKPT_DIR}; starting {run_dir.name} "
                "from scratch",
            )
        return None


def _warn(messages: list[str], message: str) -> None:
    messages.append(message)
    warnings.warn(message, RuntimeWarning, stacklevel=5)
