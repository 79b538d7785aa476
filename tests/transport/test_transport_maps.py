"""Barycentric projection and Brenier map against the convex-gradient construction."""

from __future__ import annotations

import pytest
import torch
from scipy.optimize import linear_sum_assignment

import brenier
from brenier.transport import (
    barycentric_projection,
    dense_plan,
    potentials_at,
    transport_map,
)


def convex_gradient_problem(gen: torch.Generator, n: int):
    """y_i = grad phi(x_i), phi(x) = x'Ax/2 + 0.15 sum log cosh(2 x) strictly convex; y shuffled.

    The identity matching is optimal (gradients of convex functions are cyclically
    monotone), so the exact target of x_i is y_i, known without solving anything.
    """
    x = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 2 - 1
    A = torch.tensor([[1.2, 0.3], [0.3, 0.8]], dtype=torch.float64)
    y = x @ A + 0.3 * torch.tanh(2 * x)
    perm = torch.randperm(n, generator=gen)
    return x, y, perm


def test_construction_agrees_with_scipy_assignment(gen):
    x, y, perm = convex_gradient_problem(gen, 60)
    C = (torch.cdist(x, y[perm]) ** 2 / 2).numpy()
    _, cols = linear_sum_assignment(C)
    assert bool((torch.as_tensor(cols) == torch.argsort(perm)).all())


def test_barycentric_projection_converges_to_the_exact_targets(gen):
    x, y, perm = convex_gradient_problem(gen, 200)
    errors = []
    for blur in (0.05, 0.02, 0.005):
        res = brenier.solve(x, y[perm], blur=blur)
        T = barycentric_projection(res)
        errors.append(float((T - y).norm(dim=1).mean()))
    # measured: 1.4e-2, 1.6e-3, 4.7e-5 (points spaced by ~0.14)
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3
    # the debiased Brenier map on the support is at least as close
    T_map = transport_map(res, x)
    assert float((T_map - y).norm(dim=1).mean()) < 1e-3


@pytest.mark.parametrize("backend", ["dense", "online"])
def test_barycentric_projection_is_the_normalised_plan_times_y(gen, backend):
    x = torch.randn(70, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(50, 2, generator=gen, dtype=torch.float64) + 1
    res = brenier.solve(x, y, blur=0.2, backend=backend)
    P = dense_plan(res)
    expected = (P @ y) / P.sum(1, keepdim=True)
    torch.testing.assert_close(barycentric_projection(res), expected)
    torch.testing.assert_close(res.barycentric_projection(), expected)
    # without debiasing, the map on the support is the barycentric projection
    torch.testing.assert_close(transport_map(res, x, debias=False), expected)


def test_transport_map_of_a_translation_holds_off_the_support(gen):
    x = torch.rand(300, 2, generator=gen, dtype=torch.float64)
    shift = torch.tensor([0.5, -0.25], dtype=torch.float64)
    res = brenier.solve(x, x + shift, blur=0.02)
    z = torch.rand(50, 2, generator=gen, dtype=torch.float64) * 0.6 + 0.2  # inside, off-grid
    error = (res.transport_map(z) - (z + shift)).norm(dim=1)
    assert float(error.max()) < 0.02


def test_transport_map_backends_agree_and_differentiate(gen):
    x = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 3, generator=gen, dtype=torch.float64) * 0.5
    res = brenier.solve(x, y, blur=0.2)
    z = torch.randn(25, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    dense = transport_map(res, z, backend="dense")
    online = transport_map(res, z, backend="online")
    torch.testing.assert_close(dense, online)
    (jac_row,) = torch.autograd.grad(dense[:, 0].sum(), z)
    assert bool(torch.isfinite(jac_row).all())


def test_potentials_extend_the_solver_potentials(gen):
    x = torch.randn(80, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(60, 2, generator=gen, dtype=torch.float64) + 1
    res = brenier.solve(x, y, blur=0.2, tol=1e-6)
    F_x, _ = potentials_at(res, x)
    _, G_y = potentials_at(res, y)
    F, G = res.potentials
    torch.testing.assert_close(F_x, F, rtol=0, atol=1e-5)
    torch.testing.assert_close(G_y, G, rtol=0, atol=1e-5)
    f_x, _ = potentials_at(res, x, debias=False)
    torch.testing.assert_close(f_x, res.f, rtol=0, atol=1e-5)


def test_batched_maps_keep_the_batch(gen):
    x = torch.randn(2, 30, 2, generator=gen, dtype=torch.float64)
    res = brenier.solve(x, x + 1, blur=0.1)
    assert barycentric_projection(res).shape == (2, 30, 2)
    assert transport_map(res, x[:, :7]).shape == (2, 7, 2)
    F, G = potentials_at(res, x[:, :5])
    assert F.shape == G.shape == (2, 5)


def test_bad_map_requests_raise(gen):
    x = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    res = brenier.solve(x, x + 1, blur=0.1)
    with pytest.raises(ValueError, match=r"\[brenier\].*\(K, 2\)"):
        transport_map(res, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[brenier\].*batch"):
        transport_map(res, torch.zeros(1, 4, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"\[brenier\].*dtype"):
        transport_map(res, torch.zeros(4, 2))
    with pytest.raises(TypeError, match=r"\[brenier\].*torch.Tensor"):
        transport_map(res, [[0.0, 0.0]])  # type: ignore[arg-type]
    p1 = brenier.solve(x, x + 1, blur=0.1, p=1)
    with pytest.raises(ValueError, match=r"\[brenier\].*p=2"):
        transport_map(p1, x)
    raw = brenier.solve(x, x + 1, blur=0.1, debias=False)
    with pytest.raises(ValueError, match=r"\[brenier\].*debias=True"):
        transport_map(raw, x, debias=True)
