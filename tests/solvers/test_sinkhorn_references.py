"""Sinkhorn values against exact references: assignment, 1D sorting, POT, GeomLoss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

import brenier


def exact_assignment_cost(x: torch.Tensor, y: torch.Tensor) -> float:
    C = (torch.cdist(x, y) ** 2 / 2).numpy()
    rows, cols = linear_sum_assignment(C)
    return float(C[rows, cols].mean())


@pytest.mark.parametrize("n, d", [(50, 2), (200, 3), (500, 3)])
def test_divergence_matches_optimal_assignment(gen, n, d):
    x = torch.rand(n, d, generator=gen, dtype=torch.float64)
    y = torch.rand(n, d, generator=gen, dtype=torch.float64) * 0.8 + 0.3
    exact = exact_assignment_cost(x, y)
    value = float(brenier.sinkhorn_divergence(x, y, blur=0.005))
    assert abs(value - exact) / exact < 0.01


def test_one_dimensional_ot_matches_sorting(gen):
    x = torch.randn(300, 1, generator=gen, dtype=torch.float64)
    y = torch.randn(300, 1, generator=gen, dtype=torch.float64) * 0.5 + 1.0
    exact = float(((x.sort(0).values - y.sort(0).values) ** 2).mean() / 2)
    value = float(brenier.sinkhorn_divergence(x, y, blur=0.002))
    assert abs(value - exact) / exact < 0.005


def test_non_uniform_weights_match_pot_emd2(gen):
    ot = pytest.importorskip("ot", reason="POT is a test-only reference (pip install pot)")
    x = torch.randn(80, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(120, 2, generator=gen, dtype=torch.float64) + 1.0
    a = torch.rand(80, generator=gen, dtype=torch.float64) + 0.1
    b = torch.rand(120, generator=gen, dtype=torch.float64) + 0.1
    a, b = a / a.sum(), b / b.sum()
    C = (torch.cdist(x, y) ** 2 / 2).numpy()
    exact = ot.emd2(a.numpy(), b.numpy(), C)
    value = float(brenier.sinkhorn_divergence(x, y, a, b, blur=0.005))
    assert abs(value - exact) / exact < 0.01


def test_p1_matches_pot_emd2(gen):
    ot = pytest.importorskip("ot", reason="POT is a test-only reference (pip install pot)")
    x = torch.randn(100, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(100, 2, generator=gen, dtype=torch.float64) + 1.0
    exact = ot.emd2(np.full(100, 0.01), np.full(100, 0.01), torch.cdist(x, y).numpy())
    value = float(brenier.sinkhorn_divergence(x, y, p=1, blur=0.001))
    assert abs(value - exact) / exact < 0.01


@pytest.mark.parametrize("reach", [None, 1.0])
@pytest.mark.parametrize("p", [1, 2])
def test_converged_values_agree_with_geomloss(gen, reach, p):
    geomloss = pytest.importorskip("geomloss", reason="GeomLoss is a test-only reference")
    x = torch.randn(100, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(120, 3, generator=gen, dtype=torch.float64) + 0.5
    # GeomLoss does one iteration per blur: scaling 0.99 makes it (nearly) converge.
    theirs = geomloss.SamplesLoss("sinkhorn", p=p, blur=0.5, reach=reach, scaling=0.99)(x, y)
    ours = brenier.SamplesLoss("sinkhorn", p=p, blur=0.5, reach=reach, tol=1e-8)(x, y)
    assert float(ours) == pytest.approx(float(theirs), rel=2e-3)


def test_potentials_agree_with_geomloss(gen):
    geomloss = pytest.importorskip("geomloss", reason="GeomLoss is a test-only reference")
    x = torch.randn(60, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(70, 2, generator=gen, dtype=torch.float64) + 0.5
    F1, G1 = geomloss.SamplesLoss(blur=0.5, scaling=0.99, potentials=True)(x, y)
    F1, G1 = F1.reshape(-1), G1.reshape(-1)  # GeomLoss 0.3 returns (1, N) for (N, D) inputs
    F2, G2 = brenier.SamplesLoss(blur=0.5, tol=1e-10, potentials=True)(x, y)
    # same gauge: <a, F> = <b, G>; GeomLoss at scaling 0.99 is converged to ~1e-2
    assert torch.allclose(F1, F2, atol=2e-2)
    assert torch.allclose(G1, G2, atol=2e-2)


def test_gaussian_closed_form_is_approached(gen):
    """Two Gaussians: W2^2/2 = (|m1 - m2|^2 + Bures(S1, S2)^2) / 2."""
    n = 400
    z = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    z = (z - z.mean(0)) / z.std(0)  # close to N(0, I) empirically
    x = z
    y = z * torch.tensor([2.0, 0.5], dtype=torch.float64) + torch.tensor([1.0, -1.0])
    # Exact for the samples themselves: y is an affine, convex-gradient image of x.
    exact = float(((x - y) ** 2).sum(1).mean() / 2)
    value = float(brenier.sinkhorn_divergence(x, y, blur=0.01))
    assert abs(value - exact) / exact < 0.01
