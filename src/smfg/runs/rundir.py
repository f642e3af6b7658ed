"""A run directory on disk (the layout :mod:`smfg.runs.store` describes): its file names, its
checkpoints and policy read back with the reason when they do not load, its completion
marker and status, a bad file moved aside, and the listing of a store's runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch

from smfg.runs.durable import read_lines
from smfg.runs.hashing import HASH_CHARS

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
POLICY_FILE = "policy.pt"
DONE_FILE = "DONE"
LOCK_FILE = ".lock"
CKPT_DIR = "checkpoints"
CORRUPT_DIR = "corrupt"
_CKPT_RE = re.compile(r"^ckpt-(\d{6,})\.pt$")

Status = Literal["done", "partial", "new"]


def ckpt_name(epoch: int) -> str:
    return f"ckpt-{epoch:06d}.pt"


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every checkpoint, oldest first."""
    d = run_dir / CKPT_DIR
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _CKPT_RE.match(p.name))]
    return sorted(found)


def find_key(obj: Any, key: str) -> Any:
    """The value of ``key`` in a nested dict, searched breadth first; None if absent."""
    queue = [obj]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            if key in node:
                return node[key]
            queue.extend(v for v in node.values() if isinstance(v, dict))
    return None


def read_checkpoint(
    path: Path, epoch: int, digest: str, rows_on_disk: int
) -> tuple[dict | None, str]:
    """(checkpoint, "") if ``path`` loads and is consistent, else (None, the reason)."""
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        return None, "not a zip archive: truncated or overwritten"
    try:  # CRC of every member: catches flipped bytes that would otherwise load silently
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except Exception as e:
        return None, f"damaged zip archive: {type(e).__name__}: {e}"[:300]
    if bad is not None:
        return None, f"damaged zip archive: CRC mismatch in member {bad!r}"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # damaged members, unpickling errors: all mean "corrupt"
        return None, f"torch.load failed: {type(e).__name__}: {e}".strip()[:300]
    if not isinstance(ckpt, dict):
        return None, f"holds a {type(ckpt).__name__}, not a checkpoint dict"
    missing = [k for k in ("epoch", "trainer", "metrics_rows") if k not in ckpt]
    if missing:
        return None, f"missing keys {missing}"
    if ckpt["epoch"] != epoch:
        return None, f"records epoch {ckpt['epoch']!r} but is named for epoch {epoch}"
    if ckpt.get("hash", digest) != digest:
        return None, f"belongs to run {ckpt['hash']!r}, not {digest!r}"
    if not isinstance(ckpt["trainer"], dict):
        return None, f"trainer state is a {type(ckpt['trainer']).__name__}, not a dict"
    rows = ckpt["metrics_rows"]
    if not isinstance(rows, int) or not 0 <= rows <= rows_on_disk:
        return None, f"needs {rows!r} metrics rows but {METRICS_FILE} holds {rows_on_disk}"
    return ckpt, ""


def read_policy(path: Path) -> tuple[dict | None, str]:
    """(policy state, "") if ``path`` loads, else (None, the reason)."""
    if not path.exists():
        return None, "missing"
    if not zipfile.is_zipfile(path):
        return None, "not a zip archive: truncated or overwritten"
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
        if bad is not None:
            return None, f"damaged zip archive: CRC mismatch in member {bad!r}"
        policy = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # damaged members, unpickling errors: all mean "corrupt"
        return None, f"{type(e).__name__}: {e}".strip().splitlines()[0][:300]
    if not isinstance(policy, dict):
        return None, f"holds a {type(policy).__name__}, not a policy dict"
    return policy, ""


def done_epochs(run_dir: Path) -> int | None:
    """The epoch count the DONE marker records, or None."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        epochs = json.loads((run_dir / DONE_FILE).read_text(encoding="utf-8")).get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None
    return None


def move_aside(path: Path, dest_dir: Path | None = None) -> Path:
    """Move a bad file into ``dest_dir`` (default: checkpoints/corrupt/ beside it) without
    overwriting an older one."""
    dest_dir = path.parent / CORRUPT_DIR if dest_dir is None else dest_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / path.name
    n = 1
    while dest.exists():
        dest = dest_dir / f"{path.name}.{n}"
        n += 1
    shutil.move(path, dest)
    return dest


def dir_status(run_dir: Path) -> Status:
    if (run_dir / DONE_FILE).exists():
        return "done"
    return "partial" if run_dir.is_dir() else "new"


def list_runs(root: str | os.PathLike = "results") -> pd.DataFrame:
    """One row per run directory under ``root``: algo, hash, status, epochs, n_epochs, path.

    ``epochs`` counts complete metrics rows; ``checkpoint_epoch`` is the newest checkpoint's
    epoch (where a resume would start); ``n_epochs`` is the spec's ``n_epochs`` key (searched
    in nested dicts too) when present.
    """
    columns = [
        "algo",
        "hash",
        "status",
        "epochs",
        "checkpoint_epoch",
        "n_epochs",
        "code_version",
        "path",
    ]
    rows = []
    root = Path(root)
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if not d.is_dir() or "-" not in d.name:
            continue
        algo, _, digest = d.name.rpartition("-")
        if len(digest) != HASH_CHARS:
            continue
        spec, code_version = {}, None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            config = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
            spec, code_version = config.get("spec", {}), config.get("code_version")
        ckpts = checkpoints(d)
        rows.append(
            {
                "algo": algo,
                "hash": digest,
                "status": dir_status(d),
                "epochs": max(len(read_lines(d / METRICS_FILE)) - 1, 0),
                "checkpoint_epoch": ckpts[-1][0] if ckpts else 0,
                "n_epochs": find_key(spec, "n_epochs"),
                "code_version": code_version,
                "path": str(d),
            }
        )
    return pd.DataFrame(rows, columns=columns)
