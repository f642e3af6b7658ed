"""``param_list``: the parameter list an update reads several times, kept on the module.

It must name the module's own parameters in ``parameters()``' order, stay right after the
in-place changes training makes (optimiser steps, ``load_state_dict``), and a deep copy (the
target networks are one) must hold a list of its own parameters, never the original's."""

import copy

import torch
from torch import nn

from smfg.algos.core import param_list, soft_update


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_the_list_is_the_modules_parameters_in_order():
    m = _net()
    assert [id(p) for p in param_list(m)] == [id(p) for p in m.parameters()]
    assert param_list(m) is param_list(m)  # kept, not rebuilt


def test_a_deep_copy_names_its_own_parameters():
    m = _net()
    param_list(m)  # cached before the copy, as the trainer's networks may be
    c = copy.deepcopy(m)
    assert [id(p) for p in param_list(c)] == [id(p) for p in c.parameters()]
    assert not {id(p) for p in param_list(c)} & {id(p) for p in m.parameters()}


def test_in_place_changes_are_seen_and_soft_update_matches_the_formula():
    m, target = _net(), _net()
    with torch.no_grad():
        for p in target.parameters():
            p.add_(1.0)
    before = [p.clone() for p in param_list(target)]
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    m(torch.ones(5, 3)).sum().backward()
    opt.step()  # in place: the cached list sees the new values
    m2 = _net()
    m2.load_state_dict(m.state_dict())  # in place as well
    assert all(torch.equal(a, b) for a, b in zip(param_list(m2), m.parameters(), strict=True))
    soft_update(target, m, 0.05)
    for b, t, s in zip(before, target.parameters(), m.parameters(), strict=True):
        torch.testing.assert_close(t, 0.95 * b + 0.05 * s, rtol=0, atol=1e-6)
