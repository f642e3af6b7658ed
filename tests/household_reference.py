"""The household solvers' hot paths as they were before they were made faster (issue 19):
the parity tests of ``test_certify_parity.py`` solve each problem with these and with
:mod:`smfg.certify.egm` and :mod:`smfg.certify.envtiming` and compare. Verbatim copies of
the old code (at commit 50cfccc); the helpers that did not change are imported."""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from smfg.certify.egm import _initial_marginal_value
from smfg.certify.egm_schedule import _egm_step_schedule, _euler_points, _grid_asset_tax
from smfg.certify.evaluation import _env_shares, env_outcomes, value_env, value_known
from smfg.certify.grids import AbilityGrid, AssetGrid, _lerp
from smfg.certify.hours import _static_choice
from smfg.certify.maximise import _golden_max
from smfg.certify.primitives import (
    Fiscal,
    Household,
    Prices,
    Solution,
    _budget,
    _check_inputs,
    _labour_wage,
    cash_on_hand,
)
from smfg.certify.progress import report_step


def _endogenous_points(hh, fiscal, prices, c, a_next, weh, a0, f0, iters: int = 50):
    """Assets and work share at which consumption ``c`` and saving ``a_next`` are optimal.

    Two equations in (a, f): the labour condition ``chi f^(1/phi) = lam weh x_y`` and the
    budget ``x(a, f) = (1+tau_c) c + a_next``, by Newton's method with f kept in its bounds
    (projected: where a step leaves the box, f stops at the bound and only the budget is
    solved). Returns (a, f).
    """
    tc = 1.0 + fiscal.tau_c
    lam = hh.u_c(c) / tc
    M = tc * c + a_next
    a = a0.copy()
    fixed = hh.labour is not None
    f = np.full_like(a, hh.labour) if fixed else f0.copy()
    r = prices.r
    k = 1.0 / hh.phi
    for _ in range(iters):
        x, x_y, x_a, x_yy = _budget(fiscal, prices, a, weh * f, 1 if fixed else 2)
        R2 = x - M
        if fixed:
            da = -R2 / x_a
            a = a + da
            if np.max(np.abs(da) / (1.0 + np.abs(a))) <= 1e-14:
                break
            continue
        R1 = hh.chi * f**k - lam * weh * x_y
        J11 = hh.chi * k * f ** (k - 1.0) - lam * weh**2 * x_yy
        J12 = -lam * weh * r * x_yy
        J21 = weh * x_y
        det = J11 * x_a - J12 * J21
        df = (-R1 * x_a + R2 * J12) / det
        da = (-R2 * J11 + R1 * J21) / det
        f_new = np.clip(f + df, hh.f_lo, hh.f_hi)
        pinned = f_new != f + df
        if pinned.any():  # at a bound, f stays there and a solves the linearised budget
            da = np.where(pinned, -(R2 + J21 * (f_new - f)) / x_a, da)
        a = a + da
        change = max(np.max(np.abs(f_new - f)), np.max(np.abs(da) / (1.0 + np.abs(a))))
        f = f_new
        if change <= 1e-14:
            break
    return a, f


def _interp_cols(x_new: np.ndarray, xp: np.ndarray, fps: list[np.ndarray]) -> list[np.ndarray]:
    """Linear interpolation per column j of increasing ``xp[:, j]`` (extrapolating linearly
    above the last point) of each array in ``fps`` at the points ``x_new`` [m]: [m, ne]."""
    ne = xp.shape[1]
    out = [np.empty((len(x_new), ne)) for _ in fps]
    for j in range(ne):
        x = xp[:, j]
        above = x_new > x[-1]
        for o, fp in zip(out, fps, strict=True):
            y = fp[:, j]
            o[:, j] = np.interp(x_new, x, y)
            if above.any():
                slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
                o[above, j] = y[-1] + slope * (x_new[above] - x[-1])
    return out


