"""The Makefile's profile: `make reproduce` records it in book/executed/PROFILE, `make page`
and `make book` use the recorded one unless PROFILE is given, and `make book` stops on a mix.

The real Makefile runs in a sandbox (a temporary directory with one fake notebook, a stand-in
virtual environment whose python is this one and whose jupyter-book only says it ran), so
nothing is installed, trained or executed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _fake_executed(path: Path, profile: str) -> None:
    nb = {
        "cells": [],
        "metadata": {"papermill": {"parameters": {"profile": profile}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """The Makefile beside notebooks/a.md and b.md, an up-to-date stand-in .venv, vendored
    MathJax, and an empty book/executed/."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    for d in ("notebooks", "requirements", "book/executed", "book/_static/mathjax", ".venv/bin"):
        (tmp_path / d).mkdir(parents=True)
    for name in ("a", "b"):
        (tmp_path / "notebooks" / f"{name}.md").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "requirements" / "constraints.txt").write_text("")
    (tmp_path / "book/_static/mathjax/tex-svg-full.js").write_text("")
    tools = {"python": f'exec "{sys.executable}" "$@"', "jupyter-book": "echo stand-in ran"}
    for tool, script in tools.items():
        (tmp_path / ".venv/bin" / tool).write_text(f"#!/bin/sh\n{script}\n")
        (tmp_path / ".venv/bin" / tool).chmod(0o755)
    (tmp_path / ".venv/.installed").write_text("")
    # sources, then the installed stamp, then executed pages (written later): all up to date
    for path in tmp_path.rglob("*"):
        _age(path, 100)
    _age(tmp_path / ".venv/.installed", 50)
    return tmp_path


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def make(sandbox: Path, *args: str, env_profile: str | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.pop("PROFILE", None)
    if env_profile is not None:
        env["PROFILE"] = env_profile
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _papermill_profile(out: str) -> str:
    (line,) = [x for x in out.splitlines() if "-p profile" in x]
    return line.split("-p profile")[1].split()[0]


def test_page_uses_smoke_when_nothing_is_recorded(sandbox: Path):
    r = make(sandbox, "-n", "page", "NB=a")
    assert r.returncode == 0, r.stderr
    assert _papermill_profile(r.stdout) == "smoke"


def test_page_and_book_use_the_recorded_profile(sandbox: Path):
    (sandbox / "book/executed/PROFILE").write_text("quick\n")
    r = make(sandbox, "-n", "page", "NB=a")
    assert r.returncode == 0, r.stderr
    assert _papermill_profile(r.stdout) == "quick"
    r = make(sandbox, "-n", "book")
    assert "check-profile --profile quick" in r.stdout
    assert "-p profile quick" in r.stdout  # the missing pages are executed with it too


def test_profile_on_the_command_line_or_in_the_environment_wins(sandbox: Path):
    (sandbox / "book/executed/PROFILE").write_text("quick\n")
    r = make(sandbox, "-n", "page", "NB=a", "PROFILE=paper")
    assert _papermill_profile(r.stdout) == "paper"
    r = make(sandbox, "-n", "page", "NB=a", env_profile="smoke")
    assert _papermill_profile(r.stdout) == "smoke"


def test_reproduce_records_its_profile_first(sandbox: Path):
    r = make(sandbox, "-n", "reproduce", "PROFILE=paper")
    lines = r.stdout.splitlines()
    record = lines.index("mkdir -p book/executed && echo paper > book/executed/PROFILE")
    runs = next(i for i, x in enumerate(lines) if "sweep --experiment all" in x)
    assert record < runs and "--profile paper" in lines[runs]


def test_book_stops_on_a_mix_and_builds_on_one_profile(sandbox: Path):
    ex = sandbox / "book/executed"
    (ex / "PROFILE").write_text("quick\n")
    _fake_executed(ex / "a.ipynb", "quick")
    _fake_executed(ex / "b.ipynb", "paper")
    for nb in ("a", "b"):
        _age(ex / f"{nb}.ipynb", 10)
    r = make(sandbox, "book")
    assert r.returncode != 0
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("check-profile:")]
    assert "quick: a" in line and "paper: b" in line
    assert "stand-in ran" not in r.stdout

    _fake_executed(ex / "b.ipynb", "quick")
    _age(ex / "b.ipynb", 10)
    r = make(sandbox, "book")
    assert r.returncode == 0, r.stderr
    assert "2 pages, all of profile quick" in r.stdout and "stand-in ran" in r.stdout

    r = make(sandbox, "book", "PROFILE=paper")  # asked for paper, but the pages are quick
    assert r.returncode != 0 and "profile quick, not paper" in r.stderr
