"""environment.yml (the conda route) installs what `make setup` installs, with the same pins:
every package it pins has requirements/constraints.txt's version, every dependency of
pyproject.toml (its extras included) is listed at pyproject's pin, and the constraints file
itself is passed to pip."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = _PIN.match(line.split("#")[0].strip())
        if m:
            out[_name(m.group(1))] = m.group(3)
    return out


def _environment() -> tuple[list[str], list[str]]:
    yaml = pytest.importorskip("yaml")
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    return conda, pip


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_environment_pins_equal_the_constraints():
    _, pip = _environment()
    constraints = _pins((REPO / "requirements" / "constraints.txt").read_text().splitlines())
    pins = _pins(pip)
    assert len(pins) >= 10
    differ = {k: (v, constraints.get(k)) for k, v in pins.items() if constraints.get(k) != v}
    assert not differ, f"environment.yml vs requirements/constraints.txt: {differ}"


def test_environment_lists_every_dependency_of_pyproject_at_its_pin():
    conda, pip = _environment()
    project = _pyproject()
    wanted = _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= _pins(extra)
    assert "pytest-xdist" in wanted  # make test runs pytest -n 2
    pins = _pins(pip)
    missing = {k: v for k, v in wanted.items() if pins.get(k) != v}
    assert not missing, f"environment.yml lacks or pins otherwise: {missing}"
    assert "-c requirements/constraints.txt" in pip  # every other package at its pin too
    (editable,) = [d for d in pip if d.startswith("-e .[")]
    assert set(editable[5:-1].split(",")) == set(project["optional-dependencies"])
    assert "python=3.11" in conda  # the Makefile requires 3.11