def egm_step(
    hh, fiscal, prices, agrid, ability, Va_next, warm=None, exact: bool = False, newton: int = 50
):
    """One step of the endogenous grid method: this period's policy given next period's
    marginal value of assets ``Va_next`` [na, ne] on the grid.

    Saving and hours are interpolated from the endogenous points and consumption follows
    from the budget; ``exact`` re-solves hours (and consumption) from the interpolated
    saving so that the labour condition holds exactly too. Where the borrowing limit binds,
    hours and consumption solve the static problem with ``a' = a_min``. ``newton`` caps the
    Newton iterations for the endogenous points (a stationary solve takes one per step once
    warm: the points then converge together with the policy). Returns a dict with
    ``c, f, a_next, Va`` [na, ne] and the endogenous points (for warm starts). A policy
    with an income-tax schedule goes to :func:`_egm_step_schedule`.
    """
    if fiscal.brackets is not None:
        return _egm_step_schedule(hh, fiscal, prices, agrid, ability, Va_next, warm, exact)
    a, tc, weh, c_endo, a_k = _euler_points(hh, fiscal, prices, agrid, ability, Va_next)
    if warm is None:
        f0 = np.full(c_endo.shape, 0.3 if hh.labour is None else hh.labour)
        a0 = a_k.copy()
    else:
        a0, f0 = warm["a_endo"], warm["f_endo"]
    a_endo, f_endo = _endogenous_points(hh, fiscal, prices, c_endo, a_k, weh, a0, f0, newton)
    a_next, f = _interp_cols(a, a_endo, [a_k, f_endo])
    f = np.clip(f, hh.f_lo, hh.f_hi) if hh.labour is None else f
    bound = a[:, None] <= a_endo[0][None, :]  # the borrowing limit binds
    a_next = np.where(bound, a[0], np.maximum(a_next, a[0]))
    if exact:
        f, c, x_a = _static_choice(hh, fiscal, prices, a[:, None], a_next, weh, f)
    else:
        x, _, x_a, _ = _budget(fiscal, prices, a[:, None], weh * f, 1, _grid_asset_tax(fiscal, a))
        c = (x - a_next) / tc
        if bound.any():
            ii, jj = np.nonzero(bound)
            fb, cb, xb = _static_choice(
                hh,
                fiscal,
                prices,
                a[ii],
                a[0],
                weh[0, jj],
                None if warm is None else warm["f"][ii, jj],
                iters=min(newton, 100),
            )
            f[ii, jj], c[ii, jj], x_a[ii, jj] = fb, cb, xb
    Va = hh.u_c(c) / tc * x_a
    return {"c": c, "f": f, "a_next": a_next, "Va": Va, "a_endo": a_endo, "f_endo": f_endo}


