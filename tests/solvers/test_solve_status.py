"""Issue 17: the status of :func:`brenier.solve` never lies, and max_iter is a hard cap."""

from __future__ import annotations

import pytest
import torch

import brenier
from brenier.results import Status


def clouds(gen, n, scale, dtype):
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64) * scale
    y = torch.randn(n, 3, generator=gen, dtype=torch.float64) * scale + scale
    return x.to(dtype), y.to(dtype)


def test_float32_at_its_rounding_floor_is_not_called_converged(gen):
    """17.1: diameter / blur ~ 1,000 in float32 (as the README's quickstart): the loop
    stops at the rounding floor, far above tol; it used to say ``converged``."""
    x, y = clouds(gen, 100, 10.0, torch.float32)
    res = brenier.solve(x, y, blur=0.05, backend="dense")
    assert res.marginal_error > res.tol == 1e-4
    assert res.status is Status.ROUNDING_FLOOR and not res.converged
    assert "status=rounding_floor" in res.summary() and "tol=1e-04" in res.summary()
    assert "float64" in res.status.message
    # the remedy works: float64 reaches the tolerance
    res64 = brenier.solve(x.double(), y.double(), blur=0.05, backend="dense")
    assert res64.status is Status.CONVERGED and res64.marginal_error <= 1e-4


@pytest.mark.parametrize(
    ("scale", "dtype", "tol", "max_iter"),
    [
        (1.0, torch.float64, 1e-4, 10_000),
        (1.0, torch.float32, 1e-4, 10_000),
        (10.0, torch.float32, 1e-4, 10_000),
        (1.0, torch.float64, 1e-8, 10),
        (3.0, torch.float32, 1e-2, 10_000),
    ],
)
def test_converged_exactly_when_the_reported_error_meets_tol(gen, scale, dtype, tol, max_iter):
    x, y = clouds(gen, 60, scale, dtype)
    res = brenier.solve(x, y, blur=0.05, tol=tol, max_iter=max_iter, backend="dense")
    assert res.converged == (res.marginal_error <= tol)
    assert res.status is not Status.NOT_CHECKED


def test_the_loss_warns_with_the_numbers_and_the_remedy(gen):
    x, y = clouds(gen, 60, 10.0, torch.float32)
    with pytest.warns(RuntimeWarning, match=r"status=rounding_floor: marginal error .*\(float32"):
        brenier.sinkhorn_divergence(x, y, blur=0.05, backend="dense")


@pytest.mark.parametrize("backend", ["dense", "online"])
@pytest.mark.parametrize("max_iter", [1, 5, 20])
def test_max_iter_is_a_hard_cap(gen, backend, max_iter):
    """17.6: blur 0.001 has 14 temperatures; max_iter=5 used to run 14 iterations."""
    x, y = clouds(gen, 40, 1.0, torch.float64)
    res = brenier.solve(x, y, blur=0.001, max_iter=max_iter, backend=backend)
    assert res.iterations <= max_iter
    assert res.status is Status.MAX_ITERATIONS


def test_max_iter_is_a_hard_cap_without_checks(gen):
    x, y = clouds(gen, 40, 1.0, torch.float64)
    res = brenier.solve(x, y, blur=0.001, tol=None, max_iter=3, backend="dense")
    assert res.iterations == 3 and res.status is Status.NOT_CHECKED


def test_max_iter_is_a_hard_cap_for_multiscale(gen):
    x, y = clouds(gen, 300, 1.0, torch.float64)
    res = brenier.solve(x, y, blur=0.01, max_iter=12, backend="multiscale")
    assert res.iterations <= 12 and res.status is Status.MAX_ITERATIONS
