"""MADDPG's fast critic inputs against the old ones (issue 19): the critics' first layer split into
own and joint columns (the joint part once per step), the own-slot replacement as a move of the
first layer, and the target actor's next joint actions computed once per stored step in a leader
phase, compute what the old concatenated inputs did: the same losses, gradients and training, up
to floating-point reassociation (float64 here, to 1e-10)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from smfg.algos.core import (
    HH_ACT,
    HH_OBS,
    LEADER_ACT,
    LEADER_OBS,
    Critic,
    DeterministicActor,
    soft_update,
)
from smfg.algos.maddpg import MADDPGLearner, MADDPGTrainer, maddpg_config
from smfg.algos.offpolicy import ObsActor, TwinCritic, frozen

# --- the old critic inputs, kept as the reference --------------------------------------------


class OldMADDPGLearner(MADDPGLearner):
    """MADDPG as it was: critics on the concatenated joint input, rebuilt for every row; the
    target actor on every sampled step's next observations in every update."""

    def networks(self) -> dict:
        joint = (HH_OBS + HH_ACT) * self.H
        return {
            "actor_l": DeterministicActor(LEADER_OBS, LEADER_ACT, hidden=(128,)),
            "critic_l": Critic(LEADER_OBS + LEADER_ACT + joint),
            "actor_f": ObsActor(),
            "critic_f": Critic(HH_OBS + HH_ACT + LEADER_OBS + LEADER_ACT + joint),
        }

    def twin_critic(self, critic) -> TwinCritic:
        return TwinCritic(critic.net[0].in_features)

    def leader_extra(self, idx):
        S, A, S2 = self._joint(idx)
        return {"S": S, "A": A, "S2": S2}

    def leader_x(self, b):
        return (b["S"].flatten(-2), b["A"].flatten(-2))

    def leader_x2(self, targets, b, a_l2):
        return (b["S2"].flatten(-2), targets.actor_f(b["S2"]).flatten(-2))

    def follower_extra(self, j, i):
        k, n, D = self.cfg.households_per_step, self.nets, self.buf.data
        S, A, S2 = self._joint(j[::k])
        return {
            "s_l": n.norm_l(D["l_obs"][j]),
            "S_rep": S.flatten(1).repeat_interleave(k, 0),
            "A_rep": A.repeat_interleave(k, 0),
            "S2": S2,
            "own": F.one_hot(i, self.H).to(S.dtype).unsqueeze(-1),
        }

    def follower_x(self, b):
        return (b["s_l"], b["a_l"], b["S_rep"], b["A_rep"].flatten(-2))

    def follower_x2(self, targets, b, a_l2):
        k = self.cfg.households_per_step
        S2 = b["S2"]
        A2 = targets.actor_f(S2).flatten(-2).repeat_interleave(k, -2)
        return (b["s_l2"], a_l2, S2.flatten(-2).repeat_interleave(k, -2), A2)

    def follower_x_pi(self, nets, b, u):
        A_pi = b["A_rep"] * (1.0 - b["own"]) + b["own"] * u.unsqueeze(-2)
        return (b["s_l"], b["a_l"], b["S_rep"], A_pi.flatten(-2))


# --- helpers -------------------------------------------------------------------------------

N, STEPS = 11, 30


def _learners(dtype=torch.float64, n=N, **kw):
    cfg = maddpg_config(
        "smoke",
        variant="clearing",
        n_households=n,
        epochs=1,
        steps_per_epoch=STEPS,
        batch_size=12,
        households_per_step=3,
        leader_updates=4,
        follower_updates=4,
        **kw,
    )
    new, old = MADDPGLearner(cfg), OldMADDPGLearner(cfg)
    for L in (new, old):
        for mods in (L.nets.modules(), L.targets.modules()):
            for m in mods.values():
                m.to(dtype)
        L.buf.data = {k: v.to(dtype) for k, v in L.buf.data.items()}
    return new, old


