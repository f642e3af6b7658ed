"""The small shared core of the learning algorithms (after cleanrl): networks, the replay
buffer on preallocated tensors, exploration noise, target updates and the action mappings.

Every algorithm file (``smfrl.py``, ``ddpg.py``, ...) is built from these pieces; what differs
between them is what their critics see, which each file says in its docstring.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

LEADER_OBS, LEADER_ACT, HH_OBS, HH_ACT = 6, 5, 2, 2


# --- networks ------------------------------------------------------------------------------


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``F.linear``, or with a leading seed dimension on the layer (w [K, out, in], b [K, out],
    x [K, ..., in] -> [K, ..., out]: the K seeds' layers of :mod:`smfg.algos.seeds`) one
    batched product per layer."""
    if w.dim() == 2:
        return F.linear(x, w, b)
    x3 = x.reshape(w.shape[0], -1, x.shape[-1])
    wt = w.transpose(-2, -1)
    y = torch.bmm(x3, wt) if b is None else torch.baddbmm(b.unsqueeze(-2), x3, wt)
    return y.view(*x.shape[:-1], w.shape[-2])


def mlp(sizes: list[int], out_act: nn.Module | None = None, ortho: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (and ``out_act`` at the end).

    The inner ReLUs work in place on their linear layer's output (which no backward pass
    needs): the same numbers, a third less time at the batch sizes of the joint updates.

    ``ortho``: orthogonal weights (gain sqrt 2 inside, 1 at the output) and zero biases.
    """
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        if ortho:
            last = i == len(sizes) - 2
            nn.init.orthogonal_(lin.weight, gain=1.0 if last else math.sqrt(2.0))
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))  # on the layer's fresh output: same numbers
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class DeterministicActor(nn.Module):
    """obs [..., d_in] -> action in (-1, 1)^d_out through tanh."""

    def __init__(self, d_in: int, d_out: int, hidden: tuple[int, ...] = (128,), ortho=False):
        super().__init__()
        self.net = mlp([d_in, *hidden, d_out], nn.Tanh(), ortho)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs)


class FollowerActor(nn.Module):
    """The shared follower actor pi_f(s_f, a_l) of SMFRL (book:learning-smfrl-updates): s_f -> 128
    and a_l -> 128, concatenated, -> 2 tanh; orthogonal initialisation, zero biases."""

    def __init__(self, d_obs: int = HH_OBS, d_leader: int = LEADER_ACT, hidden: int = 128):
        super().__init__()
        self.obs = mlp([d_obs, hidden], nn.ReLU(), ortho=True)
        self.leader = mlp([d_leader, hidden], nn.ReLU(), ortho=True)
        self.head = mlp([2 * hidden, HH_ACT], nn.Tanh(), ortho=True)

    def forward(self, s_f: Tensor, a_l: Tensor) -> Tensor:
        """s_f: [..., 2]; a_l: [..., 5] broadcastable to s_f's leading shape."""
        h_obs = self.obs(s_f)
        h_l = self.leader(a_l)
        # head(cat(h_obs, h_l)) without materialising the concatenation: the leader's part is
        # computed once per economy and broadcast over its households. The weight halves are
        # made contiguous so that the backward pass takes addmm's fast path (a sliced weight
        # goes through a [128, n] x [n, 2] product that is several times slower).
        lin = self.head[0]
        k = h_obs.shape[-1]
        w_obs, w_l = lin.weight[..., :k].contiguous(), lin.weight[..., k:].contiguous()
        out = linear(h_obs, w_obs, lin.bias) + linear(h_l, w_l)
        return torch.tanh(out)


class GaussianActor(nn.Module):
    """A Gaussian policy on the pre-squash action: mean from an MLP, state-free log std.

    Used by behaviour cloning (negative log-likelihood) and by PPO. ``lstm``: an
    MLP-LSTM-MLP body (AI-Economist style) whose hidden state is carried by the caller.
    """

    def __init__(self, d_in: int, d_out: int, hidden: int = 128, lstm: bool = False):
        super().__init__()
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True) if lstm else None
        self.pre = mlp([d_in, hidden], nn.ReLU())
        self.post = mlp([hidden, hidden, d_out])
        self.log_std = nn.Parameter(torch.full((d_out,), -0.5))

    def forward(self, obs: Tensor, hc: tuple[Tensor, Tensor] | None = None):
        """obs: [B, d_in] (or [B, T, d_in] with the LSTM) -> (mean, std, new hidden state)."""
        x = self.pre(obs)
        if self.lstm is not None:
            seq = x if x.ndim == 3 else x.unsqueeze(1)
            seq, hc = self.lstm(seq, hc)
            x = seq if x.ndim == 3 else seq.squeeze(1)
        mean = self.post(x)
        return mean, self.log_std.exp().expand_as(mean), hc

    def log_prob(self, obs: Tensor, act: Tensor, hc=None) -> Tensor:
        mean, std, _ = self(obs, hc)
        return torch.distributions.Normal(mean, std).log_prob(act).sum(-1)


