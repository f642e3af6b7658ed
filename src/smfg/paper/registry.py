"""The paper's artefacts as named experiments: the runs each needs and how to aggregate them.

An :class:`Experiment` is a paper table or figure (``EXPERIMENTS["table1_algorithms"]``): a
list of :class:`Row` (a learning algorithm to train, or a fixed government policy with a
household rule), the :class:`Setting` s it is run in (N, behaviour cloning), the economy and
the kind of aggregation. :meth:`Experiment.runs` lists the training runs it needs
(:class:`RunRequest`: algorithm, setting, N, variant, seed, profile); :func:`collect` trains
what is not yet in the run store (a finished run is only loaded, a partial one resumed) and
evaluates every cell, caching evaluations in the results root too (``evaluations/``), so
rebuilding a page never recomputes what is done.

Algorithms are looked up in ``smfg.runs.algorithms.ALGORITHMS`` when asked, so an
experiment lists the paper's algorithms by name and runs those that are registered; the
others are reported by :meth:`Experiment.missing` and shown as "not yet available".

An algorithm registered there is trained by ``train(algo, profile, variant=...,
n_households=..., bc=..., seed=..., **overrides)`` and evaluated through
:func:`smfg.runs.learned.learned_policy` (its module's ``LearnedPolicy`` when it has
one, else SMFRL's).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smfg.config import VARIANTS, check_profile, economy_params
from smfg.evaluate import evaluate, government_policy, household_policy
from smfg.paper.fixed_policies import FIXED_RULES, PAPER_TABLE3
from smfg.paper.pages import page_header
from smfg.policies import Saez
from smfg.runs import algorithms
from smfg.runs.learned import ClonedHouseholds, GroupMeans, MixedHouseholds, learned_policy
from smfg.runs.store import RunStore, atomic_write_text, canonical_spec, config_hash
from smfg.runs.train import run_spec, train

__all__ = [
    "ALGORITHM_LABELS",
    "ARTEFACT_PROFILES",
    "EXPERIMENTS",
    "PAPER_TABLE1",
    "PAPER_VALUES",
    "ArtefactProfile",
    "Collected",
    "Experiment",
    "Row",
    "RunRequest",
    "Setting",
    "BookPaths",
    "bc_losses",
    "book_paths",
    "page_setup",
    "action_distributions",
    "cached_tables",
    "cloned_shares",
    "collect",
    "compare_leaders",
    "get_experiment",
    "POPULATIONS",
    "POPULATION_LABELS",
    "household_share",
    "registered_algorithms",
    "run_epochs",
    "follower_rates",
    "train_requests",
    "training_curves",
]

Progress = Callable[[str], None] | None

# --- the paper's values ----------------------------------------------------------------------

#: The paper's names of the algorithms and policies (Table 1's order, then Table 3's learned).
ALGORITHM_LABELS = {
    "rule_based": "Rule-based",
    "ddpg": "DDPG",
    "maddpg": "MADDPG",
    "iddpg": "IDDPG",
    "mfmarl": "MF-MARL",
    "smfrl": "SMFRL",
    "ppo": "AI Economist",
}

_T1_SETTINGS = ("N=100", "N=100-BC", "N=1000-BC")
_T1_GDP = {
    "Rule-based": (1.41e5, 3.66e11, 1.41e5),
    "DDPG": (1.41e5, 2.03e12, 4.92e11),
    "MADDPG": (4.93e4, 6.38e12, 6.82e12),
    "IDDPG": (1.21e5, 7.41e12, 2.79e12),
    "MF-MARL": (8.66e7, 5.44e12, 1.13e5),
    "SMFRL": (9.59e12, 1.01e13, 9.68e12),
}
_T1_WELFARE = {"Rule-based": (69.27, 79.23, 334.79), "SMFRL": (96.87, 96.90, 975.15)}
_T1_YEARS = {"Rule-based": (1, 217.45, 1), "SMFRL": (300, 300, 300)}


def _paper_table1() -> pd.DataFrame:
    rows = []
    for metric, table in (("per_capita_gdp", _T1_GDP), ("social_welfare", _T1_WELFARE),
                          ("years", _T1_YEARS)):  # fmt: skip
        for label, values in table.items():
            for setting, v in zip(_T1_SETTINGS, values, strict=True):
                rows.append({"paper_row": label, "setting": setting, "metric": metric,
                             "value": float(v)})  # fmt: skip
    return pd.DataFrame(rows)


def _paper_table3() -> pd.DataFrame:
    rows = []
    for r in PAPER_TABLE3.itertuples():
        for setting, col in (("N=100", "gdp_100"), ("N=1000", "gdp_1000")):
            v = getattr(r, col)
            if v == v:
                rows.append({"paper_row": r.policy, "setting": setting,
                             "metric": "per_capita_gdp", "value": float(v)})  # fmt: skip
        rows.append({"paper_row": r.policy, "setting": "N=100", "metric": "years",
                     "value": float(r.years_100)})  # fmt: skip
    return pd.DataFrame(rows)


#: The paper's Table 1, long: paper_row, setting, metric, value. The paper gives
#: every algorithm's per-capita GDP, but welfare and years only for Rule-based and SMFRL,
#: and SMFRL's Ginis only as "about 0.51-0.53"; those are left out.
PAPER_TABLE1 = _paper_table1()

#: The paper's values of each table, long (paper_row, setting, metric, value).
PAPER_VALUES = {"table1": PAPER_TABLE1, "table3": _paper_table3()}

# --- profiles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtefactProfile:
    """How much evaluation a profile does for the artefacts (training is the algorithm's)."""

    seeds: int
    """Training seeds per cell (one run each); the tables' intervals are across them."""
    episodes: int
    """Evaluation episodes per seed (one batch)."""
    steps: int | None
    """Evaluation episode cap (None: the economy's T = 300)."""
    bc_epochs: int
    """Epochs of behaviour cloning for Figure 7's curves."""
    exact_grid: tuple[int, int, float] = (100, 7, 200.0)
    """The exact households' grid: asset points, ability states, top of the asset grid."""
    exact_refine: int = 1
    """Readings of a leader's stationary policy with the exact households it induces (after
    the first, with households on the survival rule)."""
    e6_points: int = 3
    """Values of each of tau, xi and g in the E6 grid of the best-E6 row (3: 27 policies)."""


ARTEFACT_PROFILES = {
    # smoke: coarse exact households and an 8-point E6 grid, so the pages run in minutes
    "smoke": ArtefactProfile(seeds=2, episodes=2, steps=40, bc_epochs=2,
                             exact_grid=(40, 3, 200.0), exact_refine=0, e6_points=2),
    "quick": ArtefactProfile(seeds=3, episodes=5, steps=300, bc_epochs=20),
    "paper": ArtefactProfile(seeds=5, episodes=10, steps=None, bc_epochs=30),
}  # fmt: skip

# --- what an experiment is -------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A column group of the paper's tables: the number of households and whether the
    followers start from behaviour cloning."""

    label: str
    n_households: int
    bc: bool


@dataclass(frozen=True)
class Row:
    """One row of an artefact: a learning algorithm, or a fixed policy pair."""

    key: str
    """Unique within the experiment."""
    label: str
    """The name the book shows (the paper's where there is one)."""
    algo: str | None = None
    """Learned rows: the algorithm to train (its key in ``ALGORITHMS``)."""
    government: str | None = None
    """Fixed rows: a government policy of ``smfg.evaluate.GOVERNMENT_POLICIES``. With
    ``algo`` too, the fallback while that algorithm is not registered."""
    households: str = "setting"
    """Fixed rows: 'bc' (the cloned households), 'random', 'survey', 'fixed' (the variant's
    fixed rule) or 'setting' ('bc' in a BC setting, else 'random': the paper's rule-based)."""
    bc: bool | None = None
    """Learned rows: BC on or off whatever the setting (None: the setting's)."""
    sizes: tuple[int, ...] | None = None
    """Only in settings with these N (None: all)."""
    paper_row: str | None = None
    """The paper's row this one is compared with (None: ``label``)."""

    def __post_init__(self) -> None:
        if self.algo is None and self.government is None:
            raise ValueError(f"Row {self.key!r}: give an algo, a government policy or both")
        allowed = ("setting", "bc", "random", "survey", "fixed")
        if self.households not in allowed:
            raise ValueError(f"Row.households = {self.households!r}: allowed {allowed}")

    def mode(self) -> str:
        """'learned' (its algorithm is registered), 'fixed' (a fixed policy pair, or the
        fallback of an algorithm not registered yet) or 'missing'."""
        if self.algo is not None and self.algo in registered_algorithms():
            return "learned"
        return "fixed" if self.government is not None else "missing"


@dataclass(frozen=True)
class RunRequest:
    """One training run an experiment needs: ``train(algo, profile, **kwargs)``."""

    algo: str
    profile: str
    variant: str
    n_households: int
    bc: bool
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()

    def kwargs(self) -> dict:
        """The keyword arguments of ``smfg.runs.train.train`` besides algo and profile."""
        return {"variant": self.variant, "n_households": self.n_households, "bc": self.bc,
                "seed": self.seed, **dict(self.overrides)}  # fmt: skip

    def spec(self) -> dict:
        """The run's full spec (what the run store hashes)."""
        return run_spec(self.algo, self.profile, **self.kwargs())


def registered_algorithms() -> tuple[str, ...]:
    """The algorithms that can be trained now (``ALGORITHMS``' keys)."""
    return tuple(algorithms.ALGORITHMS)


@dataclass(frozen=True)
class Experiment:
    """A paper artefact: its rows, settings, economy and aggregation."""

    name: str
    """The notebook's name."""
    artefact: str
    """The paper's name for it ('Table 1', 'Figure 4')."""
    title: str
    rows: tuple[Row, ...]
    settings: tuple[Setting, ...]
    variant: str = "taxai"
    aggregate: str = "table"
    """How its cells are aggregated: 'table', 'training_curves', 'efficiency_equity',
    'household_share' or 'bc_loss'."""
    paper: str | None = None
    """Key of the paper's values in ``PAPER_VALUES`` (None: the paper has none)."""
    objectives: tuple[str, ...] = ()
    """Leader rewards the page trains and compares its learned leaders on, one set of runs
    each (empty: the algorithms' default, the paper's ``gdp``)."""
    train_overrides: tuple[tuple[str, str, Any], ...] = ()
    """Config fields the page's runs set: (algorithm or "*" for all, field, value), applied
    where the algorithm's config has the field (a caller's overrides win)."""

    def overrides_for(self, algo: str, overrides: Mapping[str, Any]) -> dict:
        """``overrides`` with the page's own ``train_overrides`` for ``algo`` (the "*" ones
        first, then its own) that ``algo``'s config has."""
        cfg = algorithms.ALGORITHMS[algo][0]("smoke")
        own = {k: v for a, k, v in self.train_overrides if a == "*" and hasattr(cfg, k)}
        own.update({k: v for a, k, v in self.train_overrides if a == algo and hasattr(cfg, k)})
        return {**own, **overrides}

    def settings_for(self, row: Row, sizes: Sequence[int] | None = None) -> list[Setting]:
        """The settings a row runs in, restricted to ``sizes`` when given."""
        out = []
        for s in self.settings:
            if row.sizes is not None and s.n_households not in row.sizes:
                continue
            if sizes is not None and s.n_households not in sizes:
                continue
            out.append(s if row.bc is None else replace(s, bc=row.bc))
        return out

    def available(self, row: Row) -> bool:
        """Whether a row can be computed now (fixed rows always; learned ones once their
        algorithm is registered)."""
        return row.mode() != "missing"

    def missing(self) -> list[Row]:
        """Rows whose algorithm is not registered yet."""
        return [r for r in self.rows if not self.available(r)]

    def runs(
        self,
        profile: str,
        seeds: Sequence[int] | None = None,
        sizes: Sequence[int] | None = None,
        variant: str | None = None,
        **overrides,
    ) -> list[RunRequest]:
        """The training runs the artefact needs (registered algorithms only), in row order.

        ``seeds`` default to ``range(ARTEFACT_PROFILES[profile].seeds)``; ``overrides`` are
        config fields of the algorithms (e.g. ``leader_reward``)."""
        seeds = _seeds(profile, seeds)
        variant = self.variant if variant is None else _variant(variant)
        sets = [dict(overrides)]
        if self.objectives and "leader_reward" not in overrides:
            sets = [_with_reward(overrides, r) for r in self.objectives]
        out: list[RunRequest] = []
        for base in sets:
            for row in self.rows:
                if row.mode() != "learned":
                    continue
                over = tuple(sorted(self.overrides_for(row.algo, base).items()))
                for s in self.settings_for(row, sizes):
                    for seed in seeds:
                        req = RunRequest(row.algo, profile, variant, s.n_households, s.bc, seed,
                                         over)  # fmt: skip
                        if req not in out:
                            out.append(req)
        return out


_TABLE1_SETTINGS = (
    Setting("N=100", 100, False),
    Setting("N=100-BC", 100, True),
    Setting("N=1000-BC", 1000, True),
)
_TABLE1_ROWS = (
    Row(
        "rule-based",
        "Rule-based",
        algo="rule_based",
        government="free-market",
        households="setting",
    ),  # fmt: skip
    Row("ddpg", "DDPG", algo="ddpg"),
    Row("maddpg", "MADDPG", algo="maddpg"),
    Row("iddpg", "IDDPG", algo="iddpg"),
    Row("mfmarl", "MF-MARL", algo="mfmarl"),
    Row("smfrl", "SMFRL", algo="smfrl"),
)
_TABLE3_SETTINGS = (Setting("N=100", 100, True), Setting("N=1000", 1000, True))
#: A fixed row of the `clearing` comparison: the best point of the E6 grid of the leader's
#: gap (book:certification), households best-responding, for the page's objective, seed and N.
BEST_E6 = "best-e6"

_TABLE3_ROWS = (
    Row("free-market", "Free Market", government="free-market", households="bc"),
    Row("saez", "Saez", government="saez", households="bc"),
    Row(
        "saez-paper",
        "Saez (paper's form)",
        government="saez-paper",
        households="bc",
        paper_row="Saez",
    ),  # fmt: skip
    Row("us-federal-2022", "US Federal", government="us-federal-2022", households="bc"),
    Row("ppo-bc", "AI Economist-BC", algo="ppo", bc=True),
    Row("ppo", "AI Economist", algo="ppo", bc=False, sizes=(100,)),
    Row("smfrl", "SMFG", algo="smfrl", bc=True),
)

#: Every artefact of the book, by notebook name.
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("table1_algorithms", "Table 1", "Six algorithms in three settings",
                   _TABLE1_ROWS, _TABLE1_SETTINGS, paper="table1"),
        Experiment("fig2_training_curves", "Figure 2", "Training curves of the algorithms",
                   _TABLE1_ROWS, _TABLE1_SETTINGS, aggregate="training_curves"),
        Experiment("fig6_algorithm_efficiency_equity", "Figure 6",
                   "Efficiency and equity of the algorithms", _TABLE1_ROWS, _TABLE1_SETTINGS,
                   aggregate="efficiency_equity"),
        Experiment("table3_policies", "Table 3", "Six government policies", _TABLE3_ROWS,
                   _TABLE3_SETTINGS, paper="table3"),
        Experiment("fig3_policy_curves", "Figure 3", "Training curves of the policies",
                   _TABLE3_ROWS, _TABLE3_SETTINGS, aggregate="training_curves"),
        Experiment("fig4_efficiency_equity", "Figure 4", "Efficiency and equity of the policies",
                   _TABLE3_ROWS, _TABLE3_SETTINGS, aggregate="efficiency_equity"),
        Experiment("fig5_smfg_household_share", "Figure 5", "The share of SMFG households",
                   (Row("smfrl", "SMFG", algo="smfrl", bc=True),),
                   (Setting("N=100", 100, True),), aggregate="household_share"),
        Experiment("fig7_bc_loss", "Figure 7", "Behaviour cloning losses", (), (),
                   aggregate="bc_loss"),
        Experiment("clearing_policies", "Table 3 in `clearing`",
                   "The policy comparison in the clearing economy",
                   _TABLE3_ROWS + (Row(BEST_E6, "Best E6 grid point", government=BEST_E6,
                                       households="bc"),),
                   _TABLE3_SETTINGS, variant="clearing", objectives=("output", "welfare_ce"),
                   train_overrides=(("*", "bc_follower_lr", 1e-4), ("smfrl", "epochs", 60))),
    )
}  # fmt: skip


