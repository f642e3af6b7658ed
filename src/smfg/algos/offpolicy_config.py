"""The DDPG family's settings (:mod:`smfg.algos.offpolicy`): :class:`OffPolicyConfig`, its
profiles, and the named overrides that make its leader and followers learn in `clearing`
(:data:`STABLE_LEADER`, :data:`HOUSEHOLD_FOLLOWERS`)."""

from __future__ import annotations

from dataclasses import dataclass

from smfg.algos.common import BaseConfig
from smfg.algos.core import LEADER_ACT
from smfg.profiles import ALL_PROFILES

__all__ = [
    "OffPolicyConfig",
    "PROFILES",
    "LEADER_METHODS",
    "STABLE_LEADER",
    "HOUSEHOLD_FOLLOWERS",
]

LEADER_METHODS = ("td3", "ddpg")

# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffPolicyConfig(BaseConfig):
    """The DDPG family's settings; defaults are SMFRL's original runs
    (book:learning-smfrl-defaults)."""

    leader_updates: int = 100
    """Leader updates per epoch, each on its own batch."""
    follower_updates: int = 100
    """Follower updates per epoch, each on its own batch."""
    batch_size: int = 128
    """Transitions per update (steps for the leader, (step, household) pairs for followers)."""
    gamma: float = 0.975
    """Discount factor of the leader's critic, and of the followers' unless
    ``follower_gamma`` is set (book:learning-smfrl-defaults: 0.975 for both)."""
    follower_gamma: float | None = None
    """Discount factor of the followers' critic (None: ``gamma``). A household's own discount
    factor (E25's beta, 0.96) makes the followers' objective the household's, the one whose
    best response certification measures exploitability against."""
    lr: float | None = None
    """Learning rate of every network; None: 5e-4 at N <= 100, else 3e-4."""
    lr_decay: float = 0.95
    """Multiplicative learning-rate decay ..."""
    lr_decay_every: int = 3500
    """... every this many updates."""
    tau: float = 0.05
    """Target update weight on the new parameters."""
    noise_std: float = 0.01
    """Exploration noise on the tanh outputs (one draw per dimension shared by households)."""
    replay_steps: int = 1_000_000
    """Replay capacity in environment steps, before the memory cap: the most recent this many
    steps are kept (``HOUSEHOLD_FOLLOWERS`` keeps a few epochs' worth, book:learning-solving)."""
    replay_memory_gb: float = 1.5
    """Memory cap of the replay buffer."""
    mf_sample: int = 16
    """Households per sampled step averaged into a target's mean action (MF-MARL)."""
    bc_follower_lr: float | None = None
    """Follower learning rate with BC (None: ``follower_lr``; the paper used 1e-6); 0 freezes
    the cloned followers."""
    follower_lr: float | None = None
    """Follower learning rate (None: ``lr``); 0 freezes the followers."""
    leader_method: str = "td3"
    """The leader's update: 'td3' (twin critics, target smoothing, delayed actor) or 'ddpg'
    (one critic, book:learning-smfrl-updates)."""
    leader_actor_lr: float | None = None
    """The leader actor's learning rate (None: ``lr``)."""
    leader_critic_lr: float | None = None
    """The leader critic's learning rate (None: ``lr``)."""
    leader_noise_std: float | None = None
    """The leader's exploration noise on its actor output (the box is [-1, 1]^5). None: 0.2
    in 'clearing'; ``noise_std`` (the original's 0.01) in 'taxai', whose economies end on a year
    of exploration at the box's scale (measured: every training episode of an N = 50 -BC
    run ends within a few years at 0.2, none at 0.01)."""
    follower_noise_std: float | None = None
    """The households' exploration noise while collecting (None: ``noise_std``, the
    original's 0.01); evaluation uses ``eval_noise_std`` whatever this is."""
    follower_noise_per_household: bool = False
    """Independent draws per household while collecting (book:learning-smfrl-defaults: one draw per
    action dimension shared by an economy's households, so the follower critic sees the actions of
    one step's households move together)."""
    leader_noise_decay: float = 0.9
    """The leader's noise is multiplied by this every epoch ..."""
    leader_noise_min: float = 0.05
    """... down to this."""
    leader_start_epoch: int = 0
    """Epochs in which only the followers learn: the leader's networks update from this
    epoch on (0: from the first), and its exploration noise decays from it. Before it the
    leader plays its initial actor with its full exploration noise, so that the followers
    learn to respond to a spread of policies, and the leader's critic first sees households
    that have adapted (a two-timescale start: the followers settle, then the leader moves)."""
    follower_actor_start_epoch: int = 0
    """Epochs in which the followers' critic learns alone: the follower actor updates from this
    epoch on (0: from the first), meanwhile acting as it started (the clone) with its
    exploration noise. A diagnostic: a fresh critic values a step by its reward before its
    bootstrap brings in the future, so an actor that follows it from the start might learn to
    consume what it should save. Measured in `clearing` (SOLVING, N = 100, seed 1): a warm-up
    of 5 or 10 epochs does not stop the followers' swing from over- to under-saving once the
    actor starts; the stale prices of a long replay drive it (``replay_steps``,
    book:learning-solving)."""
    leader_trust: float | None = None
    """The leader's trust region (None: none, the original's). Each epoch the leader's actor may
    move about this far, in the Euclidean norm of its output (the box [-1, 1]^5), from where it
    stood when the epoch's updates began: its loss becomes -Q_l / mean |Q_l| (the critic's scale
    divided out, as TD3+BC does) plus mean((||pi_l(s) - pi_anchor(s)|| - leader_trust)_+^2) /
    leader_trust^2 over the batch's states. An actor that follows its critic's gradient runs to
    where the critic extrapolates, the corners of the box (measured in `clearing`: within three
    epochs), which the critic has never seen; a radius of about the exploration noise keeps it
    where its critic was fitted (book:learning-choices)."""
    leader_init: tuple[float, ...] | None = None
    """The leader's initial action: E1's five numbers in (0, 1) (None: the network's own, about
    0.5 each, i.e. a 10% asset tax and spending of 15% of output). The actor's output layer is
    scaled down 10 times and its bias set so that every state starts near these numbers."""
    policy_delay: int = 2
    """TD3: one leader actor update every this many critic updates."""
    target_noise: float = 0.2
    """TD3: std of the smoothing noise on the target leader action ..."""
    target_noise_clip: float = 0.5
    """... clipped to this."""
    n_envs: int = 1
    """Economies stepped in parallel while collecting (each step stores all of them)."""
    ending_penalty: bool = True
    """An early ending costs the leader the discounted lost years at the reward's floor."""
    max_grad_norm: float | None = 1000.0
    """Each network's gradient norm is clipped to this before its step (None: never). Adam's
    step does not depend on the gradient's scale, so this only keeps rewards of 1e10 and
    more (E25's utility of a household that cannot consume) from overflowing its moments."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ints(("batch_size", "mf_sample", "lr_decay_every", "replay_steps"), 1)
        self._ints(("leader_updates", "follower_updates"), 0)
        self._ints(("policy_delay", "n_envs"), 1)
        self._ints(("leader_start_epoch", "follower_actor_start_epoch"), 0)
        if self.leader_method not in LEADER_METHODS:
            self._bad("leader_method", LEADER_METHODS)
        optional = ("leader_noise_std", "follower_noise_std")
        for name in (*optional, "leader_noise_min", "target_noise", "target_noise_clip"):
            v = getattr(self, name)
            if (v is not None or name not in optional) and not 0.0 <= v <= 2.0:
                self._bad(name, "[0, 2]" + (" or None" if name in optional else ""))
        if self.leader_trust is not None and not 0.0 < self.leader_trust <= 4.0:
            self._bad("leader_trust", "(0, 4] or None")
        if self.leader_init is not None:
            init = tuple(self.leader_init)
            if len(init) != LEADER_ACT or not all(0.0 < float(v) < 1.0 for v in init):
                self._bad("leader_init", f"{LEADER_ACT} numbers in (0, 1), or None")
            object.__setattr__(self, "leader_init", tuple(float(v) for v in init))
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            self._bad("max_grad_norm", "> 0 or None")
        if not 0.0 < self.leader_noise_decay <= 1.0:
            self._bad("leader_noise_decay", "(0, 1]")
        for name in ("leader_actor_lr", "leader_critic_lr"):
            if getattr(self, name) is not None and not 0.0 < getattr(self, name) < 1.0:
                self._bad(name, "(0, 1) or None")
        for name in ("bc_follower_lr", "follower_lr"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) < 1.0:
                self._bad(name, "[0, 1) or None (0 freezes the followers)")
        if not 0.0 <= self.gamma < 1.0:
            self._bad("gamma", "[0, 1)")
        if self.follower_gamma is not None and not 0.0 <= self.follower_gamma < 1.0:
            self._bad("follower_gamma", "[0, 1) or None")
        if not 0.0 < self.tau <= 1.0:
            self._bad("tau", "(0, 1]")
        if not 0.0 <= self.noise_std <= 1.0:
            self._bad("noise_std", "[0, 1]")
        if self.lr is not None and not 0.0 < self.lr < 1.0:
            self._bad("lr", "(0, 1) or None")
        if not 0.0 < self.lr_decay <= 1.0:
            self._bad("lr_decay", "(0, 1]")
        if not self.replay_memory_gb > 0:
            self._bad("replay_memory_gb", "> 0")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-4 if self.n_households <= 100 else 3e-4)

    @property
    def follower_noise(self) -> float:
        """The households' exploration noise while collecting."""
        return self.noise_std if self.follower_noise_std is None else self.follower_noise_std

    @property
    def follower_discount(self) -> float:
        """The followers' discount factor: ``follower_gamma``, else ``gamma``."""
        return self.gamma if self.follower_gamma is None else self.follower_gamma

    @property
    def follower_learning_rate(self) -> float:
        """The followers' learning rate: with BC ``bc_follower_lr`` if set, else
        ``follower_lr`` if set, else ``lr``; 0: frozen followers."""
        if self.bc and self.bc_follower_lr is not None:
            return self.bc_follower_lr
        return self.follower_lr if self.follower_lr is not None else self.learning_rate

    def leader_noise(self, epoch: int) -> float:
        """The leader's exploration noise in epoch ``epoch`` (0-based): the start decayed,
        down to ``leader_noise_min`` (never above the start)."""
        start = self.leader_noise_std
        if start is None:
            start = self.noise_std if self.variant == "taxai" else 0.2
        decayed = start * self.leader_noise_decay ** max(0, epoch - self.leader_start_epoch)
        return max(min(start, self.leader_noise_min), decayed)


