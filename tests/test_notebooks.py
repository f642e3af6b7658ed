"""The notebooks in notebooks/: thin (no def, no class), papermill parameters first, one per
artefact of the registry, every one in the book. They are executed, at the smoke profile, by
the book test (tests/test_book.py), which also checks what they print and draw."""

from __future__ import annotations

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
