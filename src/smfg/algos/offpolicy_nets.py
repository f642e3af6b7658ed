"""The DDPG family's networks beyond the shared core (:mod:`smfg.algos.core`): TD3's twin
critic, the household actor that does not see the leader, the start of a leader actor near
given numbers, a block of frozen parameters, and the record of an algorithm's networks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from smfg.algos.core import HH_OBS, Critic, DeterministicActor, param_list
from smfg.env import RunningNormalizer

__all__ = ["frozen", "rowwise", "ObsActor", "start_at", "TwinCritic", "Networks"]


@contextmanager
def frozen(*modules: nn.Module | None):
    """Parameters of ``modules`` need no gradient inside the block (an actor's step passes its
    gradient through a critic whose own gradient would be thrown away: a third less work)."""
    params = [p for m in modules if m is not None for p in param_list(m)]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


def rowwise(fn, x: Tensor, rows: int = 2048) -> Tensor:
    """``fn(x)`` for a row-wise ``fn`` (an MLP) on x [..., d], ``rows`` rows of its flattened
    leading axes at a time: the same rows, with hidden layers that stay in cache (MADDPG's actor
    on 128,000 rows: 130 -> 60 ms on one thread of these machines, 10,000 rows: 9.6 -> 5 ms)."""
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[0] <= rows:
        return fn(x)
    first = fn(flat[:rows])  # the blocks written into one output, not concatenated after
    out = first.new_empty(flat.shape[0], first.shape[-1])
    out[:rows] = first
    for i in range(rows, flat.shape[0], rows):
        out[i : i + rows] = fn(flat[i : i + rows])
    return out.reshape(*x.shape[:-1], out.shape[-1])


class ObsActor(DeterministicActor):
    """A household actor pi_f(s_f) that does not see the leader: s_f -> 128 -> 128 -> 2 tanh
    (the MADDPG actor of book:learning-bc, which BC clones as ``maddpg_actor``). Without a
    gradient (acting, targets) it runs in blocks of rows (:func:`rowwise`): MADDPG's target
    actor sees every household of a batch's steps."""

    def __init__(self):
        super().__init__(HH_OBS, 2, hidden=(128, 128))

    def forward(self, s_f: Tensor, a_l: Tensor | None = None) -> Tensor:
        if torch.is_grad_enabled() or self.net[0].weight.dim() != 2:  # 3-D: a seeds batch's
            return self.net(s_f)
        return rowwise(self._infer, s_f)

    def _infer(self, s_f: Tensor) -> Tensor:
        """``self.net(s_f)`` without a gradient: the same layers as calls of ``F.linear``,
        the output's tanh in place (no module dispatch; the same numbers)."""
        lin = [m for m in self.net if isinstance(m, nn.Linear)]
        h = s_f
        for m in lin[:-1]:
            h = F.linear(h, m.weight, m.bias).relu_()
        return F.linear(h, lin[-1].weight, lin[-1].bias).tanh_()


@torch.no_grad()
def start_at(actor: DeterministicActor, init: tuple[float, ...], raw: bool = False) -> None:
    """Make ``actor`` start near the environment action ``init`` (E1's numbers in (0, 1)) in
    every state: its output layer's weights scaled down 10 times and its bias the inverse of
    the action mapping (``raw``: the actor's output is sent unscaled)."""
    last = [m for m in actor.net if isinstance(m, nn.Linear)][-1]
    c = torch.tensor(init, dtype=last.bias.dtype)
    u = c if raw else 2.0 * c - 1.0
    last.weight.mul_(0.1)
    last.bias.copy_(torch.atanh(u.clamp(-0.999, 0.999)))


class TwinCritic(nn.Module):
    """Two critics of the same inputs (TD3): ``forward`` returns [..., 2], Q1 and Q2; each a
    ``Critic(d_in)``, or what ``make()`` builds."""

    def __init__(self, d_in: int | None = None, make: Callable[[], nn.Module] | None = None):
        super().__init__()
        make = make or (lambda: Critic(d_in))
        self.q1, self.q2 = make(), make()

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.stack([self.q1(*inputs), self.q2(*inputs)], -1)


@dataclass
class Networks:
    """An algorithm's networks and observation normalisers; None where an agent is fixed."""

    actor_l: nn.Module | None
    critic_l: nn.Module | None
    actor_f: nn.Module | None
    critic_f: nn.Module | None
    norm_l: RunningNormalizer
    norm_f: RunningNormalizer

    NAMES = ("actor_l", "critic_l", "actor_f", "critic_f", "norm_l", "norm_f")

    def modules(self) -> dict[str, nn.Module | None]:
        return {k: getattr(self, k) for k in self.NAMES}
