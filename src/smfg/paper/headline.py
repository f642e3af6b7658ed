"""The paper's headline numbers beside ours: the table behind the results summary page.

Every headline number of the paper, one row per quantity and economy:

- **Table 1, SMFRL**: per-capita GDP, social welfare and years survived in its three settings
  (the paper gives these three metrics for SMFRL exactly; its Ginis only as a range);
- **Table 3**: per-capita GDP of its six policies at N = 100 and 1,000 (where the paper gives
  one; our "Saez (paper's form)" is compared with the paper's Saez, as on the Table 3 page);
- **the abstract's ratios**: SMFG's per-capita GDP over Saez's ("a fourfold increase over
  classical economic methods") and over the 2022 US federal tax's ("nineteenfold"), at
  N = 100, where the paper's Table 3 bears them out.

Ours come from the same cells and the same aggregation as the pages that compute them
(:func:`smfg.paper.aggregate.summarise_cells` over the episodes of
:func:`~smfg.paper.collection.collect` and
:func:`~smfg.paper.comparison.compare_leaders`), so a number here is the number printed
there. The `clearing` rows are the counterparts of Table 3 and of the ratios in the
market-clearing economy (the `clearing` page's output objective, against the learned
followers); the paper's value beside them is still its `taxai` value.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from smfg.algos.smfrl import smfrl_config
from smfg.config import PROFILES
from smfg.paper.aggregate import interval_note, per_seed, summarise_cells
from smfg.paper.artefacts import ARTEFACT_PROFILES, Experiment, get_experiment
from smfg.paper.values import PAPER_VALUES

__all__ = [
    "ABSTRACT_RATIOS",
    "HEADLINE_COLUMNS",
    "TABLE1_METRICS",
    "TABLE1_ROWS",
    "headline_facts",
    "headline_note",
    "headline_table",
    "profile_facts",
    "profile_table",
    "table1_experiment",
]

#: The columns of :func:`headline_table`.
HEADLINE_COLUMNS = (
    "quantity",
    "source",
    "row",
    "label",
    "setting",
    "metric",
    "economy",
    "paper",
    "ours",
    "low",
    "high",
    "median",
    "n_seeds",
    "horizon",
    "interval",
)

#: Table 1's metrics the paper gives for SMFRL, in its order.
TABLE1_METRICS = ("per_capita_gdp", "social_welfare", "years")
#: Table 1's rows with headline numbers: SMFRL's (the paper gives the others' only in Table 1).
TABLE1_ROWS = ("smfrl",)

#: The abstract's claims: (denominator row, the factor the abstract states, its words).
ABSTRACT_RATIOS: tuple[tuple[str, float, str], ...] = (
    ("saez", 4.0, "fourfold"),
    ("saez-paper", 4.0, "fourfold"),
    ("us-federal-2022", 19.0, "nineteenfold"),
)

_METRIC_WORDS = {
    "per_capita_gdp": "per-capita GDP",
    "social_welfare": "social welfare",
    "years": "years",
    "ratio": "ratio",
}
_LEVEL = "95% interval across seeds"
_RATIO = "range of the seeds' ratios"


def _quantities(source: str) -> list[dict]:
    """The paper's headline quantities of a table, in the order of its page: (row, label,
    setting, metric, paper value) for every row of ours that stands for a paper row with a
    value (Table 1: SMFRL only)."""
    name, table, metrics = {
        "Table 1": ("table1_algorithms", "table1", TABLE1_METRICS),
        "Table 3": ("table3_policies", "table3", ("per_capita_gdp",)),
    }[source]
    exp = get_experiment(name)
    paper = {(r.paper_row, r.setting, r.metric): r.value for r in PAPER_VALUES[table].itertuples()}
    out = []
    for s in exp.settings:
        for row in exp.rows:
            if source == "Table 1" and row.key not in TABLE1_ROWS:
                continue
            if row.sizes is not None and s.n_households not in row.sizes:
                continue
            for m in metrics:
                p = paper.get((row.paper_row or row.label, s.label, m), math.nan)
                if math.isfinite(p):
                    out.append(
                        {
                            "row": row.key,
                            "label": row.label,
                            "setting": s.label,
                            "metric": m,
                            "paper": float(p),
                        }
                    )
    return out


def table1_experiment() -> Experiment:
    """Table 1's experiment with only its headline rows (:data:`TABLE1_ROWS`): what the
    results summary collects, so that it trains and evaluates no algorithm whose numbers the
    headline does not read. Settings, economy and training overrides are Table 1's."""
    exp = get_experiment("table1_algorithms")
    return replace(exp, rows=tuple(r for r in exp.rows if r.key in TABLE1_ROWS))


