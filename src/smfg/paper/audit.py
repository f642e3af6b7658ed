"""The audit of the `taxai` dynamics (book page ``audit_taxai_dynamics``): its runs, its scan
of saving shares and the facts the page glues, each a tested function so that the page only
calls them and shows what they return.

Four fixed-rule runs (:func:`audit_runs`): `taxai` with the original's high rule (save 99%,
work 90%) and a low saving share, the same high rule in `clearing`, and a `clearing` rule that
saves 80% of cash on hand and works a third of the time. :func:`taxai_facts` reads the
`taxai` runs' first and last years (the survey's asset pool, initial K/Y and interest income,
GDP); :func:`saving_scan` and :func:`scan_facts` find the lowest saving share at which a
`taxai` economy survives its first years; :func:`clearing_facts` reads the `clearing` runs and
the rule's aggregate steady state (book:model-clearing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smfg.config import economy_params
from smfg.economy.data import load_household_table
from smfg.paper.simulate import SimulationResult, simulate_fixed_rule

__all__ = [
    "CLEARING_HIGH",
    "CLEARING_RULE",
    "TAXAI_HIGH",
    "TAXAI_LOW",
    "AuditRules",
    "audit_runs",
    "clearing_facts",
    "facts_table",
    "rule_steady_state",
    "saving_scan",
    "scan_facts",
    "summary_table",
    "taxai_facts",
    "trajectories",
]

#: Labels of the four runs, in the page's order.
TAXAI_HIGH = "taxai: save 99%, work 90%"
TAXAI_LOW = "taxai: save 50%, work 90%"
CLEARING_HIGH = "clearing: save 99%, work 90% (taxai rule)"
CLEARING_RULE = "clearing: save 80% of cash, work 1/3"


@dataclass(frozen=True)
class AuditRules:
    """The fixed rules of the audit (the page's parameters): saving and work shares."""

    high_saving: float = 0.99
    """The original's saving share (of income in `taxai`)."""
    high_work: float = 0.9
    """The original's work share."""
    low_saving: float = 0.5
    """A lower saving share in `taxai` (the goods constraint C + G <= Y binds)."""
    clearing_saving: float = 0.8
    """Share of cash on hand saved by the `clearing` rule."""
    clearing_work: float = 1 / 3
    """Work share of the `clearing` rule."""

    def __post_init__(self) -> None:
        for name in ("high_saving", "high_work", "low_saving", "clearing_saving", "clearing_work"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} = {v!r} is out of range: allowed [0, 1]")


def audit_runs(
    n_households: int = 100, steps: int = 300, seed: int = 0, rules: AuditRules | None = None
) -> dict[str, SimulationResult]:
    """The page's four fixed-rule runs, by label (:data:`TAXAI_HIGH` ... :data:`CLEARING_RULE`)."""
    r = rules or AuditRules()
    return {
        TAXAI_HIGH: simulate_fixed_rule(
            "taxai", n_households, r.high_saving, r.high_work, steps, seed
        ),
        TAXAI_LOW: simulate_fixed_rule(
            "taxai", n_households, r.low_saving, r.high_work, steps, seed
        ),
        CLEARING_HIGH: simulate_fixed_rule(
            "clearing", n_households, r.high_saving, r.high_work, steps, seed
        ),
        CLEARING_RULE: simulate_fixed_rule(
            "clearing", n_households, r.clearing_saving, r.clearing_work, steps, seed
        ),
    }


def summary_table(runs: dict[str, SimulationResult]) -> pd.DataFrame:
    """One column per run: the five metrics, termination and the identities' residuals, as
    strings of four significant digits."""
    table = pd.concat({k: v.summary for k, v in runs.items()}, names=["run"]).droplevel(1)
    shown = table.drop(columns=["economy", "n_households"])
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map("{:.4g}".format)
    shown["termination"] = shown["termination"].map(", ".join)
    return shown.T


def facts_table(facts: dict) -> pd.DataFrame:
    """A facts dict as the page shows it: one row per key, numbers to four significant
    digits, strings as they are."""
    shown = {k: v if isinstance(v, str) else f"{v:.4g}" for k, v in facts.items()}
    return pd.Series(shown, name="value").to_frame()


def trajectories(runs: dict[str, SimulationResult], variant: str) -> dict[str, pd.DataFrame]:
    """The per-step tables of one economy's runs, by the rule part of their labels (what
    :func:`smfg.plotting.plot_audit` draws)."""
    return {
        k.split(": ", 1)[1]: v.trajectory for k, v in runs.items() if k.startswith(f"{variant}:")
    }


def taxai_facts(runs: dict[str, SimulationResult]) -> dict[str, float]:
    """What the `taxai` runs show at their first and last years (glue key: value): the mean
    asset of the survey rows `taxai` draws from (all but the last, in dollars), the drawn
    households' mean initial assets (read back from interest income: r A / Y x Y / r), K0 per
    household, interest income / output and K/Y in year 1, K/Y in the last year of the high
    rule, per-capita GDP and years of both runs, and consumption / output in year 1 of the
    low rule."""
    hi, lo = runs[TAXAI_HIGH], runs[TAXAI_LOW]
    h, first = hi.trajectory, hi.trajectory.iloc[0]
    rows = load_household_table().asset[:-1]
    r = economy_params("taxai").r
    return {
        "asset_mean_pool": float(np.mean(rows)),
        "asset_mean_drawn": float(first.interest_income_over_Y * first.Y_per_capita / r),
        "K0_per_capita": float(first.K_per_capita),
        "interest_over_Y_1": float(first.interest_income_over_Y),
        "KY_first": float(first.K_over_Y),
        "KY_last": float(h.K_over_Y.iloc[-1]),
        "last_year_high": int(h.t.iloc[-1]),
        "gdp_per_capita_1": float(first.Y_per_capita),
        "gdp_per_capita_last": float(h.Y_per_capita.iloc[-1]),
        "C_over_Y_low_1": float(lo.trajectory.C_over_Y.iloc[0]),
        "gdp_high": float(hi.summary.per_capita_gdp.iloc[0]),
        "gdp_low": float(lo.summary.per_capita_gdp.iloc[0]),
        "years_low": int(lo.summary.years.iloc[0]),
    }


def saving_scan(
    n_households: int = 100,
    work: float = 0.9,
    steps: int = 5,
    seed: int = 0,
    shares: np.ndarray | None = None,
) -> pd.DataFrame:
    """Years survived (of ``steps``) and termination reasons of `taxai` economies whose
    households all save ``s`` and work ``work``, for each ``s`` of ``shares`` (default 0.50,
    0.51, ..., 0.99). Columns: saving, years, termination (reasons joined by ", ")."""
    if shares is None:
        shares = np.round(np.arange(0.50, 0.995, 0.01), 2)
    rows = []
    for s in shares:
        res = simulate_fixed_rule("taxai", n_households, float(s), work, steps, seed)
        rows.append(
            {
                "saving": float(s),
                "years": int(res.summary.years.iloc[0]),
                "termination": ", ".join(res.summary.termination.iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def scan_facts(scan: pd.DataFrame, steps: int = 5) -> dict:
    """What a :func:`saving_scan` shows: ``threshold``, the lowest share surviving all
    ``steps`` years (NaN if none); ``monotone``, whether every share above it survives too;
    ``below_reason`` and ``below_years``, how the episode of the share just below it ends;
    ``goods_max``, the highest share at which the goods constraint fires (NaN if none);
    ``failed_n``, ``failed_max_years`` and ``failed_capital``: how many shares fail, the most
    years one of them lasts, and how many of them end by negative capital."""
    survives = scan.years == steps
    threshold = float(scan.saving[survives].min()) if survives.any() else float("nan")
    monotone = bool(survives[scan.saving >= threshold].all()) if survives.any() else False
    below = scan[scan.saving < threshold].tail(1)
    goods = scan[scan.termination.str.contains("goods_market")]
    failed = scan[~survives]
    return {
        "threshold": threshold,
        "monotone": monotone,
        "below_reason": below.termination.iloc[0] if len(below) else "none",
        "below_years": int(below.years.iloc[0]) if len(below) else 0,
        "goods_max": float(goods.saving.max()) if len(goods) else float("nan"),
        "failed_n": int(len(failed)),
        "failed_max_years": int(failed.years.max()) if len(failed) else 0,
        "failed_capital": int(failed.termination.str.contains("negative_capital").sum()),
    }


def rule_steady_state(saving: float, variant: str = "clearing") -> tuple[float, float]:
    """(K/Y, r) of the aggregate steady state of ``A' = s (W L + (1 + r) A)`` with K = A (no
    bonds), no government and a Cobb-Douglas firm (book:model-clearing):
    ``K/Y = s (1 - alpha) + s (1 + alpha Y/K - delta) K/Y``, so
    ``K/Y = s / (1 - s + s delta)`` and ``r = alpha / (K/Y) - delta``."""
    if not 0.0 < saving < 1.0:
        raise ValueError(f"saving = {saving!r}: allowed (0, 1) for a steady state")
    p = economy_params(variant)
    ky = saving / (1.0 - saving + saving * p.delta)
    return ky, p.alpha / ky - p.delta


def clearing_facts(runs: dict[str, SimulationResult], rules: AuditRules | None = None) -> dict:
    """What the `clearing` runs show (glue key: value): the rule's K/Y and r in its first and
    last years, the largest K/Y, last / first per-capita output, interest income / output in
    year 1 and its GDP; the `taxai` rule in `clearing`: years survived, K/Y, r and
    termination in its last year, income Gini; and the rule's steady state
    (:func:`rule_steady_state`)."""
    r = rules or AuditRules()
    cl, hi = runs[CLEARING_RULE], runs[CLEARING_HIGH]
    t, ht = cl.trajectory, hi.trajectory
    ky_ss, r_ss = rule_steady_state(r.clearing_saving)
    return {
        "cl_KY_first": float(t.K_over_Y.iloc[0]),
        "cl_KY_last": float(t.K_over_Y.iloc[-1]),
        "cl_r_first": float(t.r.iloc[0]),
        "cl_r_last": float(t.r.iloc[-1]),
        "cl_last_year": int(t.t.iloc[-1]),
        "cl_KY_max": float(t.K_over_Y.max()),
        "cl_Y_ratio": float(t.Y_per_capita.iloc[-1] / t.Y_per_capita.iloc[0]),
        "cl_interest_1": float(t.interest_income_over_Y.iloc[0]),
        "cl_gdp": float(cl.summary.per_capita_gdp.iloc[0]),
        "clhi_years": int(hi.summary.years.iloc[0]),
        "clhi_KY": float(ht.K_over_Y.iloc[-1]),
        "clhi_r": float(ht.r.iloc[-1]),
        "clhi_reason": ", ".join(hi.summary.termination.iloc[0]),
        "clhi_income_gini": float(hi.summary.income_gini.iloc[0]),
        "cl_KY_ss": ky_ss,
        "cl_r_ss": r_ss,
    }
