"""A slow, obviously-correct reference of one economy's period: plain Python, one household at
a time, written straight from book:model-taxai and book:model-clearing. Used by the parity tests and
as the benchmark's baseline; never on a hot path."""

from __future__ import annotations

import math

from smfg.config import EconomyParams


def ref_tax_e6(x: float, tau: float, xi: float) -> float:
    """E6 for one value; 0 for x <= 0."""
    if x <= 0:
        return 0.0
    return x - (1 - tau) / (1 - xi) * x ** (1 - xi)


def ref_gini(values: list[float]) -> float:
    """Population Gini normalised for negative values (Raffinetti, Siletti and Vernizzi 2015),
    from the sorted values: sum_i (2i - n - 1) x_(i) / (n sum |x|); the ordinary Gini
    (book:model-metrics) when no value is negative."""
    xs = sorted(values)
    n = len(xs)
    scale = sum(abs(x) for x in xs)
    if scale == 0:
        return 0.0
    return sum((2 * (i + 1) - n - 1) * x for i, x in enumerate(xs)) / (n * scale)


def ref_ability(e: list[float], sup: list[bool], eps: list[float], u: list[float], p):
    """E11 for one economy, household by household."""
    normal = [x for x, s in zip(e, sup, strict=True) if not s]
    if normal:
        mean_prev = sum(normal) / len(normal)
    else:  # all superstars: they keep their level
        mean_prev = sum(e) / len(e) / p.mult_super
    e_new, sup_new = [], []
    for i in range(len(e)):
        if not sup[i]:
            if u[i] < p.p_super:
                e_new.append(None)
                sup_new.append(True)
            else:
                e_new.append(math.exp(p.rho_e * math.log(e[i]) + p.sigma_e * eps[i]))
                sup_new.append(False)
        else:
            if u[i] < p.stay_super:
                e_new.append(None)
                sup_new.append(True)
            else:
                e_new.append("leave")
                sup_new.append(False)
    max_normal = max([x for x in e_new if isinstance(x, float)], default=0.0)
    if max_normal == 0.0:  # nobody stays normal: last period's largest normal ability
        max_normal = max(normal, default=0.0) or mean_prev
    for i in range(len(e)):
        if e_new[i] is None:
            e_new[i] = p.mult_super * mean_prev
        elif e_new[i] == "leave":
            e_new[i] = (u[i] - p.stay_super) / (1 - p.stay_super) * max_normal
    return e_new, sup_new


def ref_step(st: dict, gov: dict, s: list, f: list, eps: list, u: list, p: EconomyParams):
    """One period of one economy. ``st``: a, e, sup (lists), K, B (floats); ``gov``: tau, xi,
    tau_a, xi_a, g (scaled). Returns (next state dict, flows dict)."""
    n = len(s)
    e, sup = ref_ability(st["e"], st["sup"], eps, u, p)
    h = [p.h_max * f[i] for i in range(n)]
    L = 0.0
    for i in range(n):
        L += e[i] * h[i]
    K, B, a = st["K"], st["B"], st["a"]
    Y = p.A * K**p.alpha * L ** (1 - p.alpha)
    if p.variant == "taxai":
        W = p.A * (1 - p.alpha) * (K / L) ** p.alpha
        r = p.r
    else:
        W = (1 - p.alpha) * Y / L
        r = p.alpha * Y / K - p.delta
    G = gov["g"] * Y
    income = [W * e[i] * h[i] + r * a[i] for i in range(n)]
    T_i = [ref_tax_e6(income[i], gov["tau"], gov["xi"]) for i in range(n)]
    T_a = [ref_tax_e6(a[i], gov["tau_a"], gov["xi_a"]) for i in range(n)]
    post_income = [income[i] - T_i[i] for i in range(n)]
    post_assets = [a[i] - T_a[i] for i in range(n)]
    tr = 0.0
    if p.variant == "taxai":
        c = [(1 - s[i]) * post_income[i] / (1 + p.tau_c) for i in range(n)]
        C = sum(c)
        if C + G > Y:
            c = [ci * (Y - G) / C for ci in c]
        a_next = [post_income[i] + post_assets[i] - (1 + p.tau_c) * c[i] for i in range(n)]
        C = sum(c)
        K_next = (1 + r) * K + W * L - C - G
        taxes = sum(T_i[i] + T_a[i] + p.tau_c * c[i] for i in range(n))
        B_next = (1 + r) * B + G - taxes
        util = [
            1 / (1 + math.exp(-(math.log(c[i] / p.util_scale) - p.labor_weight * f[i] ** 3 / 3)))
            for i in range(n)
        ]
    else:
        z = [W * e[i] * h[i] + (1 + r) * a[i] - T_i[i] - T_a[i] for i in range(n)]
        if p.closure == "transfer":
            B_next = p.b * Y
            # solve N tr = sum(T_i + T_a) + tau_c C - G - (1+r) B + B' by fixed-point iteration
            # (a contraction with factor tau_c/(1+tau_c) * mean(1-s) < 0.07)
            base = sum(T_i) + sum(T_a) - G - (1 + r) * B + B_next
            tr = 0.0
            for _ in range(200):
                cons_tax = sum(p.tau_c * (1 - s[i]) * (z[i] + tr) / (1 + p.tau_c) for i in range(n))
                tr_new = (base + cons_tax) / n
                converged = abs(tr_new - tr) <= 1e-16 * (abs(tr_new) + 1.0)
                tr = tr_new
                if converged:
                    break
        x = [z[i] + tr for i in range(n)]
        c = [(1 - s[i]) * x[i] / (1 + p.tau_c) for i in range(n)]
        a_next = [s[i] * x[i] for i in range(n)]
        C = sum(c)
        taxes = sum(T_i[i] + T_a[i] + p.tau_c * c[i] for i in range(n))
        if p.closure == "debt":
            B_next = (1 + r) * B + G - taxes
        K_next = sum(a_next) - B_next
        k = 1 + 1 / p.phi
        util = []
        for i in range(n):
            ci = max(c[i], 1e-10)
            uc = math.log(ci) if p.sigma == 1 else ci ** (1 - p.sigma) / (1 - p.sigma)
            util.append(uc - p.chi * f[i] ** k / k)
    flows = dict(
        e=e,
        L=L,
        Y=Y,
        W=W,
        r=r,
        G=G,
        income=income,
        post_income=post_income,
        post_assets=post_assets,
        transfer=tr,
        c=c,
        C=C,
        a_next=a_next,
        K_next=K_next,
        B_next=B_next,
        taxes=taxes,
        u=util,
        income_gini=ref_gini(post_income),
        wealth_gini=ref_gini(post_assets),
    )
    nxt = dict(a=a_next, e=e, sup=sup, K=K_next, B=B_next)
    return nxt, flows
