"""Every reference resolves inside the repository (issue 16, item 4).

The book is the specification the project ships, so

- every ``{ref}`` and ``{eq}`` target in ``book/*.md`` and ``notebooks/*.md`` is a MyST label
  ``(label)=`` defined in one of them, and every ``{doc}`` target is a page of the book (a
  notebook is built into ``book/executed/``);
- the code cites the book in the form the docstring of :mod:`smfg` states: ``E6`` is the model
  chapter's equation labelled ``eq-e6``, ``book:<label>`` a section labelled ``(<label>)=`` (or
  a page by its name), and each one it cites exists;
- no file of ``src/``, ``book/``, ``notebooks/`` or the README cites an outside specification.

Fast: it reads text, and executes no notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOOK_PAGES = sorted((REPO / "book").glob("*.md"))
NOTEBOOK_PAGES = sorted((REPO / "notebooks").glob("*.md"))
PAGES = BOOK_PAGES + NOTEBOOK_PAGES

_LABEL = re.compile(r"^[ \t]*\(([\w:.-]+)\)=[ \t]*$", re.MULTILINE)
# {ref}`label`, {ref}`text <label>`, {eq}`label`, {doc}`page`, {doc}`text <page>`
_ROLE = re.compile(r"\{(ref|eq|doc)\}`([^`]*)`")
_TARGET = re.compile(r"<([^<>]+)>\s*$")
# the code's citations: book:<label> (not part of a longer word such as jupyter-book:)
_BOOK_CITE = re.compile(r"(?<![\w-])book:([a-z0-9][a-z0-9-]*[a-z0-9])")
# the code's equation numbers; the rule codes of a noqa comment are not equations
_EQ_CITE = re.compile(r"(?<![\w.-])E(\d+)\b")
_NOQA = re.compile(r"#\s*noqa\b[^\n]*")

TEXT_SUFFIXES = {".py", ".md", ".txt", ".yml", ".yaml", ".toml", ".json", ".cfg", ".ini"}


def _labels() -> dict[str, Path]:
    """Every MyST label of the book's and the notebooks' pages, with the page defining it."""
    out: dict[str, Path] = {}
    for page in PAGES:
        for label in _LABEL.findall(page.read_text(encoding="utf-8")):
            out.setdefault(label, page)
    return out


LABELS = _labels()
PAGE_NAMES = {p.stem for p in PAGES}


def _roles(page: Path) -> list[tuple[int, str, str]]:
    """(line, role, target) of every {ref}, {eq} and {doc} role of ``page``."""
    text = page.read_text(encoding="utf-8")
    found = []
    for m in _ROLE.finditer(text):
        body = m.group(2).strip()
        t = _TARGET.search(body)
        target = (t.group(1) if t else body).strip()
        found.append((text.count("\n", 0, m.start()) + 1, m.group(1), target))
    return found


def _doc_exists(page: Path, target: str) -> bool:
    """Whether ``{doc}`target``` of ``page`` names a page: relative to where the page is built
    (book/ for the book's prose, book/executed/ for a notebook), or from the root with '/'."""
    built = REPO / "book" if page.parent.name == "book" else REPO / "book" / "executed"
    where = (REPO / "book" / target.lstrip("/")) if target.startswith("/") else built / target
    where = where.resolve()
    try:
        rel = where.relative_to((REPO / "book").resolve())
    except ValueError:
        return False
    if rel.parts[:1] == ("executed",) and len(rel.parts) == 2:
        return (REPO / "notebooks" / f"{rel.parts[1]}.md").exists()
    return (REPO / "book" / f"{rel}.md").exists()


def _code_files() -> list[Path]:
    """The text files whose citations must name the book's labels: the package, the tests,
    the notebooks (their code cells cite like the package), both READMEs."""
    files = [p for p in (REPO / "src").rglob("*.py") if "__pycache__" not in p.parts]
    files += sorted((REPO / "tests").glob("*.py")) + NOTEBOOK_PAGES
    files += [REPO / "README.md", REPO / "benchmarks" / "README.md"]
    return [p for p in files if p.exists()]


def _no_spec_files() -> list[Path]:
    """Text files of src/, book/ and notebooks/, and the README (generated and ignored
    directories left out)."""
    skip = {"__pycache__", "_build", "executed", "_static"}
    files = [REPO / "README.md"]
    for top in ("src", "book", "notebooks"):
        for p in sorted((REPO / top).rglob("*")):
            rel = p.relative_to(REPO)
            if not p.is_file() or p.suffix not in TEXT_SUFFIXES:
                continue
            if skip & set(rel.parts) or any(part.endswith(".egg-info") for part in rel.parts):
                continue
            files.append(p)
    return files


def test_the_labels_are_found():
    # the model chapter's equations and sections, the learning chapter's, a notebook's
    for label in ("eq-e1", "eq-e25", "model-termination", "learning-smfrl", "audit-explodes"):
        assert label in LABELS, label
    assert len(LABELS) >= 40


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_ref_eq_and_doc_target_exists(page: Path):
    missing = []
    for line, role, target in _roles(page):
        if role in ("ref", "eq"):
            ok = target in LABELS
        else:
            ok = _doc_exists(page, target)
        if not ok:
            missing.append(f"  {page.relative_to(REPO)}:{line}: {{{role}}}`{target}`")
    assert not missing, "references to targets that no page defines:\n" + "\n".join(missing)


def test_every_label_is_defined_once():
    # Sphinx, under -W, fails on a label defined twice
    seen: dict[str, list[str]] = {}
    for page in PAGES:
        for label in _LABEL.findall(page.read_text(encoding="utf-8")):
            seen.setdefault(label, []).append(str(page.relative_to(REPO)))
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    assert not twice, f"labels defined more than once: {twice}"


def test_every_equation_label_has_its_number():
    model = (REPO / "book" / "model.md").read_text(encoding="utf-8")
    for label in (lbl for lbl in LABELS if lbl.startswith("eq-e")):
        n = label.removeprefix("eq-e")
        assert re.search(rf"\\tag\{{E{n}\}}", model), f"({label})= has no \\tag{{E{n}}}"


def test_the_code_cites_labels_that_exist():
    bad = []
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for m in _BOOK_CITE.finditer(text):
            if m.group(1) not in LABELS and m.group(1) not in PAGE_NAMES:
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"  {path.relative_to(REPO)}:{line}: book:{m.group(1)}")
        for m in _EQ_CITE.finditer(_NOQA.sub("", text)):
            if f"eq-e{m.group(1)}" not in LABELS:
                bad.append(f"  {path.relative_to(REPO)}: E{m.group(1)}")
    assert not bad, "citations of labels the book does not define:\n" + "\n".join(sorted(bad))


def test_the_code_cites_the_book():
    # a planted citation of each kind is found, and a wrong one is caught
    assert _BOOK_CITE.findall("(book:model-termination), book:certification.") == [
        "model-termination",
        "certification",
    ]
    assert _BOOK_CITE.findall("jupyter-book: build; the book: a page") == []
    assert _EQ_CITE.findall("E6 and (E25); fn = lambda: 0") == ["6", "25"]
    assert "model-no-such-section" not in LABELS


def test_no_outside_specification_is_cited():
    hits = []
    for path in _no_spec_files():
        for i, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if "SPEC" in line or "spec.md" in line.lower():
                hits.append(f"  {path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, (
        "cite the book's labels (book:<label>, E6, {ref}`label`), not an outside "
        "specification:\n" + "\n".join(hits)
    )
