"""Cells across seeds: each seed's mean over its episodes, the mean and a 95% interval
across seeds per cell (each within its metric's range), the line a page prints under such a
table, and the metrics' names in the book.

Pure pandas on the tidy tables of :mod:`smfg.paper.collection` (one row per cell, seed
and episode). A seed is the unit of replication: episodes are averaged within a seed first,
then the mean and a 95% interval are taken across seeds (book:model-evaluation), each within its
metric's range (:func:`smfg.stats.seed_interval`: a t-interval on the log scale for GDP, the logit
scale for Ginis and years / T, plain for welfare; :func:`interval_note` says so on a page).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from smfg.stats import interval_method, metric_range, seed_interval, seed_spread

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


#: The columns of :func:`leader_table`, in order, with the book's names.
LEADER_TABLE_METRICS = {
    "per_capita_gdp": "output per household ($)",
    "welfare_ce_pct": "welfare, CE % vs free market",
    "income_gini": "income Gini",
    "wealth_gini": "wealth Gini",
    "years": "years",
    "leader_return": "leader's objective",
}


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
    horizons = cell_horizons(episodes, keys)
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


def cell_horizons(episodes: pd.DataFrame, keys: Sequence[str]) -> dict[tuple, float]:
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
    """'mean [lo, hi]' in ``digits`` significant digits; the mean alone without an interval;
    'inf' (or '-inf') for an infinite mean (a seed infinitely exploitable makes the mean so),
    'n/a' for none (NaN)."""

    def f(x: float) -> str:
        return f"{x:.{digits}g}"

    if math.isnan(mean):
        return "n/a"
    if math.isinf(mean):
        return "inf" if mean > 0 else "-inf"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f(mean)
    return f"{f(mean)} [{f(lo)}, {f(hi)}]"
