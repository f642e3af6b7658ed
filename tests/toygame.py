"""A one-step leader-follower game with known equilibria, for the learners' update rules.

The leader's first action number x and the households' first numbers y_i (actor outputs in
(-1, 1); the other numbers carry no reward) are paid, every episode being one step,
  r_l = -(x - X0)^2 - W (ybar - Y0)^2 - K x ybar,     r_f,i = -(y_i - B x - C)^2,
ybar the mean of the y_i. A household's best response to x is y = B x + C. The leader's
best response to a fixed ybar is x = X0 - K ybar / 2. Their intersection, the Nash
equilibrium, is x_N = (X0 - K C / 2) / (1 + K B / 2), y_N = B x_N + C. A leader who
anticipates the reaction (Stackelberg) chooses x_S = (2 X0 - 2 W B (C - Y0) - K C) /
(2 + 2 W B^2 + 2 K B): here x_N = 0.313 and x_S = -0.005.
"""

import torch

X0, Y0, B, C, W, K = 0.6, -0.5, 0.9, 0.1, 1.0, 1.5
X_NASH = (X0 - K * C / 2) / (1 + K * B / 2)
Y_NASH = B * X_NASH + C
X_STACKELBERG = (2 * X0 - 2 * W * B * (C - Y0) - K * C) / (2 + 2 * W * B * B + 2 * K * B)
TOL = 0.06  # the equilibria above lie 0.29 (DDPG's 0.6) and 0.32 (Stackelberg) apart
H_TOY, E_TOY = 20, 32


def toy_rewards(u_l, u_f):
    x, y = u_l[:, 0], u_f[..., 0]
    ybar = y.mean(1)
    return -((x - X0) ** 2) - W * (ybar - Y0) ** 2 - K * x * ybar, -((y - B * x[:, None] - C) ** 2)


#: A followers' game with an externality, for the followers' gradient: r_f,i = -(y_i - C_F)^2
#: + M_F ybar y_i (the leader's reward as above). A price-taking household (ybar given) plays
#: y = C_F + M_F ybar / 2, so the Nash (mean field game) mean is y_N = C_F / (1 - M_F / 2);
#: one actor choosing every household's y together (mean field control) maximises
#: -(y - C_F)^2 + M_F y^2: y_C = C_F / (1 - M_F). Here y_N = 0.4 and y_C = 0.6.
C_F, M_F = 0.3, 0.5
Y_PRICE_TAKING = C_F / (1 - M_F / 2)
Y_CONTROL = C_F / (1 - M_F)


def externality_rewards(u_l, u_f):
    r_l, _ = toy_rewards(u_l, u_f)
    y = u_f[..., 0]
    return r_l, -((y - C_F) ** 2) + M_F * y.mean(1, keepdim=True) * y


#: iterations of :func:`play_offpolicy` by learner, where 150 is not enough: MF-MARL's followers
#: settle more slowly (its critic sees the population only through the mean field); at 150
#: iterations seed 0 ended with y 0.1 from y_N on an AVX2 machine (the rounding of another
#: CPU's kernels), at 300 seeds 0, 1 and 2 all end within TOL there
ITERS = {"MFMARLLearner": 300}


def play_offpolicy(
    learner, iters: int | None = None, seed: int = 0, households: int = H_TOY, rewards=toy_rewards
):
    """Drive a DDPG-family learner's own act/store/update on the one-step game: E_TOY games
    of ``households`` households per iteration with independent exploration noise per
    household, then its updates (``iters``: by default 150, or the learner's :data:`ITERS`).
    Returns the leader's x and the households' mean y."""
    if iters is None:
        iters = ITERS.get(type(learner).__name__, 150)
    g = torch.Generator().manual_seed(seed)
    s_l, s_f = torch.zeros(E_TOY, 6), torch.zeros(E_TOY, households, 2)
    for _ in range(iters):
        u_l, u_f = learner.act(s_l, s_f, 0.0, g)
        u_l = (u_l + 0.2 * torch.randn(u_l.shape, generator=g)).clamp(-1, 1)
        if learner.nets.actor_f is not None:
            u_f = (u_f + 0.1 * torch.randn(u_f.shape, generator=g)).clamp(-1, 1)
        r_l, r_f = rewards(u_l, u_f)
        learner.store(s_l, u_l, r_l, s_l, s_f, u_f, r_f, s_f, torch.ones(E_TOY))
        learner.update()
    with torch.no_grad():
        u_l, u_f = learner.act(s_l[:1], s_f[:1], 0.0, g)
    return float(u_l[0, 0]), float(u_f[0, :, 0].mean())


TOY = dict(
    variant="clearing",
    n_households=H_TOY,
    leader_updates=10,
    follower_updates=10,
    batch_size=128,
    lr=1e-3,
    lr_decay=0.5,
    lr_decay_every=500,
    replay_steps=1024,
    noise_std=0.0,
)
