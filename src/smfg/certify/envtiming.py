"""The ``env`` timing (the environment's, book:model-taxai and book:model-clearing) by policy
iteration.

The household observes last period's ability and its assets, chooses a saving share ``s`` of
cash on hand and a work share ``f``, both in the action box ``[0.001, 0.99]``, and only then
is this period's ability drawn. This is the problem the environment's followers face, so its
solution is the best response that exploitability compares a learned policy with. The
endogenous grid method does not apply (both choices precede the shock, and the share applies
to realised cash), so it is solved by policy iteration: improvement by bisection on the
slope in ``s`` and golden-section search in ``f``, alternating between them (the objective is
concave in each), then jointly; evaluation of the policy on the grid
(:mod:`smfg.certify.evaluation`) to convergence; started from the ``known`` solution
(:mod:`smfg.certify.egm`). The objective at a set of states is
:mod:`smfg.certify.env_objective`'s, the searches :mod:`smfg.certify.maximise`'s.

Arrays are [na, ne] over (assets, last period's ability state), or flattened to [na ne]; a
leading axis [ne] runs over this period's realised state.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from smfg.certify.egm import solve_known
from smfg.certify.env_objective import _EnvCash, _EnvStates
from smfg.certify.evaluation import _env_shares, value_env
from smfg.certify.grids import AbilityGrid, AssetGrid
from smfg.certify.maximise import _Objective, _search
from smfg.certify.primitives import (
    Fiscal,
    Household,
    Prices,
    Solution,
    _check_inputs,
)
from smfg.certify.progress import report_step


def _q_at_s(st: _EnvStates, cash: _EnvCash):
    """The objective in s at fixed work shares (their cash ``cash``), for :func:`_search`."""

    def factory(rel):
        sub, c = (st, cash) if rel is None else (st.subset(rel), cash.subset(rel))
        return _Objective(partial(sub.q, cash=c), partial(sub.slope, cash=c))

    return factory


def _q_at_f(st: _EnvStates, s: np.ndarray):
    """The objective in f at fixed saving shares ``s`` [m], for :func:`_search`."""

    def factory(rel):
        sub, s_sub = (st, s) if rel is None else (st.subset(rel), s[rel])
        return _Objective(
            lambda f: sub.q(s_sub, sub.cash(f)),
            lambda f: sub.slope_f(s_sub, f, sub.cash(f, slope=True)),
        )

    return factory


def _q_best_s(st: _EnvStates, s0: np.ndarray, width: float, tol: float):
    """The objective in f of the best s at each f (searched in s), for :func:`_search`.

    The first searches in s span ``s0`` +- ``width``. Later ones, while the search in f
    closes in, span the line through the last two maxima, widened by twice their distance
    and more the farther f lies beyond them (the best s moves little with f, and a kink of
    the interpolated value can at most turn its slope round), at most ``width``: the search
    then takes fewer steps, and a maximum on the edge of that span is searched
    again on the full range by :func:`_search`.
    """
    hh = st.hh

    def factory(rel):
        sub, s_sub = (st, s0) if rel is None else (st.subset(rel), s0[rel])
        w = width if rel is None or not np.ndim(width) else width[rel]
        seen = []  # the last two (f, its best s)

        def best(f):
            centre, half = s_sub, w
            if len(seen) == 2:
                (f1, s1), (f2, s2) = seen
                step = f2 - f1
                with np.errstate(divide="ignore", invalid="ignore"):
                    reach = np.abs(f - f2) / np.abs(step)
                    slope = (s2 - s1) / step
                if bool((reach <= 3.0).all()):  # near the last two (else, as the first)
                    centre = s2 + slope * (f - f2)
                    half = np.minimum(2.0 * np.abs(s2 - s1) * (1.0 + reach) + 1e-6, w)
            s, q = _search(_q_at_s(sub, sub.cash(f)), centre, hh.s_lo, hh.s_hi, half, tol)
            seen[:] = [*seen[-1:], (f, s)]
            return q

        return best

    return factory


def solve_env(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    tol: float = 1e-8,
    max_iter: int = 300,
    init: Solution | None = None,
    share_tol: float = 1e-8,
    sweeps: int = 40,
) -> Solution:
    """The stationary problem in the ``env`` timing (the environment's), by modified policy
    iteration.

    Each improvement maximises the objective over the saving share (bisection on its slope, f
    held), then over the work share (golden section, s held), in a bracket around the current
    policy that widens where the maximum reaches its edge; ``sweeps`` applications of the new
    policy's Bellman operator then evaluate it approximately. Once that converges, improvements
    search both shares jointly (golden section over f of the maximum over s) until it converges
    again: alternating searches can stall at a kink of the interpolated value. The first joint
    search looks within 0.02 of the policy, later ones within ten times each state's last move
    (at least 1e-4); a maximum on the edge of a bracket is searched again on the full range.
    Convergence: the Bellman residual ``TV - V`` bounds the distance to the fixed point
    (McQueen-Porteus: within beta/(1-beta) times its span) by ``tol`` relative to the value's
    scale. The final policy is then evaluated exactly. Shares are not required to settle: where
    the objective is flat (the work share of the very rich) they wander within the search
    tolerance at no cost. ``init``: a solution whose shares start the iteration (default: the
    ``known`` timing's at the same prices, read as shares). Under an income-tax schedule whose
    rate falls somewhere the objective in the work share need not be unimodal: golden section
    then finds a maximum near the starting (``known``-timing) policy, not necessarily the global
    one.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is None:
        init = solve_known(hh, fiscal, prices, agrid, ability, tol=1e-8, value=False)
    s, f = _env_shares(hh, init.s, init.f)
    V, _, _ = value_env(hh, fiscal, prices, agrid, ability, s, f)
    na, ne = agrid.n, ability.n
    s, f, V = s.ravel(), f.ravel(), V.ravel()  # the states flattened: [na ne]
    st = _EnvStates(hh, fiscal, prices, agrid, ability)
    k = np.arange(ne)[:, None]
    sweep0, sweep1 = np.empty((ne, na * ne)), np.empty((ne, na * ne))
    width_s = width_f = 1.0
    step_s = step_f = 1.0  # the joint searches' widths per state (after the first)
    converged = joint = False
    joint_iterations = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        st.set_value(V.reshape(na, ne))
        if hh.labour is not None:
            s_new, TV = _search(_q_at_s(st, st.cash(f)), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new = f
        elif not joint:  # alternate: s given f, then f given s
            s_new, _ = _search(_q_at_s(st, st.cash(f)), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new, TV = _search(_q_at_f(st, s_new), f, hh.f_lo, hh.f_hi, width_f, share_tol)
        else:  # jointly: f by golden section on the best s for each f
            if joint_iterations == 0:  # room for the stalled states to move
                ws, wf = max(width_s, 0.02), max(width_f, 0.02)
            else:  # after that, each state's own: most have settled
                ws, wf = step_s, step_f
            f_new, _ = _search(
                _q_best_s(st, s, ws, 10 * share_tol), f, hh.f_lo, hh.f_hi, wf, share_tol
            )
            s_new, TV = _search(_q_at_s(st, st.cash(f_new)), s, hh.s_lo, hh.s_hi, ws, share_tol)
            joint_iterations += 1
        d = TV - V
        scale = 1.0 + np.abs(V).max()
        ds, df = np.max(np.abs(s_new - s)), np.max(np.abs(f_new - f))
        if joint:  # each state's own search widths for the next joint search
            step_s = np.clip(10.0 * np.abs(s_new - s), 1e-4, 1.0)
            step_f = np.clip(10.0 * np.abs(f_new - f), 1e-4, 1.0)
        s, f = s_new, f_new
        report_step("best response", it, f"Bellman span {d.max() - d.min():.3g} (tol {tol:g})")
        width_s = min(1.0, max(10.0 * ds, 1e-4))
        width_f = min(1.0, max(10.0 * df, 1e-4))
        if hh.beta / (1.0 - hh.beta) * (d.max() - d.min()) < tol * scale:
            # Alternating searches can stall where the objective has a kink (the value is
            # interpolated linearly), short of the joint maximum: finish with joint searches.
            if joint or hh.labour is not None:
                converged = True
                break
            joint = True
        # evaluate the new policy approximately: sweeps of its Bellman operator, [ne, states]
        X = st.cash(f).X
        R = (st.Pk * hh.u((1.0 - s) * X / st.tc)).sum(0) - hh.v(f)
        lo, w = agrid.locate(s * X)
        at0 = lo * ne + k  # V[lo, k] of the flat V
        at1 = at0 + ne
        W0, W1 = st.Pk * (1.0 - w), st.Pk * w
        V = TV
        for _ in range(sweeps):
            V.take(at0, out=sweep0)
            V.take(at1, out=sweep1)
            np.multiply(sweep0, W0, out=sweep0)
            np.multiply(sweep1, W1, out=sweep1)
            np.add(sweep0, sweep1, out=sweep0)
            V = R + hh.beta * sweep0.sum(0)
    s, f = s.reshape(na, ne), f.reshape(na, ne)
    _, Vc, Vh = value_env(hh, fiscal, prices, agrid, ability, s, f)
    return Solution(
        "env",
        hh,
        fiscal,
        prices,
        agrid,
        ability,
        s=s,
        f=f,
        V=Vc + Vh,
        iterations=it,
        seconds=time.perf_counter() - t0,
        converged=converged,
        info={
            "Vc": Vc,
            "Vh": Vh,
            "bellman_span": float(d.max() - d.min()),
            "last_share_change": float(max(ds, df)),
            "joint_iterations": joint_iterations,
        },
    )