def _levels(episodes: pd.DataFrame | None, source: str, economy: str, keep_missing: bool):
    """One row per paper quantity of ``source``, ours from ``episodes`` (NaN where its cell
    was not computed; such rows are left out unless ``keep_missing``)."""
    summary = summarise_cells(episodes) if episodes is not None and len(episodes) else None
    ours = (
        {} if summary is None else {(r["row"], r["setting"]): r for r in summary.to_dict("records")}
    )
    out = []
    for q in _quantities(source):
        cell = ours.get((q["row"], q["setting"]))
        if cell is None and not keep_missing:
            continue
        m = q["metric"]
        out.append(
            {
                "quantity": f"{source}: {q['label']}, {q['setting']}, {_METRIC_WORDS[m]}",
                "source": source,
                **q,
                "economy": economy,
                "ours": cell[m] if cell else math.nan,
                "low": cell[f"{m}_lo"] if cell else math.nan,
                "high": cell[f"{m}_hi"] if cell else math.nan,
                "median": cell.get(f"{m}_median", math.nan) if cell else math.nan,
                "n_seeds": int(cell["n_seeds"]) if cell else 0,
                "horizon": cell.get("horizon", math.nan) if cell else math.nan,
                "interval": _LEVEL,
            }
        )
    return out


def _ratios(
    episodes: pd.DataFrame | None, economy: str, keep_missing: bool, setting: str = "N=100"
) -> list[dict]:
    """The abstract's ratios: SMFG's per-capita GDP over each denominator's at ``setting``, as
    the ratio of the across-seed means (the Table 3 page's), with the range of the seeds'
    own ratios (SMFG's seed s over the denominator's seed s: the same households)."""
    cells = None
    if episodes is not None and len(episodes):
        cells = episodes[episodes.setting == setting]
    summary = seeds = None
    if cells is not None and len(cells):
        summary = summarise_cells(cells).set_index("row")
        seeds = per_seed(cells, metrics=("per_capita_gdp",))
    labels = {r.key: r.label for r in get_experiment("table3_policies").rows}
    out = []
    for den, factor, words in ABSTRACT_RATIOS:
        ours = low = high = math.nan
        n = 0
        if summary is not None and {"smfrl", den} <= set(summary.index):
            ours = summary.loc["smfrl", "per_capita_gdp"] / summary.loc[den, "per_capita_gdp"]
            top = seeds[seeds.row == "smfrl"].set_index("seed").per_capita_gdp
            bot = seeds[seeds.row == den].set_index("seed").per_capita_gdp
            both = top.index.intersection(bot.index)
            each = (top[both] / bot[both]).dropna()
            n = len(each)
            if n >= 2:
                low, high = float(each.min()), float(each.max())
        elif not keep_missing:
            continue
        label = f"{labels['smfrl']} / {labels[den]}"
        out.append(
            {
                "quantity": f"abstract: {label}, {setting} ({words})",
                "source": "abstract",
                "row": den,
                "label": label,
                "setting": setting,
                "metric": "ratio",
                "economy": economy,
                "paper": factor,
                "ours": float(ours),
                "low": low,
                "high": high,
                "median": math.nan,
                "n_seeds": n,
                "horizon": math.nan,
                "interval": _RATIO,
            }
        )
    return out


