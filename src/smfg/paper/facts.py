"""What the artefact pages state in their prose: one function per page (or per section of a
page) returning the dict the page glues, glue key -> value.

Each function takes the frames the page already computes (the comparison table and cell
summary of :mod:`smfg.paper.aggregate`, the episodes, curves, losses and actions of
:mod:`smfg.paper.collection` and :mod:`smfg.paper.figure_data`) and formats each value as the
prose reads it; a page glues the dict with :func:`smfg.paper.pages.glue_facts`. A value the
page's run does not have reads 'n/a' (a count reads 0), so a page with a missing row still
renders. Lists of numbers ('a, b, c') have three significant digits and follow the frame's
order of settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

__all__ = [
    "FIG5_GROUPS",
    "FIG5_NO_HALF",
    "TABLE3_FIXED_ROWS",
    "fig2_facts",
    "fig3_facts",
    "fig4_ranking_facts",
    "fig4_seed_facts",
    "fig5_facts",
    "fig6_facts",
    "fig7_action_facts",
    "fig7_loss_facts",
    "last_epoch_table",
    "table1_facts",
    "table3_cloned_facts",
    "table3_facts",
    "table3_rule_facts",
]

#: The fixed policies of Table 3 (its rows that learn nothing).
TABLE3_FIXED_ROWS = ("free-market", "saez", "saez-paper", "us-federal-2022")
#: The note of :func:`~smfg.paper.aggregate.paper_note` for a GDP within a factor of 2
#: of the paper's, and the start of the one for an economy of ours that ends in its first year.
SAME_ORDER = "same order"
OURS_YEAR1 = "ours ends in year 1"


def _joined(values: Iterable[float]) -> str:
    """'a, b, c' in three significant digits; 'n/a' when there is none."""
    return ", ".join(f"{v:.3g}" for v in values) or "n/a"


def _fmt(value: float, spec: str, present: bool = True) -> str:
    """``value`` formatted by ``spec`` ('.3g', '.0%', ...), or 'n/a' when not ``present``."""
    return format(value, spec) if present else "n/a"


def _rows(summary: pd.DataFrame, rows: Sequence[str]) -> pd.DataFrame:
    """The cells of ``summary`` (one per row and setting) whose row is one of ``rows``."""
    if "row" not in summary.columns:
        return pd.DataFrame(columns=["row", "setting", "years", "per_capita_gdp"])
    return summary[summary.row.isin(list(rows))]


def _comparison_counts(table: pd.DataFrame, prefix: str) -> dict[str, int]:
    """``<prefix>_cells``: the cells of a :func:`~smfg.paper.aggregate.comparison_table`
    computed (at least one seed); ``<prefix>_same``: those within a factor of 2 of the paper's
    per-capita GDP; ``<prefix>_year1``: those of ours that end in their first year where the
    paper's lives on."""
    done = table[table.seeds > 0] if "seeds" in table.columns else table.iloc[0:0]
    notes = done.note.astype(str) if len(done) else pd.Series([], dtype=str)
    return {
        f"{prefix}_cells": int(len(done)),
        f"{prefix}_same": int((notes == SAME_ORDER).sum()),
        f"{prefix}_year1": int(notes.str.startswith(OURS_YEAR1).sum()),
    }


def table1_facts(
    table: pd.DataFrame, summary: pd.DataFrame, missing: Sequence, curves: pd.DataFrame
) -> dict:
    """The Table 1 page (``table1_algorithms``).

    ``table``: :func:`~smfg.paper.aggregate.comparison_table`; ``summary``:
    :func:`~smfg.paper.aggregate.summarise_cells`; ``missing``: the rows not computed
    (``Collected.missing``, each with a ``label``); ``curves``:
    :func:`~smfg.paper.figure_data.training_curves` of the page's runs.

    - ``t1_cells``, ``t1_same``, ``t1_year1`` (int): cells computed, within a factor of 2 of
      the paper's per-capita GDP, and ours ending in year 1 where the paper's lives on.
    - ``t1_missing``: the labels of the rows not yet available, or 'none'.
    - ``t1_rule_years``, ``t1_rule_gdp``: Rule-based's years and per-capita GDP per setting.
    - ``t1_smfrl_years``, ``t1_smfrl_gdp``: SMFRL's, likewise.
    - ``t1_smfrl_epochs`` (int): the last epoch of the training curves (0 with no run).
    """
    rule = _rows(summary, ["rule-based"])
    smfrl = _rows(summary, ["smfrl"])
    return {
        **_comparison_counts(table, "t1"),
        "t1_missing": ", ".join(r.label for r in missing) or "none",
        "t1_rule_years": _joined(rule.years),
        "t1_rule_gdp": _joined(rule.per_capita_gdp),
        "t1_smfrl_years": _joined(smfrl.years),
        "t1_smfrl_gdp": _joined(smfrl.per_capita_gdp),
        "t1_smfrl_epochs": int(curves.epoch.max()) if len(curves) else 0,
    }


