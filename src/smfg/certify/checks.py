"""The solver checks the certification chapter prints: closed forms where they exist, and
cross-checks of independent solvers where they do not.

Each function solves one problem at the sizes it is given and returns a dict of plain
numbers (and the settings it ran with), so that a book page prints what the code computes:

- :func:`brock_mirman`: log utility, Cobb-Douglas output, full depreciation, inelastic
  labour, no risk; along the equilibrium path the household saves ``a' = alpha beta Y``;
- :func:`ability_moments`: Rouwenhorst's discretisation of E11 against the AR(1)'s moments;
- :func:`euler_check`: Euler equation errors of the endogenous grid method on the
  calibration, and the budget and the labour condition on the grid;
- :func:`timing_check`: the environment's timing (policy iteration) against the textbook
  timing (the endogenous grid method), without and with ability risk;
- :func:`best_response_check`: a poor fixed rule is exploitable; the best response, solved
  again from a crude start, is not, and every deviation from it loses;
- :func:`equilibrium_check`: the stationary equilibrium (capital market, firm, budget);
- :func:`schedule_checks`: piecewise-linear income taxes (the economy's tax, bunching at a
  kink, a zero-rate schedule, the US 2022 equilibrium's revenue identity);
- :func:`solver_settings`: the solvers' own settings (their defaults), for the prose.
"""

from __future__ import annotations

import inspect
import math
import time

import numpy as np
import torch

from smfg.certify.egm import euler_errors, solve_known, solve_known_path
from smfg.certify.envtiming import solve_env
from smfg.certify.equilibrium import stationary_equilibrium
from smfg.certify.evaluation import value_env
from smfg.certify.exploitability import (
    CERTIFY_A_MAX,
    CERTIFY_A_MAX_MULTIPLE,
    GridRule,
    certify_followers,
    exploitability,
    fixed_rule,
    grid_fiscal,
    simulate,
)
from smfg.certify.grids import (
    AbilityGrid,
    AssetGrid,
    ability_grid,
    rouwenhorst,
    stationary_distribution,
)
from smfg.certify.primitives import Fiscal, Household, Prices, Solution, schedule_tax
from smfg.config import EconomyParams
from smfg.economy.government import tax_piecewise
from smfg.policies import FixedShares, FreeMarket

__all__ = [
    "ability_moments",
    "best_response_check",
    "brock_mirman",
    "calibration_prices",
    "equilibrium_check",
    "euler_check",
    "free_market",
    "schedule_checks",
    "solver_settings",
    "timing_check",
]


def free_market(params: EconomyParams) -> Fiscal:
    """The free market as an E6 policy: every leader number at its lower clip."""
    low = params.action_low
    return grid_fiscal(params, params.tau_max * low, params.xi_max * low, params.g_max * low)


def calibration_prices(params: EconomyParams, r: float = 0.035, tr: float = 0.0) -> Prices:
    """A wage near the calibration's (output per household 1, mean hours a third of
    ``h_max``) and a given interest rate and transfer."""
    return Prices(r, (1 - params.alpha) / (params.mean_ability * params.h_max / 3), tr)


