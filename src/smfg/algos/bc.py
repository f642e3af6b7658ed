"""Behaviour cloning on the survey (book:learning-bc, the paper's Figure 7).

Survey rows become (state, action) pairs: the state a household of that row starts an
episode with, in the environment's own units (:func:`survey_pairs`), and the (saving share,
work share) the row implies (:func:`smfg.policies.households.survey_actions`). Four networks
learn the map from state to the actor output ``u = follower_actor_target(shares)`` in
(-1, 1)^2, which :func:`smfg.algos.core.follower_env_action` turns back into shares:

| name | network | loss |
| --- | --- | --- |
| ``mlp_gaussian`` | ``GaussianActor(2, 2)``: MLP mean, state-free log std | NLL of u |
| ``lstm_gaussian`` | ``GaussianActor(2, 2, lstm=True)``: MLP-LSTM-MLP (AI-Economist) | NLL of u |
| ``follower_actor`` | ``FollowerActor``: pi_f(s_f, a_l) of SMFRL and MF-MARL | MSE of tanh |
| ``maddpg_actor`` | ``DeterministicActor(2, 2, hidden=(128, 128))`` of MADDPG | MSE of tanh |

Every network sees the observation as the environment's policies do: ``signed_log(state)``,
then a :class:`~smfg.env.RunningNormalizer` fitted on the training states, which is part of
the policy and returned with its weights. The follower actor also sees the leader's action;
the survey says nothing about how households would answer another government, so the clone
must not invent an answer: the leader's half of its output layer is zero and held there while
cloning (its gradient masked; Adam then never moves it), so the clone is exactly indifferent
to the leader's action, and any reaction is learned afterwards (that half receives gradients
in reinforcement learning like any weight). It is fitted at the free market's leader input
(:func:`free_market_u`), which no longer matters.
The survey has no time dimension: the LSTM sees each household as a sequence of length one
from a zero state. The follower actor trained here initialises every "-BC" run
(:func:`pretrained_follower`).

Training is deterministic given the seed: initialisation runs under a forked global RNG
seeded with it, and shuffling uses an own ``torch.Generator``. Nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn

from smfg.algos.core import (
    HH_ACT,
    HH_OBS,
    LEADER_ACT,
    DeterministicActor,
    FollowerActor,
    GaussianActor,
    follower_actor_target,
    signed_log,
)
from smfg.config import VARIANTS, EconomyParams, economy_params
from smfg.economy.data import HouseholdTable, load_household_table
from smfg.economy.state import initial_columns
from smfg.env import RunningNormalizer
from smfg.policies.households import survey_actions

__all__ = [
    "NETWORKS",
    "LOSSES",
    "BCResult",
    "SurveyPairs",
    "actor_output",
    "fit_normalizer",
    "free_market_u",
    "make_network",
    "preprocess",
    "pretrained_follower",
    "survey_pairs",
    "train_all",
    "train_bc",
]

#: The four networks of book:learning-bc / Figure 7, and the loss each is trained with.
NETWORKS = ("mlp_gaussian", "lstm_gaussian", "follower_actor", "maddpg_actor")
LOSSES = {
    "mlp_gaussian": "nll",
    "lstm_gaussian": "nll",
    "follower_actor": "mse",
    "maddpg_actor": "mse",
}

DEFAULT_EPOCHS = 30
DEFAULT_BATCH = 256
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --- data: survey rows -> (state, action) pairs ---------------------------------------------


@dataclass(frozen=True, eq=False)
class SurveyPairs:
    """(state, action) pairs from survey rows, with the weights of the population they stand for.

    Rows of one family (its 5 implicates) stay together when split, so that a validation set
    holds households the training set never saw.
    """

    states: Tensor
    """(ability, assets) in the environment's units for the variant: [n, 2] float32."""
    actions: Tensor
    """(saving share, work share) from ``survey_actions``: [n, 2] float32."""
    weights: Tensor
    """Survey weights (``clearing``) or ones (``taxai``, which draws rows unweighted): [n]."""
    family: Tensor
    """Family (implicate block) of each pair: [n] int64."""
    rows: Tensor
    """Row of each pair in the household table: [n] int64."""
    variant: str = ""
    """The economy the states and actions belong to ('' for synthetic pairs)."""
    asset_scale: float = 1.0
    """Model money units per dollar of the assets column (1 in ``taxai``)."""

    def __post_init__(self) -> None:
        n = self.states.shape[0]
        if self.states.shape != (n, HH_OBS) or self.actions.shape != (n, HH_ACT):
            raise ValueError(
                f"SurveyPairs: states {tuple(self.states.shape)}, actions "
                f"{tuple(self.actions.shape)}: allowed [n, {HH_OBS}] and [n, {HH_ACT}]"
            )
        for name in ("weights", "family", "rows"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"SurveyPairs.{name} has shape {tuple(getattr(self, name).shape)}: "
                    f"allowed [{n}]"
                )

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def subset(self, idx: Tensor) -> SurveyPairs:
        """The pairs at ``idx`` (an index or boolean tensor over the pairs)."""
        cols = ("states", "actions", "weights", "family", "rows")
        return replace(self, **{c: getattr(self, c)[idx] for c in cols})

    def split(self, frac_valid: float = 0.2, seed: int = 0) -> tuple[SurveyPairs, SurveyPairs]:
        """(train, validation): a random ``frac_valid`` of the families (all their implicates)
        goes to validation. Same seed, same split."""
        if not (0.0 < float(frac_valid) < 1.0):
            raise ValueError(f"frac_valid = {frac_valid!r} is out of range: allowed (0, 1)")
        fams = torch.unique(self.family)
        if fams.numel() < 2:
            raise ValueError(f"SurveyPairs.split needs at least 2 families, got {fams.numel()}")
        gen = torch.Generator().manual_seed(int(seed))
        n_valid = min(fams.numel() - 1, max(1, round(frac_valid * fams.numel())))
        chosen = fams[torch.randperm(fams.numel(), generator=gen)[:n_valid]]
        is_valid = torch.isin(self.family, chosen)
        return self.subset(~is_valid), self.subset(is_valid)


