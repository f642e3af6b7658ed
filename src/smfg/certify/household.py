"""The exact household problem of the `clearing` economy (book:model-clearing,
book:certification) on a grid.

A household with CRRA utility over consumption and a disutility of work (E25) faces fixed
prices (interest ``r``, wage ``W`` per effective hour, lump-sum transfer ``tr``) and a fixed
fiscal policy (the E6 income and asset taxes, the consumption tax; or, in place of E6's
income tax, a piecewise-linear schedule with kinks: US federal 2022, Saez). Its cash on hand is
(E20) ``x = W e h_max f + (1+r) a - Tax(W e h_max f + r a) - Tax_a(a) + tr``, split into
consumption ``(1+tau_c) c`` and next period's assets ``a'``. Ability follows E11, discretised
(Rouwenhorst or Tauchen for the log-AR(1); the superstar regime as an optional extra state).

Two timings, two solvers:

- ``known`` (the textbook timing): the household sees this period's ability, then chooses
  its work share ``f`` and its saving ``a' >= 0``. Solved by the endogenous grid method with
  the intratemporal labour condition: the Euler equation gives consumption at each grid
  point of ``a'``; the labour condition ``chi f^(1/phi) = u'(c)/(1+tau_c) W e h_max (1 -
  Tax'(i))`` and the budget then give the endogenous assets and hours together (two equations,
  Newton's method, because E6 makes after-tax income nonlinear in both). On the exogenous
  grid, hours and consumption are re-solved exactly from the interpolated saving, so the
  budget and the labour condition hold exactly and only the Euler equation is approximated.
  Under a schedule the tax is linear between kinks and households bunch at a kink where the
  rate rises: the candidates are each bracket's labour condition and each such kink, with
  the shadow marginal rate ``1 - chi f^(1/phi)/(lam W e h_max)`` between the adjacent rates
  (it also prices assets there, by the envelope theorem); with rates that never fall exactly
  one candidate is consistent. Where a rate falls the problem is not concave, and an upper
  envelope over the candidates, valued exactly, picks the household's choice.
- ``env`` (the environment's timing, book:model-taxai and book:model-clearing): the household
  observes last period's ability and its assets, chooses a saving share ``s`` of cash on hand and a
  work share ``f``, both in the action box ``[0.001, 0.99]``, and only then is this period's ability
  drawn. This is the problem the environment's followers face, so its solution is the best response
  that exploitability compares a learned policy with. The endogenous grid method does not apply
  (both choices precede the shock, and the share applies to realised cash), so it is solved by
  policy iteration: improvement by golden-section search, alternating between ``s`` and ``f`` (the
  objective is concave in each), evaluation of the policy on the grid to convergence; started from
  the ``known`` solution.

Arrays are numpy float64: ``[na, ne]`` over (assets, ability state); in the ``env`` timing the
ability index is the observed (last period's) state and a third axis ``[na, ne, ne]`` runs
over this period's realised state.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from smfg.config import EconomyParams
from smfg.economy.government import GovAction
from smfg.policies.government import us_federal_brackets_2022

TIMINGS = ("known", "env")
ABILITY_METHODS = ("rouwenhorst", "tauchen")
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_C_FLOOR = 1e-10  # as the environment's utility (household.utility_clearing)

# --- the ability process (E11) ---------------------------------------------------------


def rouwenhorst(n: int, rho: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Rouwenhorst discretisation of ``z' = rho z + sigma eps``: nodes [n] and P [n, n].

    Matches the stationary mean (0), variance ``sigma^2/(1-rho^2)`` and the autocorrelation
    ``rho`` exactly, whatever ``rho`` (Kopecky and Suen 2010). ``P[j, k]`` = Pr(k next | j now).
    """
    if n < 1:
        raise ValueError(f"n = {n}: allowed an integer >= 1")
    if n == 1:
        return np.zeros(1), np.ones((1, 1))
    p = (1.0 + rho) / 2.0
    P = np.array([[p, 1.0 - p], [1.0 - p, p]])
    for m in range(3, n + 1):
        Q = np.zeros((m, m))
        Q[:-1, :-1] += p * P
        Q[:-1, 1:] += (1.0 - p) * P
        Q[1:, :-1] += (1.0 - p) * P
        Q[1:, 1:] += p * P
        Q[1:-1] /= 2.0
        P = Q
    psi = sigma / math.sqrt(1.0 - rho**2) * math.sqrt(n - 1)
    return np.linspace(-psi, psi, n), P


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, dtype=np.float64) / math.sqrt(2)))


def tauchen(n: int, rho: float, sigma: float, m: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Tauchen discretisation on ``m`` stationary standard deviations: nodes [n], P [n, n]."""
    if n == 1:
        return np.zeros(1), np.ones((1, 1))
    sd = sigma / math.sqrt(1.0 - rho**2)
    z = np.linspace(-m * sd, m * sd, n)
    half = (z[1] - z[0]) / 2.0
    mean = rho * z[:, None]
    upper = _normal_cdf((z[None, :] + half - mean) / sigma)
    lower = _normal_cdf((z[None, :] - half - mean) / sigma)
    P = upper - lower
    P[:, 0] = upper[:, 0]
    P[:, -1] = 1.0 - lower[:, -1]
    return z, P / P.sum(1, keepdims=True)


def stationary_distribution(P: np.ndarray) -> np.ndarray:
    """The invariant distribution ``pi = pi P`` of a transition matrix [n, n]."""
    n = P.shape[0]
    A = P.T - np.eye(n)
    A[-1] = 1.0
    b = np.zeros(n)
    b[-1] = 1.0
    pi = np.linalg.solve(A, b)
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


@dataclass(frozen=True)
class AbilityGrid:
    """A finite-state ability process: levels ``e`` [ne], transitions ``P`` [ne, ne]."""

    e: np.ndarray
    """Ability levels."""
    P: np.ndarray
    """``P[j, k]``: probability of ability state k next period given state j now."""
    pi: np.ndarray
    """Stationary distribution [ne]."""
    superstar: bool = False
    """Whether the last state is the superstar state of E11."""
    method: str = "rouwenhorst"

    @property
    def n(self) -> int:
        return len(self.e)

    @property
    def n_normal(self) -> int:
        """Number of states of the log-AR(1) part (all but the superstar state)."""
        return self.n - int(self.superstar)

    def locate(self, e: np.ndarray, superstar: np.ndarray | None = None):
        """Bracketing states and weights of abilities ``e`` by linear interpolation in log e.

        Returns (lower index, weight on the upper index); abilities outside the normal
        states' range are clamped to the end states; superstars (if the grid has the state;
        flagged, or else recognised by an ability nearer the superstar level than the top
        normal state in logs) map to it with weight 0.
        """
        z = np.log(self.e[: self.n_normal])
        le = np.log(np.clip(np.asarray(e, dtype=np.float64), 1e-300, None))
        if self.n_normal == 1:
            lo = np.zeros(le.shape, dtype=np.int64)
            w = np.zeros(le.shape)
        else:
            lo = np.clip(np.searchsorted(z, le, side="right") - 1, 0, self.n_normal - 2)
            w = np.clip((le - z[lo]) / (z[lo + 1] - z[lo]), 0.0, 1.0)
        if self.superstar:
            if superstar is None:  # a superstar's ability is far above every normal state
                superstar = le > 0.5 * (z[-1] + math.log(self.e[-1]))
            sup = np.asarray(superstar, dtype=bool)
            lo = np.where(sup, self.n - 1, lo)
            w = np.where(sup, 0.0, w)
        return lo, w


def ability_grid(
    params: EconomyParams,
    n: int = 7,
    method: str = "rouwenhorst",
    superstar: bool = False,
    tauchen_m: float = 3.0,
) -> AbilityGrid:
    """Discretise E11: the log-AR(1) on ``n`` states, plus the superstar state if asked.

    The superstar state (E11, book:model-ability): a normal household enters with probability
    ``p_super`` from any state, a superstar stays with ``stay_super`` and has ability
    ``mult_super`` times the stationary mean of the normal abilities; one who leaves draws
    its ability uniformly on [0, largest normal ability], which here becomes a probability on
    the normal states in proportion to the length (in levels) of the cell around each state.
    """
    if method not in ABILITY_METHODS:
        raise ValueError(f"method = {method!r}: allowed {ABILITY_METHODS}")
    if method == "rouwenhorst":
        z, P = rouwenhorst(n, params.rho_e, params.sigma_e)
    else:
        z, P = tauchen(n, params.rho_e, params.sigma_e, tauchen_m)
    e = np.exp(z)
    if not superstar:
        return AbilityGrid(e, P, stationary_distribution(P), False, method)
    pi_n = stationary_distribution(P)
    e_super = params.mult_super * float(pi_n @ e)
    edges = np.concatenate([[0.0], (e[1:] + e[:-1]) / 2.0, [e[-1]]])
    leave = np.diff(edges) / e[-1]
    Q = np.zeros((n + 1, n + 1))
    Q[:n, :n] = (1.0 - params.p_super) * P
    Q[:n, n] = params.p_super
    Q[n, n] = params.stay_super
    Q[n, :n] = (1.0 - params.stay_super) * leave
    return AbilityGrid(np.append(e, e_super), Q, stationary_distribution(Q), True, method)


# --- the asset grid -----------------------------------------------------------------------


@dataclass(frozen=True)
class AssetGrid:
    """Assets ``a_k = shift (exp(u_k) - 1)``, u uniform: dense near 0, relative spacing at the
    top. The inverse is analytic, so locating a point costs a log, not a search."""

    n: int = 500
    """Number of points."""
    a_max: float = 200.0
    """Largest point (model money: initial output per household)."""
    shift: float = 0.05
    """Below ``shift`` the spacing is about even; above, about proportional to assets."""
    a: np.ndarray = field(init=False, repr=False, compare=False)
    du: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n < 3 or not self.a_max > 0 or not self.shift > 0:
            raise ValueError(
                f"AssetGrid(n={self.n}, a_max={self.a_max}, shift={self.shift}): allowed n >= 3, "
                "a_max > 0, shift > 0"
            )
        u = np.linspace(0.0, math.log1p(self.a_max / self.shift), self.n)
        object.__setattr__(self, "a", self.shift * np.expm1(u))
        object.__setattr__(self, "du", float(u[1] - u[0]))

    def locate(self, x: np.ndarray, extrapolate: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Lower index and weight on the upper node of each ``x`` (any shape).

        Points below 0 or above ``a_max`` get the end nodes (weight clipped to [0, 1]) unless
        ``extrapolate``, which extends the last segment linearly above ``a_max``.
        """
        x = np.asarray(x, dtype=np.float64)
        u = np.log1p(np.clip(x, 0.0, None) / self.shift) / self.du
        lo = np.clip(u.astype(np.int64), 0, self.n - 2)
        a = self.a
        w = (x - a[lo]) / (a[lo + 1] - a[lo])
        if extrapolate:
            return lo, np.clip(w, 0.0, None)
        return lo, np.clip(w, 0.0, 1.0)


