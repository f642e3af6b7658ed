"""The data of the figures that are not a table of cells: training curves (Figures 2 and 3),
the share of SMFG households (Figure 5), behaviour cloning's losses and actions (Figure 7).

Each trains what it needs through :func:`~smfg.paper.collection.train_requests` and caches
what it evaluates (:func:`smfg.runs.evaluations.cached_tables`), as :func:`collect
<smfg.paper.collection.collect>` does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from smfg.algos import bc as behaviour_cloning
from smfg.config import check_profile, economy_params
from smfg.economy.data import load_household_table
from smfg.env import SMFGEnv
from smfg.evaluate import evaluate
from smfg.paper.artefacts import (
    ARTEFACT_PROFILES,
    RunRequest,
    artefact_seeds,
    check_variant,
    profile_bc_epochs,
    with_reward,
)
from smfg.paper.collection import Collected, Progress, train_requests
from smfg.policies.households import survey_actions
from smfg.runs.evaluations import cached_tables
from smfg.runs.learned import ClonedHouseholds, GroupMeans, MixedHouseholds, learned_policy
from smfg.runs.store import RunStore

__all__ = [
    "action_distributions",
    "bc_losses",
    "cloned_shares",
    "household_share",
    "run_epochs",
    "training_curves",
]

# --- Figures 2 and 3: training curves --------------------------------------------------------


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
    train_overrides = with_reward(train_overrides, leader_reward, leader_reward_weights)
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    seeds = artefact_seeds(profile, seeds)
    variant = check_variant(variant)
    bc_epochs = profile_bc_epochs(profile)
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
            spec = {
                "variant": variant,
                "n_households": n_households,
                "seed": seed,
                "share": float(p),
                "episodes": prof.episodes,
                "steps": prof.steps,
                "run": res.run_dir.name,
                "noise_std": noise_std,
                "bc_epochs": bc_epochs,
            }

            def compute(state=state, seed=seed, k=k):
                pol = learned_policy(state, noise_std=noise_std, seed=seed)
                cloned = ClonedHouseholds(variant, epochs=bc_epochs, seed=seed, noise_std=noise_std)
                mixed = MixedHouseholds(cloned, pol.followers, k)
                cfg = state["config"]
                params = economy_params(variant, **cfg.get("economy", {}))
                means = GroupMeans(
                    {"real-data (BC)": range(k), "SMFG": range(k, n_households)},
                    money_unit=params.money_unit,
                )
                ev = evaluate(
                    pol.leader,
                    mixed,
                    n_households=n_households,
                    n_episodes=prof.episodes,
                    seeds=(seed,),
                    steps=prof.steps,
                    params=params,
                    on_step=means,
                )
                g = means.table().rename(columns={"economy": "episode"})
                return {"groups": g, "episodes": ev.episodes}

            t1 = time.perf_counter()
            out = cached_tables(root, "household_share", spec, compute)
            if progress is not None:
                progress(
                    f"SMFG share {p:.0%} seed {seed}: evaluated ({time.perf_counter() - t1:.1f} s)"
                )
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
    epochs = ARTEFACT_PROFILES[check_profile(profile)].bc_epochs if epochs is None else epochs
    spec = {
        "variant": check_variant(variant),
        "epochs": int(epochs),
        "seed": int(seed),
        "food_share": float(food_share),
    }

    def compute():
        t0 = time.perf_counter()
        fits = behaviour_cloning.train_all(
            variant,
            food_share=food_share,
            epochs=int(epochs),
            seed=seed,
            networks=behaviour_cloning.NETWORKS,
        )
        rows = []
        for name, res in fits.items():
            for split, hist in (("train", res.train_loss), ("validation", res.valid_loss)):
                for ep, v in enumerate(hist):
                    rows.append(
                        {
                            "network": name,
                            "loss": res.loss,
                            "split": split,
                            "epoch": ep,
                            "value": v,
                            "wall_s": res.wall_s,
                        }
                    )
        if progress is not None:
            progress(
                f"behaviour cloning: 4 networks x {epochs} epochs in "
                f"{time.perf_counter() - t0:.1f} s"
            )
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
    env = SMFGEnv(economy_params(check_variant(variant)), n_households, seed=seed, dtype="float32")
    obs = env.reset()
    pol = ClonedHouseholds(variant, epochs=profile_bc_epochs(profile), seed=seed)
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
    variant = check_variant(variant)
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
