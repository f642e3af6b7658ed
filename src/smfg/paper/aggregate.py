"""Aggregation of the artefacts' cells: the paper beside ours, the multi-objective score of
Figure 4 (b), training curves, the headline ratios, behaviour cloning's losses and the actions'
distributions, the fixed policies' lines beside the curves.

Pure pandas on the tidy tables of :mod:`smfg.paper.collection`. The intervals across seeds
are :mod:`smfg.paper.cells`', the leaders' tables :mod:`smfg.paper.leaders`'; both are
re-exported here, so that ``aggregate`` stays the one name a page imports for its tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from smfg.evaluate import episode_horizon
from smfg.paper.cells import (
    CELL,
    LEADER_TABLE_METRICS,
    METRIC_LABELS,
    TABLE_METRICS,
    format_interval,
    interval_note,
    per_seed,
    summarise_cells,
)
from smfg.paper.leaders import (
    FIXED_ROWS,
    VERDICT_AGAINST,
    format_leader_table,
    format_verdict_table,
    leader_facts,
    leader_table,
    paired_gain,
    verdict_facts,
    verdict_table,
)
from smfg.stats import mean_interval, metric_range, seed_interval

__all__ = [
    "METRIC_LABELS",
    "action_table",
    "bc_loss_table",
    "best_by_alpha",
    "share_summary",
    "TABLE_METRICS",
    "comparison_table",
    "curve_summary",
    "fixed_references",
    "format_interval",
    "headline_ratios",
    "interval_note",
    "leader_table",
    "leader_facts",
    "paired_gain",
    "format_leader_table",
    "FIXED_ROWS",
    "LEADER_TABLE_METRICS",
    "multi_objective",
    "paper_note",
    "per_seed",
    "summarise_cells",
    "CELL",
    "VERDICT_AGAINST",
    "format_verdict_table",
    "verdict_facts",
    "verdict_table",
]


def paper_note(ours_gdp: float, paper_gdp: float, ours_years: float, paper_years: float) -> str:
    """Where our per-capita GDP and the paper's differ, in words."""
    if not math.isfinite(paper_gdp):
        return "no paper value"
    if not math.isfinite(ours_gdp):
        return "not computed"
    ratio = ours_gdp / paper_gdp
    if 0.5 <= ratio <= 2:
        return "same order"
    if math.isfinite(paper_years) and ours_years < 2 <= paper_years:
        return f"ours ends in year 1 (x{ratio:.2g})"
    if math.isfinite(paper_years) and ours_years >= 2 > paper_years:
        return f"the paper's ends in year 1 (x{ratio:.2g})"
    return f"ours x{ratio:.2g} the paper's"


def comparison_table(
    summary: pd.DataFrame,
    rows: Sequence,
    settings: Sequence,
    paper: pd.DataFrame | None = None,
    missing: Sequence = (),
    metrics: Sequence[str] = TABLE_METRICS,
) -> pd.DataFrame:
    """The table a page shows: per setting and row, ours (mean [95% interval] across seeds)
    beside the paper's value for each metric, the number of seeds and a note. A heavy-tailed
    metric (per-capita GDP) also shows the median [smallest, largest] of the seeds.

    ``rows`` and ``settings`` are the experiment's (:class:`~smfg.paper.artefacts.Row`,
    :class:`~smfg.paper.artefacts.Setting`), in the order shown; ``paper`` is long
    (paper_row, setting, metric, value); rows in ``missing`` read "not yet available".
    """
    missing_keys = {r.key for r in missing}
    lookup = {}
    if paper is not None and len(paper):
        lookup = {(r.paper_row, r.setting, r.metric): r.value for r in paper.itertuples()}
    ours = {(r["row"], r["setting"]): r for r in summary.to_dict("records")}
    out = []
    for s in settings:
        for row in rows:
            if row.sizes is not None and s.n_households not in row.sizes:
                continue
            prow = row.paper_row or row.label
            rec = {"setting": s.label, "row": row.label}
            cell = ours.get((row.key, s.label))
            for m in metrics:
                p = lookup.get((prow, s.label, m), math.nan)
                if cell is not None:
                    rec[f"{METRIC_LABELS[m]}: ours"] = format_interval(
                        cell[m], cell[f"{m}_lo"], cell[f"{m}_hi"]
                    )
                elif row.key in missing_keys:
                    rec[f"{METRIC_LABELS[m]}: ours"] = "not yet available"
                else:
                    rec[f"{METRIC_LABELS[m]}: ours"] = "not run"
                if metric_range(m).heavy_tailed:
                    spread = [
                        cell.get(f"{m}_{k}", math.nan) if cell is not None else math.nan
                        for k in ("median", "min", "max")
                    ]
                    rec[f"{METRIC_LABELS[m]}: median [range]"] = format_interval(*spread)
                rec[f"{METRIC_LABELS[m]}: paper"] = f"{p:.3g}" if math.isfinite(p) else ""
            rec["seeds"] = int(cell["n_seeds"]) if cell is not None else 0
            if cell is not None:
                rec["note"] = paper_note(
                    cell["per_capita_gdp"],
                    lookup.get((prow, s.label, "per_capita_gdp"), math.nan),
                    cell["years"],
                    lookup.get((prow, s.label, "years"), math.nan),
                )
            elif row.key in missing_keys:
                rec["note"] = f"algorithm {row.algo!r} is not registered yet"
            else:
                rec["note"] = ""
            out.append(rec)
    return pd.DataFrame(out)


