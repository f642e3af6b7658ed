"""The paper's Table 3 rows that need no learning: fixed government policies against fixed
household rules, in both economies, with the paper's numbers beside ours (the paper's Table 3).

A grid of (variant, N, government policy, household rule) cells, each evaluated by
:func:`smfg.evaluate.evaluate` (seeds x episodes in one batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd

from smfg.config import check_profile, economy_params
from smfg.evaluate import episode_horizon, evaluate, government_policy
from smfg.policies import FixedShares, SurveyReplay, elasticity_from_flat_tax_runs
from smfg.profiles import ALL_PROFILES, GridProfile
from smfg.stats import seed_interval

__all__ = [
    "FIXED_RULES",
    "PAPER_ROW",
    "PAPER_TABLE3",
    "PROFILES",
    "GridProfile",
    "compare_rules_with_paper",
    "compare_with_paper",
    "flat_tax_elasticity",
    "household_rule",
    "policy_specs",
    "run_grid",
    "summarise_grid",
]

#: The paper's Table 3: per-capita GDP at N = 100 and 1000, years at N = 100.
PAPER_TABLE3 = pd.DataFrame(
    {
        "policy": ["Free Market", "Saez", "US Federal", "AI Economist-BC", "AI Economist", "SMFG"],
        "gdp_100": [1.37e5, 2.34e12, 4.88e11, 4.24e12, 1.26e5, 1.01e13],
        "gdp_1000": [1.41e5, 6.35e11, 1.41e5, float("nan"), float("nan"), 9.68e12],
        "years_100": [1.1, 300, 289.55, 299.55, 1, 299.89],
    }
)

#: Our government policies and the paper's row each stands for.
PAPER_ROW = {
    "free-market": "Free Market",
    "us-federal-2022": "US Federal",
    "saez-paper": "Saez",
    "saez": "Saez",
}

#: The fixed household rule of each economy (book:model-household-rules).
FIXED_RULES = {"taxai": (0.99, 0.9), "clearing": (0.8, 1.0 / 3.0)}


#: How much of the grid each profile runs: a view of :class:`smfg.profiles.Profile`
#: (``fixed_policies``).
PROFILES = {p.name: p.fixed_policies for p in ALL_PROFILES}


def policy_specs(elasticities: Sequence[float]) -> list[tuple[str, str, float | None]]:
    """(label, policy name, elasticity) for every government policy of the grid."""
    specs = [("free-market", "free-market", None), ("us-federal-2022", "us-federal-2022", None)]
    specs += [(f"saez (e={e:g})", "saez", e) for e in elasticities]
    specs += [("saez-paper", "saez-paper", None)]
    return specs


def household_rule(name: str, variant: str):
    """``fixed`` (the variant's fixed rule) or ``survey`` (the real-data households)."""
    if name == "fixed":
        return FixedShares(*FIXED_RULES[variant])
    if name == "survey":
        return SurveyReplay()
    raise ValueError(f"household rule {name!r} is not known: allowed ('fixed', 'survey')")


def run_grid(
    profile: str = "smoke",
    variants: Sequence[str] = ("taxai", "clearing"),
    household_rules: Sequence[str] = ("fixed", "survey"),
    sizes: Sequence[int] | None = None,
    elasticities: Sequence[float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Every cell of the grid: one row per cell, seed and episode (tidy)."""
    prof = PROFILES[check_profile(profile)]
    sizes = prof.sizes if sizes is None else tuple(sizes)
    elasticities = prof.elasticities if elasticities is None else tuple(elasticities)
    frames = []
    for variant in variants:
        for n in sizes:
            for rule in household_rules:
                for label, name, e in policy_specs(elasticities):
                    res = evaluate(
                        government_policy(name, elasticity=e),
                        household_rule(rule, variant),
                        variant=variant,
                        n_households=n,
                        n_episodes=prof.episodes,
                        seeds=range(prof.seeds),
                        steps=prof.steps,
                    )
                    df = res.episodes.assign(
                        variant=variant,
                        n_households=n,
                        households=rule,
                        policy=label,
                        policy_name=name,
                        seconds=res.seconds,
                    )
                    frames.append(df)
                    if progress is not None:
                        progress(
                            f"{variant:8s} N={n:<5d} {rule:6s} {label:16s} {res.seconds:6.1f} s"
                        )
    return pd.concat(frames, ignore_index=True)


def summarise_grid(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per cell: mean and 95% interval across seeds of each metric of book:model-metrics, within its
    range (:func:`smfg.stats.seed_interval`; ``horizon``: the cell's T)."""
    keys = ["variant", "n_households", "households", "policy"]
    metrics = ["per_capita_gdp", "social_welfare", "income_gini", "wealth_gini", "years"]
    rows = []
    for cell, df in episodes.groupby(keys, sort=False):
        per_seed = df.groupby("seed")[metrics].mean()
        row = dict(zip(keys, cell, strict=True))
        T = episode_horizon(df)
        for m in metrics:
            mean, lo, hi = seed_interval(per_seed[m].tolist(), m, T)
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = mean, lo, hi
        row["policy_name"] = df.policy_name.iloc[0]
        row["n_seeds"] = len(per_seed)
        row["horizon"] = math.nan if T is None else T
        rows.append(row)
    return pd.DataFrame(rows)


def compare_with_paper(summary: pd.DataFrame, variant: str, households: str) -> pd.DataFrame:
    """Our per-capita GDP and years beside the paper's Table 3, for one variant and rule.

    ``ratio`` is ours over the paper's per-capita GDP; ``note`` says where they differ.
    """
    out = []
    sub = summary[(summary.variant == variant) & (summary.households == households)]
    for row in sub.itertuples():
        paper = PAPER_TABLE3.set_index("policy").loc[PAPER_ROW[row.policy_name]]
        n = row.n_households
        p_gdp = paper.get(f"gdp_{n}", float("nan"))
        p_years = paper.years_100 if n == 100 else float("nan")
        ratio = row.per_capita_gdp / p_gdp if p_gdp == p_gdp else float("nan")
        if ratio != ratio:
            note = "no paper value"
        elif 0.5 <= ratio <= 2:
            note = "same order"
        elif row.years < 2 <= p_years:
            note = "ours dies in year 1"
        elif row.years >= 2 > p_years:
            note = "paper's dies in year 1"
        else:
            note = f"differs x{ratio:.2g}"
        out.append(
            {
                "N": n,
                "policy": row.policy,
                "paper row": PAPER_ROW[row.policy_name],
                "ours: per-capita GDP": row.per_capita_gdp,
                "paper: per-capita GDP": p_gdp,
                "ratio": ratio,
                "ours: years": row.years,
                "paper: years": p_years,
                "note": note,
            }
        )
    return pd.DataFrame(out)


def compare_rules_with_paper(
    summary: pd.DataFrame, variant: str, households: Sequence[str] = ("fixed", "survey")
) -> pd.DataFrame:
    """:func:`compare_with_paper` for each household rule of ``households`` in turn, one
    below the other, each row tagged with its rule (``households``): the Table 3 page's table
    of the fixed policies against the fixed rule and the survey households.

    Each rule's rows keep :func:`compare_with_paper`'s index (0, 1, ... per rule), as the page
    shows them.
    """
    return pd.concat(
        [compare_with_paper(summary, variant, h).assign(households=h) for h in households]
    )


def flat_tax_elasticity(variant: str, n_households: int = 100) -> pd.DataFrame:
    """The elasticity of book:model-saez estimated from flat-tax runs in ``variant``'s economy
    (households on its fixed rule: :func:`smfg.policies.elasticity_from_flat_tax_runs`), as
    one row: variant, elasticity, taus, steps (mean steps run)."""
    est = elasticity_from_flat_tax_runs(economy_params(variant), n_households, details=True)
    return pd.DataFrame([{"variant": variant, **est}])[["variant", "elasticity", "taus", "steps"]]