def _store(learners, steps: int, seed: int) -> None:
    """The same random steps into each learner's replay."""
    g = torch.Generator().manual_seed(seed)
    H = learners[0].H

    def r(*shape):
        return torch.randn(*shape, generator=g)

    x = dict(
        leader_obs=r(steps, LEADER_OBS).abs(),
        u_l=r(steps, LEADER_ACT).tanh(),
        r_l=r(steps),
        leader_next=r(steps, LEADER_OBS).abs(),
        hh_obs=r(steps, H, HH_OBS).abs(),
        u_f=r(steps, H, HH_ACT).tanh(),
        r_f=r(steps, H),
        hh_next=r(steps, H, HH_OBS).abs(),
        terminated=torch.rand(steps, generator=g) < 0.2,
    )
    for L in learners:
        L.store(**x)


def _grads(loss, module) -> list:
    return torch.autograd.grad(loss, [p for p in module.parameters() if p.requires_grad])


def _close(a, b, tol=1e-10) -> bool:
    return bool((a - b).abs().max() <= tol * (1.0 + b.abs().max()))


# --- tests ---------------------------------------------------------------------------------


def test_the_split_critics_hold_the_old_critics_weights():
    new, old = _learners(torch.float32)
    for name in ("critic_l", "critic_f"):
        a, b = getattr(new.nets, name).state_dict(), getattr(old.nets, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_losses_and_gradients_equal_the_old_concatenated_inputs():
    new, old = _learners()
    _store((new, old), STEPS, seed=1)
    # the leader: the same draws give the same batch; critic loss, actor loss and their gradients;
    # the followers: (step, household) pairs in groups, the own action replaced in its slot
    for side, (critic, actor) in (
        ("leader", ("critic_l", "actor_l")),
        ("follower", ("critic_f", "actor_f")),
    ):
        bn, bo = getattr(new, f"{side}_batch")(), getattr(old, f"{side}_batch")()
        for loss, net in ((f"{side}_critic_loss", critic), (f"{side}_actor_loss", actor)):
            ln = getattr(new, loss)(new.nets, new.targets, bn)
            lo = getattr(old, loss)(old.nets, old.targets, bo)
            assert _close(ln, lo), loss
            gns, gos = _grads(ln, getattr(new.nets, net)), _grads(lo, getattr(old.nets, net))
            for gn, go in zip(gns, gos, strict=True):
                assert _close(gn, go), (loss, net)


def _rel(a, b) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _rel_all(gs_a, gs_b) -> float:
    """A module's gradients' largest difference relative to its largest gradient."""
    big = max(float(g.abs().max()) for g in gs_b)
    return max(float((a - b).abs().max()) for a, b in zip(gs_a, gs_b, strict=True)) / big


def test_float32_losses_and_gradients_equal_the_reference_to_1e_5():
    """In the training's float32 and as the training calls them (an actor's loss through its
    frozen critic, whose first layer is then used through views of its weight), the losses equal
    the concatenated reference's to 1e-5 relative, and the gradients of the critic and of the
    actor to 1e-5 of the module's largest gradient, at N = 11 and at N = 40."""
    for n in (N, 40):
        new, old = _learners(torch.float32, n=n)
        _store((new, old), STEPS, seed=6)
        for side, (critic, actor) in (
            ("leader", ("critic_l", "actor_l")),
            ("follower", ("critic_f", "actor_f")),
        ):
            bn, bo = getattr(new, f"{side}_batch")(), getattr(old, f"{side}_batch")()
            ln = getattr(new, f"{side}_critic_loss")(new.nets, new.targets, bn)
            lo = getattr(old, f"{side}_critic_loss")(old.nets, old.targets, bo)
            assert _rel(ln, lo) <= 1e-5, (n, side)
            gns, gos = _grads(ln, getattr(new.nets, critic)), _grads(lo, getattr(old.nets, critic))
            assert _rel_all(gns, gos) <= 1e-5, (n, side, "critic grads")
            losses = []
            for L, b in ((new, bn), (old, bo)):
                with frozen(getattr(L.nets, critic)):
                    loss = getattr(L, f"{side}_actor_loss")(L.nets, L.targets, b)
                    losses.append((loss, _grads(loss, getattr(L.nets, actor))))
            (ln, gns), (lo, gos) = losses
            assert _rel(ln, lo) <= 1e-5, (n, side, "actor loss")
            assert _rel_all(gns, gos) <= 1e-5, (n, side, "actor grads")


def test_the_own_slot_gradient_reaches_the_action_as_before():
    """d Q_f / d u through the household's own slot of the joint action (and its own input)."""
    new, old = _learners()
    _store((new, old), STEPS, seed=2)
    bn, bo = new.follower_batch(), old.follower_batch()
    u = torch.randn(bn["a_f"].shape, dtype=torch.float64).tanh().requires_grad_()
    qn = new.nets.critic_f(bn["s_f"], u, *new.follower_x_pi(new.nets, bn, u))
    (gn,) = torch.autograd.grad(qn.sum(), u)
    qo = old.nets.critic_f(bo["s_f"], u, *old.follower_x_pi(old.nets, bo, u))
    (go,) = torch.autograd.grad(qo.sum(), u)
    assert _close(qn, qo) and _close(gn, go)
    # and the slot matters: another household's slot gives another gradient
    shifted = {**bn, "slot": (bn["slot"] + 1) % new.H}
    qs = new.nets.critic_f(bn["s_f"], u, *new.follower_x_pi(new.nets, shifted, u))
    (gs,) = torch.autograd.grad(qs.sum(), u)
    assert not _close(gs, gn, 1e-6)


def test_training_equals_the_old_updates_with_the_next_actions_reused():
    """Update phases (the leader's reusing the target actor's next actions across its updates),
    a new step stored in between (the reuse starts over), as the old learner trains."""
    new, old = _learners()
    _store((new, old), STEPS - 5, seed=3)
    for rnd in range(3):
        out_n, out_o = new.update(), old.update()
        for k in out_o:
            assert abs(out_n[k] - out_o[k]) <= 1e-9 * (1 + abs(out_o[k])), (rnd, k)
        _store((new, old), 2, seed=10 + rnd)
    for name in ("actor_l", "critic_l", "actor_f", "critic_f"):
        for mods in ("nets", "targets"):
            a = getattr(getattr(new, mods), name).state_dict()
            b = getattr(getattr(old, mods), name).state_dict()
            for k in a:
                assert _close(a[k], b[k], 1e-9), (mods, name, k)


def test_next_actions_are_computed_once_per_step_within_a_leader_phase():
    new, _ = _learners(torch.float32, n=10)
    _store((new,), STEPS, seed=4)
    calls = []
    actor = new.targets.actor_f
    actor.register_forward_hook(lambda m, i, o: calls.append(i[0].reshape(-1, HH_OBS).shape[0]))
    idx = torch.tensor([0, 3, 3, 7])
    a = new._next_actions(idx)
    ref = actor(new.nets.norm_f(new.buf.data["h_next"][idx]))
    assert torch.equal(a, ref) and calls[:1] == [3 * new.H]  # three distinct steps
    calls.clear()
    assert torch.equal(new._next_actions(torch.tensor([7, 0])), ref[[3, 0]]) and calls == []
    # a soft update of the target actor (a follower update) and a stored step start over
    soft_update(actor, new.nets.actor_f, 0.5)
    calls.clear()
    b = new._next_actions(idx)
    assert calls and torch.allclose(b, actor(new.nets.norm_f(new.buf.data["h_next"][idx])))
    _store((new,), 1, seed=5)
    calls.clear()
    new._next_actions(idx)
    assert calls


# --- issue 19: the faster epoch equals the unoptimised one bit for bit -----------------------


class _PlainObsActor(ObsActor):
    """The household actor as it was: the module's layers, blocks of rows concatenated."""

    def forward(self, s_f, a_l=None):
        if torch.is_grad_enabled() or self.net[0].weight.dim() != 2:
            return self.net(s_f)
        flat = s_f.reshape(-1, s_f.shape[-1])
        if flat.shape[0] <= 2048:
            return self.net(s_f)
        out = torch.cat([self.net(flat[i : i + 2048]) for i in range(0, flat.shape[0], 2048)])
        return out.reshape(*s_f.shape[:-1], out.shape[-1])


class _PlainLearner(MADDPGLearner):
    """The unoptimised reference: TD3's actor loss through both leader critics (Q_l1 taken),
    the plain household actor."""

    def networks(self) -> dict:
        nets = super().networks()
        nets["actor_f"].__class__ = _PlainObsActor  # the same weights: the same draws
        return nets

    def leader_actor_loss(self, nets, targets, b):
        a_l = nets.actor_l(b["s_l"])
        q = self._q_l(nets.critic_l, b["s_l"], a_l, *self.leader_x(b))
        return self.leader_pi_objective(q[..., 0], a_l, b)


class _PlainTrainer(MADDPGTrainer):
    learner_cls = _PlainLearner


_RUN = dict(
    variant="clearing",
    n_households=11,
    epochs=3,
    steps_per_epoch=40,
    batch_size=16,
    households_per_step=4,
    leader_updates=6,
    follower_updates=6,
    eval_episodes=2,
    eval_steps=20,
    seed=5,
)
_KEYS = ("leader_q_loss", "leader_pi_loss", "follower_q_loss", "follower_pi_loss", "leader_return")
# what commit 0f1f123 (before issue 19's MADDPG epoch work) gave for this run, float32 on the
# 2-core machines: the epoch's losses and return, and each network's sum of |weights|
_OLD = {
    "leader_q_loss": 317764.00549316406,
    "leader_pi_loss": 0.24298447370529175,
    "follower_q_loss": 27.40850257873535,
    "follower_pi_loss": 0.46014660596847534,
    "leader_return": -196.17330932617188,
    "actor_l": 218.38638781791087,
    "critic_l": 2440.3101421312103,
    "actor_f": 884.3716919052922,
    "critic_f": 1236.5534500018475,
}


def test_a_seeded_run_equals_the_unoptimised_reference_bit_for_bit():
    """Three epochs (collection, TD3 leader and follower updates, evaluation) of the trainer and
    of the unoptimised reference: the same metrics and every weight, target, Adam moment and
    replay entry equal bit for bit; and the metrics and weights equal what the code before the
    change gave to 1e-5 relative (float32)."""
    torch.set_num_threads(1)  # as training runs (two threads' products may round otherwise)
    cfg = maddpg_config("smoke", **_RUN)
    runs = []
    for cls in (MADDPGTrainer, _PlainTrainer):  # one after the other: a trainer seeds torch
        tr = cls(cfg)
        runs.append(([tr.train_epoch() for _ in range(cfg.epochs)], tr.learner.state_dict()))
    (ms_n, sn), (ms_r, sr) = runs
    for mn, mr in zip(ms_n, ms_r, strict=True):
        # the leader's actor loss is -mean Q_l1 over the batch, reduced from a contiguous Q_l1
        # now, from a column of (Q_l1, Q_l2) before: the same gradient (the weights below are
        # equal bit for bit), a value that may round differently; everything else bit for bit
        for k in _KEYS:
            tol = 1e-5 * abs(mr[k]) if k == "leader_pi_loss" else 0.0
            assert abs(mn[k] - mr[k]) <= tol, (k, mn[k], mr[k])

    def leaves(d, at=()):
        if isinstance(d, dict):
            for k, v in d.items():
                yield from leaves(v, (*at, k))
        else:
            yield at, d

    pairs = list(zip(leaves(sn), leaves(sr), strict=True))
    assert len(pairs) > 20
    for (kn, a), (kr, b) in pairs:
        assert kn == kr
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b, kn
    got = {k: mn[k] for k in _KEYS}
    got.update(
        {k: float(sum(t.double().abs().sum() for t in v.values())) for k, v in sn["nets"].items()}
    )
    for k, v in _OLD.items():
        assert abs(got[k] - v) <= 1e-5 * abs(v), (k, got[k], v)


def test_the_household_actor_without_a_gradient_equals_the_reference_bit_for_bit():
    """Its layers called directly, the blocks of rows written into one output: the numbers of
    the module's layers on the same blocks (one block, several, a last partial one)."""
    torch.manual_seed(0)
    actor, ref = ObsActor(), _PlainObsActor()
    ref.load_state_dict(actor.state_dict())
    for shape in ((3, 7, HH_OBS), (2048, HH_OBS), (5000, HH_OBS), (3, 2049, HH_OBS)):
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.equal(actor(x), ref(x)), shape
        assert torch.equal(actor(x), ref(x)), shape  # with a gradient: the module's layers
