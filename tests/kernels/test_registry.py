"""The backend registry's messages point at a backend that works (issue 17.6)."""

from __future__ import annotations

import pytest
import torch

import brenier


def test_p1_on_multiscale_recommends_online_which_works(gen):
    x = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"^\[brenier\] backend 'multiscale'.*backend='online'"
    ) as info:
        brenier.solve(x, y, p=1, backend="multiscale")
    assert "'dense'" not in str(info.value)
    assert brenier.solve(x, y, p=1, backend="online").backend == "online"


def test_a_custom_cost_still_recommends_dense(gen):
    x = torch.randn(20, 2, generator=gen, dtype=torch.float64)

    def cost(u, v):
        return ((u[:, :, None] - v[:, None]) ** 2).sum(-1)

    with pytest.raises(ValueError, match=r"use backend='dense' \(custom costs"):
        brenier.solve(x, x + 1, cost=cost, backend="online")
