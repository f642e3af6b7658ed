"""Certified learning curves: how exploitable a run's policies are, epoch by epoch
(book:certification).

A ``clearing`` run with ``certify_every = K`` certifies its current policies after every K-th
epoch, and the epoch's metrics row gains the figures of :func:`certify_policies`:

- ``cert_cev_median_pct``, ``cert_cev_mean_pct``: the followers' exploitability, the median
  and mean over the window's household states of the consumption-equivalent gain of the
  exact best response, percent (inf where no finite scaling of consumption reaches it);
- ``cert_loss_median_pct``: the median gain as a loss of the best response's consumption,
  percent (always finite);
- ``cert_saving_gap``: the followers' saving share minus the best response's, averaged
  over the window's household states (negative: they save too little);
- ``cert_leader_gap``: the leader return of the best E6 grid point, households
  best-responding, minus the learned leader's;
- ``cert_leader_return``: the learned leader's return in the certification episode;
- ``cert_years``: the years the certification episode's economy survived;
- ``cert_s``: the seconds the certification took;
- ``cert_converged``: 1 if the best response converged at the window's prices, else 0, and then
  the followers' four figures above are NaN: the comparison is with a best response that was
  not found (measured: an economy whose capital collapsed to an interest rate of 66%, where
  beta (1 + r) > 1 and a household's saving runs to the top of the asset grid; the
  unconverged "best response" was worth 10% less than the followers' rule).

The other epochs hold NaN in these columns (the metrics CSV writes ``nan``; every epoch has
the same columns), and so do figures that cannot be computed: the followers' when the episode
ends before the averaging window, the gap when the settings have no leader grid.

The policies are the trainer's current ones (``trainer.policy_state()``, read by
:func:`smfg.runs.learned.learned_policy` without exploration noise), certified as
``smfg certify`` certifies a finished run: the run's seed, households and shocks in an
economy of its own. Nothing is drawn from the trainer's generators (the global torch RNG is
forked around it too), so a run's curve is the same whether or not it was killed and
resumed, and as the points are part of the epochs' metrics a resumed run keeps those it has.
The leader grid's points (a stationary equilibrium and a best response each) do not depend
on the policies: they are cached in the process (``_grid_point_response``, and the grid
points' returns with them), so a run solves them at its first certification only.

Cost with :data:`CURVE_SETTINGS` (one CPU thread, SMFRL policies of a ``clearing`` run): the
first certification in a process solves the grid's 27 points, about 1 minute at N = 20 and
2 at N = 100; every later one takes about 2 s at N = 20 and 2.5 to 5 s at N = 100, almost
all of it the followers' (the simulated episode and the best response on 200 x 5 states).

:func:`with_curves` adds the certification to any trainer of the run store's protocol
(:func:`smfg.runs.train.make_trainer` does it for every run whose spec asks);
:func:`certified_curves` reads the curves of a set of runs into one tidy table.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import torch

from smfg.config import economy_params
from smfg.runs.certify import certify_policies, check_settings
from smfg.runs.learned import learned_policy
from smfg.runs.store import CONFIG_FILE, RunStore

__all__ = [
    "CURVE_METRICS",
    "CURVE_SETTINGS",
    "CurveTrainer",
    "certified_curves",
    "certify_point",
    "curve_settings",
    "with_curves",
]

#: Certification settings of a curve's points (a run's ``certify_settings`` overrides them):
#: coarser than ``smfg certify``'s defaults (500 assets x 7 abilities, leader grid on 100
#: assets), as a curve certifies many times.
CURVE_SETTINGS = {
    "burn_in": 100,
    "na": 200,
    "ne": 5,
    "grid_points": 3,
    "grid_na": 60,
    "leader": True,
}

#: The columns a certified run adds to its metrics (see the module docstring).
CURVE_METRICS = (
    "cert_cev_median_pct",
    "cert_cev_mean_pct",
    "cert_loss_median_pct",
    "cert_saving_gap",
    "cert_leader_gap",
    "cert_leader_return",
    "cert_years",
    "cert_s",
    "cert_converged",
)

#: The followers' figures of a certification that only mean something against a best response.
_FOLLOWER_FIGURES = ("cev_median_pct", "cev_mean_pct", "loss_median_pct", "saving_gap_mean")

# seeds batched in one process certify one after another: the first solves the leader grid,
# the others find it cached
_LOCK = threading.Lock()


def curve_settings(overrides: dict | None = None) -> dict:
    """:data:`CURVE_SETTINGS` with ``overrides``, checked (a ValueError names a bad one)."""
    overrides = dict(overrides or {})
    try:
        return check_settings(**{**CURVE_SETTINGS, **overrides})
    except ValueError as e:
        raise ValueError(f"certify_settings = {overrides!r}: {e}") from None


def certify_point(policy_state: dict, settings: dict | None = None) -> dict:
    """The ``cert_*`` metrics of the policies in ``policy_state`` (a trainer's
    ``policy_state()`` or a finished run's), with :func:`curve_settings` ``(settings)``."""
    st = curve_settings(settings)
    cfg = policy_state["config"]
    params = economy_params(cfg["variant"], **cfg.get("economy", {}))
    t0 = time.perf_counter()
    with _LOCK, torch.random.fork_rng(devices=[]):
        pol = learned_policy(policy_state, noise_std=0.0, seed=int(cfg["seed"]))
        res = certify_policies(
            params,
            pol.leader,
            pol.followers,
            int(cfg["n_households"]),
            int(cfg["seed"]),
            cfg.get("leader_reward", "gdp"),
            reward_weights=cfg.get("leader_reward_weights", (1.0, 1.0, 1.0)),
            leader_mean=False,
            **st,
        )
    fol, gap = res["followers"], res.get("leader", {})
    converged = fol.get("best_response_converged")
    if converged is False:  # no best response to compare with: the followers are not certified
        fol = {k: v for k, v in fol.items() if k not in _FOLLOWER_FIGURES}
    return {
        "cert_cev_median_pct": fol.get("cev_median_pct", math.nan),
        "cert_cev_mean_pct": fol.get("cev_mean_pct", math.nan),
        "cert_loss_median_pct": fol.get("loss_median_pct", math.nan),
        "cert_saving_gap": fol.get("saving_gap_mean", math.nan),
        "cert_leader_gap": gap.get("gap", math.nan),
        "cert_leader_return": res["episode"]["leader_return"],
        "cert_years": float(res["episode"]["years"]),
        "cert_s": time.perf_counter() - t0,
        "cert_converged": math.nan if converged is None else float(converged),
    }


class CurveTrainer:
    """A trainer of the run store's protocol whose epochs also certify (every ``every``-th
    epoch, counted from the run's start, so a resumed run certifies the same epochs)."""

    def __init__(self, trainer, every: int, settings: dict | None = None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"CurveTrainer every = {every!r}: allowed an integer >= 1")
        self.trainer, self.every = trainer, every
        self.settings = curve_settings(settings)
        self.n_epochs = trainer.n_epochs

    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    def train_epoch(self) -> dict:
        row = self.trainer.train_epoch()
        if self.trainer.epoch % self.every == 0:
            row.update(certify_point(self.trainer.policy_state(), self.settings))
        else:
            row.update(dict.fromkeys(CURVE_METRICS, math.nan))
        return row

    def state_dict(self) -> dict:
        return self.trainer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state)

    def policy_state(self) -> dict:
        return self.trainer.policy_state()

    def __getattr__(self, name: str):  # cfg, env, learner, ...: the wrapped trainer's
        if name == "trainer":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.trainer, name)