def table3_facts(table: pd.DataFrame, summary: pd.DataFrame, episodes: pd.DataFrame) -> dict:
    """The Table 3 page (``table3_policies``), its comparison with the paper.

    ``table`` and ``summary`` as for :func:`table1_facts`; ``episodes``: the page's
    evaluation episodes (``Collected.episodes``: row, seed, episode, the metrics).

    - ``t3_cells``, ``t3_same``, ``t3_year1`` (int): as ``t1_*`` of :func:`table1_facts`.
    - ``t3_fixed_years_max``: the most years a fixed-policy cell (:data:`TABLE3_FIXED_ROWS`)
      lasts on average.
    - ``t3_year1_share``: the share of the fixed policies' episodes that end in their first
      year ('91%'); ``t3_year1_gdp``: their mean per-capita GDP.
    - ``t3_smfg_years``, ``t3_smfg_gdp``: SMFG's (the ``smfrl`` row's) years and per-capita
      GDP per setting.
    """
    fixed = _rows(summary, TABLE3_FIXED_ROWS)
    fixed_eps = _rows(episodes, TABLE3_FIXED_ROWS)
    year1 = fixed_eps[fixed_eps.years == 1]
    smfg = _rows(summary, ["smfrl"])
    return {
        **_comparison_counts(table, "t3"),
        "t3_fixed_years_max": _fmt(fixed.years.max(), ".3g", len(fixed) > 0),
        "t3_year1_share": _fmt(len(year1) / max(len(fixed_eps), 1), ".0%", len(fixed_eps) > 0),
        "t3_year1_gdp": _fmt(year1.per_capita_gdp.mean(), ".3g", len(year1) > 0),
        "t3_smfg_years": _joined(smfg.years),
        "t3_smfg_gdp": _joined(smfg.per_capita_gdp),
    }


def table3_cloned_facts(shares: pd.DataFrame) -> dict:
    """The Table 3 page's cloned households, from
    :func:`~smfg.paper.figure_data.cloned_shares` (one row per household: saving_share,
    work_share): ``t3_bc_saving`` and ``t3_bc_work``, the mean saving and work shares, and
    ``t3_bc_saving_p90``, the 90th percentile of the saving share (two decimals)."""
    have = len(shares) > 0
    return {
        "t3_bc_saving": _fmt(shares.saving_share.mean(), ".2f", have),
        "t3_bc_saving_p90": _fmt(shares.saving_share.quantile(0.9), ".2f", have),
        "t3_bc_work": _fmt(shares.work_share.mean(), ".2f", have),
    }


def table3_rule_facts(grid_summary: pd.DataFrame) -> dict:
    """The Table 3 page's fixed policies against household rules, from
    :func:`~smfg.paper.fixed_policies.summarise_grid` (households, years,
    per_capita_gdp per cell): with the fixed rule, the fewest years (``t3_rule_years_min``,
    whole years) and the lowest per-capita GDP (``t3_rule_gdp_min``) of any cell; with the
    survey households, the range of years (``t3_survey_years``: 'lo to hi')."""
    rule = grid_summary[grid_summary.households == "fixed"]
    survey = grid_summary[grid_summary.households == "survey"]
    years = f"{survey.years.min():.3g} to {survey.years.max():.3g}" if len(survey) else "n/a"
    return {
        "t3_rule_years_min": _fmt(rule.years.min(), ".0f", len(rule) > 0),
        "t3_rule_gdp_min": _fmt(rule.per_capita_gdp.min(), ".3g", len(rule) > 0),
        "t3_survey_years": years,
    }


def last_epoch_table(curves: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of :func:`~smfg.paper.aggregate.curve_summary`'s curves (the
    largest epoch of any run): the across-seed mean of each metric (columns), by setting and
    label (index, sorted); empty when there is no curve."""
    if not len(curves):
        return pd.DataFrame()
    last = curves[curves.epoch == curves.epoch.max()]
    return last.pivot_table(index=["setting", "label"], columns="metric", values="mean")


def _label_column(table: pd.DataFrame, label: str, column: str) -> list[float]:
    """``column`` of ``label``'s rows of a :func:`last_epoch_table`, by setting; [] without."""
    if not len(table) or label not in table.index.get_level_values("label"):
        return []
    return list(table.xs(label, level="label")[column])