def brock_mirman(
    na: int = 200,
    horizon: int = 600,
    periods: int = 80,
    starts: tuple[float, ...] = (0.2, 0.7, 1.8),
    alpha: float = 0.36,
    beta: float = 0.96,
) -> dict:
    """The Brock-Mirman economy solved by the household solver along its price path.

    Log utility, ``Y = K^alpha`` with one unit of inelastic labour, full depreciation and no
    risk: capital follows ``K' = alpha beta K^alpha``. From each starting capital (a multiple
    of the steady state in ``starts``) the prices of that path for ``horizon`` periods are
    given to the backward induction (:func:`solve_known_path`, ``na`` asset points up to three
    times the steady state), and a household starting with the economy's capital follows its
    policy for ``periods`` periods. Returns the largest ``|a' - alpha beta K^alpha|`` over
    all periods and starts (``worst_error``; the consumption function is linear in wealth,
    so linear interpolation is exact up to rounding and the horizon's effect, of order
    ``beta^(horizon - periods)``), the steady state and the settings.
    """
    t0 = time.perf_counter()
    hh = Household(sigma=1.0, chi=0.0, beta=beta, h_max=1.0, labour=1.0)
    one = AbilityGrid(np.ones(1), np.ones((1, 1)), np.ones(1))
    k_ss = (alpha * beta) ** (1 / (1 - alpha))
    grid = AssetGrid(na, 3 * k_ss, 0.05)
    worst = 0.0
    for m in starts:
        K = [m * k_ss]
        for _ in range(horizon - 1):
            K.append(alpha * beta * K[-1] ** alpha)
        prices = [Prices(alpha * k ** (alpha - 1) - 1.0, (1 - alpha) * k**alpha) for k in K]
        path = solve_known_path(hh, [Fiscal()] * horizon, prices, grid, one)
        a = K[0]
        for t in range(periods):
            lo, w = grid.locate(np.array([a]))
            a_next = float(
                path[t]["a_next"][lo[0], 0] * (1 - w[0]) + path[t]["a_next"][lo[0] + 1, 0] * w[0]
            )
            worst = max(worst, abs(a_next - alpha * beta * K[t] ** alpha))
            a = a_next
    return {
        "worst_error": worst,
        "k_ss": k_ss,
        "alpha": alpha,
        "beta": beta,
        "na": na,
        "horizon": horizon,
        "periods": periods,
        "starts": list(starts),
        "seconds": time.perf_counter() - t0,
    }


def ability_moments(params: EconomyParams, ne: int = 7) -> dict:
    """E11's log-AR(1) and Rouwenhorst's ``ne`` states: the process's stationary standard
    deviation and autocorrelation, and the chain's (which match them exactly)."""
    z, P = rouwenhorst(ne, params.rho_e, params.sigma_e)
    pi = stationary_distribution(P)
    var = float(pi @ z**2 - (pi @ z) ** 2)
    return {
        "ne": ne,
        "rho": params.rho_e,
        "sd": params.sigma_e / math.sqrt(1 - params.rho_e**2),
        "chain_sd": math.sqrt(var),
        "chain_rho": float(pi @ (z * (P @ z))) / var,
    }


def euler_check(
    params: EconomyParams,
    na: int = 500,
    ne: int = 7,
    r: float = 0.035,
    a_max: float = 200.0,
    tol: float = 1e-9,
) -> dict:
    """Euler equation errors (``log10 |1 - c_implied / c|``, :func:`euler_errors`: at the
    grid's midpoints up to its 90th percentile point) of the textbook problem under the
    free market at the calibration's wage and interest ``r``, on ``na`` assets x ``ne``
    abilities: their mean and maximum over the points where the borrowing limit does not
    bind, the share where it binds, the largest residual of the budget (absolute) and of the
    labour condition (relative, interior hours), the EGM steps and the seconds."""
    hh = Household.from_params(params)
    fis = free_market(params)
    t0 = time.perf_counter()
    sol = solve_known(
        hh,
        fis,
        calibration_prices(params, r),
        AssetGrid(na, a_max),
        ability_grid(params, ne),
        tol=tol,
    )
    seconds = time.perf_counter() - t0
    err = euler_errors(sol)
    finite = err[np.isfinite(err)]
    pr = sol.prices
    weh = pr.W * sol.ability.e * hh.h_max
    a = sol.agrid.a[:, None]
    inc = weh[None, :] * sol.f + pr.r * a
    cash = weh[None, :] * sol.f + (1 + pr.r) * a - fis.income_tax(inc) - fis.asset_tax(a) + pr.tr
    budget = float(np.abs((1 + fis.tau_c) * sol.c + sol.a_next - cash).max())
    interior = (sol.f > hh.f_lo) & (sol.f < hh.f_hi)
    rhs = hh.u_c(sol.c) / (1 + fis.tau_c) * weh[None, :] * (1 - fis.marginal_income_tax(inc))
    labour = float((np.abs(hh.v_f(sol.f) - rhs)[interior]).max() / rhs[interior].max())
    return {
        "mean_log10": float(finite.mean()),
        "max_log10": float(finite.max()),
        "share_binding": float(1 - finite.size / err.size),
        "budget_residual": budget,
        "labour_residual": labour,
        "iterations": int(sol.iterations),
        "converged": bool(sol.converged),
        "seconds": seconds,
        "na": na,
        "ne": ne,
        "r": r,
        "a_max": a_max,
    }