def _lerp(values: np.ndarray, lo: np.ndarray, w: np.ndarray, col: np.ndarray) -> np.ndarray:
    """values[lo, col] (1 - w) + values[lo + 1, col] w, broadcasting ``col`` with ``lo``."""
    v0 = values[lo, col]
    return v0 + w * (values[lo + 1, col] - v0)


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
        return cls(params.tau_max * c[0], params.xi_max * c[1], params.tau_a_max * c[2],
                   params.xi_a_max * c[3], params.g_max * c[4], params.tau_c)  # fmt: skip

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
        return cls(params.sigma, params.phi, params.chi, params.beta, params.h_max,
                   params.action_low, params.action_high, params.action_low,
                   params.action_high, labour)  # fmt: skip

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


# --- the known timing: endogenous grid method ---------------------------------------------


def _hours_given_saving(hh, fiscal, prices, a, a_next, weh, f0=None, iters: int = 100):
    """Work share and consumption at assets ``a`` with next assets ``a_next`` fixed.

    Solves the intratemporal condition ``chi f^(1/phi) = u'(c)/(1+tau_c) weh (1 - Tax'(i))``
    with ``(1+tau_c) c = x(a, f) - a_next``: its left side rises and its right side falls in
    f (E6 is convex), so Newton's method kept inside a shrinking bracket [lo, hi] (bisection
    where a step would leave it) finds the root, or the bound of [f_lo, f_hi] where there is
    none. Shapes broadcast; returns (f, c). A piecewise-linear schedule is solved exactly by
    :func:`_hours_schedule`.
    """
    if fiscal.brackets is not None:
        return _hours_schedule(hh, fiscal, prices, a, a_next, weh, iters)[:2]
    tc = 1.0 + fiscal.tau_c
    shape = np.broadcast(a, a_next, weh).shape
    if hh.labour is not None:
        f = np.full(shape, float(hh.labour))
        return f, (cash_on_hand(fiscal, prices, a, weh * f) - a_next) / tc
    k = 1.0 / hh.phi

    def resid(f):
        x, x_y, _, x_yy = _budget(fiscal, prices, a, weh * f, 2)
        c = (x - a_next) / tc
        ok = c > 0
        cs = np.where(ok, c, 1.0)
        lam = cs ** (-hh.sigma) / tc
        R = np.where(ok, hh.chi * f**k - lam * weh * x_y, -np.inf)
        dR = hh.chi * k * f ** (k - 1.0) + lam * weh**2 * (hh.sigma * x_y**2 / (tc * cs) - x_yy)
        return R, dR

    lo = np.full(shape, hh.f_lo)
    hi = np.full(shape, hh.f_hi)
    f = np.full(shape, 0.3) if f0 is None else np.clip(np.broadcast_to(f0, shape), lo, hi)
    for _ in range(iters):
        R, dR = resid(f)
        lo = np.where(R < 0, f, lo)
        hi = np.where(R > 0, f, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = f - R / dR
        bad = ~np.isfinite(step) | (step < lo) | (step > hi)
        f_new = np.where(bad, 0.5 * (lo + hi), step)
        change = np.max(np.abs(f_new - f))
        f = f_new
        if change <= 1e-13:
            break
    c = (cash_on_hand(fiscal, prices, a, weh * f) - a_next) / tc
    return f, c


def _bracket_newton(D, dD, lo, hi, f, iters: int = 100, tol: float = 1e-14):
    """Root of a decreasing ``D`` in [lo, hi] (where ``D(lo) > 0 > D(hi)``) by Newton's
    method kept inside a shrinking bracket (bisection where a step would leave it)."""
    for _ in range(iters):
        R = D(f)
        lo = np.where(R > 0, f, lo)
        hi = np.where(R < 0, f, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = f - R / dD(f)
        bad = ~np.isfinite(step) | (step < lo) | (step > hi)
        f_new = np.where(bad, 0.5 * (lo + hi), step)
        change = np.max(np.abs(f_new - f), initial=0.0)
        f = f_new
        if change <= tol:
            break
    return f


def _labour_gap(hh, A, c0, f):
    """The labour condition's gap ``u'(c) A - chi f^(1/phi)`` with ``c = c0 + A f`` (A: d c /
    d f on a segment of the tax), decreasing in f."""
    return hh.u_c(c0 + A * f) * A - hh.v_f(f)


def _labour_gap_df(hh, A, c0, f):
    cs = np.maximum(c0 + A * f, _C_FLOOR)
    k = 1.0 / hh.phi
    return -hh.sigma * cs ** (-hh.sigma - 1.0) * A * A - hh.chi * k * f ** (k - 1.0)


def _hours_schedule(hh, fiscal, prices, a, a_next, weh, iters: int = 100):
    """Work share, consumption and effective marginal rate at assets ``a`` with next assets
    ``a_next`` fixed, under a piecewise-linear income tax: exact, whatever the schedule.

    On each segment of the schedule cash on hand is linear in f, so the objective ``u(c) -
    v(f)`` is concave there: its maximum over the work shares that keep income in the
    segment (and in ``[f_lo, f_hi]``) is the root of the labour condition at the segment's
    rate, or an end of that interval. The best of the segments' maxima is the household's
    choice (convex or not, the schedule is handled exactly). A choice at an end of a segment
    that is a kink bunches there: its effective marginal rate is the shadow rate ``1 - chi
    f^(1/phi) / (lam weh)`` (between the two adjacent rates), else the segment's rate. Shapes
    broadcast; returns (f, c, effective marginal rate).
    """
    sc = fiscal.schedule
    tc = 1.0 + fiscal.tau_c
    r = prices.r
    shape = np.broadcast(a, a_next, weh).shape
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), shape)
    a_next = np.broadcast_to(np.asarray(a_next, dtype=np.float64), shape)
    weh = np.broadcast_to(np.asarray(weh, dtype=np.float64), shape)
    if hh.labour is not None:
        f = np.full(shape, float(hh.labour))
        inc = weh * f + r * a
        c = (cash_on_hand(fiscal, prices, a, weh * f) - a_next) / tc
        return f, c, sc.tax3(inc, 1)[1]
    Ta = _tax3(a, fiscal.tau_a, fiscal.xi_a, 0)[0]
    ra = r * a
    edges = np.concatenate([[-np.inf], sc.kinks, [np.inf]])
    best = np.full(shape, -np.inf)
    f_best = np.full(shape, hh.f_lo)
    tau_best = np.zeros(shape)
    for q in range(len(sc.m)):
        m = sc.m[q]
        with np.errstate(invalid="ignore"):
            f_edge_lo = (edges[q] - ra) / weh  # work share putting income at the segment's ends
            f_edge_hi = (edges[q + 1] - ra) / weh
        fl = np.maximum(f_edge_lo, hh.f_lo)
        fh = np.minimum(f_edge_hi, hh.f_hi)
        ok = fl <= fh
        if not ok.any():
            continue
        fl, fh = np.where(ok, fl, hh.f_lo), np.where(ok, fh, hh.f_lo)
        A = np.broadcast_to(weh * (1.0 - m) / tc, shape)  # d c / d f on this segment
        c0 = (a * (1.0 + r - r * m) - sc.b[q] - Ta + prices.tr - a_next) / tc  # c at f = 0
        c0 = np.broadcast_to(c0, shape)
        D_lo, D_hi = _labour_gap(hh, A, c0, fl), _labour_gap(hh, A, c0, fh)
        f = np.where(D_hi >= 0, fh, np.where(D_lo <= 0, fl, 0.5 * (fl + fh)))
        inner = (D_lo > 0) & (D_hi < 0)
        if inner.any():  # an interior root: Newton's method on those points only
            As, cs = A[inner], c0[inner]
            gap, slope = partial(_labour_gap, hh, As, cs), partial(_labour_gap_df, hh, As, cs)
            f[inner] = _bracket_newton(gap, slope, fl[inner], fh[inner], f[inner], iters)
        c = c0 + A * f
        val = np.where(ok, hh.u(c) - hh.v(f), -np.inf)
        # bunched at a kink: the end of the segment is a kink, not a bound of the work share
        up = (f >= fh) & (f_edge_hi < hh.f_hi) & (q < len(sc.m) - 1)
        down = (f <= fl) & (f_edge_lo > hh.f_lo) & (q > 0)
        tau = np.full(shape, m)
        if up.any() or down.any():
            lam_weh = hh.u_c(c) * weh / tc
            shadow = 1.0 - hh.v_f(f) / lam_weh
            if up.any():
                lo_, hi_ = sorted((m, sc.m[q + 1]))
                tau = np.where(up, np.clip(shadow, lo_, hi_), tau)
            if down.any():
                lo_, hi_ = sorted((sc.m[q - 1], m))
                tau = np.where(down, np.clip(shadow, lo_, hi_), tau)
        better = val > best
        best = np.where(better, val, best)
        f_best = np.where(better, f, f_best)
        tau_best = np.where(better, tau, tau_best)
    c = (cash_on_hand(fiscal, prices, a, weh * f_best) - a_next) / tc
    return f_best, c, tau_best


