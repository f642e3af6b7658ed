"""smfg: Stackelberg mean field games for macroeconomic policy (arXiv 2403.12093).

A government (leader) sets taxes and spending; a large population of households (followers)
chooses saving and work; wages and interest come from markets. See the book for the model.

Citations. Comments, docstrings and ``--help`` texts cite the book of this repository, never
an outside document: ``E6`` is equation (E6) of the model chapter (``book/model.md``, MyST
label ``eq-e6``), and ``book:<label>`` is the section that carries the MyST label
``(<label>)=`` in ``book/*.md`` or in a page of ``notebooks/*.md``, e.g.
``book:model-termination`` (the model chapter's termination conditions) or
``book:learning-smfrl-updates`` (SMFRL's networks, targets and gradients); a page without
labels is cited by its name (``book:certification``). ``tests/test_book_refs.py`` checks that
every cited label exists.

The main entry points::

    from smfg import economy_params, SMFGEnv
        env = SMFGEnv(economy_params("clearing"), n_households=1000, n_envs=8)
"""

from smfg.config import EconomyParams, economy_params

__version__ = "0.1.0"

__all__ = ["EconomyParams", "SMFGEnv", "economy_params", "__version__"]


def __getattr__(name: str):
    # SMFGEnv (and torch) load on first use, so that `smfg --help` starts without them
    if name == "SMFGEnv":
        from smfg.env import SMFGEnv

        return SMFGEnv
    raise AttributeError(f"module 'smfg' has no attribute {name!r}")
