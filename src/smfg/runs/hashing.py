"""A run's identity: the canonical JSON of its spec and the code version, hashed.

The hash covers the spec and :data:`CODE_VERSION` (``smfg.__version__``): bumping the package
version invalidates every cached run, which is the intended way to say "the code changed the
results". Edits that do not bump it reuse old runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

import smfg


def _code_version() -> str:
    version = getattr(smfg, "__version__", None)
    if version is None:  # smfg/__init__ still importing: fall back to the installed metadata
        from importlib.metadata import version as _dist_version

        version = _dist_version("smfg")
    return f"smfg-{version}"


#: Part of every run's hash; computed once at import. Bumping ``smfg.__version__`` changes it
#: and so invalidates every cached run.
CODE_VERSION: str = _code_version()


HASH_CHARS = 16


def _canonical(obj: Any, where: str) -> Any:
    """A JSON-ready copy of ``obj``: dataclasses as dicts, tuples as lists, numpy scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"spec key {where!r} is {obj!r}; only finite floats are allowed")
        return obj
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError(
                    f"spec key {where or '<root>'!r} has a {type(k).__name__} key {k!r}; "
                    "dict keys must be str"
                )
            out[k] = _canonical(v, f"{where}.{k}" if where else k)
        return out
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise ValueError(
        f"spec key {where or '<root>'!r} holds a {type(obj).__name__} ({obj!r:.60}), which is "
        "not JSON-serialisable; allowed: None, bool, int, finite float, str, list, tuple, "
        "dict with str keys, dataclass"
    )


@runtime_checkable
class ResolvesToSpec(Protocol):
    """What names a run and resolves to its full spec (:class:`smfg.runs.spec.RunSpec`): the
    store hashes the full spec, never the name."""

    def spec(self) -> Mapping[str, Any]: ...


def canonical_spec(spec: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The spec as a plain JSON-ready dict (a :class:`ResolvesToSpec`, such as a ``RunSpec``,
    as the full spec it resolves to); ValueError naming the first bad key."""
    if isinstance(spec, ResolvesToSpec):
        spec = spec.spec()
    canon = _canonical(spec, "")
    if not isinstance(canon, dict):
        raise ValueError(f"a run spec must be a dict or a dataclass, got {type(spec).__name__}")
    return canon


def _canonical_json(obj: Any) -> str:
    # json writes floats with repr, which round-trips exactly
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(spec: Mapping[str, Any] | Any) -> str:
    """First 16 hex digits of sha256 over the canonical JSON of the spec and CODE_VERSION."""
    payload = {"code_version": CODE_VERSION, "spec": canonical_spec(spec)}
    return hashlib.sha256(_canonical_json(payload).encode("ascii")).hexdigest()[:HASH_CHARS]
