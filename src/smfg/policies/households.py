"""Fixed household rules: constant shares, uniform random shares, and the survey's own shares.

Each returns raw actions [E, H, 2] (saving share, work share) in the environment's dtype and
device; the environment clips them into [action_low, action_high] (book:model-actions). A saving
share means something different in each economy (of post-tax income in ``taxai``, of cash on hand in
``clearing``, book:model-household-rules), so a rule tuned for one is not meaningful in the other.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from smfg.config import VARIANTS, EconomyParams, economy_params
from smfg.economy.data import HouseholdTable, load_household_table, weighted_stats
from smfg.env import Observation, SMFGEnv
from smfg.policies.base import HouseholdPolicy

__all__ = [
    "FULL_TIME_HOURS",
    "FixedShares",
    "SurveyReplay",
    "UniformRandom",
    "survey_actions",
]

#: Hours a year of a full-time worker (52 weeks x 40 hours).
FULL_TIME_HOURS = 2080.0


def _check_share(name: str, value: float) -> float:
    v = float(value)
    if not (0.0 <= v <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} = {value!r} is out of range: allowed a share in [0, 1]")
    return v


class FixedShares(HouseholdPolicy):
    """Every household saves ``saving`` and works ``work`` (shares in [0, 1]) every period.

    The rule that survives in ``taxai``, "save 99%, work 90%", is ``FixedShares(0.99, 0.9)``;
    the one that keeps ``clearing`` near its start, "save 80% of cash on hand, work one
    third", is ``FixedShares(0.8, 1/3)`` (book:model-household-rules).
    """

    def __init__(self, saving: float, work: float, name: str | None = None):
        self.saving = _check_share("FixedShares.saving", saving)
        self.work = _check_share("FixedShares.work", work)
        self.name = name or f"fixed(s={self.saving:g}, f={self.work:g})"

    def reset(self, env: SMFGEnv) -> None:
        super().reset(env)
        shares = torch.tensor([self.saving, self.work], dtype=self.dtype, device=self.device)
        self._action = shares.expand(self.n_envs, self.n_households, 2).contiguous()

    def act(self, obs: Observation, gov_raw: Tensor | None) -> Tensor:
        return self._action


class UniformRandom(HouseholdPolicy):
    """Both shares drawn uniformly from [0, 1) every period: the original rule-based households.

    Draws come from the policy's own ``torch.Generator`` seeded with ``seed`` when the policy
    is built (on the CPU, then moved), so a new policy with the same seed repeats them; a
    reset does not reseed, so successive episodes differ.
    """

    name = "uniform-random"

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self.gen = torch.Generator(device="cpu").manual_seed(self.seed)

    def act(self, obs: Observation, gov_raw: Tensor | None) -> Tensor:
        shape = (self.n_envs, self.n_households, 2)
        return torch.rand(shape, generator=self.gen, dtype=self.dtype).to(self.device)


class SurveyReplay(HouseholdPolicy):
    """The real-data households: each simulated household acts every period with the shares
    its survey row implies (:func:`survey_actions` of ``env.households.rows``)."""

    name = "survey-replay"

    def __init__(self, food_share: float = 0.13, table: HouseholdTable | None = None):
        if not (0.0 < float(food_share) <= 1.0):
            raise ValueError(f"food_share = {food_share!r} is out of range: allowed (0, 1]")
        self.food_share = float(food_share)
        self.table = table

    def reset(self, env: SMFGEnv) -> None:
        super().reset(env)
        table = load_household_table() if self.table is None else self.table
        s, f = survey_actions(table, self.params.variant, self.params, self.food_share)
        rows = np.asarray(env.households.rows)
        action = np.stack([s[rows], f[rows]], -1)  # [E, H, 2]
        self._action = torch.as_tensor(action, dtype=self.dtype, device=self.device)

    def act(self, obs: Observation, gov_raw: Tensor | None) -> Tensor:
        return self._action


def survey_actions(
    table: HouseholdTable,
    variant: str,
    params: EconomyParams | None = None,
    food_share: float = 0.13,
) -> tuple[np.ndarray, np.ndarray]:
    """The (saving share, work share) each survey row implies (book:learning-bc): two [n_rows]
    arrays.

    The extract has no saving or consumption flow, so both are built from what it has:

    - Consumption: annual food spending over the food share of consumption,
      ``c = FOOD / food_share`` (``FOOD = FOODHOME + FOODAWAY + FOODDELV``; ``food_share``
      about 0.13).
    - Saving share, from the variant's budget with the consumption tax ``tau_c``:
      ``taxai`` (E7): ``c (1 + tau_c) = (1 - s) * post-tax income``, so
      ``s = 1 - c (1 + tau_c) / INCOME``. ``clearing`` (E20): ``c (1 + tau_c) = (1 - s) x``
      with cash on hand ``x = INCOME + max(NETWORTH, 0)``: the year's income (interest
      included, as in ``i = W e h + r a``) plus the principal of the assets the model starts
      the household with (net worth floored at 0, book:model-calibration). Both are in dollars; the
      share is a ratio, so it does not depend on the money unit, and the clearing reset rescales
      income and net worth by the same factor, so the share keeps its meaning there. Income taxes
      are those of the free market (lower clip: ``tau = 0.0002``, ``xi = 0.00005``, under 0.1% of
      income at any survey income) and are neglected, i.e. post-tax income is taken as INCOME. A row
      with no income (``x <= 0``) that still eats dissaves without bound: it gets the lower clip.
      The share is clipped into ``[action_low, action_high]``. Rows with a negative implied share
      (consumption above income) are clipped at the lower bound; this is frequent in ``taxai``,
      where the survey's INCOME is a poor measure of the resources spent (retirees living on
      assets).
    - Work share, from labour-force status and wage income: a working row (``LF = 1``)
      works ``2,080 * min(1, WAGEINC / m(EDUC))`` hours a year, where ``m(EDUC)`` is the
      weighted (WGT) median wage income of the working rows with a positive wage and the
      same education code (the whole working population's median if a code has none); i.e.
      full time for a typical or better-paid worker of its education, proportionally less
      below. A working row without wage income (``WAGEINC <= 0``: self-employed, business
      owners; 2,615 rows) is taken as the typical worker of its code: 2,080 hours. Hours
      are expressed as a share of ``h_max`` (``f = hours / h_max``, at most
      ``2080 / 3893.3 = 0.534``). Rows not working (``LF = 0``) get the lower clip. The
      share is clipped into ``[action_low, action_high]``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r} is not known: allowed {VARIANTS}")
    params = economy_params(variant) if params is None else params
    if params.variant != variant:
        raise ValueError(
            f"survey_actions: params.variant = {params.variant!r} but variant = {variant!r}: "
            "allowed the same variant"
        )
    if not (0.0 < float(food_share) <= 1.0):
        raise ValueError(f"food_share = {food_share!r} is out of range: allowed (0, 1]")
    lo, hi = params.action_low, params.action_high
    food = np.asarray(table.food, dtype=np.float64)
    income = np.asarray(table.income, dtype=np.float64)
    networth = np.asarray(table.networth, dtype=np.float64)
    wage = np.maximum(np.asarray(table.wageinc, dtype=np.float64), 0.0)  # -1.08 is a code
    educ = np.asarray(table.educ)
    working = np.asarray(table.lf) == 1
    weight = np.asarray(table.wgt, dtype=np.float64)

    spend = food / float(food_share) * (1.0 + params.tau_c)
    resources = income if variant == "taxai" else income + np.maximum(networth, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        saving = np.where(resources > 0, 1.0 - spend / resources, lo)
    saving = np.clip(saving, lo, hi)

    earners = working & (wage > 0)
    overall = weighted_stats(wage[earners], weight[earners])["median"]
    typical = np.full(income.shape, overall)
    for code in np.unique(educ):  # one pass per education code (15), not per row
        group = educ == code
        sel = group & earners
        if sel.any():
            typical[group] = weighted_stats(wage[sel], weight[sel])["median"]
    ratio = np.where(wage > 0, np.minimum(wage / typical, 1.0), 1.0)
    hours = np.where(working, FULL_TIME_HOURS * ratio, 0.0)
    work = np.clip(hours / params.h_max, lo, hi)
    return saving, work