def fig2_facts(curves: pd.DataFrame) -> dict:
    """The Figure 2 page (``fig2_training_curves``), from the training curves'
    :func:`~smfg.paper.aggregate.curve_summary`: ``f2_epochs`` (int), the last epoch,
    and ``f2_smfrl_gdp``, SMFRL's per-capita GDP there, per setting in the order of
    :func:`last_epoch_table`."""
    table = last_epoch_table(curves)
    return {
        "f2_epochs": int(curves.epoch.max()) if len(curves) else 0,
        "f2_smfrl_gdp": _joined(_label_column(table, "SMFRL", "per_capita_gdp")),
    }


def fig3_facts(curves: pd.DataFrame, refs: pd.DataFrame) -> dict:
    """The Figure 3 page (``fig3_policy_curves``), from the curves'
    :func:`~smfg.paper.aggregate.curve_summary` and the fixed policies' dashed lines
    ``refs`` (setting, label, metric, mean): ``f3_epochs`` (int), the last epoch;
    ``f3_smfg_years``, SMFG's years there per setting; ``f3_fixed_years``, the longest-lived
    fixed policy's years per setting (settings sorted)."""
    years = refs[refs.metric == "years"].groupby("setting")["mean"].max()
    return {
        "f3_epochs": int(curves.epoch.max()) if len(curves) else 0,
        "f3_fixed_years": _joined(years),
        "f3_smfg_years": _joined(_label_column(last_epoch_table(curves), "SMFG", "years")),
    }


def fig4_seed_facts(seeds_table: pd.DataFrame) -> dict:
    """The Figure 4 page (``fig4_efficiency_equity``), panel (a), from
    :func:`~smfg.paper.aggregate.per_seed`'s table of every policy and seed:
    ``f4_gini_lo`` and ``f4_gini_hi``, the smallest and largest wealth Gini (three decimals),
    and ``f4_gdp_span``, the largest per-capita GDP over the smallest."""
    have = len(seeds_table) > 0
    gdp = seeds_table.per_capita_gdp
    return {
        "f4_gini_lo": _fmt(seeds_table.wealth_gini.min(), ".3f", have),
        "f4_gini_hi": _fmt(seeds_table.wealth_gini.max(), ".3f", have),
        "f4_gdp_span": _fmt(gdp.max() / gdp.min(), ".3g", have),
    }


def fig4_ranking_facts(best: pd.DataFrame) -> dict:
    """The Figure 4 page, panel (b), from :func:`~smfg.paper.aggregate.best_by_alpha`:
    ``f4_changes`` (int), the number of (setting, objective) panels in which the best policy
    is not the same at every alpha."""
    if not len(best):
        return {"f4_changes": 0}
    return {"f4_changes": int(best.groupby(["setting", "objective"]).best.nunique().gt(1).sum())}


#: The two household types of Figure 5 (``figure_data.household_share``'s groups).
FIG5_GROUPS = ("SMFG", "real-data (BC)")
#: What Figure 5's facts of the 0.5 share read when the run has none.
FIG5_NO_HALF = "n/a (no 50% share in this run)"


def fig5_facts(groups: pd.DataFrame, aggregates: pd.DataFrame) -> dict:
    """The Figure 5 page (``fig5_smfg_household_share``), from
    :func:`~smfg.paper.aggregate.share_summary`'s two tables.

    - ``f5_u_smfg``, ``f5_u_bc``: an SMFG and a real-data household's utility per year at a
      share of 0.5 (three significant digits); ``f5_s_smfg``, ``f5_s_bc``: their saving shares
      (two decimals); each reads :data:`FIG5_NO_HALF` when the run has no 0.5 share with both
      types.
    - ``f5_gdp_0``, ``f5_years_0``: per-capita GDP and years at the smallest share (no SMFG
      household when the shares start at 0); ``f5_gdp_1``, ``f5_years_1``: at the largest.
    """
    out = {}
    half = groups[groups.share == 0.5].pivot_table(index="group", columns="quantity", values="mean")
    both = set(FIG5_GROUPS) <= set(half.index)
    smfg, bc = FIG5_GROUPS
    for key, group, quantity, spec in (
        ("f5_u_smfg", smfg, "utility", ".3g"),
        ("f5_u_bc", bc, "utility", ".3g"),
        ("f5_s_smfg", smfg, "saving_share", ".2f"),
        ("f5_s_bc", bc, "saving_share", ".2f"),
    ):
        out[key] = format(half.loc[group, quantity], spec) if both else FIG5_NO_HALF
    table = aggregates.pivot_table(index="share", columns="metric", values="mean")
    for key, metric, i in (
        ("f5_gdp_0", "per_capita_gdp", 0),
        ("f5_gdp_1", "per_capita_gdp", -1),
        ("f5_years_0", "years", 0),
        ("f5_years_1", "years", -1),
    ):
        have = metric in table.columns and len(table) > 0
        out[key] = f"{table[metric].iloc[i]:.3g}" if have else "n/a"
    return out


