"""The paper's artefacts as named experiments: what each is and which runs it needs.

An :class:`Experiment` is a paper table or figure (``EXPERIMENTS["table1_algorithms"]``): a
list of :class:`Row` (a learning algorithm to train, or a fixed government policy with a
household rule), the :class:`Setting` s it is run in (N, behaviour cloning), the economy and
the kind of aggregation. :meth:`Experiment.runs` lists the training runs it needs
(:class:`RunRequest`: algorithm, setting, N, variant, seed, profile); how much evaluation a
profile does for the artefacts is its :class:`ArtefactProfile`. Collecting the cells is
:mod:`smfg.paper.collection`'s job.

Algorithms are looked up in ``smfg.runs.algorithms.ALGORITHMS`` when asked, so an
experiment lists the paper's algorithms by name and runs those that are registered; the
others are reported by :meth:`Experiment.missing` and shown as "not yet available".

An algorithm registered there is trained by ``train(algo, profile, variant=...,
n_households=..., bc=..., seed=..., **overrides)`` and evaluated through
:func:`smfg.runs.learned.learned_policy` (its module's ``LearnedPolicy`` when it has
one, else SMFRL's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from smfg.algos.smfrl import SOLVING, smfrl_config
from smfg.config import VARIANTS, check_profile
from smfg.env import LEADER_REWARDS, check_reward_weights
from smfg.profiles import ALL_PROFILES, ArtefactProfile
from smfg.runs import algorithms
from smfg.runs.spec import RunSpec

__all__ = [
    "ARTEFACT_PROFILES",
    "BEST_E6",
    "EXPERIMENTS",
    "ArtefactProfile",
    "Experiment",
    "Row",
    "RunRequest",
    "Setting",
    "artefact_seeds",
    "check_variant",
    "follower_rates",
    "get_experiment",
    "profile_bc_epochs",
    "registered_algorithms",
    "with_reward",
]

# --- profiles --------------------------------------------------------------------------------


#: How much evaluation each profile does for the artefacts: a view of
#: :class:`smfg.profiles.Profile` (``artefacts``).
ARTEFACT_PROFILES = {p.name: p.artefacts for p in ALL_PROFILES}

# --- what an experiment is -------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A column group of the paper's tables: the number of households and whether the
    followers start from behaviour cloning."""

    label: str
    n_households: int
    bc: bool


@dataclass(frozen=True)
class Row:
    """One row of an artefact: a learning algorithm, or a fixed policy pair."""

    key: str
    """Unique within the experiment."""
    label: str
    """The name the book shows (the paper's where there is one)."""
    algo: str | None = None
    """Learned rows: the algorithm to train (its key in ``ALGORITHMS``)."""
    government: str | None = None
    """Fixed rows: a government policy of ``smfg.evaluate.GOVERNMENT_POLICIES``. With
    ``algo`` too, the fallback while that algorithm is not registered."""
    households: str = "setting"
    """Fixed rows: 'bc' (the cloned households), 'random', 'survey', 'fixed' (the variant's
    fixed rule) or 'setting' ('bc' in a BC setting, else 'random': the paper's rule-based)."""
    bc: bool | None = None
    """Learned rows: BC on or off whatever the setting (None: the setting's)."""
    sizes: tuple[int, ...] | None = None
    """Only in settings with these N (None: all)."""
    paper_row: str | None = None
    """The paper's row this one is compared with (None: ``label``)."""

    def __post_init__(self) -> None:
        if self.algo is None and self.government is None:
            raise ValueError(f"Row {self.key!r}: give an algo, a government policy or both")
        allowed = ("setting", "bc", "random", "survey", "fixed")
        if self.households not in allowed:
            raise ValueError(f"Row.households = {self.households!r}: allowed {allowed}")

    def mode(self) -> str:
        """'learned' (its algorithm is registered), 'fixed' (a fixed policy pair, or the
        fallback of an algorithm not registered yet) or 'missing'."""
        if self.algo is not None and self.algo in registered_algorithms():
            return "learned"
        return "fixed" if self.government is not None else "missing"


#: One training run an experiment needs, ``train(algo, profile, **kwargs)``: the run machinery's
#: :class:`~smfg.runs.spec.RunSpec` (algorithm, profile, variant, N, BC, seed, overrides).
RunRequest = RunSpec


def registered_algorithms() -> tuple[str, ...]:
    """The algorithms that can be trained now (``ALGORITHMS``' keys)."""
    return tuple(algorithms.ALGORITHMS)


