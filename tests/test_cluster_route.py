"""The cluster route of the reproduce page: `make runs SCHEDULER=tcp://HOST:PORT` trains every
run on the Dask cluster's workers into the shared run store (RESULTS), prints its estimate
first, and a second call recomputes nothing.

The real Makefile runs in the sandbox of tests/test_make_profile.py (a stand-in virtual
environment whose python is this one), against a LocalCluster of two worker processes, at
the smoke profile, for one page's runs (EXPERIMENT) instead of every page's."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from test_make_profile import make, sandbox  # noqa: F401 (a fixture)

distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
    pytest.mark.slow,
]

#: a page with two short runs (SMFRL, taxai, N = 100, two seeds at the smoke profile)
EXPERIMENT = "fig5_smfg_household_share"
PROGRESS = re.compile(
    r"^\[(\d+)/(\d+)\] .*: trained, \d+ epochs, [\d.]+ s"
    r"(?: \(trained as a batch of \d+ seeds\))? on ([^:\s]+):(\d+)"
)


def test_make_runs_trains_on_a_dask_cluster_into_the_shared_store(sandbox: Path, tmp_path):  # noqa: F811
    store = tmp_path / "shared" / "results"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = {int(p) for p in client.run(os.getpid).values()}
        args = [
            "runs",
            "PROFILE=smoke",
            f"EXPERIMENT={EXPERIMENT}",
            f"RESULTS={store}",
            f"SCHEDULER={cluster.scheduler_address}",
        ]
        r = make(sandbox, *args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"--scheduler {cluster.scheduler_address} --results {store}" in r.stdout
        assert "--workers" not in r.stdout  # the cluster, not the local pool
        lines = r.stderr.splitlines()
        (first,) = [i for i, x in enumerate(lines) if x.startswith("estimate:")]
        assert (
            "2 runs (2 new, 0 partial, 0 done)" in lines[first] and "on 2 workers" in lines[first]
        )
        trained = [(i, PROGRESS.match(x)) for i, x in enumerate(lines) if PROGRESS.match(x)]
        assert len(trained) == 2 and first < trained[0][0]
        assert {int(m[4]) for _, m in trained} <= pids  # computed by the cluster's workers
        assert os.getpid() not in {int(m[4]) for _, m in trained}
        assert "sweep: 2/2 runs done (2 trained" in r.stderr
        done = sorted(p.parent.name for p in store.glob("*/DONE"))
        assert len(done) == 2 and all(d.startswith("smfrl-") for d in done)
        assert not (sandbox / "results").exists()  # nothing in the sandbox's own store

        again = make(sandbox, *args)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "2 runs (0 new, 0 partial, 2 done); 0.00 CPU-hours" in again.stderr
        assert "(0 trained, 0 resumed, 2 already in the store)" in again.stderr
        assert not any(PROGRESS.match(x) for x in again.stderr.splitlines())
        assert sorted(p.parent.name for p in store.glob("*/DONE")) == done


def test_make_runs_fails_fast_without_a_scheduler(sandbox: Path, tmp_path):  # noqa: F811
    r = make(
        sandbox,
        "runs",
        "PROFILE=smoke",
        f"EXPERIMENT={EXPERIMENT}",
        f"RESULTS={tmp_path / 'r'}",
        "SCHEDULER=tcp://127.0.0.1:9",
    )
    assert r.returncode != 0 and "no Dask scheduler answers at tcp://127.0.0.1:9" in r.stderr
