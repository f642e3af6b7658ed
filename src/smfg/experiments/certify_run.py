"""Certification of trained runs and fixed policies (book:certification), with the run
store.

:func:`certify_run` loads a finished run's policies, simulates the population they generate
(noiseless, the run's own households and shocks), and reports :mod:`smfg.certify`'s figures:
the followers' exploitability (consumption-equivalent gain of the best response) and the
leader's gap to the best point of an E6 grid with households best-responding. The result is
cached in the run directory as ``certify-<hash>.json`` (hash of the settings and the code
version), so a book page re-executes in seconds. :func:`certify_policies` does the same for
any pair of policies (the fixed baselines), without a cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smfg.algos.smfrl import smfrl_config
from smfg.certify import (
    Fiscal,
    Rule,
    certify_followers,
    e6_grid,
    fixed_rule,
    leader_gap,
    rule_from_policy,
    simulate,
    stationary_environment,
)
from smfg.config import EconomyParams, check_profile, economy_params
from smfg.experiments.fixed_policies import FIXED_RULES
from smfg.experiments.learned import ClonedHouseholds, learned_policy
from smfg.experiments.registry import (
    ARTEFACT_PROFILES,
    RunRequest,
    cached_tables,
    get_experiment,
    train_requests,
)
from smfg.experiments.store import CODE_VERSION, RunStore, atomic_write_text
from smfg.policies import FixedShares, FreeMarket

#: The settings of a certification and their defaults.
DEFAULTS = {
    "burn_in": 100,
    "na": 500,
    "ne": 7,
    "grid_points": 3,
    "grid_na": 100,
    "leader": True,
}


#: Years an episode must last after the burn-in for its followers to be certified.
MIN_WINDOW = 20


def check_settings(**kw) -> dict:
    """:data:`DEFAULTS` with the settings ``kw``, checked (a ValueError names a bad one)."""
    unknown = set(kw) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"certify settings {sorted(unknown)}: allowed {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **kw}
    for k in ("burn_in", "na", "ne", "grid_points", "grid_na"):
        if not isinstance(out[k], int) or out[k] < (0 if k in ("burn_in", "grid_points") else 3):
            raise ValueError(f"certify setting {k} = {out[k]!r}: allowed a larger integer")
    return out


def certify_policies(
    params: EconomyParams,
    gov_policy,
    household_policy,
    n_households: int,
    seed: int = 0,
    leader_reward: str = "gdp",
    progress: Callable[[str], None] | None = None,
    rule: Rule | None = None,
    reward_weights: Sequence[float] = (1.0, 1.0, 1.0),
    leader_mean: bool = True,
    **settings,
) -> dict:
    """Exploitability of ``household_policy`` and the gap of ``gov_policy`` (book:certification).

    The followers' rule is ``household_policy`` acting on each grid state with the window's
    mean raw leader action (or none, for a government that sends a GovAction), or ``rule``
    for policies that do not act on each household's observation (fixed shares). An episode
    that ends less than :data:`MIN_WINDOW` years after the burn-in leaves no stationary
    population: the followers are then reported as skipped, with the reason.
    ``leader_mean``: also value the window mean of the leader's policy as a constant E6
    policy (a row beside the grid's, not part of the gap, with a stationary equilibrium of
    its own).
    """
    st = check_settings(**settings)
    if params.variant != "clearing":
        raise ValueError(
            f"variant = {params.variant!r}: certification is defined for 'clearing' "
            "(book:certification); 'taxai' has no market prices to take as given"
        )
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    pop = simulate(params, gov_policy, household_policy, n_households, seed,
                   leader_reward=leader_reward, reward_weights=reward_weights)  # fmt: skip
    say(f"simulated {pop.steps} years ({','.join(pop.termination)}), leader return "
        f"{pop.leader_return:.4g}")  # fmt: skip
    if pop.steps < st["burn_in"] + MIN_WINDOW:  # no stationary population to certify
        fol = {"skipped": f"the episode ended in year {pop.steps} "
                          f"({','.join(pop.termination)}), before the window"}  # fmt: skip
        env = stationary_environment(pop, params, st["burn_in"])
    else:
        say(
            f"followers: exact best response on {st['na']} asset x {st['ne']} ability points "
            f"for the {n_households} households' states of years {st['burn_in']}-{pop.steps}"
        )
        expl, env = certify_followers(
            params, pop, (lambda g: rule) if rule is not None else (
                lambda g: rule_from_policy(household_policy, g)),
            burn_in=st["burn_in"], na=st["na"], ne=st["ne"], seed=seed,
        )  # fmt: skip
        fol = expl.summary()
        say(f"followers: median CEV {_pct(fol['cev_median_pct'])}, mean "
            f"{_pct(fol['cev_mean_pct'])}{_inf_note(fol)}")  # fmt: skip
    sl = slice(env.window[0], env.window[1])
    out = {
        "n_households": n_households,
        "seed": seed,
        "episode": {
            "years": pop.steps,
            "termination": ",".join(pop.termination),
            "leader_return": pop.leader_return,
            "r": float(pop.r[sl].mean()),
            "K_over_Y": float((pop.K[sl] / pop.Y[sl]).mean()),
            "Y_per_household": float(pop.Y[sl].mean() / n_households),
        },
        "followers": fol,
        "settings": st,
    }
    if st["leader"] and st["grid_points"] > 0:
        say(
            f"leader: {st['grid_points'] ** 3} E6 grid points ({st['grid_points']} values of "
            "each of tau, xi, g)"
            + (" and the window mean of this leader" if leader_mean else "")
            + ", each a stationary equilibrium "
            "with households best-responding"
        )
        learned_mean = Fiscal(**{**env.fiscal.__dict__})
        gap = leader_gap(params, pop.leader_return, n_households, seed,
                         leader_reward=leader_reward, reward_weights=reward_weights,
                         grid=e6_grid(params, st["grid_points"]),
                         extra={"window mean of this leader": learned_mean} if leader_mean
                         else None,
                         progress=say, na=st["grid_na"], ne=st["ne"])  # fmt: skip
        out["leader"] = gap
        say(f"leader: gap {gap['gap']:.4g} to {gap['best']['policy']}")
    out["seconds"] = time.perf_counter() - t0
    return _jsonable(out)


def certify_run(
    run_dir: str | Path,
    cache: bool = True,
    progress: Callable[[str], None] | None = None,
    **settings,
) -> dict:
    """Certify a finished run of the run store (see the module docstring). The result is
    read from the run directory when the same settings were certified by the same code."""
    run_dir = Path(run_dir)
    st = check_settings(**settings)
    state = RunStore(run_dir.parent).load_policy(run_dir)
    cfg = state["config"]
    key = json.dumps({"settings": st, "code": CODE_VERSION, "run": run_dir.name}, sort_keys=True)
    path = run_dir / f"certify-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if cache and path.exists():
        return json.loads(path.read_text())
    params = economy_params(cfg["variant"], **cfg.get("economy", {}))
    learned = learned_policy(state, noise_std=0.0, seed=int(cfg["seed"]))
    out = certify_policies(params, learned.leader, learned.followers, int(cfg["n_households"]),
                           int(cfg["seed"]), cfg.get("leader_reward", "gdp"), progress,
                           reward_weights=cfg.get("leader_reward_weights", (1.0, 1.0, 1.0)),
                           **st)  # fmt: skip
    out = {"run_dir": str(run_dir), "algo": state.get("algo", "smfrl"),
           "config": {k: cfg.get(k) for k in ("variant", "n_households", "seed", "bc", "epochs")},
           **out}  # fmt: skip
    atomic_write_text(path, json.dumps(out, indent=1) + "\n")
    return out


def _jsonable(x):
    """numpy scalars to Python numbers, recursively (inf stays a float)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _pct(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4g}%"


