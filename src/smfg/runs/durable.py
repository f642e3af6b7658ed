"""Files that survive a crash: atomic whole-file writes (temporary file in the same
directory, flush, fsync, ``os.replace``) and the metrics CSV, appended row by row with flush
and fsync. Files are created with the user's umask (``0o666 & ~umask``, as ``open`` does), so
that the other workers of a cluster can read a shared store.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import torch

#: The prefix of a temporary file that an atomic write has not renamed yet.
TMP_PREFIX = ".tmp-"


def _fsync_dir(path: Path) -> None:
    # makes the rename itself durable; not possible on every platform
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    """The process's umask, read without changing it where /proc tells it (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (not atomic against other threads)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` all or nothing: ``write(f)`` fills a temp file that then replaces it.

    The file gets the mode ``open`` would give it (``0o666 & ~umask``), not mkstemp's 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with contextlib.suppress(OSError):  # e.g. a filesystem without POSIX modes
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    """torch.save ``obj`` to ``path`` atomically."""
    atomic_write(path, lambda f: torch.save(obj, f))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, torch.Tensor | np.ndarray | np.generic):
        v = v.item()
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def read_lines(path: Path) -> list[str]:
    """Complete lines (with their newline) of a text file; a torn last line is dropped."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return lines


class MetricsLog:
    """Appends one fsynced row per epoch; the header comes from the first epoch's keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lines = read_lines(path)
        self.columns: list[str] | None = next(csv.reader([lines[0]])) if lines else None
        self.rows = max(len(lines) - 1, 0)

    def truncate(self, rows: int) -> None:
        lines = read_lines(self.path)
        if rows == 0:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.columns, self.rows = None, 0
            return
        if len(lines) - 1 < rows:
            raise RuntimeError(f"{self.path} has {max(len(lines) - 1, 0)} rows, need {rows}")
        atomic_write_text(self.path, "".join(lines[: rows + 1]))
        self.rows = rows

    def append(self, row: dict[str, Any]) -> None:
        text = ""
        if self.columns is None:
            self.columns = list(row)
            text = _csv_line(self.columns)
        extra = [k for k in row if k not in self.columns]
        if extra:
            raise ValueError(
                f"epoch {row.get('epoch')} returned metrics {extra} that earlier epochs did not; "
                f"the first epoch fixes the columns {self.columns} (return nan until available)"
            )
        text += _csv_line([_cell(row.get(k)) for k in self.columns])
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        self.rows += 1


def read_metrics(path: Path) -> pd.DataFrame:
    lines = read_lines(path)
    if not lines:
        return pd.DataFrame({"epoch": pd.Series([], dtype="int64")})
    return pd.read_csv(io.StringIO("".join(lines)))
