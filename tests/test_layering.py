"""Data flows one way (ARCHITECTURE.md): each layer imports only layers to its left."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "smfg"
# rank of each top-level module or package; a module may import only lower or equal ranks
RANK = {
    "config": 0,
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


#: what the run machinery never imports: the paper layer, and what sits on top of it
RUNS_NEVER = ("smfg.paper", "smfg.perf", "smfg.cli", "smfg.__main__")


def _runs_offences(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted((src / "runs").rglob("*.py")):
        for mod in _resolved_imports(path, src):
            if mod.startswith(RUNS_NEVER):
                bad.append(f"{path.relative_to(src)} imports {mod}")
    return bad


def test_runs_never_import_the_paper_layer_or_the_cli():
    """runs/ works on run specs: the paper layer passes them in (and any hook), never the
    other way round."""
    assert (SRC / "runs" / "train.py").exists()
    bad = _runs_offences()
    assert not bad, "the run machinery imports above itself:\n" + "\n".join(bad)


def test_the_runs_check_sees_every_form_of_import(tmp_path):
    """The check above fails on a back-edge however it is written."""
    fake = tmp_path / "smfg"
    (fake / "runs").mkdir(parents=True)
    forms = [
        "from smfg.paper.artefacts import get_experiment",
        "from smfg.paper import registry",
        "from smfg import paper",
        "import smfg.cli",
        "from ..paper import curves",
        "from smfg.perf import bench",
        "def f():\n    from smfg.paper.curves import with_curves\n",
    ]
    for i, line in enumerate(forms):
        (fake / "runs" / f"m{i}.py").write_text(line + "\n")
    (fake / "runs" / "ok.py").write_text("from smfg.runs.store import RunStore\n")
    bad = _runs_offences(fake)
    assert sorted({b.split()[0] for b in bad}) == [f"runs/m{i}.py" for i in range(len(forms))]


def test_config_does_not_import_torch():
    names = {n.names[0].name for n in ast.walk(ast.parse((SRC / "config.py").read_text()))
             if isinstance(n, ast.Import)}  # fmt: skip
    assert "torch" not in names


# the certification package, one job per module: each imports only those before it
CERTIFY_ORDER = [
    "grids",
    "primitives",
    "progress",
    "hours",
    "evaluation",
    "egm",
    "envtiming",
    "household",
    "equilibrium",
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