def _inf_note(fol: dict) -> str:
    """Why a mean gain is infinite, when it is."""
    if not math.isinf(fol.get("cev_mean_pct", 0.0)):
        return ""
    return (
        f" (infinite: in {fol['share_infinite']:.1%} of the states no finite scaling of the "
        "rule's consumption reaches the best response's value; mean of the finite gains "
        f"{_pct(fol['cev_mean_finite_pct'])}, and the consumption loss below stays finite)"
    )


def format_report(res: dict) -> str:
    """A readable report of :func:`certify_run` or :func:`certify_policies`."""
    ep, fol = res["episode"], res["followers"]
    skipped = "skipped" in fol
    inf_why = "" if skipped or fol["share_infinite"] == 0 else (
        ": states where no finite scaling of the rule's consumption reaches the best "
        "response's value")  # fmt: skip
    lines = []
    if "run_dir" in res:
        c = res["config"]
        lines.append(f"run {res['run_dir']} ({res['algo']}, {c['variant']}, N={c['n_households']}, "
                     f"seed {c['seed']}, bc={c['bc']}, {c['epochs']} epochs)")  # fmt: skip
    lines.append(
        f"episode: {ep['years']} years ({ep['termination']}), leader return "
        f"{ep['leader_return']:.4g}; window means r={ep['r']:.4g}, K/Y={ep['K_over_Y']:.4g}, "
        f"Y/N={ep['Y_per_household']:.4g}"
    )
    lines += [f"followers: not certified: {fol['skipped']}"] if skipped else [
        "followers (consumption-equivalent gain of the exact best response, env timing, at the "
        "window's prices):",
        f"  mean {_pct(fol['cev_mean_pct'])} (finite values {_pct(fol['cev_mean_finite_pct'])}, "
        f"share infinite {fol['share_infinite']:.3g}{inf_why}), "
        f"median {_pct(fol['cev_median_pct'])}, "
        f"p10-p90 {_pct(fol['cev_p10_pct'])} to {_pct(fol['cev_p90_pct'])}",
        f"  as a loss of the best response's consumption: mean {_pct(fol['loss_mean_pct'])}, "
        f"median {_pct(fol['loss_median_pct'])}",
        f"  prices r={fol['r']:.4g}, W={fol['W']:.4g}, tr={fol['tr']:.4g}; window "
        f"{fol['window']}, capital drift {fol['capital_drift']:+.3g}; grid {fol['grid']}, "
        f"best response in {fol['best_response_seconds']:.1f} s",
    ]  # fmt: skip
    if not skipped and "rule_diff_s" in fol:  # (results cached before it was reported lack it)
        lines.insert(-1, f"  the rule against the shares the window's households chose: mean "
                         f"|difference| {fol['rule_diff_s']:.3g} (saving), "
                         f"{fol['rule_diff_f']:.3g} (work)")  # fmt: skip
    if not skipped and "saving_gap_mean" in fol:
        lines.insert(-1, f"  the rule minus the best response, mean over the window's states: "
                         f"saving share {fol['saving_gap_mean']:+.3g} (too little in "
                         f"{fol['share_saving_too_little']:.0%} of states), work share "
                         f"{fol['work_gap_mean']:+.3g}")  # fmt: skip
    if "leader" in res:
        g = res["leader"]
        lines.append(
            f"leader: return {g['learned_return']:.4g}; best E6 grid point {g['best']['policy']}"
            f" with households best-responding: {g['best']['leader_return']:.4g}; gap "
            f"{g['gap']:.4g}"
        )
        for row in g["rows"]:
            eq = row.get("equilibrium") or {}
            extra = (f" r={eq['r']:.4g} K/Y={eq['K_over_Y']:.4g}" if eq else
                     f" ({row.get('reason', '')[:60]})")  # fmt: skip
            lines.append(f"  {row['policy']:<36s} {row['leader_return']:>10.4g}{extra}")
    lines.append(f"{res['seconds']:.0f} s")
    return "\n".join(lines)


