"""The run store's contract (:mod:`smfg.runs.store`): the trainer it trains, what a run returns,
and the error of a finished run that cannot be read.

The trainer protocol (SMFRL and the baselines implement it)::

    class Trainer(Protocol):
        epoch: int      # epochs completed; 0 on a freshly built trainer
        n_epochs: int   # epochs the run trains in all
        def train_epoch(self) -> dict[str, float]: ...
            # one epoch: increments `epoch` by one, returns that epoch's metrics (per_capita_gdp,
            # social_welfare, income_gini, wealth_gini, years, losses, ...); every epoch returns
            # the keys of the first (use nan for a value not available yet)
        def state_dict(self) -> dict: ...
            # everything needed to resume bit for bit: networks, optimisers, normalisers, replay
            # buffer, torch.Generator / numpy Generator states, environment state, `epoch`
        def load_state_dict(self, state: dict) -> None: ...
            # the inverse; receives CPU tensors (checkpoints load with map_location="cpu") and
            # moves them to its own device
        def policy_state(self) -> dict: ...
            # what evaluation needs: the final policy weights and normalisers

A trainer must draw every random number from generators it owns and saves (the global torch,
numpy and ``random`` states are not saved), or a resumed run will differ from an
uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

__all__ = ["CorruptRunError", "RunResult", "Trainer"]


@runtime_checkable
class Trainer(Protocol):
    """What :meth:`RunStore.run` trains (see the module docstring)."""

    epoch: int
    n_epochs: int

    def train_epoch(self) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def policy_state(self) -> dict: ...


@dataclass
class RunResult:
    """What :meth:`RunStore.run` returns."""

    run_dir: Path
    """The run's directory."""
    metrics: pd.DataFrame
    """One row per completed epoch: epoch, the trainer's metrics, wall_time_s."""
    policy_state: dict
    """The trainer's policy_state(): from policy.pt when done, else the live trainer's."""
    resumed_from: int | None
    """Epoch of the checkpoint this call resumed from; None for a fresh start or a cached run."""
    computed: bool
    """False when the run was already done and only loaded."""
    done: bool = True
    """False when ``stop_after`` stopped the run before its last epoch."""
    warnings: list[str] = field(default_factory=list)
    """Messages about corrupt checkpoints (or a finished run's policy) that were moved aside."""


class CorruptRunError(RuntimeError):
    """A finished run whose policy cannot be read nor rebuilt from its checkpoints."""