def _static_choice(hh, fiscal, prices, a, a_next, weh, f0=None, iters: int = 100):
    """Work share, consumption and d(cash)/d(assets) at assets ``a`` with next assets
    ``a_next`` fixed: (f, c, x_a). Under a schedule, x_a uses the effective marginal rate
    (at a kink, the shadow rate: envelope theorem)."""
    if fiscal.brackets is None:
        f, c = _hours_given_saving(hh, fiscal, prices, a, a_next, weh, f0, iters)
        return f, c, _dx_da(fiscal, prices, a, weh * f)
    f, c, tau = _hours_schedule(hh, fiscal, prices, a, a_next, weh, iters)
    Ta1 = _tax3(a, fiscal.tau_a, fiscal.xi_a, 1)[1]
    return f, c, 1.0 + prices.r - prices.r * tau - Ta1


def _endogenous_points(hh, fiscal, prices, c, a_next, weh, a0, f0, iters: int = 50):
    """Assets and work share at which consumption ``c`` and saving ``a_next`` are optimal.

    Two equations in (a, f): the labour condition ``chi f^(1/phi) = lam weh x_y`` and the
    budget ``x(a, f) = (1+tau_c) c + a_next``, by Newton's method with f kept in its bounds
    (projected: where a step leaves the box, f stops at the bound and only the budget is
    solved). Returns (a, f). (The terms of :func:`_budget` are written out, with the factors
    that do not change between iterations made once; every product and sum is the one
    :func:`_budget` and the Jacobian ``J11 = chi k f^(k-1) - lam weh^2 x_yy``, ``J12 = -lam
    weh r x_yy`` with ``x_yy = -Tax''`` give, with the signs moved where IEEE arithmetic
    makes that exact.)
    """
    tc = 1.0 + fiscal.tau_c
    lam = hh.u_c(c) / tc
    M = tc * c + a_next
    a = a0
    fixed = hh.labour is not None
    f = np.full_like(a, hh.labour) if fixed else f0
    r, tr, r1 = prices.r, prices.tr, 1.0 + prices.r
    k = 1.0 / hh.phi
    if not fixed:
        lw = lam * weh
        lw2, lwr = lam * weh**2, lw * r
        chi_k = hh.chi * k
    for it in range(iters):
        y = weh * f
        T, T1, T2 = _income_tax3(fiscal, y + r * a, 1 if fixed else 2)
        Ta, Ta1, _ = _tax3(a, fiscal.tau_a, fiscal.xi_a, 1)
        x_a = r1 - r * T1 - Ta1
        R2 = y + r1 * a - T - Ta  # x - M
        if tr != 0.0:
            R2 = R2 + tr
        R2 = R2 - M
        if fixed:
            da = -R2 / x_a
            a = a + da
            if np.max(np.abs(da) / (1.0 + np.abs(a))) <= 1e-14:
                break
            continue
        x_y = 1.0 - T1
        R1 = hh.chi * f**k - lw * x_y
        J11 = chi_k * (f if k == 2.0 else f ** (k - 1.0)) + lw2 * T2
        J12 = lwr * T2
        J21 = weh * x_y
        det = J11 * x_a - J12 * J21
        df = (R2 * J12 - R1 * x_a) / det
        da = (R1 * J21 - R2 * J11) / det
        f_step = f + df
        f_new = f_step.clip(hh.f_lo, hh.f_hi)
        pinned = f_new != f_step
        if pinned.any():  # at a bound, f stays there and a solves the linearised budget
            da = np.where(pinned, -(R2 + J21 * (f_new - f)) / x_a, da)
        a = a + da
        if it == iters - 1:  # the last iteration: no test of the change needed
            f = f_new
            break
        change = max(np.max(np.abs(f_new - f)), np.max(np.abs(da) / (1.0 + np.abs(a))))
        f = f_new
        if change <= 1e-14:
            break
    return a, f


class _ColumnInterp:
    """Where each increasing point ``x_new[i]`` [m] falls among the nodes of each column of
    increasing ``xp[:, j]`` [n, ne], for :func:`_interp_cols`: the count ``j`` of nodes at or
    below it, the segment whose slope it takes and the node it is measured from. Between the
    steps of a stationary solve the nodes move little: :meth:`of` moves last step's counts
    to the nodes' new places instead of counting anew."""

    def __init__(self, x_new: np.ndarray, xp: np.ndarray, j: np.ndarray | None = None):
        n, ne = xp.shape
        m = len(x_new)
        cols = np.arange(ne)
        self.shape, self.n = (m, ne), n
        self.x = np.repeat(np.asarray(x_new, dtype=np.float64), ne)  # [m ne], flat
        if j is None:  # counted from the first point at or above each node
            first = np.searchsorted(x_new, xp.ravel(), side="left") * ne + np.tile(cols, n)
            j = np.bincount(first, minlength=(m + 1) * ne)[: m * ne].reshape(m, ne).cumsum(0)
            j = j.ravel()
        self._set(j)

    def _set(self, j: np.ndarray) -> None:
        n, ne = self.n, self.shape[1]
        cols = np.tile(np.arange(ne), self.shape[0])
        self.j = j
        self.below = j == 0  # below the first node: the first node's value
        self.any_below = bool(self.below.any())
        left = np.maximum(j - 1, 0)
        # the segment's slope (the last one above the last node) and its anchor node: the
        # left end inside, the last node at or above it, the first node (slope 0) below it
        self.seg = np.minimum(left, n - 2) * ne + cols
        self.anchor = np.where(j == n, n - 1, left) * ne + cols
        # the nodes either side of each point (-inf and +inf beyond the ends), to check it
        self.lo = np.where(j == 0, n * ne, (j - 1) * ne + cols)
        self.hi = np.where(j == n, n * ne + 1, j * ne + cols)

    @classmethod
    def of(cls, x_new: np.ndarray, xp: np.ndarray, prev: _ColumnInterp | None = None):
        """``prev`` (last step's, say) if every point still lies between the same nodes,
        else its counts moved by one node at a time where they no longer do (a few moves at
        most, else counted anew)."""
        if prev is None or prev.shape != (len(x_new), xp.shape[1]) or prev.n != xp.shape[0]:
            return cls(x_new, xp)
        flat = np.concatenate([xp.ravel(), (-np.inf, np.inf)])
        cur = prev
        for _ in range(4):
            up = flat.take(cur.hi) <= cur.x  # the node above is no longer above
            down = flat.take(cur.lo) > cur.x  # the node below is no longer below
            if not (up.any() or down.any()):
                return cur
            j = cur.j + up - down
            if cur is prev:  # a new object: prev may be another solution's
                cur = object.__new__(cls)
                cur.shape, cur.n, cur.x = prev.shape, prev.n, prev.x
            cur._set(j)
        return cls(x_new, xp)


def _interp_cols(
    x_new: np.ndarray, xp: np.ndarray, fps: list[np.ndarray], where: _ColumnInterp | None = None
) -> list[np.ndarray]:
    """Linear interpolation per column j of increasing ``xp[:, j]`` (extrapolating linearly
    above the last point, constant below the first) of each array in ``fps`` (broadcast to
    ``xp``'s shape) at the increasing points ``x_new`` [m]: [m, ne].

    All columns at once, with the arithmetic of ``np.interp`` (``slope (x - xp[i]) + fp[i]``
    on the segment ``xp[i] <= x < xp[i+1]``, the slope ``(fp[i+1] - fp[i]) / (xp[i+1] -
    xp[i])``): the same to the bit as ``np.interp`` column by column. ``where``: the points'
    segments, :class:`_ColumnInterp` (made if not given).
    """
    w = _ColumnInterp(x_new, xp) if where is None else where
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = xp[1:] - xp[:-1]
        xa = w.x - xp.ravel().take(w.anchor)
        out = []
        for fp in fps:
            fp = np.ascontiguousarray(np.broadcast_to(fp, xp.shape))
            slope = ((fp[1:] - fp[:-1]) / dx).ravel().take(w.seg)
            if w.any_below:
                slope[w.below.ravel()] = 0.0
            out.append((slope * xa + fp.ravel().take(w.anchor)).reshape(w.shape))
    return out


_ASSET_TAX_CACHE: dict = {}


