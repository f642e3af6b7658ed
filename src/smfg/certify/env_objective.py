"""The ``env``-timing objective (book:certification) at a set of household states, for the
policy iteration of :mod:`smfg.certify.envtiming`: cash on hand at given work shares, and the
objective ``Q(s, f) = E[u(c) + beta V(a')] - v(f)`` with its slopes in the saving share and
the work share, on preallocated buffers. Arrays are [ne(drawn), m] over this period's
realised ability and the states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smfg.certify.primitives import _C_FLOOR, _income_tax3, _labour_wage, _tax3

_MAGIC = 1.5 * 2.0**52  # t + _MAGIC rounds t to an integer, read from the low bits
_MAGIC_BITS = int(np.array(_MAGIC).view(np.int64))


@dataclass
class _EnvCash:
    """Cash on hand of a set of states at work shares ``f`` [m]: ``X`` [ne(drawn), m], the
    disutility of work ``vf`` [m], and whether every consumption share of it stays above the
    utility's floor (so the floor need not be applied)."""

    X: np.ndarray
    vf: np.ndarray
    floor_free: bool
    positive: bool
    """Whether all cash is positive (so are next assets)."""
    dX: np.ndarray | None = None
    """Cash's derivative in the work share, ``W e h_max (1 - Tax'(i))`` (if asked for)."""

    def subset(self, rel: np.ndarray) -> _EnvCash:
        dX = None if self.dX is None else self.dX[:, rel]
        return _EnvCash(self.X[:, rel], self.vf[rel], self.floor_free, self.positive, dX)