def headline_table(
    table1: pd.DataFrame | None,
    table3: pd.DataFrame | None,
    clearing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every headline number of the paper beside ours, tidy: one row per quantity and economy.

    ``table1``, ``table3``: the episodes of the Table 1 and Table 3 pages
    (``collection.collect(...).episodes``, `taxai`); ``clearing``: the episodes of the
    `clearing` page's comparison of Table 3's rows for one objective and one follower
    population (``comparison.compare_leaders(...).episodes``), or None. Returns
    :data:`HEADLINE_COLUMNS`: quantity (a label), source ('Table 1', 'Table 3', 'abstract'),
    row, label, setting, metric ('per_capita_gdp', 'social_welfare', 'years' or 'ratio'),
    economy, paper (the paper's value; for a ratio the abstract's factor), ours (mean across
    seeds; for a ratio the ratio of the means), low and high (the 95% interval across seeds
    of the pages' tables; for a ratio the range of the seeds' ratios; NaN with fewer than two
    seeds), median (the seeds' median where the pages show it beside a heavy-tailed mean),
    n_seeds, horizon (the episodes' T, which bounds the years), interval (what low and high
    are).

    Every paper quantity has its `taxai` row, with ours NaN where its cell was not computed;
    a `clearing` row is there where its cell was computed. Rows: Table 1, Table 3, the
    abstract; within each, the page's order of settings and rows, `taxai` before `clearing`.
    """
    rows = _levels(table1, "Table 1", "taxai", True)
    rows += _levels(table3, "Table 3", "taxai", True)
    if clearing is not None:
        rows += _levels(clearing, "Table 3", "clearing", False)
    rows += _ratios(table3, "taxai", True)
    if clearing is not None:
        rows += _ratios(clearing, "clearing", False)
    out = pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))
    key = out.quantity.map({q: i for i, q in enumerate(dict.fromkeys(out.quantity))})
    return (
        out.assign(_k=key)
        .sort_values("_k", kind="stable")
        .drop(columns="_k")
        .reset_index(drop=True)
    )


def headline_facts(table: pd.DataFrame) -> dict[str, str]:
    """What the results summary page says in words, from :func:`headline_table`'s table (the
    dict the page glues): how many of the paper's headline numbers there are, how many of
    ours in `taxai` are computed, within a factor of 2 of the paper's (``hl_same``) or more
    than a factor of 10 from it (``hl_far``), how many have a `clearing` counterpart, and
    the abstract's ratios of ours in each economy ('n/a' where not computed)."""
    taxai = table[table.economy == "taxai"]
    done = taxai[taxai.ours.notna()]
    off = done.ours / done.paper  # a value of ours that is not positive is far off
    facts = {
        "hl_quantities": str(table.quantity.nunique()),
        "hl_computed": str(len(done)),
        "hl_same": str(int(((off >= 0.5) & (off <= 2.0)).sum())),
        "hl_far": str(int(((off > 10.0) | (off < 0.1)).sum())),
        "hl_clearing": str(int((table.economy == "clearing").sum())),
    }
    ratios = table[table.metric == "ratio"]
    for den, _, _ in ABSTRACT_RATIOS:
        for economy in ("taxai", "clearing"):
            r = ratios[(ratios.row == den) & (ratios.economy == economy)].ours
            value = float(r.iloc[0]) if len(r) else math.nan
            key = f"hl_ratio_{den.replace('-', '_')}_{economy}"
            facts[key] = f"{value:.3g}" if math.isfinite(value) else "n/a"
    return facts


def headline_note(table: pd.DataFrame) -> str:
    """The line under the results summary's figure: how the intervals of
    :func:`headline_table`'s levels are made (:func:`~smfg.paper.cells.interval_note`), over
    the levels of ours that were computed (``n_seeds`` > 0). A ratio's range is the seeds'
    ratios, not an interval across seeds, so the ratios are left out."""
    levels = table[(table.metric != "ratio") & (table.n_seeds > 0)]
    # Table 3's level (per-capita GDP) is one of Table 1's
    return interval_note(levels, list(TABLE1_METRICS))


def profile_table() -> pd.DataFrame:
    """What each profile computes, from the configuration itself: SMFRL's epochs, steps per
    epoch and follower batch, the training seeds of a table's cell, and each seed's
    evaluation episodes and their cap in years (the economy's horizon where the profile sets
    none). One row per profile of :data:`smfg.config.PROFILES`."""
    rows = []
    for name in PROFILES:
        cfg, art = smfrl_config(name), ARTEFACT_PROFILES[name]
        horizon = cfg.params.T
        rows.append(
            {
                "profile": name,
                "SMFRL epochs": cfg.epochs,
                "steps per epoch": cfg.steps_per_epoch,
                "follower batch": cfg.follower_batch,
                "seeds per cell": art.seeds,
                "evaluation episodes per seed": art.episodes,
                "evaluation years (at most)": art.steps if art.steps is not None else horizon,
            }
        )
    return pd.DataFrame(rows)


def profile_facts(profile: str) -> dict[str, str]:
    """The results summary page's sentence on its profile (the dict it glues): ``hl_profile``,
    the profile's name, and ``hl_epochs``, SMFRL's training epochs in it
    (:func:`profile_table`'s)."""
    table = profile_table().set_index("profile")
    return {"hl_profile": profile, "hl_epochs": str(table.loc[profile, "SMFRL epochs"])}
