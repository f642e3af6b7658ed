"""Aggregation of the artefacts' cells: across-seed intervals, the paper beside ours, the
multi-objective score of Figure 4 (b), training curves, the headline ratios.

Pure pandas on the tidy tables of :mod:`smfg.paper.collection` (one row per cell, seed
and episode). A seed is the unit of replication: episodes are averaged within a seed first,
then the mean and a 95% interval are taken across seeds (book:model-evaluation), each within its
metric's range (:func:`smfg.stats.seed_interval`: a t-interval on the log scale for GDP, the logit
scale for Ginis and years / T, plain for welfare; :func:`interval_note` says so on a page).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from smfg.evaluate import episode_horizon
from smfg.stats import interval_method, mean_interval, metric_range, seed_interval, seed_spread

__all__ = [
    "METRIC_LABELS",
    "action_table",
    "bc_loss_table",
    "best_by_alpha",
    "share_summary",
    "TABLE_METRICS",
    "comparison_table",
    "curve_summary",
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
]

#: The five metrics of book:model-metrics, the columns of the paper's tables.
TABLE_METRICS = ("per_capita_gdp", "social_welfare", "income_gini", "wealth_gini", "years")
METRIC_LABELS = {
    "per_capita_gdp": "per-capita GDP",
    "social_welfare": "social welfare",
    "income_gini": "income Gini",
    "wealth_gini": "wealth Gini",
    "years": "years",
}
CELL = ("row", "setting")


def per_seed(
    episodes: pd.DataFrame, keys: Sequence[str] = CELL, metrics: Sequence[str] = TABLE_METRICS
) -> pd.DataFrame:
    """Each seed's mean over its episodes, per cell: keys, seed, metrics."""
    keys = list(keys)
    return episodes.groupby([*keys, "seed"], sort=False)[list(metrics)].mean().reset_index()


def summarise_cells(
    episodes: pd.DataFrame, keys: Sequence[str] = CELL, metrics: Sequence[str] = TABLE_METRICS
) -> pd.DataFrame:
    """Per cell: mean and 95% interval across seeds (``<m>``, ``<m>_lo``, ``<m>_hi``), the
    number of seeds, and the cell's descriptive columns (label, paper_row, n_households, bc)
    when present."""
    keys = list(keys)
    seeds = per_seed(episodes, keys, metrics)
    extra = [c for c in ("label", "paper_row", "n_households", "bc") if c in episodes.columns]
    extra = [c for c in extra if c not in keys]
    first = episodes.groupby(keys, sort=False)[extra].first() if extra else None
    horizons = _horizons(episodes, keys)
    rows = []
    for cell, df in seeds.groupby(keys, sort=False):
        cell = cell if isinstance(cell, tuple) else (cell,)
        row = dict(zip(keys, cell, strict=True))
        if first is not None:
            row.update(first.loc[cell if len(cell) > 1 else cell[0]].to_dict())
        T = horizons.get(cell)
        for m in metrics:
            mean, lo, hi = seed_interval(df[m].tolist(), m, T)
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = mean, lo, hi
            if metric_range(m).heavy_tailed:
                row[f"{m}_median"], row[f"{m}_min"], row[f"{m}_max"] = seed_spread(df[m])
        row["n_seeds"] = len(df)
        row["horizon"] = math.nan if T is None else T
        rows.append(row)
    return pd.DataFrame(rows)


def _horizons(episodes: pd.DataFrame, keys: Sequence[str]) -> dict[tuple, float]:
    """Each cell's horizon T (the ``horizon`` column's largest value), where known."""
    if "horizon" not in episodes.columns:
        return {}
    h = episodes.groupby(list(keys), sort=False)["horizon"].max()
    return {
        (k if isinstance(k, tuple) else (k,)): float(v) for k, v in h.items() if math.isfinite(v)
    }


