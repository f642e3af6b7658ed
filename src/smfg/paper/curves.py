"""The certified learning page (book:certification): its runs, trained with certified
learning curves (:mod:`smfg.runs.curves`), its table across seeds and the facts it states.

:func:`certified_requests` names the page's runs (every row of :data:`CURVE_ROWS` in
`clearing` with BC, certifying every :data:`CURVE_EVERY` epochs); :func:`train_certified`
trains or loads them and reads their curves; :func:`certified_table` summarises the last
certified epoch across seeds; :func:`curve_facts` is what the page glues.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from smfg.algos.offpolicy import HOUSEHOLD_FOLLOWERS, STABLE_LEADER
from smfg.algos.smfrl import SOLVING
from smfg.certify import Fiscal, e6_grid, leader_gap
from smfg.config import economy_params
from smfg.paper.aggregate import format_interval
from smfg.paper.artefacts import ARTEFACT_PROFILES, RunRequest
from smfg.paper.collection import train_requests
from smfg.runs.certify import certify_run
from smfg.runs.curves import certified_curves, curve_settings
from smfg.runs.store import CONFIG_FILE
from smfg.stats import mean_interval, seed_interval

__all__ = [
    "CURVE_EPOCHS",
    "CURVE_EVERY",
    "CURVE_FOLLOWER_LR",
    "CURVE_PROFILE_SETTINGS",
    "CURVE_ROWS",
    "CURVE_TARGETS",
    "CONVERGENCE_NES",
    "FINE_PROFILE_SETTINGS",
    "FINE_SETTINGS",
    "GAP_COLUMNS",
    "ORIGINAL",
    "grid_landscape",
    "leader_actions",
    "leader_grid",
    "policy_name",
    "start_gap",
    "certified_requests",
    "certified_table",
    "curve_facts",
    "follower_gap_facts",
    "follower_gaps",
    "fine_settings",
    "followers_gain",
    "grid_convergence",
    "train_certified",
]

#: The rows of the certified learning page: label -> (algorithm, training overrides). SMFRL
#: with the original's settings, SMFRL with the settings that solve its game
#: (:data:`smfg.algos.smfrl.SOLVING`, book:learning-solving) under each leader gradient, and two
#: baselines of the DDPG family whose leaders learn, with the same stable leader (and MF-MARL
#: with the same household followers), so that the rows differ by what each algorithm's
#: critics and actors see.
ORIGINAL = "SMFRL (nash, original settings)"
CURVE_ROWS = {
    ORIGINAL: ("smfrl", (("leader_gradient", "nash"),)),
    "SMFRL (nash)": ("smfrl", (("leader_gradient", "nash"), *SOLVING)),
    "SMFRL (stackelberg)": ("smfrl", (("leader_gradient", "stackelberg"), *SOLVING)),
    "DDPG": ("ddpg", STABLE_LEADER),
    "MF-MARL": ("mfmarl", (*STABLE_LEADER, *HOUSEHOLD_FOLLOWERS)),
}
#: Epochs between certifications and training epochs, by profile.
CURVE_EVERY = {"smoke": 1, "quick": 5, "paper": 50}
#: Coarser certification settings where a profile needs them (smoke: the page must run in a
#: minute or two: 60 x 3 household grid, an 8-point leader grid on 40 assets).
CURVE_PROFILE_SETTINGS = {"smoke": {"na": 60, "ne": 3, "grid_points": 2, "grid_na": 40}}
CURVE_EPOCHS = {"smoke": 2, "quick": 40, "paper": 1000}
#: The grid on which the finished followers are certified, by profile (default: 500 assets x
#: 15 abilities, followers only): the curves' points use a coarse 200 x 5 grid to keep many
#: certifications cheap, but the ability process is continuous in the economy (a log-AR(1)
#: with a superstar state), and its 5-state Rouwenhorst chain moved the median gain of the
#: finished SMFRL (nash) followers by up to a tenth of itself (4.4 -> 4.7, 5.5 -> 5.0 and
#: 5.3 -> 4.7% for seeds 0, 1, 2 of a quick N = 100 build, 5 -> 15 states), 11 -> 15 states by
#: at most 0.07 points (:func:`grid_convergence` prints it for the page's own runs). The
#: followers' target is judged on this grid.
FINE_SETTINGS = {"na": 500, "ne": 15, "leader": False}
FINE_PROFILE_SETTINGS = {"smoke": {"na": 60, "ne": 5, "leader": False}}
#: The ability grids of :func:`grid_convergence`, by profile.
CONVERGENCE_NES = {"smoke": (3, 5), "quick": (5, 7, 11, 15), "paper": (5, 7, 11, 15, 21)}
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
    """(label, :class:`~smfg.paper.artefacts.RunRequest`) of every run of the certified
    learning page: every row of ``rows`` (default :data:`CURVE_ROWS`) in `clearing` with BC,
    each seed (default: the profile's), certifying every ``every`` epochs (default
    :data:`CURVE_EVERY`), for ``epochs`` epochs (default :data:`CURVE_EPOCHS`), the leader on
    ``leader_reward``. Every row trains with the same households, seeds, epochs and follower
    learning rate, and differs only by its algorithm and overrides."""
    rows = CURVE_ROWS if rows is None else rows
    every = CURVE_EVERY[profile] if every is None else int(every)
    epochs = CURVE_EPOCHS[profile] if epochs is None else int(epochs)
    seeds = range(ARTEFACT_PROFILES[profile].seeds) if seeds is None else seeds
    # evaluated where certified (the page reads the certifications, not the evaluations)
    common = {
        "certify_every": every,
        "eval_every": every,
        "epochs": epochs,
        "bc_follower_lr": CURVE_FOLLOWER_LR,
    }
    if profile in CURVE_PROFILE_SETTINGS:
        common["certify_settings"] = dict(CURVE_PROFILE_SETTINGS[profile])
    if leader_reward != "gdp":
        common["leader_reward"] = leader_reward
    out = []
    for label, (algo, over) in rows.items():
        own = tuple(sorted({**common, **dict(over)}.items()))
        out += [
            (label, RunRequest(algo, profile, "clearing", int(n_households), True, int(s), own))
            for s in seeds
        ]
    return out


def fine_settings(profile: str, run_settings: dict | None = None, **over) -> dict:
    """The settings of a finished run's fine certification of its followers: the run's curve
    settings (``run_settings``, its spec's ``certify_settings``: the same burn-in) with the
    profile's :data:`FINE_SETTINGS` (or :data:`FINE_PROFILE_SETTINGS`) and ``over``."""
    fine = FINE_PROFILE_SETTINGS.get(profile, FINE_SETTINGS)
    return curve_settings({**(run_settings or {}), **fine, **over})


def followers_gain(done: dict) -> tuple[float, float]:
    """(median, mean) consumption-equivalent gain in percent of a certification's followers
    (:func:`smfg.runs.certify.certify_run`'s result); infinite where the followers were not
    certified (the episode ended before the window, or no best response was found)."""
    fol = done.get("followers", {})
    if "cev_median_pct" not in fol or fol.get("best_response_converged") is False:
        return math.inf, math.inf
    return float(fol["cev_median_pct"]), float(fol["cev_mean_pct"])


def grid_convergence(
    runs: pd.DataFrame, profile: str = "quick", label: str = "SMFRL (nash)", nes=None
) -> pd.DataFrame:
    """The finished followers of row ``label`` of :func:`train_certified`'s ``runs``
    certified on ability grids of ``nes`` states (default :data:`CONVERGENCE_NES` of the
    profile; assets as :func:`fine_settings`), each cached in its run directory: one row per
    seed and grid, the median and mean gain in percent. How far the measure moves with the
    grid says how much of a median gain is the grid's."""
    nes = CONVERGENCE_NES[profile] if nes is None else tuple(nes)
    rows = []
    for run in runs[runs.label == label].sort_values("seed", kind="stable").itertuples():
        spec = json.loads((Path(run.run_dir) / CONFIG_FILE).read_text(encoding="utf-8"))["spec"]
        for ne in nes:
            st = fine_settings(profile, spec.get("certify_settings"), ne=int(ne))
            median, mean = followers_gain(certify_run(run.run_dir, **st))
            rows.append(
                {
                    "seed": int(run.seed),
                    "ne": int(ne),
                    "na": st["na"],
                    "cev_median_pct": median,
                    "cev_mean_pct": mean,
                }
            )
    return pd.DataFrame(rows, columns=["seed", "ne", "na", "cev_median_pct", "cev_mean_pct"])


def policy_name(row: dict) -> str:
    """A leader's constant policy as 'tau=0.198 xi=5e-05 g=0.149' (income tax level and
    progressivity, the asset tax's ``tau_a`` and ``xi_a`` where ``row`` has them, spending; E1's
    units; a row of ``smfg.certify.leader``, whose grid points keep the asset tax at its lower
    clip and name only the other three)."""
    keys = ("tau", "xi", "tau_a", "xi_a", "g")
    return " ".join(f"{k}={row[k]:.3g}" for k in keys if k in row)


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
    best grid point's, ``final_br_gap_pct``, the gap in percent of the best's magnitude, and
    both policies, ``final_policy`` and ``final_best_policy``, by :func:`policy_name`; the
    finished followers on the fine grid, ``final_cev_median_pct`` and ``final_cev_mean_pct``
    by :func:`followers_gain`, on ``final_grid``, :func:`fine_settings`)
    and :func:`certified_curves` of the runs with their ``label``, the best grid point's
    return (``cert_best_return``) and the gap in percent of its magnitude
    (``cert_leader_gap_pct``: the learned pair's return, followers as learned, against the
    grid's with households best-responding).
    """
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
        best_policy = fin.get("best", {})
        # the finished followers on the fine grid, where the targets are judged
        fine = fine_settings(profile, cfg.get("certify_settings"))
        fine_median, fine_mean = followers_gain(certify_run(res.run_dir, **fine))
        out.append(
            {
                "label": label,
                "algo": req.algo,
                "seed": req.seed,
                "run_dir": str(res.run_dir),
                "follower_batch": cfg.get("follower_batch", ""),
                "epochs": int(cfg["epochs"]),
                "final_br_return": br,
                "final_best_return": best,
                "final_br_gap_pct": 100.0 * (best - br) / abs(best),
                "final_saving_gap": saving_gap,
                "final_cev_median_pct": fine_median,
                "final_cev_mean_pct": fine_mean,
                "final_grid": f"{fine['na']} x {fine['ne']}",
                # where the finished followers err, ability state by ability state
                "final_by_ability": done["followers"].get("by_ability", []),
                "final_policy": policy_name(mine[0]) if mine else "",
                "final_best_policy": policy_name(best_policy) if best_policy else "",
            }
        )
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
    point, both with households best-responding) and the finished followers' median gain on
    the fine grid (``cev_fine``, by seed ``cev_fine_by_seed``, the grid ``fine_grid``). A
    seed whose last certification found no best response (``cert_converged`` 0: its followers
    are not certified) counts as infinitely exploitable in the median's mean, and
    ``uncertified`` counts such seeds."""
    last = (
        curves.sort_values(["seed", "epoch"], kind="stable").groupby("run_dir", sort=False).tail(1)
    )
    if "cert_converged" in last:
        failed = last.cert_converged == 0
        last = last.assign(
            cert_cev_median_pct=last.cert_cev_median_pct.mask(failed, math.inf),
            uncertified=failed.astype(int),
        )
    metrics = (
        "cert_cev_median_pct",
        "cert_loss_median_pct",
        "cert_saving_gap",
        "cert_leader_return",
        "cert_best_return",
        "cert_leader_gap",
        "cert_leader_gap_pct",
        "cert_years",
    )
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
        row["uncertified"] = int(g.uncertified.sum()) if "uncertified" in g else 0
        row["cev_median_by_seed"] = ", ".join(f"{v:.3g}" for v in g.cert_cev_median_pct)
        if runs is not None and "final_br_gap_pct" in runs:
            r = runs[runs.run_dir.isin(set(g.run_dir))]
            for key, col in (
                ("br_gap_pct", "final_br_gap_pct"),
                ("final_saving_gap", "final_saving_gap"),
            ):
                vals = r[col].replace([math.inf, -math.inf], math.nan).dropna().tolist()
                mean, lo, hi = mean_interval(vals) if vals else (math.nan,) * 3
                row[key], row[f"{key}_lo"], row[f"{key}_hi"] = mean, lo, hi
            row["br_infeasible"] = int((~r.final_br_gap_pct.apply(math.isfinite)).sum())
            if "final_cev_median_pct" in r:  # the finished followers on the fine grid
                fine = r.sort_values("seed").final_cev_median_pct.tolist()
                mean, lo, hi = seed_interval(fine, "cert_cev_median_pct")
                row["cev_fine"], row["cev_fine_lo"], row["cev_fine_hi"] = mean, lo, hi
                row["cev_fine_by_seed"] = ", ".join(f"{v:.3g}" for v in fine)
                row["fine_grid"] = "; ".join(dict.fromkeys(r.final_grid))
            for key, col in (
                ("final_policies", "final_policy"),
                ("best_policies", "final_best_policy"),
            ):
                if col in r:  # the seeds' policies, each once, in seed order
                    row[key] = "; ".join(dict.fromkeys(r.sort_values("seed")[col]))
        rows.append(row)
    return pd.DataFrame(rows)


#: The certification targets of the `quick` profile at N = 100 (issue 15): the followers'
#: median consumption-equivalent gain of the best response, in percent, and the leader's gap
#: to the best E6 grid point, in percent of that point's return.
CURVE_TARGETS = {"cev_median_pct": 5.0, "leader_gap_pct": 10.0}


def curve_facts(
    table: pd.DataFrame,
    nash: str = "SMFRL (nash)",
    stackelberg: str = "SMFRL (stackelberg)",
    original: str = ORIGINAL,
    start: pd.DataFrame | None = None,
) -> dict[str, str]:
    """What the certified learning page states, from :func:`certified_table`: for each SMFRL
    row (``nash``, ``stack`` and ``orig``, the original's settings), its followers' median
    gain (on the fine grid, ``cc_fine_grid``, when the table has it; the curve's last point
    ``cc_*_cev_curve``) and its leader's gap (mean and 95% interval across seeds) and whether
    each meets :data:`CURVE_TARGETS`; and which leader gradient ended with the higher leader return.
    Keys ``cc_*``; 'n/a' where a row is missing. With ``start`` (:func:`start_gap`'s), the
    untrained stable leader's gap at its start (``cc_start_gap``, mean and 95% interval). From a
    table made with runs: the finished leaders' own window-mean policies (``cc_nash_policy``,
    ``cc_stack_policy``) and the best grid points (``cc_best_policy``), each distinct policy of
    the seeds once."""
    t = table.set_index("label")
    out = {}
    if start is not None and len(start):
        out["cc_start_gap"] = format_interval(*mean_interval(start.start_gap_pct.tolist()))
    for key, label in (("nash", nash), ("stack", stackelberg), ("orig", original)):
        if label not in t.index:
            names = ("cev", "cev_curve", "gap", "cev_ok", "gap_ok")
            out.update({f"cc_{key}_{k}": "n/a" for k in names})
            continue
        r = t.loc[label]
        curve_cev = r["cert_cev_median_pct"]
        out[f"cc_{key}_cev_curve"] = format_interval(
            curve_cev, r["cert_cev_median_pct_lo"], r["cert_cev_median_pct_hi"]
        )
        # judged on the fine grid when the table has it (the curve's coarse grid otherwise)
        fkey = "cev_fine" if "cev_fine" in r and not pd.isna(r["cev_fine"]) else None
        cev = r[fkey] if fkey else curve_cev
        # the like-for-like gap when the table has it (both with best-responding households)
        has_br = "br_gap_pct" in r and math.isfinite(r["br_gap_pct"])
        gkey = "br_gap_pct" if has_br else "cert_leader_gap_pct"
        gap = r[gkey]
        ckey = fkey or "cert_cev_median_pct"
        out[f"cc_{key}_cev"] = format_interval(cev, r[f"{ckey}_lo"], r[f"{ckey}_hi"])
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
    grids = [g for g in table.get("fine_grid", []) if isinstance(g, str) and g]
    out["cc_fine_grid"] = "; ".join(dict.fromkeys(grids)) or "n/a"
    for key, label in (("nash", nash), ("stack", stackelberg)):
        col = "final_policies"
        mine = t.loc[label, col] if label in t.index and col in t else None
        out[f"cc_{key}_policy"] = mine if isinstance(mine, str) and mine else "n/a"
    col = "best_policies"
    best = [p for p in table[col] if isinstance(p, str) and p] if col in table else []
    out["cc_best_policy"] = "; ".join(dict.fromkeys(best)) or "n/a"
    return out


#: The figures of :func:`follower_gaps`, by ability state.
GAP_COLUMNS = ("ability", "share", "s_rule", "s_best", "f_rule", "f_best", "cev_median_pct")


def follower_gaps(runs: pd.DataFrame) -> pd.DataFrame:
    """Where the finished followers of :func:`train_certified`'s ``runs`` err, ability state
    by ability state (:func:`smfg.certify.by_ability`: each household of the certification's
    window at its nearest state of the ability grid): for each row label and state, the
    state's share of the households, the learned rule's saving and work shares beside the
    best response's at the same households (``s_rule``, ``s_best``, ``f_rule``, ``f_best``),
    each a mean across seeds, the median across seeds of the state's median consumption gain
    from switching (``cev_median_pct``), and the number of seeds. Runs whose certification has
    no breakdown (followers not certified) are left out."""
    rows = [
        {"label": run.label, "seed": run.seed, **r}
        for run in runs.itertuples()
        for r in (getattr(run, "final_by_ability", None) or [])
    ]
    cols = ["label", "state", *GAP_COLUMNS, "seeds"]
    if not rows:
        return pd.DataFrame(columns=cols)
    g = pd.DataFrame(rows).groupby(["label", "state"], sort=False)
    out = g[list(GAP_COLUMNS[:-1])].mean()
    out["cev_median_pct"] = g["cev_median_pct"].median()
    out["seeds"] = g.size()
    return out.reset_index()[cols]


def follower_gap_facts(gaps: pd.DataFrame, label: str = "SMFRL (nash)") -> dict[str, str]:
    """What the page states from :func:`follower_gaps` for the row ``label``, at its lowest
    and highest ability state (``lo``, ``hi``): the learned and best-response saving and work
    shares (``cc_fg_s_rule_lo`` ... ``cc_fg_f_best_hi``, three decimals), the median gain
    (``cc_fg_cev_lo``, ``cc_fg_cev_hi``, percent), and whether each share rises or falls from
    the lowest state to the highest (``cc_fg_s_rule_dir``, ``cc_fg_s_best_dir``,
    ``cc_fg_f_rule_dir``, ``cc_fg_f_best_dir``). 'n/a' throughout without the row."""
    names = ("s_rule", "s_best", "f_rule", "f_best", "cev")
    keys = [f"cc_fg_{k}_{end}" for k in names for end in ("lo", "hi")]
    dirs = [f"cc_fg_{k}_dir" for k in ("s_rule", "s_best", "f_rule", "f_best")]
    mine = gaps[gaps.label == label].sort_values("state") if len(gaps) else gaps
    if len(mine) < 2:
        return dict.fromkeys(keys + dirs, "n/a")
    lo, hi = mine.iloc[0], mine.iloc[-1]
    out = {}
    for k in ("s_rule", "s_best", "f_rule", "f_best"):
        out[f"cc_fg_{k}_lo"], out[f"cc_fg_{k}_hi"] = f"{lo[k]:.3f}", f"{hi[k]:.3f}"
        out[f"cc_fg_{k}_dir"] = "rises" if hi[k] > lo[k] else "falls"
    out["cc_fg_cev_lo"] = f"{lo.cev_median_pct:.3g}"
    out["cc_fg_cev_hi"] = f"{hi.cev_median_pct:.3g}"
    return out


#: E1's scale of each of the leader's five numbers, by its name in economic units.
_E1 = (
    ("tau", "tau_max"),
    ("xi", "xi_max"),
    ("tau_a", "tau_a_max"),
    ("xi_a", "xi_a_max"),
    ("g", "g_max"),
)


def leader_grid(runs: pd.DataFrame) -> pd.DataFrame:
    """The leader grid of :func:`train_certified`'s ``runs`` with households best-responding:
    for each seed (its first run: every run of a seed has the same grid, households and
    shocks) and E6 point, the leader's return in the run's economy (-inf where the policy
    has no equilibrium or the economy does not last), read from the runs' cached
    certifications. Columns seed, tau, xi, g, leader_return, years."""
    rows = []
    for _, run in runs.sort_values("seed", kind="stable").groupby("seed").head(1).iterrows():
        spec = json.loads((Path(run.run_dir) / CONFIG_FILE).read_text(encoding="utf-8"))["spec"]
        done = certify_run(run.run_dir, **curve_settings(spec.get("certify_settings")))
        for r in done.get("leader", {}).get("rows", []):
            if r.get("on_grid"):
                years = r.get("years", math.nan)
                rows.append(
                    {
                        "seed": int(run.seed),
                        **{k: float(r[k]) for k in ("tau", "xi", "g", "leader_return")},
                        "years": float(years) if years is not None else math.nan,
                    }
                )
    return pd.DataFrame(rows, columns=["seed", "tau", "xi", "g", "leader_return", "years"])


def grid_landscape(grid: pd.DataFrame) -> pd.DataFrame:
    """:func:`leader_grid`'s returns as a table: one row per income tax level and
    progressivity, one column per spending level, the mean return across seeds (-inf where
    any seed's economy has none)."""
    out = grid.pivot_table(index=["tau", "xi"], columns="g", values="leader_return", aggfunc="mean")
    out.columns = [f"g={g:.3g}" for g in out.columns]
    out.index = [f"tau={t:.3g} xi={x:.3g}" for t, x in out.index]
    return out


def leader_actions(runs: pd.DataFrame, epochs: Iterable[int] | None = None) -> pd.DataFrame:
    """The leaders' mean action, epoch by epoch, in E1's units (tau, xi, tau_a, xi_a and g as
    a share of output), averaged over each row's seeds: from the ``leader_c0`` .. ``leader_c4``
    columns of the runs' metrics (the training episodes' mean, exploration included). One
    row per (label, epoch), at ``epochs`` (default: every epoch); rows without a learned
    leader are left out."""
    params = economy_params("clearing")
    frames = []
    for r in runs.itertuples():
        m = pd.read_csv(Path(r.run_dir) / "metrics.csv")
        if "leader_c0" not in m:
            continue
        f = pd.DataFrame({"label": r.label, "seed": r.seed, "epoch": m["epoch"]})
        for k, (name, scale) in enumerate(_E1):
            f[name] = m[f"leader_c{k}"] * getattr(params, scale)
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=["label", "epoch", *(n for n, _ in _E1)])
    out = pd.concat(frames, ignore_index=True)
    if epochs is not None:
        out = out[out.epoch.isin(set(epochs))]
    names = [n for n, _ in _E1]
    return out.groupby(["label", "epoch"], sort=False)[names].mean().reset_index()


