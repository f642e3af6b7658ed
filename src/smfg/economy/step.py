"""One period of E economies of H households: a pure function of state, actions and shocks.

``step(state, gov, s, f, shocks, params) -> (next_state, Flows)``. Nothing is mutated and no
random number is drawn inside. ``Flows`` carries every accounting quantity of the period,
the relative residual of each identity and, per economy, whether and why it terminated.
An economy already done stays frozen (its state is returned unchanged, ``Flows.active`` is
False for it) while the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from smfg.config import EconomyParams
from smfg.economy import firm
from smfg.economy.government import GovAction, transfer_closing_budget
from smfg.economy.household import ability_step, utility_clearing, utility_taxai
from smfg.economy.metrics import gini_rsv_sorted, gini_sorted, sort_last
from smfg.economy.state import EconState, Shocks

# Termination conditions (book:model-termination), as bit flags: several can fire in the same step.
GOODS = 1  # C + G > Y ('taxai' goods constraint; consumption is scaled down)
CAPITAL = 2  # K' < 0 ('taxai'), K' <= 0 ('clearing')
NEGATIVE_ASSETS = 4  # some a' < 0 (in 'clearing': negative cash on hand)
GINI = 8  # wealth or income Gini >= 1 ('taxai', the ordinary Gini)
NONFINITE = 16  # NaN or infinity in output, capital, assets or utilities
TIME_LIMIT = 32  # T steps
DEBT_LIMIT = 64  # |B'/Y| above the debt limit ('clearing' with closure='debt')

TERMINATION_FLAGS = {
    "goods_market": GOODS,
    "negative_capital": CAPITAL,
    "negative_assets": NEGATIVE_ASSETS,
    "gini_above_one": GINI,
    "nonfinite": NONFINITE,
    "time_limit": TIME_LIMIT,
    "debt_limit": DEBT_LIMIT,
}


def termination_reasons(flags: int) -> list[str]:
    """Names of the conditions set in a termination bit mask (empty if none fired)."""
    return [name for name, bit in TERMINATION_FLAGS.items() if int(flags) & bit]


@dataclass(frozen=True)
class Flows:
    """Everything that happened in one period. [E, H] per household, [E] per economy.

    Money is in dollars in 'taxai' and in units of initial output per household in
    'clearing' (``EconomyParams.money_unit`` dollars each).
    """

    e: Tensor  # ability used this period
    superstar: Tensor  # superstar flags after this period's draw (E11)
    s: Tensor  # saving share (clipped)
    f: Tensor  # work share (clipped)
    h: Tensor  # hours
    a: Tensor  # assets at the start of the period
    L: Tensor  # effective labour (E2)
    K: Tensor  # capital used (start of period)
    B: Tensor  # government debt at the start of the period
    Y: Tensor  # output (E3)
    W: Tensor  # wage (E4 / E22)
    r: Tensor  # interest rate (fixed in 'taxai', E22 in 'clearing') [E]
    G: Tensor  # government spending
    income: Tensor  # pre-tax income i = W e h + r a (E5)
    income_sorted: Tensor  # income sorted ascending per economy
    income_tax: Tensor
    asset_tax: Tensor
    post_income: Tensor  # i - Tax(i)
    post_assets: Tensor  # a - Tax_a(a)
    transfer: Tensor  # lump-sum transfer per household [E] (0 in 'taxai')
    cash: Tensor  # resources to split between consumption and saving
    c: Tensor  # consumption (goods)
    C: Tensor  # aggregate consumption
    consumption_tax: Tensor
    a_next: Tensor  # assets at the start of next period (E8 / E20)
    K_next: Tensor  # next period's capital (E9 / E21)
    B_next: Tensor  # next period's debt (E10 / E23)
    taxes: Tensor  # total tax revenue, consumption tax included [E]
    u: Tensor  # utility (E12 / E25)
    welfare: Tensor  # sum of utilities [E]
    income_gini: Tensor  # Gini of post-tax income, normalised for negatives (RSV) [E]
    wealth_gini: Tensor  # Gini of post-tax assets, normalised for negatives (RSV) [E]
    res_household: Tensor  # max |budget residual| over households / mean |resources| [E]
    res_government: Tensor  # relative residual of the government budget [E]
    res_goods: Tensor  # relative residual of the goods market [E]
    res_capital: Tensor  # relative residual of the capital market [E]
    active: Tensor  # the economy stepped in this period [E] bool
    terminated: Tensor  # conditions that fired in this period, as bit flags [E] int64
    done: Tensor  # episode over after this period (terminated or time limit) [E] bool

    def residuals(self) -> dict[str, Tensor]:
        """The four identity residuals by name ([E] each)."""
        return {
            "household_budget": self.res_household,
            "government_budget": self.res_government,
            "goods_market": self.res_goods,
            "capital_market": self.res_capital,
        }


def _rel(diff: Tensor, scale: Tensor) -> Tensor:
    """|diff| / scale, guarding scale = 0."""
    return diff.abs() / scale.abs().clamp_min(torch.finfo(diff.dtype).tiny)


def step(
    state: EconState,
    gov: GovAction,
    s: Tensor,
    f: Tensor,
    shocks: Shocks,
    params: EconomyParams,
) -> tuple[EconState, Flows]:
    """Advance every economy one period (book:model-taxai, book:model-clearing).

    gov: GovAction with [E] fields; s, f: clipped saving and work shares [E, H]; shocks: [E, H].
    """
    if params.variant == "taxai":
        flows = _period_taxai(state, gov, s, f, shocks, params)
    else:
        flows = _period_clearing(state, gov, s, f, shocks, params)
    return _advance(state, flows)


def _period_taxai(
    st: EconState, gov: GovAction, s: Tensor, f: Tensor, sh: Shocks, p: EconomyParams
) -> Flows:
    e, sup = ability_step(st.e, st.superstar, sh.eps, sh.u, p)  # E11: drawn before production
    h = p.h_max * f
    eh = e * h
    L = eh.sum(-1)  # E2
    K = st.K
    Y = firm.output(p.A, K, L, p.alpha)  # E3
    W = firm.wage_taxai(p.A, K, L, p.alpha)  # E4
    G = gov.g * Y
    a = st.a
    labour_income = W.unsqueeze(-1) * eh
    income = labour_income + p.r * a  # E5
    T_i = gov.income_tax(income)  # E6
    T_a = gov.asset_tax(a)
    post_income = income - T_i
    post_assets = a - T_a
    c = (1.0 - s).mul_(post_income).mul_(1.0 / (1.0 + p.tau_c))  # E7
    C = c.sum(-1)
    goods_fail = C + G > Y
    # scale consumption down to Y - G where C + G > Y (compiled: always, a factor 1 elsewhere)
    if torch.compiler.is_compiling() or bool(goods_fail.any()):
        c = c * torch.where(goods_fail, (Y - G) / C, 1.0).unsqueeze(-1)
        C = c.sum(-1)
    T_c = p.tau_c * c
    cash = post_income + post_assets
    a_next = torch.add(cash, c, alpha=-(1.0 + p.tau_c))  # E8
    A_next = a_next.sum(-1)
    K_next = (1.0 + p.r) * K + W * L - C - G  # E9
    taxes = T_i.sum(-1) + T_a.sum(-1) + p.tau_c * C
    B_next = (1.0 + p.r) * st.B + G - taxes  # E10
    u = utility_taxai(c, f, p)  # E12
    # identities: household budget E8, government budget E10; the goods and capital markets
    # do not clear in 'taxai' (book:audit-explodes): their residuals measure by how much.
    hh_res = _rel(
        torch.add(a_next, c, alpha=1.0 + p.tau_c).sub_(cash).abs_().amax(-1), cash.abs().mean(-1)
    )
    gov_res = _rel(
        B_next - (1.0 + p.r) * st.B - G + taxes, B_next.abs() + (1.0 + p.r) * st.B.abs() + G
    )
    goods_res = _rel(Y - C - G - (K_next - K), Y)
    cap_res = _rel(K_next + B_next - A_next, A_next)
    zero = torch.zeros_like(Y)
    flags = torch.where(goods_fail, GOODS, 0) | torch.where(K_next < 0, CAPITAL, 0)
    flags = flags | torch.where(a_next.amin(-1) < 0, NEGATIVE_ASSETS, 0)
    return _finish(
        st,
        p,
        gov,
        flags,
        e=e,
        superstar=sup,
        s=s,
        f=f,
        h=h,
        L=L,
        K=K,
        Y=Y,
        W=W,
        r=p.r + zero,
        G=G,
        income=income,
        income_tax=T_i,
        asset_tax=T_a,
        post_income=post_income,
        post_assets=post_assets,
        transfer=zero,
        cash=cash,
        c=c,
        C=C,
        consumption_tax=T_c,
        a_next=a_next,
        K_next=K_next,
        B_next=B_next,
        taxes=taxes,
        u=u,
        res_household=hh_res,
        res_government=gov_res,
        res_goods=goods_res,
        res_capital=cap_res,
    )


def _period_clearing(
    st: EconState, gov: GovAction, s: Tensor, f: Tensor, sh: Shocks, p: EconomyParams
) -> Flows:
    H = s.shape[-1]
    e, sup = ability_step(st.e, st.superstar, sh.eps, sh.u, p)  # E11
    h = p.h_max * f
    eh = e * h
    L = eh.sum(-1)  # E2
    K = st.K  # E21: K = sum a - B
    Y = firm.output(p.A, K, L, p.alpha)  # E22
    W = firm.wage_clearing(Y, L, p.alpha)
    r = firm.interest_clearing(Y, K, p.alpha, p.delta)
    G = gov.g * Y
    a = st.a
    labour_income = W.unsqueeze(-1) * eh
    income = labour_income + r.unsqueeze(-1) * a
    T_i = gov.income_tax(income)
    T_a = gov.asset_tax(a)
    z = labour_income + (1.0 + r).unsqueeze(-1) * a - T_i - T_a  # cash on hand before transfer
    debt_service = (1.0 + r) * st.B
    if p.closure == "transfer":
        B_next = p.b * Y  # E23 fiscal rule
        R0 = (T_i + T_a).sum(-1) - G - debt_service + B_next
        tr = transfer_closing_budget(R0, z, s, p.tau_c, H)
    else:
        tr = torch.zeros_like(Y)
    cash = z + tr.unsqueeze(-1)  # E20
    c = (1.0 - s).mul_(cash).mul_(1.0 / (1.0 + p.tau_c))
    a_next = s * cash
    C = c.sum(-1)
    T_c = p.tau_c * c
    taxes = T_i.sum(-1) + T_a.sum(-1) + p.tau_c * C
    if p.closure == "debt":
        B_next = debt_service + G - taxes
    A_next = a_next.sum(-1)
    K_next = A_next - B_next  # E21
    u = utility_clearing(c, f, p)  # E25
    post_income = income - T_i
    post_assets = a - T_a
    # identities (E20, E23, E24 by Walras's law, E21)
    hh_res = _rel(
        torch.add(a_next, c, alpha=1.0 + p.tau_c).sub_(cash).abs_().amax(-1), cash.abs().mean(-1)
    )
    transfers = H * tr
    gov_res = _rel(
        taxes - G - debt_service + B_next - transfers,
        taxes.abs() + G + debt_service.abs() + B_next.abs() + transfers.abs(),
    )
    goods_res = _rel(Y - C - G - K_next + (1.0 - p.delta) * K, Y)
    cap_res = _rel(K_next + B_next - A_next, A_next)
    flags = torch.where(K_next <= 0, CAPITAL, 0) | torch.where(
        cash.amin(-1) < 0, NEGATIVE_ASSETS, 0
    )
    if p.closure == "debt":
        flags = flags | torch.where((B_next / Y).abs() > p.debt_limit, DEBT_LIMIT, 0)
    return _finish(
        st,
        p,
        gov,
        flags,
        e=e,
        superstar=sup,
        s=s,
        f=f,
        h=h,
        L=L,
        K=K,
        Y=Y,
        W=W,
        r=r,
        G=G,
        income=income,
        income_tax=T_i,
        asset_tax=T_a,
        post_income=post_income,
        post_assets=post_assets,
        transfer=tr,
        cash=cash,
        c=c,
        C=C,
        consumption_tax=T_c,
        a_next=a_next,
        K_next=K_next,
        B_next=B_next,
        taxes=taxes,
        u=u,
        res_household=hh_res,
        res_government=gov_res,
        res_goods=goods_res,
        res_capital=cap_res,
    )


def _finish(st: EconState, p: EconomyParams, gov: GovAction, flags: Tensor, **period) -> Flows:
    """Ginis, the termination checks shared by both variants, and the Flows record.

    ``flags``: the variant's own termination conditions [E]; ``period``: the period's values
    by their :class:`Flows` field names (all of them but the start-of-period state's ``a`` and
    ``B``, the sorted income, the welfare, the Ginis and the termination fields, made here).
    """
    income, u = period["income"], period["u"]
    Y, K_next, B_next, a_next = period["Y"], period["K_next"], period["B_next"], period["a_next"]
    # Post-tax income and assets are non-decreasing functions of pre-tax income and assets
    # (E6 with tau <= 1 and xi < 1, schedules with rates <= 1), so taxing the sorted pre-tax
    # values gives the sorted post-tax values: one sort of income, none of assets (the state
    # keeps them sorted).
    income_sorted = sort_last(income)
    post_income_sorted = income_sorted - gov.income_tax(income_sorted)
    post_assets_sorted = st.a_sorted - gov.asset_tax(st.a_sorted)
    # the Gini normalised for negative values: incomes r a are negative when r < 0 in
    # 'clearing'; on non-negative values (every live 'taxai' step) it is the ordinary Gini
    income_gini = gini_rsv_sorted(post_income_sorted)
    wealth_gini = gini_rsv_sorted(post_assets_sorted)
    if p.variant == "taxai":  # book:model-termination: the paper's rule on the ordinary Gini
        # (>= 1 only with negative values); in 'clearing' negative incomes are an outcome, not a
        # breakdown
        high = (gini_sorted(post_income_sorted) >= 1) | (gini_sorted(post_assets_sorted) >= 1)
        flags = flags | torch.where(high, GINI, 0)
    U = u.sum(-1)
    # one check of the seven [E] values (a sum is finite only if every term is)
    checked = (Y, K_next, B_next, a_next.sum(-1), U, income_gini, wealth_gini)
    finite = torch.isfinite(torch.stack(torch.broadcast_tensors(*checked))).all(0)
    flags = flags | torch.where(finite, 0, NONFINITE)
    active = ~st.done
    flags = flags | torch.where(st.t + 1 >= p.T, TIME_LIMIT, 0)
    flags = torch.where(active, flags, 0).to(torch.long)
    return Flows(
        **period,
        a=st.a,
        B=st.B,
        income_sorted=income_sorted,
        welfare=U,
        income_gini=income_gini,
        wealth_gini=wealth_gini,
        active=active,
        terminated=flags,
        done=st.done | (flags != 0),
    )


def _advance(st: EconState, fl: Flows) -> tuple[EconState, Flows]:
    """The next state; economies that were already done keep their state unchanged."""
    new = EconState(
        a=fl.a_next,
        e=fl.e,
        superstar=fl.superstar,
        income=fl.income,
        a_sorted=sort_last(fl.a_next),
        income_sorted=fl.income_sorted,
        K=fl.K_next,
        B=fl.B_next,
        Y_prev=fl.Y,
        t=st.t + 1,
        done=fl.done,
        termination=st.termination | fl.terminated,
    )
    return st.where(fl.active, new), fl
