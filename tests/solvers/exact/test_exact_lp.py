"""The transport LP (HiGHS) against POT's network simplex."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brenier.solvers.exact import emd

ot = pytest.importorskip("ot", reason="POT (test extra `pot`) is the LP reference")


def _problem(n: int, m: int, d: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, dtype=torch.float64, generator=g)
    y = torch.rand(m, d, dtype=torch.float64, generator=g) + 0.5
    a = torch.rand(n, dtype=torch.float64, generator=g) + 0.05
    b = torch.rand(m, dtype=torch.float64, generator=g) + 0.05
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("shape", [(20, 30, 2), (60, 45, 3)])
def test_emd_matches_pot_emd2(p, shape):
    x, y, a, b = _problem(*shape, seed=shape[0] + p)
    M = ot.dist(x.numpy(), y.numpy(), metric="sqeuclidean" if p == 2 else "euclidean")
    ref = ot.emd2(a.numpy(), b.numpy(), M / 2 if p == 2 else M)
    res = emd(x, y, a, b, p=p)
    assert float(res.value) == pytest.approx(ref, rel=1e-9)
    plan = res.plan.to_dense()
    assert torch.allclose(plan.sum(1), a, atol=1e-12) and torch.allclose(plan.sum(0), b, atol=1e-12)
    assert res.plan._nnz() <= shape[0] + shape[1] - 1  # a vertex of the polytope


def test_emd_duals_certify_the_value():
    x, y, a, b = _problem(40, 35, 3, seed=2)
    res = emd(x, y, a, b)
    C = torch.cdist(x, y) ** 2 / 2
    assert float(res.f @ a + res.g @ b) == pytest.approx(float(res.value), rel=1e-9)
    assert float((res.f[:, None] + res.g[None, :] - C).max()) <= 1e-9


def test_emd_batched_custom_cost_and_gradient():
    x, y, a, b = _problem(15, 15, 2, seed=3)
    xb = torch.stack([x, y]).requires_grad_(True)
    yb = torch.stack([y, x])
    res = emd(xb, yb, torch.stack([a, b]), torch.stack([b, a]))
    assert res.value.shape == (2,) and res.plan.shape == (2, 15, 15)
    value = res.value.detach()
    assert float(value[0]) == pytest.approx(float(value[1]), rel=1e-9)  # symmetry
    res.value.sum().backward()
    assert xb.grad is not None and torch.isfinite(xb.grad).all()

    def manhattan(u, v):
        return (u[:, :, None, :] - v[:, None, :, :]).abs().sum(-1)

    M = np.abs(x.numpy()[:, None] - y.numpy()[None]).sum(-1)
    ref = ot.emd2(a.numpy(), b.numpy(), M)
    assert float(emd(x, y, a, b, cost=manhattan).value) == pytest.approx(ref, rel=1e-9)


def test_emd_keeps_float32():
    x, y, a, b = _problem(10, 12, 2, seed=4)
    res = emd(x.float(), y.float(), a.float(), b.float())
    assert res.value.dtype == torch.float32 and res.plan.dtype == torch.float32