def timing_check(
    params: EconomyParams,
    na: int = 300,
    ne: int = 3,
    a_max: float = 60.0,
    r: float = 0.03,
    inner: tuple[float, float] = (1.0, 40.0),
) -> dict:
    """The two timings of the household problem under the free market.

    Without ability risk they are the same problem, solved by two independent methods (the
    endogenous grid method and policy iteration): ``no_risk_value`` and ``no_risk_shares``
    are their largest relative value difference and share difference for assets in
    ``inner`` (away from the borrowing limit, where the environment's action box differs
    from ``a' >= 0``, and from the grid's top). With risk (``ne`` states) the environment's
    household chooses before its ability is drawn: ``risk_gap_max`` and ``risk_gap_min`` are
    the largest and smallest relative gap between its value and the expected textbook value
    (``below_everywhere``: both negative, knowing the ability is worth something
    everywhere)."""
    hh = Household.from_params(params)
    fis = free_market(params)
    grid = AssetGrid(na, a_max)
    prices = calibration_prices(params, r)
    one = AbilityGrid(np.ones(1) * params.mean_ability, np.ones((1, 1)), np.ones(1))
    t0 = time.perf_counter()
    known = solve_known(hh, fis, prices, grid, one, tol=1e-10)
    env = solve_env(hh, fis, prices, grid, one, init=None)
    sel = (grid.a >= inner[0]) & (grid.a <= inner[1])
    value = float((np.abs(env.V - known.V)[sel] / np.abs(known.V[sel])).max())
    shares = float(max(np.abs(env.s - known.s)[sel].max(), np.abs(env.f - known.f)[sel].max()))
    ab = ability_grid(params, ne)
    known_r = solve_known(hh, fis, prices, grid, ab, tol=1e-10)
    env_r = solve_env(hh, fis, prices, grid, ab, init=known_r)
    gap = (env_r.V - known_r.V @ ab.P.T) / np.abs(known_r.V)
    return {
        "no_risk_value": value,
        "no_risk_shares": shares,
        "converged": bool(known.converged and env.converged and env_r.converged),
        "risk_gap_max": float(gap.max()),
        "risk_gap_min": float(gap.min()),
        "below_everywhere": bool(gap.max() < 0.0),
        "na": na,
        "ne": ne,
        "a_max": a_max,
        "inner": list(inner),
        "seconds": time.perf_counter() - t0,
    }


def _crude_start(sol: Solution, s: float = 0.6, f: float = 0.3) -> Solution:
    """A poor first guess for policy iteration: the same shares everywhere."""
    return Solution(
        "env",
        sol.household,
        sol.fiscal,
        sol.prices,
        sol.agrid,
        sol.ability,
        s=np.full_like(sol.s, s),
        f=np.full_like(sol.f, f),
        V=np.zeros_like(sol.V),
    )


def best_response_check(
    params: EconomyParams,
    na: int = 150,
    ne: int = 5,
    n_households: int = 100,
    steps: int = 120,
    burn_in: int = 60,
    saving: float = 0.5,
    work: float = 1 / 3,
    seed: int = 0,
    crude: tuple[float, float] = (0.6, 0.3),
) -> dict:
    """Exploitability of a poor fixed rule, and of the best response itself.

    ``n_households`` households of `clearing` save ``saving`` of cash on hand and work
    ``work`` of the hours under the free market for ``steps`` years; from year ``burn_in``
    on, the window's prices and households are certified (:func:`certify_followers`): the
    rule's median consumption-equivalent gain, its mean loss and the window's interest rate.
    Then the best response is solved again from a crude start (shares ``crude``
    everywhere) and valued by the code that values learned rules: ``best_max_cev_pct`` is
    the largest gain (percent) of the first solution over the second at the window's
    states, and ``best_deviation_gain`` the largest relative gain of saving two points less
    (negative or zero: every such deviation loses).
    """
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        pop = simulate(
            params, FreeMarket(), FixedShares(saving, work), n_households, seed, steps=steps
        )
    res, env = certify_followers(
        params,
        pop,
        lambda g: fixed_rule(saving, work),
        burn_in=burn_in,
        na=na,
        ne=ne,
        a_max=CERTIFY_A_MAX,
    )
    s = res.summary()
    best = res.best
    again = solve_env(
        best.household,
        best.fiscal,
        best.prices,
        best.agrid,
        best.ability,
        init=_crude_start(best, *crude),
    )
    res_br = exploitability(
        GridRule(again),
        best.household,
        env.fiscal,
        env.prices,
        best.agrid,
        best.ability,
        env.e,
        env.a,
        best=best,
    )
    s_dev = np.clip(best.s - 0.02, best.household.s_lo, best.household.s_hi)
    V_dev, _, _ = value_env(
        best.household, best.fiscal, best.prices, best.agrid, best.ability, s_dev, best.f
    )
    return {
        "years": int(pop.steps),
        "r": float(env.prices.r),
        "cev_median_pct": float(s["cev_median_pct"]),
        "share_infinite": float(s["share_infinite"]),
        "loss_mean_pct": float(s["loss_mean_pct"]),
        "best_max_cev_pct": float(np.abs(res_br.cev).max()),  # (cev is in percent)
        "best_deviation_gain": float(((V_dev - best.V) / np.abs(best.V)).max()),
        "saving": saving,
        "work": work,
        "crude": list(crude),
        "n_households": n_households,
        "steps": steps,
        "burn_in": burn_in,
        "na": na,
        "ne": ne,
        "seconds": time.perf_counter() - t0,
    }


