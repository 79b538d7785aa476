"""The look at the transport map near the rounding floor (``solvers/_settling.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brenier
import brenier.solvers._settling as settling
from brenier.io import load_example, normalize, sample_surface


def _pair(close: bool, n: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    """x on the Nefertiti scan; y = x + 0.15 tanh(3x) (the map of benchmarks/multiscale.py)
    or, for close shapes, another sample of the scan warped by 0.03 sin(3y)."""
    vertices, faces = load_example("nefertiti")
    surface = normalize(vertices)
    x = sample_surface(surface, faces, n, seed=0)
    if close:
        y = sample_surface(surface, faces, n, seed=1)
        y = y + 0.03 * np.sin(3 * y)
    else:
        y = x + 0.15 * np.tanh(3 * x)
    return torch.from_numpy(x).float(), torch.from_numpy(y).float()


def _solve(x: torch.Tensor, y: torch.Tensor) -> tuple[int, brenier.Status, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    result = brenier.solve(x, y, blur=0.01, backend="multiscale")
    (gradient,) = torch.autograd.grad(result.value, x)
    return result.iterations, result.status, gradient


@pytest.mark.parametrize("close", [False, True])
def test_the_creep_stops_once_the_map_has_settled(monkeypatch, close: bool) -> None:
    # float32 at blur 0.01 (10^4 points): the marginal error creeps towards the rounding
    # floor. Where the map has stopped moving (a large displacement), the loop stops
    # dozens of iterations earlier at the same gradient; where it still drifts (close
    # shapes, blur below the point spacing: slow convergence), it goes on as before.
    x, y = _pair(close)
    iterations, status, gradient = _solve(x, y)
    monkeypatch.setattr(settling, "SETTLED", 0.0)  # never settled: the floor rule alone
    iterations_before, status_before, gradient_before = _solve(x, y)
    assert status == status_before == brenier.Status.ROUNDING_FLOOR
    if close:
        assert iterations == iterations_before
        assert torch.equal(gradient, gradient_before)
    else:
        assert iterations <= iterations_before - 15
        assert float((gradient - gradient_before).norm() / gradient_before.norm()) < 1e-3
