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


def _watched_pair(B: int = 2) -> tuple[settling.MapWatch, torch.Tensor, torch.Tensor]:
    from brenier.kernels import OnlinePair
    from brenier.solvers._stages import Interaction, Stage

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(B, 60, 2, generator=gen, dtype=torch.float64)
    y = torch.rand(B, 50, 2, generator=gen, dtype=torch.float64) + 0.5
    a = torch.full((B, 60), 1 / 60, dtype=x.dtype)
    b = torch.full((B, 50), 1 / 50, dtype=x.dtype)
    pair = Interaction.pair(OnlinePair(x, y, p=2), OnlinePair(y, x, p=2), a, b, None, (x, y))
    return settling.MapWatch(Stage(0.05, (pair,))), x, a


@pytest.mark.parametrize("drift", [0.0, 1e-3])
def test_the_watch_settles_only_when_no_batch_item_drifts(drift: float) -> None:
    # Potentials f that drift along x (a slow mode: the target-side map moves a little
    # at every iteration) in the second batch item only: never settled; no drift: the
    # third look, 12 iterations after the first, says so.
    from brenier.solvers._stages import SinkhornState

    watch, x, a = _watched_pair()
    verdicts = []
    for k in range(40):
        f = torch.zeros_like(a)
        f[1] = drift * k * x[1, :, 0]
        state = SinkhornState((f,), (torch.zeros(2, 50, dtype=f.dtype),), 0.05, k, 0.0, 0.0)
        verdicts.append(watch.settled(state))
    if drift:
        assert not any(verdicts)
    else:
        assert verdicts.index(True) == 12


def test_the_watch_never_settles_on_nan() -> None:
    from brenier.solvers._stages import SinkhornState

    watch, _, a = _watched_pair(B=1)
    f = torch.full_like(a, float("nan"))
    state = SinkhornState((f,), (torch.zeros(1, 50, dtype=f.dtype),), 0.05, 0, 0.0, 0.0)
    assert not any(watch.settled(state) for _ in range(40))
