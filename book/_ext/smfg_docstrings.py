"""Sphinx extension of the book: let autodoc read smfg's plain-text docstrings as reST.

smfg's docstrings are written for a terminal (``help()``) and use ``|x|`` for absolute
values, which reStructuredText reads as a substitution reference: under ``-W`` one such
docstring would stop the build. Bars inside a line are escaped before autodoc parses the
docstring (not those that start a line, which keep their line-block meaning, and not those
inside ``inline literals``).
"""

from __future__ import annotations


def _escape_bars(line: str) -> str:
    if line.lstrip().startswith("|"):
        return line
    parts = line.split("``")
    for i in range(0, len(parts), 2):  # outside inline literals
        parts[i] = parts[i].replace("|", "\\|")
    return "``".join(parts)


def process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring: escape bars in place."""
    lines[:] = [_escape_bars(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