def survey_pairs(
    variant: str,
    params: EconomyParams | None = None,
    table: HouseholdTable | None = None,
    food_share: float = 0.13,
) -> SurveyPairs:
    """Every survey row as a (state, action) pair of the variant's economy (book:learning-bc).

    States are built as the reset builds a household from its row
    (:func:`smfg.economy.state.draw_households`), before the reset's ability draw and
    ignoring the superstar flag (probability 2.2e-6):

    - ``taxai``: ability = the EDUC code (-1 replaced by 0.1), assets = ASSET in dollars.
      Weights are ones: the ``taxai`` reset draws rows unweighted (and never the table's
      last row, which the pairs keep).
    - ``clearing``: ability = ``exp(z_wage * log_ability_sd)``, assets = ``max(NETWORTH, 0)``
      times ``asset_scale = assets_over_output0 / (weighted mean of max(NETWORTH, 0))``,
      i.e. in units of initial output per household with a weighted mean of
      ``assets_over_output0``. The reset draws households with the survey weights and scales
      their net worth so that their own mean is ``assets_over_output0``; the expected scale
      of such a draw is this one, and a given economy's assets are this pair's assets times
      the ratio (weighted mean net worth) / (mean net worth of its draw), the same for all its
      households. Weights are the survey weights.

    Actions are ``survey_actions(table, variant, params, food_share)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r} is not known: allowed {VARIANTS}")
    params = economy_params(variant) if params is None else params
    table = load_household_table() if table is None else table
    saving, work = survey_actions(table, variant, params, food_share)
    wgt = np.asarray(table.wgt, dtype=np.float64)
    ability, assets = initial_columns(params, table)  # exactly as the reset builds them
    if variant == "taxai":
        weights, scale = np.ones_like(wgt), 1.0
    else:
        scale = params.assets_over_output0 / (np.sum(wgt * assets) / np.sum(wgt))
        assets = assets * scale
        weights = wgt

    def f32(*cols: np.ndarray) -> Tensor:
        return torch.as_tensor(np.stack(cols, -1), dtype=torch.float32)

    return SurveyPairs(
        states=f32(ability, assets),
        actions=f32(saving, work),
        weights=torch.tensor(weights, dtype=torch.float32),
        family=torch.tensor(np.asarray(table.family), dtype=torch.int64),
        rows=torch.tensor(np.asarray(table.row), dtype=torch.int64),
        variant=variant,
        asset_scale=float(scale),
    )


# --- networks, observation, losses ---------------------------------------------------------


def free_market_u(action_low: float = 0.001, paper_quirks: bool = False) -> Tensor:
    """The leader actor output of the free market (book:model-free-market), [5]: u_l such that
    ``leader_env_action(u_l)`` is the lower clip in every component (2 low - 1 with the
    corrected mapping, low itself with ``paper_quirks``)."""
    value = action_low if paper_quirks else 2.0 * action_low - 1.0
    return torch.full((LEADER_ACT,), value, dtype=torch.float32)


def make_network(name: str) -> nn.Module:
    """A freshly initialised network of book:learning-bc by name (one of ``NETWORKS``)."""
    if name == "mlp_gaussian":
        return GaussianActor(HH_OBS, HH_ACT)
    if name == "lstm_gaussian":
        return GaussianActor(HH_OBS, HH_ACT, lstm=True)
    if name == "follower_actor":
        return FollowerActor()
    if name == "maddpg_actor":
        return DeterministicActor(HH_OBS, HH_ACT, hidden=(128, 128))
    raise ValueError(f"network = {name!r} is not known: allowed {NETWORKS}")


def _load(name: str, state_dict: dict) -> nn.Module:
    """A network holding ``state_dict``, built without drawing from the global RNG."""
    with torch.random.fork_rng(devices=[]):
        net = make_network(name)
    net.load_state_dict(state_dict)  # copies: the caller's tensors stay untouched
    return net


def fit_normalizer(x: Tensor, weights: Tensor | None = None) -> RunningNormalizer:
    """A RunningNormalizer holding the (weighted) mean and variance of ``x`` [n, D]; its count
    is n, so later ``update`` calls fold in new data as if x had been n observations. With
    unit weights this equals ``update(x)`` on a fresh normaliser."""
    x64 = x.reshape(-1, x.shape[-1]).double()
    w = torch.ones(x64.shape[0], dtype=torch.float64) if weights is None else weights.double()
    w = (w / w.sum())[:, None]
    mean = (w * x64).sum(0)
    var = (w * (x64 - mean).pow(2)).sum(0)
    norm = RunningNormalizer(x64.shape[-1])
    norm.mean.copy_(mean)
    norm.var.copy_(var)
    norm.count.fill_(float(x64.shape[0]))
    return norm


def preprocess(normalizer: RunningNormalizer, states: Tensor) -> Tensor:
    """Raw household states [..., 2] -> the network input: normalizer(signed_log(states))."""
    return normalizer(signed_log(states.float()))


def _outputs(name: str, net: nn.Module, x: Tensor, a_l: Tensor):
    """Network outputs on normalised input x [B, 2]: (mean, std) for NLL, u for MSE."""
    if name == "follower_actor":
        return net(x, a_l)
    if LOSSES[name] == "nll":
        mean, std, _ = net(x)  # the LSTM: a length-1 sequence from a zero state
        return mean, std
    return net(x)


def _loss(name: str, net: nn.Module, x: Tensor, u: Tensor, a_l: Tensor) -> Tensor:
    """Per-pair loss [B]: NLL of u (summed over the 2 dimensions) or MSE (mean over them)."""
    out = _outputs(name, net, x, a_l)
    if LOSSES[name] == "nll":  # Normal(mean, std).log_prob, without its argument checks
        mean, std = out
        z = (u - mean) / std
        return (0.5 * z.pow(2) + std.log() + _HALF_LOG_2PI).sum(-1)
    return (out - u).pow(2).mean(-1)


@torch.no_grad()
def actor_output(
    name: str,
    net: nn.Module,
    normalizer: RunningNormalizer,
    states: Tensor,
    leader_u: Tensor | None = None,
) -> Tensor:
    """Raw states [n, 2] -> actor output u [n, 2] (the mean for the Gaussian networks).

    ``follower_env_action(u)`` gives the shares. ``leader_u`` [5] is the follower actor's
    leader input (default: the free market, :func:`free_market_u`).
    """
    a_l = free_market_u() if leader_u is None else leader_u
    out = _outputs(name, net, preprocess(normalizer, states), a_l)
    return out[0] if LOSSES[name] == "nll" else out


# --- training ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BCResult:
    """One trained network: weights, normaliser, loss histories and timing."""

    network: str
    """Which of ``NETWORKS``."""
    loss: str
    """'nll' or 'mse'."""
    state_dict: dict
    """The trained network's weights (detached copies)."""
    normalizer: dict
    """The observation normaliser's state (part of the policy)."""
    train_loss: tuple[float, ...]
    """Weighted mean loss on the whole training set before training (entry 0) and after each
    epoch: epochs + 1 entries."""
    valid_loss: tuple[float, ...]
    """The same on the validation set (empty without one)."""
    wall_s: float
    """Wall time of the whole fit, seconds."""
    epochs: int
    batch_size: int
    lr: float
    seed: int
    paper_quirks: bool = False
    """Whether the targets used SMFRL's original saving mapping (saving in [0.5, 1])."""

    def policy(self) -> tuple[nn.Module, RunningNormalizer]:
        """Fresh copies of the trained network and its normaliser."""
        net = _load(self.network, self.state_dict)
        norm = RunningNormalizer(HH_OBS)
        norm.load_state_dict(self.normalizer)
        return net, norm