def fig6_facts(seeds_table: pd.DataFrame) -> dict:
    """The Figure 6 page (``fig6_algorithm_efficiency_equity``), from
    :func:`~smfg.paper.aggregate.per_seed`'s table (setting, label, seed,
    per_capita_gdp, years): ``f6_top``, the highest-GDP seed of each setting (settings
    sorted), 'N=100: MADDPG (seed 1, 1.63e+05 dollars, 1 years); ...', or 'n/a'."""
    if not len(seeds_table):
        return {"f6_top": "n/a"}
    top = seeds_table.loc[seeds_table.groupby("setting").per_capita_gdp.idxmax()]
    return {
        "f6_top": "; ".join(
            f"{r.setting}: {r.label} (seed {r.seed}, {r.per_capita_gdp:.3g} "
            f"dollars, {r.years:.3g} years)"
            for r in top.itertuples()
        )
    }


def fig7_loss_facts(table: pd.DataFrame) -> dict:
    """The Figure 7 page (``fig7_bc_loss``), its losses, from
    :func:`~smfg.paper.aggregate.bc_loss_table`: ``f7_epochs`` (int), the epochs
    trained; ``f7_drop_min`` and ``f7_drop_max``, the smallest and largest relative fall of a
    network's validation loss ('32%'); ``f7_gap``, the largest gap between validation and
    training loss relative to the training loss."""
    have = len(table) > 0
    return {
        "f7_epochs": int(table.epochs.max()) if have else 0,
        "f7_drop_min": _fmt(table["validation fall"].min(), ".0%", have),
        "f7_drop_max": _fmt(table["validation fall"].max(), ".0%", have),
        "f7_gap": _fmt(table.gap.max(), ".0%", have),
    }


def fig7_action_facts(actions: pd.DataFrame) -> dict:
    """The Figure 7 page, the survey's actions beside the cloned households', from
    :func:`~smfg.paper.aggregate.action_table`.

    - ``f7_sav_lo``, ``f7_sav_hi``: the smallest and largest of the survey's mean saving
      shares across food shares; ``f7_sav_clip_lo``, ``f7_sav_clip_hi``: the smallest and
      largest share of survey households at the lower clip of the saving share ('36%').
    - ``f7_work_none``: the share of survey households at the lower clip of the work share;
      ``f7_work_median``: the survey's median work share.
    - ``f7_cl_sav``: the cloned households' mean saving share; ``f7_cl_work_p10``,
      ``f7_cl_work_p90``: the 10th and 90th percentiles of their work share.
    """
    survey = actions[actions.source == "survey"]
    sav = survey[survey.action == "saving share"]
    work = survey[survey.action == "work share"]
    cl = actions[actions.source == "cloned"].set_index("action")
    out = {
        "f7_sav_lo": _fmt(sav["mean"].min(), ".2f", len(sav) > 0),
        "f7_sav_hi": _fmt(sav["mean"].max(), ".2f", len(sav) > 0),
        "f7_sav_clip_lo": _fmt(sav["at lower clip"].min(), ".0%", len(sav) > 0),
        "f7_sav_clip_hi": _fmt(sav["at lower clip"].max(), ".0%", len(sav) > 0),
    }
    w = work.iloc[0] if len(work) else None
    out["f7_work_none"] = _fmt(w["at lower clip"], ".0%") if w is not None else "n/a"
    out["f7_work_median"] = _fmt(w["median"], ".2f") if w is not None else "n/a"
    for key, action, column in (
        ("f7_cl_sav", "saving share", "mean"),
        ("f7_cl_work_p10", "work share", "p10"),
        ("f7_cl_work_p90", "work share", "p90"),
    ):
        out[key] = _fmt(cl.loc[action, column], ".2f") if action in cl.index else "n/a"
    return out
