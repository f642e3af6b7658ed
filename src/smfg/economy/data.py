"""The household table derived from the Survey of Consumer Finances 2022 extract.

The raw extract (``../shared/data/scfp2022_extract.csv``, see its README) is not shipped.
``scripts/derive_households.py`` reads it with :func:`derive_household_table` and writes the
compact table that ships in the package (``smfg/_data/scf2022_households.csv.gz``) with
:func:`write_household_table`. Everything else loads it with :func:`load_household_table`.

The derived table keeps the extract's row order (22,955 rows = 4,591 families x 5 implicates),
because the ``taxai`` economy draws rows by index as the original code did. Its columns:

- ``row``: 0-based row index in the extract; ``family``: ``row // 5`` (the implicate block).
- ``WGT``: survey weight, already divided by 5 in the extract (used as is).
- ``EDUC``: education code, raw (-1 kept; the ``taxai`` reset replaces it by 0.1).
- ``LF``: 1 working, 0 not working.
- ``FOOD``: ``FOODHOME + FOODAWAY + FOODDELV`` (annual food spending).
- ``INCOME``, ``WAGEINC`` (raw, 20 rows at -1.0809), ``ASSET``, ``NETWORTH``.
- ``z_wage``: standard-normal quantile of the row's weighted mid-rank by wage income
  ``max(WAGEINC, 0)``, ties broken by ``EDUC`` (higher ranks higher), then by row order. The
  ``clearing`` economy starts log ability at the stationary quantile ``z_wage * sd``.
"""

from __future__ import annotations

import functools
import gzip
import io
import statistics
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_TABLE_PATH",
    "EXTRACT_COLUMNS",
    "TABLE_COLUMNS",
    "HouseholdTable",
    "derive_household_table",
    "write_household_table",
    "load_household_table",
    "weighted_stats",
    "reference_statistics",
]

_DATA_DIR = Path(__file__).resolve().parent.parent / "_data"
DEFAULT_TABLE_PATH: Path = _DATA_DIR / "scf2022_households.csv.gz"

REGENERATE_HINT = "regenerate it with `python scripts/derive_households.py`"

#: Columns of the extract that the derivation reads.
EXTRACT_COLUMNS: tuple[str, ...] = (
    "WGT",
    "EDUC",
    "LF",
    "FOODHOME",
    "FOODAWAY",
    "FOODDELV",
    "INCOME",
    "WAGEINC",
    "ASSET",
    "NETWORTH",
)

#: Columns of the derived table, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "row",
    "family",
    "WGT",
    "EDUC",
    "LF",
    "FOOD",
    "INCOME",
    "WAGEINC",
    "ASSET",
    "NETWORTH",
    "z_wage",
)

_INT_COLUMNS = frozenset({"row", "family", "EDUC", "LF"})

IMPLICATES = 5


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], source: Path | str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")


def _wage_rank_z(wage: np.ndarray, educ: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Normal quantile of each row's weighted mid-rank by (wage, educ, row order)."""
    n = wage.shape[0]
    order = np.lexsort((np.arange(n), educ, wage))  # last key is the primary one
    w_sorted = weight[order]
    total = w_sorted.sum()
    before = np.cumsum(w_sorted) - w_sorted
    u_sorted = (before + 0.5 * w_sorted) / total
    u = np.empty(n, dtype=np.float64)
    u[order] = u_sorted
    inv = np.frompyfunc(statistics.NormalDist().inv_cdf, 1, 1)
    return inv(u).astype(np.float64)


def derive_household_table(csv_path: str | Path) -> pd.DataFrame:
    """Read the SCF 2022 extract and return the derived household table (original row order)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"SCF extract not found: {csv_path}")
    try:
        raw = pd.read_csv(csv_path, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{csv_path}: cannot parse as CSV ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    _check_columns(raw, EXTRACT_COLUMNS, csv_path)
    n = len(raw)
    if n == 0:
        raise ValueError(f"{csv_path}: no data rows")
    vals = {}
    for c in EXTRACT_COLUMNS:
        col = pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(col)):
            raise ValueError(f"{csv_path}: column {c} has missing or non-numeric values")
        vals[c] = col
    if np.any(vals["WGT"] <= 0):
        raise ValueError(f"{csv_path}: column WGT must be positive")
    for c in ("EDUC", "LF"):
        if np.any(vals[c] != np.round(vals[c])):
            raise ValueError(f"{csv_path}: column {c} must hold integer codes")

    row = np.arange(n, dtype=np.int64)
    wage = np.maximum(vals["WAGEINC"], 0.0)  # -1.0809 (20 rows) is an uncleaned code: 0
    educ = vals["EDUC"].astype(np.int64)
    out = pd.DataFrame(
        {
            "row": row,
            "family": row // IMPLICATES,
            "WGT": vals["WGT"],
            "EDUC": educ,
            "LF": vals["LF"].astype(np.int64),
            "FOOD": vals["FOODHOME"] + vals["FOODAWAY"] + vals["FOODDELV"],
            "INCOME": vals["INCOME"],
            "WAGEINC": vals["WAGEINC"],
            "ASSET": vals["ASSET"],
            "NETWORTH": vals["NETWORTH"],
            "z_wage": _wage_rank_z(wage, educ, vals["WGT"]),
        },
        columns=list(TABLE_COLUMNS),
    )
    return out


def write_household_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the derived table as gzip CSV, byte-for-byte deterministic; return the path."""
    path = Path(path)
    _check_columns(df, TABLE_COLUMNS, "household table")
    df = df.loc[:, list(TABLE_COLUMNS)].copy()
    for c in TABLE_COLUMNS:
        df[c] = df[c].astype(np.int64 if c in _INT_COLUMNS else np.float64)
    text = df.to_csv(index=False, lineterminator="\n", float_format=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buf.getvalue())
    return path


@dataclass(frozen=True)
class HouseholdTable:
    """The derived household table as read-only 1-D numpy arrays (one entry per survey row)."""

    row: np.ndarray
    family: np.ndarray
    wgt: np.ndarray
    educ: np.ndarray
    lf: np.ndarray
    food: np.ndarray
    income: np.ndarray
    wageinc: np.ndarray
    asset: np.ndarray
    networth: np.ndarray
    z_wage: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.row.shape[0])

    @property
    def n_families(self) -> int:
        return int(np.unique(self.family).shape[0])

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame with the file's column names."""
        return pd.DataFrame(
            {c: getattr(self, c.lower()) for c in TABLE_COLUMNS}, columns=list(TABLE_COLUMNS)
        )