def equilibrium_check(
    params: EconomyParams,
    fiscal: Fiscal | None = None,
    labour: float | None = None,
    na: int = 500,
    ne: int = 7,
    r_bracket: tuple[float, float] | None = None,
    r_guess: float | None = None,
) -> dict:
    """The stationary equilibrium (:func:`stationary_equilibrium`) under ``fiscal`` (None:
    no government at all) with ``labour`` a fixed work share (None: elastic), on ``na``
    assets x ``ne`` abilities: its scalars (``r``, ``K_over_Y``, ``Y``, ``hours``, ``tr``,
    ``capital_residual``, ...), the households' bound ``r_bound = 1/beta - 1``, the budget's
    residual (taxes less spending, interest on debt and the transfer) and the firm's (the
    interest rate against the marginal product of capital less depreciation)."""
    eq = stationary_equilibrium(
        params, fiscal, labour=labour, na=na, ne=ne, r_bracket=r_bracket, r_guess=r_guess
    )
    out = eq.summary()
    mpk = params.alpha * eq.Y / eq.K - params.delta
    out.update(
        r_bound=1 / params.beta - 1,
        budget_residual=float(eq.taxes - eq.G - eq.r * eq.B - eq.tr),
        firm_residual=float(eq.r - mpk),
        labour=labour,
        na=na,
        ne=ne,
    )
    return out


