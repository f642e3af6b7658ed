"""One profile per book: every page prints its profile and commit first, and the check that
``make book`` runs (``python -m smfg.paper.pages check-profile``) fails on a mix, naming
the pages and their profiles. Tiny fake notebooks only; nothing is executed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from smfg.paper import pages

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.md"))


def fake_notebook(path: Path, profile: str | None, default: str = "smoke") -> Path:
    """An executed notebook as papermill leaves it: the parameters cell with its default, and
    the profile papermill was given (None: run without ``-p profile``)."""
    meta = {"papermill": {"parameters": {} if profile is None else {"profile": profile}}}
    cells = [
        {
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": [f'profile = "{default}"\n', "seeds = 0\n"],
            "outputs": [],
            "execution_count": 1,
        }
    ]
    nb = {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def book(tmp_path: Path, profiles: dict[str, str | None]) -> Path:
    d = tmp_path / "executed"
    d.mkdir()
    for name, profile in profiles.items():
        fake_notebook(d / f"{name}.ipynb", profile)
    (d / pages.PROFILE_FILE).write_text("quick\n")  # not a notebook: ignored
    return d


def test_a_notebook_profile_is_papermills_else_its_default(tmp_path: Path):
    assert pages.notebook_profile(fake_notebook(tmp_path / "a.ipynb", "paper")) == "paper"
    assert pages.notebook_profile(fake_notebook(tmp_path / "b.ipynb", None, "quick")) == "quick"
    (tmp_path / "c.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))
    assert pages.notebook_profile(tmp_path / "c.ipynb") is None


def test_one_profile_passes(tmp_path: Path, capsys):
    d = book(tmp_path, {"table1_algorithms": "quick", "fig7_bc_loss": "quick"})
    assert pages.check_profiles([d]) is None
    assert pages.check_profiles([d], expect="quick") is None
    assert pages.main(["check-profile", "--profile", "quick", str(d)]) == 0
    assert capsys.readouterr().out.strip() == "check-profile: 2 pages, all of profile quick"
    (tmp_path / "empty").mkdir()
    assert pages.check_profiles([tmp_path / "empty"]) is None  # no executed page yet


def test_a_mix_fails_in_one_line_naming_pages_and_profiles(tmp_path: Path, capsys):
    d = book(
        tmp_path,
        {"table1_algorithms": "quick", "table3_policies": "quick", "fig7_bc_loss": "paper"},
    )
    reason = pages.check_profiles([d])
    assert reason is not None and "\n" not in reason
    assert "quick: table1_algorithms, table3_policies" in reason
    assert "paper: fig7_bc_loss" in reason
    assert "make page NB=<page> PROFILE=quick" in reason  # the majority's, when none is asked
    assert pages.main(["check-profile", "--profile", "quick", *map(str, d.glob("*.ipynb"))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("check-profile: ")
    assert "re-run fig7_bc_loss with" in err and "make reproduce PROFILE=quick" in err


def test_a_page_without_a_stated_profile_counts_as_its_default(tmp_path: Path):
    d = book(tmp_path, {"table1_algorithms": "quick", "scaling": None})  # default smoke
    assert "smoke: scaling" in pages.check_profiles([d])


def test_one_profile_but_not_the_one_asked_fails(tmp_path: Path):
    d = book(tmp_path, {"table1_algorithms": "smoke", "fig7_bc_loss": "smoke"})
    reason = pages.check_profiles([d], expect="quick")
    assert reason is not None and "\n" not in reason
    assert "profile smoke, not quick" in reason and "make reproduce PROFILE=quick" in reason


def test_an_unreadable_notebook_is_one_line_and_exit_2(tmp_path: Path, capsys):
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert pages.main(["check-profile", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.ipynb" in err


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_header_names_the_profile_and_the_commit(tmp_path: Path):
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    line = pages.page_header("quick", REPO)
    if not head:  # a copy of the sources outside a git checkout
        assert line.endswith("commit unknown")
        return
    m = re.fullmatch(r"profile quick; code: smfg at commit ([0-9a-f]{7,})( .*)?", line)
    assert m and head.startswith(m.group(1)), line
    assert pages.page_header("paper", tmp_path) == "profile paper; code: smfg at commit unknown"
    assert pages.source_commit(tmp_path) == "unknown"


def test_page_setup_prints_the_header_first_and_checks_the_profile(tmp_path: Path, capsys):
    with pd.option_context("display.max_columns", 20, "display.width", 80):
        paths = pages.page_setup(str(tmp_path / "r"), str(tmp_path / "f"), "smoke")
        out = capsys.readouterr().out.splitlines()
        assert out and out[0].startswith("profile smoke; code: smfg at commit ")
        assert paths.results == tmp_path / "r" and paths.figures == tmp_path / "f"
        with pytest.raises(ValueError, match="profile"):
            pages.page_setup(str(tmp_path), str(tmp_path), "fast")


def _setup_cell(path: Path) -> str:
    jupytext = pytest.importorskip("jupytext")
    code = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    return code[1] if len(code) > 1 else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_page_passes_its_profile_to_page_setup_first(path: Path):
    """The cell after the parameters calls page_setup(..., profile) before it prints anything,
    so the page's first output is its profile and commit."""
    cell = _setup_cell(path)
    calls = [i for i, line in enumerate(cell.splitlines()) if "page_setup(" in line]
    assert calls, f"{path.name}: the cell after the parameters must call page_setup"
    lines = cell.splitlines()
    assert re.search(r"page_setup\(.*\bprofile\)", lines[calls[0]]), (
        f"{path.name}: pass the page's profile: page_setup(results_root, figures_dir, profile)"
    )
    before = [line for line in lines[: calls[0]] if re.search(r"\b(print|display)\(", line)]
    assert not before, f"{path.name}: prints before page_setup: {before}"