# --- the certification chapter: its sizes by profile, its runs, its tables ------------------


@dataclass(frozen=True)
class ChapterProfile:
    """What the certification chapter computes at a profile: the sizes of its solver checks
    (:mod:`smfg.certify.checks`) and the settings of its certifications of trained runs."""

    grid: tuple[int, int]
    """Asset points and ability states of the Euler errors and the stationary equilibria."""
    coarse_na: int
    """The equilibrium without government again on this many asset points (the grid's
    effect on the interest rate)."""
    brock_mirman: tuple[int, int]
    """Asset points and horizon of the Brock-Mirman check."""
    timing_na: int
    """Asset points of the two-timings check."""
    best_response: tuple[int, int]
    """Asset points and ability states of the poor rule's certification."""
    schedule: tuple[int, int]
    """Asset points and ability states of the two-bracket tax."""
    schedule_eq: tuple[int, int]
    """Asset points and ability states of the equilibrium under US 2022."""
    certify: tuple[tuple[str, Any], ...] = ()
    """Settings of :func:`certify_run` that differ from :data:`DEFAULTS`."""

    def settings(self) -> dict:
        """The certification settings of the trained runs, checked."""
        return check_settings(**dict(self.certify))


#: The chapter's sizes by profile. ``paper``: the solvers' and ``smfg certify``'s defaults;
#: ``quick``: the same checks, runs certified on the learning curves' grids (200 x 5, the
#: leader's grid on 60 assets); ``smoke``: coarse grids, so the page runs in a minute or two.
CHAPTER_PROFILES = {
    "smoke": ChapterProfile(grid=(200, 5), coarse_na=100, brock_mirman=(100, 300), timing_na=200,
                            best_response=(60, 3), schedule=(100, 3), schedule_eq=(60, 3),
                            certify=(("na", 60), ("ne", 3), ("grid_points", 2),
                                     ("grid_na", 40))),
    "quick": ChapterProfile(grid=(500, 7), coarse_na=200, brock_mirman=(200, 600), timing_na=300,
                            best_response=(150, 5), schedule=(200, 5), schedule_eq=(100, 7),
                            certify=(("na", 200), ("ne", 5), ("grid_na", 60))),
    "paper": ChapterProfile(grid=(500, 7), coarse_na=200, brock_mirman=(200, 600), timing_na=300,
                            best_response=(150, 5), schedule=(200, 5), schedule_eq=(100, 7)),
}  # fmt: skip

