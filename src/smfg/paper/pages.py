"""A book page's set-up, what it states about how it was made, and the check that a book is
of one profile.

Every notebook of the book opens with :func:`page_setup`: it finds the page's paths
(:func:`book_paths`) and prints :func:`page_header`, the profile it ran and the commit of the
code. ``make reproduce`` records its profile in ``book/executed/PROFILE``
(:data:`PROFILE_FILE`), ``make page`` and ``make book`` use that one unless ``PROFILE`` is
given, and ``make book`` first runs::

    python -m smfg.paper.pages check-profile [--profile P] book/executed/*.ipynb

which fails, in one line naming the pages and their profiles, when the executed notebooks were
run with different profiles (or not with ``P``). A notebook's profile is the one papermill
records (``metadata.papermill.parameters.profile``), else the default in its ``parameters``
cell.

A page glues the facts its prose states (:mod:`smfg.paper.facts`) with
:func:`glue_facts`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from smfg.config import check_profile

__all__ = [
    "PROFILE_FILE",
    "BookPaths",
    "book_paths",
    "page_setup",
    "check_profiles",
    "glue_facts",
    "main",
    "notebook_profile",
    "page_header",
    "profiles_of",
    "source_commit",
]

#: The file in the executed notebooks' directory that records the profile of the last
#: ``make reproduce``.
PROFILE_FILE = "PROFILE"

_DEFAULT = re.compile(r"""^\s*profile\s*=\s*["']([^"']*)["']""", re.MULTILINE)


def source_commit(repo: str | Path) -> str:
    """The commit of the code in ``repo`` (``git describe --always --dirty``: a short hash, with
    ``-dirty`` when files differ from it), or ``"unknown"`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


def page_header(profile: str | None, repo: str | Path) -> str:
    """The line a page prints first: its profile and the commit of the code that ran it."""
    commit = source_commit(repo)
    if commit.endswith("-dirty"):
        commit = commit.removesuffix("-dirty") + " with uncommitted changes"
    stated = profile if profile else "not stated"
    return f"profile {stated}; code: smfg at commit {commit}"


@dataclass(frozen=True)
class BookPaths:
    """Where a notebook reads and writes: the repository, the run store and the figures."""

    repo: Path
    results: Path
    figures: Path


def book_paths(results_root: str = "", figures_dir: str = "", start: str | Path = ".") -> BookPaths:
    """The repository holding ``start`` (the first parent with a pyproject.toml; else
    ``start``), its ``results/`` and ``figures/``, unless the notebook's parameters name
    others (non-empty ``results_root``, ``figures_dir``)."""
    here = Path(start).resolve()
    repo = next((p for p in [here, *here.parents] if (p / "pyproject.toml").exists()), here)
    return BookPaths(
        repo=repo,
        results=Path(results_root) if results_root else repo / "results",
        figures=Path(figures_dir) if figures_dir else repo / "figures",
    )


def page_setup(
    results_root: str = "", figures_dir: str = "", profile: str | None = None, threads: int = 1
) -> BookPaths:
    """What every notebook of the book does first: print its profile (checked) and the commit
    of the code as the page's first output (:func:`page_header`), find
    its paths (:func:`book_paths`), run torch on ``threads`` threads (``make -j2`` runs two
    pages side by side on two cores, and a second thread per page only contends), and let
    pandas show every column of the wide tables."""
    # torch is imported here, not with the module: `python -m smfg.paper.pages check-profile`
    # (`make book`) needs only the standard library, and torch takes seconds to load
    import torch

    if profile is not None:
        check_profile(profile)
    paths = book_paths(results_root, figures_dir)
    print(page_header(profile, paths.repo))
    torch.set_num_threads(int(threads))
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    return paths


def glue_facts(facts: Mapping[str, object]) -> None:
    """Glue each of a page's ``facts`` (glue key -> value, as :mod:`smfg.paper.facts`
    returns them) for its prose's ``{glue:text}`` roles, without displaying them.

    myst_nb is imported here rather than with the module: it is a dependency of the book (the
    ``book`` extra), not of the library, which must import without it."""
    from myst_nb import glue

    for key, value in facts.items():
        glue(key, value, display=False)


def notebook_profile(path: str | Path) -> str | None:
    """The profile an executed notebook ran with: papermill's recorded parameter, else the
    default in the cell tagged ``parameters``; None when it states neither."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the notebook ({e})") from e
    given = nb.get("metadata", {}).get("papermill", {}).get("parameters", {})
    if "profile" in given:
        return str(given["profile"])
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            m = _DEFAULT.search(source if isinstance(source, str) else "".join(source))
            return m.group(1) if m else None
    return None


def _notebooks(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    return out


def profiles_of(paths: Iterable[str | Path]) -> dict[str, list[str]]:
    """Pages by profile: ``{profile: [page names]}`` over the notebooks in ``paths`` (files, or
    directories whose ``*.ipynb`` are read); a page that states none is under ``"unknown"``."""
    groups: dict[str, list[str]] = {}
    for nb in _notebooks(paths):
        groups.setdefault(notebook_profile(nb) or "unknown", []).append(nb.stem)
    return groups


def check_profiles(paths: Iterable[str | Path], expect: str | None = None) -> str | None:
    """None when every notebook in ``paths`` ran with one profile (``expect``, when given);
    otherwise the one-line reason, naming the pages and their profiles."""
    return _reason(profiles_of(paths), expect)


def _reason(groups: dict[str, list[str]], expect: str | None) -> str | None:
    if not groups:
        return None
    fix = expect or max(groups, key=lambda k: len(groups[k]))
    redo = f"`make reproduce PROFILE={fix}`"
    if len(groups) > 1:
        order = sorted(groups, key=lambda k: (-len(groups[k]), k))
        mix = "; ".join(f"{k}: {', '.join(groups[k])}" for k in order)
        odd = [p for k in order if k != fix for p in groups[k]]
        each = "" if len(odd) == 1 else "each of "
        return (
            f"the executed pages mix profiles ({mix}): re-run {each}{', '.join(odd)} with "
            f"`make page NB=<page> PROFILE={fix}`, or every page with {redo}"
        )
    (only,) = groups
    if expect is not None and only != expect:
        return (
            f"the executed pages were run with profile {only}, not {expect} (PROFILE={expect}): "
            f"run {redo}, or build without PROFILE to use {only}"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``check-profile [--profile P] PATH...``: exit 0 and say the profile when the pages agree,
    else one line on stderr and exit 1 (2 for an unreadable notebook)."""
    parser = argparse.ArgumentParser(prog="python -m smfg.paper.pages")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-profile", help="fail when the executed pages mix profiles")
    check.add_argument("paths", nargs="+", help="executed notebooks, or directories of them")
    check.add_argument("--profile", default=None, help="the profile every page must have")
    args = parser.parse_args(argv)
    try:
        groups = profiles_of(args.paths)
    except ValueError as e:
        print(f"check-profile: {e}", file=sys.stderr)
        return 2
    reason = _reason(groups, args.profile)
    if reason:
        print(f"check-profile: {reason}", file=sys.stderr)
        return 1
    if groups:
        ((profile, pages),) = groups.items()
        print(f"check-profile: {len(pages)} pages, all of profile {profile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
