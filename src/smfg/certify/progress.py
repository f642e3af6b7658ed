"""Progress of the stationary solvers: a side channel that changes no result."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

#: Who hears of each solver step (see :func:`solver_progress`); a side channel for progress
#: only, so that cached solvers (``functools.lru_cache``) need no callable argument.
_SOLVER_PROGRESS: contextvars.ContextVar[Callable[[str, int, str], None] | None] = (
    contextvars.ContextVar("smfg_solver_progress", default=None)
)


@contextlib.contextmanager
def solver_progress(report: Callable[[str, int, str], None] | None) -> Iterator[None]:
    """Within the block, ``report(solver, step, detail)`` hears of every step of the
    stationary solvers (the env-timing best response, the equilibrium's evaluations of the
    capital market): for progress on long certifications; it changes no result."""
    token = _SOLVER_PROGRESS.set(report)
    try:
        yield
    finally:
        _SOLVER_PROGRESS.reset(token)


def report_step(solver: str, step: int, detail: str) -> None:
    """Tell the reporter of :func:`solver_progress`, if any, of one solver step."""
    report = _SOLVER_PROGRESS.get()
    if report is not None:
        report(solver, step, detail)
