"""Data flows one way (ARCHITECTURE.md): each layer imports only layers to its left."""

import ast
import importlib
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "smfg"
# rank of each top-level module or package; a module may import only lower or equal ranks
RANK = {
    "config": 0,
    "profiles": 0,
    "runtime": 0,
    "stats": 0,
    "economy": 1,
    "env": 2,
    "policies": 3,
    "algos": 4,
    "certify": 5,
    "evaluate": 6,
    "runs": 7,
    "paper": 8,
    "perf": 9,
    "plotting": 10,
    "cli": 11,
    "__main__": 12,
    "__init__": 12,
}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("smfg"):
            yield node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("smfg"):
                    yield alias.name


def test_every_import_goes_left():
    bad = []
    files = list(SRC.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        me = _layer(path)
        assert me in RANK, f"{path} is in no known layer: add it to RANK"
        for mod in _imports(path):
            parts = mod.split(".")
            if len(parts) == 1:
                continue
            target = parts[1]
            assert target in RANK, f"{path} imports unknown layer {mod}"
            if RANK[target] > RANK[me]:
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_economy_never_imports_learning_or_the_paper():
    for path in (SRC / "economy").glob("*.py"):
        for mod in _imports(path):
            assert not mod.startswith(("smfg.algos", "smfg.paper", "smfg.env")), (path, mod)


def _resolved_imports(path: Path, src: Path = SRC):
    """Every module ``path`` (a file under ``src``) imports, as a dotted name: ``from smfg
    import x`` is ``smfg.x``, relative imports resolved against the file's package."""
    package = ["smfg", *path.relative_to(src).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


#: What each upper layer never imports, whatever the form of the import (a relative one, a
#: function-local one, ``from smfg import x``): runs < paper < perf < cli.
NEVER = {
    "runs": ("smfg.paper", "smfg.perf", "smfg.cli", "smfg.__main__"),
    "paper": ("smfg.perf", "smfg.cli", "smfg.__main__"),
    "perf": ("smfg.cli", "smfg.__main__"),
}


def _offences(layer: str, src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted((src / layer).rglob("*.py")):
        for mod in _resolved_imports(path, src):
            if mod.startswith(NEVER[layer]):
                bad.append(f"{path.relative_to(src)} imports {mod}")
    return bad


def test_runs_never_import_the_paper_layer_perf_or_the_cli():
    """runs/ works on run specs: the paper layer passes them in (and any hook), never the
    other way round."""
    assert (SRC / "runs" / "train.py").exists()
    bad = _offences("runs")
    assert not bad, "the run machinery imports above itself:\n" + "\n".join(bad)


def test_the_paper_layer_never_imports_perf_or_the_cli():
    assert (SRC / "paper" / "artefacts.py").exists()
    bad = _offences("paper")
    assert not bad, "the paper layer imports above itself:\n" + "\n".join(bad)


def test_perf_never_imports_the_cli():
    assert (SRC / "perf" / "bench.py").exists()
    bad = _offences("perf")
    assert not bad, "perf imports the CLI:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("layer", "forms"),
    [
        (
            "runs",
            [
                "from smfg.paper.artefacts import get_experiment",
                "from smfg.paper import collection",
                "from smfg import paper",
                "import smfg.cli",
                "from ..paper import curves",
                "from smfg.perf import bench",
                "def f():\n    from smfg.paper.curves import certified_requests\n",
            ],
        ),
        (
            "paper",
            [
                "from smfg.perf.bench import bench_env",
                "from smfg import perf",
                "from ..perf import scaling",
                "import smfg.cli",
                "def f():\n    from smfg.cli import main\n",
            ],
        ),
        ("perf", ["from smfg.cli import main", "from smfg import cli", "from .. import cli"]),
    ],
)
def test_the_layer_checks_see_every_form_of_import(tmp_path, layer, forms):
    """The checks above fail on a back-edge however it is written."""
    fake = tmp_path / "smfg"
    (fake / layer).mkdir(parents=True)
    for i, line in enumerate(forms):
        (fake / layer / f"m{i}.py").write_text(line + "\n")
    (fake / layer / "ok.py").write_text("from smfg.runs.store import RunStore\n")
    bad = _offences(layer, fake)
    assert sorted({b.split()[0] for b in bad}) == [f"{layer}/m{i}.py" for i in range(len(forms))]


def _module_graph(src: Path = SRC) -> dict[str, list[str]]:
    """Every module of the package and the package modules it imports (function-local
    imports included), by dotted name: ``from smfg.economy import firm`` is an edge to the
    module ``smfg.economy.firm``, ``from smfg.economy import step`` (a function) to the
    package ``smfg.economy``."""
    mods = {}
    for path in src.rglob("*.py"):
        parts = ["smfg", *path.relative_to(src).with_suffix("").parts]
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in mods.items():
        package = ["smfg", *path.relative_to(src).parts[:-1]]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.add(sub if sub in mods else module)
        graph[name] = sorted(t for t in targets if t in mods and t != name)
    return graph


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                found.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_the_package_has_no_import_cycle():
    """No two modules import each other, directly or around a loop, even through a
    function-local import (which would only hide the cycle)."""
    cycles = _cycles(_module_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_hidden_cycle(tmp_path):
    fake = tmp_path / "smfg"
    (fake / "runs").mkdir(parents=True)
    (fake / "runs" / "a.py").write_text("from smfg.runs.b import g\n")
    (fake / "runs" / "b.py").write_text("def g():\n    from smfg.runs import a\n")
    assert _cycles(_module_graph(fake)) == [["smfg.runs.a", "smfg.runs.b", "smfg.runs.a"]]


# --- the notebooks: the paper layer's public names and plotting only -------------------------

NOTEBOOKS = sorted((SRC.parents[1] / "notebooks").glob("*.md"))

#: Imports beside the paper layer, by design: the scaling page is the book's performance study
#: and reads its tables from ``smfg.perf.scaling``, the layer (above the paper layer) that owns
#: them.
NOTEBOOK_EXCEPTIONS = {
    "scaling": {"smfg.perf.scaling"},
}

_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _public(module: str) -> set[str]:
    return set(getattr(importlib.import_module(module), "__all__", ()))


def _notebook_offences(text: str) -> list[str]:
    """What a notebook's code imports from smfg other than ``smfg.paper`` (or one of its
    submodules that ``smfg.paper.__all__`` lists) and ``smfg.plotting``, or a name that the
    module it comes from does not list in its ``__all__``."""
    paper = _public("smfg.paper")
    bad = []
    code = "\n".join(m.group(1) for m in _CELL.finditer(text))
    # cell options (`:tags: [parameters]`) and IPython magics are not Python
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!", ":"))]
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            pairs = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            pairs = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in pairs:
            if module != "smfg" and not module.startswith("smfg."):
                continue
            full = module if name is None else f"{module}.{name}"
            if full in ("smfg.paper", "smfg.plotting"):
                continue
            sub = module.removeprefix("smfg.paper.")
            if module == "smfg.paper" or module == "smfg.plotting":
                ok = name in _public(module)
            elif module.startswith("smfg.paper.") and sub in paper:
                ok = name is None or name in _public(module)
            else:
                ok = False
            if not ok:
                bad.append(full)
    return bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_only_the_paper_layer_and_plotting(path: Path):
    bad = set(_notebook_offences(path.read_text()))
    allowed = NOTEBOOK_EXCEPTIONS.get(path.stem, set())
    assert not bad - allowed, f"{path.name} imports below the paper layer: {sorted(bad - allowed)}"
    assert allowed <= bad, f"{path.name} no longer needs {sorted(allowed - bad)}: drop it above"


def test_the_notebook_check_sees_what_is_not_public():
    code = "\n".join(
        [
            "from smfg import paper",
            "from smfg.paper import aggregate as agg, collect",
            "from smfg.paper.facts import fig2_facts",
            "from smfg.plotting import save_figure",
            "import smfg.paper",
            "from smfg.paper.artefacts import with_rewardX",
            "from smfg.runs.store import RunStore",
            "from smfg import config",
            "import smfg.perf.scaling as sc",
            "from smfg.plotting import _style",
        ]
    )
    text = f"# page\n\n```{{code-cell}} ipython3\n{code}\n```\n"
    assert _notebook_offences(text) == [
        "smfg.paper.artefacts.with_rewardX",
        "smfg.runs.store.RunStore",
        "smfg.config",
        "smfg.perf.scaling",
        "smfg.plotting._style",
    ]


def test_config_does_not_import_torch():
    names = {
        n.names[0].name
        for n in ast.walk(ast.parse((SRC / "config.py").read_text()))
        if isinstance(n, ast.Import)
    }
    assert "torch" not in names


# the certification package, one job per module: each imports only those before it
CERTIFY_ORDER = [
    "grids",
    "primitives",
    "progress",
    "hours",
    "evaluation",
    "interp",
    "egm_schedule",
    "egm",
    "maximise",
    "env_objective",
    "envtiming",
    "household",
    "equilibrium",
    "population",
    "rules",
    "leader",
    "exploitability",
    "checks",
    "__init__",
]


def test_certify_modules_import_only_earlier_ones():
    files = {p.stem: p for p in (SRC / "certify").glob("*.py")}
    assert set(files) == set(CERTIFY_ORDER), "add the new certify module to CERTIFY_ORDER"
    bad = []
    for name, path in files.items():
        for mod in _imports(path):
            if mod.startswith("smfg.certify."):
                target = mod.split(".")[2]
                if CERTIFY_ORDER.index(target) >= CERTIFY_ORDER.index(name):
                    bad.append(f"certify/{name}.py imports {mod}")
    assert not bad, "imports against the certify order:\n" + "\n".join(bad)
