"""Tests of the SCF 2022 household table (smfg.economy.data, scripts/derive_households.py)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smfg.economy.data import (
    DEFAULT_TABLE_PATH,
    TABLE_COLUMNS,
    derive_household_table,
    load_household_table,
    reference_statistics,
    weighted_stats,
    write_household_table,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
EXTRACT = REPO_ROOT / ".." / "shared" / "data" / "scfp2022_extract.csv"
SCRIPT = REPO_ROOT / "scripts" / "derive_households.py"

# The data README's "Reference statistics" (SAVING/INCOME rows left out: not in the table).
# name: (unweighted, weighted)
README_STATS = {
    ("NETWORTH", "mean"): (1.997e7, 1.060e6),
    ("NETWORTH", "median"): (3.857e5, 1.932e5),
    ("NETWORTH", "gini"): (0.9369, 0.8298),
    ("INCOME", "mean"): (1.594e6, 1.414e5),
    ("INCOME", "median"): (9.404e4, 7.026e4),
    ("INCOME", "gini"): (0.9217, 0.6068),
    ("WAGEINC", "mean"): (1.767e5, 8.336e4),
    ("WAGEINC", "median"): (4.540e4, 4.324e4),
    ("WAGEINC", "gini"): (0.8048, 0.6789),
    ("ASSET", "mean"): (2.034e7, 1.187e6),
    ("ASSET", "median"): (5.414e5, 3.316e5),
    ("ASSET", "gini"): (0.9324, 0.7862),
    ("top1_networth_share", None): (0.4768, 0.3509),
    ("top10_networth_share", None): (0.9264, 0.7336),
    ("negative_networth_share", None): (0.06870, 0.07537),
}


@pytest.fixture(scope="module")
def table():
    return load_household_table()


@pytest.fixture(scope="module")
def stats(table):
    return reference_statistics(table)


def test_shipped_table_shape(table):
    assert DEFAULT_TABLE_PATH.is_file()
    assert DEFAULT_TABLE_PATH.stat().st_size < 2_000_000
    assert table.n_rows == 22_955
    assert np.array_equal(table.row, np.arange(22_955))
    assert np.array_equal(table.family, np.arange(22_955) // 5)
    assert np.unique(table.family).size == 4_591
    assert table.wgt.sum() == pytest.approx(131.26e6, rel=1e-3)
    assert (table.educ == -1).sum() == 60
    assert (table.wageinc < 0).sum() == 20
    assert set(np.unique(table.lf)) <= {0, 1}
    assert np.all(table.food >= 0)
    assert table.wgt.dtype == np.float64 and table.educ.dtype == np.int64
    # the default load is cached and read-only
    assert load_household_table() is table
    with pytest.raises(ValueError):
        table.networth[0] = 0.0


@pytest.mark.skipif(not EXTRACT.is_file(), reason=f"SCF extract not available at {EXTRACT}")
def test_rederived_table_is_byte_identical(tmp_path):
    df = derive_household_table(EXTRACT)
    assert list(df.columns) == list(TABLE_COLUMNS)
    out = write_household_table(df, tmp_path / "households.csv.gz")
    assert out.read_bytes() == DEFAULT_TABLE_PATH.read_bytes()


@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
@pytest.mark.parametrize("key", list(README_STATS), ids=lambda k: "_".join(filter(None, k)))
def test_reference_statistics(stats, key, weighted):
    name, field = key
    expected = README_STATS[key][1 if weighted else 0]
    part = stats["weighted" if weighted else "unweighted"]
    got = part[name][field] if field else part[name]
    assert got == pytest.approx(expected, rel=1e-3, abs=1e-4)


def test_z_wage(table):
    z, w = table.z_wage, table.wgt
    assert np.all(np.isfinite(z))
    mean = np.average(z, weights=w)
    std = np.sqrt(np.average((z - mean) ** 2, weights=w))
    assert abs(mean) < 0.02
    assert abs(std - 1.0) < 0.05
    wage = np.maximum(table.wageinc, 0.0)
    order = np.lexsort((z, wage))
    assert np.all(np.diff(z[order]) >= 0)  # z rises with wage income...
    assert np.all(np.diff(wage[np.argsort(z)]) >= 0)  # ...and only with it (ties by EDUC)
    # among equal wages, higher education ranks higher
    zero = wage == 0
    assert z[zero & (table.educ == 14)].min() > z[zero & (table.educ == 1)].max()


def test_weighted_stats_small_cases():
    s = weighted_stats([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0])
    assert s["mean"] == 2.5
    assert s["median"] == 2.0  # smallest value reaching a 0.5 cumulative share
    # Gini = 1 - sum p_i (L_i + L_{i-1}) = 1 - 0.25 * (0.1 + 0.4 + 0.9 + 1.9) = 0.25
    assert s["gini"] == pytest.approx(0.25)
    # weights equal to repeating the values
    assert weighted_stats([1.0, 5.0], [3.0, 1.0]) == pytest.approx(
        weighted_stats([1.0, 1.0, 1.0, 5.0])
    )
    assert weighted_stats([7.0, 7.0, 7.0])["gini"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        weighted_stats([1.0, 2.0], [1.0])


def test_load_missing_path(tmp_path):
    missing = tmp_path / "nope.csv.gz"
    with pytest.raises(FileNotFoundError, match="nope.csv.gz") as info:
        load_household_table(missing)
    assert "derive_households.py" in str(info.value)


def test_load_missing_column(tmp_path, table):
    df = table.to_frame().head(20).drop(columns=["z_wage"])
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match="z_wage"):
        load_household_table(path)


def test_load_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.csv.gz"
    path.write_bytes(b"\x1f\x8bthis is not gzip data")
    with pytest.raises(ValueError, match="corrupt.csv.gz"):
        load_household_table(path)
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(ValueError, match="empty.csv.gz"):
        load_household_table(empty)


def test_roundtrip_small(tmp_path, table):
    small = table.to_frame().head(50)
    path = write_household_table(small, tmp_path / "small.csv.gz")
    back = load_household_table(path)
    for c in TABLE_COLUMNS:
        np.testing.assert_array_equal(getattr(back, c.lower()), small[c].to_numpy())
    again = write_household_table(back.to_frame(), tmp_path / "again.csv.gz")
    assert again.read_bytes() == path.read_bytes()


def _mini_extract(n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    cols = ["WGT", "EDUC", "LF", "FOODHOME", "FOODAWAY", "FOODDELV", "INCOME", "WAGEINC"]
    cols += ["ASSET", "NETWORTH"]
    df = pd.DataFrame({c: rng.integers(1, 1000, n).astype(float) for c in cols})
    df["EDUC"] = rng.integers(1, 15, n)
    df["LF"] = rng.integers(0, 2, n)
    df["WAGEINC"] = rng.permutation(n) * 1000.0  # distinct wages
    return df


def test_derive_missing_column(tmp_path):
    df = _mini_extract().drop(columns=["NETWORTH"])
    path = tmp_path / "extract.csv"
    path.write_text(df.to_csv(index=False), encoding="utf-8-sig")
    with pytest.raises(ValueError, match="NETWORTH"):
        derive_household_table(path)


def test_derive_small_extract(tmp_path):
    df = _mini_extract()
    path = tmp_path / "extract.csv"
    path.write_text(df.to_csv(index=False), encoding="utf-8-sig")
    out = derive_household_table(path)
    assert list(out.columns) == list(TABLE_COLUMNS)
    np.testing.assert_array_equal(out["row"], np.arange(10))
    np.testing.assert_allclose(out["FOOD"], df["FOODHOME"] + df["FOODAWAY"] + df["FOODDELV"])
    assert np.all(np.diff(out["z_wage"].to_numpy()[np.argsort(df["WAGEINC"].to_numpy())]) > 0)


def _load_script():
    spec = importlib.util.spec_from_file_location("derive_households", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_missing_extract(tmp_path, capsys):
    script = _load_script()
    missing = tmp_path / "no_extract.csv"
    rc = script.main(["--extract", str(missing), "--out", str(tmp_path / "out.csv.gz")])
    assert rc == 2
    assert "no_extract.csv" in capsys.readouterr().err
    assert not (tmp_path / "out.csv.gz").exists()
