"""Certification of trained runs and of any pair of policies (book:certification), with the
run store.

:func:`certify_run` loads a finished run's policies, simulates the population they generate
(noiseless, the run's own households and shocks), and reports :mod:`smfg.certify`'s figures:
the followers' exploitability (consumption-equivalent gain of the best response) and the
leader's gap to the best point of an E6 grid with households best-responding. The result is
cached in the run directory as ``certify-<hash>.json`` (hash of the settings, the code
version and :data:`REPORT_VERSION`), so a book page re-executes in seconds.
:func:`certify_policies` does the same for any pair of policies (the fixed baselines),
without a cache; :func:`format_report` is what ``smfg certify`` prints.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from smfg.certify import (
    Fiscal,
    Rule,
    certify_followers,
    e6_grid,
    leader_gap,
    rule_from_policy,
    simulate,
    stationary_environment,
)
from smfg.config import EconomyParams, economy_params
from smfg.runs.learned import learned_policy
from smfg.runs.store import CODE_VERSION, RunStore, atomic_write_text

__all__ = [
    "DEFAULTS",
    "MIN_WINDOW",
    "certify_policies",
    "certify_run",
    "check_settings",
    "format_report",
]

#: The settings of a certification and their defaults.
DEFAULTS = {
    "burn_in": 100,
    "na": 500,
    "ne": 7,
    "grid_points": 3,
    "grid_na": 100,
    "leader": True,
}


#: Years an episode must last after the burn-in for its followers to be certified.
MIN_WINDOW = 20

#: The version of what a certification reports, part of its cache key: raised when the report
#: gains or changes a figure (2: the followers' figures by ability state, ``by_ability``), so
#: that a run certified before is certified again rather than read without it.
REPORT_VERSION = 2


def check_settings(**kw) -> dict:
    """:data:`DEFAULTS` with the settings ``kw``, checked (a ValueError names a bad one)."""
    unknown = set(kw) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"certify settings {sorted(unknown)}: allowed {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **kw}
    for k in ("burn_in", "na", "ne", "grid_points", "grid_na"):
        if not isinstance(out[k], int) or out[k] < (0 if k in ("burn_in", "grid_points") else 3):
            raise ValueError(f"certify setting {k} = {out[k]!r}: allowed a larger integer")
    return out


def certify_policies(
    params: EconomyParams,
    gov_policy,
    household_policy,
    n_households: int,
    seed: int = 0,
    leader_reward: str = "gdp",
    progress: Callable[[str], None] | None = None,
    rule: Rule | None = None,
    reward_weights: Sequence[float] = (1.0, 1.0, 1.0),
    leader_mean: bool = True,
    **settings,
) -> dict:
    """Exploitability of ``household_policy`` and the gap of ``gov_policy`` (book:certification).

    The followers' rule is ``household_policy`` acting on each grid state with the window's
    mean raw leader action (or none, for a government that sends a GovAction), or ``rule``
    for policies that do not act on each household's observation (fixed shares). An episode
    that ends less than :data:`MIN_WINDOW` years after the burn-in leaves no stationary
    population: the followers are then reported as skipped, with the reason.
    ``leader_mean``: also value the window mean of the leader's policy as a constant E6
    policy (a row beside the grid's, not part of the gap, with a stationary equilibrium of
    its own).
    """
    st = check_settings(**settings)
    if params.variant != "clearing":
        raise ValueError(
            f"variant = {params.variant!r}: certification is defined for 'clearing' "
            "(book:certification); 'taxai' has no market prices to take as given"
        )
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    pop = simulate(
        params,
        gov_policy,
        household_policy,
        n_households,
        seed,
        leader_reward=leader_reward,
        reward_weights=reward_weights,
    )
    say(
        f"simulated {pop.steps} years ({','.join(pop.termination)}), leader return "
        f"{pop.leader_return:.4g}"
    )
    if pop.steps < st["burn_in"] + MIN_WINDOW:  # no stationary population to certify
        fol = {
            "skipped": f"the episode ended in year {pop.steps} "
            f"({','.join(pop.termination)}), before the window"
        }
        env = stationary_environment(pop, params, st["burn_in"])
    else:
        say(
            f"followers: exact best response on {st['na']} asset x {st['ne']} ability points "
            f"for the {n_households} households' states of years {st['burn_in']}-{pop.steps}"
        )

        def rule_at(g):
            return rule if rule is not None else rule_from_policy(household_policy, g)

        grid = dict(burn_in=st["burn_in"], na=st["na"], ne=st["ne"])
        expl, env = certify_followers(params, pop, rule_at, **grid, seed=seed)
        fol = expl.summary()
        say(
            f"followers: median CEV {_pct(fol['cev_median_pct'])}, mean "
            f"{_pct(fol['cev_mean_pct'])}{_inf_note(fol)}"
        )
    sl = slice(env.window[0], env.window[1])
    out = {
        "n_households": n_households,
        "seed": seed,
        "episode": {
            "years": pop.steps,
            "termination": ",".join(pop.termination),
            "leader_return": pop.leader_return,
            "r": float(pop.r[sl].mean()),
            "K_over_Y": float((pop.K[sl] / pop.Y[sl]).mean()),
            "Y_per_household": float(pop.Y[sl].mean() / n_households),
        },
        "followers": fol,
        "settings": st,
    }
    if st["leader"] and st["grid_points"] > 0:
        say(
            f"leader: {st['grid_points'] ** 3} E6 grid points ({st['grid_points']} values of "
            "each of tau, xi, g)"
            + (" and the window mean of this leader" if leader_mean else "")
            + ", each a stationary equilibrium "
            "with households best-responding"
        )
        learned_mean = Fiscal(**{**env.fiscal.__dict__})
        gap = leader_gap(
            params,
            pop.leader_return,
            n_households,
            seed,
            leader_reward=leader_reward,
            reward_weights=reward_weights,
            grid=e6_grid(params, st["grid_points"]),
            extra={"window mean of this leader": learned_mean} if leader_mean else None,
            progress=say,
            na=st["grid_na"],
            ne=st["ne"],
        )
        out["leader"] = gap
        say(f"leader: gap {gap['gap']:.4g} to {gap['best']['policy']}")
    out["seconds"] = time.perf_counter() - t0
    return _jsonable(out)


def certify_run(
    run_dir: str | Path,
    cache: bool = True,
    progress: Callable[[str], None] | None = None,
    **settings,
) -> dict:
    """Certify a finished run of the run store (see the module docstring). The result is
    read from the run directory when the same settings were certified by the same code."""
    run_dir = Path(run_dir)
    st = check_settings(**settings)
    state = RunStore(run_dir.parent).load_policy(run_dir)
    cfg = state["config"]
    key = {"settings": st, "code": CODE_VERSION, "run": run_dir.name, "report": REPORT_VERSION}
    key = json.dumps(key, sort_keys=True)
    path = run_dir / f"certify-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if cache and path.exists():
        return json.loads(path.read_text())
    params = economy_params(cfg["variant"], **cfg.get("economy", {}))
    learned = learned_policy(state, noise_std=0.0, seed=int(cfg["seed"]))
    out = certify_policies(
        params,
        learned.leader,
        learned.followers,
        int(cfg["n_households"]),
        int(cfg["seed"]),
        cfg.get("leader_reward", "gdp"),
        progress,
        reward_weights=cfg.get("leader_reward_weights", (1.0, 1.0, 1.0)),
        **st,
    )
    out = {
        "run_dir": str(run_dir),
        "algo": state.get("algo", "smfrl"),
        "config": {k: cfg.get(k) for k in ("variant", "n_households", "seed", "bc", "epochs")},
        **out,
    }
    atomic_write_text(path, json.dumps(out, indent=1) + "\n")
    return out


def _jsonable(x):
    """numpy scalars to Python numbers, recursively (inf stays a float)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _pct(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4g}%"


