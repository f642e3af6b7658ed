"""The certification chapter (book:certification): its sizes by profile, the runs it
certifies, the fixed baselines certified like them, its tables and the facts it glues.

A run's certification itself (:func:`~smfg.runs.certify.certify_run`, cached in the run
directory) and that of any pair of policies (:func:`~smfg.runs.certify.certify_policies`) are
run machinery, in :mod:`smfg.runs.certify`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smfg.algos.smfrl import smfrl_config
from smfg.certify import fixed_rule
from smfg.config import check_profile, economy_params
from smfg.paper.artefacts import ARTEFACT_PROFILES, RunRequest, get_experiment
from smfg.paper.collection import train_requests
from smfg.paper.fixed_policies import FIXED_RULES
from smfg.policies import FixedShares, FreeMarket
from smfg.profiles import ALL_PROFILES, ChapterSizes
from smfg.runs.certify import certify_policies, certify_run, check_settings
from smfg.runs.evaluations import cached_tables
from smfg.runs.learned import ClonedHouseholds

# --- the certification chapter: its sizes by profile, its runs, its tables ------------------


@dataclass(frozen=True)
class ChapterProfile(ChapterSizes):
    """The chapter's sizes at a profile (:class:`smfg.profiles.ChapterSizes`) and the checked
    certification settings of its trained runs."""

    def settings(self) -> dict:
        """The certification settings of the trained runs, checked."""
        return check_settings(**dict(self.certify))


#: The chapter's sizes by profile: a view of :class:`smfg.profiles.Profile` (``chapter``).
#: ``paper``: the solvers' and ``smfg certify``'s defaults; ``quick``: the same checks, runs
#: certified on the learning curves' grids (200 x 5, the leader's grid on 60 assets); ``smoke``:
#: coarse grids, so the page runs in a minute or two.
CHAPTER_PROFILES = {p.name: ChapterProfile(**vars(p.chapter)) for p in ALL_PROFILES}

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
    """:func:`~smfg.runs.certify.certify_run` of every run of :func:`chapter_requests`
    (trained first where the run store lacks one), with the profile's settings; cached in each
    run directory."""
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
    """One row per certified run (:func:`~smfg.runs.certify.certify_run`'s results), by N and
    seed: the window's interest rate (percent) and capital-output ratio; the followers'
    consumption-equivalent gain of the best response (median and mean, percent; the share of
    states where it is infinite), the loss measure's mean, the window's capital drift and the
    followers' saving share minus the best response's; the leader's return, the best grid
    point's with households best-responding, the gap and the learned leader's own window-mean
    taxes with households best-responding; ``note``: why the followers were not certified."""
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
            spec = {
                "households": kind,
                "n_households": int(n_households),
                "seed": int(seed),
                "settings": st,
                "leader_reward": objective,
                **own,
            }

            def compute(kind=kind, seed=seed):
                if kind == "bc":
                    hh, rule = ClonedHouseholds("clearing", epochs=bc_epochs, seed=seed), None
                else:
                    hh, rule = FixedShares(saving, work), fixed_rule(saving, work)
                res = certify_policies(
                    params,
                    FreeMarket(),
                    hh,
                    int(n_households),
                    int(seed),
                    objective,
                    progress,
                    rule=rule,
                    leader_mean=False,
                    **st,
                )
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
PERCENT_FIELDS = (
    "r",
    "r_bound",
    "us_r",
    "risk_gap_max",
    "risk_gap_min",
    "bunched",
    "share_binding",
    "share_infinite",
    "no_risk_value",
)


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
    out = {
        "cr_runs": str(len(table)),
        "cr_certified": str(len(cert)),
        "cr_skipped": str(len(table) - len(cert)),
        "cr_sizes": ", ".join(str(n) for n in sorted(set(table.n_households))),
        "cr_seeds": str(table.seed.nunique()) if len(table) else "0",
    }
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
    "TABLE_COLUMNS",
    "ChapterProfile",
    "certify_baselines",
    "certify_chapter_runs",
    "chapter_profile",
    "chapter_requests",
    "check_facts",
    "format_table",
    "run_facts",
    "run_table",
]