@dataclass(frozen=True)
class Experiment:
    """A paper artefact: its rows, settings, economy and aggregation."""

    name: str
    """The notebook's name."""
    artefact: str
    """The paper's name for it ('Table 1', 'Figure 4')."""
    title: str
    rows: tuple[Row, ...]
    settings: tuple[Setting, ...]
    variant: str = "taxai"
    aggregate: str = "table"
    """How its cells are aggregated: 'table', 'training_curves', 'efficiency_equity',
    'household_share' or 'bc_loss'."""
    paper: str | None = None
    """Key of the paper's values in ``PAPER_VALUES`` (None: the paper has none)."""
    objectives: tuple[str, ...] = ()
    """Leader rewards the page trains and compares its learned leaders on, one set of runs
    each (empty: the algorithms' default, the paper's ``gdp``)."""
    train_overrides: tuple[tuple[str, str, Any], ...] = ()
    """Config fields the page's runs set: (algorithm or "*" for all, field, value), applied
    where the algorithm's config has the field (a caller's overrides win)."""

    def overrides_for(self, algo: str, overrides: Mapping[str, Any]) -> dict:
        """``overrides`` with the page's own ``train_overrides`` for ``algo`` (the "*" ones
        first, then its own) that ``algo``'s config has."""
        cfg = algorithms.ALGORITHMS[algo][0]("smoke")
        own = {k: v for a, k, v in self.train_overrides if a == "*" and hasattr(cfg, k)}
        own.update({k: v for a, k, v in self.train_overrides if a == algo and hasattr(cfg, k)})
        return {**own, **overrides}

    def settings_for(self, row: Row, sizes: Sequence[int] | None = None) -> list[Setting]:
        """The settings a row runs in, restricted to ``sizes`` when given."""
        out = []
        for s in self.settings:
            if row.sizes is not None and s.n_households not in row.sizes:
                continue
            if sizes is not None and s.n_households not in sizes:
                continue
            out.append(s if row.bc is None else replace(s, bc=row.bc))
        return out

    def available(self, row: Row) -> bool:
        """Whether a row can be computed now (fixed rows always; learned ones once their
        algorithm is registered)."""
        return row.mode() != "missing"

    def missing(self) -> list[Row]:
        """Rows whose algorithm is not registered yet."""
        return [r for r in self.rows if not self.available(r)]

    def runs(
        self,
        profile: str,
        seeds: Sequence[int] | None = None,
        sizes: Sequence[int] | None = None,
        variant: str | None = None,
        **overrides,
    ) -> list[RunRequest]:
        """The training runs the artefact needs (registered algorithms only), in row order.

        ``seeds`` default to ``range(ARTEFACT_PROFILES[profile].seeds)``; ``overrides`` are
        config fields of the algorithms (e.g. ``leader_reward``)."""
        seeds = artefact_seeds(profile, seeds)
        variant = self.variant if variant is None else check_variant(variant)
        sets = [dict(overrides)]
        if self.objectives and "leader_reward" not in overrides:
            sets = [with_reward(overrides, r) for r in self.objectives]
        out: list[RunRequest] = []
        for base in sets:
            for row in self.rows:
                if row.mode() != "learned":
                    continue
                over = tuple(sorted(self.overrides_for(row.algo, base).items()))
                for s in self.settings_for(row, sizes):
                    for seed in seeds:
                        req = RunRequest(
                            row.algo, profile, variant, s.n_households, s.bc, seed, over
                        )
                        if req not in out:
                            out.append(req)
        return out


_TABLE1_SETTINGS = (
    Setting("N=100", 100, False),
    Setting("N=100-BC", 100, True),
    Setting("N=1000-BC", 1000, True),
)
_TABLE1_ROWS = (
    Row(
        "rule-based",
        "Rule-based",
        algo="rule_based",
        government="free-market",
        households="setting",
    ),
    Row("ddpg", "DDPG", algo="ddpg"),
    Row("maddpg", "MADDPG", algo="maddpg"),
    Row("iddpg", "IDDPG", algo="iddpg"),
    Row("mfmarl", "MF-MARL", algo="mfmarl"),
    Row("smfrl", "SMFRL", algo="smfrl"),
)
_TABLE3_SETTINGS = (Setting("N=100", 100, True), Setting("N=1000", 1000, True))
#: A fixed row of the `clearing` comparison: the best point of the E6 grid of the leader's
#: gap (book:certification), households best-responding, for the page's objective, seed and N.
BEST_E6 = "best-e6"
#: how often the `clearing` comparison's runs evaluate themselves (``eval_every``): the page
#: evaluates the finished policies against its three populations of households
CLEARING_EVAL_EVERY = 10

_TABLE3_ROWS = (
    Row("free-market", "Free Market", government="free-market", households="bc"),
    Row("saez", "Saez", government="saez", households="bc"),
    Row(
        "saez-paper",
        "Saez (paper's form)",
        government="saez-paper",
        households="bc",
        paper_row="Saez",
    ),
    Row("us-federal-2022", "US Federal", government="us-federal-2022", households="bc"),
    Row("ppo-bc", "AI Economist-BC", algo="ppo", bc=True),
    Row("ppo", "AI Economist", algo="ppo", bc=False, sizes=(100,)),
    Row("smfrl", "SMFG", algo="smfrl", bc=True),
)