#: The profiles of every DDPG-family algorithm (SMFRL's adds its follower batch): a view of
#: :class:`smfg.profiles.Profile` (cloned followers learn at the original's 1e-6 in ``paper``
#: only, see there).
PROFILES = {p.name: p.offpolicy_settings() for p in ALL_PROFILES}

#: A leader that learns in `clearing` without running to the corners of its box
#: (book:learning-solving): a trust region of 0.1 an epoch in the actor's output space (about
#: the exploration noise), and a start near the free market: every E1 number at 0.05 (income
#: and asset tax levels of 1%, spending of 1.5% of output), where the tanh still has slope.
STABLE_LEADER = (("leader_trust", 0.1), ("leader_init", (0.05,) * LEADER_ACT))

#: Followers that learn the households' own problem (book:learning-solving): the households'
#: discount beta = 0.96, independent exploration draws of 0.1 per household, three follower
#: updates per environment step of the quick profile (300 an epoch), and a replay of the last
#: 900 steps (three epochs of 300): the prices a household faces move as the
#: population learns, and a critic fitted on every past epoch values saving at prices long gone.
HOUSEHOLD_FOLLOWERS = (
    ("follower_gamma", 0.96),
    ("follower_noise_std", 0.1),
    ("follower_noise_per_household", True),
    ("follower_updates", 300),
    ("replay_steps", 900),
)
