"""What a government policy and a household policy are, and how their outputs are checked.

Both are small base classes with a ``reset(env)`` (called after ``env.reset()``) and a batched
``__call__``: E economies in, E actions out, with no Python loop over economies or households.
The environment clips every action into ``[action_low, action_high]`` (book:model-actions); the
checks here catch what clipping would silently hide: NaN, and numbers outside the range a policy
declares (``action_range``), which for the fixed policies of this package is ``[0, 1]``:

- household raw actions (saving share, work share) must lie in ``[0, 1]``: they are shares;
  values in ``[0, action_low)`` and ``(action_high, 1]`` are legal and clipped by the
  environment, anything outside ``[0, 1]`` is a bug (e.g. an unmapped tanh output);
- raw leader numbers ``c0..c4`` (E1) likewise must lie in ``[0, 1]``: E1 scales numbers in
  ``[0.001, 0.99]``, and the environment clips those just outside. A learned policy that sends
  raw tanh output on purpose (book:learning-corrections) declares ``action_range = (-1.0, 1.0)``.
- a ``GovAction`` must have finite ``[E]`` fields with ``tau, tau_a, g`` in ``[0, 1]`` and
  ``xi, xi_a`` in ``[0, 1)`` (E6 needs ``xi < 1``); a schedule is checked by
  ``GovAction.with_schedule`` (ascending brackets, rates in ``[0, 1]``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.env import Observation, SMFGEnv

__all__ = [
    "GovernmentPolicy",
    "HouseholdPolicy",
    "check_actions",
    "check_gov_action",
    "raw_from_gov_action",
]


def check_actions(
    x: Tensor,
    shape: tuple[int, ...],
    name: str,
    low: float = 0.0,
    high: float = 1.0,
    what: str = "action",
) -> Tensor:
    """Return ``x`` unchanged if it has ``shape``, no NaN and every value in ``[low, high]``.

    Otherwise raise ``ValueError`` naming the policy ``name``, the offending value (and its
    index) and what is allowed. ``shape`` may use -1 for "any size" in a dimension.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"policy {name!r} returned {type(x).__name__}: allowed a torch.Tensor")
    want = tuple(shape)
    if x.ndim != len(want) or any(w not in (-1, s) for w, s in zip(want, x.shape, strict=True)):
        raise ValueError(
            f"policy {name!r} returned a {what} of shape {tuple(x.shape)}: allowed {want}"
        )
    nan = torch.isnan(x)
    if bool(nan.any()):
        idx = tuple(int(i) for i in nan.nonzero()[0])
        raise ValueError(
            f"policy {name!r} returned NaN in its {what} at index {idx}: allowed finite "
            f"numbers in [{low}, {high}]"
        )
    bad = (x < low) | (x > high)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"policy {name!r} returned {float(x[idx]):.6g} in its {what} at index {idx}: "
            f"allowed [{low}, {high}] (the environment then clips into its action range)"
        )
    return x


def check_gov_action(action: GovAction, n_envs: int, name: str) -> GovAction:
    """Return ``action`` if its fields are finite ``[n_envs]`` tensors in their ranges.

    ``tau, tau_a, g`` must lie in [0, 1] and ``xi, xi_a`` in [0, 1); otherwise ``ValueError``
    naming the policy, the field, the value and what is allowed.
    """
    if not isinstance(action, GovAction):
        raise ValueError(
            f"policy {name!r} returned {type(action).__name__}: allowed a smfg GovAction"
        )
    for field, hi, closed in (
        ("tau", 1.0, True),
        ("xi", 1.0, False),
        ("tau_a", 1.0, True),
        ("xi_a", 1.0, False),
        ("g", 1.0, True),
    ):
        v = getattr(action, field)
        if not isinstance(v, Tensor) or tuple(v.shape) != (n_envs,):
            shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(
                f"policy {name!r}: GovAction.{field} has shape {shape}: allowed ({n_envs},)"
            )
        over = (v > hi) if closed else (v >= hi)
        bad = torch.isnan(v) | (v < 0) | over
        if bool(bad.any()):
            j = int(bad.nonzero()[0, 0])
            allowed = f"[0, {hi}]" if closed else f"[0, {hi})"
            raise ValueError(
                f"policy {name!r}: GovAction.{field}[{j}] = {float(v[j])!r}: allowed {allowed}"
            )
    if action.brackets is not None and tuple(action.brackets.shape[:1]) != (n_envs,):
        raise ValueError(
            f"policy {name!r}: tax schedule has shape {tuple(action.brackets.shape)}: "
            f"allowed [{n_envs}, K]"
        )
    return action


