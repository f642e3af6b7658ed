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
- ``cert_s``: the seconds the certification took.

The other epochs hold NaN in these columns (the metrics CSV writes ``nan``; every epoch has
the same columns), and so do figures that cannot be computed: the followers' when the episode
ends before the averaging window, the gap when the settings have no leader grid.

The policies are the trainer's current ones (``trainer.policy_state()``, read by
:func:`smfg.experiments.learned.learned_policy` without exploration noise), certified as
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
(:func:`smfg.experiments.train.make_trainer` does it for every run whose spec asks);
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
from smfg.experiments.certify_run import certify_policies, certify_run, check_settings
from smfg.experiments.learned import learned_policy
from smfg.experiments.store import CONFIG_FILE, RunStore
from smfg.stats import mean_interval, seed_interval

__all__ = [
    "CURVE_TARGETS",
    "curve_facts",
    "CURVE_ROWS",
    "CURVE_EVERY",
    "CURVE_EPOCHS",
    "train_certified",
    "certified_requests",
    "certified_table",
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
)

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
            params, pol.leader, pol.followers, int(cfg["n_households"]), int(cfg["seed"]),
            cfg.get("leader_reward", "gdp"),
            reward_weights=cfg.get("leader_reward_weights", (1.0, 1.0, 1.0)),
            leader_mean=False, **st,
        )  # fmt: skip
    fol, gap = res["followers"], res.get("leader", {})
    return {
        "cert_cev_median_pct": fol.get("cev_median_pct", math.nan),
        "cert_cev_mean_pct": fol.get("cev_mean_pct", math.nan),
        "cert_loss_median_pct": fol.get("loss_median_pct", math.nan),
        "cert_saving_gap": fol.get("saving_gap_mean", math.nan),
        "cert_leader_gap": gap.get("gap", math.nan),
        "cert_leader_return": res["episode"]["leader_return"],
        "cert_years": float(res["episode"]["years"]),
        "cert_s": time.perf_counter() - t0,
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
        frames.append(pd.DataFrame({
            "algo": spec.get("algo", "run"), "seed": int(spec["seed"]),
            "n_households": int(spec["n_households"]), "epoch": m["epoch"].astype(int),
            "run_dir": str(run_dir), "horizon": float(horizon),
            **{k: m[k].astype(float) if k in m else math.nan for k in CURVE_METRICS},
        }))  # fmt: skip
    columns = ["algo", "seed", "n_households", "epoch", "run_dir", "horizon", *CURVE_METRICS]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# --- the certified learning page: its runs and its table ------------------------------------

#: The rows of the certified learning page: label -> (algorithm, training overrides). SMFRL
#: with each leader gradient, and two baselines of the DDPG family whose leaders learn.
#: The followers-first row's options (book:learning-choices): the leader waits a quarter of
#: the quick profile's epochs, the followers discount at the households' own beta and explore
#: with independent draws of a larger noise.
FOLLOWERS_FIRST = (
    ("leader_start_epoch", 10), ("follower_gamma", 0.96), ("follower_noise_std", 0.1),
    ("follower_noise_per_household", True),
)  # fmt: skip
CURVE_ROWS = {
    "SMFRL (nash)": ("smfrl", (("leader_gradient", "nash"),)),
    "SMFRL (stackelberg)": ("smfrl", (("leader_gradient", "stackelberg"),)),
    "SMFRL (nash, followers first)": ("smfrl", (("leader_gradient", "nash"), *FOLLOWERS_FIRST)),
    "DDPG": ("ddpg", ()),
    "MF-MARL": ("mfmarl", ()),
}
#: Epochs between certifications and training epochs, by profile.
CURVE_EVERY = {"smoke": 1, "quick": 5, "paper": 50}
#: Coarser certification settings where a profile needs them (smoke: the page must run in a
#: minute or two: 60 x 3 household grid, an 8-point leader grid on 40 assets).
CURVE_PROFILE_SETTINGS = {"smoke": {"na": 60, "ne": 3, "grid_points": 2, "grid_na": 40}}
CURVE_EPOCHS = {"smoke": 2, "quick": 40, "paper": 1000}
#: The followers' learning rate after BC in these runs (the `clearing` page's: enough to move,
#: not to undo the clone).
CURVE_FOLLOWER_LR = 1e-4


def certified_requests(
    profile: str = "quick",
    n_households: int = 100,
    seeds: Iterable[int] | None = None,
    leader_reward: str = "output",
    rows: dict | None = None,
    every: int | None = None,
    epochs: int | None = None,
) -> list[tuple[str, object]]:
    """(label, :class:`~smfg.experiments.registry.RunRequest`) of every run of the certified
    learning page: every row of ``rows`` (default :data:`CURVE_ROWS`) in `clearing` with BC,
    each seed (default: the profile's), certifying every ``every`` epochs (default
    :data:`CURVE_EVERY`), for ``epochs`` epochs (default :data:`CURVE_EPOCHS`), the leader on
    ``leader_reward``. Every row trains with the same households, seeds, epochs and follower
    learning rate, and differs only by its algorithm and overrides."""
    from smfg.experiments.registry import ARTEFACT_PROFILES, RunRequest

    rows = CURVE_ROWS if rows is None else rows
    every = CURVE_EVERY[profile] if every is None else int(every)
    epochs = CURVE_EPOCHS[profile] if epochs is None else int(epochs)
    seeds = range(ARTEFACT_PROFILES[profile].seeds) if seeds is None else seeds
    common = {"certify_every": every, "epochs": epochs, "bc_follower_lr": CURVE_FOLLOWER_LR}
    if profile in CURVE_PROFILE_SETTINGS:
        common["certify_settings"] = dict(CURVE_PROFILE_SETTINGS[profile])
    if leader_reward != "gdp":
        common["leader_reward"] = leader_reward
    out = []
    for label, (algo, over) in rows.items():
        own = tuple(sorted({**common, **dict(over)}.items()))
        out += [(label, RunRequest(algo, profile, "clearing", int(n_households), True, int(s),
                                   own)) for s in seeds]  # fmt: skip
    return out


def train_certified(
    profile: str = "quick",
    root: str | Path = "results",
    n_households: int = 100,
    seeds: Iterable[int] | None = None,
    leader_reward: str = "output",
    rows: dict | None = None,
    every: int | None = None,
    epochs: int | None = None,
    progress=print,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or load) the runs of :func:`certified_requests` (same arguments).

    Returns (runs, curves): one row per run (label, algo, seed, run_dir, follower_batch,
    epochs, and the finished leader checked like for like: ``final_br_return``, the return
    of its own window-mean taxes with households best-responding, ``final_best_return``, the
    best grid point's, and ``final_br_gap_pct``, the gap in percent of the best's magnitude)
    and :func:`certified_curves` of the runs with their ``label``, the best grid point's
    return (``cert_best_return``) and the gap in percent of its magnitude
    (``cert_leader_gap_pct``: the learned pair's return, followers as learned, against the
    grid's with households best-responding).
    """
    from smfg.experiments.registry import train_requests

    reqs = certified_requests(profile, n_households, seeds, leader_reward, rows, every, epochs)
    results = train_requests([r for _, r in reqs], root, progress)
    out, frames = [], []
    for (label, req), res in zip(reqs, results, strict=True):
        cfg = res.policy_state["config"]
        # the finished leader's own stationary taxes with households best-responding, beside
        # the best grid point (cached in the run directory)
        st = curve_settings(cfg.get("certify_settings"))
        done = certify_run(res.run_dir, **st)
        fin = done.get("leader", {})
        saving_gap = done["followers"].get("saving_gap_mean", math.nan)
        mine = [r for r in fin.get("rows", []) if not r.get("on_grid")]
        br = mine[0]["leader_return"] if mine else math.nan
        best = fin.get("best", {}).get("leader_return", math.nan)
        out.append({"label": label, "algo": req.algo, "seed": req.seed,
                    "run_dir": str(res.run_dir), "follower_batch": cfg.get("follower_batch", ""),
                    "epochs": int(cfg["epochs"]), "final_br_return": br,
                    "final_best_return": best,
                    "final_br_gap_pct": 100.0 * (best - br) / abs(best),
                    "final_saving_gap": saving_gap})  # fmt: skip
        frames.append(certified_curves([res.run_dir]).assign(label=label))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    curves["cert_best_return"] = curves.cert_leader_return + curves.cert_leader_gap
    curves["cert_leader_gap_pct"] = 100.0 * curves.cert_leader_gap / curves.cert_best_return.abs()
    return pd.DataFrame(out), curves


def certified_table(
    curves: pd.DataFrame, keys: tuple[str, ...] = ("label",), runs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The last certified epoch of each run, summarised across seeds: per ``keys`` the mean
    and 95% interval (within each metric's range, :func:`smfg.stats.seed_interval`; the
    years' upper end is the ``horizon`` column's T) of the median exploitability, the
    leader's return, the best grid point's, the gap (absolute and in percent of the best's
    magnitude) and the years; the seeds' median exploitabilities side by side (one infinite
    seed makes the mean infinite); with ``runs`` (:func:`train_certified`'s), the finished
    leaders' like-for-like gap (``br_gap_pct``: own window-mean taxes and the best grid
    point, both with households best-responding)."""
    last = (
        curves.sort_values(["seed", "epoch"], kind="stable").groupby("run_dir", sort=False).tail(1)
    )
    metrics = (
        "cert_cev_median_pct", "cert_loss_median_pct", "cert_saving_gap", "cert_leader_return",
        "cert_best_return",
        "cert_leader_gap", "cert_leader_gap_pct", "cert_years",
    )  # fmt: skip
    rows = []
    for cell, g in last.groupby(list(keys), sort=False):
        cell = cell if isinstance(cell, tuple) else (cell,)
        row = dict(zip(keys, cell, strict=True))
        row["epoch"] = int(g.epoch.max())
        row["seeds"] = len(g)
        horizon = float(g.horizon.max()) if "horizon" in g else math.nan
        horizon = horizon if math.isfinite(horizon) else None
        row["horizon"] = math.nan if horizon is None else horizon
        for m in metrics:
            mean, lo, hi = seed_interval(g[m].dropna().tolist(), m, horizon)
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = mean, lo, hi
        row["cev_median_by_seed"] = ", ".join(f"{v:.3g}" for v in g.cert_cev_median_pct)
        if runs is not None and "final_br_gap_pct" in runs:
            r = runs[runs.run_dir.isin(set(g.run_dir))]
            for key, col in (("br_gap_pct", "final_br_gap_pct"),
                             ("final_saving_gap", "final_saving_gap")):  # fmt: skip
                vals = r[col].replace([math.inf, -math.inf], math.nan).dropna().tolist()
                mean, lo, hi = mean_interval(vals) if vals else (math.nan,) * 3
                row[key], row[f"{key}_lo"], row[f"{key}_hi"] = mean, lo, hi
            row["br_infeasible"] = int((~r.final_br_gap_pct.apply(math.isfinite)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


#: The certification targets of the `quick` profile at N = 100 (issue 15): the followers'
#: median consumption-equivalent gain of the best response, in percent, and the leader's gap
#: to the best E6 grid point, in percent of that point's return.
CURVE_TARGETS = {"cev_median_pct": 5.0, "leader_gap_pct": 10.0}


def curve_facts(table: pd.DataFrame, nash: str = "SMFRL (nash)",
                stackelberg: str = "SMFRL (stackelberg)") -> dict[str, str]:  # fmt: skip
    """What the certified learning page states, from :func:`certified_table`: for each SMFRL
    row, its followers' median gain and its leader's gap (mean and 95% interval across seeds)
    and whether each meets :data:`CURVE_TARGETS`; and which leader gradient ended with the
    higher leader return. Keys ``cc_*``; 'n/a' where a row is missing."""
    from smfg.experiments.aggregate import format_interval

    t = table.set_index("label")
    out = {}
    for key, label in (("nash", nash), ("stack", stackelberg)):
        if label not in t.index:
            out.update({f"cc_{key}_{k}": "n/a" for k in ("cev", "gap", "cev_ok", "gap_ok")})
            continue
        r = t.loc[label]
        cev = r["cert_cev_median_pct"]
        # the like-for-like gap when the table has it (both with best-responding households)
        has_br = "br_gap_pct" in r and math.isfinite(r["br_gap_pct"])
        gkey = "br_gap_pct" if has_br else "cert_leader_gap_pct"
        gap = r[gkey]
        out[f"cc_{key}_cev"] = format_interval(cev, r["cert_cev_median_pct_lo"],
                                               r["cert_cev_median_pct_hi"])  # fmt: skip
        out[f"cc_{key}_gap"] = format_interval(gap, r[f"{gkey}_lo"], r[f"{gkey}_hi"])
        out[f"cc_{key}_cev_ok"] = "meets" if cev <= CURVE_TARGETS["cev_median_pct"] else "misses"
        out[f"cc_{key}_gap_ok"] = "meets" if gap <= CURVE_TARGETS["leader_gap_pct"] else "misses"
    if nash in t.index and stackelberg in t.index:
        a, b = t.loc[stackelberg, "cert_leader_return"], t.loc[nash, "cert_leader_return"]
        out["cc_better_gradient"] = "stackelberg" if a >= b else "nash"
        out["cc_return_nash"] = f"{b:.4g}"
        out["cc_return_stack"] = f"{a:.4g}"
    else:
        out.update(cc_better_gradient="n/a", cc_return_nash="n/a", cc_return_stack="n/a")
    out["cc_epoch"] = f"{int(table.epoch.max())}" if len(table) else "n/a"
    return out
