"""What identifies a training run: a frozen :class:`RunSpec`, and the full spec it resolves to.

A :class:`RunSpec` names a run as a person asks for it: the algorithm, the profile, the economy,
N, behaviour cloning, the seed and any other config fields (``overrides``). It resolves to the
run's full spec (:func:`smfg.runs.train.run_spec`: the algorithm's name and every field of its
config, as the run store keeps it in ``config.json``); the run store keys the run's directory
by the hash of that full spec (:meth:`RunSpec.hash`), so that two ways of asking for the same
config are the same run, and a run's hash is what it was before run specs were records.

The run store, the sweep and the paper layer (``smfg.paper.artefacts.RunRequest``) all take a
RunSpec; it travels as JSON (:meth:`RunSpec.to_json`, :meth:`RunSpec.from_json`).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from smfg.config import VARIANTS, check_profile
from smfg.runs.algorithms import check_algo
from smfg.runs.hashing import canonical_spec, config_hash
from smfg.runs.train import run_spec

__all__ = ["IDENTITY", "RunSpec"]

#: The fields of a RunSpec that are fields of every config too (never overrides).
IDENTITY = ("variant", "n_households", "bc", "seed")


def _frozen(value: Any) -> Any:
    """A JSON list as a tuple, at any depth (a config's sequence fields are tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"RunSpec.{name} = {value!r} is not an integer")
    return int(value)


@dataclass(frozen=True)
class RunSpec:
    """One training run: ``train(algo, profile, variant=..., n_households=..., bc=..., seed=...,
    **overrides)``. The defaults are every config's own (``BaseConfig``)."""

    algo: str
    """The algorithm (a key of ``smfg.runs.algorithms.ALGORITHMS``)."""
    profile: str = "quick"
    """The profile whose numbers the config starts from (:mod:`smfg.profiles`)."""
    variant: str = "taxai"
    """The economy: 'taxai' or 'clearing'."""
    n_households: int = 100
    """N, the number of households."""
    bc: bool = False
    """Whether the followers start from behaviour cloning."""
    seed: int = 0
    """The run's seed."""
    overrides: tuple[tuple[str, Any], ...] = ()
    """Any other config fields, as sorted (name, value) pairs (a mapping is accepted); a JSON
    list is held as a tuple."""

    def __post_init__(self) -> None:
        check_algo(self.algo)
        check_profile(self.profile)
        if self.variant not in VARIANTS:
            raise ValueError(f"RunSpec.variant = {self.variant!r} is not known: allowed {VARIANTS}")
        object.__setattr__(self, "n_households", _integer("n_households", self.n_households))
        object.__setattr__(self, "seed", _integer("seed", self.seed))
        if not isinstance(self.bc, bool):
            raise ValueError(f"RunSpec.bc = {self.bc!r} is not a bool")
        pairs = self.overrides
        if isinstance(pairs, Mapping):
            pairs = pairs.items()
        try:
            pairs = dict(pairs)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"RunSpec.overrides = {self.overrides!r} is not a mapping of config fields or "
                "(name, value) pairs"
            ) from e
        own = ("algo", "profile", *IDENTITY)
        bad = sorted(str(k) for k in pairs if not isinstance(k, str) or k in own)
        if bad:
            raise ValueError(
                f"RunSpec.overrides names {bad}: allowed config fields other than {own} "
                "(give those as the RunSpec's own fields)"
            )
        canonical_spec(pairs)  # JSON values only: a ValueError names the first bad one
        object.__setattr__(
            self, "overrides", tuple(sorted((k, _frozen(v)) for k, v in pairs.items()))
        )

    @classmethod
    def from_kwargs(cls, algo: str, profile: str = "quick", **kwargs) -> RunSpec:
        """The spec of ``train(algo, profile, **kwargs)``: the identity fields among ``kwargs``
        as fields, the rest as overrides."""
        own = {k: kwargs.pop(k) for k in IDENTITY if k in kwargs}
        return cls(algo, profile, **own, overrides=tuple(kwargs.items()))

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``smfg.runs.train.train`` besides algo and profile."""
        return {
            "variant": self.variant,
            "n_households": self.n_households,
            "bc": self.bc,
            "seed": self.seed,
            **dict(self.overrides),
        }

    def spec(self) -> dict[str, Any]:
        """The run's full spec, what the run store keeps and hashes (``run_spec``); a
        ValueError names an override that is not a field of the algorithm's config."""
        return run_spec(self.algo, self.profile, **self.kwargs())

    def hash(self) -> str:
        """The run's hash: its directory in the run store is ``<algo>-<hash>``. The same as
        before run specs were records (the hash of the full spec and the code version)."""
        return config_hash(self.spec())

    def to_json(self) -> str:
        """The spec as canonical JSON (sorted keys, overrides as an object)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["overrides"] = dict(self.overrides)
        return json.dumps(canonical_spec(data), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """The inverse of :meth:`to_json`; a ValueError says what is wrong with ``text``."""
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"a RunSpec's JSON does not parse: {e}") from e
        if not isinstance(data, dict):
            raise ValueError(f"a RunSpec's JSON is an object, not {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"a RunSpec's JSON has unknown key(s) {unknown}: allowed {names}")
        if "algo" not in data:
            raise ValueError("a RunSpec's JSON has no 'algo'")
        if not isinstance(data.get("overrides", {}), dict):
            raise ValueError(f"a RunSpec's 'overrides' is an object, not {data['overrides']!r}")
        return cls(**data)