def _grid_asset_tax(fiscal: Fiscal, a: np.ndarray):
    """(Tax_a, Tax_a') on the asset grid [na, 1], computed once per policy and grid."""
    key = (fiscal.tau_a, fiscal.xi_a, a.size, float(a[-1]), float(a[1]))
    hit = _ASSET_TAX_CACHE.get(key)
    if hit is None:
        if len(_ASSET_TAX_CACHE) > 64:
            _ASSET_TAX_CACHE.clear()
        Ta, Ta1, _ = _tax3(a[:, None], fiscal.tau_a, fiscal.xi_a, 1)
        hit = _ASSET_TAX_CACHE[key] = (Ta, Ta1)
    return hit


def _euler_points(hh, fiscal, prices, agrid, ability, Va_next):
    """What every EGM step starts from: the asset grid, 1 + tau_c, pay per unit of work share
    [1, ne], and for each next-asset grid point k and state j the consumption the Euler
    equation asks for, ``c_endo`` [na, ne], beside the next assets ``a_k`` [na, ne]."""
    a = agrid.a
    tc = 1.0 + fiscal.tau_c
    weh = _labour_wage(hh, prices, ability)[None, :]
    EVa = Va_next @ ability.P.T  # [k, j]: E[Va(a'_k, e') | e_j]
    c_endo = hh.u_c_inv(hh.beta * EVa * tc)
    return a, tc, weh, c_endo, np.broadcast_to(a[:, None], c_endo.shape)


def egm_step(
    hh, fiscal, prices, agrid, ability, Va_next, warm=None, exact: bool = False, newton: int = 50
):
    """One step of the endogenous grid method: this period's policy given next period's
    marginal value of assets ``Va_next`` [na, ne] on the grid.

    Saving and hours are interpolated from the endogenous points and consumption follows
    from the budget; ``exact`` re-solves hours (and consumption) from the interpolated
    saving so that the labour condition holds exactly too. Where the borrowing limit binds,
    hours and consumption solve the static problem with ``a' = a_min``. ``newton`` caps the
    Newton iterations for the endogenous points (a stationary solve takes one per step once
    warm: the points then converge together with the policy). Returns a dict with
    ``c, f, a_next, Va`` [na, ne] and the endogenous points (for warm starts). A policy
    with an income-tax schedule goes to :func:`_egm_step_schedule`.
    """
    if fiscal.brackets is not None:
        return _egm_step_schedule(hh, fiscal, prices, agrid, ability, Va_next, warm, exact)
    t = _egm_terms(hh, fiscal, prices, agrid, ability, warm)
    a, tc, weh, a_k = t.a, t.tc, t.weh, t.a_k
    EVa = Va_next @ t.PT  # [k, j]: E[Va(a'_k, e') | e_j]  (as _euler_points)
    c_endo = hh.u_c_inv(hh.beta * EVa * tc)
    if warm is None:
        f0 = np.full(c_endo.shape, 0.3 if hh.labour is None else hh.labour)
        a0 = a_k.copy()
    else:
        a0, f0 = warm["a_endo"], warm["f_endo"]
    a_endo, f_endo = _endogenous_points(hh, fiscal, prices, c_endo, a_k, weh, a0, f0, newton)
    where = _ColumnInterp.of(a, a_endo, None if warm is None else warm.get("interp"))
    a_next, f = _interp_cols(a, a_endo, [a_k, f_endo], where)
    f = f.clip(hh.f_lo, hh.f_hi) if hh.labour is None else f
    # the borrowing limit binds (a <= the first endogenous point): in the first rows only
    rows = int(np.searchsorted(a, a_endo[0].max(), side="right"))
    bound = a[:rows, None] <= a_endo[0][None, :]
    any_bound = bool(bound.any())
    a_next = np.maximum(a_next, a[0])
    if any_bound:
        a_next[:rows] = np.where(bound, a[0], a_next[:rows])
    if exact:
        f, c, x_a = _static_choice(hh, fiscal, prices, a[:, None], a_next, weh, f)
    else:
        # _budget at the grid's assets, with its terms in assets made once per policy
        r = prices.r
        y = weh * f
        T, T1, _ = _income_tax3(fiscal, y + t.ra, 1)
        x = y + t.a1r - T - t.Ta
        if prices.tr != 0.0:
            x = x + prices.tr
        x_a = 1.0 + r - r * T1 - t.Ta1
        c = (x - a_next) / tc
        if any_bound:
            # the static choice at a' = a_min does not change between steps: solved once
            at_min = t.at_min(rows)
            for z, z_min in zip((f, c, x_a), at_min, strict=True):
                z[:rows] = np.where(bound, z_min[:rows], z[:rows])
    Va = hh.u_c(c) / tc * x_a
    return {"c": c, "f": f, "a_next": a_next, "Va": Va, "a_endo": a_endo, "f_endo": f_endo,
            "interp": where, "terms": t}  # fmt: skip


class _EgmTerms:
    """What the EGM steps of one problem share (E6 income tax): the grid's terms of
    :func:`_budget` that do not depend on hours, the pay per unit of work share, each full
    [na, ne] (numpy is much slower broadcasting a row of 7 than on whole arrays), and the
    static choice at ``a' = a_min``; kept in the steps' warm dicts."""

    def __init__(self, key, hh, fiscal, prices, agrid, ability):
        self.key = key
        self.hh, self.fiscal, self.prices, self.agrid = hh, fiscal, prices, agrid
        a = self.a = agrid.a
        shape = (agrid.n, ability.n)
        self.tc = 1.0 + fiscal.tau_c
        self.PT = ability.P.T
        full = partial(_full, shape)
        self.weh1 = _labour_wage(hh, prices, ability)[None, :]
        self.weh = full(self.weh1)
        self.a_k = full(a[:, None])
        Ta, Ta1 = _grid_asset_tax(fiscal, a)
        self.ra, self.a1r = full(prices.r * a[:, None]), full((1.0 + prices.r) * a[:, None])
        self.Ta, self.Ta1 = full(Ta), full(Ta1)
        self._at_min = None

    def at_min(self, rows: int):
        """The static choice (f, c, x_a) at ``a' = a_min`` of the first ``rows`` asset points
        at least (made for twice as many when more are asked for)."""
        if self._at_min is None or self._at_min[0].shape[0] < rows:
            rows = min(max(2 * rows, 8), self.agrid.n)
            a = self.a[:rows, None]
            self._at_min = _static_choice(
                self.hh, self.fiscal, self.prices, a, self.a[0], self.weh1
            )
        return self._at_min


def _full(shape, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(x, shape))


def _egm_terms(hh, fiscal, prices, agrid, ability, warm) -> _EgmTerms:
    """The :class:`_EgmTerms` of the problem: the warm dict's if it is the same problem."""
    key = (hh, fiscal, prices, agrid, ability.e.tobytes(), ability.P.tobytes())
    t = None if warm is None else warm.get("terms")
    if t is None or t.key != key:
        t = _EgmTerms(key, hh, fiscal, prices, agrid, ability)
    return t


def _solve_assets(fiscal: Fiscal, rhs, slope):
    """Assets ``a`` with ``slope a - Tax_a(a) = rhs`` (E6 asset tax: Newton's method from the
    untaxed solution; exact without an asset tax)."""
    a = rhs / slope
    if fiscal.tau_a == 0.0:
        return a
    for _ in range(50):
        Ta, Ta1, _ = _tax3(a, fiscal.tau_a, fiscal.xi_a, 1)
        da = -(slope * a - Ta - rhs) / (slope - Ta1)
        a = a + da
        if np.max(np.abs(da) / (1.0 + np.abs(a)), initial=0.0) <= 1e-14:
            break
    return a


def _endogenous_schedule(hh, fiscal, prices, c, a_next, weh):
    """Candidate endogenous points of a piecewise-linear income tax, at which consumption
    ``c`` and saving ``a_next`` [na, ne] are optimal: (a, f, effective rate, violation),
    each [n_candidates, na, ne].

    For each segment q of the schedule: f from the labour condition at its rate ``m_q``
    (within [f_lo, f_hi]), then assets from the budget, where the tax is linear; consistent
    when income lands in the segment. For each kink t where the rate rises (bunching): assets
    from the budget with income exactly t, ``f = (t - r a)/weh``; consistent when the
    shadow rate ``1 - chi f^(1/phi)/(lam weh)`` lies between the two adjacent rates and f in
    its bounds. ``violation`` measures the inconsistency (0 when consistent). With a convex
    schedule the household's problem at given ``c`` is concave: exactly one candidate is
    consistent (two at a boundary between a segment and a kink, where they coincide).
    """
    sc = fiscal.schedule
    tc = 1.0 + fiscal.tau_c
    lam = hh.u_c(c) / tc
    M = tc * c + a_next
    r, tr = prices.r, prices.tr
    col = (slice(None), None, None)
    m, b = sc.m[col], sc.b[col]
    edges = np.concatenate([[-np.inf], sc.kinks, [np.inf]])
    # each segment: hours from the labour condition at its rate, assets from the budget
    if hh.labour is not None:
        f = np.full((len(sc.m),) + c.shape, float(hh.labour))
    else:
        base = lam * weh / hh.chi
        f = np.sqrt(base * (1.0 - m)) if hh.phi == 0.5 else (base * (1.0 - m)) ** hh.phi
        f = np.clip(f, hh.f_lo, hh.f_hi)
    y = weh * f
    a = _solve_assets(fiscal, M - y * (1.0 - m) + b - tr, 1.0 + r * (1.0 - m))
    inc = y + r * a
    viol = np.maximum(np.maximum(edges[:-1][col] - inc, inc - edges[1:][col]), 0.0)
    A, F, TAU, V = [a], [f], [np.broadcast_to(m, f.shape)], [viol / (1.0 + np.abs(inc))]
    rising = np.nonzero(np.diff(sc.m) > 0)[0]
    if hh.labour is None and len(rising):  # bunching at each kink where the rate rises
        t = sc.kinks[rising][col]
        lo, hi = sc.m[rising][col], sc.m[rising + 1][col]
        a = _solve_assets(fiscal, M - t + (sc.b[rising + 1][col] + hi * t) - tr, 1.0)
        f = (t - r * a) / weh
        shadow = 1.0 - hh.v_f(np.maximum(f, 0.0)) / (lam * weh)
        viol = np.maximum(np.maximum(lo - shadow, shadow - hi), 0.0)
        viol = viol + np.maximum(np.maximum(hh.f_lo - f, f - hh.f_hi), 0.0)
        A, F, TAU, V = A + [a], F + [f], TAU + [shadow], V + [viol]
    return tuple(np.concatenate(x) for x in (A, F, TAU, V))