def with_curves(trainer, spec: dict):
    """``trainer`` itself, or a :class:`CurveTrainer` of it when the run's ``spec`` has
    ``certify_every`` > 0 (with its ``certify_settings``)."""
    every = int(spec.get("certify_every", 0) or 0)
    if every <= 0:
        return trainer
    return CurveTrainer(trainer, every, spec.get("certify_settings") or {})


def certified_curves(runs: Iterable) -> pd.DataFrame:
    """The certified points of the runs' curves, one row per run and certified epoch:
    algo, seed, n_households, epoch, run_dir and the :data:`CURVE_METRICS` columns.

    ``runs``: run directories or the run store's ``RunResult``s (finished or in progress);
    a run trained without ``certify_every`` is refused with its directory named.
    """
    frames = []
    for run in runs:
        run_dir = Path(run.run_dir if hasattr(run, "run_dir") else run)
        if not (run_dir / CONFIG_FILE).exists():
            raise ValueError(f"run {str(run_dir)!r}: allowed a run directory of the run store")
        spec = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))["spec"]
        if not spec.get("certify_every"):
            raise ValueError(
                f"run {str(run_dir)!r} was trained without certify_every: allowed runs "
                "trained with certify_every > 0"
            )
        m = RunStore(run_dir.parent).load_metrics(run_dir)
        m = m[m["cert_years"].notna()] if "cert_years" in m else m.iloc[:0]
        # the certification episode runs the economy's T steps at most
        horizon = economy_params(spec["variant"], **spec.get("economy", {})).T
        frames.append(
            pd.DataFrame(
                {
                    "algo": spec.get("algo", "run"),
                    "seed": int(spec["seed"]),
                    "n_households": int(spec["n_households"]),
                    "epoch": m["epoch"].astype(int),
                    "run_dir": str(run_dir),
                    "horizon": float(horizon),
                    **{k: m[k].astype(float) if k in m else math.nan for k in CURVE_METRICS},
                }
            )
        )
    columns = ["algo", "seed", "n_households", "epoch", "run_dir", "horizon", *CURVE_METRICS]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