#: The page whose SMFRL runs the chapter certifies, and its row of them.
CHAPTER_RUNS = ("clearing_policies", "smfrl")
#: A median gain of the best response at most this (percent) counts as close to optimal.
CLOSE_PCT = 1.0
#: The fixed baselines the chapter certifies under the free market, by name.
BASELINES = {"bc": "cloned survey households (BC)", "fixed": "the fixed saving rule"}


def chapter_profile(profile: str) -> ChapterProfile:
    """The chapter's sizes at ``profile`` (a ValueError names the allowed ones)."""
    return CHAPTER_PROFILES[check_profile(profile)]


def chapter_requests(
    profile: str,
    seeds: Sequence[int] | int | None = None,
    sizes: Sequence[int] | None = None,
    objective: str = "output",
) -> list[RunRequest]:
    """The runs the chapter certifies: the SMFRL "-BC" runs of the `clearing` policy
    comparison (:data:`CHAPTER_RUNS`) whose leader learned ``objective``, for its sizes and
    the profile's seeds (or ``sizes``, ``seeds``): the very runs ``make runs`` trains for that
    page, so the chapter trains nothing of its own."""
    page, algo = CHAPTER_RUNS
    exp = get_experiment(page)
    if exp.objectives and objective not in exp.objectives:
        raise ValueError(f"objective = {objective!r}: allowed {list(exp.objectives)}")
    runs = exp.runs(profile, seeds=seeds, sizes=sizes)
    return [
        r
        for r in runs
        if r.algo == algo and dict(r.overrides).get("leader_reward", "gdp") == objective
    ]