class Critic(nn.Module):
    """Q(inputs...) -> scalar: the inputs are concatenated, then d -> 128 -> 128 -> 1."""

    def __init__(self, d_in: int, hidden: tuple[int, ...] = (128, 128)):
        super().__init__()
        self.net = mlp([d_in, *hidden, 1])

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.net(torch.cat(inputs, -1)).squeeze(-1)


class MeanFieldCritic(nn.Module):
    """The SMFRL follower critic Q_f(s_f, a_f, a_l, L_f) (book:learning-smfrl-updates): 64-unit
    embeddings of s_f, a_l, a_f, the mean state and the mean action, concatenated,
    -> 128 -> 128 -> 1.

    The original reused the mean-action embedding for the mean state (book:learning-corrections);
    here each input has its own embedding. ``with_leader=False`` drops a_l (MF-MARL's critic).
    """

    def __init__(self, emb: int = 64, with_leader: bool = True):
        super().__init__()
        self.with_leader = with_leader
        self.s = mlp([HH_OBS, emb], nn.ReLU())
        self.a = mlp([HH_ACT, emb], nn.ReLU())
        self.ms = mlp([HH_OBS, emb], nn.ReLU())
        self.ma = mlp([HH_ACT, emb], nn.ReLU())
        self.l = mlp([LEADER_ACT, emb], nn.ReLU()) if with_leader else None
        n = 5 if with_leader else 4
        self.head = mlp([n * emb, 128, 128, 1])

    def forward(self, s_f: Tensor, a_f: Tensor, a_l: Tensor | None, mf: Tensor) -> Tensor:
        """s_f, a_f: [..., 2]; a_l: [..., 5]; mf: [..., 4] (mean state, mean action).

        a_l and mf may have size 1 where s_f has a household axis: the first head layer is
        split into a household part and a step part (the embeddings of a_l and the mean
        field), the step part computed once per step and broadcast over its households, the
        same number as the layer on the concatenation (up to the sum's rounding).
        """
        own = torch.cat([self.s(s_f), self.a(a_f)], -1)
        step = [self.ms(mf[..., :HH_OBS]), self.ma(mf[..., HH_OBS:])]
        if self.l is not None:
            step.append(self.l(a_l))
        lin = self.head[0]
        k = own.shape[-1]
        w_own, w_step = lin.weight[..., :k].contiguous(), lin.weight[..., k:].contiguous()
        h = linear(own, w_own, lin.bias) + linear(torch.cat(step, -1), w_step)
        return self.head[1:](h).squeeze(-1)


# --- target networks, noise, observation transform ------------------------------------------


