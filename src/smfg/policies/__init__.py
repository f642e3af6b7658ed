"""Fixed policies: who decides when nothing is learned (book:model-policies).

Government policies map (observation, last incomes) to a ``GovAction`` for E economies;
household policies map (observation, leader's raw action) to raw actions [E, H, 2]. Both
are reset with the environment after ``env.reset()``. Layering: this package imports only
``smfg.config``, ``smfg.economy`` and ``smfg.env``.
"""

from smfg.policies.base import (
    GovernmentPolicy,
    HouseholdPolicy,
    check_actions,
    check_gov_action,
    raw_from_gov_action,
)
from smfg.policies.government import (
    US_2022_RATES,
    US_2022_STANDARD_DEDUCTION,
    US_2022_THRESHOLDS,
    FreeMarket,
    USFederal2022,
    us_federal_brackets_2022,
    us_federal_tax_2022,
)
from smfg.policies.households import (
    FULL_TIME_HOURS,
    FixedShares,
    SurveyReplay,
    UniformRandom,
    survey_actions,
)
from smfg.policies.saez import (
    Saez,
    elasticity_from_flat_tax_runs,
    estimate_elasticity,
    local_pareto_parameter,
    saez_marginal_rates,
    saez_schedule,
    saez_schedule_paper,
    saez_top_rate,
)

__all__ = [
    "FULL_TIME_HOURS",
    "US_2022_RATES",
    "US_2022_STANDARD_DEDUCTION",
    "US_2022_THRESHOLDS",
    "FixedShares",
    "FreeMarket",
    "GovernmentPolicy",
    "HouseholdPolicy",
    "Saez",
    "SurveyReplay",
    "USFederal2022",
    "UniformRandom",
    "check_actions",
    "check_gov_action",
    "elasticity_from_flat_tax_runs",
    "estimate_elasticity",
    "local_pareto_parameter",
    "raw_from_gov_action",
    "saez_marginal_rates",
    "saez_schedule",
    "saez_schedule_paper",
    "saez_top_rate",
    "survey_actions",
    "us_federal_brackets_2022",
    "us_federal_tax_2022",
]
