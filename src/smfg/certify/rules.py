"""Follower rules (book:certification): what exploitability values against the best response.
A rule maps each household's state, (ability, assets), to its (saving share, work share): a
fixed rule, one read from a household policy of the environment (a learned actor), or a grid
policy (a solved best response), which is also a household policy of the environment.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from smfg.certify.grids import AbilityGrid, AssetGrid, _lerp
from smfg.certify.primitives import Household, Solution
from smfg.env import Observation, SMFGEnv

Rule = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""A follower rule: (ability [M], assets [M]) -> (saving share [M], work share [M])."""


def fixed_rule(saving: float, work: float) -> Rule:
    """The same shares at every state."""

    def rule(e, a):
        return np.full(np.shape(a), float(saving)), np.full(np.shape(a), float(work))

    return rule


def rule_from_policy(
    household_policy, gov_raw=None, batch: int = 4096, memory_steps: int = 20
) -> Rule:
    """A follower rule from a household policy of the environment's protocol (a learned
    actor, say), holding the leader's raw action at ``gov_raw`` [5] (None: not observed).

    The policy must act on each household's own observation alone (true of the SMFRL
    follower actor, not of rules that keep per-household state other than a memory). A
    policy with a memory (the AI-Economist's LSTM households) declares it with
    ``start_memory(n)``, which forgets everything and starts the memory of ``n`` households
    afresh, as at the start of an episode; the rule then reads each batch of grid states from
    a fresh memory of that batch's size, after ``memory_steps`` earlier calls on the same
    states. With ``memory_steps = 0`` the rule is the policy at the first step of an episode
    (an empty memory); with ``k`` (default 20) it is the policy of a household that has seen
    the same state for the ``k`` previous years: the memory of a household whose state stays
    put, close to that of the window's households (ability is persistent, assets move
    slowly). A grid state has no history of its own, so neither is exact, but on PPO runs at
    N = 20 the steady memory's shares differ from those the window's households chose 5 to
    20 times less than the empty memory's (:func:`certify_followers` reports the difference as
    ``rule_diff_s``, ``rule_diff_f``); past 10 steps the memory has settled. The policy's
    memory is left in the last batch's state.
    """
    if isinstance(memory_steps, bool) or not isinstance(memory_steps, int) or memory_steps < 0:
        raise ValueError(f"rule_from_policy memory_steps = {memory_steps!r}: allowed an int >= 0")
    raw = None if gov_raw is None else torch.as_tensor(np.asarray(gov_raw), dtype=torch.float64)
    # a HouseholdPolicy checks its output against the environment's population size: call
    # its ``act`` on the grid's states instead
    call = getattr(household_policy, "act", household_policy)
    start_memory = getattr(household_policy, "start_memory", None)

    @torch.no_grad()
    def rule(e, a):
        e, a = np.asarray(e, dtype=np.float64).ravel(), np.asarray(a, dtype=np.float64).ravel()
        s_out, f_out = np.empty_like(a), np.empty_like(a)
        for i in range(0, len(a), batch):
            hh = torch.as_tensor(np.stack([e[i : i + batch], a[i : i + batch]], -1))[None]
            obs = Observation(torch.zeros(1, 6, dtype=torch.float64), hh)
            gov = None if raw is None else raw[None]
            if start_memory is not None:
                start_memory(hh.shape[1])
                for _ in range(memory_steps):
                    call(obs, gov)
            act = call(obs, gov)
            if tuple(act.shape[:2]) != tuple(hh.shape[:2]):
                raise ValueError(
                    f"household policy {getattr(household_policy, 'name', household_policy)!r} "
                    f"returned actions of shape {tuple(act.shape)} for {hh.shape[1]} states: "
                    "allowed a policy that acts on each household's observation (give a rule "
                    "instead, e.g. fixed_rule)"
                )
            act = act.double().cpu().numpy()[0]
            s_out[i : i + batch], f_out[i : i + batch] = act[:, 0], act[:, 1]
        return s_out, f_out

    return rule


class GridRule:
    """A grid policy (shares [na, ne] at assets x observed ability) as a follower rule and as
    a household policy of the environment: bilinear in (assets, log ability)."""

    name = "best-response"

    def __init__(self, sol: Solution):
        self.sol = sol

    def __call__(self, *args):
        if len(args) == 2 and isinstance(args[0], Observation):
            obs = args[0]
            e, a = obs.households[..., 0], obs.households[..., 1]
            s, f = self.rule(e.cpu().numpy().ravel(), a.cpu().numpy().ravel())
            out = np.stack([s, f], -1).reshape(*e.shape, 2)
            return torch.as_tensor(out, dtype=obs.households.dtype, device=obs.households.device)
        return self.rule(*args)

    def reset(self, env: SMFGEnv) -> None:
        self.superstar = env.state.superstar

    def rule(self, e, a, superstar=None):
        sol = self.sol
        lo_e, w_e = sol.ability.locate(e, superstar)
        lo_a, w_a = sol.agrid.locate(a)
        hi_e = np.minimum(lo_e + 1, sol.ability.n - 1)
        out = []
        for grid in (sol.s, sol.f):
            v0 = _lerp(grid, lo_a, w_a, lo_e)
            v1 = _lerp(grid, lo_a, w_a, hi_e)
            out.append(v0 + w_e * (v1 - v0))
        return out[0], out[1]


def grid_shares(rule: Rule, agrid: AssetGrid, ability: AbilityGrid, hh: Household):
    """A rule's shares at every grid state, clipped into the action box: (s, f) [na, ne]."""
    E, A = np.meshgrid(ability.e, agrid.a)
    s, f = rule(E.ravel(), A.ravel())
    s = np.clip(np.asarray(s, dtype=np.float64).reshape(A.shape), hh.s_lo, hh.s_hi)
    f = np.clip(np.asarray(f, dtype=np.float64).reshape(A.shape), hh.f_lo, hh.f_hi)
    return s, f
