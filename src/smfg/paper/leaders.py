"""The leaders' tables: each leader against the same followers, seed by seed against its own
free market (:func:`leader_table`), paired gains, the facts the `clearing` page states, and
the verdict of the learned leader against the fixed ones (:func:`verdict_table`).

Built on :mod:`smfg.paper.cells` (episodes averaged within a seed, intervals across seeds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from smfg.paper.cells import LEADER_TABLE_METRICS, cell_horizons, format_interval, per_seed
from smfg.stats import mean_interval, metric_range, seed_interval, seed_spread


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
    horizons = cell_horizons(episodes, keys)
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
