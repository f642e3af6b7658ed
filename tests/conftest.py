import os

import pytest
import torch

from smfg.config import economy_params
from smfg.economy import GovAction, draw_households, draw_shocks, reset_state
from smfg.runtime import tune_allocator

tune_allocator()  # as training does: the same numbers, faster


@pytest.fixture(autouse=True)
def _threads():
    # one thread in each of make test's two workers (pytest-xdist), two in a lone pytest
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


def make_state(variant: str, n_envs: int = 1, n_households: int = 7, seed: int = 0, **over):
    """Params, households, initial state and the generator of a small economy."""
    p = economy_params(variant, **over)
    gen = torch.Generator().manual_seed(seed)
    hh = draw_households(p, n_envs, n_households, gen, torch.float64)
    return p, reset_state(p, hh, gen), gen


def random_gov(gen, n_envs: int, p, low=0.001, high=0.99, dtype=torch.float64) -> GovAction:
    raw = low + (high - low) * torch.rand(n_envs, 5, generator=gen, dtype=dtype)
    return GovAction.from_raw(raw, p)


def random_actions(gen, n_envs, n_households, s_range, f_range, dtype=torch.float64):
    s = s_range[0] + (s_range[1] - s_range[0]) * torch.rand(
        n_envs, n_households, generator=gen, dtype=dtype
    )
    f = f_range[0] + (f_range[1] - f_range[0]) * torch.rand(
        n_envs, n_households, generator=gen, dtype=dtype
    )
    return s, f


__all__ = ["make_state", "random_gov", "random_actions", "draw_shocks"]
