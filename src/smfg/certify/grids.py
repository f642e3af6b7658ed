"""The household problem's grids (book:certification): the ability process E11 discretised
(Rouwenhorst or Tauchen for the log-AR(1), the superstar regime as an optional extra state)
and the asset grid, with linear interpolation on it. Numpy float64."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smfg.config import EconomyParams

ABILITY_METHODS = ("rouwenhorst", "tauchen")


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