def _egm_step_schedule(hh, fiscal, prices, agrid, ability, Va_next, warm=None, exact=False):
    """:func:`egm_step` under a piecewise-linear income tax (see :func:`_endogenous_schedule`).

    Saving, hours and the effective marginal rate are interpolated from the endogenous
    points (hours are linear in assets along a kink, so bunching is interpolated exactly);
    consumption follows from the budget, the marginal value of assets from the effective
    rate. ``exact``, and points where the borrowing limit binds, solve hours exactly
    (:func:`_hours_schedule`).
    """
    a, tc, weh, c_endo, a_k = _euler_points(hh, fiscal, prices, agrid, ability, Va_next)
    A, F, TAU, viol = _endogenous_schedule(hh, fiscal, prices, c_endo, a_k, weh)
    if not fiscal.schedule.convex and hh.labour is None:
        return _envelope_step(hh, fiscal, prices, agrid, ability, warm, A, viol)
    pick = np.argmin(viol, axis=0)[None]  # the consistent candidate (the least inconsistent)
    a_endo, f_endo, tau_endo = (np.take_along_axis(x, pick, 0)[0] for x in (A, F, TAU))
    a_next, f, tau = _interp_cols(a, a_endo, [a_k, f_endo, tau_endo])
    f = np.clip(f, hh.f_lo, hh.f_hi) if hh.labour is None else f
    bound = a[:, None] <= a_endo[0][None, :]  # the borrowing limit binds
    a_next = np.where(bound, a[0], np.maximum(a_next, a[0]))
    if exact:
        f, c, x_a = _static_choice(hh, fiscal, prices, a[:, None], a_next, weh)
    else:
        x = cash_on_hand(fiscal, prices, a[:, None], weh * f)
        c = (x - a_next) / tc
        Ta1 = _grid_asset_tax(fiscal, a)[1]
        x_a = 1.0 + prices.r - prices.r * tau - Ta1
        if bound.any():
            # the static problem at a' = a_min does not change between steps: solved once
            at_min = _at_min(hh, fiscal, prices, agrid, ability, warm)
            f, c, x_a = (np.where(bound, m, x) for m, x in zip(at_min[1], (f, c, x_a), strict=True))
    Va = hh.u_c(c) / tc * x_a
    out = {"c": c, "f": f, "a_next": a_next, "Va": Va, "a_endo": a_endo, "f_endo": f_endo}
    if not exact and bound.any():
        out["at_min"] = at_min
    return out


def _at_min(hh, fiscal, prices, agrid, ability, warm):
    """The static choice (f, c, x_a) [na, ne] of every state at ``a' = a_min``, kept in the
    EGM steps' warm dict (it does not change between steps): (key, arrays)."""
    key = (hh, fiscal, prices, agrid, ability.e.tobytes())
    at_min = None if warm is None else warm.get("at_min")
    if at_min is None or at_min[0] != key:
        weh = _labour_wage(hh, prices, ability)[None, :]
        at_min = (key, _static_choice(hh, fiscal, prices, agrid.a[:, None], agrid.a[0], weh))
    return at_min


def _envelope_step(hh, fiscal, prices, agrid, ability, warm, A, violation):
    """An EGM step under a schedule whose marginal rate falls somewhere (not convex).

    There the household's problem is not concave: at a given consumption several
    candidates of :func:`_endogenous_schedule` can be consistent, each optimal for its own
    assets, and for given assets several savings can satisfy the Euler equation. As in the
    endogenous grid method for discrete-continuous choices (Iskhakov, Joergensen, Rust and
    Schjerning 2017), every segment between consistent endogenous points of consecutive
    savings (in any segments of the schedule or kinks) proposes a saving for the grid
    assets it spans, by linear interpolation; so do ``a' = a_min`` and last step's saving.
    Each proposal is valued exactly, hours solved by :func:`_hours_schedule` (global over
    the segments) and next period's value interpolated, and the best is kept: the upper
    envelope. Needs next period's value ``warm["V"]`` (a first guess if absent).
    """
    a = agrid.a
    na, ne = len(a), ability.n
    tc = 1.0 + fiscal.tau_c
    weh = _labour_wage(hh, prices, ability)
    V_next = None if warm is None else warm.get("V")
    if V_next is None or V_next.shape != (na, ne):  # a first guess: keep assets where they are
        f0, c0, _ = _static_choice(hh, fiscal, prices, a[:, None], a[:, None], weh[None, :])
        V_next = (hh.u(c0) - hh.v(f0)) / (1.0 - hh.beta)
    EV = V_next @ ability.P.T  # [k, j]: E[V(a'_k, e') | e_j]
    valid = violation <= 1e-12
    least = np.argmin(violation, axis=0)
    valid[least, np.arange(na)[:, None], np.arange(ne)[None, :]] |= ~valid.any(0)
    # the consistent candidates of each point first: [n_most, na, ne]
    n_most = int(valid.sum(0).max())
    which = np.argsort(~valid, axis=0, kind="stable")[:n_most]
    ok = np.take_along_axis(valid, which, 0)
    A = np.take_along_axis(A, which, 0)
    pieces = []
    for v0, v1 in itertools.product(range(n_most), repeat=2):  # consecutive consistent points
        kk, jj = np.nonzero(ok[v0, :-1] & ok[v1, 1:])
        pieces.append((A[v0, kk, jj], A[v1, kk + 1, jj], kk, jj))
    a0, a1, k0, jj = (np.concatenate(x) for x in zip(*pieces, strict=True))
    ap0, ap1 = a[k0], a[k0 + 1]
    lo_a, hi_a = np.minimum(a0, a1), np.maximum(a0, a1)
    hi_a = np.where((k0 + 1 == na - 1) & (a1 > a0), np.inf, hi_a)  # extrapolate at the top
    i_lo, i_hi = np.searchsorted(a, lo_a, "left"), np.searchsorted(a, hi_a, "right")
    n = np.maximum(i_hi - i_lo, 0)
    seg = np.repeat(np.arange(len(n)), n)
    ii = i_lo[seg] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(a1 != a0, (ap1 - ap0) / (a1 - a0), 0.0)
    ap = np.maximum(ap0[seg] + (a[ii] - a0[seg]) * slope[seg], a[0])
    jj = jj[seg]
    prev = None if warm is None else warm.get("a_next")
    if prev is not None and prev.shape == (na, ne):
        gi, gj = np.nonzero(np.ones((na, ne), dtype=bool))
        ii, jj, ap = (
            np.concatenate([ii, gi]),
            np.concatenate([jj, gj]),
            np.concatenate([ap, prev.ravel()]),
        )
    f, c, x_a = _static_choice(hh, fiscal, prices, a[ii], ap, weh[jj])
    lo, w = agrid.locate(ap, extrapolate=True)
    val = hh.u(c) - hh.v(f) + hh.beta * _lerp(EV, lo, w, jj)
    # the borrowing limit, a candidate for every state
    at_min = _at_min(hh, fiscal, prices, agrid, ability, warm)
    f_m, c_m, x_m = at_min[1]
    val_m = hh.u(c_m) - hh.v(f_m) + hh.beta * EV[0][None, :]
    idx = np.concatenate([ii * ne + jj, np.arange(na * ne)])
    vals = np.concatenate([val, val_m.ravel()])
    o = np.lexsort((-vals, idx))
    best = o[np.unique(idx[o], return_index=True)[1]]  # the best candidate of each state

    def pick(x, x_min):
        return np.concatenate([x, x_min.ravel()])[best].reshape(na, ne)

    f, c, x_a = pick(f, f_m), pick(c, c_m), pick(x_a, x_m)
    a_next = pick(ap, np.full((na, ne), a[0]))
    Va = hh.u_c(c) / tc * x_a
    V = vals[best].reshape(na, ne)
    return {"c": c, "f": f, "a_next": a_next, "Va": Va, "V": V, "at_min": at_min}


def _initial_marginal_value(hh, fiscal, prices, agrid, ability) -> np.ndarray:
    """A first guess: consume the period's return on assets plus labour income at f = 1/3."""
    a = agrid.a[:, None]
    weh = _labour_wage(hh, prices, ability)[None, :]
    f = np.full_like(a * weh, 1 / 3 if hh.labour is None else hh.labour)
    x, _, x_a, _ = _budget(fiscal, prices, a, weh * f, 1)
    c = np.maximum(x - a, 0.5 * x) / (1.0 + fiscal.tau_c)
    return hh.u_c(c) / (1.0 + fiscal.tau_c) * x_a


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
    x = float(cash_on_hand(fiscal, prices, 0.0, prices.W * float(ability.e.min()) * hh.h_max
                           * f_top))  # fmt: skip
    if not x > 0:
        raise InfeasibleError(
            f"cash on hand {x:.4g} <= 0 for the least able household without assets at "
            f"{prices}: the lump-sum transfer is a tax larger than its pay"
        )


