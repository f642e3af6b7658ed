"""Every number a profile sets, one frozen :class:`Profile` per name (``smoke``, ``quick``,
``paper``; :data:`smfg.config.PROFILES`), read with :func:`profile`.

A profile says how much work a run or a page does; it never changes what is computed. Its
numbers, by concern:

| field | what | read by |
| --- | --- | --- |
| ``training`` | epochs, steps, evaluation during training, BC epochs | every algorithm's config |
| ``offpolicy`` | updates per epoch, BC followers' rate, SMFRL's follower batch | the DDPG family |
| ``ppo`` | the AI-Economist planner's phases and PPO's sequence and epochs | ``algos/ppo.py`` |
| ``artefacts`` | seeds, evaluation episodes, exact households, E6 grid | the paper's artefacts |
| ``fixed_policies`` | the fixed-policy grid | ``paper/fixed_policies.py`` |
| ``chapter`` | the certification chapter's sizes | ``paper/certify_run.py`` |
| ``scaling`` | the scaling page's measurements | ``perf/scaling.py`` |

The tables the layers read (``PROFILES`` of ``algos/offpolicy.py`` and ``algos/ppo.py``,
``SMFRL_PROFILES``, ``ARTEFACT_PROFILES``, ...) are views of these records. This module
imports nothing of the package but :mod:`smfg.config`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from smfg.config import PROFILES, check_profile

__all__ = [
    "ALL_PROFILES",
    "ArtefactProfile",
    "ChapterSizes",
    "GridProfile",
    "OffPolicyTraining",
    "PPOTraining",
    "Profile",
    "ScalingProfile",
    "Training",
    "profile",
]

# --- training ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Training:
    """What every learning algorithm trains for at a profile (fields of ``BaseConfig``)."""

    epochs: int
    """Training epochs."""
    steps_per_epoch: int
    """Environment steps per epoch."""
    eval_episodes: int
    """Evaluation episodes after each epoch (one batch)."""
    eval_steps: int | None
    """Evaluation episode cap (None: the economy's T)."""
    bc_epochs: int
    """Epochs of behaviour cloning of the "-BC" settings."""


@dataclass(frozen=True)
class OffPolicyTraining:
    """The DDPG family's own numbers (fields of ``OffPolicyConfig``; ``follower_batch`` of
    ``SMFRLConfig``)."""

    leader_updates: int
    """Leader updates per epoch."""
    follower_updates: int
    """Follower updates per epoch."""
    follower_batch: str
    """SMFRL's follower batch: 'joint' (the original's) or 'sampled' (cheaper)."""
    bc_follower_lr: float | None = None
    """Learning rate of cloned followers (None: the profile leaves the config's default)."""


@dataclass(frozen=True)
class PPOTraining:
    """The AI-Economist planner's own numbers (fields of ``PPOConfig``)."""

    household_epochs: int
    """Epochs in which only the households learn (the planner is fixed)."""
    planner_freeze_epochs: int
    """Epochs after those in which the planner's learning is still held back."""
    seq_len: int | None = None
    """Sequence length of the recurrent policies (None: the config's default)."""
    update_epochs: int | None = None
    """PPO epochs over each batch (None: the config's default)."""


# --- the paper's artefacts, the fixed-policy grid, the chapter, the scaling page ------------


@dataclass(frozen=True)
class ArtefactProfile:
    """How much evaluation a profile does for the artefacts (training is the algorithm's)."""

    seeds: int
    """Training seeds per cell (one run each); the tables' intervals are across them."""
    episodes: int
    """Evaluation episodes per seed (one batch)."""
    steps: int | None
    """Evaluation episode cap (None: the economy's T = 300)."""
    bc_epochs: int
    """Epochs of behaviour cloning for Figure 7's curves."""
    exact_grid: tuple[int, int, float] = (100, 7, 200.0)
    """The exact households' grid: asset points, ability states, top of the asset grid."""
    exact_refine: int = 1
    """Readings of a leader's stationary policy with the exact households it induces (after
    the first, with households on the survival rule)."""
    e6_points: int = 3
    """Values of each of tau, xi and g in the E6 grid of the best-E6 row (3: 27 policies)."""


@dataclass(frozen=True)
class GridProfile:
    """How much of the fixed-policy grid (``paper/fixed_policies.py``) a profile runs."""

    sizes: tuple[int, ...]
    """N of the grid's economies."""
    seeds: int
    """Seeds per cell."""
    episodes: int
    """Evaluation episodes per seed."""
    steps: int
    """Episode cap."""
    elasticities: tuple[float, ...]
    """Elasticities of the Saez rows."""


@dataclass(frozen=True)
class ChapterSizes:
    """What the certification chapter computes at a profile: the sizes of its solver checks
    (:mod:`smfg.certify.checks`) and the settings of its certifications of trained runs (the
    paper layer's ``ChapterProfile`` adds them checked against the defaults)."""

    grid: tuple[int, int]
    """Asset points and ability states of the Euler errors and the stationary equilibria."""
    coarse_na: int
    """The equilibrium without government again on this many asset points (the grid's
    effect on the interest rate)."""
    brock_mirman: tuple[int, int]
    """Asset points and horizon of the Brock-Mirman check."""
    timing_na: int
    """Asset points of the two-timings check."""
    best_response: tuple[int, int]
    """Asset points and ability states of the poor rule's certification."""
    schedule: tuple[int, int]
    """Asset points and ability states of the two-bracket tax."""
    schedule_eq: tuple[int, int]
    """Asset points and ability states of the equilibrium under US 2022."""
    certify: tuple[tuple[str, Any], ...] = ()
    """Settings of :func:`~smfg.runs.certify.certify_run` that differ from its
    :data:`~smfg.runs.certify.DEFAULTS`."""


@dataclass(frozen=True)
class ScalingProfile:
    """How much the scaling page measures at a profile."""

    env_sizes: tuple[int, ...]
    """N at which the environment step is timed (one process each)."""
    env_variants: tuple[str, ...]
    """Economies whose step is timed."""
    env_seconds: float
    """Minimum timing per size."""
    one_process: bool
    """Run every timing in one process, smallest N first (cheaper; the peak memory at N is
    then the high-water mark of everything before it) instead of one process each."""
    eval_sizes: tuple[int, ...]
    """N of a full evaluation (US federal tax, fixed-rule households) in each economy of
    ``env_variants``."""
    eval_steps: int
    """Its episode length."""
    train_sizes: tuple[int, ...]
    """N at which an SMFRL epoch is timed (one process each)."""
    train_profile: str
    """The SMFRL profile whose epoch is timed ('paper': the original's epoch)."""
    train_epochs: int
    """Epochs run per size; the first is not timed (lazy initialisation) when there are more."""
    mf_sizes: tuple[int, ...]
    """N of the mean-field check."""
    mf_seeds: int
    """Seeds per cell of the check (households, shocks)."""
    mf_episodes: int
    """Episodes per seed."""
    mf_steps: int | None
    """Episode cap of the check (None: T = 300)."""
    train_batches: tuple[str, ...] = ("joint", "sampled")
    """SMFRL's follower batches timed: 'joint' (the original's algorithm,
    book:learning-follower-batch) and 'sampled' (the cheaper estimator of the ``smoke`` and
    ``quick`` training profiles)."""
    joint_updates_timed: dict = field(default_factory=dict)
    """N -> updates timed with the joint batch, the update phase projected to the profile's
    count (N absent: all timed); the table's ``projected_from_updates`` column says so."""


# --- the profile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Every number a profile sets, by concern (one instance per name: :func:`profile`)."""

    name: str
    """'smoke', 'quick' or 'paper'."""
    training: Training
    """What every learning algorithm trains for."""
    offpolicy: OffPolicyTraining
    """The DDPG family's own (SMFRL's included)."""
    ppo: PPOTraining
    """The AI-Economist planner's own."""
    artefacts: ArtefactProfile
    """How much evaluation the paper's artefacts do."""
    fixed_policies: GridProfile
    """How much of the fixed-policy grid runs."""
    chapter: ChapterSizes
    """The certification chapter's sizes."""
    scaling: ScalingProfile
    """What the scaling page measures."""

    def __post_init__(self) -> None:
        check_profile(self.name)

    def offpolicy_settings(self) -> dict[str, Any]:
        """The DDPG family's config fields at this profile (``bc_follower_lr`` only where the
        profile sets it)."""
        off = self.offpolicy
        out = {
            **asdict(self.training),
            "leader_updates": off.leader_updates,
            "follower_updates": off.follower_updates,
        }
        if off.bc_follower_lr is not None:
            out["bc_follower_lr"] = off.bc_follower_lr
        return out

    def smfrl_settings(self) -> dict[str, Any]:
        """SMFRL's config fields: the DDPG family's and its follower batch."""
        return {**self.offpolicy_settings(), "follower_batch": self.offpolicy.follower_batch}

    def ppo_settings(self) -> dict[str, Any]:
        """PPO's config fields (``seq_len`` and ``update_epochs`` only where set)."""
        own = {k: v for k, v in asdict(self.ppo).items() if v is not None}
        return {**asdict(self.training), **own}


_SMOKE = Profile(
    name="smoke",
    training=Training(epochs=2, steps_per_epoch=40, eval_episodes=2, eval_steps=40, bc_epochs=3),
    offpolicy=OffPolicyTraining(leader_updates=10, follower_updates=10, follower_batch="sampled"),
    ppo=PPOTraining(household_epochs=1, planner_freeze_epochs=0, seq_len=10, update_epochs=2),
    # coarse exact households and an 8-point E6 grid, so the pages run in minutes
    artefacts=ArtefactProfile(
        seeds=2,
        episodes=2,
        steps=40,
        bc_epochs=2,
        exact_grid=(40, 3, 200.0),
        exact_refine=0,
        e6_points=2,
    ),
    fixed_policies=GridProfile(sizes=(100,), seeds=2, episodes=2, steps=60, elasticities=(1.0,)),
    # coarse grids, so the chapter runs in a minute or two
    chapter=ChapterSizes(
        grid=(200, 5),
        coarse_na=100,
        brock_mirman=(100, 300),
        timing_na=200,
        best_response=(60, 3),
        schedule=(100, 3),
        schedule_eq=(60, 3),
        certify=(("na", 60), ("ne", 3), ("grid_points", 2), ("grid_na", 40)),
    ),
    scaling=ScalingProfile(
        env_sizes=(100, 1_000),
        env_variants=("taxai", "clearing"),
        env_seconds=0.3,
        one_process=True,
        eval_sizes=(10_000,),
        eval_steps=3,
        train_sizes=(100,),
        train_profile="smoke",
        train_epochs=1,
        joint_updates_timed={100: 2},
        mf_sizes=(100, 1_000),
        mf_seeds=2,
        mf_episodes=1,
        mf_steps=10,
    ),
)

_QUICK = Profile(
    name="quick",
    training=Training(
        epochs=20, steps_per_epoch=300, eval_episodes=5, eval_steps=300, bc_epochs=20
    ),
    offpolicy=OffPolicyTraining(leader_updates=100, follower_updates=100, follower_batch="sampled"),
    ppo=PPOTraining(household_epochs=5, planner_freeze_epochs=3),
    artefacts=ArtefactProfile(seeds=3, episodes=5, steps=300, bc_epochs=20),
    fixed_policies=GridProfile(
        sizes=(100, 1000), seeds=3, episodes=5, steps=300, elasticities=(0.25, 0.5, 1.0, 2.0)
    ),
    # the same checks as paper, runs certified on the learning curves' grids (200 x 5, the
    # leader's grid on 60 assets)
    chapter=ChapterSizes(
        grid=(500, 7),
        coarse_na=200,
        brock_mirman=(200, 600),
        timing_na=300,
        best_response=(150, 5),
        schedule=(200, 5),
        schedule_eq=(100, 7),
        certify=(("na", 200), ("ne", 5), ("grid_na", 60)),
    ),
    scaling=ScalingProfile(
        env_sizes=(100, 1_000, 10_000, 100_000, 1_000_000),
        env_variants=("taxai", "clearing"),
        env_seconds=2.0,
        one_process=False,
        eval_sizes=(1_000_000,),
        eval_steps=100,
        train_sizes=(100, 1_000, 10_000),
        train_profile="paper",
        train_epochs=2,
        # one joint update at N = 10,000 takes about half a minute on these cores, so one
        # timed update (and the flop count's one more) measures it as well as three
        joint_updates_timed={1_000: 10, 10_000: 1},
        mf_sizes=(100, 1_000, 10_000, 100_000),
        mf_seeds=5,
        mf_episodes=2,
        mf_steps=None,
    ),
)

#: Cloned followers learn at the original's 1e-6 in ``paper`` only; in ``smoke`` and ``quick``
#: at the common rate (20 epochs at 1e-6 would leave the clone as it is, and in `taxai` the
#: followers must learn to save to survive).
_PAPER = Profile(
    name="paper",
    training=Training(
        epochs=1000, steps_per_epoch=300, eval_episodes=10, eval_steps=None, bc_epochs=30
    ),
    offpolicy=OffPolicyTraining(
        leader_updates=100, follower_updates=100, follower_batch="joint", bc_follower_lr=1e-6
    ),
    ppo=PPOTraining(household_epochs=100, planner_freeze_epochs=10),
    artefacts=ArtefactProfile(seeds=5, episodes=10, steps=None, bc_epochs=30),
    fixed_policies=GridProfile(
        sizes=(100, 1000), seeds=5, episodes=10, steps=300, elasticities=(0.25, 0.5, 1.0, 2.0)
    ),
    # the solvers' and `smfg certify`'s defaults
    chapter=ChapterSizes(
        grid=(500, 7),
        coarse_na=200,
        brock_mirman=(200, 600),
        timing_na=300,
        best_response=(150, 5),
        schedule=(200, 5),
        schedule_eq=(100, 7),
    ),
    scaling=ScalingProfile(
        env_sizes=(100, 1_000, 10_000, 100_000, 1_000_000),
        env_variants=("taxai", "clearing"),
        env_seconds=3.0,
        one_process=False,
        eval_sizes=(1_000_000,),
        eval_steps=300,
        train_sizes=(100, 1_000, 10_000),
        train_profile="paper",
        train_epochs=3,
        joint_updates_timed={10_000: 5},
        mf_sizes=(100, 1_000, 10_000, 100_000),
        mf_seeds=5,
        mf_episodes=10,
        mf_steps=None,
    ),
)

#: Every profile, in the order of :data:`smfg.config.PROFILES`.
ALL_PROFILES: tuple[Profile, ...] = (_SMOKE, _QUICK, _PAPER)
assert tuple(p.name for p in ALL_PROFILES) == PROFILES
_BY_NAME = {p.name: p for p in ALL_PROFILES}


def profile(name: str) -> Profile:
    """The profile ``name``; a ValueError names the value and the allowed names."""
    return _BY_NAME[check_profile(name)]