def certify_chapter_runs(
    profile: str,
    root: str | Path = "results",
    seeds: Sequence[int] | int | None = None,
    sizes: Sequence[int] | None = None,
    objective: str = "output",
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """:func:`certify_run` of every run of :func:`chapter_requests` (trained first where the
    run store lacks one), with the profile's settings; cached in each run directory."""
    reqs = chapter_requests(profile, seeds, sizes, objective)
    results = train_requests(reqs, root, progress)
    st = chapter_profile(profile).settings()
    return [certify_run(res.run_dir, progress=progress, **st) for res in results]


def _flat(res: dict) -> dict:
    """One row of a certification result: the window's economy, the followers' figures
    (NaN where they were not certified, with the reason) and the leader's."""
    ep, fol, lead = res["episode"], res["followers"], res.get("leader", {})
    own = [r for r in lead.get("rows", []) if not r.get("on_grid")]
    nan = math.nan
    return {
        "n_households": int(res["n_households"]),
        "seed": int(res["seed"]),
        "years": int(ep["years"]),
        "r_pct": 100.0 * ep["r"],
        "K_over_Y": ep["K_over_Y"],
        "cev_median_pct": fol.get("cev_median_pct", nan),
        "cev_mean_pct": fol.get("cev_mean_pct", nan),
        "share_infinite": fol.get("share_infinite", nan),
        "loss_mean_pct": fol.get("loss_mean_pct", nan),
        "drift": fol.get("capital_drift", nan),
        "saving_gap": fol.get("saving_gap_mean", nan),
        "leader_return": ep["leader_return"],
        "best_return": lead.get("best", {}).get("leader_return", nan),
        "best_policy": lead.get("best", {}).get("policy", ""),
        "gap": lead.get("gap", nan),
        "own_br_return": own[0]["leader_return"] if own else nan,
        "note": fol.get("skipped", ""),
    }


def run_table(results: Sequence[dict]) -> pd.DataFrame:
    """One row per certified run (:func:`certify_run`'s results), by N and seed: the window's
    interest rate (percent) and capital-output ratio; the followers' consumption-equivalent
    gain of the best response (median and mean, percent; the share of states where it is
    infinite), the loss measure's mean, the window's capital drift and the followers' saving
    share minus the best response's; the leader's return, the best grid point's with
    households best-responding, the gap and the learned leader's own window-mean taxes with
    households best-responding; ``note``: why the followers were not certified."""
    rows = [{"run": Path(r["run_dir"]).name, **_flat(r)} for r in results]
    return pd.DataFrame(rows).sort_values(["n_households", "seed"], ignore_index=True)


def certify_baselines(
    profile: str,
    root: str | Path = "results",
    n_households: int = 100,
    seeds: Sequence[int] | int | None = None,
    objective: str = "output",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The chapter's baselines (:data:`BASELINES`) certified like the runs: the free market
    with the cloned survey households (the followers every "-BC" run starts from) and with
    the fixed saving rule of `clearing` (``FIXED_RULES``), ``n_households`` households, the
    profile's seeds, the leader's gap for ``objective``. One row per baseline and seed (the
    columns of :func:`run_table`, ``households`` naming the baseline); each cached in the
    run store's evaluations."""
    st = chapter_profile(profile).settings()
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    seeds = tuple(range(ARTEFACT_PROFILES[profile].seeds)) if seeds is None else tuple(seeds)
    bc_epochs = smfrl_config(profile).bc_epochs
    params = economy_params("clearing")
    saving, work = FIXED_RULES["clearing"]
    rows = []
    for kind, label in BASELINES.items():
        for seed in seeds:
            own = {"bc_epochs": bc_epochs} if kind == "bc" else {"rule": [saving, work]}
            spec = {"households": kind, "n_households": int(n_households), "seed": int(seed),
                    "settings": st, "leader_reward": objective, **own}  # fmt: skip

            def compute(kind=kind, seed=seed):
                if kind == "bc":
                    hh, rule = ClonedHouseholds("clearing", epochs=bc_epochs, seed=seed), None
                else:
                    hh, rule = FixedShares(saving, work), fixed_rule(saving, work)
                res = certify_policies(params, FreeMarket(), hh, int(n_households), int(seed),
                                       objective, progress, rule=rule, leader_mean=False,
                                       **st)  # fmt: skip
                return {"row": pd.DataFrame([_flat(res)])}

            row = cached_tables(root, "certify-baseline", spec, compute)["row"]
            rows.append(row.assign(households=label))
    return pd.concat(rows, ignore_index=True)


#: The columns of the chapter's tables and their headings.
TABLE_COLUMNS = {
    "households": "households",
    "n_households": "N",
    "seed": "seed",
    "run": "run",
    "years": "years",
    "r_pct": "r (%)",
    "K_over_Y": "K/Y",
    "cev_median_pct": "CEV median (%)",
    "cev_mean_pct": "CEV mean (%)",
    "share_infinite": "share inf",
    "loss_mean_pct": "loss mean (%)",
    "drift": "drift",
    "leader_return": "leader return",
    "best_return": "best grid",
    "gap": "gap",
    "own_br_return": "own taxes, BR households",
    "note": "not certified because",
}


def _g(x: Any, digits: int = 3) -> str:
    """A number in ``digits`` significant digits (from a thousand to a million: whole, with
    thousands separators); infinities as the sign, NaN as blank."""
    if isinstance(x, str):
        return x
    x = float(x)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if 1e3 <= abs(x) < 1e6:  # 2,000 and -1,543, not 2e+03 and -1.54e+03
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`run_table` or :func:`certify_baselines` for reading: numbers in three
    significant digits, the headings of :data:`TABLE_COLUMNS`, empty columns dropped."""
    cols = [c for c in TABLE_COLUMNS if c in table]
    out = table[cols].copy()
    for c in cols:
        if c not in ("households", "n_households", "seed", "run", "years", "note"):
            out[c] = out[c].map(_g)
    out = out.loc[:, [c for c in cols if (out[c].astype(str) != "").any()]]
    return out.rename(columns=TABLE_COLUMNS)


#: Fields of the solver checks that are shares or rates, glued in percent too (``_pct``).
PERCENT_FIELDS = ("r", "r_bound", "us_r", "risk_gap_max", "risk_gap_min", "bunched",
                  "share_binding", "share_infinite", "no_risk_value")  # fmt: skip


def check_facts(name: str, res: dict) -> dict[str, str]:
    """What the chapter glues from a solver check's result (:mod:`smfg.certify.checks`):
    ``<name>_<field>`` for every number, three significant digits (integers as they are;
    yes or no for a truth value), and ``<name>_<field>_pct`` (times 100) for the
    :data:`PERCENT_FIELDS`."""
    out = {}
    for k, v in res.items():
        if isinstance(v, bool):
            out[f"{name}_{k}"] = "yes" if v else "no"
            continue
        if not isinstance(v, int | float):
            continue
        out[f"{name}_{k}"] = str(v) if isinstance(v, int) else _g(v)
        if k in PERCENT_FIELDS:
            out[f"{name}_{k}_pct"] = _g(100.0 * v)
    return out


def _span(values, digits: int = 3) -> tuple[str, str]:
    vals = [float(v) for v in values if not math.isnan(float(v))]
    if not vals:
        return "n/a", "n/a"
    return _g(min(vals), digits), _g(max(vals), digits)


def run_facts(table: pd.DataFrame, baselines: pd.DataFrame, free_market_r: float) -> dict:
    """What the chapter states about the certified runs (:func:`run_table`) and the baselines
    (:func:`certify_baselines`), against the free market's stationary interest rate
    ``free_market_r`` (a rate, not percent). Keys ``cr_*`` (runs) and ``bl_*`` (baselines);
    ranges are min to max over the runs (over the certified ones for the followers' figures),
    counts are of runs; 'n/a' where there is nothing to state."""
    cert = table[table.note == ""] if len(table) else table
    out = {"cr_runs": str(len(table)), "cr_certified": str(len(cert)),
           "cr_skipped": str(len(table) - len(cert)),
           "cr_sizes": ", ".join(str(n) for n in sorted(set(table.n_households))),
           "cr_seeds": str(table.seed.nunique()) if len(table) else "0"}  # fmt: skip
    out["cr_r_lo"], out["cr_r_hi"] = _span(cert.r_pct)
    out["cr_r_above"] = str(int((cert.r_pct > 100.0 * free_market_r).sum()))
    out["cr_ky_lo"], out["cr_ky_hi"] = _span(cert.K_over_Y)
    out["cr_cev_lo"], out["cr_cev_hi"] = _span(cert.cev_median_pct)
    out["cr_loss_lo"], out["cr_loss_hi"] = _span(cert.loss_mean_pct)
    out["cr_close"] = str(int((cert.cev_median_pct <= CLOSE_PCT).sum()))
    out["cr_close_pct"] = _g(CLOSE_PCT)
    out["cr_inf"] = str(int(cert.cev_mean_pct.map(math.isinf).sum())) if len(cert) else "0"
    out["cr_too_little"] = str(int((cert.saving_gap < 0).sum()))
    pos = [v for v in cert.cev_median_pct if math.isfinite(v) and v > 0]
    out["cr_spread"] = _g(max(pos) / min(pos), 2) if len(pos) > 1 else "n/a"
    out["cr_ret_lo"], out["cr_ret_hi"] = _span(table.leader_return)
    out["cr_best_lo"], out["cr_best_hi"] = _span(table.best_return)
    out["cr_gap_lo"], out["cr_gap_hi"] = _span(table.gap)
    gaps = [g for g in table.gap if math.isfinite(g)]
    out["cr_gap_mean"] = _g(sum(gaps) / len(gaps)) if gaps else "n/a"
    out["cr_gap_pos"] = str(int((table.gap > 0).sum()))
    out["cr_own_lo"], out["cr_own_hi"] = _span(table.own_br_return)
    out["cr_own_below"] = str(int((table.own_br_return < table.best_return).sum()))
    out["cr_best_policies"] = "; ".join(sorted(set(table.best_policy) - {""})) or "n/a"
    for kind, key in (("bc", "bl_bc"), ("fixed", "bl_rule")):
        b = baselines[baselines.households == BASELINES[kind]]
        out[f"{key}_r_lo"], out[f"{key}_r_hi"] = _span(b.r_pct)
        out[f"{key}_ky_lo"], out[f"{key}_ky_hi"] = _span(b.K_over_Y)
        out[f"{key}_cev_lo"], out[f"{key}_cev_hi"] = _span(b.cev_median_pct)
        out[f"{key}_loss_lo"], out[f"{key}_loss_hi"] = _span(b.loss_mean_pct)
        out[f"{key}_gap_lo"], out[f"{key}_gap_hi"] = _span(b.gap)
    saving, work = FIXED_RULES["clearing"]
    out["bl_rule_saving_pct"], out["bl_rule_work"] = _g(100.0 * saving), _g(work)
    out["bl_seeds"] = str(baselines.seed.nunique()) if len(baselines) else "0"
    out["bl_n"] = ", ".join(str(n) for n in sorted(set(baselines.n_households))) or "n/a"
    return out


__all__ = [
    "BASELINES",
    "CHAPTER_PROFILES",
    "CHAPTER_RUNS",
    "CLOSE_PCT",
    "DEFAULTS",
    "MIN_WINDOW",
    "TABLE_COLUMNS",
    "ChapterProfile",
    "certify_baselines",
    "certify_chapter_runs",
    "certify_policies",
    "certify_run",
    "chapter_profile",
    "chapter_requests",
    "check_facts",
    "check_settings",
    "format_report",
    "format_table",
    "run_facts",
    "run_table",
]