def param_list(module: nn.Module) -> list[Tensor]:
    """``list(module.parameters())``, kept on the module after the first call: an update
    reads the lists of four networks several times (soft updates, clipping, frozen critics),
    and walking the module tree each time costs about 7% of a small update. Parameters are
    updated in place (optimiser steps, ``load_state_dict``), never replaced, so the list stays
    the module's; a deep copy copies it with the parameters it names."""
    cached = module.__dict__.get("_param_list")
    if cached is None:
        cached = module.__dict__["_param_list"] = list(module.parameters())
    return cached


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, parameter by parameter (tau = 0.05:
    book:learning-smfrl-defaults)."""
    torch._foreach_lerp_(param_list(target), param_list(source), tau)


def gaussian_noise(shape, std: float, gen: torch.Generator, dtype=torch.float32) -> Tensor:
    """Exploration noise N(0, std^2) from an explicit generator."""
    return std * torch.randn(shape, generator=gen, dtype=dtype)


def signed_log(x: Tensor) -> Tensor:
    """sign(x) log(1 + |x|): money spans ten orders of magnitude in 'taxai', so observations
    enter the networks on this scale, then through the running normaliser."""
    return torch.sign(x) * torch.log1p(x.abs())


# --- action mappings (book:model-actions, book:learning-corrections) --------------------------


def follower_env_action(u: Tensor, paper_quirks: bool = False) -> Tensor:
    """Actor output u in (-1, 1)^2 (with noise) -> (saving share, work share) for the env.

    Corrected (default, every algorithm alike): both shares (u + 1)/2. ``paper_quirks``:
    SMFRL's original mapping, saving 0.5 + 0.25 (u + 1) in [0.5, 1] and work (u + 1)/2.
    """
    share = (u + 1.0) / 2.0
    if paper_quirks:
        share = torch.stack([0.5 + 0.25 * (u[..., 0] + 1.0), share[..., 1]], -1)
    return share.clamp(0.0, 1.0)


def leader_env_action(u: Tensor, paper_quirks: bool = False) -> Tensor:
    """Leader actor output u in (-1, 1)^5 -> the five numbers of book:model-actions in [0, 1].

    Corrected: (u + 1)/2. ``paper_quirks``: u itself (the SMFRL, DDPG and MADDPG leaders sent
    their tanh output unscaled, so any u <= 0.001 lands on the lower clip).
    """
    return u.clamp(0.0, 1.0) if paper_quirks else ((u + 1.0) / 2.0).clamp(0.0, 1.0)


def follower_actor_target(share: Tensor, paper_quirks: bool = False) -> Tensor:
    """The inverse of :func:`follower_env_action`: env shares -> actor output in (-1, 1)."""
    u = 2.0 * share - 1.0
    if paper_quirks:
        u = torch.stack([4.0 * (share[..., 0] - 0.5) - 1.0, u[..., 1]], -1)
    return u.clamp(-0.999, 0.999)


# --- replay buffer -------------------------------------------------------------------------


class ReplayBuffer:
    """Preallocated tensors, one slot per environment step holding the whole population.

    A slot stores the leader's observation, action, reward and next observation, and for all
    H households their observations, actions, rewards and next observations, plus the step's
    mean household observation and action (the mean field before normalisation; normalising
    is affine, so the mean of normalised observations is the normalised mean). Leader
    updates sample steps; follower updates sample (step, household) pairs. Memory is
    capacity x H x 7 floats once: about 2 GB for 7e4 steps of 1,000 households in float32.
    The buffer wraps around, overwriting the oldest slot.
    """

    FIELDS = {
        "l_obs": (LEADER_OBS,),
        "l_act": (LEADER_ACT,),
        "l_rew": (),
        "l_next": (LEADER_OBS,),
        "h_obs": ("H", HH_OBS),
        "h_act": ("H", HH_ACT),
        "h_rew": ("H",),
        "h_next": ("H", HH_OBS),
        "mf": (2 * HH_OBS,),
        "mf_next": (2 * HH_OBS,),
        "term": (),
    }

    def __init__(self, capacity: int, n_households: int, dtype=torch.float32, device="cpu"):
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f"ReplayBuffer capacity = {capacity!r}: allowed an integer >= 1")
        self.capacity, self.H = int(capacity), int(n_households)
        self.data = {
            k: torch.zeros(
                (self.capacity, *(self.H if d == "H" else d for d in shape)),
                dtype=dtype,
                device=device,
            )
            for k, shape in self.FIELDS.items()
        }
        self.pos = 0
        self.size = 0

    @staticmethod
    def capacity_for(memory_bytes: float, n_households: int, max_steps: int = 10**6) -> int:
        """The number of steps that fit in ``memory_bytes`` (float32), at most ``max_steps``."""
        per_step = 4 * (7 * n_households + 2 * LEADER_OBS + LEADER_ACT + 2 + 4 * HH_OBS)
        return max(1, min(max_steps, int(memory_bytes // per_step)))

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.data.values())

    def add(self, **batch: Tensor) -> None:
        """Store E steps at once: each field [E, ...] (E economies of the same step)."""
        n = next(iter(batch.values())).shape[0]
        idx = (self.pos + torch.arange(n)) % self.capacity
        for k, v in batch.items():
            self.data[k][idx] = v.to(self.data[k].dtype)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample_steps(self, batch: int, gen: torch.Generator) -> Tensor:
        """Indices of ``batch`` stored steps, uniformly with replacement."""
        if self.size == 0:
            raise ValueError("ReplayBuffer.sample on an empty buffer: add transitions first")
        return torch.randint(self.size, (batch,), generator=gen)

    def sample_pairs(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """``batch`` (step, household) pairs, uniformly with replacement."""
        return self.sample_steps(batch, gen), torch.randint(self.H, (batch,), generator=gen)

    def state_dict(self) -> dict:
        n = self.size
        return {
            "pos": self.pos,
            "size": n,
            "capacity": self.capacity,
            "H": self.H,
            "data": {k: v[:n].clone() for k, v in self.data.items()},
        }

    def load_state_dict(self, d: dict) -> None:
        if d["capacity"] != self.capacity or d["H"] != self.H:
            raise ValueError(
                f"replay buffer of capacity {d['capacity']} x H {d['H']} cannot load into "
                f"{self.capacity} x {self.H}"
            )
        self.pos, self.size = int(d["pos"]), int(d["size"])
        for k, v in d["data"].items():
            self.data[k][: self.size] = v
