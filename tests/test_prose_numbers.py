"""No number in the book's prose without its code (issue 16, item 2).

The rule, for the prose of ``book/*.md`` and the markdown cells of ``notebooks/*.md``: every
number a reader sees is one of

- **printed by code on its page**: the output of a code cell, or a value a cell glues into the
  text (``{glue:text}`key```; a page without cells, such as the introduction, glues from the
  page that computes it: ``{glue:text}`executed/audit_taxai_dynamics.ipynb::threshold:.2f```);
- **a paper value quoted as such**: marked ``[1.01e13]{.paper}`` in the source (a MyST span
  of class ``paper``, the ``attrs_inline`` extension of ``_config.yml``), holding the paper's
  number and nothing of ours;
- **part of the model's or the code's definition, written as such**: inside math
  (``$\\beta = 0.96$``, ``$N \\le 100$``, ``$T = 300$``: parameters, bounds, equations) or
  inside inline code, best with the name of the field or parameter that holds it
  (``food_share = 0.13``, ``batch_size``, ``--saving 0.99``);
- **a name that holds a digit**: the short allow-list :data:`ALLOWED` below (the paper's
  tables and figures, the model chapter's equation labels and the name TD3, the settings'
  household counts N = 50, 100, 1,000 and 10,000, the year of the US tax code, citations, the
  95% level of the intervals).

Skipped: YAML front matter, code fences and code cells, inline code and the roles written
with it (``{glue:text}``, ``{doc}``, ``{ref}``, ``{eq}``), math (``$...$``, ``$$...$$``,
``\\begin{...}``), link targets and MyST labels, HTML comments, the markers of numbered
lists. Anything else with a digit fails, naming the file, the line and the token: glue it
from a cell, mark it as the paper's, or write the sentence without it. Numbers in words
("two short epochs") are not checked; a measured result belongs in a cell all the same.

Math is the model's notation: a result written inside ``$...$`` to pass this test is a review
error the test cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "book").glob("*.md")) + sorted((REPO / "notebooks").glob("*.md"))

#: Names that hold a digit but state no number. Each entry is a regex matched on the prose
#: that is left once code, math, glue and paper quotes are removed.
ALLOWED: dict[str, str] = {
    # the paper's artefacts: "Table 3", "Tables 1 and 3", "Figures 2 to 7", "Figure 4 (b)"
    "the paper's tables and figures": r"\b(?:Tables?|Figures?)\s+\d+(?:\s*(?:to|and|-)\s*\d+)?",
    # the model chapter's equation labels (E1 to E25) and the name of TD3
    "labels and names": r"\bE\d+\b|\bTD3\b",
    # the settings of the paper's tables: N = 100, N=100-BC, N = 1,000, N=1000-BC, N = 10,000
    "household counts of a setting": r"\bN\s*=\s*(?:50|100|1,?000|10,?000)(?:-BC)?\b",
    # the 2022 US federal income tax, a policy's name
    "the year of the US tax code": r"\b2022\b",
    # the level of the intervals the pages print: "mean and 95% interval across seeds", "band"
    "the confidence level": r"\b95%(?=\s+(?:t-)?(?:intervals?|band|confidence))",
    # citations: the paper's arXiv identifier, "Fujimoto et al., 2018"
    "citations": r"\barXiv\s+\d{4}\.\d{4,5}(?:v\d+)?|\bet al\.,?\s+\d{4}\b",
}

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_FENCE = re.compile(r"^(?P<ind>[ \t]*)(?P<fence>`{3,}|~{3,})")
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
# inline math may run over a line break, never over a blank line (a new paragraph)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(?:[^$\n]|\n(?![ \t]*\n))+?(?<!\\)\$")
_PAPER = re.compile(r"\[[^\[\]\n]*\]\{\.paper\}")
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)|<https?://[^>]*>")
_LABEL = re.compile(r"^\s*\([\w:.-]+\)=\s*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LIST_MARKER = re.compile(r"^[ \t]*\d+[.)][ \t]", re.MULTILINE)
_DIGIT_TOKEN = re.compile(r"[^\s]*\d[^\s]*")


def _blank(match: re.Match) -> str:
    """The match replaced by spaces, its newlines kept (so line numbers stay right)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _without_fences(text: str) -> str:
    """Code fences and code cells (``` or ~~~, any info string) blanked, lines kept."""
    out, fence = [], None
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group("fence")
            out.append("")
        elif fence is not None:
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def prose(text: str) -> str:
    """The prose of a MyST page, with everything that may hold a digit blanked out (front
    matter, fences, math, code and roles, paper quotes, link targets, labels, comments),
    line breaks kept."""
    text = _FRONT_MATTER.sub(_blank, text)
    text = _without_fences(text)
    text = _COMMENT.sub(_blank, text)
    text = _INLINE_CODE.sub(_blank, text)
    text = _DISPLAY_MATH.sub(_blank, text)
    text = _INLINE_MATH.sub(_blank, text)
    text = _PAPER.sub(_blank, text)
    text = _LINK_TARGET.sub(_blank, text)
    text = _LABEL.sub(_blank, text)
    text = _LIST_MARKER.sub(_blank, text)
    for pattern in ALLOWED.values():
        text = re.sub(pattern, _blank, text)
    return text


def stray_numbers(text: str) -> list[tuple[int, str]]:
    """(line number, token) of every digit left in the prose of ``text``."""
    found = []
    for i, line in enumerate(prose(text).split("\n"), start=1):
        found += [(i, tok) for tok in _DIGIT_TOKEN.findall(line)]
    return found


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_number_in_the_prose_has_its_code(page: Path):
    stray = stray_numbers(page.read_text(encoding="utf-8"))
    where = "\n".join(f"  {page.relative_to(REPO)}:{n}: {tok}" for n, tok in stray)
    assert not stray, (
        f"numbers in the prose that no cell prints (glue them from a cell, mark a paper value "
        f"[x]{{.paper}}, or write the sentence without them):\n{where}"
    )


def test_a_planted_number_fails():
    page = "The free market ends in year 1, with per-capita GDP 1.28e5 dollars.\n"
    assert stray_numbers(page) == [(1, "1,"), (1, "1.28e5")]


def test_what_is_skipped_is_skipped():
    lines = [
        "---",
        "jupytext: {format_version: 0.13}",
        "---",
        "# Table 3 at N = 1,000 and N=100-BC",
        "Ours is {glue:text}`t3_smfg_gdp`; the paper reports [1.01e13]{.paper} (Figures 2 to 7).",
        "With $\\beta = 0.96$ and `food_share = 0.13`, see {doc}`executed/fig2_training_curves`",
        "and {eq}`e12`, E25, the 2022 tax [arXiv 2403.12093](https://arxiv.org/abs/2403.12093).",
        "```{code-cell} ipython3",
        "x = 42",
        "```",
        "$$",
        "u(c) = c^{1 - 2} / (1 - 2)",
        "$$",
        "(sec-9)=",
        "<!-- 17 -->",
    ]
    page = "\n".join(lines)
    assert stray_numbers(page) == []


def test_a_number_beside_a_marked_one_still_fails():
    page = "The paper reports [9.68e12]{.paper}, ours 3.1e12, at N = 1,000.\n"
    assert stray_numbers(page) == [(1, "3.1e12,")]


def test_the_allow_list_is_short():
    assert len(ALLOWED) <= 7