def get_experiment(name: str) -> Experiment:
    """The experiment of a notebook by name; ValueError naming the known ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not known: allowed {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def _seeds(profile: str, seeds: Sequence[int] | int | None) -> tuple[int, ...]:
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    if seeds is None:
        return tuple(range(prof.seeds))
    if isinstance(seeds, int):
        return tuple(range(seeds))
    out = tuple(int(s) for s in seeds)
    if not out:
        raise ValueError("seeds = (): allowed at least one seed")
    return out


def _variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r} is not known: allowed {VARIANTS}")
    return variant


@dataclass(frozen=True)
class BookPaths:
    """Where a notebook reads and writes: the repository, the run store and the figures."""

    repo: Path
    results: Path
    figures: Path


def book_paths(results_root: str = "", figures_dir: str = "", start: str | Path = ".") -> BookPaths:
    """The repository holding ``start`` (the first parent with a pyproject.toml; else
    ``start``), its ``results/`` and ``figures/``, unless the notebook's parameters name
    others (non-empty ``results_root``, ``figures_dir``)."""
    here = Path(start).resolve()
    repo = next((p for p in [here, *here.parents] if (p / "pyproject.toml").exists()), here)
    return BookPaths(
        repo=repo,
        results=Path(results_root) if results_root else repo / "results",
        figures=Path(figures_dir) if figures_dir else repo / "figures",
    )


def page_setup(
    results_root: str = "", figures_dir: str = "", profile: str | None = None, threads: int = 1
) -> BookPaths:
    """What every notebook of the book does first: print its profile (checked) and the commit
    of the code as the page's first output (:func:`smfg.paper.pages.page_header`), find
    its paths (:func:`book_paths`), run torch on ``threads`` threads (``make -j2`` runs two
    pages side by side on two cores, and a second thread per page only contends), and let
    pandas show every column of the wide tables."""
    import torch

    if profile is not None:
        check_profile(profile)
    paths = book_paths(results_root, figures_dir)
    print(page_header(profile, paths.repo))
    torch.set_num_threads(int(threads))
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    return paths


# --- cache of evaluations --------------------------------------------------------------------

EVAL_DIR = "evaluations"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


#: Version of the evaluation tables, part of their cache key (beside the code version): bump
#: it when what an episode reports changes without changing training, so cached evaluations
#: are recomputed while runs are kept. 2: Ginis normalised for negative values, episodes
#: carry their horizon.
METRICS_VERSION = 2


def cached_tables(
    root: str | Path,
    kind: str,
    spec: Mapping[str, Any],
    compute: Callable[[], dict[str, pd.DataFrame]],
) -> dict[str, pd.DataFrame]:
    """Tables computed once per spec: ``<root>/evaluations/<kind>-<hash>.json``.

    The hash covers ``kind``, the spec, :data:`METRICS_VERSION` and the code version (as the
    run store's does). The file is written atomically; floats round-trip exactly.
    """
    canon = canonical_spec({"kind": kind, "metrics_version": METRICS_VERSION, **spec})
    path = Path(root) / EVAL_DIR / f"{kind}-{config_hash(canon)}.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: pd.DataFrame(t["records"], columns=t["columns"])
            for name, t in stored["tables"].items()
        }
    tables = compute()
    payload = {
        "spec": canon,
        "tables": {
            name: {
                "columns": [str(c) for c in df.columns],
                "records": [[_plain(v) for v in rec] for rec in df.itertuples(index=False)],
            }
            for name, df in tables.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload) + "\n")
    return tables


# --- training and evaluating the cells -------------------------------------------------------


def train_requests(
    reqs: Sequence[RunRequest], root: str | Path, progress: Progress = None, poll_s: float = 5.0
) -> list:
    """Train (or load, or resume) runs one after the other; their RunResults in order.

    Each run is trained on its own (``smfg.runs.train.train``), so a run's directory
    holds the same bits whichever page or command trained it. (Batching a cell's seeds with
    ``smfg.runs.seeds.train_seeds`` gives the same runs only up to rounding, and was
    not faster on two shared cores.)
    """
    return [train_request(r, root, progress, poll_s) for r in reqs]


def train_request(req: RunRequest, root: str | Path, progress: Progress = None, poll_s=5.0):
    """Train (or load, or resume) one run; wait while another process holds its lock."""
    name = _run_name(req)
    every = max(1, int(_find(req.spec(), "epochs") or 1) // 10)

    def on_epoch(epoch: int, row: dict) -> None:
        if progress is not None and epoch % every == 0:
            progress(f"  {name}: epoch {epoch}, per-capita GDP "
                     f"{row.get('per_capita_gdp', math.nan):.3g}, years "
                     f"{row.get('years', math.nan):.0f}")  # fmt: skip

    t0 = time.perf_counter()
    waited = False
    while True:
        try:
            res = train(req.algo, req.profile, root=root, progress=on_epoch, **req.kwargs())
            break
        except RuntimeError as e:
            if "being computed by another process" not in str(e):
                raise
            if progress is not None and not waited:
                progress(f"  {name}: another process is training it; waiting")
            waited = True
            time.sleep(poll_s)
    if progress is not None:
        how = "trained" if res.computed else "loaded from the run store"
        progress(f"{name}: {how} ({time.perf_counter() - t0:.1f} s) {res.run_dir.name}")
    return res


def _find(spec: Mapping, key: str):
    if key in spec:
        return spec[key]
    for v in spec.values():
        if isinstance(v, Mapping):
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _run_name(req: RunRequest) -> str:
    bc = "-BC" if req.bc else ""
    return f"{req.algo} {req.variant} N={req.n_households}{bc} seed {req.seed}"


def _households(kind: str, variant: str, bc: bool, seed: int, bc_epochs: int, noise_std: float):
    if kind == "setting":
        kind = "bc" if bc else "random"
    if kind == "bc":
        return ClonedHouseholds(variant, epochs=bc_epochs, seed=seed, noise_std=noise_std)
    if kind == "fixed":
        return household_policy("fixed", *FIXED_RULES[variant], seed=seed)
    return household_policy(kind, seed=seed)


def _government(name: str, elasticity: float | None, welfare_weight: float | None, seed: int):
    if name == "saez":
        e = 1.0 if elasticity is None else float(elasticity)
        return Saez("proper", elasticity=e, welfare_weight=welfare_weight, seed=seed)
    if name == "saez-paper":
        return Saez("paper", welfare_weight=welfare_weight, seed=seed)
    return government_policy(name, seed=seed)


@dataclass
class Collected:
    """What :func:`collect` returns."""

    experiment: Experiment
    profile: str
    variant: str
    episodes: pd.DataFrame
    """One row per cell, seed and episode: row, label, paper_row, setting, n_households, bc,
    seed, episode, the metrics (book:model-metrics), termination, run (the run directory's
    name)."""
    runs: pd.DataFrame
    """One row per training run used: row, label, setting, seed, run_dir, computed."""
    missing: list[Row] = field(default_factory=list)
    """Rows not computed because their algorithm is not registered yet."""
    seconds: float = 0.0


def collect(
    experiment: str | Experiment,
    profile: str = "smoke",
    root: str | Path = "results",
    seeds: Sequence[int] | int | None = None,
    sizes: Sequence[int] | None = None,
    variant: str | None = None,
    elasticity: float = 1.0,
    welfare_weight: float | None = None,
    noise_std: float = 0.01,
    leader_reward: str | None = None,
    leader_reward_weights: Sequence[float] | None = None,
    progress: Progress = print,
    **train_overrides,
) -> Collected:
    """Every cell of an artefact: train its runs through the run store, evaluate each cell.

    Learned rows (their algorithm registered): one run per seed (``train``), evaluated with
    its own policies (``noise_std``: the evaluation's exploration noise, the paper's 0.01).
    Fixed rows (and the fallback of a learned row whose algorithm is not registered): the
    government policy (``elasticity`` and ``welfare_weight`` apply to Saez; None weights are
    Saez's 1/z) against the row's households (the cloned ones are the follower every "-BC"
    run of the same seed starts from). Each (cell, seed) evaluates
    ``ARTEFACT_PROFILES[profile].episodes`` episodes of at most ``steps`` steps and is cached
    in ``root/evaluations``. ``leader_reward`` (book:model-rewards; None or 'gdp': the algorithms'
    default, the paper's), ``leader_reward_weights`` ((a1, a2, a3) of 'weighted') and
    ``train_overrides`` go to every training run.
    """
    train_overrides = _with_reward(train_overrides, leader_reward, leader_reward_weights)
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    seeds = _seeds(profile, seeds)
    variant = exp.variant if variant is None else _variant(variant)
    t0 = time.perf_counter()
    frames, runs = [], []
    over = tuple(sorted(train_overrides.items()))
    bc_epochs = _bc_epochs(profile)
    for row in exp.rows:
        if not exp.available(row):
            continue
        for s in exp.settings_for(row, sizes):
            trained = {}
            if row.mode() == "learned":
                reqs = [RunRequest(row.algo, profile, variant, s.n_households, s.bc, seed, over)
                        for seed in seeds]  # fmt: skip
                trained = dict(zip(seeds, train_requests(reqs, root, progress), strict=True))
            for seed in seeds:
                cell = {"row": row.key, "label": row.label, "paper_row": row.paper_row or row.label,
                        "setting": s.label, "n_households": s.n_households, "bc": s.bc}  # fmt: skip
                spec = {"variant": variant, "n_households": s.n_households, "seed": seed,
                        "episodes": prof.episodes, "steps": prof.steps}  # fmt: skip
                if row.mode() == "learned":
                    res = trained[seed]
                    runs.append({**cell, "seed": seed, "run_dir": str(res.run_dir),
                                 "computed": res.computed})  # fmt: skip
                    spec.update(run=res.run_dir.name, noise_std=noise_std)
                    state = res.policy_state

                    def compute(state=state, seed=seed):
                        pol = learned_policy(state, noise_std=noise_std, seed=seed)
                        cfg = state["config"]
                        ev = evaluate(pol.leader, pol.followers, variant=cfg["variant"],
                                      n_households=cfg["n_households"],
                                      n_episodes=prof.episodes, seeds=(seed,), steps=prof.steps,
                                      leader_reward=cfg.get("leader_reward", "gdp"),
                                      reward_weights=cfg.get("leader_reward_weights",
                                                             (1.0, 1.0, 1.0)),
                                      **cfg.get("economy", {}))  # fmt: skip
                        return {"episodes": ev.episodes}

                    run_name = res.run_dir.name
                else:
                    hh = row.households
                    if hh == "setting":
                        hh = "bc" if s.bc else "random"
                    spec.update(government=row.government, households=hh)
                    if hh == "bc":
                        spec.update(bc_epochs=bc_epochs, noise_std=noise_std)
                    if row.government in ("saez", "saez-paper"):
                        spec.update(welfare_weight=welfare_weight)
                    if row.government == "saez":
                        spec.update(elasticity=float(elasticity))

                    def compute(row=row, s=s, seed=seed, hh=hh):
                        gov = _government(row.government, elasticity, welfare_weight, seed)
                        pol = _households(hh, variant, s.bc, seed, bc_epochs, noise_std)
                        ev = evaluate(gov, pol, variant=variant, n_households=s.n_households,
                                      n_episodes=prof.episodes, seeds=(seed,),
                                      steps=prof.steps)  # fmt: skip
                        return {"episodes": ev.episodes}

                    run_name = ""
                t1 = time.perf_counter()
                ep = cached_tables(root, "evaluation", spec, compute)["episodes"]
                if progress is not None:
                    progress(f"{row.label:20s} {s.label:10s} seed {seed}: evaluated "
                             f"({time.perf_counter() - t1:.1f} s)")  # fmt: skip
                frames.append(ep.assign(**cell, run=run_name))
    cols = ["row", "label", "paper_row", "setting", "n_households", "bc", "seed", "episode"]
    episodes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    rest = [c for c in episodes.columns if c not in cols]
    return Collected(
        experiment=exp,
        profile=profile,
        variant=variant,
        episodes=episodes[cols + rest],
        runs=pd.DataFrame(
            runs,
            columns=[
                "row",
                "label",
                "paper_row",
                "setting",
                "n_households",
                "bc",
                "seed",
                "run_dir",
                "computed",
            ],
        ),  # fmt: skip
        missing=exp.missing(),
        seconds=time.perf_counter() - t0,
    )


#: The follower populations every leader of a comparison is evaluated against.
POPULATIONS = ("clone", "learned", "exact")
POPULATION_LABELS = {
    "clone": "the frozen clone",
    "learned": "the learned followers of the reference run",
    "exact": "exact households (each household's best response to the leader's stationary "
    "policy at its equilibrium prices)",
}


class ConstantLeader:
    """A constant raw leader action (E1's five numbers) as a government policy: learned
    followers see its numbers, as they see a learned leader's."""

    def __init__(self, raw: Sequence[float], name: str):
        self.raw, self.name = [float(x) for x in raw], name

    def reset(self, env) -> None:
        import torch

        self.action = torch.tensor(self.raw, dtype=env.dtype).expand(env.n_envs, 5).clone()

    def __call__(self, obs, income):
        return self.action


def best_e6_leader(
    params,
    n_households: int,
    seed: int,
    leader_reward: str,
    reward_weights: Sequence[float],
    points: int = 3,
    grid: tuple[int, int, float] = (100, 7, 200.0),
) -> tuple[ConstantLeader, dict]:
    """The best point of the leader's E6 grid (``points`` values of tau, xi and g, asset tax
    at its lower clip) with households best-responding on ``grid`` (asset points, ability
    states, top asset), for this objective, N and seed (:func:`smfg.certify.leader_gap`), as
    a constant leader; and the grid's best row."""
    from smfg.certify import e6_grid, leader_gap

    na, ne, a_max = grid
    gap = leader_gap(params, 0.0, n_households, seed, leader_reward=leader_reward,
                     reward_weights=reward_weights, grid=e6_grid(params, points), na=na,
                     ne=ne, a_max=a_max)  # fmt: skip
    b = gap["best"]
    low = params.action_low
    raw = [b["tau"] / params.tau_max, b["xi"] / params.xi_max, low, low, b["g"] / params.g_max]
    return ConstantLeader(raw, BEST_E6), b


def exact_population(params, gov, n_households: int, seed: int, refine: int = 1,
                     grid: tuple[int, int, float] = (100, 7, 200.0)):  # fmt: skip
    """Exact households for the leader ``gov``: each household plays its best response to the
    leader's stationary policy (:func:`smfg.certify.stationary_fiscal`: its mean action, or
    its schedule, once its economy settles) at the stationary equilibrium's prices
    (:func:`smfg.certify.exact_households`). The leader's stationary policy is read with
    households on `clearing`'s survival rule, then ``refine`` times with the exact households
    of the previous reading (a leader that reacts to its economy, such as Saez or a learned
    leader, then faces the households it induces). ``grid``: asset points, ability states
    and top asset of the households' problem. Returns (households, fiscal); raises
    ValueError when the policy has no stationary equilibrium."""
    from smfg.certify import exact_households, stationary_fiscal

    na, ne, a_max = grid
    fiscal = stationary_fiscal(params, gov, n_households, seed)
    hh = exact_households(params, fiscal, na, ne, a_max)
    for _ in range(refine):
        fiscal = stationary_fiscal(params, gov, n_households, seed, household_policy=hh)
        hh = exact_households(params, fiscal, na, ne, a_max)
    return hh, fiscal


def compare_leaders(
    experiment: str | Experiment,
    profile: str = "smoke",
    root: str | Path = "results",
    seeds: Sequence[int] | int | None = None,
    sizes: Sequence[int] | None = None,
    variant: str | None = None,
    populations: Sequence[str] = POPULATIONS,
    reference: str = "smfrl",
    elasticity: float = 1.0,
    welfare_weight: float | None = None,
    noise_std: float = 0.01,
    leader_reward: str | None = None,
    leader_reward_weights: Sequence[float] | None = None,
    progress: Progress = print,
    **train_overrides,
) -> Collected:
    """Every leader of an artefact, fixed or learned, against the same follower populations.

    For each setting and seed, every row's government (a fixed policy, or the leader of the
    row's trained run) is evaluated against each of ``populations``:

    - ``clone``: the frozen behaviour clone of that seed (the follower the reference run of
      the seed started from, :class:`~smfg.runs.learned.ClonedHouseholds`);
    - ``learned``: the followers of the ``reference`` algorithm's run of that setting and
      seed (SMFRL's by default), as trained;
    - ``exact`` (`clearing` only): households that play their exact best response to the
      row's leader (:func:`exact_population`): each row's households answer its own leader,
      so this population differs by row by design, and is the same for two rows with the
      same stationary policy. A leader without a stationary equilibrium gets no row here
      (printed, and counted in the episodes' absence).

    A row whose government is :data:`BEST_E6` is the best point of the leader's E6 grid with
    households best-responding, for the page's objective, N and seed (:func:`best_e6_leader`).

    So within a population every row sees the same households, shocks and seeds: the
    comparison is like with like. Every row is scored with the same leader reward (the
    page's ``leader_reward``; the learned leaders were trained on it), so ``leader_return``
    is each leader's value of one objective. The episodes carry ``followers`` (the
    population) and ``followers_run`` (the reference run's directory name, for
    ``learned``). A tax schedule (US 2022, Saez) has no raw action: learned followers that
    observe the leader see it as the free market's numbers, as the clone does. Cached in
    ``root/evaluations`` like :func:`collect`.
    """
    train_overrides = _with_reward(train_overrides, leader_reward, leader_reward_weights)
    reward = train_overrides.get("leader_reward", "gdp")
    weights = tuple(train_overrides.get("leader_reward_weights", (1.0, 1.0, 1.0)))
    unknown = set(populations) - set(POPULATIONS)
    if unknown or not populations:
        raise ValueError(f"populations = {list(populations)!r}: allowed a non-empty subset "
                         f"of {list(POPULATIONS)}")  # fmt: skip
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    variant = exp.variant if variant is None else _variant(variant)
    if variant != "clearing":  # exact households need market prices to take as given
        populations = [p for p in populations if p != "exact"] or ["clone"]
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    seeds = _seeds(profile, seeds)
    t0 = time.perf_counter()
    over = tuple(sorted(train_overrides.items()))
    bc_epochs = _bc_epochs(profile)
    frames, runs = [], []
    for s in exp.settings:
        if sizes is not None and s.n_households not in sizes:
            continue
        # every learned row's runs of this setting, the reference's first
        rows = [r for r in exp.rows if exp.available(r)
                and (r.sizes is None or s.n_households in r.sizes)]  # fmt: skip
        learned = {}
        for row in rows:
            if row.mode() != "learned":
                continue
            bc = s.bc if row.bc is None else row.bc
            own = tuple(sorted(exp.overrides_for(row.algo, dict(over)).items()))
            reqs = [RunRequest(row.algo, profile, variant, s.n_households, bc, seed, own)
                    for seed in seeds]  # fmt: skip
            learned[row.key] = dict(zip(seeds, train_requests(reqs, root, progress), strict=True))
            for seed, res in learned[row.key].items():
                runs.append({"row": row.key, "label": row.label,
                             "paper_row": row.paper_row or row.label, "setting": s.label,
                             "n_households": s.n_households, "bc": bc, "seed": seed,
                             "run_dir": str(res.run_dir), "computed": res.computed})  # fmt: skip
        ref_key = next((r.key for r in rows if r.algo == reference and r.key in learned), None)
        if "learned" in populations and ref_key is None:
            raise ValueError(f"the learned population needs a row of {reference!r} in "
                             f"{exp.name!r} at {s.label}")  # fmt: skip
        for seed in seeds:
            ref = learned[ref_key][seed] if ref_key is not None else None
            ref_name = ref.run_dir.name if ref is not None else ""
            # the clone is the one the reference run started from
            clone_epochs = int(ref.policy_state["config"]["bc_epochs"]) if ref else bc_epochs
            for pop in populations:
                for row in rows:
                    res = learned[row.key][seed] if row.key in learned else None
                    cell = {"row": row.key, "label": row.label,
                            "paper_row": row.paper_row or row.label, "setting": s.label,
                            "n_households": s.n_households, "bc": s.bc, "followers": pop,
                            "followers_run": ref_name if pop == "learned" else ""}  # fmt: skip
                    spec = {"comparison": "same-households", "variant": variant,
                            "n_households": s.n_households, "seed": seed,
                            "episodes": prof.episodes, "steps": prof.steps,
                            "noise_std": noise_std, "leader_reward": reward,
                            "reward_weights": list(weights), "followers": pop,
                            "followers_run": cell["followers_run"],
                            "leader": res.run_dir.name if res else row.government}  # fmt: skip
                    if pop == "clone":
                        spec["bc_epochs"] = clone_epochs
                    if pop == "exact":
                        spec["exact_grid"] = list(prof.exact_grid)
                        spec["exact_refine"] = prof.exact_refine
                    if row.government == BEST_E6:
                        spec["e6_points"] = prof.e6_points
                    if res is None and row.government in ("saez", "saez-paper"):
                        spec.update(welfare_weight=welfare_weight, elasticity=float(elasticity))

                    def compute(row=row, res=res, pop=pop, seed=seed, s=s, ref=ref,
                                clone_epochs=clone_epochs):  # fmt: skip
                        params = economy_params(variant)
                        if res is not None:
                            own = learned_policy(res.policy_state, noise_std=noise_std, seed=seed)
                            gov = own.leader
                        elif row.government == BEST_E6:
                            own = None
                            gov = best_e6_leader(params, s.n_households, seed, reward, weights,
                                                 prof.e6_points, prof.exact_grid)[0]  # fmt: skip
                        else:
                            own = None
                            gov = _government(row.government, elasticity, welfare_weight, seed)
                        if pop == "exact":
                            try:
                                hh, _ = exact_population(params, gov, s.n_households, seed,
                                                         prof.exact_refine,
                                                         prof.exact_grid)  # fmt: skip
                            except ValueError as exc:
                                return {
                                    "episodes": pd.DataFrame(),
                                    "note": pd.DataFrame({"reason": [str(exc)]}),
                                }
                        elif pop == "clone":
                            hh = ClonedHouseholds(variant, epochs=clone_epochs, seed=seed,
                                                  noise_std=noise_std)  # fmt: skip
                        elif res is not None and res.run_dir == ref.run_dir:
                            hh = own.followers  # the reference run with its own followers
                        else:
                            hh = learned_policy(ref.policy_state, noise_std=noise_std,
                                                seed=seed).followers  # fmt: skip
                        ev = evaluate(gov, hh, variant=variant, n_households=s.n_households,
                                      n_episodes=prof.episodes, seeds=(seed,), steps=prof.steps,
                                      leader_reward=reward, reward_weights=weights)  # fmt: skip
                        return {"episodes": ev.episodes}

                    t1 = time.perf_counter()
                    ep = cached_tables(root, "evaluation", spec, compute)["episodes"]
                    if not len(ep):
                        if progress is not None:
                            progress(f"{row.label:20s} {s.label:10s} {pop:8s} seed {seed}: no "
                                     "stationary equilibrium, no exact households")  # fmt: skip
                        continue
                    if progress is not None:
                        progress(f"{row.label:20s} {s.label:10s} {pop:8s} seed {seed}: "
                                 f"evaluated ({time.perf_counter() - t1:.1f} s)")  # fmt: skip
                    frames.append(ep.assign(**cell, run=res.run_dir.name if res else ""))
    cols = ["followers", "row", "label", "paper_row", "setting", "n_households", "bc", "seed",
            "episode"]  # fmt: skip
    episodes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    rest = [c for c in episodes.columns if c not in cols]
    run_cols = ["row", "label", "paper_row", "setting", "n_households", "bc", "seed",
                "run_dir", "computed"]  # fmt: skip
    return Collected(experiment=exp, profile=profile, variant=variant,
                     episodes=episodes[cols + rest], runs=pd.DataFrame(runs, columns=run_cols),
                     missing=exp.missing(), seconds=time.perf_counter() - t0)  # fmt: skip


def _with_reward(
    overrides: dict, leader_reward: str | None, weights: Sequence[float] | None = None
) -> dict:
    """The training overrides with the leader's reward; the default 'gdp' is left out, so a
    run asked for with and without it is the same run for any algorithm. ``weights``: (a1,
    a2, a3) of the 'weighted' reward (None: the configs' (1, 1, 1)); other rewards ignore
    them, so they are passed on only with 'weighted'."""
    from smfg.env import LEADER_REWARDS, check_reward_weights

    if weights is not None:
        weights = check_reward_weights(weights)
    if leader_reward is None or leader_reward == "gdp":
        return dict(overrides)
    if leader_reward not in LEADER_REWARDS:
        raise ValueError(f"leader_reward = {leader_reward!r}: allowed {LEADER_REWARDS}")
    out = {**overrides, "leader_reward": leader_reward}
    if leader_reward == "weighted" and weights is not None:
        out["leader_reward_weights"] = weights
    return out


def _bc_epochs(profile: str) -> int:
    """The BC epochs of SMFRL's profile: the cloned households are the followers its "-BC"
    runs start from."""
    from smfg.algos.smfrl import smfrl_config

    return smfrl_config(profile).bc_epochs


def follower_rates(experiment: str | Experiment, profile: str) -> str:
    """Which learning rate each learned row's followers train at after BC, in words (every
    page with learned followers prints it)."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    parts = []
    for algo in dict.fromkeys(r.algo for r in exp.rows if r.mode() == "learned"):
        cfg = algorithms.ALGORITHMS[algo][0](profile, bc=True, **exp.overrides_for(algo, {}))
        if hasattr(cfg, "follower_learning_rate"):  # the DDPG family
            learns = algorithms.ALGORITHMS[algo][1].learner_cls.followers_learn
            rate = cfg.follower_learning_rate if learns else 0.0
        else:
            rate = cfg.lr  # PPO: one learning rate for both sides
        parts.append(f"{algo} {rate:g}" + (" (frozen)" if rate == 0 else ""))
    return f"profile {profile}; followers' learning rate after BC: " + ", ".join(parts)


def run_epochs(run_dir: str | Path) -> int:
    """The number of epochs a run in the store has trained (its metrics' rows)."""
    return len(RunStore(Path(run_dir).parent).load_metrics(run_dir))


def training_curves(collected: Collected) -> pd.DataFrame:
    """Per-epoch metrics of every run ``collected`` used, tidy: row, label, setting, seed,
    epoch and the run's metrics columns (as its ``metrics.csv``)."""
    frames = []
    for r in collected.runs.itertuples():
        m = RunStore(Path(r.run_dir).parent).load_metrics(r.run_dir)
        frames.append(m.assign(row=r.row, label=r.label, setting=r.setting, seed=r.seed))
    if not frames:
        return pd.DataFrame(columns=["row", "label", "setting", "seed", "epoch"])
    return pd.concat(frames, ignore_index=True)


# --- Figure 5: the share of SMFG households --------------------------------------------------


def household_share(
    profile: str = "smoke",
    root: str | Path = "results",
    shares: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    seeds: Sequence[int] | int | None = None,
    variant: str = "taxai",
    n_households: int = 100,
    noise_std: float = 0.01,
    leader_reward: str | None = None,
    leader_reward_weights: Sequence[float] | None = None,
    progress: Progress = print,
    **train_overrides,
) -> dict[str, pd.DataFrame]:
    """Figure 5: populations with a share of SMFG households under the trained SMFRL leader.

    For each share p, the first ``round((1 - p) N)`` households act by the cloned (real-data)
    policy and the others by the SMFRL follower of the same run (the SMFRL "-BC" run of each
    seed). Returns ``groups`` (one row per share, seed, episode, household type and
    quantity: utility, wealth, income, consumption, saving and work shares; money in dollars)
    and ``episodes`` (the metrics of book:model-metrics per share, seed and episode).
    """
    train_overrides = _with_reward(train_overrides, leader_reward, leader_reward_weights)
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    seeds = _seeds(profile, seeds)
    variant = _variant(variant)
    bc_epochs = _bc_epochs(profile)
    for p in shares:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"shares holds {p!r}: allowed shares in [0, 1]")
    over = tuple(sorted(train_overrides.items()))
    groups, episodes = [], []
    reqs = [RunRequest("smfrl", profile, variant, n_households, True, seed, over) for seed in seeds]
    for seed, res in zip(seeds, train_requests(reqs, root, progress), strict=True):
        state = res.policy_state
        for p in shares:
            k = round((1.0 - float(p)) * n_households)
            spec = {"variant": variant, "n_households": n_households, "seed": seed,
                    "share": float(p), "episodes": prof.episodes, "steps": prof.steps,
                    "run": res.run_dir.name, "noise_std": noise_std,
                    "bc_epochs": bc_epochs}  # fmt: skip

            def compute(state=state, seed=seed, k=k):
                pol = learned_policy(state, noise_std=noise_std, seed=seed)
                cloned = ClonedHouseholds(variant, epochs=bc_epochs, seed=seed,
                                          noise_std=noise_std)  # fmt: skip
                mixed = MixedHouseholds(cloned, pol.followers, k)
                cfg = state["config"]
                params = economy_params(variant, **cfg.get("economy", {}))
                means = GroupMeans({"real-data (BC)": range(k),
                                    "SMFG": range(k, n_households)},
                                   money_unit=params.money_unit)  # fmt: skip
                ev = evaluate(pol.leader, mixed, n_households=n_households,
                              n_episodes=prof.episodes, seeds=(seed,), steps=prof.steps,
                              params=params, on_step=means)  # fmt: skip
                g = means.table().rename(columns={"economy": "episode"})
                return {"groups": g, "episodes": ev.episodes}

            t1 = time.perf_counter()
            out = cached_tables(root, "household_share", spec, compute)
            if progress is not None:
                progress(f"SMFG share {p:.0%} seed {seed}: evaluated "
                         f"({time.perf_counter() - t1:.1f} s)")  # fmt: skip
            groups.append(out["groups"].assign(share=float(p), seed=seed))
            episodes.append(out["episodes"].assign(share=float(p)))
    return {
        "groups": pd.concat(groups, ignore_index=True),
        "episodes": pd.concat(episodes, ignore_index=True),
    }


# --- Figure 7: behaviour cloning losses ------------------------------------------------------


def bc_losses(
    profile: str = "smoke",
    root: str | Path = "results",
    variant: str = "taxai",
    epochs: int | None = None,
    seed: int = 0,
    food_share: float = 0.13,
    progress: Progress = print,
) -> pd.DataFrame:
    """Figure 7: the loss curves of the four cloned networks (book:learning-bc), tidy: network, loss
    ('nll' or 'mse'), split ('train' or 'validation'), epoch (0 = before training), value;
    and wall_s per network. Cached in ``root/evaluations``."""
    from smfg.algos.bc import NETWORKS, train_all

    epochs = ARTEFACT_PROFILES[check_profile(profile)].bc_epochs if epochs is None else epochs
    spec = {"variant": _variant(variant), "epochs": int(epochs), "seed": int(seed),
            "food_share": float(food_share)}  # fmt: skip

    def compute():
        t0 = time.perf_counter()
        fits = train_all(variant, food_share=food_share, epochs=int(epochs), seed=seed,
                         networks=NETWORKS)  # fmt: skip
        rows = []
        for name, res in fits.items():
            for split, hist in (("train", res.train_loss), ("validation", res.valid_loss)):
                for ep, v in enumerate(hist):
                    rows.append({"network": name, "loss": res.loss, "split": split, "epoch": ep,
                                 "value": v, "wall_s": res.wall_s})  # fmt: skip
        if progress is not None:
            progress(f"behaviour cloning: 4 networks x {epochs} epochs in "
                     f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        return {"losses": pd.DataFrame(rows)}

    return cached_tables(root, "bc_loss", spec, compute)["losses"]


def cloned_shares(
    profile: str = "smoke",
    variant: str = "taxai",
    n_households: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """The saving and work shares the cloned households choose in the first period of an
    episode (free-market government): one row per household (seed's economy)."""
    from smfg.env import SMFGEnv

    env = SMFGEnv(economy_params(_variant(variant)), n_households, seed=seed, dtype="float32")
    obs = env.reset()
    pol = ClonedHouseholds(variant, epochs=_bc_epochs(profile), seed=seed)
    pol.reset(env)
    a = pol(obs, None)[0].double().numpy()
    return pd.DataFrame({"saving_share": a[:, 0], "work_share": a[:, 1]})


def action_distributions(
    profile: str = "smoke",
    variant: str = "taxai",
    food_shares: Sequence[float] = (0.10, 0.13, 0.16),
    n_households: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """book:learning-bc: the two actions of the survey and of the cloned households, long: source
    ('survey' or 'cloned'), food_share, action ('saving share' or 'work share'), value and
    weight.

    Survey rows: the (saving, work) shares ``survey_actions`` implies for each food share
    (the work share does not depend on it: it is kept once, with food share NaN), weighted by
    the survey weights, i.e. as a distribution over US households. Cloned: the first-period
    actions of the cloned households (trained at food share 0.13, the profile's BC epochs) in
    one economy of ``n_households`` drawn as the variant's reset draws them, weight 1 each.
    """
    from smfg.economy.data import load_household_table
    from smfg.policies.households import survey_actions

    variant = _variant(variant)
    shares = [float(f) for f in food_shares]
    if not shares or not all(0.0 < f <= 1.0 for f in shares):
        raise ValueError(f"food_shares = {food_shares!r}: allowed values in (0, 1]")
    table = load_household_table()
    params = economy_params(variant)
    wgt = np.asarray(table.wgt, dtype=np.float64)
    frames = []
    for i, f in enumerate(shares):
        saving, work = survey_actions(table, variant, params, food_share=f)
        frames.append(
            pd.DataFrame(
                {
                    "source": "survey",
                    "food_share": f,
                    "action": "saving share",
                    "value": saving,
                    "weight": wgt,
                }
            )
        )
        if i == 0:
            frames.append(
                pd.DataFrame(
                    {
                        "source": "survey",
                        "food_share": math.nan,
                        "action": "work share",
                        "value": work,
                        "weight": wgt,
                    }
                )
            )
    cloned = cloned_shares(profile, variant, n_households, seed)
    for col, name in (("saving_share", "saving share"), ("work_share", "work share")):
        frames.append(
            pd.DataFrame(
                {
                    "source": "cloned",
                    "food_share": 0.13,
                    "action": name,
                    "value": cloned[col].to_numpy(),
                    "weight": 1.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
