"""Policy evaluation (book:certification): the value of a fixed policy of the household on the
grid, ``V = R + beta M V`` solved directly (sparse LU) or by value iteration, for a
``known``-timing solution (:func:`value_known`) or for saving and work shares chosen before
the ability draw (:func:`value_env`, with :func:`env_outcomes`, the cash, consumption and next
assets of each realised ability)."""

from __future__ import annotations

import numpy as np

from smfg.certify.primitives import Household, Solution, _labour_wage, cash_on_hand


def _evaluate(R_parts, lo, w, P_weights, beta, tol=1e-12, max_iter=100_000):
    """Solve ``V = R + beta M V`` for a fixed policy, for each reward array in ``R_parts``.

    The policy's transition goes from state (i, j) to asset node lo[i, j, k] (weight 1 - w)
    and lo + 1 (weight w), and ability state k with probability P_weights[i, j, k]. A sparse
    direct solve when scipy is installed (it is with the book and test extras), else value
    iteration stopped by McQueen-Porteus bounds. Returns one [na, ne] array per part.
    """
    na, ne = R_parts[0].shape
    lo = np.broadcast_to(lo, P_weights.shape)
    w = np.broadcast_to(w, P_weights.shape)
    try:
        from scipy.sparse import csr_matrix, identity
        from scipy.sparse.linalg import splu
    except ImportError:  # pragma: no cover - scipy is in the book and test extras
        splu = None
    if splu is not None:
        n = na * ne
        k = np.arange(ne)[None, None, :]
        rows = np.broadcast_to(np.arange(n).reshape(na, ne, 1), P_weights.shape)
        cols0 = lo * ne + k
        data = np.concatenate([(P_weights * (1.0 - w)).ravel(), (P_weights * w).ravel()])
        rows2 = np.concatenate([rows.ravel()] * 2)
        cols2 = np.concatenate([cols0.ravel(), (cols0 + ne).ravel()])
        M = csr_matrix((data, (rows2, cols2)), shape=(n, n))
        # the natural order (assets, then ability) keeps the fill-in small
        lu = splu((identity(n, format="csc") - beta * M).tocsc(), permc_spec="NATURAL")
        return [lu.solve(R.ravel()).reshape(na, ne) for R in R_parts]
    col = np.arange(ne)[None, None, :]
    w0, w1 = P_weights * (1.0 - w), P_weights * w
    out = []
    for R in R_parts:
        V = R / (1.0 - beta)
        for _ in range(max_iter):
            V_new = R + beta * (w0 * V[lo, col] + w1 * V[lo + 1, col]).sum(-1)
            d = V_new - V
            V = V_new
            # the fixed point lies within V_new + beta/(1-beta) [min d, max d]
            if beta / (1.0 - beta) * (d.max() - d.min()) <= tol * (1.0 + np.abs(V).max()):
                V = V + beta / (1.0 - beta) * 0.5 * (d.max() + d.min())
                break
        out.append(V)
    return out


def value_known(sol: Solution, tol: float = 1e-12):
    """Value of a ``known``-timing solution's policy: (V, consumption part, labour part)."""
    hh, ab = sol.household, sol.ability
    lo, w = sol.agrid.locate(sol.a_next)
    ne = ab.n
    lo3 = np.broadcast_to(lo[:, :, None], lo.shape + (ne,))
    w3 = np.broadcast_to(w[:, :, None], w.shape + (ne,))
    Pw = np.broadcast_to(ab.P[None, :, :], lo.shape + (ne,))
    Vc, Vh = _evaluate([hh.u(sol.c), -hh.v(sol.f)], lo3, w3, Pw, hh.beta, tol=tol)
    return Vc + Vh, Vc, Vh


def env_outcomes(hh, fiscal, prices, agrid, ability, s, f):
    """Cash, consumption and next assets per realised ability, [na, ne(observed), ne(drawn)],
    for shares ``s, f`` [na, ne] chosen at (assets, last period's ability)."""
    a = agrid.a[:, None, None]
    weh = _labour_wage(hh, prices, ability)[None, None, :]
    x = cash_on_hand(fiscal, prices, a, weh * f[:, :, None])
    c = (1.0 - s[:, :, None]) * x / (1.0 + fiscal.tau_c)
    return x, c, s[:, :, None] * x


def _env_shares(hh: Household, s, f):
    s = np.clip(s, hh.s_lo, hh.s_hi)
    f = np.clip(f, hh.f_lo, hh.f_hi) if hh.labour is None else np.full_like(s, hh.labour)
    return s, f


def value_env(hh, fiscal, prices, agrid, ability, s, f, tol: float = 1e-12):
    """Value of shares ``s, f`` [na, ne] in the ``env`` timing: (V, consumption part, labour
    part), each [na, ne], by policy evaluation on the grid (next assets interpolated
    linearly, and held at ``a_max`` above it)."""
    s, f = _env_shares(hh, s, f)
    x, c, a_next = env_outcomes(hh, fiscal, prices, agrid, ability, s, f)
    P3 = np.broadcast_to(ability.P[None, :, :], c.shape)
    Rc = (P3 * hh.u(c)).sum(-1)
    Rh = -hh.v(f)
    lo, w = agrid.locate(a_next)
    Vc, Vh = _evaluate([Rc, Rh], lo, w, P3, hh.beta, tol=tol)
    return Vc + Vh, Vc, Vh
