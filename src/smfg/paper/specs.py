"""The run specs of the paper's artefacts, for the sweep (:mod:`smfg.runs.sweep`).

:func:`experiment_specs` lists the training runs a registry artefact needs, or the certified
learning page's (:data:`CERTIFIED_PAGE`); pass it to :func:`smfg.runs.sweep.specs_from_file`
to resolve a sweep file's ``experiment`` key.
"""

from __future__ import annotations

from collections.abc import Sequence

from smfg.paper.artefacts import get_experiment
from smfg.paper.curves import certified_requests

__all__ = ["CERTIFIED_PAGE", "experiment_specs"]

#: The book page whose runs are not an experiment of the registry but are swept with them.
CERTIFIED_PAGE = "certified_learning"


def experiment_specs(
    name: str,
    profile: str = "quick",
    seeds: Sequence[int] | int | None = None,
    sizes: Sequence[int] | None = None,
    variant: str | None = None,
    **overrides,
) -> list[dict]:
    """The specs of the training runs a paper artefact of the registry needs (or, for
    ``certified_learning``, the certified learning page's runs)."""
    if isinstance(seeds, int):
        seeds = range(seeds)
    if name == CERTIFIED_PAGE:
        return [r.spec() for _, r in certified_requests(profile, seeds=seeds)]
    exp = get_experiment(name)
    return [
        r.spec() for r in exp.runs(profile, seeds=seeds, sizes=sizes, variant=variant, **overrides)
    ]