def multi_objective(
    episodes: pd.DataFrame,
    alphas: Sequence[float] = tuple(range(11)),
    keys: Sequence[str] = ("label", "setting"),
) -> pd.DataFrame:
    """Figure 4 (b): ``log(GDP) + sign * alpha * wealth Gini`` per seed, then the mean and 95%
    interval across seeds, for each alpha and both signs.

    ``sign = +1`` is the paper's score (it rewards inequality: a higher Gini raises it);
    ``sign = -1`` rewards equality. GDP is each seed's mean per-capita GDP (natural log).
    Returns keys, sign, objective (a label), alpha, mean, lo, hi.
    """
    seeds = per_seed(episodes, keys, ("per_capita_gdp", "wealth_gini"))
    log_gdp = np.log(seeds["per_capita_gdp"].clip(lower=np.finfo(float).tiny))
    rows = []
    for sign, name in ((1, "paper: log GDP + alpha Gini"), (-1, "equality: log GDP - alpha Gini")):
        for a in alphas:
            score = log_gdp + sign * float(a) * seeds["wealth_gini"]
            df = seeds[list(keys)].assign(score=score)
            for cell, g in df.groupby(list(keys), sort=False):
                cell = cell if isinstance(cell, tuple) else (cell,)
                mean, lo, hi = mean_interval(g.score.tolist())  # unbounded: the t-interval
                rows.append(
                    {
                        **dict(zip(keys, cell, strict=True)),
                        "sign": sign,
                        "objective": name,
                        "alpha": float(a),
                        "mean": mean,
                        "lo": lo,
                        "hi": hi,
                    }
                )
    return pd.DataFrame(rows)


def curve_summary(
    curves: pd.DataFrame,
    metrics: Sequence[str],
    keys: Sequence[str] = ("label", "setting"),
    horizon: float | None = None,
) -> pd.DataFrame:
    """Training curves across seeds: per keys, epoch and metric the mean and 95% interval
    (within the metric's range; ``horizon``: the episodes' T, which bounds the years, by
    default the ``horizon`` column's where there is one).
    Returns keys, epoch, metric, mean, lo, hi, n_seeds."""
    horizon = episode_horizon(curves) if horizon is None else horizon
    rows = []
    for cell, g in curves.groupby([*keys, "epoch"], sort=False):
        for m in metrics:
            vals = g[m].dropna().tolist()
            if not vals:
                continue
            mean, lo, hi = seed_interval(vals, m, horizon)
            rows.append(
                {
                    **dict(zip([*keys, "epoch"], cell, strict=True)),
                    "metric": m,
                    "mean": mean,
                    "lo": lo,
                    "hi": hi,
                    "n_seeds": len(vals),
                }
            )
    return pd.DataFrame(rows)


def fixed_references(summary: pd.DataFrame, rows: Sequence, metrics: Sequence[str]) -> pd.DataFrame:
    """The fixed policies' dashed lines of a training-curve figure (Figures 2 and 3): from
    :func:`summarise_cells`' table, each fixed row's across-seed mean of each metric per
    setting; ``rows``: the experiment's rows, of which those whose ``mode()`` is 'fixed' are
    drawn (a learned row's fallback policy among them while its algorithm is not registered).
    Returns setting, label, metric, mean."""
    fixed = [r.key for r in rows if r.mode() == "fixed"]
    return summary[summary.row.isin(fixed)].melt(
        id_vars=["setting", "label"], value_vars=list(metrics), var_name="metric", value_name="mean"
    )


def headline_ratios(
    summary: pd.DataFrame,
    paper: pd.DataFrame | None = None,
    numerator: str = "smfrl",
    denominators: Sequence[str] = ("free-market", "saez", "saez-paper", "us-federal-2022"),
) -> pd.DataFrame:
    """The abstract's claims as ratios: the numerator row's per-capita GDP over each other
    row's, per setting, ours (ratio of the across-seed means) beside the paper's.

    The paper's abstract claims "fourfold" over classical methods and "nineteenfold" over the
    2022 US federal tax.
    """
    lookup = {}
    if paper is not None:
        lookup = {
            (r.paper_row, r.setting): r.value
            for r in paper.itertuples()
            if r.metric == "per_capita_gdp"
        }
    rows = []
    for setting, g in summary.groupby("setting", sort=False):
        g = g.set_index("row")
        if numerator not in g.index:
            continue
        top = g.loc[numerator]
        for d in denominators:
            if d not in g.index:
                continue
            bot = g.loc[d]
            p_top = lookup.get((top.get("paper_row", ""), setting), math.nan)
            p_bot = lookup.get((bot.get("paper_row", ""), setting), math.nan)
            rows.append(
                {
                    "setting": setting,
                    "ratio": f"{top.label} / {bot.label}",
                    "ours": top.per_capita_gdp / bot.per_capita_gdp,
                    "paper": p_top / p_bot,
                }
            )
    return pd.DataFrame(rows, columns=["setting", "ratio", "ours", "paper"])


