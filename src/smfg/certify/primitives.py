"""What a household of the `clearing` economy (book:model-clearing) takes as given and wants:
the fiscal policy (E6 income and asset taxes, or a piecewise-linear income-tax schedule in
place of E6's income tax; the consumption tax), prices, preferences (E25) and the action box,
the budget (E20) with its derivatives, the check that a problem is feasible, and
:class:`Solution`, the record of a solved problem.

The tax functions are numpy copies of :func:`smfg.economy.government.tax_e6` and
:func:`~smfg.economy.government.tax_piecewise`, and the utility of
:func:`smfg.economy.household.utility_clearing`, on purpose: the solvers need the first and
second derivatives (``Tax'``, ``Tax''``, ``u'``, its inverse, ``v'``), which the economy's
functions do not have, in float64 numpy inside loops where a torch round trip per call would
cost more than the arithmetic; and the economy's functions are not bit-identical to these (E6
computed as ``exp((1-xi) log x)`` there, ``x exp(-xi log x)`` here: 58% of 10^5 lognormal
incomes differ in the last bits, up to 1e-12; the US 2022 schedule, summed in another order,
2.7%), so calling them would move every certified number.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from smfg.certify.grids import AbilityGrid, AssetGrid, _lerp
from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.policies.government import us_federal_brackets_2022

_C_FLOOR = 1e-10  # as the environment's utility (household.utility_clearing)


# --- fiscal policy, prices, preferences ----------------------------------------------------


def e6_tax(x, tau: float, xi: float):
    """E6, ``Tax(x) = x - (1-tau)/(1-xi) x^(1-xi)`` for x > 0, 0 otherwise (numpy)."""
    return _tax3(x, tau, xi, 0)[0]


def e6_marginal(x, tau: float, xi: float):
    """Marginal E6 rate ``1 - (1-tau) x^(-xi)`` for x > 0, 0 otherwise."""
    return _tax3(x, tau, xi, 1)[1]


def _tax3(x, tau: float, xi: float, order: int = 2):
    """E6 and its first two derivatives at ``x`` (0 for x <= 0), one log and one exp.

    ``Tax' = 1 - (1-tau) x^(-xi)`` and ``Tax'' = xi (1-tau) x^(-xi-1) >= 0``: E6 is convex.
    Returns (Tax, Tax', Tax''), later ones None beyond ``order``.
    """
    x = np.asarray(x, dtype=np.float64)
    allpos = x.size == 0 or bool(x.min() > 0)  # (NaN: not all positive)
    pos = True if allpos else x > 0
    xp = x if allpos else np.where(pos, x, 0.0)
    if xi == 0.0:
        T1 = (np.full_like(xp, tau) if allpos else np.where(pos, tau, 0.0)) if order else None
        return tau * xp, T1, (np.zeros_like(xp) if order >= 2 else None)
    safe = x if allpos else np.where(pos, x, 1.0)
    p = np.exp(np.log(safe) * -xi)  # x^(-xi)
    T = xp - (1.0 - tau) / (1.0 - xi) * xp * p
    if order == 0:
        return T, None, None
    T1 = 1.0 - (1.0 - tau) * p
    T2 = xi * (1.0 - tau) * p / safe if order >= 2 else None
    if not allpos:
        T1 = np.where(pos, T1, 0.0)
        T2 = np.where(pos, T2, 0.0) if order >= 2 else None
    return T, T1, T2


@dataclass(frozen=True)
class _Schedule:
    """A piecewise-linear income tax in segment form: ``Tax(i) = b[q] + m[q] i`` on segment
    q, the incomes between ``kinks[q-1]`` and ``kinks[q]`` (the first and last segments
    open). Built once per schedule by :func:`_schedule`."""

    kinks: np.ndarray
    """Incomes where the marginal rate changes, ascending [Q]."""
    m: np.ndarray
    """Marginal rate of each segment [Q + 1] (``m[0] = 0``: income below the first
    threshold is untaxed)."""
    b: np.ndarray
    """Intercept of the tax on each segment [Q + 1]."""
    convex: bool
    """Whether the marginal rate never falls as income rises (then bunching at the kinks
    is the only non-smooth choice a household makes)."""

    def segment(self, x):
        """Segment of each income (an income exactly at a kink belongs to the one above)."""
        return np.searchsorted(self.kinks, x, side="right")

    def tax3(self, x, order: int = 2):
        """(Tax, Tax', Tax'') at ``x``, later ones None beyond ``order`` (Tax'' = 0)."""
        x = np.asarray(x, dtype=np.float64)
        q = self.segment(x)
        m = self.m[q]
        T = self.b[q] + m * x
        if order == 0:
            return T, None, None
        return T, m, (np.zeros_like(x) if order >= 2 else None)


def schedule_tax(x, brackets, rates):
    """``sum_k rate_k clamp(x - lo_k, 0, lo_{k+1} - lo_k)`` (numpy), the formula of
    :func:`smfg.economy.government.tax_piecewise`: ``brackets`` are the lower thresholds lo_k
    (ascending), the top bracket is open, income below lo_0 is untaxed."""
    lo = np.asarray(brackets, dtype=np.float64)
    width = np.append(lo[1:], np.inf) - lo
    base = np.maximum(np.asarray(x, dtype=np.float64)[..., None] - lo, 0.0)
    return (np.minimum(base, width) * np.asarray(rates, dtype=np.float64)).sum(-1)


@functools.lru_cache(maxsize=128)
def _schedule(brackets: tuple[float, ...], rates: tuple[float, ...]) -> _Schedule:
    """The segment form of a schedule (thresholds where the rate does not change dropped;
    of several brackets starting at one threshold, the last, the only one of positive
    width, sets the rate above it)."""
    thresholds: list[float] = []
    above: list[float] = []
    for lo, rate in zip(brackets, rates, strict=True):
        if thresholds and lo == thresholds[-1]:
            above[-1] = rate
        else:
            thresholds.append(lo)
            above.append(rate)
    kinks: list[float] = []
    m = [0.0]
    for lo, rate in zip(thresholds, above, strict=True):
        if rate != m[-1]:
            kinks.append(lo)
            m.append(rate)
    k = np.asarray(kinks, dtype=np.float64)
    m_arr = np.asarray(m, dtype=np.float64)
    # the tax is 0 below the first kink; above kink q it is Tax(kink_q) + m[q+1] (i - kink_q)
    b = np.zeros(len(m))
    if len(k):
        b[1:] = schedule_tax(k, brackets, rates) - m_arr[1:] * k
    return _Schedule(k, m_arr, b, bool(np.all(np.diff(m_arr) >= 0.0)))


def _as_schedule_field(name: str, v) -> tuple[float, ...] | None:
    if v is None:
        return None
    try:
        out = tuple(float(x) for x in np.asarray(v, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Fiscal.{name} = {v!r}: allowed a sequence of numbers or None") from exc
    return out


@dataclass(frozen=True)
class Fiscal:
    """A stationary fiscal policy: E6 income tax (tau, xi), E6 asset tax (tau_a, xi_a),
    spending share g of output and the consumption tax tau_c; or, with ``brackets`` and
    ``rates``, a piecewise-linear income-tax schedule in place of E6's income tax (US
    federal 2022, Saez), computed as :func:`smfg.economy.government.tax_piecewise` does.
    Hashable (the schedule is a pair of tuples)."""

    tau: float = 0.0
    """E6 income-tax level (unused when a schedule is given)."""
    xi: float = 0.0
    """E6 income-tax progressivity (unused when a schedule is given)."""
    tau_a: float = 0.0
    """E6 asset-tax level."""
    xi_a: float = 0.0
    """E6 asset-tax progressivity."""
    g: float = 0.0
    """Government spending as a share of output."""
    tau_c: float = 0.0
    """Consumption tax."""
    brackets: tuple[float, ...] | None = None
    """Lower income thresholds of the schedule's brackets, ascending (model money), or None
    for E6. The top bracket is open; income below the first threshold is untaxed."""
    rates: tuple[float, ...] | None = None
    """Marginal rate of each bracket, in [0, 1] (None with ``brackets``)."""

    def __post_init__(self) -> None:
        lo = _as_schedule_field("brackets", self.brackets)
        rates = _as_schedule_field("rates", self.rates)
        object.__setattr__(self, "brackets", lo)
        object.__setattr__(self, "rates", rates)
        if lo is None and rates is None:
            return
        if lo is None or rates is None or len(lo) != len(rates) or not lo:
            raise ValueError(
                f"Fiscal.brackets = {self.brackets!r}, Fiscal.rates = {self.rates!r}: allowed "
                "both None (E6) or two non-empty sequences of equal length"
            )
        if not all(math.isfinite(x) for x in lo + rates):
            raise ValueError(f"Fiscal.brackets/rates {lo}, {rates}: allowed finite numbers")
        if any(b < a for a, b in itertools.pairwise(lo)):
            raise ValueError(f"Fiscal.brackets = {lo}: allowed ascending thresholds")
        if any(not 0.0 <= x <= 1.0 for x in rates):
            raise ValueError(f"Fiscal.rates = {rates}: allowed marginal rates in [0, 1]")

    @property
    def schedule(self) -> _Schedule | None:
        """The income-tax schedule in segment form, or None for E6."""
        return None if self.brackets is None else _schedule(self.brackets, self.rates)

    @classmethod
    def from_gov(cls, gov: GovAction, tau_c: float, index: int = 0) -> Fiscal:
        """The policy of economy ``index`` of a GovAction, with its schedule if it has one."""
        f = lambda t: float(t.reshape(-1)[index])  # noqa: E731
        lo = rates = None
        if gov.brackets is not None:
            lo = tuple(float(x) for x in gov.brackets[index].double().cpu().tolist())
            rates = tuple(float(x) for x in gov.rates[index].double().cpu().tolist())
        return cls(f(gov.tau), f(gov.xi), f(gov.tau_a), f(gov.xi_a), f(gov.g), tau_c, lo, rates)

    @classmethod
    def from_raw(cls, raw, params: EconomyParams) -> Fiscal:
        """The policy of five raw leader numbers (E1: clipped, then scaled)."""
        c = np.clip(np.asarray(raw, dtype=np.float64), params.action_low, params.action_high)
        return cls(
            params.tau_max * c[0],
            params.xi_max * c[1],
            params.tau_a_max * c[2],
            params.xi_a_max * c[3],
            params.g_max * c[4],
            params.tau_c,
        )

    @classmethod
    def us_federal_2022(cls, params: EconomyParams) -> Fiscal:
        """The US federal 2022 policy of :class:`smfg.policies.USFederal2022`: its brackets
        (standard deduction included) in model money, dollars divided by
        ``params.money_unit`` as the policy divides them; no asset tax; spending and the
        unused E6 income-tax fields at the lower clip; the consumption tax."""
        lo, rates = us_federal_brackets_2022()
        low = params.action_low
        lo = tuple(x / params.money_unit for x in lo)
        tau, xi, g = params.tau_max * low, params.xi_max * low, params.g_max * low
        return cls(tau, xi, 0.0, 0.0, g, params.tau_c, lo, rates)

    def with_schedule(self, brackets, rates) -> Fiscal:
        """The same policy with the income-tax schedule ``brackets, rates``."""
        return dataclasses.replace(self, brackets=brackets, rates=rates)

    def income_tax(self, x):
        """Income tax at incomes ``x`` (E6 or the schedule), any shape."""
        return _income_tax3(self, x, 0)[0]

    def marginal_income_tax(self, x):
        """Marginal income-tax rate at ``x`` (at a kink of a schedule: the rate above it)."""
        return _income_tax3(self, x, 1)[1]

    def asset_tax(self, a):
        return e6_tax(a, self.tau_a, self.xi_a)


def _income_tax3(fiscal: Fiscal, x, order: int = 2):
    """(Tax, Tax', Tax'') of the income tax at ``x``: E6's (:func:`_tax3`) or the schedule's."""
    if fiscal.brackets is None:
        return _tax3(x, fiscal.tau, fiscal.xi, order)
    return fiscal.schedule.tax3(x, order)


@dataclass(frozen=True)
class Prices:
    """What a household takes as given: interest ``r``, wage ``W`` per effective hour and the
    lump-sum transfer ``tr`` per household (a single household moves none of them)."""

    r: float
    W: float
    tr: float = 0.0


@dataclass(frozen=True)
class Household:
    """Preferences (E25) and the action box of a household of the `clearing` economy."""

    sigma: float = 2.0
    phi: float = 0.5
    chi: float = 1.0
    beta: float = 0.96
    h_max: float = 1.0
    s_lo: float = 0.001
    s_hi: float = 0.99
    f_lo: float = 0.001
    f_hi: float = 0.99
    labour: float | None = None
    """A fixed work share (inelastic labour), or None to choose it."""

    @classmethod
    def from_params(cls, params: EconomyParams, labour: float | None = None) -> Household:
        return cls(
            params.sigma,
            params.phi,
            params.chi,
            params.beta,
            params.h_max,
            params.action_low,
            params.action_high,
            params.action_low,
            params.action_high,
            labour,
        )

    def u(self, c):
        """Utility of consumption (floored at 1e-10, as the environment's)."""
        c = np.maximum(c, _C_FLOOR)
        if self.sigma == 2.0:
            return -1.0 / c
        if self.sigma == 1.0:
            return np.log(c)
        return c ** (1.0 - self.sigma) / (1.0 - self.sigma)

    def u_c(self, c):
        c = np.maximum(c, _C_FLOOR)
        if self.sigma == 2.0:  # the default; a product is much cheaper than a power
            return 1.0 / (c * c)
        return 1.0 / c if self.sigma == 1.0 else c ** (-self.sigma)

    def u_c_inv(self, m):
        if self.sigma == 2.0:
            return 1.0 / np.sqrt(m)
        return 1.0 / m if self.sigma == 1.0 else m ** (-1.0 / self.sigma)

    def v(self, f):
        """Disutility of the work share, ``chi f^(1+1/phi)/(1+1/phi)`` (E25)."""
        k = 1.0 + 1.0 / self.phi
        if k == 3.0:  # the default Frisch elasticity 0.5
            return self.chi / 3.0 * (f * f * f)
        return self.chi * f**k / k

    def v_f(self, f):
        if self.phi == 0.5:
            return self.chi * (f * f)
        return self.chi * f ** (1.0 / self.phi)


# --- the budget (E20) and feasibility -----------------------------------------------------


def _labour_wage(hh: Household, prices: Prices, ability: AbilityGrid) -> np.ndarray:
    """Pay per unit of work share, ``W e h_max``, per ability state [ne]."""
    return prices.W * ability.e * hh.h_max


def cash_on_hand(fiscal: Fiscal, prices: Prices, a, y):
    """E20 cash on hand at assets ``a`` and labour income ``y`` (broadcasting)."""
    return _budget(fiscal, prices, a, y, 0)[0]


def _budget(fiscal: Fiscal, prices: Prices, a, y, order: int = 2, asset_tax=None):
    """Cash on hand (E20) and its derivatives at assets ``a`` and labour income ``y``.

    Returns (x, x_y, x_a, x_yy) with x_y = 1 - Tax'(i), x_a = 1 + r - r Tax'(i) - Tax_a'(a),
    x_yy = -Tax''(i) (later ones None beyond ``order``); income i = y + r a. ``asset_tax``:
    (Tax_a(a), Tax_a'(a)) when already known (assets on the grid).
    """
    r = prices.r
    inc = y + r * a
    T, T1, T2 = _income_tax3(fiscal, inc, order)
    if asset_tax is None:
        Ta, Ta1, _ = _tax3(a, fiscal.tau_a, fiscal.xi_a, min(order, 1))
    else:
        Ta, Ta1 = asset_tax
    x = y + (1.0 + r) * a - T - Ta + prices.tr
    if order == 0:
        return x, None, None, None
    x_y = 1.0 - T1
    x_a = 1.0 + r - r * T1 - Ta1
    return x, x_y, x_a, (-T2 if order >= 2 else None)


def _dx_da(fiscal: Fiscal, prices: Prices, a, y):
    """d(cash)/d(assets) = (1+r) - r Tax'(i) - Tax_a'(a)."""
    return _budget(fiscal, prices, a, y, 1)[2]


class InfeasibleError(ValueError):
    """Some household cannot have positive cash on hand whatever it does."""


def _check_inputs(hh: Household, prices: Prices, ability: AbilityGrid, fiscal: Fiscal) -> None:
    if not (prices.W > 0 and prices.r > -1.0):
        raise ValueError(f"prices {prices}: allowed W > 0 and r > -1")
    if hh.labour is not None and not 0.0 <= hh.labour:
        raise ValueError(f"labour = {hh.labour}: allowed a work share >= 0 or None")
    if not np.allclose(ability.P.sum(1), 1.0):
        raise ValueError("ability.P rows must sum to 1")
    # the least able household without assets, working the most it may (a lump-sum tax
    # larger than its pay leaves it nothing to consume: the environment ends the episode)
    f_top = hh.f_hi if hh.labour is None else hh.labour
    x = float(
        cash_on_hand(fiscal, prices, 0.0, prices.W * float(ability.e.min()) * hh.h_max * f_top)
    )
    if not x > 0:
        raise InfeasibleError(
            f"cash on hand {x:.4g} <= 0 for the least able household without assets at "
            f"{prices}: the lump-sum transfer is a tax larger than its pay"
        )


# --- solutions -----------------------------------------------------------------------------


@dataclass
class Solution:
    """A solved household problem on the grid (see the module docstring for the timings).

    ``known``: ``c, f, a_next`` [na, ne] at (assets, this period's ability). ``env``: ``s, f``
    [na, ne] at (assets, last period's ability); consumption and next assets depend on the
    realised ability and are recomputed by :func:`env_outcomes`.
    """

    timing: str
    household: Household
    fiscal: Fiscal
    prices: Prices
    agrid: AssetGrid
    ability: AbilityGrid
    s: np.ndarray
    f: np.ndarray
    V: np.ndarray
    c: np.ndarray | None = None
    a_next: np.ndarray | None = None
    Va: np.ndarray | None = None
    iterations: int = 0
    seconds: float = 0.0
    converged: bool = False
    info: dict = field(default_factory=dict)

    def policy(self, a, j):
        """(saving share, work share) at assets ``a`` and state index ``j`` (arrays)."""
        lo, w = self.agrid.locate(a)
        return _lerp(self.s, lo, w, j), _lerp(self.f, lo, w, j)
