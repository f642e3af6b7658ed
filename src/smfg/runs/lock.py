"""Who computes a run: an advisory lock on the run directory's ``.lock`` (POSIX ``flock``),
held while a process computes or repairs the run and released when that process dies. The
lock file records its pid and host; another process is told who holds it
(:class:`RunLockedError`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from smfg.runs.rundir import LOCK_FILE

try:  # advisory lock against two processes computing the same run (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunLockedError(RuntimeError):
    """Another process holds the run's lock (it is computing or repairing the run)."""

    def __init__(self, run_dir: Path, holder: str):
        self.run_dir, self.holder = run_dir, holder
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"{run_dir} is being computed by another process{who}; wait for it to finish "
            "(or stop it), then run the same command again"
        )


def lock_holder() -> str:
    return (
        f"pid {os.getpid()} on host {socket.gethostname()} since "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}"
    )


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Holds an exclusive advisory lock on the run; released when the process dies.

    The lock file records who holds it (pid, host, since when), for the message of a
    process that finds it held.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(run_dir / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise RunLockedError(run_dir, f.read(200).strip()) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(lock_holder() + "\n")
            f.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                f.seek(0)
                f.truncate()
                f.flush()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
