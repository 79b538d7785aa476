"""The online backend (numba on CPU, chunked torch) against the dense reference."""

from __future__ import annotations

import math

import pytest
import torch

import brenier
from brenier.geometry import Cost
from brenier.kernels import (
    BackendRequest,
    DensePair,
    OnlineBackend,
    OnlinePair,
    choose_backend,
)

# (value, gradient) tolerances relative to the largest entry, per dtype.
TOL = {torch.float32: (2e-5, 2e-4), torch.float64: (1e-11, 1e-9)}
M_POINTS = 1500  # more than one block of the numba kernels (1024 columns)


def _problem(dtype, D, batched, seed=0, N=23, M=M_POINTS):
    g = torch.Generator().manual_seed(seed)
    B = 2 if batched else 1
    x = torch.randn(B, N, D, generator=g, dtype=torch.float64)
    y = torch.randn(B, M, D, generator=g, dtype=torch.float64) + 0.3
    h = torch.randn(B, M, generator=g, dtype=torch.float64)
    v = torch.randn(B, M, 2, generator=g, dtype=torch.float64)
    return tuple(t.to(dtype) for t in (x, y, h, v))


def _reduce(make_pair, inputs, eps, which, seed=1):
    """The reduction's value and its gradients wrt. every input, for a random cotangent."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    pair = make_pair(*leaves[:2])
    out = pair.softmin(eps, leaves[2]) if which == "softmin" else pair.softmax_sum(eps, *leaves[2:])
    g = torch.Generator().manual_seed(seed)
    cot = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.dtype)
    grads = torch.autograd.grad((out * cot).sum(), leaves)
    return [out.detach(), *grads]


def _assert_close(ours, ref, rtol):
    for k, (a, b) in enumerate(zip(ours, ref, strict=True)):
        scale = float(b.abs().max()) or 1.0
        err = float((a.double() - b).abs().max()) / scale
        assert err <= rtol, f"output {k}: relative error {err:.2e} > {rtol:.0e}"


def _dense64(p):
    return lambda x, y: DensePair(Cost(p).matrix(x.double(), y.double()))


@pytest.mark.parametrize("engine", ["auto", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("D", [1, 2, 3, 7])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("which", ["softmin", "softmax_sum"])
def test_matches_dense(engine, dtype, D, p, batched, which):
    inputs = _problem(dtype, D, batched)
    if which == "softmin":
        inputs = inputs[:3]
    eps = 0.5**p
    ours = _reduce(lambda x, y: OnlinePair(x, y, p=p, engine=engine), inputs, eps, which)
    ref = _reduce(_dense64(p), [t.double() for t in inputs], eps, which)
    assert all(t.dtype == dtype for t in ours)
    vtol, gtol = TOL[dtype]
    _assert_close(ours[:1], ref[:1], vtol)
    _assert_close(ours[1:], ref[1:], gtol * (10 if p == 1 else 1))


@pytest.mark.parametrize("engine", ["auto", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tiny_eps_no_overflow(engine, dtype):
    """At eps = 1e-6 the exponents reach -1e6: exact max shifts, finite and right."""
    x, y, h, _ = _problem(dtype, 3, True, N=11)
    # a growing h makes later blocks hold far larger exponents: the rescale path
    h = h + torch.linspace(0, 5e3, h.shape[-1], dtype=dtype)
    eps = 1e-6
    ours = _reduce(lambda a, b: OnlinePair(a, b, p=2, engine=engine), (x, y, h), eps, "softmin")
    ref = _reduce(_dense64(2), [t.double() for t in (x, y, h)], eps, "softmin")
    assert all(bool(torch.isfinite(t).all()) for t in ours)
    # the values are ~eps * 1e6: compare relative to their size
    _assert_close(ours[:1], ref[:1], 1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("engine", ["auto", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_weights_are_ignored(engine, dtype):
    """h = -inf (zero weight) columns contribute nothing, to values or gradients."""
    x, y, h, v = _problem(dtype, 2, True)
    dead = torch.zeros(h.shape[-1], dtype=torch.bool)
    dead[::3] = True
    h_inf = h.masked_fill(dead, -math.inf)
    keep = ~dead
    for which, extra in (("softmin", ()), ("softmax_sum", (v,))):
        full = _reduce(
            lambda a, b: OnlinePair(a, b, p=2, engine=engine), (x, y, h_inf, *extra), 0.3, which
        )
        sub = [x, y[:, keep], h[:, keep], *(e[:, keep] for e in extra)]
        ref = _reduce(_dense64(2), [t.double() for t in sub], 0.3, which)
        assert all(bool(torch.isfinite(t).all()) for t in full)
        assert float(full[2][:, dead].abs().max()) == 0.0  # no gradient to dead points
        gtol = TOL[dtype][1]
        _assert_close(full[:2], ref[:2], gtol)
        _assert_close([full[2][:, keep], full[3][:, keep]], ref[2:4], gtol)


@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_all_weights_zero_gives_inf_not_nan(engine):
    x, y, h, _ = _problem(torch.float32, 3, True, N=5)
    h = h.clone()
    h[0] = -math.inf  # the first batch item has no mass at all
    s, gx, gy, gh = _reduce(
        lambda a, b: OnlinePair(a, b, p=2, engine=engine), (x, y, h), 0.1, "softmin"
    )
    assert bool(torch.isposinf(s[0]).all())
    assert bool(torch.isfinite(s[1]).all())
    for grad in (gx, gy, gh):
        assert not bool(torch.isnan(grad).any())
        assert float(grad[0].abs().max()) == 0.0


def test_self_interaction_p1_has_finite_gradients():
    """x_i = x_i on the diagonal of OT(a, a): |x - y| has no slope there, like dense."""
    x, _, _, _ = _problem(torch.float64, 3, False, N=40)
    h = torch.zeros(1, 40, dtype=torch.float64)
    ours = _reduce(lambda a, b: OnlinePair(a, b, p=1), (x, x, h), 0.2, "softmin")
    ref = _reduce(_dense64(1), (x, x, h), 0.2, "softmin")
    # dense computes |x_i - x_i| = sqrt(1e-30 + rounding): a reference error of ~1e-7
    _assert_close(ours, ref, 1e-6)


def test_dtype_and_noncontiguous_inputs():
    x, y, h, _ = _problem(torch.float32, 3, True)
    xt = x.transpose(1, 2).contiguous().transpose(1, 2)  # same values, other strides
    assert not xt.is_contiguous()
    s = OnlinePair(xt, y, p=2).softmin(0.1, h)
    ref = OnlinePair(x, y, p=2).softmin(0.1, h)
    assert s.dtype == torch.float32
    assert torch.equal(s, ref)


def test_backend_registration_and_auto_rule():
    backend = OnlineBackend()
    assert backend.memory_linear
    assert backend.supports(Cost(p=1)) and backend.supports(Cost(p=2))
    assert not backend.supports(Cost(p=None, function=lambda x, y: x @ y.transpose(1, 2)))
    picked = choose_backend(BackendRequest("auto", Cost(p=2), (1, 20_000, 20_000), dim=3))
    assert picked.name == "online"
    assert choose_backend(BackendRequest("online", Cost(p=1), (1, 10, 10), dim=3)).name == "online"
    assert choose_backend(BackendRequest("auto", Cost(p=2), (1, 100, 100), dim=3)).name == "dense"


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("debias", [False, True])
def test_solve_online_equals_dense(p, debias):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(150, 3, generator=g, dtype=torch.float64)
    y = torch.rand(130, 3, generator=g, dtype=torch.float64) + 0.2
    results, grads = [], []
    for backend in ("online", "dense"):
        xr = x.clone().requires_grad_()
        res = brenier.solve(xr, y, p=p, blur=0.05, debias=debias, backend=backend)
        results.append(res)
        grads.append(torch.autograd.grad(res.value, xr)[0])
    online, dense = results
    assert online.backend == "online" and dense.backend == "dense"
    assert online.iterations == dense.iterations
    # p = 1: dense's |x_i - x_i| is sqrt(1e-30 + rounding) ~ 1e-8, ours is exactly 0
    rtol = 1e-8 if p == 2 else 1e-6
    torch.testing.assert_close(online.value, dense.value, rtol=rtol, atol=1e-12)
    torch.testing.assert_close(online.f, dense.f, rtol=rtol, atol=1e-10)
    torch.testing.assert_close(online.g, dense.g, rtol=rtol, atol=1e-10)
    torch.testing.assert_close(grads[0], grads[1], rtol=rtol, atol=1e-8)
