"""The command line's vocabulary: the names --help lists, and an argparse that errs in one
line, remembers which options were given and checks numbers as it parses them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable

from smfg.cli.output import one_line

#: The economy of every subcommand unless told otherwise (the default for new studies).
DEFAULT_VARIANT = "clearing"
#: The names --help lists, without importing the library (tests check they are the library's).
ALGORITHM_NAMES = ("smfrl", "rule_based", "ddpg", "iddpg", "maddpg", "mfmarl", "ppo")
GOVERNMENT_POLICY_NAMES = ("free-market", "us-federal-2022", "saez", "saez-paper")
HOUSEHOLD_POLICY_NAMES = ("fixed", "random", "survey")
SAEZ_POLICIES = ("saez", "saez-paper")
#: Each economy's own fixed household rule, as the help says it (smfg.paper.fixed_policies)
SAVING_HELP = "the economy's own rule: 0.8 in clearing, 0.99 in taxai"
WORK_HELP = "the economy's own rule: 1/3 in clearing, 0.9 in taxai"


def _mark(namespace: argparse.Namespace, dest: str) -> None:
    given = getattr(namespace, "_given", None)
    if given is None:
        given = set()
        namespace._given = given
    given.add(dest)


class _Store(argparse.Action):
    """argparse's store, remembering that the option was given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark(namespace, self.dest)


class _Flag(argparse.Action):
    """argparse's store_true, remembering that the option was given."""

    def __init__(self, option_strings, dest, default=False, required=False, help=None):
        super().__init__(
            option_strings, dest, nargs=0, default=default, required=required, help=help
        )

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        _mark(namespace, self.dest)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it is None or False or the help says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, and that remembers the options given."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        for name in (None, "store"):
            self.register("action", name, _Store)
        self.register("action", "store_true", _Flag)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)}; see {self.prog} --help\n")


def _given(args: argparse.Namespace) -> set[str]:
    return getattr(args, "_given", set())


def integer(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not allowed: an integer >= {low}")
        return value

    return parse


def real(low: float | None = None, high: float | None = None, open_low: bool = False):
    """A finite float in [low, high] (``open_low``: above low)."""
    if low is not None and high is not None:
        allowed = f"{'(' if open_low else '['}{low:g}, {high:g}]"
    elif low is not None:
        allowed = f"a number {'>' if open_low else '>='} {low:g}"
    else:
        allowed = "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = math.isfinite(value)
        ok = ok and (low is None or (value > low if open_low else value >= low))
        ok = ok and (high is None or value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"{text} is out of range: allowed {allowed}")
        return value

    return parse


POSITIVE, NON_NEGATIVE, SHARE = integer(1), integer(0), real(0.0, 1.0)


def refuse(args: argparse.Namespace, options: Iterable[str], why: str) -> None:
    """ValueError when any of ``options`` (dests) was given: they would be ignored."""
    given = sorted(_given(args) & set(options))
    if given:
        names = ", ".join("--" + g.replace("_", "-") for g in given)
        raise ValueError(f"{names} {'does' if len(given) == 1 else 'do'} not apply {why}")
