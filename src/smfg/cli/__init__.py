"""The ``smfg`` command line: ``simulate``, ``train``, ``evaluate``, ``sweep``, ``certify`` and
``bench``.

Logic lives in the library; this package parses and checks arguments, reports progress on
long work to stderr (so that ``--json`` output stays clean) and prints results. Every failure
a user can cause ends in one line on stderr and exit status 2 (bad input) or 1 (a computation
that failed; 130 when interrupted); ``--debug`` shows the traceback instead. The library is
imported by the subcommand that needs it, so that ``smfg --help`` answers at once.

One module per job: :mod:`~smfg.cli.output` (one-line messages, progress, strict JSON),
:mod:`~smfg.cli.options` (the names --help lists, the argparse that errs in one line and
checks numbers), the commands in :mod:`~smfg.cli.evaluation` (simulate, evaluate, certify),
:mod:`~smfg.cli.training` (train, sweep) and :mod:`~smfg.cli.benchmark` (bench),
:mod:`~smfg.cli.parser` (the parser that binds them) and here :func:`main` (exit statuses).
"""

import sys
import warnings

from smfg.cli.options import (
    ALGORITHM_NAMES,
    DEFAULT_VARIANT,
    GOVERNMENT_POLICY_NAMES,
    HOUSEHOLD_POLICY_NAMES,
)
from smfg.cli.output import Interrupted, one_line
from smfg.cli.parser import build_parser

__all__ = [
    "main",
    "build_parser",
    "ALGORITHM_NAMES",
    "DEFAULT_VARIANT",
    "GOVERNMENT_POLICY_NAMES",
    "HOUSEHOLD_POLICY_NAMES",
]


def _exit_status(exc: BaseException) -> tuple[int, str]:
    """(exit status, message) of an error: 2 for bad input, 1 for a failed computation."""
    text = one_line(exc) or type(exc).__name__
    if isinstance(exc, Interrupted):
        return 130, text
    if isinstance(exc, ValueError | LookupError | ImportError | ConnectionError):
        return 2, text  # bad values, unknown names, a missing extra, an unreachable address
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        return 2, text
    if isinstance(exc, PermissionError):
        return 2, f"{text}; check the path and its permissions"
    if isinstance(exc, OSError):
        return 1, text
    if type(exc).__name__ in ("RunLockedError", "CorruptRunError"):  # smfg.runs.store
        return 1, text
    return 1, f"{type(exc).__name__}: {text} (rerun with --debug for the traceback)"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (also for --help and argument errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or an argument error (one line, status 2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    debug = getattr(args, "debug", False)
    who = f"smfg {args.command}"

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{who}: warning: {one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = show
        try:
            return args.func(args)
        except KeyboardInterrupt:
            if debug:
                raise
            print(f"{who}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if debug and not isinstance(exc, Interrupted):
                raise
            status, message = _exit_status(exc)
            print(f"{who}: {'' if status == 130 else 'error: '}{message}", file=sys.stderr)
            return status