def _inf_note(fol: dict) -> str:
    """Why a mean gain is infinite, when it is."""
    if not math.isinf(fol.get("cev_mean_pct", 0.0)):
        return ""
    return (
        f" (infinite: in {fol['share_infinite']:.1%} of the states no finite scaling of the "
        "rule's consumption reaches the best response's value; mean of the finite gains "
        f"{_pct(fol['cev_mean_finite_pct'])}, and the consumption loss below stays finite)"
    )


def format_report(res: dict) -> str:
    """A readable report of :func:`certify_run` or :func:`certify_policies`."""
    ep, fol = res["episode"], res["followers"]
    skipped = "skipped" in fol
    inf_why = ""
    if not skipped and fol["share_infinite"] != 0:
        inf_why = (
            ": states where no finite scaling of the rule's consumption reaches the best "
            "response's value"
        )
    lines = []
    if "run_dir" in res:
        c = res["config"]
        lines.append(
            f"run {res['run_dir']} ({res['algo']}, {c['variant']}, N={c['n_households']}, "
            f"seed {c['seed']}, bc={c['bc']}, {c['epochs']} epochs)"
        )
    lines.append(
        f"episode: {ep['years']} years ({ep['termination']}), leader return "
        f"{ep['leader_return']:.4g}; window means r={ep['r']:.4g}, K/Y={ep['K_over_Y']:.4g}, "
        f"Y/N={ep['Y_per_household']:.4g}"
    )
    if skipped:
        lines.append(f"followers: not certified: {fol['skipped']}")
    else:
        lines += [
            "followers (consumption-equivalent gain of the exact best response, env timing, "
            "at the window's prices):",
            f"  mean {_pct(fol['cev_mean_pct'])} "
            f"(finite values {_pct(fol['cev_mean_finite_pct'])}, "
            f"share infinite {fol['share_infinite']:.3g}{inf_why}), "
            f"median {_pct(fol['cev_median_pct'])}, "
            f"p10-p90 {_pct(fol['cev_p10_pct'])} to {_pct(fol['cev_p90_pct'])}",
            f"  as a loss of the best response's consumption: "
            f"mean {_pct(fol['loss_mean_pct'])}, median {_pct(fol['loss_median_pct'])}",
            f"  prices r={fol['r']:.4g}, W={fol['W']:.4g}, tr={fol['tr']:.4g}; window "
            f"{fol['window']}, capital drift {fol['capital_drift']:+.3g}; grid {fol['grid']}, "
            f"best response in {fol['best_response_seconds']:.1f} s",
        ]
    if not skipped and "rule_diff_s" in fol:  # (results cached before it was reported lack it)
        lines.insert(
            -1,
            f"  the rule against the shares the window's households chose: mean "
            f"|difference| {fol['rule_diff_s']:.3g} (saving), "
            f"{fol['rule_diff_f']:.3g} (work)",
        )
    if not skipped and "saving_gap_mean" in fol:
        lines.insert(
            -1,
            f"  the rule minus the best response, mean over the window's states: "
            f"saving share {fol['saving_gap_mean']:+.3g} (too little in "
            f"{fol['share_saving_too_little']:.0%} of states), work share "
            f"{fol['work_gap_mean']:+.3g}",
        )
    for r in [] if skipped else fol.get("by_ability", []):
        lines.insert(
            -1,
            f"  ability state {r['state']} (level {r['ability']:.3g}, {r['share']:.1%} of "
            f"states): saving share {r['s_rule']:.3f} (best {r['s_best']:.3f}), work share "
            f"{r['f_rule']:.3f} (best {r['f_best']:.3f}), median {_pct(r['cev_median_pct'])}",
        )
    if "leader" in res:
        g = res["leader"]
        lines.append(
            f"leader: return {g['learned_return']:.4g}; best E6 grid point {g['best']['policy']}"
            f" with households best-responding: {g['best']['leader_return']:.4g}; gap "
            f"{g['gap']:.4g}"
        )
        for row in g["rows"]:
            eq = row.get("equilibrium") or {}
            extra = (
                f" r={eq['r']:.4g} K/Y={eq['K_over_Y']:.4g}"
                if eq
                else f" ({row.get('reason', '')[:60]})"
            )
            lines.append(f"  {row['policy']:<36s} {row['leader_return']:>10.4g}{extra}")
    lines.append(f"{res['seconds']:.0f} s")
    return "\n".join(lines)