def train_bc(
    pairs: SurveyPairs,
    network: str,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = 1e-3,
    seed: int = 0,
    valid: SurveyPairs | None = None,
    paper_quirks: bool = False,
) -> BCResult:
    """Fit one network of book:learning-bc to ``pairs`` with Adam on weighted minibatch losses.

    Targets are ``u = follower_actor_target(actions, paper_quirks)``; each minibatch loss is
    the weights-weighted mean of the per-pair losses. The normaliser is fitted once, on the
    training states (weighted), before training. Losses are recorded on the whole training
    and validation sets before training and after each epoch. Deterministic given ``seed``.
    """
    if network not in NETWORKS:
        raise ValueError(f"network = {network!r} is not known: allowed {NETWORKS}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs = {epochs!r}: allowed an integer >= 0")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size = {batch_size!r}: allowed an integer >= 1")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr = {lr!r}: allowed a finite number > 0")
    if len(pairs) == 0:
        raise ValueError("train_bc got no pairs")
    with _single_thread():
        return _train(pairs, network, epochs, batch_size, lr, int(seed), valid, paper_quirks)


@contextlib.contextmanager
def _single_thread():
    """Run on one intra-op thread, then restore the caller's setting. At these sizes (128
    units, batches of 256) a second thread gains nothing, and on shared cores it can slow a
    fit fifty-fold; it also makes the weights independent of the caller's thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(pairs, network, epochs, batch_size, lr, seed, valid, paper_quirks) -> BCResult:
    """The body of :func:`train_bc`, arguments checked."""
    t0 = time.perf_counter()
    norm = fit_normalizer(signed_log(pairs.states), pairs.weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_network(network)
    a_l = free_market_u(paper_quirks=paper_quirks) if network == "follower_actor" else None
    leader_half = None
    if network == "follower_actor":  # indifferent to the leader: its half of the head is zero
        leader_half = torch.ones_like(net.head[0].weight)
        leader_half[:, net.head[0].weight.shape[1] // 2 :] = 0.0
        with torch.no_grad():
            net.head[0].weight.mul_(leader_half)

    def data(p: SurveyPairs) -> tuple[Tensor, Tensor, Tensor]:
        x = preprocess(norm, p.states).detach()
        return x, follower_actor_target(p.actions.float(), paper_quirks), p.weights.float()

    train, val = data(pairs), (data(valid) if valid is not None and len(valid) else None)

    @torch.no_grad()
    def mean_loss(d: tuple[Tensor, Tensor, Tensor]) -> float:
        x, u, w = d
        return float((_loss(network, net, x, u, a_l) * w).sum() / w.sum())

    hist_t = [mean_loss(train)]
    hist_v = [] if val is None else [mean_loss(val)]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    x, u, w = train
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            wb = w[idx]
            loss = (_loss(network, net, x[idx], u[idx], a_l) * wb).sum() / wb.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if leader_half is not None:  # the leader's half stays zero
                net.head[0].weight.grad.mul_(leader_half)
            opt.step()
        hist_t.append(mean_loss(train))
        if val is not None:
            hist_v.append(mean_loss(val))
    return BCResult(
        network=network,
        loss=LOSSES[network],
        state_dict={k: v.detach().clone() for k, v in net.state_dict().items()},
        normalizer={k: v.detach().clone() for k, v in norm.state_dict().items()},
        train_loss=tuple(hist_t),
        valid_loss=tuple(hist_v),
        wall_s=time.perf_counter() - t0,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        paper_quirks=paper_quirks,
    )


def train_all(
    variant: str,
    params: EconomyParams | None = None,
    table: HouseholdTable | None = None,
    food_share: float = 0.13,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = 1e-3,
    seed: int = 0,
    frac_valid: float = 0.2,
    networks: tuple[str, ...] = NETWORKS,
    paper_quirks: bool = False,
) -> dict[str, BCResult]:
    """Figure 7: each network trained on the same family split of the variant's survey pairs
    (``frac_valid`` of the families held out, split by ``seed``)."""
    train, valid = survey_pairs(variant, params, table, food_share).split(frac_valid, seed)
    return {
        name: train_bc(train, name, epochs, batch_size, lr, seed, valid, paper_quirks)
        for name in networks
    }


@functools.lru_cache(maxsize=16)
def _pretrained_state(
    variant: str,
    params: EconomyParams | None,
    epochs: int,
    seed: int,
    food_share: float,
    paper_quirks: bool,
) -> tuple[dict, dict]:
    name = "follower_actor"
    kw = dict(seed=seed, networks=(name,), paper_quirks=paper_quirks)
    res = train_all(variant, params, None, food_share, epochs, **kw)[name]
    return res.state_dict, res.normalizer


def pretrained_follower(
    variant: str,
    params: EconomyParams | None = None,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    food_share: float = 0.13,
    paper_quirks: bool = False,
) -> tuple[FollowerActor, RunningNormalizer]:
    """The BC follower actor and its normaliser that initialise every "-BC" run (book:learning-bc).

    It is ``train_all(variant, params, epochs=epochs, seed=seed)["follower_actor"]``: trained
    on 80% of the families of the shipped table. Cached in-process per argument set; each
    call returns fresh copies (building them does not touch the global RNG).
    ``paper_quirks`` must match the run's follower action mapping.
    """
    params = economy_params(variant) if params is None else params
    sd, nsd = _pretrained_state(
        variant, params, int(epochs), int(seed), float(food_share), bool(paper_quirks)
    )
    norm = RunningNormalizer(HH_OBS)
    norm.load_state_dict(nsd)
    return _load("follower_actor", sd), norm