#: Who hears of each solver step (see :func:`solver_progress`); a side channel for progress
#: only, so that cached solvers (``functools.lru_cache``) need no callable argument.
_SOLVER_PROGRESS: contextvars.ContextVar[Callable[[str, int, str], None] | None] = (
    contextvars.ContextVar("smfg_solver_progress", default=None)
)


@contextlib.contextmanager
def solver_progress(report: Callable[[str, int, str], None] | None) -> Iterator[None]:
    """Within the block, ``report(solver, step, detail)`` hears of every step of the
    stationary solvers (the env-timing best response, the equilibrium's evaluations of the
    capital market): for progress on long certifications; it changes no result."""
    token = _SOLVER_PROGRESS.set(report)
    try:
        yield
    finally:
        _SOLVER_PROGRESS.reset(token)


def report_step(solver: str, step: int, detail: str) -> None:
    """Tell the reporter of :func:`solver_progress`, if any, of one solver step."""
    report = _SOLVER_PROGRESS.get()
    if report is not None:
        report(solver, step, detail)


def solve_known(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    tol: float = 1e-10,
    max_iter: int = 5000,
    init: Solution | None = None,
    value: bool = True,
) -> Solution:
    """The stationary problem in the ``known`` timing by the endogenous grid method.

    Iterates EGM steps until consumption changes by less than ``tol`` (relative, sup norm).
    ``init``: a solution to start from (e.g. at nearby prices). ``value``: also compute the
    value function (policy evaluation), needed for welfare comparisons.
    The iteration contracts at about beta per step, slowest for the richest households.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is not None and init.info.get("warm") is not None:
        # the iteration's own last step (the final exact step is another operator, whose
        # marginal value differs by the interpolation error: no warm start from it)
        warm = init.info["warm"]
        Va = warm["Va"]
    elif init is not None and init.Va is not None:
        Va, warm = init.Va, None
    else:
        Va = _initial_marginal_value(hh, fiscal, prices, agrid, ability)
        warm = None
    c_old = None
    converged = False
    for it in range(1, max_iter + 1):
        step = egm_step(hh, fiscal, prices, agrid, ability, Va, warm, newton=50 if it < 10 else 1)
        Va, warm = step["Va"], step
        c = step["c"]
        if c_old is not None and np.max(np.abs(c - c_old) / c) < tol:
            converged = True
            break
        c_old = c
        if it % 100 == 0:
            report_step("household EGM", it, f"of at most {max_iter} iterations (tol {tol:g})")
    # a last step with hours re-solved exactly from the saving rule
    step = egm_step(hh, fiscal, prices, agrid, ability, Va, warm, exact=True)
    c, Va = step["c"], step["Va"]
    weh = _labour_wage(hh, prices, ability)
    x = cash_on_hand(fiscal, prices, agrid.a[:, None], weh * step["f"])
    sol = Solution(
        "known", hh, fiscal, prices, agrid, ability, s=step["a_next"] / x, f=step["f"],
        V=np.zeros_like(c), c=c, a_next=step["a_next"], Va=Va, iterations=it,
        converged=converged, info={"warm": warm},
    )  # fmt: skip
    if value:
        sol.V, sol.info["Vc"], sol.info["Vh"] = value_known(sol)
    sol.seconds = time.perf_counter() - t0
    return sol


def solve_known_path(
    hh: Household,
    fiscals: list[Fiscal],
    prices: list[Prices],
    agrid: AssetGrid,
    ability: AbilityGrid,
    terminal: Solution | None = None,
) -> list[dict]:
    """Backward induction in the ``known`` timing along a path of prices and policies.

    ``prices[t]`` and ``fiscals[t]`` hold in period t = 0..T-1. After T the household lives
    on with ``terminal``'s marginal value of assets, or, if None, period T-1 is its last
    (it saves nothing). Returns the policy of each period (dicts of ``c, f, a_next, Va``).
    """
    T = len(prices)
    if len(fiscals) != T or T < 1:
        raise ValueError(f"{len(fiscals)} fiscal policies for {T} periods: allowed equal, >= 1")
    a = agrid.a[:, None]
    out: list[dict] = [{}] * T
    if terminal is not None:
        Va = terminal.Va
    else:  # last period: consume all cash at the optimal hours
        fl, pr = fiscals[-1], prices[-1]
        weh = _labour_wage(hh, pr, ability)[None, :]
        zero = np.zeros_like(a * weh)
        f, c, x_a = _static_choice(hh, fl, pr, a, zero, weh)
        Va = hh.u_c(c) / (1.0 + fl.tau_c) * x_a
        out[-1] = {"c": c, "f": f, "a_next": zero, "Va": Va}
    warm = None
    for t in range(T - 1 if terminal is None else T, 0, -1):
        step = egm_step(hh, fiscals[t - 1], prices[t - 1], agrid, ability, Va, warm, exact=True)
        out[t - 1] = step
        Va, warm = step["Va"], step
    return out


# --- values and policy evaluation ----------------------------------------------------------


def _evaluate(R_parts, lo, w, P_weights, beta, tol=1e-12, max_iter=100_000):
    """Solve ``V = R + beta M V`` for a fixed policy, for each reward array in ``R_parts``.

    The policy's transition goes from state (i, j) to asset node lo[i, j, k] (weight 1 - w)
    and lo + 1 (weight w), and ability state k with probability P_weights[i, j, k]. A sparse
    direct solve when scipy is installed (it is with the book and test extras), else value
    iteration stopped by McQueen-Porteus bounds. Returns one [na, ne] array per part.
    """
    na, ne = R_parts[0].shape
    lo = np.broadcast_to(lo, P_weights.shape)
    w = np.broadcast_to(w, P_weights.shape)
    try:
        from scipy.sparse import csr_matrix, identity
        from scipy.sparse.linalg import splu
    except ImportError:  # pragma: no cover - scipy is in the book and test extras
        splu = None
    if splu is not None:
        n = na * ne
        k = np.arange(ne)[None, None, :]
        rows = np.broadcast_to(np.arange(n).reshape(na, ne, 1), P_weights.shape)
        cols0 = lo * ne + k
        data = np.concatenate([(P_weights * (1.0 - w)).ravel(), (P_weights * w).ravel()])
        M = csr_matrix(
            (data, (np.concatenate([rows.ravel()] * 2),
                    np.concatenate([cols0.ravel(), (cols0 + ne).ravel()]))),
            shape=(n, n),
        )  # fmt: skip
        # the natural order (assets, then ability) keeps the fill-in small
        lu = splu((identity(n, format="csc") - beta * M).tocsc(), permc_spec="NATURAL")
        return [lu.solve(R.ravel()).reshape(na, ne) for R in R_parts]
    col = np.arange(ne)[None, None, :]
    w0, w1 = P_weights * (1.0 - w), P_weights * w
    out = []
    for R in R_parts:
        V = R / (1.0 - beta)
        for _ in range(max_iter):
            V_new = R + beta * (w0 * V[lo, col] + w1 * V[lo + 1, col]).sum(-1)
            d = V_new - V
            V = V_new
            # the fixed point lies within V_new + beta/(1-beta) [min d, max d]
            if beta / (1.0 - beta) * (d.max() - d.min()) <= tol * (1.0 + np.abs(V).max()):
                V = V + beta / (1.0 - beta) * 0.5 * (d.max() + d.min())
                break
        out.append(V)
    return out


def value_known(sol: Solution, tol: float = 1e-12):
    """Value of a ``known``-timing solution's policy: (V, consumption part, labour part)."""
    hh, ab = sol.household, sol.ability
    lo, w = sol.agrid.locate(sol.a_next)
    ne = ab.n
    lo3 = np.broadcast_to(lo[:, :, None], lo.shape + (ne,))
    w3 = np.broadcast_to(w[:, :, None], w.shape + (ne,))
    Pw = np.broadcast_to(ab.P[None, :, :], lo.shape + (ne,))
    Vc, Vh = _evaluate([hh.u(sol.c), -hh.v(sol.f)], lo3, w3, Pw, hh.beta, tol=tol)
    return Vc + Vh, Vc, Vh