def start_gap(
    seeds: Iterable[int],
    n_households: int = 100,
    leader_reward: str = "output",
    settings: dict | None = None,
    start: tuple[float, ...] | None = None,
) -> pd.DataFrame:
    """What a stable leader has before it learns: its start (``leader_init`` of
    :data:`~smfg.algos.offpolicy.STABLE_LEADER` unless ``start`` is given) as a constant E1
    policy, with households best-responding, against the best E6 grid point, on the same grid,
    households and shocks as a run's certification (``settings``: the runs'
    ``certify_settings``). One row per seed: ``start_return``, ``best_return`` and
    ``start_gap_pct`` (in percent of the best's magnitude)."""
    params = economy_params("clearing")
    c = dict(STABLE_LEADER)["leader_init"] if start is None else start
    numbers = [ci * getattr(params, scale) for ci, (_, scale) in zip(c, _E1, strict=True)]
    fiscal = Fiscal(*numbers, params.tau_c)
    st = curve_settings(settings)
    rows = []
    for seed in seeds:
        res = leader_gap(
            params,
            0.0,
            int(n_households),
            int(seed),
            leader_reward=leader_reward,
            grid=e6_grid(params, st["grid_points"]),
            extra={"start": fiscal},
            na=st["grid_na"],
            ne=st["ne"],
        )
        mine = [r for r in res["rows"] if not r["on_grid"]][0]["leader_return"]
        best = res["best"]["leader_return"]
        rows.append(
            {
                "seed": int(seed),
                "start_return": mine,
                "best_return": best,
                "start_gap_pct": 100.0 * (best - mine) / abs(best),
            }
        )
    return pd.DataFrame(rows)