def _read_table(path: Path) -> HouseholdTable:
    if not path.is_file():
        raise FileNotFoundError(f"household table not found: {path}; {REGENERATE_HINT}")
    try:
        df = pd.read_csv(path, compression="infer")
    except FileNotFoundError:
        raise
    except (
        OSError,
        EOFError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as exc:
        raise ValueError(f"{path}: unreadable household table ({exc}); {REGENERATE_HINT}") from exc
    _check_columns(df, TABLE_COLUMNS, path)
    if len(df) == 0:
        raise ValueError(f"{path}: household table has no rows; {REGENERATE_HINT}")
    arrays = {}
    for c in TABLE_COLUMNS:
        col = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(col)):
            raise ValueError(f"{path}: column {c} has missing or non-numeric values")
        if c in _INT_COLUMNS:
            if np.any(col != np.round(col)):
                raise ValueError(f"{path}: column {c} must hold integers")
            col = col.astype(np.int64)
        col.flags.writeable = False
        arrays[c.lower()] = col
    names = {f.name for f in fields(HouseholdTable)}
    return HouseholdTable(**{k: v for k, v in arrays.items() if k in names})


@functools.lru_cache(maxsize=1)
def _load_default() -> HouseholdTable:
    return _read_table(DEFAULT_TABLE_PATH)


def load_household_table(path: str | Path | None = None) -> HouseholdTable:
    """Load the derived table (the shipped one when ``path`` is None; cached)."""
    if path is None:
        return _load_default()
    return _read_table(Path(path))


# --------------------------------------------------------------------------------------
# Statistics (definitions of the data README's "Reference statistics")
# --------------------------------------------------------------------------------------


def _weighted_median(x_sorted: np.ndarray, w_sorted: np.ndarray) -> float:
    """Smallest value whose cumulative weight share reaches 0.5."""
    share = np.cumsum(w_sorted) / w_sorted.sum()
    k = int(np.searchsorted(share, 0.5, side="left"))
    return float(x_sorted[min(k, x_sorted.shape[0] - 1)])


def _gini(x_sorted: np.ndarray, w_sorted: np.ndarray) -> float:
    """1 - sum p_i (L_i + L_{i-1}), rows ascending, population form, negatives kept."""
    p = w_sorted / w_sorted.sum()
    mass = w_sorted * x_sorted
    L = np.cumsum(mass) / mass.sum()
    L_prev = np.concatenate(([0.0], L[:-1]))
    return float(1.0 - np.sum(p * (L + L_prev)))


def _top_share(x_sorted: np.ndarray, w_sorted: np.ndarray, q: float) -> float:
    """Share of the total held by the top ``q`` of weight; the boundary row's weight is split."""
    x_desc = x_sorted[::-1]
    w_desc = w_sorted[::-1]
    cap = q * w_desc.sum()
    before = np.cumsum(w_desc) - w_desc
    w_in = np.clip(cap - before, 0.0, w_desc)
    return float(np.sum(w_in * x_desc) / np.sum(w_desc * x_desc))


def weighted_stats(values, weights=None) -> dict:
    """Weighted mean, median and Gini of ``values`` (all weights 1 when ``weights`` is None)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if x.shape != w.shape:
        raise ValueError(f"values and weights differ in length: {x.shape[0]} vs {w.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError("weighted_stats needs at least one value")
    if np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    return {
        "mean": float(np.sum(ws * xs) / ws.sum()),
        "median": _weighted_median(xs, ws),
        "gini": _gini(xs, ws),
    }


def _stats_for(table: HouseholdTable, w: np.ndarray) -> dict:
    out: dict = {}
    for name in ("NETWORTH", "INCOME", "WAGEINC", "ASSET"):
        out[name] = weighted_stats(getattr(table, name.lower()), w)
    nw = np.asarray(table.networth, dtype=np.float64)
    order = np.argsort(nw, kind="stable")
    xs, ws = nw[order], w[order]
    out["top1_networth_share"] = _top_share(xs, ws, 0.01)
    out["top10_networth_share"] = _top_share(xs, ws, 0.10)
    out["negative_networth_share"] = float(np.sum(w[nw < 0]) / w.sum())
    return out


def reference_statistics(table: HouseholdTable) -> dict:
    """The data README's reference statistics of ``table``, ``{"weighted": .., "unweighted": ..}``.

    Each part maps ``NETWORTH``, ``INCOME``, ``WAGEINC``, ``ASSET`` to ``{"mean", "median",
    "gini"}`` and has ``top1_networth_share``, ``top10_networth_share`` and
    ``negative_networth_share``.
    """
    w = np.asarray(table.wgt, dtype=np.float64)
    return {
        "weighted": _stats_for(table, w),
        "unweighted": _stats_for(table, np.ones_like(w)),
    }
