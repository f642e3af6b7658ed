"""Production and prices (E3-E4 for 'taxai', E22 for 'clearing'). Shapes: [E] aggregates.

Effective labour L = sum_i e_i h_i (E2) is summed in ``step`` with the labour income it shares.
"""

from __future__ import annotations

from torch import Tensor


def output(A: float, K: Tensor, L: Tensor, alpha: float) -> Tensor:
    """Output Y = A K^alpha L^(1-alpha) (E3, E22). K, L: [E] -> [E]."""
    return A * K.pow(alpha) * L.pow(1.0 - alpha)


def wage_taxai(A: float, K: Tensor, L: Tensor, alpha: float) -> Tensor:
    """'taxai' wage W = A (1-alpha) (K/L)^alpha (E4)."""
    return A * (1.0 - alpha) * (K / L).pow(alpha)


def wage_clearing(Y: Tensor, L: Tensor, alpha: float) -> Tensor:
    """'clearing' wage W = (1-alpha) Y / L, the marginal product of labour (E22)."""
    return (1.0 - alpha) * Y / L


def interest_clearing(Y: Tensor, K: Tensor, alpha: float, delta: float) -> Tensor:
    """'clearing' interest r = alpha Y / K - delta, the net marginal product of capital (E22)."""
    return alpha * Y / K - delta
