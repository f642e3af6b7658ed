"""Derive the shipped household table from the SCF 2022 extract.

Reads ``../shared/data/scfp2022_extract.csv`` (relative to the repository root; never copied
into the repository) and writes ``src/smfg/_data/scf2022_households.csv.gz``, byte-for-byte
the same on every run. See ``smfg.economy.data`` for the columns.

    python scripts/derive_households.py [--extract PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXTRACT = REPO_ROOT / ".." / "shared" / "data" / "scfp2022_extract.csv"

try:
    from smfg.economy.data import (
        DEFAULT_TABLE_PATH,
        derive_household_table,
        write_household_table,
    )
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from smfg.economy.data import (
        DEFAULT_TABLE_PATH,
        derive_household_table,
        write_household_table,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--extract",
        type=Path,
        default=DEFAULT_EXTRACT,
        help="SCF 2022 extract CSV (default: ../shared/data/scfp2022_extract.csv from the repo)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_TABLE_PATH,
        help="output gzip CSV (default: the table shipped in the package)",
    )
    args = parser.parse_args(argv)

    extract = args.extract.resolve()
    if not extract.is_file():
        print(f"error: SCF extract not found: {extract}", file=sys.stderr)
        return 2
    try:
        table = derive_household_table(extract)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = write_household_table(table, args.out)
    n_families = int(table["family"].nunique())
    print(f"wrote {out}: {len(table)} rows ({n_families} families), {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
