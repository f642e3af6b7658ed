"""What the command line says: one-line messages, progress on stderr and strict JSON."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable


class Interrupted(Exception):
    """Ctrl-C, with what the command had done and how to go on."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of long work on stderr: the count of ``total`` (if known), the elapsed time and
    an ETA, at most every ``every_s`` seconds (on a terminal one line rewritten in place,
    elsewhere a line at a time, the first one at once)."""

    def __init__(self, label: str, total: int | None = None, unit: str = "", start: int = 0):
        self.label, self.total, self.unit, self.start = label, total, unit, start
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.every_s = 0.2 if self.tty else 5.0
        self.last = -math.inf
        self.pending = False  # a terminal line waits for its newline
        self.share0: float | None = None  # the first share of the work reported, and when
        self.t_share0 = self.t0

    def update(
        self,
        done: int | None = None,
        note: str = "",
        force: bool = False,
        share: float | None = None,
    ) -> None:
        """Show ``done`` of the total. ``share``: the fraction of the work done where the
        units are not equally long (a sweep's epochs: see ``smfg.runs.sweep``); the ETA is
        then the time per share so far times the share left, counted from the first share
        reported (which a resumed sweep starts above zero)."""
        now = time.monotonic()
        if share is not None and self.share0 is None:
            self.share0, self.t_share0 = share, now
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.t0
        parts = [self.label + ":"]
        if done is not None and self.total:
            parts.append(f"{done}/{self.total} {self.unit} ({100 * done / self.total:.0f}%),")
        parts.append(f"{_duration(elapsed)} elapsed")
        if share is not None and self.share0 is not None:
            if self.share0 < share < 1.0:
                left = (now - self.t_share0) / (share - self.share0) * (1.0 - share)
                parts[-1] += f", ETA {_duration(left)} (by the estimate's seconds)"
        elif done is not None and self.total and done > self.start and done < self.total:
            left = elapsed / (done - self.start) * (self.total - done)
            parts[-1] += f", ETA {_duration(left)}"
        line = " ".join(parts) + (f"; {note}" if note else "")
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line)
            self.pending = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def say(self, line: str) -> None:
        """A line that stays (a stage done, a result on the way)."""
        self.close()
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.pending:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.pending = False


def strict_json(obj: dict, why: Callable[[str, float], str | None] | None = None) -> str:
    """``obj`` as strict JSON: every non-finite number becomes null and is listed under
    ``null_values`` (its path, what it was and why, from ``why(path, value)``)."""
    nulls: dict[str, dict] = {}

    def walk(x, path: str):
        if isinstance(x, float) and not math.isfinite(x):
            reason = (why(path, x) if why else None) or "not a finite number"
            nulls[path] = {"was": repr(float(x)), "why": reason}
            return None
        if isinstance(x, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if hasattr(x, "item") and not isinstance(x, str | bytes):  # numpy scalars
            return walk(x.item(), path)
        return x

    out = walk(obj, "")
    if nulls:
        out["null_values"] = nulls
    return json.dumps(out, allow_nan=False)