class _EnvStates:
    """The env-timing objective ``Q(s, f) = E[u(c) + beta V(a')] - v(f)`` at a set of states
    (all ``na ne`` of them, flattened as ``s.ravel()``, or a subset), for the next-period
    value V of :meth:`set_value`; arrays are [ne(drawn), m] over the drawn ability and the
    states, so that the expectation is a sum over the first axis.

    ``V(a')`` is linear between the asset grid's points and held at ``a_max`` above it, as
    :meth:`AssetGrid.locate` and :func:`_lerp` make it: here each segment is stored as its
    line (intercept and slope, times beta) and the segment found from the grid's analytic
    inverse by rounding, so one evaluation costs two gathers; with preallocated buffers
    (fresh arrays of this size cost page faults). Equal to the per-point definition up to
    rounding.
    """

    def __init__(self, hh, fiscal, prices, agrid, ability, parent=None, rel=None):
        self.hh, self.fiscal, self.prices, self.agrid = hh, fiscal, prices, agrid
        self.ability = ability
        if parent is None:
            na, ne = agrid.n, ability.n
            a = np.repeat(agrid.a, ne)  # assets of each state [na ne]
            j = np.tile(np.arange(ne), na)  # its (observed) ability state
            self.weh = _labour_wage(hh, prices, ability)[:, None]  # [ne, 1]
            self.Pk = np.ascontiguousarray(ability.P[j].T)  # [ne, m]: P[j(state), k]
            self.ra, self.a1r = prices.r * a, (1.0 + prices.r) * a
            self.Ta = _tax3(a, fiscal.tau_a, fiscal.xi_a, 0)[0]
            self.koff = (np.arange(ne) * na - _MAGIC_BITS)[:, None]  # k na, less the magic
            self.tab_B = self.tab_S = None
        else:
            self.weh, self.koff = parent.weh, parent.koff
            self.Pk = np.ascontiguousarray(parent.Pk[:, rel])
            self.ra, self.a1r, self.Ta = parent.ra[rel], parent.a1r[rel], parent.Ta[rel]
            self.tab_B, self.tab_S = parent.tab_B, parent.tab_S
        self.m = self.Pk.shape[1]
        self.ne = self.Pk.shape[0]
        self.tc = 1.0 + fiscal.tau_c
        self.shift, self.a_max = agrid.shift, float(agrid.a[-1])
        self.inv_du = 1.0 / agrid.du
        self.c0 = math.log(agrid.shift) * self.inv_du + 0.5
        self._buf = None

    def subset(self, rel: np.ndarray) -> _EnvStates:
        """The states ``rel`` (indices into this set's states)."""
        return _EnvStates(
            self.hh, self.fiscal, self.prices, self.agrid, self.ability, parent=self, rel=rel
        )

    def set_value(self, V: np.ndarray) -> None:
        """Next period's value V [na, ne]: the lines of its segments, times beta, as tables
        indexed by ``k na + lo`` (the segment above ``a_max`` held at ``V(a_max)``)."""
        a = self.agrid.a
        with np.errstate(divide="ignore", invalid="ignore"):
            S = (V[1:] - V[:-1]) / (a[1:] - a[:-1])[:, None]
        B = V[:-1] - a[:-1, None] * S
        beta = self.hh.beta
        self.tab_B = (beta * np.concatenate([B, V[-1:]])).T.ravel()
        self.tab_S = (beta * np.concatenate([S, np.zeros((1, V.shape[1]))])).T.ravel()

    def cash(self, f: np.ndarray, slope: bool = False) -> _EnvCash:
        """Cash on hand at work shares ``f`` [m] (E20, as :func:`cash_on_hand`); ``slope``:
        with its derivative in f."""
        y = self.weh * f
        T, T1, _ = _income_tax3(self.fiscal, y + self.ra, 1 if slope else 0)
        dX = self.weh * (1.0 - T1) if slope else None
        X = y + self.a1r - T - self.Ta
        if self.prices.tr != 0.0:
            X = X + self.prices.tr
        low = float(X.min())
        floor_free = (1.0 - self.hh.s_hi) * low / self.tc > _C_FLOOR
        return _EnvCash(X, self.hh.v(f), bool(floor_free), bool(low > 0.0), dX)

    def _segments(self, s: np.ndarray, cash: _EnvCash):
        """Next assets ``s x`` [ne, m] at saving shares ``s`` [m] (held in [0, a_max]) and the
        table index of each one's segment, in the scratch buffers: (buffers, a')."""
        if self._buf is None:
            shape = (self.ne, self.m)
            self._buf = (
                np.empty(shape),
                np.empty(shape),
                np.empty(shape),
                np.empty(shape, dtype=np.int64),
            )
        b1, b2, b3, ib = self._buf
        np.multiply(cash.X, s, out=b1)  # next assets, held in [0, a_max]
        np.minimum(b1, self.a_max, out=b1)
        if not cash.positive:
            np.maximum(b1, 0.0, out=b1)
        np.add(b1, self.shift, out=b2)  # the segment: floor of log1p(a'/shift)/du
        np.log(b2, out=b2)
        np.multiply(b2, self.inv_du, out=b2)
        np.subtract(b2, self.c0, out=b2)
        np.add(b2, _MAGIC, out=b2)
        np.add(b2.view(np.int64), self.koff, out=ib)  # k na + lo
        return self._buf

    def q(self, s: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective at saving shares ``s`` [m] and the work shares of ``cash``."""
        b1, b2, b3, ib = self._segments(s, cash)
        X = cash.X
        self.tab_B.take(ib, out=b2, mode="clip")
        self.tab_S.take(ib, out=b3, mode="clip")
        np.multiply(b3, b1, out=b3)
        np.add(b2, b3, out=b2)  # beta V(a')
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u(c) = -1/c, c = (1 - s) x / (1 + tau_c)
            np.divide(-self.tc / (1.0 - s), X, out=b1)
        else:
            np.multiply(X, (1.0 - s) * (1.0 / self.tc), out=b1)
            b1 = hh.u(b1)
        np.add(b1, b2, out=b1)
        np.multiply(b1, self.Pk, out=b1)
        return b1.sum(0) - cash.vf

    def slope(self, s: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective's derivative in s at saving shares ``s`` [m], from the right (V's
        slope is its segment's, above a_max 0): ``E[x (beta V'(a') - u'(c)/(1+tau_c))]``."""
        b1, b2, b3, ib = self._segments(s, cash)
        X = cash.X
        self.tab_S.take(ib, out=b3, mode="clip")  # beta V'(a')
        held = b1 >= self.a_max  # V is flat above a_max (and below 0), whatever the segment
        if not cash.positive:
            held |= b1 <= 0.0
        if held.any():
            b3[held] = 0.0
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u'(c)/(1+tau_c) = (1+tau_c)/((1-s) x)^2
            np.multiply(X, 1.0 - s, out=b2)
            np.multiply(b2, b2, out=b2)
            np.divide(self.tc, b2, out=b2)
        else:
            c = X * ((1.0 - s) * (1.0 / self.tc))
            b2 = hh.u_c(c) / self.tc
            b2[c <= _C_FLOOR] = 0.0  # u is held at the floor
        np.subtract(b3, b2, out=b3)
        np.multiply(b3, X, out=b3)
        np.multiply(b3, self.Pk, out=b3)
        return b3.sum(0)

    def slope_f(self, s: np.ndarray, f: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective's derivative in f at saving shares ``s`` and work shares ``f`` [m]
        (their cash ``cash``, made with its slope), from the right as :meth:`slope`:
        ``E[x_f (u'(c) (1-s)/(1+tau_c) + beta V'(a') s)] - v'(f)``."""
        b1, b2, b3, ib = self._segments(s, cash)
        X = cash.X
        self.tab_S.take(ib, out=b3, mode="clip")  # beta V'(a')
        held = b1 >= self.a_max
        if not cash.positive:
            held |= b1 <= 0.0
        if held.any():
            b3[held] = 0.0
        np.multiply(b3, s, out=b3)
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u'(c) (1-s)/(1+tau_c) = (1+tau_c)/((1-s) x^2)
            np.multiply(X, X, out=b2)
            np.divide(self.tc / (1.0 - s), b2, out=b2)
        else:
            c = X * ((1.0 - s) * (1.0 / self.tc))
            b2 = hh.u_c(c) * ((1.0 - s) / self.tc)
            b2[c <= _C_FLOOR] = 0.0
        np.add(b3, b2, out=b3)
        np.multiply(b3, cash.dX, out=b3)
        np.multiply(b3, self.Pk, out=b3)
        return b3.sum(0) - hh.v_f(f)
