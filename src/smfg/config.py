"""Frozen, validated configuration: the economy's parameters and the named profiles.

Every field carries a one-line docstring. Validation in ``__post_init__`` raises
``ValueError`` naming the field, the bad value and what is allowed. Defaults are the model
chapter's (book:model-taxai for ``taxai``, book:model-clearing for ``clearing``); a field
left at ``None`` takes its variant's default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

VARIANTS = ("taxai", "clearing")
CLOSURES = ("transfer", "debt")
DTYPES = ("float64", "float32")
PROFILES = ("smoke", "quick", "paper")

#: US 2022 GDP over US population (book:model-taxai): 23,315.081e9 / 333.456e6 dollars.
US_GDP_PER_CAPITA_2022 = 23_315.081e9 / 333.456e6

# Variant-specific defaults for the fields declared ``None`` below.
_VARIANT_DEFAULTS: dict[str, dict[str, Any]] = {
    "taxai": {"alpha": 0.7445, "delta": 0.06, "A": 10.0, "money_unit": 1.0},
    "clearing": {"alpha": 0.36, "delta": 0.08, "money_unit": US_GDP_PER_CAPITA_2022},
}


def _check(cond: bool, name: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ValueError(f"EconomyParams.{name} = {value!r} is out of range: allowed {allowed}")


@dataclass(frozen=True)
class EconomyParams:
    """Parameters of one economy; ``variant`` selects the dynamics (book:model-taxai,
    book:model-clearing)."""

    variant: str = "clearing"
    """Which dynamics: 'taxai' (the paper's simulator, book:model-taxai) or 'clearing'
    (book:model-clearing)."""
    alpha: float | None = None
    """Capital exponent in production (taxai 0.7445, clearing 0.36)."""
    A: float | None = None
    """Total factor productivity (taxai 10; clearing: set so initial output per household = 1)."""
    delta: float | None = None
    """Depreciation (taxai 0.06, used by no equation; clearing 0.08)."""
    r: float = 0.04
    """Fixed interest rate of 'taxai' (E5, E9); 'clearing' prices capital by E22 instead."""
    tau_c: float = 0.065
    """Consumption tax rate."""
    T: int = 300
    """Maximum episode length in years (steps)."""
    h_max: float = 365 * 24 * (2 / 3) * (2 / 3)
    """Hours a household can work in a year (3893.3)."""
    rho_e: float = 0.982
    """Persistence of log ability (E11)."""
    sigma_e: float = 0.2
    """Standard deviation of the log-ability shock (E11)."""
    p_super: float = 2.2e-6
    """Probability of entering the superstar ability state (E11)."""
    stay_super: float = 0.99
    """Probability of staying a superstar (E11)."""
    mult_super: float = 504.3
    """Superstar ability as a multiple of the mean non-superstar ability (E11)."""
    Y0_per_capita: float = US_GDP_PER_CAPITA_2022
    """Initial output per household in dollars ('taxai' reset, book:model-reset)."""
    K0_over_Y0: float = 0.183
    """Initial capital over initial output ('taxai' reset)."""
    B0_over_Y0: float = 1.2129
    """Initial government debt over initial output ('taxai' reset)."""
    action_low: float = 0.001
    """Lower clip of every leader and household action (book:model-actions)."""
    action_high: float = 0.99
    """Upper clip of every leader and household action (book:model-actions)."""
    tau_max: float = 0.2
    """Scale of the income-tax level: tau = tau_max * c0 (E1)."""
    xi_max: float = 0.05
    """Scale of the income-tax progressivity: xi = xi_max * c1 (E1)."""
    tau_a_max: float = 0.2
    """Scale of the asset-tax level: tau_a = tau_a_max * c2 (E1)."""
    xi_a_max: float = 0.05
    """Scale of the asset-tax progressivity: xi_a = xi_a_max * c3 (E1)."""
    g_max: float = 0.3
    """Scale of spending: G = g_max * c4 * Y (E1)."""
    util_scale: float = 1000.0
    """'taxai' utility (E12): consumption is measured in units of this many dollars."""
    labor_weight: float = 10.0
    """'taxai' utility (E12): weight of the labour disutility f^3/3."""
    sigma: float = 2.0
    """'clearing' CRRA coefficient of consumption (E25)."""
    phi: float = 0.5
    """'clearing' Frisch elasticity of labour supply (E25)."""
    chi: float | None = None
    """'clearing' labour disutility weight (E25); None calibrates mean hours to h_max/3."""
    beta: float = 0.96
    """'clearing' discount factor of households."""
    b: float = 0.0
    """'clearing' fiscal rule B' = b*Y (E23); 1.2 is the US-like option."""
    closure: str = "transfer"
    """'clearing' budget closure: 'transfer' (lump-sum, E23) or 'debt' (debt absorbs the gap)."""
    debt_limit: float = 5.0
    """'clearing' with closure='debt': the episode ends when |B'/Y| exceeds this bound."""
    assets_over_output0: float | None = None
    """'clearing' initial household assets over output (default 3 + b)."""
    money_unit: float | None = None
    """Dollars per model money unit (taxai 1; clearing US GDP per capita 2022)."""

    def __post_init__(self) -> None:
        _check(self.variant in VARIANTS, "variant", self.variant, f"one of {VARIANTS}")
        for key, value in _VARIANT_DEFAULTS[self.variant].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if self.assets_over_output0 is None:
            object.__setattr__(self, "assets_over_output0", 3.0 + self.b)
        _check(0.0 < self.alpha < 1.0, "alpha", self.alpha, "0 < alpha < 1")
        _check(0.0 <= self.delta <= 1.0, "delta", self.delta, "0 <= delta <= 1")
        _check(-1.0 < self.r < 1.0, "r", self.r, "-1 < r < 1")
        _check(0.0 <= self.tau_c < 1.0, "tau_c", self.tau_c, "0 <= tau_c < 1")
        _check(isinstance(self.T, int) and self.T >= 1, "T", self.T, "an integer >= 1")
        _check(self.h_max > 0, "h_max", self.h_max, "h_max > 0")
        _check(0.0 <= self.rho_e < 1.0, "rho_e", self.rho_e, "0 <= rho_e < 1")
        _check(self.sigma_e >= 0, "sigma_e", self.sigma_e, "sigma_e >= 0")
        for name in ("p_super", "stay_super"):
            _check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "[0, 1]")
        _check(self.mult_super > 0, "mult_super", self.mult_super, "mult_super > 0")
        for name in ("Y0_per_capita", "K0_over_Y0", "util_scale", "money_unit"):
            _check(getattr(self, name) > 0, name, getattr(self, name), f"{name} > 0")
        _check(self.B0_over_Y0 >= 0, "B0_over_Y0", self.B0_over_Y0, ">= 0")
        _check(
            0.0 <= self.action_low < self.action_high <= 1.0,
            "action_low/action_high",
            (self.action_low, self.action_high),
            "0 <= action_low < action_high <= 1",
        )
        for name in ("tau_max", "tau_a_max", "g_max"):
            _check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "[0, 1]")
        for name in ("xi_max", "xi_a_max"):
            _check(0.0 <= getattr(self, name) < 1.0, name, getattr(self, name), "[0, 1)")
        _check(self.labor_weight >= 0, "labor_weight", self.labor_weight, ">= 0")
        _check(self.sigma > 0, "sigma", self.sigma, "sigma > 0")
        _check(self.phi > 0, "phi", self.phi, "phi > 0")
        _check(0.0 < self.beta < 1.0, "beta", self.beta, "0 < beta < 1")
        _check(self.b >= 0, "b", self.b, "b >= 0")
        _check(self.closure in CLOSURES, "closure", self.closure, f"one of {CLOSURES}")
        _check(self.debt_limit > 0, "debt_limit", self.debt_limit, "debt_limit > 0")
        _check(
            self.assets_over_output0 > self.b,
            "assets_over_output0",
            self.assets_over_output0,
            f"> b = {self.b} (capital K0 = assets - debt must be positive)",
        )
        if self.A is None:
            object.__setattr__(self, "A", self._clearing_tfp())
        _check(self.A > 0, "A", self.A, "A > 0")
        if self.chi is None:
            object.__setattr__(self, "chi", self._clearing_chi())
        _check(self.chi >= 0, "chi", self.chi, "chi >= 0")

    # --- calibration of the clearing economy (book:model-calibration) ----------------
    @property
    def log_ability_sd(self) -> float:
        """Standard deviation of the stationary log ability, sigma_e / sqrt(1 - rho_e^2)."""
        return self.sigma_e / math.sqrt(1.0 - self.rho_e**2)

    @property
    def mean_ability(self) -> float:
        """Mean ability at the stationary lognormal distribution, exp(sd^2 / 2)."""
        return math.exp(0.5 * self.log_ability_sd**2)

    @property
    def capital_output0(self) -> float:
        """'clearing' initial K/Y: initial assets over output minus the debt rule."""
        return self.assets_over_output0 - self.b

    def _clearing_tfp(self) -> float:
        # Y/N = A (K/N)^alpha (L/N)^(1-alpha) = 1 at K/Y = capital_output0 and mean hours
        # h_max/3 at the stationary mean ability (book:model-calibration, "TFP A").
        k = self.capital_output0
        l_per_hh = self.mean_ability * self.h_max / 3.0
        return 1.0 / (k**self.alpha * l_per_hh ** (1.0 - self.alpha))

    def _clearing_chi(self) -> float:
        # Intratemporal condition of a household with mean ability at work share 1/3 in the
        # aggregate steady state without taxes: chi f^(1/phi) = W e h_max c^(-sigma)/(1+tau_c),
        # with W e h_max = 3(1-alpha) Y/N and goods consumption c = (1 - delta K/Y) Y/N.
        f = 1.0 / 3.0
        wage_bill = 3.0 * (1.0 - self.alpha)
        c = 1.0 - self.delta * self.capital_output0
        return wage_bill * c ** (-self.sigma) / (1.0 + self.tau_c) / f ** (1.0 / self.phi)

    def replace(self, **changes: Any) -> EconomyParams:
        """A copy with some fields changed; variant defaults re-apply to fields given as None."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"EconomyParams has no field(s) {sorted(unknown)}")
        if "variant" in changes and changes["variant"] != self.variant:
            # a new variant takes its own defaults for everything variant-specific
            base = {k: None for d in _VARIANT_DEFAULTS.values() for k in d}
            base.update({"A": None, "chi": None, "assets_over_output0": None})
            base.update(changes)
            return replace(self, **base)
        return replace(self, **changes)


def economy_params(variant: str = "clearing", **overrides: Any) -> EconomyParams:
    """Build ``EconomyParams`` for a variant, with overrides by field name."""
    if variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r} is not known: allowed {VARIANTS}")
    names = {f.name for f in fields(EconomyParams)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(
            f"EconomyParams has no field(s) {sorted(unknown)}: allowed {sorted(names)}"
        )
    return EconomyParams(variant=variant, **overrides)


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of ``PROFILES``, else raise a clear ``ValueError``."""
    if profile not in PROFILES:
        raise ValueError(f"profile = {profile!r} is not known: allowed {PROFILES}")
    return profile


def check_dtype(dtype: str) -> str:
    """Return ``dtype`` if it is one of ``DTYPES``, else raise a clear ``ValueError``."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype = {dtype!r} is not known: allowed {DTYPES}")
    return dtype
