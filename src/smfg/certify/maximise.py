"""Vectorised one-dimensional maximisation, one problem per state (book:certification): by
bisection on the slope where the objective has one, else by golden section, in a bracket
around a starting point that is searched again on the full range where the maximum lands on
its edge. What the policy iteration of :mod:`smfg.certify.envtiming` improves a policy with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class _Objective:
    """An objective of each state, callable, with its slope (from the right): searched by
    bisection on the slope (:func:`_bisect_max`)."""

    value: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray], np.ndarray]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.value(x)


def _search(factory, old, lo_bound, hi_bound, half_width, tol):
    """Golden section in [old - half_width, old + half_width] within the bounds; points whose
    maximum lands on an inner edge of that bracket are searched again on the full range,
    alone. ``factory(rel)``: the objective at the states ``rel`` (indices into ``old``; None:
    all of them). ``half_width``: a number, or one per state (then :func:`_search_groups`
    searches the states of much narrower brackets apart)."""
    lo = np.maximum(old - half_width, lo_bound)
    hi = np.minimum(old + half_width, hi_bound)
    if np.ndim(half_width):
        x, fx = _search_groups(factory, lo, hi, tol)
    else:
        x, fx = _maximise(factory(None), lo, hi, tol)
    edge = ((x <= lo + 2 * tol) & (lo > lo_bound)) | ((x >= hi - 2 * tol) & (hi < hi_bound))
    if edge.any():  # (a bracket of the full range has no inner edge)
        rel = np.flatnonzero(edge)
        full = np.ones(len(rel))
        x2, fx2 = _maximise(factory(rel), full * lo_bound, full * hi_bound, tol)
        x, fx = x.copy(), fx.copy()
        x[rel], fx[rel] = x2, fx2
    return x, fx


_CALL_STATES = 400.0
"""What one evaluation of the objective costs beyond its states, in states (its fixed cost,
about 25 us, over the cost of one more state of seven draws, about 0.06 us)."""


def _search_groups(factory, lo, hi, tol):
    """:func:`_maximise` ``factory``'s objective on the brackets [lo, hi] of each state, in
    two groups where that costs less: a search takes as many steps for every state as the
    widest bracket needs, so the states of much narrower brackets (most of them, once
    a policy has settled) are searched apart, in fewer steps. The split minimises the
    evaluations' cost, each :data:`_CALL_STATES` plus its states."""
    width = hi - lo
    m = len(width)
    order = np.argsort(width, kind="stable")
    steps = np.log(np.maximum(width[order], tol) / tol) / -math.log(_GOLDEN) + 4.0  # (golden)
    i = np.arange(1, m)  # the i narrowest apart
    cost = steps[i - 1] * (_CALL_STATES + i) + steps[-1] * (_CALL_STATES + m - i)
    k = int(np.argmin(cost)) if m > 1 else 0
    if m < 2 or cost[k] >= 0.9 * steps[-1] * (_CALL_STATES + m):
        return _maximise(factory(None), lo, hi, tol)
    x, fx = np.empty(m), np.empty(m)
    for rel in (np.sort(order[: k + 1]), np.sort(order[k + 1 :])):
        x[rel], fx[rel] = _maximise(factory(rel), lo[rel], hi[rel], tol)
    return x, fx


def _maximise(fun, lo, hi, tol):
    """The maximum of ``fun`` on [lo, hi] per state: by bisection on its slope where it has
    one (``fun.slope``), else by golden section. Returns (argmax, max)."""
    if hasattr(fun, "slope"):
        return _bisect_max(fun, lo, hi, tol)
    return _golden_max(fun, lo, hi, tol)


def _bisect_max(fun, lo, hi, tol):
    """Vectorised bisection on the slope (from the right) of a concave ``fun`` on [lo, hi]:
    the bracket halves at each evaluation where golden section keeps 0.618 of it; then the
    better of its middle and the two ends. Returns (argmax, max). Where ``fun`` is not
    concave, a local maximum (the bracket always has a rising left end and a falling right
    end)."""
    a, b = lo.copy(), hi.copy()
    width = max(float(np.max(hi - lo)), tol)
    for _ in range(max(int(math.ceil(math.log2(width / tol))), 1)):
        mid = 0.5 * (a + b)
        up = fun.slope(mid) > 0.0  # rising: the maximum is above mid
        a = np.where(up, mid, a)
        b = np.where(up, b, mid)
    x = 0.5 * (a + b)
    fx = fun(x)
    for end in (lo, hi):
        fe = fun(end)
        better = fe > fx
        x, fx = np.where(better, end, x), np.where(better, fe, fx)
    return x, fx


def _golden_max(fun, lo, hi, tol):
    """Vectorised golden-section search for the maximum of a concave ``fun`` on [lo, hi],
    then the better of that and the two ends. Returns (argmax, max)."""
    a, b = lo.copy(), hi.copy()
    x1 = b - _GOLDEN * (b - a)
    x2 = a + _GOLDEN * (b - a)
    f1, f2 = fun(x1), fun(x2)
    width = max(float(np.max(hi - lo)), tol)
    n = int(math.ceil(math.log(tol / width) / math.log(_GOLDEN)))
    for _ in range(max(n, 1)):
        left = f1 >= f2  # the maximum is in [a, x2]
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x_new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_new = fun(x_new)
        x2, f2, x1, f1 = (
            np.where(left, x1, x_new),
            np.where(left, f1, f_new),
            np.where(left, x_new, x2),
            np.where(left, f_new, f2),
        )
    x = np.where(f1 >= f2, x1, x2)
    fx = np.maximum(f1, f2)
    for end in (lo, hi):
        fe = fun(end)
        better = fe > fx
        x, fx = np.where(better, end, x), np.where(better, fe, fx)
    return x, fx