def schedule_checks(
    params: EconomyParams,
    na: int = 200,
    ne: int = 5,
    eq_grid: tuple[int, int] = (60, 3),
    kink: float = 0.5,
    rates: tuple[float, float] = (0.1, 0.3),
    seed: int = 0,
) -> dict:
    """Piecewise-linear income taxes (US 2022, Saez) in the household solver.

    - ``tax_error``: the largest difference between the solver's tax and the economy's
      (:func:`smfg.economy.government.tax_piecewise`) on random incomes, at every threshold
      and just below it, for US 2022 and for a schedule whose rates fall;
    - a two-bracket tax (``rates`` below and above ``kink``, the labour income of the middle
      ability state at the calibration's wage), ``na`` x ``ne``: its Euler errors
      (``kink_mean_log10``, ``kink_max_log10``), the share of grid states whose income is
      exactly the kink (``bunched``), and the shadow marginal rate of the bunched households
      (``shadow_min``, ``shadow_max``: strictly between the two rates);
    - ``zero_rate_known``, ``zero_rate_env``: the largest relative value difference between
      a schedule with zero rates and the free market's E6 policy with no income tax (the
      same problem), in each timing;
    - the stationary equilibrium under US 2022 on ``eq_grid``: ``us_r``, ``us_tr``, and the
      budget's residual (``us_budget_residual``).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    us = Fiscal.us_federal_2022(params)
    worst = 0.0
    for lo, rts in ((us.brackets, us.rates), ((0.0, 0.15, 0.3), (0.5, 0.4, 0.35))):
        x = np.concatenate(
            [rng.uniform(-2, 12, 500), rng.lognormal(0, 2, 200), lo, np.nextafter(lo, -np.inf)]
        )
        theirs = tax_piecewise(
            torch.tensor(x)[None],
            torch.tensor([lo], dtype=torch.float64),
            torch.tensor([rts], dtype=torch.float64),
        )[0].numpy()
        fis = Fiscal(tau_c=params.tau_c, brackets=lo, rates=rts)
        worst = max(
            worst,
            float(np.abs(fis.income_tax(x) - theirs).max()),
            float(np.abs(schedule_tax(x, lo, rts) - theirs).max()),
        )
    fm = free_market(params)

    hh = Household.from_params(params)
    two = Fiscal(tau_c=params.tau_c, brackets=(0.0, kink), rates=rates)
    sol = solve_known(
        hh,
        two,
        calibration_prices(params),
        AssetGrid(na, 200.0),
        ability_grid(params, ne),
        tol=1e-9,
    )
    pr = sol.prices
    weh = pr.W * sol.ability.e * hh.h_max
    inc = weh[None, :] * sol.f + pr.r * sol.agrid.a[:, None]
    bunched = np.abs(inc - kink) <= 1e-12 * kink
    err = euler_errors(sol)
    finite = err[np.isfinite(err)]
    shadow = 1 - hh.v_f(sol.f) / (hh.u_c(sol.c) / (1 + two.tau_c) * weh[None, :])

    small_grid, small_ab = AssetGrid(100, 100.0), ability_grid(params, 3)
    prices = calibration_prices(params, tr=0.01)
    free = Fiscal(0.0, 0.0, fm.tau_a, fm.xi_a, fm.g, params.tau_c)
    zero = Fiscal(0.0, 0.0, fm.tau_a, fm.xi_a, fm.g, params.tau_c, (0.0, 0.3), (0.0, 0.0))
    k1, k2 = (solve_known(hh, f, prices, small_grid, small_ab) for f in (free, zero))
    e1, e2 = (
        solve_env(hh, f, prices, small_grid, small_ab, init=k) for f, k in ((free, k1), (zero, k2))
    )

    eq = stationary_equilibrium(
        params, us, na=eq_grid[0], ne=eq_grid[1], r_guess=0.01, tol=1e-6, hh_tol=1e-9
    )
    return {
        "tax_error": worst,
        "kink": kink,
        "rates": list(rates),
        "kink_mean_log10": float(finite.mean()),
        "kink_max_log10": float(finite.max()),
        "bunched": float(bunched.mean()),
        "shadow_min": float(shadow[bunched].min()) if bunched.any() else math.nan,
        "shadow_max": float(shadow[bunched].max()) if bunched.any() else math.nan,
        "zero_rate_known": float(np.abs(k1.V - k2.V).max() / np.abs(k1.V).max()),
        "zero_rate_env": float(np.abs(e1.V - e2.V).max() / np.abs(e1.V).max()),
        "us_r": float(eq.r),
        "us_tr": float(eq.tr),
        "us_budget_residual": float(eq.taxes - eq.G - eq.r * eq.B - eq.tr),
        "us_capital_residual": float(eq.capital_residual),
        "na": na,
        "ne": ne,
        "eq_grid": list(eq_grid),
        "seconds": time.perf_counter() - t0,
    }


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def solver_settings() -> dict:
    """The solvers' own settings, read from their defaults: the environment timing's
    Bellman sweeps per improvement and its tolerance (``solve_env``), the asset grid's shift
    (the spacing is even below it, proportional above), the certification's top asset
    (``certify_followers``: this, or a multiple of the largest assets seen), and the
    default sizes of the households' problem in a certification."""
    return {
        "sweeps": _default(solve_env, "sweeps"),
        "env_tol": _default(solve_env, "tol"),
        "shift": AssetGrid.__dataclass_fields__["shift"].default,
        "calibration_a_max": AssetGrid.__dataclass_fields__["a_max"].default,
        "certify_a_max": CERTIFY_A_MAX,
        "certify_a_max_multiple": CERTIFY_A_MAX_MULTIPLE,
        "certify_na": _default(certify_followers, "na"),
        "certify_ne": _default(certify_followers, "ne"),
    }
