"""What a sweep runs: run specs from a grid (:func:`grid_specs`) or a YAML/JSON file
(:func:`specs_from_file`, :func:`specs_from_mapping`), each named by a
:class:`~smfg.runs.spec.RunSpec` and resolved to the full spec the store keeps, without duplicates
(:func:`unique_specs`), and each run's one-line label (:func:`run_label`). A file's
``experiment`` key is resolved by the function the paper layer passes in
(``smfg.paper.specs.experiment_specs``).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smfg.runs.spec import RunSpec
from smfg.runs.store import canonical_spec

#: keys of a sweep file (see :func:`specs_from_mapping`)
FILE_KEYS = (
    "algo",
    "profile",
    "overrides",
    "grid",
    "runs",
    "experiment",
    "seeds",
    "sizes",
    "variant",
)


def grid_specs(
    algo: str = "smfrl",
    profile: str = "quick",
    variants: Sequence[str] = ("taxai",),
    households: Sequence[int] = (100,),
    seeds: Sequence[int] = (0,),
    bc: Sequence[bool] = (False,),
    **overrides,
) -> list[dict]:
    """The specs of every combination of variant x households x bc x seed, in that order."""
    return [
        RunSpec(algo, profile, v, int(n), bool(b), int(s), tuple(overrides.items())).spec()
        for v, n, b, s in itertools.product(variants, households, bc, seeds)
    ]


#: What resolves a sweep file's ``experiment`` key: (name, profile, seeds=, sizes=, variant=,
#: **overrides) -> the specs of that paper artefact's runs (the paper layer's
#: ``smfg.paper.specs.experiment_specs``).
ExperimentSpecs = Callable[..., list[dict]]


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def specs_from_mapping(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    experiment_specs: ExperimentSpecs | None = None,
) -> list[dict]:
    """The specs a sweep file describes. A list is a list of runs; a mapping may hold:

    - ``algo`` (default smfrl), ``profile`` (default quick), ``overrides`` (config fields
      every run gets);
    - ``grid``: config fields (``algo`` and ``profile`` too) to lists of values, every
      combination one run, e.g. ``{variant: [taxai, clearing], n_households: [100, 1000],
      seed: [0, 1, 2]}``;
    - ``runs``: a list of runs, each a mapping of config fields (and ``algo``, ``profile``);
    - ``experiment``: registry artefact name(s), with optional ``seeds`` (a count or a list),
      ``sizes`` and ``variant``, resolved by ``experiment_specs`` (a ValueError without it).

    Duplicates (same spec) are kept once, in first-seen order.
    """
    if isinstance(data, list | tuple):
        data = {"runs": list(data)}
    if not isinstance(data, Mapping):
        raise ValueError(f"a sweep file holds a mapping or a list, not {type(data).__name__}")
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ValueError(f"sweep file keys {unknown} are not known: allowed {list(FILE_KEYS)}")
    algo = data.get("algo", "smfrl")
    profile = data.get("profile", "quick")
    base = dict(data.get("overrides") or {})
    specs: list[dict] = []
    grid = data.get("grid")
    if grid:
        if not isinstance(grid, Mapping):
            raise ValueError(f"sweep file 'grid' must map config fields to lists, got {grid!r}")
        names = list(grid)
        for values in itertools.product(*(_as_list(grid[k]) for k in names)):
            kw = {**base, **dict(zip(names, values, strict=True))}
            specs.append(_resolve(kw, algo, profile))
    for i, run in enumerate(data.get("runs") or []):
        if not isinstance(run, Mapping):
            raise ValueError(f"sweep file 'runs[{i}]' must be a mapping of config fields")
        kw = {**base, **run}
        specs.append(_resolve(kw, algo, profile))
    names = _as_list(data.get("experiment") or [])
    if names and experiment_specs is None:
        raise ValueError(
            f"sweep file 'experiment' {names}: no resolver of paper artefacts was given "
            "(pass experiment_specs, as `smfg sweep --file` does)"
        )
    for name in names:
        specs += experiment_specs(
            name,
            profile,
            seeds=data.get("seeds"),
            sizes=data.get("sizes"),
            variant=data.get("variant"),
            **base,
        )
    if not specs:
        raise ValueError("the sweep file describes no run: give 'grid', 'runs' or 'experiment'")
    return unique_specs(specs)


def _resolve(kw: dict, algo: str, profile: str) -> dict:
    """The full spec of a file's run: its config fields (and ``algo``, ``profile``) as a
    RunSpec."""
    return RunSpec.from_kwargs(kw.pop("algo", algo), kw.pop("profile", profile), **kw).spec()


def specs_from_file(
    path: str | os.PathLike, experiment_specs: ExperimentSpecs | None = None
) -> list[dict]:
    """The specs of a YAML (``.yaml``, ``.yml``) or JSON sweep file (:func:`specs_from_mapping`,
    whose ``experiment`` key ``experiment_specs`` resolves)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep file {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml comes with the dask and book extras
            raise ImportError(
                f"reading {path} needs PyYAML (`pip install pyyaml`, or the extra "
                "`pip install .[dask]`); a JSON file of the same structure needs nothing"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            what = getattr(e, "problem", None) or type(e).__name__
            raise ValueError(f"sweep file {path} is not valid YAML{where}: {what}") from e
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"sweep file {path} is not valid JSON at line {e.lineno}, column {e.colno}: "
                f"{e.msg} (a .yaml or .yml file is read as YAML)"
            ) from e
    try:
        return specs_from_mapping(data, experiment_specs)
    except (ValueError, TypeError) as e:
        raise ValueError(f"sweep file {path}: {e}") from e


#: algorithms with a batched form for several seeds (:mod:`smfg.algos.seeds`: the DDPG family;
#: rule_based learns nothing, PPO has none)
BATCHED = frozenset({"smfrl", "ddpg", "iddpg", "maddpg", "mfmarl"})
#: those whose seeds a sweep batches: where a batch of three costs well under three seeds alone
#: on one core (measured, quick profile, 2-core machine: SMFRL 1.7 to 2.0 times one seed, DDPG
#: 1.5, IDDPG 1.6, MF-MARL 1.7); not MADDPG, whose critics over every household make a batch
#: of three cost 2.2 (N = 100) to 2.8 (N = 1,000) times one seed, and more beside another
#: worker (4.2 in a quick build)
SWEEP_BATCHED = BATCHED - {"maddpg"}


def seed_key(spec: Mapping) -> str:
    """What a run is apart from its seed (runs with equal keys can train as one batch)."""
    return json.dumps({k: v for k, v in spec.items() if k != "seed"}, sort_keys=True)


def seed_groups(specs: Sequence[Mapping], batch: bool = True) -> list[list[int]]:
    """The indices of ``specs`` in groups that train together: the specs of an algorithm
    whose seeds a sweep batches (:data:`SWEEP_BATCHED`) that differ only in their seed form
    one group, in the order of their first spec; every other spec (or every spec, ``batch``
    False) is a group of its own."""
    groups: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for i, spec in enumerate(specs):
        if not batch or spec.get("algo") not in SWEEP_BATCHED:
            out.append([i])
            continue
        key = seed_key(spec)
        if key not in groups:
            groups[key] = []
            out.append(groups[key])
        groups[key].append(i)
    return out


def unique_specs(specs: Iterable[Any]) -> list[dict]:
    """The specs as canonical dicts (a RunSpec as its full spec), each distinct one once."""
    out, seen = [], set()
    for spec in specs:
        canon = canonical_spec(spec)
        key = json.dumps(canon, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(canon)
    return out


def run_label(spec: Mapping[str, Any]) -> str:
    """'smfrl taxai N=100 BC seed 0': what a progress line calls a run."""
    parts = [str(spec.get("algo", "run"))]
    if "variant" in spec:
        parts.append(str(spec["variant"]))
    if "n_households" in spec:
        parts.append(f"N={spec['n_households']}")
    if spec.get("bc"):
        parts.append("BC")
    if "seed" in spec:
        parts.append(f"seed {spec['seed']}")
    return " ".join(parts)