def best_by_alpha(
    scores: pd.DataFrame, keys: Sequence[str] = ("setting", "objective")
) -> pd.DataFrame:
    """The policy with the highest mean score at each alpha (Figure 4 b): keys, alpha, best,
    score."""
    rows = []
    for cell, g in scores.groupby([*keys, "alpha"], sort=False):
        top = g.loc[g["mean"].idxmax()]
        rows.append(
            {
                **dict(zip([*keys, "alpha"], cell, strict=True)),
                "best": top.label,
                "score": top["mean"],
            }
        )
    return pd.DataFrame(rows)


def share_summary(
    groups: pd.DataFrame,
    episodes: pd.DataFrame,
    metrics: Sequence[str] = TABLE_METRICS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 5's two tables, each seed's mean over its episodes then the mean and 95%
    interval across seeds (the metrics' within their ranges, the groups' quantities plain):
    (share, group, quantity, mean, lo, hi, n_seeds) and (share, metric, mean, lo, hi,
    n_seeds)."""
    T = episode_horizon(episodes)

    def across(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        seeds = df.groupby([*keys, "seed"], sort=False)["value"].mean().reset_index()
        rows = []
        for cell, g in seeds.groupby(keys, sort=False):
            m = dict(zip(keys, cell, strict=True)).get("metric")
            mean, lo, hi = seed_interval(g.value.tolist(), m, T)
            rows.append(
                {
                    **dict(zip(keys, cell, strict=True)),
                    "mean": mean,
                    "lo": lo,
                    "hi": hi,
                    "n_seeds": len(g),
                }
            )
        return pd.DataFrame(rows)

    long = episodes.melt(
        id_vars=["share", "seed", "episode"],
        value_vars=list(metrics),
        var_name="metric",
        value_name="value",
    )
    return across(groups, ["share", "group", "quantity"]), across(long, ["share", "metric"])


def bc_loss_table(losses: pd.DataFrame) -> pd.DataFrame:
    """Figure 7 in numbers, one row per network: loss kind, training and validation loss
    before training and after the last epoch, the relative fall of the validation loss, the
    validation-training gap relative to the training loss, and the fit's wall time."""
    last = int(losses.epoch.max())
    rows = []
    for net, g in losses.groupby("network", sort=False):
        v = g.set_index(["split", "epoch"]).value
        t0, t1 = v.get(("train", 0), math.nan), v.get(("train", last), math.nan)
        v0, v1 = v.get(("validation", 0), math.nan), v.get(("validation", last), math.nan)
        rows.append(
            {
                "network": net,
                "loss": g.loss.iloc[0],
                "epochs": last,
                "train before": t0,
                "train after": t1,
                "validation before": v0,
                "validation after": v1,
                "validation fall": 1 - v1 / v0,
                "gap": abs(v1 - t1) / abs(t1),
                "fit, s": g.wall_s.iloc[0],
            }
        )
    return pd.DataFrame(rows)


def action_table(dists: pd.DataFrame, low: float = 0.001, high: float = 0.99) -> pd.DataFrame:
    """The action distributions of book:learning-bc in numbers
    (:func:`~smfg.paper.figure_data.action_distributions`' frame): one row per source, food
    share and action: the weighted mean, median, 10th and 90th percentiles, and the weighted
    shares of rows at the lower and upper clips (``low``, ``high``: the economy's action
    range)."""
    rows = []
    keys = ["source", "food_share", "action"]
    for key, g in dists.groupby(keys, sort=False, dropna=False):
        x, w = g.value.to_numpy(np.float64), g.weight.to_numpy(np.float64)
        order = np.argsort(x, kind="stable")
        xs, cw = x[order], np.cumsum(w[order]) / w.sum()

        def q(p: float, xs=xs, cw=cw) -> float:
            return float(xs[min(np.searchsorted(cw, p), len(xs) - 1)])

        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "mean": float(np.average(x, weights=w)),
                "p10": q(0.1),
                "median": q(0.5),
                "p90": q(0.9),
                "at lower clip": float(w[x <= low + 1e-6].sum() / w.sum()),
                "at upper clip": float(w[x >= high - 1e-6].sum() / w.sum()),
                "rows": len(g),
            }
        )
    return pd.DataFrame(rows)
