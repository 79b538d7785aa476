"""The last temperature solved on grid levels first (multiscale presolves): the maps
settle where iterations are cheap, the finer stages only polish."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brenier
from brenier.io import load_example, normalize, sample_surface
from brenier.kernels.block_sparse import MultiscaleBackend
from brenier.solvers.multiscale import _hierarchy, _strategy


def _tanh_pair(n: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x on the Nefertiti scan, y = x + 0.15 tanh(3x), and the exact cost of that map
    (the gradient of a convex function: the Brenier map)."""
    vertices, faces = load_example("nefertiti")
    x = sample_surface(normalize(vertices), faces, n, seed=0)
    y = x + 0.15 * np.tanh(3 * x)
    exact = float(((x - y) ** 2).sum(1).mean() / 2)
    y = y[np.random.default_rng(1).permutation(n)]
    return torch.from_numpy(x).float(), torch.from_numpy(y).float(), exact


def _solve(x, y, monkeypatch):
    """Value, gradient wrt. x, and each stage's (presolve, first iteration, level)."""
    stages = []
    stage = _strategy.MultiscaleStrategy.stage

    def recorded(self, index, state):
        out = stage(self, index, state)
        now = out[1] if out[1] is not None else state
        level = self.levels[self.stages[index][0]].cloud
        stages.append((out[0].presolve, 0 if now is None else now.iteration, level))
        return out

    monkeypatch.setattr(_strategy.MultiscaleStrategy, "stage", recorded)
    x = x.clone().requires_grad_(True)
    # 30,000 points at blur 0.02 from a coarse top grid: the schedule ends while the
    # levels are two grids above the finest (as at 10^6 points, blur 0.01).
    result = brenier.solve(x, y, blur=0.02, backend=MultiscaleBackend(clusters=400))
    (gradient,) = torch.autograd.grad(result.value, x)
    monkeypatch.undo()
    return result, gradient, stages


def test_presolves_settle_the_maps_then_polish(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, exact = _tanh_pair(30_000)
    result, gradient, stages = _solve(x, y, monkeypatch)
    presolves = [s for s in stages if s[0]]
    assert len(presolves) == 2 and presolves[0][2] < presolves[1][2]  # settle, then finer
    finer, points = stages[-2][1], stages[-1][1]
    # Measured: 7 iterations on the finer presolve, 4 on the points (55 on the first).
    assert finer - presolves[0][1] > 20
    assert points - finer <= 10 and result.iterations - points <= 6
    assert result.status is brenier.Status.ROUNDING_FLOOR
    assert abs(float(result.value) - exact) / exact < 1e-4  # measured 2.6e-5

    # Without presolves the points run the map watch themselves: the same gradient
    # (measured 0.03% apart), twice the time.
    monkeypatch.setattr(_hierarchy, "PRESOLVE_RATIO", 10**9)
    plain, plain_gradient, plain_stages = _solve(x, y, monkeypatch)
    assert not any(s[0] for s in plain_stages)
    assert float((gradient - plain_gradient).norm() / plain_gradient.norm()) < 5e-3
    assert abs(float(result.value - plain.value)) / exact < 1e-4
