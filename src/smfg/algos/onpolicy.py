"""The on-policy core of the algorithms (book:learning-baselines), on plain tensors: rollout
storage, generalised advantage estimation (:func:`gae`), the clipped surrogate
(:func:`clipped_surrogate`), a diagonal Gaussian's log-probability and entropy, and the
recurrent policy's state (:func:`zero_state`, :func:`lstm_unroll`). PPO
(:mod:`smfg.algos.ppo`) is built on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from smfg.algos.core import HH_ACT, HH_OBS, LEADER_ACT, LEADER_OBS, GaussianActor

# --- PPO's pieces, on plain tensors --------------------------------------------------------


def gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
    paper_quirks: bool = False,
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation: (advantages, returns), each [T, ...].

    rewards, values, dones: [T, ...]; ``dones[t] = 1`` when the episode ended at step t (the
    next value belongs to a new episode and is not bootstrapped); ``last_value``: the value
    of the observation after the last step. ``paper_quirks``: the original's continuation
    mask ``done - 1`` instead of ``1 - done`` (book:learning-corrections).
    """
    cont = dones - 1.0 if paper_quirks else 1.0 - dones
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(last_value)
    for t in reversed(range(rewards.shape[0])):
        nxt = last_value if t == rewards.shape[0] - 1 else values[t + 1]
        delta = rewards[t] + gamma * cont[t] * nxt - values[t]
        last = delta + gamma * lam * cont[t] * last
        adv[t] = last
    return adv, adv + values


def clipped_surrogate(logp: Tensor, logp_old: Tensor, adv: Tensor, clip: float) -> Tensor:
    """PPO's clipped objective, as a loss to minimise: -mean(min(rho A, clip(rho) A))."""
    ratio = (logp - logp_old).exp()
    return -torch.min(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv).mean()


def lstm_unroll(actor: GaussianActor, obs: Tensor, starts: Tensor, hc: tuple[Tensor, Tensor]):
    """Run the MLP-LSTM-MLP policy over a sequence: (means [T, B, 2], std, last state).

    obs: [T, B, d]; starts: [T, B], 1 where an episode begins at step t (the state is zeroed
    before that step); hc: the state before step 0, ([1, B, h], [1, B, h]).
    """
    means = []
    for t in range(obs.shape[0]):
        keep = (1.0 - starts[t]).view(1, -1, 1)
        mean, std, hc = actor(obs[t], (hc[0] * keep, hc[1] * keep))
        means.append(mean)
    return torch.stack(means), std, hc


def _log_prob(mean: Tensor, std: Tensor, u: Tensor) -> Tensor:
    return (-0.5 * ((u - mean) / std).pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def _entropy(std: Tensor) -> Tensor:
    return (0.5 + 0.5 * math.log(2 * math.pi) + std.log()).sum(-1)


# --- the recurrent state and the rollout ---------------------------------------------------


def zero_state(n: int, hidden: int = 128) -> tuple[Tensor, Tensor]:
    """The LSTM state of n households at the start of an episode."""
    return torch.zeros(1, n, hidden), torch.zeros(1, n, hidden)


@dataclass
class Rollout:
    """One epoch's experience, [T, E, ...] (households [T, E, H, ...]), inputs normalised."""

    s_l: Tensor
    u_l: Tensor
    logp_l: Tensor
    v_l: Tensor
    r_l: Tensor
    s_f: Tensor
    u_f: Tensor
    logp_f: Tensor
    v_f: Tensor
    r_f: Tensor
    done: Tensor
    first: Tensor
    """1 where an episode began at step t (the LSTM state was zeroed before it)."""
    hc: list
    """The households' LSTM state ([1, E H, h] twice) at the start of each seq_len chunk."""
    last_v_l: Tensor | None = None
    last_v_f: Tensor | None = None

    @classmethod
    def empty(cls, T: int, E: int, H: int) -> Rollout:
        def z(*shape):
            return torch.zeros(T, E, *shape)

        return cls(
            s_l=z(LEADER_OBS),
            u_l=z(LEADER_ACT),
            logp_l=z(),
            v_l=z(),
            r_l=z(),
            s_f=z(H, HH_OBS),
            u_f=z(H, HH_ACT),
            logp_f=z(H),
            v_f=z(H),
            r_f=z(H),
            done=z(),
            first=z(),
            hc=[],
        )