def interval_note(table: pd.DataFrame, metrics: Sequence[str] | None = None) -> str:
    """The line a page prints under a table of intervals: across how many seeds and, per
    metric, how :func:`smfg.stats.seed_interval` bounded it; heavy-tailed metrics whose
    median and range the table holds (``<m>_median``) are named as shown beside the mean.

    ``table``: a summary with the seeds per cell (``n_seeds`` or ``seeds``) and, where the
    years are bounded by it, the horizon (``horizon``): :func:`summarise_cells`',
    :func:`leader_table`'s, :func:`~smfg.paper.curves.certified_table`'s, or a long
    one with ``metric`` and ``ci_method`` columns (:func:`smfg.evaluate.summarise`'s).
    ``metrics``: the ones shown (default :data:`TABLE_METRICS`, or a long table's).
    """
    col = "n_seeds" if "n_seeds" in table else "seeds"
    counts = sorted({int(n) for n in table[col]}) if col in table else []
    if not counts:
        return "no cell computed: no intervals"
    if counts[-1] < 2:
        return f"{counts[-1]} seed per cell: no intervals, means only"
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    horizon = float(table["horizon"].max()) if "horizon" in table else math.nan
    horizon = horizon if math.isfinite(horizon) else None
    long = {"metric", "ci_method"} <= set(table.columns)
    if metrics is None:
        metrics = list(dict.fromkeys(table["metric"])) if long else TABLE_METRICS
    methods = table.groupby("metric")["ci_method"].first().to_dict() if long else {}
    labels = {**LEADER_TABLE_METRICS, **METRIC_LABELS}
    by_method: dict[str, list[str]] = {}
    for m in metrics:
        how = methods.get(m) or interval_method(m, horizon)
        by_method.setdefault(how, []).append(labels.get(m, m))
    parts = "; ".join(f"{', '.join(ms)}: {how}" for how, ms in by_method.items())
    heavy = [labels.get(m, m) for m in metrics if f"{m}_median" in table]
    tail = (
        f". {', '.join(heavy)}: heavy-tailed across seeds, so the median [smallest, "
        "largest] of the seeds stands beside the mean"
        if heavy
        else ""
    )
    return f"95% intervals across {seeds} seeds, each within its range ({parts}){tail}."


