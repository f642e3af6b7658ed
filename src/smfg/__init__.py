"""smfg: Stackelberg mean field games for macroeconomic policy (arXiv 2403.12093).

A government (leader) sets taxes and spending; a large population of households (followers)
chooses saving and work; wages and interest come from markets. See the book for the model.
"""

from smfg.config import EconomyParams, economy_params

__version__ = "0.1.0"

__all__ = ["EconomyParams", "economy_params", "__version__"]
