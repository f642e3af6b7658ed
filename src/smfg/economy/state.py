"""The economy's state for E parallel economies of H households, shocks, and the reset.

Tensors are [E, H] per household and [E] per economy. The state is what the next period
starts from: assets ``a`` (the last step's a'), ability ``e`` (the one used in the last step,
which households observe), capital ``K`` and debt ``B``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy.data import HouseholdTable, load_household_table
from smfg.economy.household import ability_step
from smfg.economy.metrics import sort_last


@dataclass(frozen=True)
class EconState:
    """State of E economies at the start of a period (frozen; every step makes a new one)."""

    a: Tensor
    """Household assets at the start of the period: [E, H]."""
    e: Tensor
    """Ability last used (and observed by households): [E, H]."""
    superstar: Tensor
    """Whether each household is in the superstar ability state: [E, H] bool."""
    income: Tensor
    """Last period's pre-tax income (at reset: the survey's INCOME, book:model-reset): [E, H]."""
    a_sorted: Tensor
    """``a`` sorted ascending per economy: [E, H]. Kept so that each step sorts only twice
    (assets and income), for the Ginis and the leader's observation."""
    income_sorted: Tensor
    """``income`` sorted ascending per economy: [E, H]."""
    K: Tensor
    """Capital used in production this period: [E]."""
    B: Tensor
    """Government debt at the start of the period: [E]."""
    Y_prev: Tensor
    """Last period's output (at reset: the initial output Y0): [E]."""
    t: Tensor
    """Steps taken in the current episode: [E] int64."""
    done: Tensor
    """Whether the economy's episode has ended (it is then frozen): [E] bool."""
    termination: Tensor
    """Bit flags of the conditions that ended the episode (see ``TERMINATION_FLAGS``): [E]."""

    @property
    def n_envs(self) -> int:
        return self.a.shape[0]

    @property
    def n_households(self) -> int:
        return self.a.shape[1]

    def select(self, idx) -> EconState:
        """The economies ``idx`` (an index, slice or index tensor over E) as a new state."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return replace(self, **{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def where(self, mask: Tensor, other: EconState) -> EconState:
        """Per economy: ``other``'s fields where ``mask`` ([E] bool) is True, else this state's."""
        if not torch.compiler.is_compiling() and bool(mask.all()):
            return other
        out = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            m = mask.view(-1, *([1] * (mine.ndim - 1)))
            out[f.name] = torch.where(m, theirs, mine)
        return replace(self, **out)


@dataclass(frozen=True)
class Shocks:
    """One period's random draws: ``eps`` ~ N(0,1) and ``u`` ~ U[0,1), both [E, H]."""

    eps: Tensor
    u: Tensor


def draw_shocks(
    gen: torch.Generator, n_envs: int, n_households: int, dtype: torch.dtype, device=None
) -> Shocks:
    """Draw one period's shocks from an explicit generator (same seed, same draws).

    The draws are made in float32 whatever ``dtype`` (then cast): float32 and float64 runs
    see the same shocks, and a float64 normal draw would cost 7 times more. 24-bit uniforms
    resolve p_super = 2.2e-6 to within 0.3%.
    """
    shape = (n_envs, n_households)
    eps = torch.randn(shape, generator=gen, dtype=torch.float32)
    u = torch.rand(shape, generator=gen, dtype=torch.float32)
    return Shocks(eps.to(device=device, dtype=dtype), u.to(device=device, dtype=dtype))


def concat_households(parts: list[Households]) -> Households:
    """The households of several groups of economies, stacked along E."""
    if len(parts) == 1:
        return parts[0]
    return Households(
        np.concatenate([p.rows for p in parts]),
        *(torch.cat([getattr(p, k) for p in parts]) for k in ("a0", "e0", "superstar0", "income0")),
    )


@dataclass(frozen=True)
class Households:
    """The initial households of E economies, drawn once from the survey table: [E, H] each."""

    rows: np.ndarray
    """Row index of each household in the survey table: [E, H] int64."""
    a0: Tensor
    """Initial assets (model units)."""
    e0: Tensor
    """Initial ability before the reset's first draw."""
    superstar0: Tensor
    """Initial superstar flags."""
    income0: Tensor
    """Income shown in the first leader observation (the survey's INCOME)."""