def format_interval(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    """'mean [lo, hi]' in ``digits`` significant digits; the mean alone without an interval."""

    def f(x: float) -> str:
        return f"{x:.{digits}g}"

    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f(mean)
    return f"{f(mean)} [{f(lo)}, {f(hi)}]"


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


#: The columns of :func:`leader_table`, in order, with the book's names.
LEADER_TABLE_METRICS = {
    "per_capita_gdp": "output per household ($)",
    "welfare_ce_pct": "welfare, CE % vs free market",
    "income_gini": "income Gini",
    "wealth_gini": "wealth Gini",
    "years": "years",
    "leader_return": "leader's objective",
}


def _leader_seeds(episodes: pd.DataFrame, keys: list[str], baseline: str) -> pd.DataFrame:
    """Per ``keys`` and seed, the means of :func:`leader_table`'s metrics and the welfare in
    CE % relative to ``baseline``'s row of the same seed (and other keys)."""
    ms = ["per_capita_gdp", "welfare_ce", "income_gini", "wealth_gini", "years", "leader_return"]
    seeds = per_seed(episodes, keys, ms)
    group = [k for k in keys if k != "row"]
    base = seeds[seeds.row == baseline].set_index([*group, "seed"])["welfare_ce"]
    idx = pd.MultiIndex.from_frame(seeds[[*group, "seed"]]) if group else seeds["seed"]
    ref = base.reindex(idx).to_numpy()
    seeds["welfare_ce_pct"] = 100.0 * (seeds["welfare_ce"].to_numpy() / ref - 1.0)
    return seeds


def leader_table(
    episodes: pd.DataFrame, baseline: str = "free-market", keys: Sequence[str] = ("row",)
) -> pd.DataFrame:
    """What each leader is judged on, against one follower population: per ``keys`` (a
    row, and e.g. the setting), mean and 95% interval across seeds (within each metric's
    range, :func:`smfg.stats.seed_interval`) of output per household,
    utilitarian welfare in consumption-equivalent percent relative to ``baseline`` (each
    seed against the baseline of the same seed, so the same households and shocks), both
    Ginis, years survived and the leader's objective (``leader_return``: every row scored
    with the same reward). ``episodes``: :func:`smfg.paper.comparison.compare_leaders`'
    rows of one population (and one objective)."""
    keys = list(keys)
    seeds = _leader_seeds(episodes, keys, baseline)
    horizons = _horizons(episodes, keys)
    out = []
    labels = episodes.groupby(keys, sort=False)["label"].first() if "label" in episodes else None
    for cell, df in seeds.groupby(keys, sort=False):
        cell = cell if isinstance(cell, tuple) else (cell,)
        rec = dict(zip(keys, cell, strict=True))
        if labels is not None:
            rec["label"] = labels.loc[cell if len(cell) > 1 else cell[0]]
        T = horizons.get(cell)
        for m in LEADER_TABLE_METRICS:
            mean, lo, hi = seed_interval(df[m].tolist(), m, T)
            rec[m], rec[f"{m}_lo"], rec[f"{m}_hi"] = mean, lo, hi
            if metric_range(m).heavy_tailed:
                rec[f"{m}_median"], rec[f"{m}_min"], rec[f"{m}_max"] = seed_spread(df[m])
        rec["n_seeds"] = len(df)
        rec["horizon"] = math.nan if T is None else T
        out.append(rec)
    return pd.DataFrame(out)


def format_leader_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """:func:`leader_table` as a page shows it: setting, leader, 'mean [lo, hi]' per metric
    under the book's names (a heavy-tailed one also 'median [smallest, largest]'), seeds."""
    out = pd.DataFrame({k: table[k] for k in ("setting",) if k in table})
    out["leader"] = table["label"] if "label" in table else table["row"]
    for m, name in LEADER_TABLE_METRICS.items():
        out[name] = [
            format_interval(r[m], r[f"{m}_lo"], r[f"{m}_hi"], digits)
            for r in table.to_dict("records")
        ]
        if f"{m}_median" in table:
            out[f"{name}: median [range]"] = [
                format_interval(r[f"{m}_median"], r[f"{m}_min"], r[f"{m}_max"], digits)
                for r in table.to_dict("records")
            ]
    out["seeds"] = table["n_seeds"].astype(int)
    return out.reset_index(drop=True)


#: Table 3's fixed governments (rows of the registry's experiments)
FIXED_ROWS = ("free-market", "saez", "saez-paper", "us-federal-2022", "best-e6")
#: The fixed leaders the verdict compares the learned one with: the paper's classical method
#: (Saez), the 2022 US federal tax and the best E6 policy with households best-responding.
VERDICT_AGAINST = ("saez", "us-federal-2022", "best-e6")


def leader_facts(episodes: pd.DataFrame, learned_row: str = "smfrl") -> dict[str, str]:
    """The facts the `clearing` page states, from :func:`~smfg.paper.comparison.
    compare_leaders` episodes of both objectives (an ``objective`` column): at the largest
    setting and against the learned followers, the learned leader's welfare in CE % vs the
    free market (welfare objective) and its output objective beside the best fixed
    policy's, and the shortest evaluation episode of any learned leader. 'n/a' where the
    page did not run an objective or population."""
    out = {"cl_setting": "n/a"}
    learned = episodes[~episodes.row.isin(FIXED_ROWS)]
    out["cl_years_min_learned"] = f"{learned.years.min():.0f}" if len(learned) else "n/a"
    if not len(episodes):
        return out
    setting = episodes.setting.iloc[-1]
    out["cl_setting"] = setting
    for obj, metric, tag in (
        ("welfare_ce", "welfare_ce_pct", "welfare"),
        ("output", "leader_return", "output"),
    ):
        sel = episodes[
            (episodes.objective == obj)
            & (episodes.followers == "learned")
            & (episodes.setting == setting)
        ]
        keys = (
            f"cl_{tag}_smfg",
            f"cl_{tag}_best_fixed",
            f"cl_{tag}_best_fixed_policy",
            f"cl_{tag}_gain",
        )
        out.update(dict.fromkeys(keys, "n/a"))
        if not len(sel) or learned_row not in set(sel.row):
            continue
        tab = leader_table(sel).set_index("row")
        fixed = tab.loc[[r for r in FIXED_ROWS if r in tab.index]]
        best = fixed[metric].idxmax()
        r = tab.loc[learned_row]
        out[keys[0]] = format_interval(r[metric], r[f"{metric}_lo"], r[f"{metric}_hi"])
        out[keys[1]] = f"{fixed.loc[best, metric]:.3g}"
        out[keys[2]] = str(fixed.loc[best, "label"])
        out[keys[3]] = format_interval(*paired_gain(sel, learned_row, best, metric))
    return out


def paired_gain(
    episodes: pd.DataFrame, row: str, baseline: str, metric: str = "leader_return"
) -> tuple[float, float, float]:
    """Mean and 95% t-interval across seeds of ``row``'s ``metric`` minus ``baseline``'s, seed
    by seed (the same households and shocks: a paired comparison, which removes what the
    seeds' economies have in common). ``metric``: a column of :func:`leader_table`'s."""
    seeds = _leader_seeds(episodes, ["row"], "free-market").set_index(["row", "seed"])[metric]
    diff = (seeds.loc[row] - seeds.loc[baseline]).dropna()
    return mean_interval(diff.tolist())  # a difference is unbounded: the t-interval


def verdict_table(
    episodes: pd.DataFrame,
    learned_row: str = "smfrl",
    against: Sequence[str] = VERDICT_AGAINST,
) -> pd.DataFrame:
    """The paper's claims 2 and 3 in a market-clearing economy: per objective, follower
    population and setting, the learned leader against each fixed leader of ``against``,
    seed by seed (the same households and shocks; with exact households, each leader's own
    best-responding households): its output per household as a multiple of the fixed
    leader's, its welfare minus the fixed leader's in CE percentage points (both relative to
    the free market of the seed), and its objective minus the fixed leader's; each as the
    mean and 95% interval across seeds (the ratio's t-interval on the log scale, the
    differences' plain). ``episodes``: :func:`~smfg.paper.comparison.compare_leaders` rows
    with an ``objective`` column."""
    rows = []
    for (obj, pop, setting), sel in episodes.groupby(
        ["objective", "followers", "setting"], sort=False
    ):
        if learned_row not in set(sel.row):
            continue
        seeds = _leader_seeds(sel, ["row"], "free-market").set_index(["row", "seed"])
        mine = seeds.loc[learned_row]
        for base in against:
            if base not in set(sel.row):
                continue
            other = seeds.loc[base].reindex(mine.index)
            ratio = (mine.per_capita_gdp / other.per_capita_gdp).dropna().tolist()
            dw = (mine.welfare_ce_pct - other.welfare_ce_pct).dropna().tolist()
            dr = (mine.leader_return - other.leader_return).dropna().tolist()
            label = str(sel[sel.row == base].label.iloc[0])
            rec = {
                "objective": obj,
                "followers": pop,
                "setting": setting,
                "against": base,
                "label": label,
                "seeds": len(ratio),
            }
            for name, vals in (
                ("output_ratio", ratio),
                ("welfare_diff_pct", dw),
                ("objective_diff", dr),
            ):
                mean, lo, hi = seed_interval(vals, name)  # the ratio on the log scale
                rec[name], rec[f"{name}_lo"], rec[f"{name}_hi"] = mean, lo, hi
            rows.append(rec)
    return pd.DataFrame(rows)


def format_verdict_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """:func:`verdict_table` as the page shows it: 'mean [lo, hi]' per comparison."""
    out = table[["objective", "followers", "setting", "label", "seeds"]].rename(
        columns={"label": "learned leader against"}
    )
    names = {
        "output_ratio": "output per household, x the fixed leader's",
        "welfare_diff_pct": "welfare, CE points above the fixed leader",
        "objective_diff": "objective above the fixed leader",
    }
    for m, name in names.items():
        out[name] = [
            format_interval(a, b, c, digits)
            for a, b, c in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"], strict=True)
        ]
    return out


def verdict_facts(table: pd.DataFrame, followers: str = "exact") -> dict[str, str]:
    """What the verdict states, from :func:`verdict_table`: at the largest setting and with
    ``followers``, the learned leader's output as a multiple of each fixed leader's (output
    objective) and its welfare above each (welfare objective), as 'mean [lo, hi]'. Keys
    ``vd_<objective>_<against>`` (against: saez, us, e6), ``vd_setting`` and
    ``vd_followers``; 'n/a' where the page did not compute one."""
    tags = {"saez": "saez", "us-federal-2022": "us", "best-e6": "e6"}
    out = {"vd_setting": "n/a", "vd_followers": followers}
    for obj, metric in (("output", "output_ratio"), ("welfare_ce", "welfare_diff_pct")):
        for tag in tags.values():
            out[f"vd_{obj}_{tag}"] = "n/a"
        sel = (
            table[(table.objective == obj) & (table.followers == followers)]
            if len(table)
            else table
        )
        if not len(sel):
            continue
        setting = sel.setting.iloc[-1]
        out["vd_setting"] = str(setting)
        for _, r in sel[sel.setting == setting].iterrows():
            if r.against in tags:
                out[f"vd_{obj}_{tags[r.against]}"] = format_interval(
                    r[metric], r[f"{metric}_lo"], r[f"{metric}_hi"]
                )
    return out