def euler_errors(sol: Solution, points: int | None = None, a_upper: float | None = None):
    """Euler equation errors ``log10 |1 - c_implied / c|`` of a ``known`` solution [m, ne].

    Evaluated off the grid (at the midpoints of the grid, or ``points`` even points) up to
    ``a_upper`` (default: the grid's 90th percentile point), where the policy is interpolated
    as the solver would. ``c_implied`` is what the Euler equation asks for given the policy
    next period. Points where the borrowing limit binds (the Euler equation holds as an
    inequality there) are NaN. Under a schedule hours are solved exactly (bunching at kinks
    included) and the marginal value of assets of a bunched household uses its shadow rate.
    """
    if sol.timing != "known":
        raise ValueError("euler_errors: allowed a 'known'-timing solution")
    hh, fl, pr, ag, ab = sol.household, sol.fiscal, sol.prices, sol.agrid, sol.ability
    a_upper = ag.a[int(0.9 * (ag.n - 1))] if a_upper is None else a_upper
    if points is None:
        mids = 0.5 * (ag.a[1:] + ag.a[:-1])
        x = mids[mids <= a_upper]
    else:
        x = np.linspace(ag.a[0], a_upper, points)
    tc = 1.0 + fl.tau_c
    weh = _labour_wage(hh, pr, ab)[None, :]
    cols = np.arange(ab.n)[None, :]
    lo, w = ag.locate(x[:, None] * np.ones((1, ab.n)))
    a_next = _lerp(sol.a_next, lo, w, cols)
    f, c = _hours_given_saving(hh, fl, pr, x[:, None], a_next, weh, _lerp(sol.f, lo, w, cols))
    lo2, w2 = ag.locate(a_next, extrapolate=True)
    # next period's policy at a_next for every ability state k: [m, j, k]
    lo3 = np.broadcast_to(lo2[:, :, None], lo2.shape + (ab.n,))
    w3 = np.broadcast_to(w2[:, :, None], w2.shape + (ab.n,))
    kk = np.arange(ab.n)[None, None, :]
    a_nn = _lerp(sol.a_next, lo3, w3, kk)
    f_n, c_n, x_a_n = _static_choice(
        hh, fl, pr, a_next[:, :, None], a_nn, weh[:, None, :], _lerp(sol.f, lo3, w3, kk)
    )
    Va_n = hh.u_c(c_n) / tc * x_a_n
    EVa = (ab.P[None, :, :] * Va_n).sum(-1)
    c_implied = hh.u_c_inv(hh.beta * EVa * tc)
    err = np.log10(np.abs(1.0 - c_implied / c) + 1e-17)
    return np.where(a_next <= ag.a[0] + 1e-12, np.nan, err)


# --- the env timing: policy iteration ------------------------------------------------------


def env_outcomes(hh, fiscal, prices, agrid, ability, s, f):
    """Cash, consumption and next assets per realised ability, [na, ne(observed), ne(drawn)],
    for shares ``s, f`` [na, ne] chosen at (assets, last period's ability)."""
    a = agrid.a[:, None, None]
    weh = _labour_wage(hh, prices, ability)[None, None, :]
    x = cash_on_hand(fiscal, prices, a, weh * f[:, :, None])
    c = (1.0 - s[:, :, None]) * x / (1.0 + fiscal.tau_c)
    return x, c, s[:, :, None] * x


def _env_shares(hh: Household, s, f):
    s = np.clip(s, hh.s_lo, hh.s_hi)
    f = np.clip(f, hh.f_lo, hh.f_hi) if hh.labour is None else np.full_like(s, hh.labour)
    return s, f


def value_env(hh, fiscal, prices, agrid, ability, s, f, tol: float = 1e-12):
    """Value of shares ``s, f`` [na, ne] in the ``env`` timing: (V, consumption part, labour
    part), each [na, ne], by policy evaluation on the grid (next assets interpolated
    linearly, and held at ``a_max`` above it)."""
    s, f = _env_shares(hh, s, f)
    x, c, a_next = env_outcomes(hh, fiscal, prices, agrid, ability, s, f)
    P3 = np.broadcast_to(ability.P[None, :, :], c.shape)
    Rc = (P3 * hh.u(c)).sum(-1)
    Rh = -hh.v(f)
    lo, w = agrid.locate(a_next)
    Vc, Vh = _evaluate([Rc, Rh], lo, w, P3, hh.beta, tol=tol)
    return Vc + Vh, Vc, Vh


_MAGIC = 1.5 * 2.0**52  # t + _MAGIC rounds t to an integer, read from the low bits
_MAGIC_BITS = int(np.array(_MAGIC).view(np.int64))


@dataclass
class _EnvCash:
    """Cash on hand of a set of states at work shares ``f`` [m]: ``X`` [ne(drawn), m], the
    disutility of work ``vf`` [m], and whether every consumption share of it stays above the
    utility's floor (so the floor need not be applied)."""

    X: np.ndarray
    vf: np.ndarray
    floor_free: bool
    positive: bool
    """Whether all cash is positive (so are next assets)."""

    def subset(self, rel: np.ndarray) -> _EnvCash:
        return _EnvCash(self.X[:, rel], self.vf[rel], self.floor_free, self.positive)


class _EnvStates:
    """The env-timing objective ``Q(s, f) = E[u(c) + beta V(a')] - v(f)`` at a set of states
    (all ``na ne`` of them, flattened as ``s.ravel()``, or a subset), for the next-period
    value V of :meth:`set_value`; arrays are [ne(drawn), m] over the drawn ability and the
    states, so that the expectation is a sum over the first axis.

    ``V(a')`` is linear between the asset grid's points and held at ``a_max`` above it, as
    :meth:`AssetGrid.locate` and :func:`_lerp` make it: here each segment is stored as its
    line (intercept and slope, times beta) and the segment found from the grid's analytic
    inverse by rounding, so one evaluation costs two gathers; with preallocated buffers
    (fresh arrays of this size cost page faults). Equal to the per-point definition up to
    rounding.
    """

    def __init__(self, hh, fiscal, prices, agrid, ability, parent=None, rel=None):
        self.hh, self.fiscal, self.prices, self.agrid = hh, fiscal, prices, agrid
        self.ability = ability
        if parent is None:
            na, ne = agrid.n, ability.n
            a = np.repeat(agrid.a, ne)  # assets of each state [na ne]
            j = np.tile(np.arange(ne), na)  # its (observed) ability state
            self.weh = _labour_wage(hh, prices, ability)[:, None]  # [ne, 1]
            self.Pk = np.ascontiguousarray(ability.P[j].T)  # [ne, m]: P[j(state), k]
            self.ra, self.a1r = prices.r * a, (1.0 + prices.r) * a
            self.Ta = _tax3(a, fiscal.tau_a, fiscal.xi_a, 0)[0]
            self.koff = (np.arange(ne) * na - _MAGIC_BITS)[:, None]  # k na, less the magic
            self.tab_B = self.tab_S = None
        else:
            self.weh, self.koff = parent.weh, parent.koff
            self.Pk = np.ascontiguousarray(parent.Pk[:, rel])
            self.ra, self.a1r, self.Ta = parent.ra[rel], parent.a1r[rel], parent.Ta[rel]
            self.tab_B, self.tab_S = parent.tab_B, parent.tab_S
        self.m = self.Pk.shape[1]
        self.ne = self.Pk.shape[0]
        self.tc = 1.0 + fiscal.tau_c
        self.shift, self.a_max = agrid.shift, float(agrid.a[-1])
        self.inv_du = 1.0 / agrid.du
        self.c0 = math.log(agrid.shift) * self.inv_du + 0.5
        self._buf = None

    def subset(self, rel: np.ndarray) -> _EnvStates:
        """The states ``rel`` (indices into this set's states)."""
        return _EnvStates(self.hh, self.fiscal, self.prices, self.agrid, self.ability,
                          parent=self, rel=rel)  # fmt: skip

    def set_value(self, V: np.ndarray) -> None:
        """Next period's value V [na, ne]: the lines of its segments, times beta, as tables
        indexed by ``k na + lo`` (the segment above ``a_max`` held at ``V(a_max)``)."""
        a = self.agrid.a
        with np.errstate(divide="ignore", invalid="ignore"):
            S = (V[1:] - V[:-1]) / (a[1:] - a[:-1])[:, None]
        B = V[:-1] - a[:-1, None] * S
        beta = self.hh.beta
        self.tab_B = (beta * np.concatenate([B, V[-1:]])).T.ravel()
        self.tab_S = (beta * np.concatenate([S, np.zeros((1, V.shape[1]))])).T.ravel()

    def cash(self, f: np.ndarray) -> _EnvCash:
        """Cash on hand at work shares ``f`` [m] (E20, as :func:`cash_on_hand`)."""
        y = self.weh * f
        T = _income_tax3(self.fiscal, y + self.ra, 0)[0]
        X = y + self.a1r - T - self.Ta
        if self.prices.tr != 0.0:
            X = X + self.prices.tr
        low = float(X.min())
        floor_free = (1.0 - self.hh.s_hi) * low / self.tc > _C_FLOOR
        return _EnvCash(X, self.hh.v(f), bool(floor_free), bool(low > 0.0))

    def q(self, s: np.ndarray, cash: _EnvCash) -> np.ndarray:
        """The objective at saving shares ``s`` [m] and the work shares of ``cash``."""
        if self._buf is None:
            shape = (self.ne, self.m)
            self._buf = (np.empty(shape), np.empty(shape), np.empty(shape),
                         np.empty(shape, dtype=np.int64))  # fmt: skip
        b1, b2, b3, ib = self._buf
        X = cash.X
        np.multiply(X, s, out=b1)  # next assets, held in [0, a_max]
        np.minimum(b1, self.a_max, out=b1)
        if not cash.positive:
            np.maximum(b1, 0.0, out=b1)
        np.add(b1, self.shift, out=b2)  # the segment: floor of log1p(a'/shift)/du
        np.log(b2, out=b2)
        np.multiply(b2, self.inv_du, out=b2)
        np.subtract(b2, self.c0, out=b2)
        np.add(b2, _MAGIC, out=b2)
        np.add(b2.view(np.int64), self.koff, out=ib)  # k na + lo
        self.tab_B.take(ib, out=b2, mode="clip")
        self.tab_S.take(ib, out=b3, mode="clip")
        np.multiply(b3, b1, out=b3)
        np.add(b2, b3, out=b2)  # beta V(a')
        hh = self.hh
        if hh.sigma == 2.0 and cash.floor_free:  # u(c) = -1/c, c = (1 - s) x / (1 + tau_c)
            np.divide(-self.tc / (1.0 - s), X, out=b1)
        else:
            np.multiply(X, (1.0 - s) * (1.0 / self.tc), out=b1)
            b1 = hh.u(b1)
        np.add(b1, b2, out=b1)
        np.multiply(b1, self.Pk, out=b1)
        return b1.sum(0) - cash.vf


