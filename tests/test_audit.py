"""The audit page's library (smfg.paper.audit): closed forms, the scan's reading on a
hand-made scan, and that the page's glue keys are exactly what its facts functions return."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from smfg.config import economy_params
from smfg.paper import audit

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "audit_taxai_dynamics.md"


def test_rule_steady_state_is_the_fixed_point_of_the_aggregate_law_of_motion():
    # K' = s (Y + (1 - delta) K) with Y = K^alpha L^(1 - alpha): iterate to the fixed point
    p = economy_params("clearing")
    s, L = 0.8, 0.37
    K = 1.0
    for _ in range(5000):
        K = s * (K**p.alpha * L ** (1 - p.alpha) + (1 - p.delta) * K)
    Y = K**p.alpha * L ** (1 - p.alpha)
    ky, r = audit.rule_steady_state(s)
    assert ky == pytest.approx(K / Y, rel=1e-10)
    assert r == pytest.approx(p.alpha * Y / K - p.delta, rel=1e-10)
    with pytest.raises(ValueError, match="saving = 1.0"):
        audit.rule_steady_state(1.0)


def test_scan_facts_read_a_hand_made_scan():
    scan = pd.DataFrame(
        {
            "saving": [0.5, 0.6, 0.7, 0.8, 0.9],
            "years": [1, 2, 1, 5, 5],
            "termination": [
                "goods_market",
                "negative_capital",
                "negative_capital, goods_market",
                "",
                "",
            ],
        }
    )
    f = audit.scan_facts(scan, steps=5)
    assert f["threshold"] == 0.8 and f["monotone"] is True
    assert (f["below_years"], f["below_reason"]) == (1, "negative_capital, goods_market")
    assert f["goods_max"] == 0.7
    assert (f["failed_n"], f["failed_max_years"], f["failed_capital"]) == (3, 2, 2)
    # nothing survives: no threshold, not monotone, nothing below
    none = audit.scan_facts(scan.assign(years=1), steps=5)
    assert math.isnan(none["threshold"]) and none["monotone"] is False
    assert none["below_reason"] == "none"
    # a gap above the threshold is not monotone
    gap = audit.scan_facts(scan.assign(years=[5, 1, 5, 5, 5]), steps=5)
    assert gap["threshold"] == 0.5 and gap["monotone"] is False


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="low_saving = 1.5"):
        audit.AuditRules(low_saving=1.5)


def test_facts_cover_the_pages_glue_keys():
    runs = audit.audit_runs(n_households=20, steps=30, seed=1)
    scan = audit.saving_scan(20, 0.9, 5, 1, shares=[0.5, 0.99])
    produced = {**audit.taxai_facts(runs), **audit.scan_facts(scan), **audit.clearing_facts(runs)}
    used = set(re.findall(r"\{glue:text\}`([A-Za-z_0-9]+)", NOTEBOOK.read_text()))
    assert used and used <= set(produced), sorted(used - set(produced))
    # the facts are the runs' own numbers
    t = runs[audit.TAXAI_HIGH].trajectory
    assert produced["KY_first"] == t.K_over_Y.iloc[0]
    assert produced["KY_last"] == t.K_over_Y.iloc[-1]
    assert produced["years_low"] == int(runs[audit.TAXAI_LOW].summary.years.iloc[0])
    table = audit.facts_table(produced)
    assert (
        list(table.index) == list(produced)
        and table.loc["clhi_reason", "value"] == (produced["clhi_reason"])
    )
    assert set(audit.trajectories(runs, "taxai")) == {"save 99%, work 90%", "save 50%, work 90%"}