def solve_known(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    tol: float = 1e-10,
    max_iter: int = 5000,
    init: Solution | None = None,
    value: bool = True,
) -> Solution:
    """The stationary problem in the ``known`` timing by the endogenous grid method.

    Iterates EGM steps until consumption changes by less than ``tol`` (relative, sup norm).
    ``init``: a solution to start from (e.g. at nearby prices). ``value``: also compute the
    value function (policy evaluation), needed for welfare comparisons.
    The iteration contracts at about beta per step, slowest for the richest households.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is not None and init.info.get("warm") is not None:
        # the iteration's own last step (the final exact step is another operator, whose
        # marginal value differs by the interpolation error: no warm start from it)
        warm = init.info["warm"]
        Va = warm["Va"]
    elif init is not None and init.Va is not None:
        Va, warm = init.Va, None
    else:
        Va = _initial_marginal_value(hh, fiscal, prices, agrid, ability)
        warm = None
    c_old = None
    converged = False
    for it in range(1, max_iter + 1):
        step = egm_step(hh, fiscal, prices, agrid, ability, Va, warm, newton=50 if it < 10 else 1)
        Va, warm = step["Va"], step
        c = step["c"]
        if c_old is not None and np.max(np.abs(c - c_old) / c) < tol:
            converged = True
            break
        c_old = c
        if it % 100 == 0:
            report_step("household EGM", it, f"of at most {max_iter} iterations (tol {tol:g})")
    # a last step with hours re-solved exactly from the saving rule
    step = egm_step(hh, fiscal, prices, agrid, ability, Va, warm, exact=True)
    c, Va = step["c"], step["Va"]
    weh = _labour_wage(hh, prices, ability)
    x = cash_on_hand(fiscal, prices, agrid.a[:, None], weh * step["f"])
    sol = Solution(
        "known",
        hh,
        fiscal,
        prices,
        agrid,
        ability,
        s=step["a_next"] / x,
        f=step["f"],
        V=np.zeros_like(c),
        c=c,
        a_next=step["a_next"],
        Va=Va,
        iterations=it,
        converged=converged,
        info={"warm": warm},
    )
    if value:
        sol.V, sol.info["Vc"], sol.info["Vh"] = value_known(sol)
    sol.seconds = time.perf_counter() - t0
    return sol


class _EnvObjective:
    """The env-timing objective ``Q(s, f) = E[u(c) + beta V(a')] - v(f)`` at every state, for
    a fixed next-period value V [na, ne]; cash on hand is cached for the current f."""

    def __init__(self, hh, fiscal, prices, agrid, ability, V):
        self.hh, self.fiscal, self.prices, self.agrid = hh, fiscal, prices, agrid
        self.P = ability.P[None, :, :]
        self.weh = _labour_wage(hh, prices, ability)[None, None, :]
        self.a = agrid.a[:, None, None]
        self.V = V
        self.cols = np.arange(ability.n)[None, None, :]
        self.tc = 1.0 + fiscal.tau_c

    def cash(self, f):
        return cash_on_hand(self.fiscal, self.prices, self.a, self.weh * f[:, :, None])

    def q(self, s, f, x=None):
        x = self.cash(f) if x is None else x
        s3 = s[:, :, None]
        c = (1.0 - s3) * x * (1.0 / self.tc)
        lo, w = self.agrid.locate(s3 * x)
        cont = _lerp(self.V, lo, w, self.cols)
        return (self.P * (self.hh.u(c) + self.hh.beta * cont)).sum(-1) - self.hh.v(f)


def _q_of_s(obj: _EnvObjective, f, x, s):
    return obj.q(s, f, x)


def _q_of_f(obj: _EnvObjective, s, f):
    return obj.q(s, f)


def _q_best_s(obj: _EnvObjective, s0, width, tol, hh: Household, f):
    """max over s (golden section near s0) of the objective at work shares f."""
    return _search(partial(_q_of_s, obj, f, obj.cash(f)), s0, hh.s_lo, hh.s_hi, width, tol)[1]


def _search(fun, old, lo_bound, hi_bound, half_width, tol):
    """Golden section in [old - half_width, old + half_width] within the bounds; points whose
    maximum lands on an inner edge of that bracket are searched again on the full range."""
    lo = np.maximum(old - half_width, lo_bound)
    hi = np.minimum(old + half_width, hi_bound)
    x, fx = _golden_max(fun, lo, hi, tol)
    edge = ((x <= lo + 2 * tol) & (lo > lo_bound)) | ((x >= hi - 2 * tol) & (hi < hi_bound))
    if half_width < 1.0 and edge.any():
        x2, fx2 = _golden_max(fun, np.full_like(x, lo_bound), np.full_like(x, hi_bound), tol)
        x, fx = np.where(edge, x2, x), np.where(edge, fx2, fx)
    return x, fx


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

    Each improvement maximises the objective over the saving share (golden section, f held),
    then over the work share (s held), in a bracket around the current policy that widens
    where the maximum reaches its edge; ``sweeps`` applications of the new policy's Bellman
    operator then evaluate it approximately. Once that converges, improvements search both
    shares jointly (golden section over f of the maximum over s) until it converges again:
    alternating searches can stall at a kink of the interpolated value. Convergence: the
    Bellman residual ``TV - V`` bounds the distance to the fixed point (McQueen-Porteus:
    within beta/(1-beta) times its span) by ``tol`` relative to the value's scale. The final
    policy is then evaluated exactly. Shares are not required to settle: where the objective
    is flat (the work share of the very rich) they wander within the search tolerance at no
    cost. ``init``: a solution whose shares start the iteration (default: the ``known``
    timing's at the same prices, read as shares). Under an income-tax schedule whose rate
    falls somewhere the objective in the work share need not be unimodal: golden section
    then finds a maximum near the starting (``known``-timing) policy, not necessarily the
    global one.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is None:
        init = solve_known(hh, fiscal, prices, agrid, ability, tol=1e-8, value=False)
    s, f = _env_shares(hh, init.s, init.f)
    V, _, _ = value_env(hh, fiscal, prices, agrid, ability, s, f)
    P3 = np.broadcast_to(ability.P[None, :, :], (agrid.n, ability.n, ability.n))
    cols = np.arange(ability.n)[None, None, :]
    width_s = width_f = 1.0
    converged = joint = False
    joint_iterations = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        obj = _EnvObjective(hh, fiscal, prices, agrid, ability, V)
        x = obj.cash(f)
        if hh.labour is not None:
            s_new, TV = _search(
                partial(_q_of_s, obj, f, x), s, hh.s_lo, hh.s_hi, width_s, share_tol
            )
            f_new = f
        elif not joint:  # alternate: s given f, then f given s
            s_new, _ = _search(partial(_q_of_s, obj, f, x), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new, TV = _search(
                partial(_q_of_f, obj, s_new), f, hh.f_lo, hh.f_hi, width_f, share_tol
            )
        else:  # jointly: f by golden section on the best s for each f
            ws, wf = max(width_s, 0.02), max(width_f, 0.02)
            q_f = partial(_q_best_s, obj, s, ws, 10 * share_tol, hh)
            f_new, _ = _search(q_f, f, hh.f_lo, hh.f_hi, wf, share_tol)
            s_new, TV = _search(
                partial(_q_of_s, obj, f_new, obj.cash(f_new)), s, hh.s_lo, hh.s_hi, ws, share_tol
            )
            joint_iterations += 1
        d = TV - V
        scale = 1.0 + np.abs(V).max()
        ds, df = np.max(np.abs(s_new - s)), np.max(np.abs(f_new - f))
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
        # evaluate the new policy approximately: sweeps of its Bellman operator
        _, c, a_next = env_outcomes(hh, fiscal, prices, agrid, ability, s, f)
        R = (P3 * hh.u(c)).sum(-1) - hh.v(f)
        lo, w = agrid.locate(a_next)
        w0, w1 = P3 * (1.0 - w), P3 * w
        V = TV
        for _ in range(sweeps):
            V = R + hh.beta * (w0 * V[lo, cols] + w1 * V[lo + 1, cols]).sum(-1)
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
