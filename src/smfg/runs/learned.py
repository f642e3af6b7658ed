"""Policies that come from learning, for :func:`smfg.evaluate.evaluate`.

- :func:`learned_policy`: the leader and followers of a finished run, whatever algorithm
  trained it (each algorithm module may define its own ``LearnedPolicy``; SMFRL's is the
  default).
- :class:`ClonedHouseholds`: households acting by the behaviour-cloned follower actor of
  book:learning-bc, the policy every "-BC" run starts from and the households the paper's fixed
  government policies ran with (book:model-household-rules).
- :class:`MixedHouseholds`: the first k households by one policy, the rest by another (the
  paper's Figure 5).
- :class:`GroupMeans`: per-step means over groups of households, accumulated by
  ``evaluate(..., on_step=...)`` into per-episode means.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from smfg.algos import smfrl
from smfg.algos.bc import free_market_u, pretrained_follower
from smfg.algos.core import HH_ACT, follower_env_action, gaussian_noise, signed_log
from smfg.config import EconomyParams
from smfg.env import Observation, SMFGEnv, StepResult
from smfg.policies import HouseholdPolicy
from smfg.runs import algorithms

__all__ = ["ClonedHouseholds", "GroupMeans", "MixedHouseholds", "learned_policy"]


def learned_policy(policy_state: dict, noise_std: float = 0.0, seed: int = 0):
    """The trained policies of a run: an object with ``.leader`` and ``.followers``.

    ``policy_state`` is what a finished run stores (``RunResult.policy_state``); its ``algo``
    key names the algorithm. When that algorithm's module (the module of its trainer in
    :data:`smfg.runs.algorithms.ALGORITHMS`) defines ``LearnedPolicy(policy_state, noise_std,
    seed)`` it is used; otherwise SMFRL's, which reads ``actor_l``, ``actor_f``, ``norm_l``
    and ``norm_f``. ``noise_std`` is the evaluation's exploration noise in the actors' output
    space (the paper evaluated with 0.01).
    """
    entry = algorithms.ALGORITHMS.get(policy_state.get("algo", "smfrl"))
    module = sys.modules.get(entry[1].__module__) if entry is not None else None
    cls = getattr(module, "LearnedPolicy", smfrl.LearnedPolicy)
    return cls(policy_state, noise_std=noise_std, seed=seed)


class ClonedHouseholds(HouseholdPolicy):
    """Households acting by the behaviour-cloned follower actor (book:learning-bc).

    The actor and its normaliser are :func:`smfg.algos.bc.pretrained_follower`'s for the
    same arguments: exactly the follower a "-BC" run with this ``seed`` and ``bc_epochs``
    starts from. The actor sees the leader's raw action mapped into its output space (a tax
    schedule, which has no raw action, is seen as the free market, as in cloning).
    ``noise_std`` adds one Gaussian draw per economy and action dimension, shared by the
    households, as the learned followers' evaluation noise is.
    """

    name = "bc"

    def __init__(
        self,
        variant: str,
        params: EconomyParams | None = None,
        epochs: int = 30,
        seed: int = 0,
        noise_std: float = 0.0,
        paper_quirks: bool = False,
    ):
        self.actor, self.norm = pretrained_follower(
            variant, params, epochs=epochs, seed=seed, paper_quirks=paper_quirks
        )
        self.paper_quirks = paper_quirks
        self.noise_std = float(noise_std)
        self.gen = torch.Generator().manual_seed(20_011 + int(seed))

    def act(self, obs: Observation, gov_raw: Tensor | None) -> Tensor:
        E = obs.households.shape[0]
        if gov_raw is None:
            u_l = free_market_u(paper_quirks=self.paper_quirks).expand(E, -1)
        else:
            c = gov_raw.float().cpu()
            u_l = c if self.paper_quirks else 2.0 * c - 1.0
        with torch.no_grad():
            s_f = self.norm(signed_log(obs.households.float().cpu()))
            u = self.actor(s_f, u_l.unsqueeze(-2))
        if self.noise_std > 0:
            u = (u + gaussian_noise((E, 1, HH_ACT), self.noise_std, self.gen)).clamp(-1.0, 1.0)
        return follower_env_action(u, self.paper_quirks).to(self.dtype).to(self.device)


class MixedHouseholds(HouseholdPolicy):
    """The first ``k`` households act by ``first``, the others by ``rest`` (Figure 5).

    Both policies are called every step on the whole population (a learned follower view
    may rely on being called once per step), and the two outputs are spliced.
    """

    def __init__(self, first, rest, k: int, name: str | None = None):
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"MixedHouseholds.k = {k!r}: allowed an integer >= 0")
        self.first, self.rest, self.k = first, rest, k
        first_name = getattr(first, "name", type(first).__name__)
        rest_name = getattr(rest, "name", type(rest).__name__)
        self.name = name or f"mixed({k} {first_name}, rest {rest_name})"

    def reset(self, env: SMFGEnv) -> None:
        super().reset(env)
        if self.k > env.n_households:
            raise ValueError(f"MixedHouseholds.k = {self.k} exceeds N = {env.n_households}")
        self.first.reset(env)
        self.rest.reset(env)

    def act(self, obs: Observation, gov_raw: Tensor | None) -> Tensor:
        a_first = self.first(obs, gov_raw)
        a_rest = self.rest(obs, gov_raw)
        return torch.cat([a_first[:, : self.k], a_rest[:, self.k :]], 1)


#: what :class:`GroupMeans` records by default: name -> Flows field ([E, H] each)
GROUP_QUANTITIES: Mapping[str, str] = {
    "utility": "u",
    "wealth": "a_next",
    "income": "income",
    "consumption": "c",
    "saving_share": "s",
    "work_share": "f",
}


class GroupMeans:
    """Per-episode means over the steps survived of per-step group means of household flows.

    ``groups`` maps a group's name to its household indices. Pass the instance as
    ``evaluate(..., on_step=means)``; afterwards :meth:`table` gives one row per economy,
    group and quantity. Money (wealth, income, consumption) is converted to dollars with
    ``money_unit`` (1 in ``taxai``).
    """

    def __init__(
        self,
        groups: Mapping[str, Sequence[int]],
        quantities: Mapping[str, str] = GROUP_QUANTITIES,
        money_unit: float = 1.0,
    ):
        self.groups = {g: torch.as_tensor(list(ix), dtype=torch.long) for g, ix in groups.items()}
        self.quantities = dict(quantities)
        self.money_unit = float(money_unit)
        self.sums: dict[tuple[str, str], Tensor] = {}
        self.steps: Tensor | None = None

    def __call__(self, out: StepResult) -> None:
        fl = out.flows
        active = fl.active.cpu()
        if self.steps is None:
            self.steps = torch.zeros(active.shape[0], dtype=torch.float64)
        self.steps += active.double()
        for g, ix in self.groups.items():
            if ix.numel() == 0:
                continue
            for q, attr in self.quantities.items():
                x = getattr(fl, attr).double().cpu()[:, ix].mean(-1)
                key = (g, q)
                prev = self.sums.get(key, torch.zeros_like(x))
                self.sums[key] = prev + torch.where(active, x, 0.0)

    def table(self):
        """One row per economy, group and quantity: economy, group, quantity, value."""
        rows = []
        money = {"wealth", "income", "consumption"}
        steps = self.steps.clamp_min(1.0) if self.steps is not None else None
        for (g, q), s in self.sums.items():
            mean = s / steps
            if q in money:
                mean = mean * self.money_unit
            for e, v in enumerate(mean.tolist()):
                rows.append({"economy": e, "group": g, "quantity": q, "value": v})
        return pd.DataFrame(rows, columns=["economy", "group", "quantity", "value"])
