"""Anderson acceleration of the Sinkhorn loop, and the accuracy of default gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brenier
from brenier.io import load_example, normalize, sample_surface
from brenier.solvers._acceleration import AndersonHistory, anderson_step


def linear_contraction(gen, n=60, rate=0.99):
    """u -> J u + c with a symmetric J of spectrum in [0, rate], like Sinkhorn's."""
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    spectrum = torch.linspace(0, rate, n, dtype=torch.float64)
    J = q @ torch.diag(spectrum) @ q.T
    c = torch.randn(n, generator=gen, dtype=torch.float64)
    return (lambda u: u @ J.T + c), torch.linalg.solve(torch.eye(n, dtype=J.dtype) - J, c)


def iterations_to(fixed_point_map, solution, memory, tol=1e-8, cap=5000):
    u = torch.zeros(1, solution.shape[0], dtype=torch.float64)
    history, weight = AndersonHistory(), torch.ones_like(u)
    for k in range(cap):
        if float((u - solution).norm() / solution.norm()) < tol:
            return k
        image = fixed_point_map(u)
        u, history = (
            (image, history) if memory == 0 else anderson_step(history, u, image, weight, memory)
        )
    return cap


def test_anderson_solves_a_slow_linear_fixed_point(gen):
    """Plain iteration needs log(1e-8)/log(0.99) ~ 1,800 steps; Anderson ~ GMRES, far fewer."""
    G, solution = linear_contraction(gen)
    plain, accelerated = iterations_to(G, solution, 0), iterations_to(G, solution, 8)
    assert plain > 1000
    assert accelerated < plain / 5


def close_shapes(n):
    """Two samples of one scan, the second moved by a smooth warp (~3% of the size)."""
    vertices, faces = load_example("demosthenes")
    vertices = normalize(vertices)
    x = sample_surface(vertices, faces, n, seed=1)
    y = sample_surface(vertices, faces, n, seed=2)
    y = y + 0.03 * np.sin(3 * y[:, [1, 2, 0]])
    return torch.tensor(x), torch.tensor(y)


def gradient(x, y, **options):
    x = x.clone().requires_grad_(True)
    result = brenier.solve(x, y, blur=0.005, **options)
    result.value.backward()
    return x.grad, result


@pytest.fixture(scope="module")
def near_assignment():
    """Close shapes at a blur far below the point spacing: Sinkhorn's slowest regime.

    Measured: the former defaults (tol 1e-3, over-relaxed updates) gave a gradient 1.7%
    (relative L2) away from the converged one here.
    """
    x, y = close_shapes(500)
    # tol 1e-5: 0.02% from tol 1e-6 (measured), for half the time
    converged, result = gradient(x, y, tol=1e-5, max_iter=20_000)
    assert result.status is brenier.Status.CONVERGED
    return x, y, converged


def test_default_gradient_matches_the_converged_one(near_assignment):
    x, y, converged = near_assignment
    default, result = gradient(x, y)
    assert result.status is brenier.Status.CONVERGED
    assert float((default - converged).norm() / converged.norm()) < 0.01
    # Along random directions, relative to the typical directional derivative
    # |grad| |d| / sqrt(dim) (a ratio to <grad, d> itself explodes when d is near-orthogonal).
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        d = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        typical = float(converged.norm() * d.norm()) / x.numel() ** 0.5
        assert abs(float(((default - converged) * d).sum())) < 0.01 * typical


@pytest.mark.slow
def test_default_gradient_matches_finite_differences(near_assignment):
    """Central differences of the converged value (h = 1e-4 on a unit-size shape)."""
    x, y, _ = near_assignment
    default, _ = gradient(x, y)
    gen, h = torch.Generator().manual_seed(2), 1e-4
    d = torch.randn(x.shape, generator=gen, dtype=x.dtype)

    def value(t):
        return float(brenier.solve(x + t * d, y, blur=0.005, tol=1e-5, max_iter=20_000).value)

    fd = (value(h) - value(-h)) / (2 * h)
    typical = float(default.norm() * d.norm()) / x.numel() ** 0.5
    assert abs(float((default * d).sum()) - fd) < 0.01 * typical


def test_accelerated_and_relaxed_loops_agree_at_convergence(gen):
    x = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(70, 3, generator=gen, dtype=torch.float64) + 0.2
    for reach in (None, 1.0):
        fast = brenier.solve(x, y, blur=0.1, reach=reach, tol=1e-9)
        slow = brenier.solve(x, y, blur=0.1, reach=reach, tol=1e-9, anderson=0)
        assert fast.status is slow.status is brenier.Status.CONVERGED
        assert float(fast.value) == pytest.approx(float(slow.value), rel=1e-9)
        torch.testing.assert_close(
            fast.g - fast.g.mean(), slow.g - slow.g.mean(), atol=1e-7, rtol=0
        )


def test_anderson_option_is_validated(gen):
    x = torch.randn(5, 2, generator=gen)
    with pytest.raises(ValueError, match="anderson"):
        brenier.solve(x, x, anderson=-1)


def test_anderson_step_never_returns_nan() -> None:
    # Overflowing differences (the normal equations become inf/NaN) and an all-zero
    # history (converged to rounding; hypothesis found a singular solve at tol 1e-9):
    # the step falls back to the plain iterate instead of NaN or an exception.
    w = torch.full((1, 4), 0.25, dtype=torch.float64)
    for scale in (1e200, 0.0):
        history, u = AndersonHistory(), torch.zeros(1, 4, dtype=torch.float64)
        direction = torch.tensor([[1.0, -1.0, 2.0, 0.5]], dtype=torch.float64)
        for k in range(4):
            image = u + scale * direction * (k + 1)
            nxt, history = anderson_step(history, u, image, w, memory=4)
            assert bool(torch.isfinite(nxt).all())
        assert torch.equal(nxt, image)
