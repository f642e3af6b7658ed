"""The evaluation cache: tables computed once per spec, in ``<root>/evaluations/``.

An evaluation (a cell's episodes, a figure's groups, behaviour cloning's losses) is keyed by
what it was computed from, as a run is (:mod:`smfg.runs.store`); a page rebuilt later reads
it back instead of recomputing it. The key names no module, so the code that asks for a
table can move without invalidating what is cached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smfg.runs.store import atomic_write_text, canonical_spec, config_hash

__all__ = ["EVAL_DIR", "METRICS_VERSION", "cached_tables"]

EVAL_DIR = "evaluations"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


#: Version of the evaluation tables, part of their cache key (beside the code version): bump
#: it when what an episode reports changes without changing training, so cached evaluations
#: are recomputed while runs are kept. 2: Ginis normalised for negative values, episodes
#: carry their horizon.
METRICS_VERSION = 2


def cached_tables(
    root: str | Path,
    kind: str,
    spec: Mapping[str, Any],
    compute: Callable[[], dict[str, pd.DataFrame]],
) -> dict[str, pd.DataFrame]:
    """Tables computed once per spec: ``<root>/evaluations/<kind>-<hash>.json``.

    The hash covers ``kind``, the spec, :data:`METRICS_VERSION` and the code version (as the
    run store's does). The file is written atomically; floats round-trip exactly.
    """
    canon = canonical_spec({"kind": kind, "metrics_version": METRICS_VERSION, **spec})
    path = Path(root) / EVAL_DIR / f"{kind}-{config_hash(canon)}.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: pd.DataFrame(t["records"], columns=t["columns"])
            for name, t in stored["tables"].items()
        }
    tables = compute()
    payload = {
        "spec": canon,
        "tables": {
            name: {
                "columns": [str(c) for c in df.columns],
                "records": [[_plain(v) for v in rec] for rec in df.itertuples(index=False)],
            }
            for name, df in tables.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload) + "\n")
    return tables