def _search(factory, old, lo_bound, hi_bound, half_width, tol):
    """Golden section in [old - half_width, old + half_width] within the bounds; points whose
    maximum lands on an inner edge of that bracket are searched again on the full range,
    alone. ``factory(rel)``: the objective at the states ``rel`` (indices into ``old``; None:
    all of them)."""
    lo = np.maximum(old - half_width, lo_bound)
    hi = np.minimum(old + half_width, hi_bound)
    x, fx = _golden_max(factory(None), lo, hi, tol)
    edge = ((x <= lo + 2 * tol) & (lo > lo_bound)) | ((x >= hi - 2 * tol) & (hi < hi_bound))
    if half_width < 1.0 and edge.any():
        rel = np.flatnonzero(edge)
        full = np.ones(len(rel))
        x2, fx2 = _golden_max(factory(rel), full * lo_bound, full * hi_bound, tol)
        x, fx = x.copy(), fx.copy()
        x[rel], fx[rel] = x2, fx2
    return x, fx


def _q_at_s(st: _EnvStates, cash: _EnvCash):
    """The objective in s at fixed work shares (their cash ``cash``), for :func:`_search`."""

    def factory(rel):
        if rel is None:
            return partial(st.q, cash=cash)
        return partial(st.subset(rel).q, cash=cash.subset(rel))

    return factory


def _q_at_f(st: _EnvStates, s: np.ndarray):
    """The objective in f at fixed saving shares ``s`` [m], for :func:`_search`."""

    def factory(rel):
        sub, s_sub = (st, s) if rel is None else (st.subset(rel), s[rel])
        return lambda f: sub.q(s_sub, sub.cash(f))

    return factory


def _q_best_s(st: _EnvStates, s0: np.ndarray, width: float, tol: float):
    """The objective in f of the best s at each f (golden section in s near ``s0`` [m]), for
    :func:`_search`."""
    hh = st.hh

    def factory(rel):
        sub, s_sub = (st, s0) if rel is None else (st.subset(rel), s0[rel])

        def best(f):
            return _search(_q_at_s(sub, sub.cash(f)), s_sub, hh.s_lo, hh.s_hi, width, tol)[1]

        return best

    return factory


def _golden_max(fun, lo, hi, tol):
    """Vectorised golden-section search for the maximum of a concave ``fun`` on [lo, hi],
    then the better of that and the two ends. Returns (argmax, max)."""
    a, b = lo.copy(), hi.copy()
    x1 = b - _GOLDEN * (b - a)
    x2 = a + _GOLDEN * (b - a)
    f1, f2 = fun(x1), fun(x2)
    width = max(float(np.max(hi - lo)), tol)
    n = int(math.ceil(math.log(tol / width) / math.log(_GOLDEN)))
    for _ in range(max(n, 1)):
        left = f1 >= f2  # the maximum is in [a, x2]
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x_new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_new = fun(x_new)
        x2, f2, x1, f1 = (
            np.where(left, x1, x_new),
            np.where(left, f1, f_new),
            np.where(left, x_new, x2),
            np.where(left, f_new, f2),
        )
    x = np.where(f1 >= f2, x1, x2)
    fx = np.maximum(f1, f2)
    for end in (lo, hi):
        fe = fun(end)
        better = fe > fx
        x, fx = np.where(better, end, x), np.where(better, fe, fx)
    return x, fx


def solve_env(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    tol: float = 1e-8,
    max_iter: int = 300,
    init: Solution | None = None,
    share_tol: float = 1e-8,
    sweeps: int = 40,
) -> Solution:
    """The stationary problem in the ``env`` timing (the environment's), by modified policy
    iteration.

    Each improvement maximises the objective over the saving share (golden section, f held),
    then over the work share (s held), in a bracket around the current policy that widens
    where the maximum reaches its edge; ``sweeps`` applications of the new policy's Bellman
    operator then evaluate it approximately. Once that converges, improvements search both
    shares jointly (golden section over f of the maximum over s) until it converges again:
    alternating searches can stall at a kink of the interpolated value. Convergence: the
    Bellman residual ``TV - V`` bounds the distance to the fixed point (McQueen-Porteus:
    within beta/(1-beta) times its span) by ``tol`` relative to the value's scale. The final
    policy is then evaluated exactly. Shares are not required to settle: where the objective
    is flat (the work share of the very rich) they wander within the search tolerance at no
    cost. ``init``: a solution whose shares start the iteration (default: the ``known``
    timing's at the same prices, read as shares). Under an income-tax schedule whose rate
    falls somewhere the objective in the work share need not be unimodal: golden section
    then finds a maximum near the starting (``known``-timing) policy, not necessarily the
    global one.
    """
    _check_inputs(hh, prices, ability, fiscal)
    t0 = time.perf_counter()
    if init is None:
        init = solve_known(hh, fiscal, prices, agrid, ability, tol=1e-8, value=False)
    s, f = _env_shares(hh, init.s, init.f)
    V, _, _ = value_env(hh, fiscal, prices, agrid, ability, s, f)
    na, ne = agrid.n, ability.n
    s, f, V = s.ravel(), f.ravel(), V.ravel()  # the states flattened: [na ne]
    st = _EnvStates(hh, fiscal, prices, agrid, ability)
    k = np.arange(ne)[:, None]
    sweep0, sweep1 = np.empty((ne, na * ne)), np.empty((ne, na * ne))
    width_s = width_f = 1.0
    converged = joint = False
    joint_iterations = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        st.set_value(V.reshape(na, ne))
        if hh.labour is not None:
            s_new, TV = _search(_q_at_s(st, st.cash(f)), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new = f
        elif not joint:  # alternate: s given f, then f given s
            s_new, _ = _search(_q_at_s(st, st.cash(f)), s, hh.s_lo, hh.s_hi, width_s, share_tol)
            f_new, TV = _search(_q_at_f(st, s_new), f, hh.f_lo, hh.f_hi, width_f, share_tol)
        else:  # jointly: f by golden section on the best s for each f
            ws, wf = max(width_s, 0.02), max(width_f, 0.02)
            f_new, _ = _search(_q_best_s(st, s, ws, 10 * share_tol), f, hh.f_lo, hh.f_hi, wf,
                               share_tol)  # fmt: skip
            s_new, TV = _search(_q_at_s(st, st.cash(f_new)), s, hh.s_lo, hh.s_hi, ws, share_tol)
            joint_iterations += 1
        d = TV - V
        scale = 1.0 + np.abs(V).max()
        ds, df = np.max(np.abs(s_new - s)), np.max(np.abs(f_new - f))
        s, f = s_new, f_new
        report_step("best response", it, f"Bellman span {d.max() - d.min():.3g} (tol {tol:g})")
        width_s = min(1.0, max(10.0 * ds, 1e-4))
        width_f = min(1.0, max(10.0 * df, 1e-4))
        if hh.beta / (1.0 - hh.beta) * (d.max() - d.min()) < tol * scale:
            # Alternating searches can stall where the objective has a kink (the value is
            # interpolated linearly), short of the joint maximum: finish with joint searches.
            if joint or hh.labour is not None:
                converged = True
                break
            joint = True
        # evaluate the new policy approximately: sweeps of its Bellman operator, [ne, states]
        X = st.cash(f).X
        R = (st.Pk * hh.u((1.0 - s) * X / st.tc)).sum(0) - hh.v(f)
        lo, w = agrid.locate(s * X)
        at0 = lo * ne + k  # V[lo, k] of the flat V
        at1 = at0 + ne
        W0, W1 = st.Pk * (1.0 - w), st.Pk * w
        V = TV
        for _ in range(sweeps):
            V.take(at0, out=sweep0)
            V.take(at1, out=sweep1)
            np.multiply(sweep0, W0, out=sweep0)
            np.multiply(sweep1, W1, out=sweep1)
            np.add(sweep0, sweep1, out=sweep0)
            V = R + hh.beta * sweep0.sum(0)
    s, f = s.reshape(na, ne), f.reshape(na, ne)
    _, Vc, Vh = value_env(hh, fiscal, prices, agrid, ability, s, f)
    return Solution(
        "env", hh, fiscal, prices, agrid, ability, s=s, f=f, V=Vc + Vh, iterations=it,
        seconds=time.perf_counter() - t0, converged=converged,
        info={"Vc": Vc, "Vh": Vh, "bellman_span": float(d.max() - d.min()),
              "last_share_change": float(max(ds, df)), "joint_iterations": joint_iterations},
    )  # fmt: skip


def solve(
    hh: Household,
    fiscal: Fiscal,
    prices: Prices,
    agrid: AssetGrid,
    ability: AbilityGrid,
    timing: str = "known",
    **kw,
) -> Solution:
    """Solve the stationary household problem in either timing (``TIMINGS``)."""
    if timing == "known":
        return solve_known(hh, fiscal, prices, agrid, ability, **kw)
    if timing == "env":
        return solve_env(hh, fiscal, prices, agrid, ability, **kw)
    raise ValueError(f"timing = {timing!r}: allowed {TIMINGS}")
