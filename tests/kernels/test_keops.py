"""The optional pykeops backend against the dense reference (CPU mode compiles with g++)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from brenier.geometry import Cost
from brenier.kernels import BackendRequest, DensePair, KeOpsPair, choose_backend, get_backend

pytestmark = pytest.mark.keops
needs_pykeops = pytest.mark.skipif(
    importlib.util.find_spec("pykeops") is None, reason="pykeops is not installed"
)


def _grads(pair_of, x, y, h, eps, wrt):
    """softmin and its gradients in the arguments named by ``wrt`` (of "x", "y", "h")."""
    named = zip("xyh", (x, y, h), strict=True)
    leaves = [t.detach().clone().requires_grad_(name in wrt) for name, t in named]
    out = pair_of(*leaves[:2]).softmin(eps, leaves[2])
    cot = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    inputs = [t for t in leaves if t.requires_grad]
    return [out.detach(), *torch.autograd.grad((out * cot).sum(), inputs)]


def _softmin_matches_dense(p, wrt):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 30, 3, generator=g, dtype=torch.float64)
    y = torch.randn(2, 40, 3, generator=g, dtype=torch.float64)
    h = torch.randn(2, 40, generator=g, dtype=torch.float64)
    ours = _grads(lambda a, b: KeOpsPair(a, b, p=p), x, y, h, 0.3, wrt)
    ref = _grads(lambda a, b: DensePair(Cost(p).matrix(a, b)), x, y, h, 0.3, wrt)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


# KeOps compiles one formula per reduction and per gradient (10-60 s each on two cores,
# at the first run of a fresh install): the fast suite checks the value and the gradient
# in x of each cost, the slow one the gradients in y and h as well (the same expression,
# differentiated by KeOps in another variable).
@needs_pykeops
@pytest.mark.parametrize("p", [1, 2])
def test_keops_softmin_and_its_gradient_in_x_match_dense(p):
    _softmin_matches_dense(p, "x")


@needs_pykeops
@pytest.mark.slow
@pytest.mark.parametrize("p", [1, 2])
def test_keops_softmin_gradients_in_every_argument_match_dense(p):
    _softmin_matches_dense(p, "xyh")


@needs_pykeops
def test_one_point_each_keeps_the_shapes():
    """N = M = 1: every operand is a KeOps parameter and the reduction came back as (B,)
    instead of (B, N), which broadcast silently, or broke Anderson's stack in an
    unbalanced solve (found by the KeOps sweep: seed 11130)."""
    import brenier

    x = torch.tensor([[[0.3, -1.2, 2.0]]]) * 1e4
    y = torch.tensor([[[0.8, 0.1, -0.4]]]) * 1e4
    h = torch.zeros(1, 1)
    assert KeOpsPair(x, y, p=2).softmin(10.0, h).shape == (1, 1)
    reach = float((x - y).norm())
    ours = brenier.solve(x[0], y[0], blur=10.0, reach=reach, backend="keops", max_iter=100)
    dense = brenier.solve(x[0], y[0], blur=10.0, reach=reach, backend="dense", max_iter=100)
    assert ours.f.shape == dense.f.shape and ours.g.shape == dense.g.shape
    assert float(ours.value) == pytest.approx(float(dense.value), rel=1e-4)


@needs_pykeops
@pytest.mark.slow
def test_one_point_each_keeps_the_shape_of_the_softmax_sum():
    x, y, h, v = torch.randn(1, 1, 3), torch.randn(1, 1, 3), torch.zeros(1, 1), torch.ones(1, 1, 2)
    out = KeOpsPair(x, y, p=2).softmax_sum(0.5, h, v)
    torch.testing.assert_close(out, v)  # one point: all its mass goes to the only one


@needs_pykeops
def test_keops_softmax_sum_matches_dense():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 20, 2, generator=g, dtype=torch.float64)
    y = torch.randn(1, 25, 2, generator=g, dtype=torch.float64)
    h = torch.randn(1, 25, generator=g, dtype=torch.float64)
    v = torch.randn(1, 25, 2, generator=g, dtype=torch.float64)
    ours = KeOpsPair(x, y, p=2).softmax_sum(0.5, h, v)
    ref = DensePair(Cost(2).matrix(x, y)).softmax_sum(0.5, h, v)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)


def test_keops_is_never_auto():
    picked = choose_backend(BackendRequest("auto", Cost(p=2), (1, 50_000, 50_000), dim=3))
    assert picked.name == "online"
    assert get_backend("keops").supports(Cost(p=2))
    assert not getattr(get_backend("keops"), "memory_linear", False)


def test_missing_pykeops_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pykeops", None)  # makes `import pykeops...` fail
    monkeypatch.setitem(sys.modules, "pykeops.torch", None)
    with pytest.raises(ImportError, match=r"brenier\[keops\]"):
        get_backend("keops").pair(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), Cost(p=2))