def draw_households(
    params: EconomyParams,
    n_envs: int,
    n_households: int,
    gen: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device=None,
    table: HouseholdTable | None = None,
    shared: bool = True,
) -> Households:
    """Draw the households of each economy from the survey table (book:model-taxai-households,
    book:model-calibration).

    ``taxai``: rows drawn unweighted without replacement from all rows but the last (as the
    original code did; with replacement when N exceeds those 22,954 rows); assets are ASSET
    in dollars; initial ability is the EDUC code (EDUC -1 replaced by 0.1, as the DSMFG copy
    of the table did). ``clearing``: rows drawn with the
    survey weights (with replacement); assets are net worth floored at 0, rescaled so that
    assets over initial output equal ``assets_over_output0`` (money in units of initial output
    per household); initial log ability is ``z_wage * sd``, the stationary quantile of the
    household's weighted wage rank. Either way each household is flagged superstar with
    probability ``p_super``. ``shared``: every economy gets the same households (as the
    original's repeated episodes did); otherwise each economy draws its own.
    """
    if n_households < 1 or n_envs < 1:
        raise ValueError(f"n_households = {n_households}, n_envs = {n_envs}: allowed integers >= 1")
    table = load_household_table() if table is None else table
    n_draw = 1 if shared else n_envs
    rows = np.empty((n_draw, n_households), dtype=np.int64)
    for j in range(n_draw):
        if params.variant == "taxai":
            pool = table.n_rows - 1
            if n_households <= pool:
                idx = torch.randperm(pool, generator=gen)[:n_households]
            else:  # more households than rows: the only way is with replacement
                idx = torch.randint(pool, (n_households,), generator=gen)
        else:
            w = torch.tensor(np.array(table.wgt, dtype=np.float64))
            idx = torch.multinomial(w, n_households, replacement=True, generator=gen)
        rows[j] = idx.numpy()
    if shared:
        rows = np.repeat(rows, n_envs, axis=0)

    def col(x: np.ndarray) -> Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64)[rows], dtype=dtype, device=device)

    ability, assets = initial_columns(params, table)
    income0 = col(table.income)
    e0, a0 = col(ability), col(assets)
    if params.variant == "clearing":
        scale = params.assets_over_output0 * n_households / a0.sum(-1, keepdim=True)
        a0 = a0 * scale
        income0 = income0 * scale  # the same money unit as assets
    u = torch.rand((n_draw, n_households), generator=gen, dtype=torch.float64)
    superstar0 = (u < params.p_super).expand(n_envs, -1).to(device)
    mean_normal = torch.where(superstar0, 0.0, e0).sum(-1, keepdim=True) / (~superstar0).sum(
        -1, keepdim=True
    ).clamp_min(1)
    e0 = torch.where(superstar0, params.mult_super * mean_normal, e0)
    return Households(rows, a0, e0, superstar0, income0)


def initial_columns(params: EconomyParams, table: HouseholdTable) -> tuple[np.ndarray, np.ndarray]:
    """Each survey row's initial ability (before superstar flags) and unscaled assets.

    ``taxai`` (book:model-taxai-households): the EDUC code (-1 replaced by 0.1) and ASSET in
    dollars. ``clearing`` (book:model-calibration): ``exp(z_wage * sd)``, the stationary quantile of
    the row's weighted wage rank, and net worth floored at 0 (rescaled by the caller). Shared by the
    reset and by behaviour cloning, so a cloned policy sees the states the environment will show it.
    """
    if params.variant == "taxai":
        educ = np.asarray(table.educ, dtype=np.float64)
        return np.where(educ < 0, 0.1, educ), np.asarray(table.asset, dtype=np.float64)
    ability = np.exp(np.asarray(table.z_wage, dtype=np.float64) * params.log_ability_sd)
    return ability, np.maximum(np.asarray(table.networth, dtype=np.float64), 0.0)


def initial_output(params: EconomyParams, n_households: int) -> float:
    """Initial output Y0 of an economy of N households (model units)."""
    if params.variant == "taxai":
        return params.Y0_per_capita * n_households
    return float(n_households)  # 'clearing' is normalised to one unit per household


def reset_state(
    params: EconomyParams, households: Households, shocks: torch.Generator | Shocks
) -> EconState:
    """The state at the start of an episode (book:model-reset), after the reset's ability draw.

    ``shocks``: the draws for that first E11 step, or a generator to draw them from.
    """
    E, H = households.a0.shape
    dtype, device = households.a0.dtype, households.a0.device
    Y0 = initial_output(params, H)
    if params.variant == "taxai":
        K0, B0 = params.K0_over_Y0 * Y0, params.B0_over_Y0 * Y0
    else:
        B0 = params.b * Y0
        K0 = params.assets_over_output0 * Y0 - B0
    if isinstance(shocks, torch.Generator):
        shocks = draw_shocks(shocks, E, H, dtype, device)
    e, sup = ability_step(households.e0, households.superstar0, shocks.eps, shocks.u, params)
    full = lambda v: torch.full((E,), v, dtype=dtype, device=device)  # noqa: E731
    return EconState(
        a=households.a0.clone(),
        e=e,
        superstar=sup,
        income=households.income0.clone(),
        a_sorted=sort_last(households.a0),
        income_sorted=sort_last(households.income0),
        K=full(K0),
        B=full(B0),
        Y_prev=full(Y0),
        t=torch.zeros(E, dtype=torch.long, device=device),
        done=torch.zeros(E, dtype=torch.bool, device=device),
        termination=torch.zeros(E, dtype=torch.long, device=device),
    )
