"""The certification page's solver checks and their facts: one function per group of the
page's cells, each returning what the page shows and the dict it glues (the runs it certifies
and their tables are :mod:`smfg.paper.certify_run`'s)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from smfg.algos.smfrl import smfrl_config
from smfg.certify import checks as ck
from smfg.certify import e6_grid
from smfg.config import EconomyParams, economy_params
from smfg.paper.certify_run import chapter_profile, check_facts
from smfg.runs.certify import MIN_WINDOW
from smfg.runs.curves import CURVE_SETTINGS

#: The page's economy: certification is defined for ``clearing`` only.
VARIANT = "clearing"

#: The columns of the page's table of stationary equilibria.
EQUILIBRIUM_COLUMNS = (
    "r",
    "K_over_Y",
    "Y",
    "hours",
    "tr",
    "capital_residual",
    "budget_residual",
    "firm_residual",
    "r_bound",
    "grid",
    "seconds",
)


@dataclass(frozen=True)
class Checks:
    """Results of a group of checks, by name, and the facts the page glues from them."""

    results: dict[str, dict]
    """Each check's result (:mod:`smfg.certify.checks`), by the name its facts start with."""
    facts: dict[str, str] = field(default_factory=dict)
    """What the page glues: ``<name>_<field>`` (:func:`~smfg.paper.certify_run.check_facts`)."""


def params() -> EconomyParams:
    """The calibration the page certifies."""
    return economy_params(VARIANT)


def page_facts(profile: str) -> dict[str, str]:
    """What the page glues before its checks: the calibration (``cal_*``, the action box, the
    superstar regime, SMFRL's discount factor, the shortest window), the settings of the
    certified runs (``cert_*``) and of the certified learning curves (``curve_*``), and the
    solvers' own settings (``solver_*``)."""
    p = params()
    calibration = {
        "cal_sigma": p.sigma,
        "cal_phi": p.phi,
        "cal_beta": p.beta,
        "cal_rho": p.rho_e,
        "box_lo": p.action_low,
        "box_hi": p.action_high,
        "super_enter": p.p_super,
        "super_stay": p.stay_super,
        "super_mult": p.mult_super,
        "cal_ky0": p.capital_output0,
        "smfrl_gamma": smfrl_config(profile).gamma,
        "min_window": MIN_WINDOW,
    }
    facts = {k: f"{v:g}" for k, v in calibration.items()}
    facts.update({f"cert_{k}": str(v) for k, v in chapter_profile(profile).settings().items()})
    facts.update({f"curve_{k}": str(v) for k, v in CURVE_SETTINGS.items()})
    facts.update(check_facts("solver", ck.solver_settings()))
    return facts


def solver_checks(profile: str) -> Checks:
    """The household solver's checks at the profile's sizes: Brock-Mirman (``bm``), the
    ability process (``ab``), Euler errors (``eu``), the two timings (``tm``), the poor rule
    and the best response (``br``) and piecewise-linear taxes (``sc``)."""
    chp, p = chapter_profile(profile), params()
    results = {
        "bm": ck.brock_mirman(*chp.brock_mirman),
        "ab": ck.ability_moments(p, chp.grid[1]),
        "eu": ck.euler_check(p, *chp.grid),
        "tm": ck.timing_check(p, chp.timing_na),
        "br": ck.best_response_check(p, *chp.best_response),
        "sc": ck.schedule_checks(p, *chp.schedule, eq_grid=chp.schedule_eq),
    }
    return Checks(results, _facts(results))


def equilibrium_checks(profile: str) -> Checks:
    """Stationary equilibria at the profile's grid: without government and with a work share
    of a third (``eq0``; again on the coarse grid, ``eq0c``) and under the free market with
    elastic labour (``eqf``). The facts add how far the rate moves between the two grids
    (``eq0_r_moves``, percentage points) and whether the free market holds ``more`` or
    ``less`` capital than the environment starts with (``eqf_more``)."""
    chp, p = chapter_profile(profile), params()
    na, ne = chp.grid
    no_government = {"labour": 1 / 3, "ne": ne, "r_bracket": (-0.05, 0.06)}
    results = {
        "eq0": ck.equilibrium_check(p, None, na=na, **no_government),
        "eq0c": ck.equilibrium_check(p, None, na=chp.coarse_na, **no_government),
        "eqf": ck.equilibrium_check(p, ck.free_market(p), na=na, ne=ne, r_guess=0.01),
    }
    facts = _facts(results)
    facts["eq0_r_moves"] = f"{100 * abs(results['eq0']['r'] - results['eq0c']['r']):.2g}"
    facts["eqf_more"] = "more" if results["eqf"]["K_over_Y"] > p.capital_output0 else "less"
    return Checks(results, facts)


def equilibrium_table(checks: Checks, profile: str) -> pd.DataFrame:
    """The page's table of :func:`equilibrium_checks`: one column per equilibrium."""
    res = checks.results
    return pd.DataFrame(
        {
            "no government, work share 1/3": res["eq0"],
            f"the same on {chapter_profile(profile).coarse_na} assets": res["eq0c"],
            "free market, elastic labour": res["eqf"],
        }
    ).loc[list(EQUILIBRIUM_COLUMNS)]


def leader_grid(profile: str) -> tuple[dict[str, list[float]], dict[str, str]]:
    """The values each of E6's income tax and spending (``tau``, ``xi``, ``g``) takes on the
    leader's grid of the certified runs, and the facts: ``grid_<name>`` (the values, four
    significant digits) and ``grid_points`` (how many points)."""
    grid = e6_grid(params(), chapter_profile(profile).settings()["grid_points"])
    values = {name: sorted({q[i] for q in grid}) for i, name in enumerate(("tau", "xi", "g"))}
    facts = {f"grid_{name}": ", ".join(f"{v:.4g}" for v in vals) for name, vals in values.items()}
    facts["grid_points"] = str(len(grid))
    return values, facts


def _facts(results: dict[str, dict]) -> dict[str, str]:
    return {k: v for name, res in results.items() for k, v in check_facts(name, res).items()}
