"""Every leader of an artefact, fixed or learned, against the same follower populations.

:func:`compare_leaders` is the `clearing` page's comparison (and the results summary's): each
row's government faces the frozen clone, the reference run's learned followers and, in
`clearing`, exact households best-responding to it (:func:`exact_population`), so within a
population every leader sees the same households, shocks and seeds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from smfg.certify import e6_grid, exact_households, leader_gap, stationary_fiscal
from smfg.config import check_profile, economy_params
from smfg.evaluate import evaluate
from smfg.paper.artefacts import (
    ARTEFACT_PROFILES,
    BEST_E6,
    Experiment,
    RunRequest,
    artefact_seeds,
    check_variant,
    get_experiment,
    profile_bc_epochs,
    with_reward,
)
from smfg.paper.collection import Collected, Progress, fixed_government, train_requests
from smfg.paper.figure_data import run_epochs
from smfg.runs.evaluations import cached_tables
from smfg.runs.learned import ClonedHouseholds, learned_policy

__all__ = [
    "POPULATIONS",
    "POPULATION_LABELS",
    "EPOCH_ROWS",
    "ConstantLeader",
    "best_e6_leader",
    "compare_leaders",
    "compare_objectives",
    "exact_population",
    "select_episodes",
    "training_epochs",
]

#: The follower populations every leader of a comparison is evaluated against.
POPULATIONS = ("clone", "learned", "exact")
POPULATION_LABELS = {
    "clone": "the frozen clone",
    "learned": "the learned followers of the reference run",
    "exact": "exact households (each household's best response to the leader's stationary "
    "policy at its equilibrium prices)",
}

#: The learned rows whose training length the `clearing` page prints, and the algorithm each
#: stands for: SMFRL's, and PPO's with the cloned followers (the row every learned leader of
#: Table 3 but SMFG's trains as).
EPOCH_ROWS = {"smfrl": "smfrl", "ppo-bc": "ppo"}


class ConstantLeader:
    """A constant raw leader action (E1's five numbers) as a government policy: learned
    followers see its numbers, as they see a learned leader's."""

    def __init__(self, raw: Sequence[float], name: str):
        self.raw, self.name = [float(x) for x in raw], name

    def reset(self, env) -> None:
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
    na, ne, a_max = grid
    gap = leader_gap(
        params,
        0.0,
        n_households,
        seed,
        leader_reward=leader_reward,
        reward_weights=reward_weights,
        grid=e6_grid(params, points),
        na=na,
        ne=ne,
        a_max=a_max,
    )
    b = gap["best"]
    low = params.action_low
    raw = [b["tau"] / params.tau_max, b["xi"] / params.xi_max, low, low, b["g"] / params.g_max]
    return ConstantLeader(raw, BEST_E6), b


def exact_population(
    params,
    gov,
    n_households: int,
    seed: int,
    refine: int = 1,
    grid: tuple[int, int, float] = (100, 7, 200.0),
):
    """Exact households for the leader ``gov``: each household plays its best response to the
    leader's stationary policy (:func:`smfg.certify.stationary_fiscal`: its mean action, or
    its schedule, once its economy settles) at the stationary equilibrium's prices
    (:func:`smfg.certify.exact_households`). The leader's stationary policy is read with
    households on `clearing`'s survival rule, then ``refine`` times with the exact households
    of the previous reading (a leader that reacts to its economy, such as Saez or a learned
    leader, then faces the households it induces). ``grid``: asset points, ability states
    and top asset of the households' problem. Returns (households, fiscal); raises
    ValueError when the policy has no stationary equilibrium."""
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
    train_overrides = with_reward(train_overrides, leader_reward, leader_reward_weights)
    reward = train_overrides.get("leader_reward", "gdp")
    weights = tuple(train_overrides.get("leader_reward_weights", (1.0, 1.0, 1.0)))
    unknown = set(populations) - set(POPULATIONS)
    if unknown or not populations:
        raise ValueError(
            f"populations = {list(populations)!r}: allowed a non-empty subset "
            f"of {list(POPULATIONS)}"
        )
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    variant = exp.variant if variant is None else check_variant(variant)
    if variant != "clearing":  # exact households need market prices to take as given
        populations = [p for p in populations if p != "exact"] or ["clone"]
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    seeds = artefact_seeds(profile, seeds)
    t0 = time.perf_counter()
    over = tuple(sorted(train_overrides.items()))
    bc_epochs = profile_bc_epochs(profile)
    frames, runs = [], []
    for s in exp.settings:
        if sizes is not None and s.n_households not in sizes:
            continue
        # every learned row's runs of this setting, the reference's first
        rows = [
            r
            for r in exp.rows
            if exp.available(r) and (r.sizes is None or s.n_households in r.sizes)
        ]
        learned = {}
        for row in rows:
            if row.mode() != "learned":
                continue
            bc = s.bc if row.bc is None else row.bc
            own = tuple(sorted(exp.overrides_for(row.algo, dict(over)).items()))
            reqs = [
                RunRequest(row.algo, profile, variant, s.n_households, bc, seed, own)
                for seed in seeds
            ]
            learned[row.key] = dict(zip(seeds, train_requests(reqs, root, progress), strict=True))
            for seed, res in learned[row.key].items():
                runs.append(
                    {
                        "row": row.key,
                        "label": row.label,
                        "paper_row": row.paper_row or row.label,
                        "setting": s.label,
                        "n_households": s.n_households,
                        "bc": bc,
                        "seed": seed,
                        "run_dir": str(res.run_dir),
                        "computed": res.computed,
                    }
                )
        ref_key = next((r.key for r in rows if r.algo == reference and r.key in learned), None)
        if "learned" in populations and ref_key is None:
            raise ValueError(
                f"the learned population needs a row of {reference!r} in {exp.name!r} at {s.label}"
            )
        for seed in seeds:
            ref = learned[ref_key][seed] if ref_key is not None else None
            ref_name = ref.run_dir.name if ref is not None else ""
            # the clone is the one the reference run started from
            clone_epochs = int(ref.policy_state["config"]["bc_epochs"]) if ref else bc_epochs
            for pop in populations:
                for row in rows:
                    res = learned[row.key][seed] if row.key in learned else None
                    cell = {
                        "row": row.key,
                        "label": row.label,
                        "paper_row": row.paper_row or row.label,
                        "setting": s.label,
                        "n_households": s.n_households,
                        "bc": s.bc,
                        "followers": pop,
                        "followers_run": ref_name if pop == "learned" else "",
                    }
                    spec = {
                        "comparison": "same-households",
                        "variant": variant,
                        "n_households": s.n_households,
                        "seed": seed,
                        "episodes": prof.episodes,
                        "steps": prof.steps,
                        "noise_std": noise_std,
                        "leader_reward": reward,
                        "reward_weights": list(weights),
                        "followers": pop,
                        "followers_run": cell["followers_run"],
                        "leader": res.run_dir.name if res else row.government,
                    }
                    if pop == "clone":
                        spec["bc_epochs"] = clone_epochs
                    if pop == "exact":
                        spec["exact_grid"] = list(prof.exact_grid)
                        spec["exact_refine"] = prof.exact_refine
                    if row.government == BEST_E6:
                        spec["e6_points"] = prof.e6_points
                    if res is None and row.government in ("saez", "saez-paper"):
                        spec.update(welfare_weight=welfare_weight, elasticity=float(elasticity))

                    def compute(
                        row=row,
                        res=res,
                        pop=pop,
                        seed=seed,
                        s=s,
                        ref=ref,
                        clone_epochs=clone_epochs,
                    ):
                        params = economy_params(variant)
                        if res is not None:
                            own = learned_policy(res.policy_state, noise_std=noise_std, seed=seed)
                            gov = own.leader
                        elif row.government == BEST_E6:
                            own = None
                            gov = best_e6_leader(
                                params,
                                s.n_households,
                                seed,
                                reward,
                                weights,
                                prof.e6_points,
                                prof.exact_grid,
                            )[0]
                        else:
                            own = None
                            gov = fixed_government(row.government, elasticity, welfare_weight, seed)
                        if pop == "exact":
                            try:
                                hh, _ = exact_population(
                                    params,
                                    gov,
                                    s.n_households,
                                    seed,
                                    prof.exact_refine,
                                    prof.exact_grid,
                                )
                            except ValueError as exc:
                                return {
                                    "episodes": pd.DataFrame(),
                                    "note": pd.DataFrame({"reason": [str(exc)]}),
                                }
                        elif pop == "clone":
                            hh = ClonedHouseholds(
                                variant, epochs=clone_epochs, seed=seed, noise_std=noise_std
                            )
                        elif res is not None and res.run_dir == ref.run_dir:
                            hh = own.followers  # the reference run with its own followers
                        else:
                            hh = learned_policy(
                                ref.policy_state, noise_std=noise_std, seed=seed
                            ).followers
                        ev = evaluate(
                            gov,
                            hh,
                            variant=variant,
                            n_households=s.n_households,
                            n_episodes=prof.episodes,
                            seeds=(seed,),
                            steps=prof.steps,
                            leader_reward=reward,
                            reward_weights=weights,
                        )
                        return {"episodes": ev.episodes}

                    t1 = time.perf_counter()
                    ep = cached_tables(root, "evaluation", spec, compute)["episodes"]
                    if not len(ep):
                        if progress is not None:
                            progress(
                                f"{row.label:20s} {s.label:10s} {pop:8s} seed {seed}: no "
                                "stationary equilibrium, no exact households"
                            )
                        continue
                    if progress is not None:
                        progress(
                            f"{row.label:20s} {s.label:10s} {pop:8s} seed {seed}: "
                            f"evaluated ({time.perf_counter() - t1:.1f} s)"
                        )
                    frames.append(ep.assign(**cell, run=res.run_dir.name if res else ""))
    cols = [
        "followers",
        "row",
        "label",
        "paper_row",
        "setting",
        "n_households",
        "bc",
        "seed",
        "episode",
    ]
    episodes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    rest = [c for c in episodes.columns if c not in cols]
    run_cols = [
        "row",
        "label",
        "paper_row",
        "setting",
        "n_households",
        "bc",
        "seed",
        "run_dir",
        "computed",
    ]
    return Collected(
        experiment=exp,
        profile=profile,
        variant=variant,
        episodes=episodes[cols + rest],
        runs=pd.DataFrame(runs, columns=run_cols),
        missing=exp.missing(),
        seconds=time.perf_counter() - t0,
    )


def compare_objectives(
    experiment: str | Experiment,
    profile: str,
    objectives: Sequence[str],
    **kwargs,
) -> Collected:
    """:func:`compare_leaders` once per leader objective (``leader_reward``), one set of
    learned leaders each, as the `clearing` page compares them: the episodes and the runs of
    every objective, one below the other in the order of ``objectives``, each row tagged
    with its ``objective``. ``kwargs`` go to :func:`compare_leaders` for every objective;
    ``seconds`` is the total."""
    objectives = list(objectives)
    if not objectives or "leader_reward" in kwargs:
        raise ValueError(
            f"objectives = {objectives!r}: allowed one or more leader rewards, given here "
            "rather than as leader_reward"
        )
    done = [compare_leaders(experiment, profile, leader_reward=obj, **kwargs) for obj in objectives]
    first = done[0]
    return Collected(
        experiment=first.experiment,
        profile=first.profile,
        variant=first.variant,
        episodes=pd.concat(
            [c.episodes.assign(objective=o) for c, o in zip(done, objectives, strict=True)],
            ignore_index=True,
        ),
        runs=pd.concat(
            [c.runs.assign(objective=o) for c, o in zip(done, objectives, strict=True)],
            ignore_index=True,
        ),
        missing=first.missing,
        seconds=sum(c.seconds for c in done),
    )


def training_epochs(runs: pd.DataFrame, rows: Mapping[str, str] = EPOCH_ROWS) -> dict[str, int]:
    """How long the learned leaders trained: for each of ``rows`` (row key -> the algorithm
    it stands for, :data:`EPOCH_ROWS`) that has runs in ``runs`` (a :class:`Collected`'s),
    the most epochs any of its runs trained (:func:`~smfg.paper.figure_data.run_epochs`, read
    from the run store), keyed by the algorithm, in the order of ``rows``."""
    present = set(runs.row)
    return {
        algo: int(runs[runs.row == row].run_dir.map(run_epochs).max())
        for row, algo in rows.items()
        if row in present
    }


def select_episodes(
    episodes: pd.DataFrame, objective: str, followers: str = "learned"
) -> pd.DataFrame:
    """The episodes of one objective's comparison against one follower population, from
    :func:`compare_objectives`' episodes (what the `clearing` page's figure and headline
    ratios show); ValueError naming the ones there for an objective or population that is
    not."""
    for col, value in (("objective", objective), ("followers", followers)):
        if value not in set(episodes[col]):
            raise ValueError(
                f"{col} = {value!r}: allowed {list(dict.fromkeys(episodes[col]))} "
                "(those the episodes hold)"
            )
    return episodes[(episodes.objective == objective) & (episodes.followers == followers)]