def raw_from_gov_action(action: GovAction, params: EconomyParams) -> Tensor:
    """The leader's five raw numbers that E1 maps to ``action``'s E6 fields: [E, 5].

    ``c = (tau/tau_max, xi/xi_max, tau_a/tau_a_max, xi_a/xi_a_max, g/g_max)``, a field whose
    scale is 0 giving 0. This is what a learned follower that observes the leader's action
    (book:model-observations) can be shown for a fixed policy; a piecewise-linear schedule is not
    part of it (only the E6 fields are).
    """

    def ratio(v: Tensor, scale: float) -> Tensor:
        return v / scale if scale > 0 else torch.zeros_like(v)

    return torch.stack(
        [
            ratio(action.tau, params.tau_max),
            ratio(action.xi, params.xi_max),
            ratio(action.tau_a, params.tau_a_max),
            ratio(action.xi_a, params.xi_a_max),
            ratio(action.g, params.g_max),
        ],
        -1,
    )


class _Policy:
    """What both kinds of policy learn from the environment at reset."""

    name: str = "policy"
    n_envs: int
    n_households: int
    params: EconomyParams
    dtype: torch.dtype
    device: torch.device

    def reset(self, env: SMFGEnv) -> None:
        """Read the batch size, parameters, dtype and device of ``env`` (after env.reset())."""
        self.n_envs = env.n_envs
        self.n_households = env.n_households
        self.params = env.params
        self.dtype = env.dtype
        self.device = env.device

    def _require_reset(self) -> None:
        if not hasattr(self, "params"):
            raise RuntimeError(f"policy {self.name!r}: call reset(env) before acting")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class GovernmentPolicy(_Policy):
    """A leader: ``policy(obs, income) -> GovAction`` for E economies at once.

    ``obs.leader`` is [E, 6]; ``income`` is the last step's pre-tax household income [E, H]
    (``env.state.income``; after a reset, the income shown in the first observation).
    Subclasses implement :meth:`act`; ``__call__`` checks its output with
    :func:`check_gov_action` (set ``check = False`` to skip).
    """

    name = "government"
    check: bool = True

    def act(self, obs: Observation, income: Tensor) -> GovAction:
        raise NotImplementedError

    def __call__(self, obs: Observation, income: Tensor) -> GovAction:
        self._require_reset()
        action = self.act(obs, income)
        if self.check:
            check_gov_action(action, self.n_envs, self.name)
        return action


class HouseholdPolicy(_Policy):
    """Followers: ``policy(obs, gov_raw) -> [E, H, 2]`` raw (saving share, work share).

    ``obs.households`` is [E, H, 2] (ability, assets); ``gov_raw`` is the leader's raw action
    [E, 5] where the policy observes it (book:model-observations), else None. The output is in the
    environment's dtype and device; ``__call__`` checks it with :func:`check_actions` against
    ``action_range`` (set ``check = False`` to skip).
    """

    name = "households"
    check: bool = True
    action_range: tuple[float, float] = (0.0, 1.0)

    def act(self, obs: Observation, gov_raw: Tensor | None) -> Tensor:
        raise NotImplementedError

    def __call__(self, obs: Observation, gov_raw: Tensor | None = None) -> Tensor:
        self._require_reset()
        x = self.act(obs, gov_raw)
        if self.check:
            lo, hi = self.action_range
            check_actions(x, (self.n_envs, self.n_households, 2), self.name, lo, hi)
        return x
