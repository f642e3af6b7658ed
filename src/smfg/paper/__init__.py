"""The paper's side, above the run machinery (:mod:`smfg.runs`): its artefacts, what they
need, how they aggregate, the facts each page glues, and the simulations and audits beside
them. Performance studies sit above it, in :mod:`smfg.perf`.

One module per job:

- :mod:`.values`: the paper's own numbers (its Tables 1 and 3, its names);
- :mod:`.artefacts`: what an artefact is (:class:`Experiment`, :class:`Row`,
  :class:`Setting`, :class:`RunRequest`), every artefact of the book (:data:`EXPERIMENTS`)
  and how much evaluation a profile does (:data:`ARTEFACT_PROFILES`);
- :mod:`.collection`: training an artefact's runs and evaluating its cells (:func:`collect`);
- :mod:`.comparison`: every leader against the same followers (:func:`compare_leaders`);
- :mod:`.figure_data`: the data of the figures that are not tables of cells;
- :mod:`.aggregate`, :mod:`.facts`, :mod:`.headline`: tables, a page's facts, the headline;
- :mod:`.pages`: a page's set-up (:func:`page_setup`), header and the one-profile check;
- :mod:`.fixed_policies`, :mod:`.simulate`, :mod:`.audit`, :mod:`.certification`,
  :mod:`.certify_run`, :mod:`.curves`, :mod:`.mean_field`, :mod:`.specs`: the fixed-policy
  grids, simulations, the audit's scans, the certification page's solver checks and facts,
  the certification pages' runs and tables, the mean-field check and the runs each artefact
  needs for a sweep.

A notebook imports from here (the names of ``__all__``) and from :mod:`smfg.plotting` only.
"""

from __future__ import annotations

import importlib

#: The names this package exports, by the module that defines them.
_EXPORTS = {
    "values": ("ALGORITHM_LABELS", "PAPER_TABLE1", "PAPER_VALUES"),
    "artefacts": (
        "ARTEFACT_PROFILES",
        "BEST_E6",
        "EXPERIMENTS",
        "ArtefactProfile",
        "Experiment",
        "Row",
        "RunRequest",
        "Setting",
        "follower_rates",
        "get_experiment",
        "registered_algorithms",
    ),
    "collection": ("Collected", "collect", "train_requests"),
    "comparison": (
        "POPULATIONS",
        "POPULATION_LABELS",
        "compare_leaders",
        "compare_objectives",
        "select_episodes",
        "training_epochs",
    ),
    "figure_data": (
        "action_distributions",
        "bc_losses",
        "cloned_shares",
        "household_share",
        "run_epochs",
        "training_curves",
    ),
    "pages": ("BookPaths", "book_paths", "glue_facts", "page_setup"),
}

_SUBMODULES = (
    "aggregate",
    "artefacts",
    "audit",
    "certification",
    "certify_run",
    "collection",
    "comparison",
    "curves",
    "facts",
    "figure_data",
    "fixed_policies",
    "headline",
    "mean_field",
    "pages",
    "simulate",
    "specs",
    "values",
)

__all__ = sorted([*(name for names in _EXPORTS.values() for name in names), *_SUBMODULES])

_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    # Loaded on first use, so that a light module (pages, facts, aggregate) imports without
    # torch and the training stack: `python -m smfg.paper.pages check-profile` stays instant
    if name in _HOME:
        return getattr(importlib.import_module(f"smfg.paper.{_HOME[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"smfg.paper.{name}")
    raise AttributeError(f"module 'smfg.paper' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