#: Every artefact of the book, by notebook name.
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "table1_algorithms",
            "Table 1",
            "Six algorithms in three settings",
            _TABLE1_ROWS,
            _TABLE1_SETTINGS,
            paper="table1",
        ),
        Experiment(
            "fig2_training_curves",
            "Figure 2",
            "Training curves of the algorithms",
            _TABLE1_ROWS,
            _TABLE1_SETTINGS,
            aggregate="training_curves",
        ),
        Experiment(
            "fig6_algorithm_efficiency_equity",
            "Figure 6",
            "Efficiency and equity of the algorithms",
            _TABLE1_ROWS,
            _TABLE1_SETTINGS,
            aggregate="efficiency_equity",
        ),
        Experiment(
            "table3_policies",
            "Table 3",
            "Six government policies",
            _TABLE3_ROWS,
            _TABLE3_SETTINGS,
            paper="table3",
        ),
        Experiment(
            "fig3_policy_curves",
            "Figure 3",
            "Training curves of the policies",
            _TABLE3_ROWS,
            _TABLE3_SETTINGS,
            aggregate="training_curves",
        ),
        Experiment(
            "fig4_efficiency_equity",
            "Figure 4",
            "Efficiency and equity of the policies",
            _TABLE3_ROWS,
            _TABLE3_SETTINGS,
            aggregate="efficiency_equity",
        ),
        Experiment(
            "fig5_smfg_household_share",
            "Figure 5",
            "The share of SMFG households",
            (Row("smfrl", "SMFG", algo="smfrl", bc=True),),
            (Setting("N=100", 100, True),),
            aggregate="household_share",
        ),
        Experiment(
            "fig7_bc_loss", "Figure 7", "Behaviour cloning losses", (), (), aggregate="bc_loss"
        ),
        Experiment(
            "clearing_policies",
            "Table 3 in `clearing`",
            "The policy comparison in the clearing economy",
            _TABLE3_ROWS
            + (Row(BEST_E6, "Best E6 grid point", government=BEST_E6, households="bc"),),
            _TABLE3_SETTINGS,
            variant="clearing",
            objectives=("output", "welfare_ce"),
            # SMFRL with the settings that solve its game (book:learning-solving)
            # the page evaluates the finished policies itself: the runs' own evaluations
            # (one per epoch, the bulk of a PPO run at N = 1,000) every 10 epochs
            train_overrides=(
                ("*", "bc_follower_lr", 1e-4),
                ("*", "eval_every", CLEARING_EVAL_EVERY),
                ("smfrl", "epochs", 60),
                *(("smfrl", k, v) for k, v in SOLVING),
            ),
        ),
    )
}


def get_experiment(name: str) -> Experiment:
    """The experiment of a notebook by name; ValueError naming the known ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not known: allowed {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def artefact_seeds(profile: str, seeds: Sequence[int] | int | None) -> tuple[int, ...]:
    """The training seeds of a cell: the profile's number of them (None), ``range(seeds)``
    (an int) or those given (at least one)."""
    prof = ARTEFACT_PROFILES[check_profile(profile)]
    if seeds is None:
        return tuple(range(prof.seeds))
    if isinstance(seeds, int):
        return tuple(range(seeds))
    out = tuple(int(s) for s in seeds)
    if not out:
        raise ValueError("seeds = (): allowed at least one seed")
    return out


def check_variant(variant: str) -> str:
    """``variant`` when it is an economy of ``VARIANTS``; else ValueError naming them."""
    if variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r} is not known: allowed {VARIANTS}")
    return variant


def with_reward(
    overrides: dict, leader_reward: str | None, weights: Sequence[float] | None = None
) -> dict:
    """The training overrides with the leader's reward; the default 'gdp' is left out, so a
    run asked for with and without it is the same run for any algorithm. ``weights``: (a1,
    a2, a3) of the 'weighted' reward (None: the configs' (1, 1, 1)); other rewards ignore
    them, so they are passed on only with 'weighted'."""
    if weights is not None:
        weights = check_reward_weights(weights)
    if leader_reward is None or leader_reward == "gdp":
        return dict(overrides)
    if leader_reward not in LEADER_REWARDS:
        raise ValueError(f"leader_reward = {leader_reward!r}: allowed {LEADER_REWARDS}")
    out = {**overrides, "leader_reward": leader_reward}
    if leader_reward == "weighted" and weights is not None:
        out["leader_reward_weights"] = weights
    return out


def profile_bc_epochs(profile: str) -> int:
    """The BC epochs of SMFRL's profile: the cloned households are the followers its "-BC"
    runs start from."""
    return smfrl_config(profile).bc_epochs


def follower_rates(experiment: str | Experiment, profile: str) -> str:
    """Which learning rate each learned row's followers train at after BC, in words (every
    page with learned followers prints it)."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    parts = []
    for algo in dict.fromkeys(r.algo for r in exp.rows if r.mode() == "learned"):
        cfg = algorithms.ALGORITHMS[algo][0](profile, bc=True, **exp.overrides_for(algo, {}))
        if hasattr(cfg, "follower_learning_rate"):  # the DDPG family
            learns = algorithms.ALGORITHMS[algo][1].learner_cls.followers_learn
            rate = cfg.follower_learning_rate if learns else 0.0
        else:
            rate = cfg.lr  # PPO: one learning rate for both sides
        parts.append(f"{algo} {rate:g}" + (" (frozen)" if rate == 0 else ""))
    return f"profile {profile}; followers' learning rate after BC: " + ", ".join(parts)
