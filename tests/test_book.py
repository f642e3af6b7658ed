"""The book builds offline with warnings as errors, and renders in a browser without network.

The build runs in a copy of the book's sources in a temporary directory: the audit notebook
is executed there (papermill, profile smoke), then ``jupyter-book build <tmp> -W``. When
Chromium is installed (``make system-deps``), a headless browser then loads the pages from
disk and checks what a reader would see: no resource from a CDN, math typeset by the vendored
MathJax as SVG, and every image present.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
MATHJAX = REPO / "book" / "_static" / "mathjax" / "tex-svg-full.js"
PAGES = (
    "book/intro.html",
    "book/model.html",
    "book/executed/audit_taxai_dynamics.html",
    "book/executed/table3_fixed_policies.html",
    "book/learning.html",
)
CDN_HOSTS = (
    "cdn.jsdelivr.net",
    "cdnjs.cloudflare.com",
    "unpkg.com",
    "polyfill.io",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "ajax.googleapis.com",
    "code.jquery.com",
    "mathjax.org",
)
# a resource loaded from another host: <script src=...>, <link href=...>, <img src=...>, ...
REMOTE_RESOURCE = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*\b(?:src|href)\s*=\s*[\"']"
    r"(?:https?:)?//",
    re.IGNORECASE,
)
IMG_SRC = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)

pytestmark = pytest.mark.skipif(
    not MATHJAX.exists(),
    reason=f"{MATHJAX.relative_to(REPO)} is missing: run `bash scripts/vendor_mathjax.sh`",
)


def _tool(name: str) -> str:
    """A console script of the running interpreter's environment (e.g. .venv/bin/jupyter-book)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """Execute the audit notebook into a copy of the book's sources and build it with -W."""
    jupytext = pytest.importorskip("jupytext")
    papermill = pytest.importorskip("papermill")
    src = tmp_path_factory.mktemp("book_src")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "book", src / "book", ignore=shutil.ignore_patterns("executed"))
    executed = src / "book" / "executed"
    executed.mkdir()
    # every notebook of the book, executed with the smoke profile (the audit at N = 50)
    extra = {"audit_taxai_dynamics": {"n_households": 50}}
    for path in sorted((REPO / "notebooks").glob("*.md")):
        nb = jupytext.read(path)
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        raw = src / f"{path.stem}.ipynb"
        jupytext.write(nb, raw)
        papermill.execute_notebook(
            str(raw),
            str(executed / f"{path.stem}.ipynb"),
            parameters={
                "profile": "smoke",
                "figures_dir": str(src / "figures"),
                **extra.get(path.stem, {}),
            },  # fmt: skip
            cwd=str(executed),
            kernel_name="python3",
            progress_bar=False,
        )
        raw.unlink()
    proc = subprocess.run(
        [_tool("jupyter-book"), "build", str(src), "-W"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"jupyter-book build -W failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    html = src / "_build" / "html"
    for page in PAGES:
        assert (html / page).exists(), f"{page} was not built"
    return html


@pytest.mark.slow
def test_book_builds_offline(built_book: Path):
    for page in PAGES:
        text = (built_book / page).read_text()
        remote = REMOTE_RESOURCE.findall(text)
        assert not remote, f"{page} loads resources from the network: {remote[:3]}"
        hosts = [h for h in CDN_HOSTS if h in text]
        assert not hosts, f"{page} names CDN hosts {hosts}"
    model = (built_book / PAGES[1]).read_text()
    assert "_static/mathjax/tex-svg-full.js" in model, "the model page does not load MathJax"
    audit = (built_book / PAGES[2]).read_text()
    assert "{glue" not in audit, "a glue reference was not resolved"
    assert IMG_SRC.search(audit), "the audit page shows no figure"


def _dump_dom(url: str) -> str:
    """The DOM of a page after scripts ran, from headless Chromium (TOOLCHAIN.md's flags)."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
            "--dump-dom", url,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium failed on {url}:\n{proc.stderr[-2000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed: `make system-deps`"
)
def test_book_renders_in_a_browser(built_book: Path):
    doms = {page: _dump_dom((built_book / page).as_uri()) for page in PAGES}
    model = doms["book/model.html"]
    assert "<mjx-container" in model, "MathJax typeset nothing on the model page"
    assert 'jax="SVG"' in model, "MathJax did not render SVG (CHTML needs fonts we do not ship)"
    assert not re.search(r"<[^>]*data-mml-node=\"merror\"", model), "a TeX error on the model page"
    for page, dom in doms.items():
        base = (built_book / page).parent
        for src in IMG_SRC.findall(dom):
            if src.startswith("data:"):
                continue
            url = urlparse(src)
            assert url.scheme in ("", "file"), f"{page}: image from the network: {src}"
            target = Path(unquote(url.path)) if url.scheme == "file" else base / unquote(url.path)
            assert target.resolve().is_file(), f"{page}: image {src} does not exist"
    assert IMG_SRC.search(doms[PAGES[2]]), "the audit page shows no figure in the browser"
