"""The paper's own values: its names of the algorithms and policies, and its Tables 1 and 3,
long (paper_row, setting, metric, value), to set beside ours."""

from __future__ import annotations

import pandas as pd

from smfg.paper.fixed_policies import PAPER_TABLE3

__all__ = ["ALGORITHM_LABELS", "PAPER_TABLE1", "PAPER_VALUES"]

#: The paper's names of the algorithms and policies (Table 1's order, then Table 3's learned).
ALGORITHM_LABELS = {
    "rule_based": "Rule-based",
    "ddpg": "DDPG",
    "maddpg": "MADDPG",
    "iddpg": "IDDPG",
    "mfmarl": "MF-MARL",
    "smfrl": "SMFRL",
    "ppo": "AI Economist",
}

_T1_SETTINGS = ("N=100", "N=100-BC", "N=1000-BC")
_T1_GDP = {
    "Rule-based": (1.41e5, 3.66e11, 1.41e5),
    "DDPG": (1.41e5, 2.03e12, 4.92e11),
    "MADDPG": (4.93e4, 6.38e12, 6.82e12),
    "IDDPG": (1.21e5, 7.41e12, 2.79e12),
    "MF-MARL": (8.66e7, 5.44e12, 1.13e5),
    "SMFRL": (9.59e12, 1.01e13, 9.68e12),
}
_T1_WELFARE = {"Rule-based": (69.27, 79.23, 334.79), "SMFRL": (96.87, 96.90, 975.15)}
_T1_YEARS = {"Rule-based": (1, 217.45, 1), "SMFRL": (300, 300, 300)}


def _paper_table1() -> pd.DataFrame:
    rows = []
    for metric, table in (
        ("per_capita_gdp", _T1_GDP),
        ("social_welfare", _T1_WELFARE),
        ("years", _T1_YEARS),
    ):
        for label, values in table.items():
            for setting, v in zip(_T1_SETTINGS, values, strict=True):
                rows.append(
                    {"paper_row": label, "setting": setting, "metric": metric, "value": float(v)}
                )
    return pd.DataFrame(rows)


def _paper_table3() -> pd.DataFrame:
    rows = []
    for r in PAPER_TABLE3.itertuples():
        for setting, col in (("N=100", "gdp_100"), ("N=1000", "gdp_1000")):
            v = getattr(r, col)
            if v == v:
                rows.append(
                    {
                        "paper_row": r.policy,
                        "setting": setting,
                        "metric": "per_capita_gdp",
                        "value": float(v),
                    }
                )
        rows.append(
            {
                "paper_row": r.policy,
                "setting": "N=100",
                "metric": "years",
                "value": float(r.years_100),
            }
        )
    return pd.DataFrame(rows)


#: The paper's Table 1, long: paper_row, setting, metric, value. The paper gives
#: every algorithm's per-capita GDP, but welfare and years only for Rule-based and SMFRL,
#: and SMFRL's Ginis only as "about 0.51-0.53"; those are left out.
PAPER_TABLE1 = _paper_table1()

#: The paper's values of each table, long (paper_row, setting, metric, value).
PAPER_VALUES = {"table1": PAPER_TABLE1, "table3": _paper_table3()}
