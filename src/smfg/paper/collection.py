"""Collecting an artefact's cells: train the runs it needs through the run store, evaluate
every cell, cache the evaluations.

:func:`collect` trains what is not yet in the run store (a finished run is only loaded, a
partial one resumed) and evaluates every cell of an :class:`~smfg.paper.artefacts.Experiment`,
caching evaluations in the results root too (``evaluations/``,
:func:`smfg.runs.evaluations.cached_tables`), so rebuilding a page never recomputes what is
done. :func:`train_requests` is the training half, shared with the pages that evaluate their
runs otherwise (:mod:`smfg.paper.comparison`, :mod:`smfg.paper.figure_data`,
:mod:`smfg.paper.curves`, :mod:`smfg.paper.certify_run`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from smfg.config import check_profile
from smfg.evaluate import evaluate, government_policy, household_policy
from smfg.paper.artefacts import (
    ARTEFACT_PROFILES,
    Experiment,
    Row,
    RunRequest,
    artefact_seeds,
    check_variant,
    get_experiment,
    profile_bc_epochs,
    with_reward,
)
from smfg.paper.fixed_policies import FIXED_RULES
from smfg.policies import Saez
from smfg.runs.evaluations import cached_tables
from smfg.runs.learned import ClonedHouseholds, learned_policy
from smfg.runs.seeds import train_specs
from smfg.runs.store import RunStore
from smfg.runs.sweep_specs import seed_groups
from smfg.runs.train import train

__all__ = [
    "Collected",
    "Progress",
    "collect",
    "fixed_government",
    "fixed_households",
    "train_request",
    "train_requests",
]

#: Where progress lines go: a function of one line (``print``), or None for silence.
Progress = Callable[[str], None] | None


def train_requests(
    reqs: Sequence[RunRequest],
    root: str | Path = "results",
    progress: Progress = None,
    poll_s: float = 5.0,
    batch_seeds: bool = True,
) -> list:
    """Train (or load, or resume) runs; their RunResults in order.

    With ``batch_seeds`` (as ``make runs`` trains them) the requests of an algorithm with a
    batched form that differ only in their seed train as one batched model
    (:func:`smfg.runs.seeds.train_specs`), so that a page that trains its own runs leaves the
    same runs as the sweep would; every other request trains on its own. While another
    process trains one of a batch's runs, its requests go one by one (each waits for it).
    """
    specs = [r.spec() for r in reqs]
    out: list = [None] * len(reqs)
    for group in seed_groups(specs, batch_seeds):
        if len(group) > 1 and any(RunStore(root).status(specs[i]) != "done" for i in group):
            t0 = time.perf_counter()
            if progress is not None:
                names = ", ".join(str(reqs[i].seed) for i in group)
                progress(f"  {_run_name(reqs[group[0]])}: seeds {names} as one batch")
            try:
                done = train_specs([specs[i] for i in group], root)
            except RuntimeError as e:
                if "being computed by another process" not in str(e):
                    raise
            else:
                for i, res in zip(group, done, strict=True):
                    out[i] = res
                    if progress is not None:
                        progress(
                            f"{_run_name(reqs[i])}: trained in a batch of {len(group)} "
                            f"({time.perf_counter() - t0:.1f} s) {res.run_dir.name}"
                        )
        for i in group:
            if out[i] is None:
                out[i] = train_request(reqs[i], root, progress, poll_s)
    return out


def train_request(req: RunRequest, root: str | Path, progress: Progress = None, poll_s=5.0):
    """Train (or load, or resume) one run; wait while another process holds its lock."""
    name = _run_name(req)
    every = max(1, int(_find(req.spec(), "epochs") or 1) // 10)

    def on_epoch(epoch: int, row: dict) -> None:
        # the epochs that evaluate (all but those eval_every skips, whose metrics are NaN)
        if progress is not None and epoch % every == 0 and not math.isnan(row.get("years", 0.0)):
            progress(
                f"  {name}: epoch {epoch}, per-capita GDP "
                f"{row.get('per_capita_gdp', math.nan):.3g}, years "
                f"{row.get('years', math.nan):.0f}"
            )

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


def fixed_households(
    kind: str, variant: str, bc: bool, seed: int, bc_epochs: int, noise_std: float
):
    """The households of a fixed row (:attr:`~smfg.paper.artefacts.Row.households`): 'setting'
    is the cloned ones in a BC setting, else random ones."""
    if kind == "setting":
        kind = "bc" if bc else "random"
    if kind == "bc":
        return ClonedHouseholds(variant, epochs=bc_epochs, seed=seed, noise_std=noise_std)
    if kind == "fixed":
        return household_policy("fixed", *FIXED_RULES[variant], seed=seed)
    return household_policy(kind, seed=seed)


def fixed_government(name: str, elasticity: float | None, welfare_weight: float | None, seed: int):
    """The government of a fixed row: Saez (proper, with ``elasticity``; or the paper's form)
    with ``welfare_weight``, else the named policy of ``smfg.evaluate``."""
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
    train_overrides = with_reward(train_overrides, leader_reward, leader_reward_weights)
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    seeds = artefact_seeds(profile, seeds)
    variant = exp.variant if variant is None else check_variant(variant)
    t0 = time.perf_counter()
    frames, runs = [], []
    over = tuple(sorted(train_overrides.items()))
    bc_epochs = profile_bc_epochs(profile)
    for row in exp.rows:
        if not exp.available(row):
            continue
        for s in exp.settings_for(row, sizes):
            trained = {}
            if row.mode() == "learned":
                reqs = [
                    RunRequest(row.algo, profile, variant, s.n_households, s.bc, seed, over)
                    for seed in seeds
                ]
                trained = dict(zip(seeds, train_requests(reqs, root, progress), strict=True))
            for seed in seeds:
                cell = {
                    "row": row.key,
                    "label": row.label,
                    "paper_row": row.paper_row or row.label,
                    "setting": s.label,
                    "n_households": s.n_households,
                    "bc": s.bc,
                }
                spec = {
                    "variant": variant,
                    "n_households": s.n_households,
                    "seed": seed,
                    "episodes": prof.episodes,
                    "steps": prof.steps,
                }
                if row.mode() == "learned":
                    res = trained[seed]
                    runs.append(
                        {
                            **cell,
                            "seed": seed,
                            "run_dir": str(res.run_dir),
                            "computed": res.computed,
                        }
                    )
                    spec.update(run=res.run_dir.name, noise_std=noise_std)
                    state = res.policy_state

                    def compute(state=state, seed=seed):
                        pol = learned_policy(state, noise_std=noise_std, seed=seed)
                        cfg = state["config"]
                        ev = evaluate(
                            pol.leader,
                            pol.followers,
                            variant=cfg["variant"],
                            n_households=cfg["n_households"],
                            n_episodes=prof.episodes,
                            seeds=(seed,),
                            steps=prof.steps,
                            leader_reward=cfg.get("leader_reward", "gdp"),
                            reward_weights=cfg.get("leader_reward_weights", (1.0, 1.0, 1.0)),
                            **cfg.get("economy", {}),
                        )
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
                        gov = fixed_government(row.government, elasticity, welfare_weight, seed)
                        pol = fixed_households(hh, variant, s.bc, seed, bc_epochs, noise_std)
                        ev = evaluate(
                            gov,
                            pol,
                            variant=variant,
                            n_households=s.n_households,
                            n_episodes=prof.episodes,
                            seeds=(seed,),
                            steps=prof.steps,
                        )
                        return {"episodes": ev.episodes}

                    run_name = ""
                t1 = time.perf_counter()
                ep = cached_tables(root, "evaluation", spec, compute)["episodes"]
                if progress is not None:
                    progress(
                        f"{row.label:20s} {s.label:10s} seed {seed}: evaluated "
                        f"({time.perf_counter() - t1:.1f} s)"
                    )
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
        ),
        missing=exp.missing(),
        seconds=time.perf_counter() - t0,
    )
