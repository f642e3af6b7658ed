"""Linear interpolation of the columns of an array at once, on nodes that move little from
one call to the next: what the endogenous grid method (:mod:`smfg.certify.egm`) uses to read
the saving rule off the endogenous points, every column (ability state) with its own nodes.
"""

from __future__ import annotations

import numpy as np


class _ColumnInterp:
    """Where each increasing point ``x_new[i]`` [m] falls among the nodes of each column of
    increasing ``xp[:, j]`` [n, ne], for :func:`_interp_cols`: the count ``j`` of nodes at or
    below it, the segment whose slope it takes and the node it is measured from. Between the
    steps of a stationary solve the nodes move little: :meth:`of` moves last step's counts
    to the nodes' new places instead of counting anew."""

    def __init__(self, x_new: np.ndarray, xp: np.ndarray, j: np.ndarray | None = None):
        n, ne = xp.shape
        m = len(x_new)
        cols = np.arange(ne)
        self.shape, self.n = (m, ne), n
        self.x = np.repeat(np.asarray(x_new, dtype=np.float64), ne)  # [m ne], flat
        self._flat = np.empty(n * ne + 2)  # for :meth:`of`
        self._flat[-2:] = (-np.inf, np.inf)
        if j is None:  # counted from the first point at or above each node
            first = np.searchsorted(x_new, xp.ravel(), side="left") * ne + np.tile(cols, n)
            j = np.bincount(first, minlength=(m + 1) * ne)[: m * ne].reshape(m, ne).cumsum(0)
            j = j.ravel()
        self._set(j)

    def _set(self, j: np.ndarray) -> None:
        n, ne = self.n, self.shape[1]
        cols = np.tile(np.arange(ne), self.shape[0])
        self.j = j
        left = np.maximum(j - 1, 0)
        # the segment's slope (the last one above the last node) and its anchor node: the
        # left end inside, the last node at or above it, the first node (slope 0, kept after
        # the last segment's) below it
        self.seg = np.where(j == 0, (n - 1) * ne, np.minimum(left, n - 2) * ne + cols)
        self.anchor = np.where(j == n, n - 1, left) * ne + cols
        # the nodes either side of each point (-inf and +inf beyond the ends), to check it
        self.lo = np.where(j == 0, n * ne, (j - 1) * ne + cols)
        self.hi = np.where(j == n, n * ne + 1, j * ne + cols)

    @classmethod
    def of(cls, x_new: np.ndarray, xp: np.ndarray, prev: _ColumnInterp | None = None):
        """``prev`` (last step's, say) if every point still lies between the same nodes,
        else its counts moved by one node at a time where they no longer do (a few moves at
        most, else counted anew)."""
        if prev is None or prev.shape != (len(x_new), xp.shape[1]) or prev.n != xp.shape[0]:
            return cls(x_new, xp)
        flat = getattr(prev, "_flat", None)  # the nodes, then -inf and +inf
        if flat is None or flat.size != xp.size + 2:
            flat = prev._flat = np.array([*xp.ravel(), -np.inf, np.inf])
        flat[:-2] = xp.ravel()
        cur = prev
        for _ in range(4):
            up = flat.take(cur.hi) <= cur.x  # the node above is no longer above
            down = flat.take(cur.lo) > cur.x  # the node below is no longer below
            if not (up.any() or down.any()):
                return cur
            j = cur.j + up - down
            if cur is prev:  # a new object: prev may be another solution's
                cur = object.__new__(cls)
                cur.shape, cur.n, cur.x, cur._flat = prev.shape, prev.n, prev.x, flat
            cur._set(j)
        return cls(x_new, xp)


def _interp_cols(
    x_new: np.ndarray, xp: np.ndarray, fps: list[np.ndarray], where: _ColumnInterp | None = None
) -> list[np.ndarray]:
    """Linear interpolation per column j of increasing ``xp[:, j]`` (extrapolating linearly
    above the last point, constant below the first) of each array in ``fps`` (broadcast to
    ``xp``'s shape) at the increasing points ``x_new`` [m]: [m, ne].

    All columns at once, with the arithmetic of ``np.interp`` (``slope (x - xp[i]) + fp[i]``
    on the segment ``xp[i] <= x < xp[i+1]``, the slope ``(fp[i+1] - fp[i]) / (xp[i+1] -
    xp[i])``): the same to the bit as ``np.interp`` column by column. ``where``: the points'
    segments, :class:`_ColumnInterp` (made if not given).
    """
    w = _ColumnInterp(x_new, xp) if where is None else where
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = xp[1:] - xp[:-1]
        xa = w.x - xp.ravel().take(w.anchor)
        out = []
        for fp in fps:
            if fp.shape != xp.shape:
                fp = np.broadcast_to(fp, xp.shape)
            fp = np.ascontiguousarray(fp)
            slopes = np.empty(dx.size + 1)  # and a last one of 0, the points' below the first
            slopes[-1] = 0.0
            np.divide(fp[1:] - fp[:-1], dx, out=slopes[:-1].reshape(dx.shape))
            slope = slopes.take(w.seg)
            out.append((slope * xa + fp.ravel().take(w.anchor)).reshape(w.shape))
    return out
