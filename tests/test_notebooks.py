"""The notebooks in notebooks/: thin (no def, no class, no selection of a table's rows),
papermill parameters first, one per artefact of the registry, every one in the book. They are
executed, at the smoke profile, by the book test (tests/test_book.py), which also checks what
they print and draw."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from smfg.paper.artefacts import EXPERIMENTS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.md"))
AUDIT = REPO / "notebooks" / "audit_taxai_dynamics.md"
#: the parameters issue 7 asks every artefact page to expose (beside profile; Figure 7 fits
#: its networks once, so it has one `seed` where the others have `seeds`)
ARTEFACT_PARAMETERS = ("variant", "seed", "results_root", "figures_dir")


def _parameters_source(path: Path) -> str:
    jupytext = pytest.importorskip("jupytext")
    code = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    assert "parameters" in code[0].metadata.get("tags", []), (
        f"{path.name}: the first code cell must be tagged `:tags: [parameters]`"
    )
    return code[0].source


def test_there_are_notebooks():
    assert AUDIT in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_def_or_class(path: Path):
    bad = [
        f"{path.name}:{i}: {line}"
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if line.lstrip().startswith(("def ", "class ", "async def ", "lambda"))
    ]
    assert not bad, "logic belongs in the library, not in a notebook:\n" + "\n".join(bad)


def _row_selections(code: str) -> list[str]:
    """The places where ``code`` selects a table's rows itself: a subscript by a comparison
    (a boolean mask, ``df[df.x == 1]``, ``df.loc[(df.a > 0) & m, "b"]``) or a ``.query``."""
    # IPython magics and shell lines are not Python (blanked, so line numbers stay the cell's)
    lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines()]
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        mask = isinstance(node, ast.Subscript) and any(
            isinstance(n, ast.Compare) for n in ast.walk(node.slice)
        )
        query = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "query"
        )
        if mask or query:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_selection_check_sees_masks_and_queries():
    code = "\n".join(
        [
            "%matplotlib inline",
            "a = df[(df.objective == objs[0]) & (df.followers == 'learned')]",
            "b = table[table.n_seeds > 0]",
            "c = df.loc[df.x != 1, 'y']",
            "d = df.query('setting == \"N=100\"')",
            "e = table[cols]",
            "f = facts['key']",
            "g = df.loc[:, ['a', 'b']]",
        ]
    )
    assert [line.split(":")[0] for line in _row_selections(code)] == ["2", "3", "4", "5"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_selects_no_rows_itself(path: Path):
    """Which rows a figure, a table or a number reads is the paper layer's decision, where
    it is tested (issue 18): a notebook calls it and shows what it returns."""
    jupytext = pytest.importorskip("jupytext")
    cells = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    bad = [
        f"{path.name}, code cell {i}, line {hit}"
        for i, c in enumerate(cells)
        for hit in _row_selections(c.source)
    ]
    assert not bad, "selecting rows belongs in the library, not in a notebook:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_parameters_cell(path: Path):
    assert "profile" in _parameters_source(path), (
        f"{path.name}: the parameters cell lacks `profile`"
    )


def test_every_registered_artefact_has_its_notebook_and_parameters():
    names = {p.stem for p in NOTEBOOKS}
    missing = sorted(set(EXPERIMENTS) - names)
    assert not missing, f"experiments without a notebook in notebooks/: {missing}"
    for name in EXPERIMENTS:
        src = _parameters_source(REPO / "notebooks" / f"{name}.md")
        for p in ARTEFACT_PARAMETERS:
            found = f"\n{p} = " in f"\n{src}" or f"\n{p}s = " in f"\n{src}"
            assert found, f"{name}: the parameters cell lacks `{p}`"
    for name in ("table3_policies", "fig4_efficiency_equity", "clearing_policies"):
        src = _parameters_source(REPO / "notebooks" / f"{name}.md")
        # the clearing page compares its leaders on several objectives, each a leader reward
        reward = "objectives" if EXPERIMENTS[name].objectives else "leader_reward"
        for p in ("elasticity", "welfare_weight", reward, "sizes"):
            assert f"\n{p} = " in f"\n{src}", f"{name}: the parameters cell lacks `{p}`"
    fig5 = _parameters_source(REPO / "notebooks" / "fig5_smfg_household_share.md")
    assert "\nshares = " in fig5 and "\nn_households = " in fig5


def test_every_notebook_is_a_chapter_of_the_book():
    toc = (REPO / "_toc.yml").read_text()
    absent = [p.stem for p in NOTEBOOKS if f"book/executed/{p.stem}" not in toc]
    assert not absent, f"notebooks missing from _toc.yml: {absent}"
