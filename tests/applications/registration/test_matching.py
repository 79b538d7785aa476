"""Robust-OT matching: confidences are the transported fractions; truncation is exact enough."""

from __future__ import annotations

import pytest
import torch

import brenier
from brenier.applications.registration import _matching, robust_matching
from brenier.applications.registration._matching import _truncated_projection


def test_confidence_is_the_plan_row_sum_over_a(
    gen: torch.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The identity is checked in float64; the default float32 solves agree to 1e-3 below.
    monkeypatch.setattr(_matching, "SOLVE_DTYPE", torch.float64)
    x = torch.rand(150, 3, generator=gen, dtype=torch.float64)
    y = torch.cat([x[:100] + 0.02, 5 + torch.rand(30, 3, generator=gen, dtype=torch.float64)])
    a = torch.full((150,), 1 / 150, dtype=torch.float64)
    b = torch.full((130,), 1 / 130, dtype=torch.float64)
    m = robust_matching(x, y, a, b, blur=0.03, reach=0.2, tol=1e-7)
    res = brenier.solve(x, y, a, b, blur=0.03, reach=0.2, debias=False, tol=1e-7, backend="dense")
    P = brenier.dense_plan(res)
    torch.testing.assert_close(m.confidence, (P.sum(1) / a).clamp(max=1), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(m.targets, P @ y / P.sum(1, keepdim=True), atol=1e-8, rtol=1e-8)
    # The 30 far outliers of y pull nothing; the 50 unmatched x are barely transported.
    assert float(m.confidence[:100].min()) > 0.5
    monkeypatch.undo()
    m32 = robust_matching(x, y, a, b, blur=0.03, reach=0.2, tol=1e-5)
    assert m32.targets.dtype == torch.float64 and m32.confidence.dtype == torch.float64
    torch.testing.assert_close(m32.confidence, m.confidence, atol=2e-3, rtol=0)
    torch.testing.assert_close(m32.targets, m.targets, atol=1e-3, rtol=0)


def test_truncated_projection_matches_the_exact_one(gen: torch.Generator) -> None:
    x = torch.rand(500, 3, generator=gen, dtype=torch.float64)
    y = x + 0.01 * torch.randn(500, 3, generator=gen, dtype=torch.float64)
    res = brenier.solve(x, y, blur=0.02, debias=False, tol=1e-4, backend="dense")
    exact = brenier.barycentric_projection(res)
    b = torch.full((500,), 1 / 500, dtype=torch.float64)
    approx = _truncated_projection(x, y, b, res.potentials[1], res.eps)
    assert float((approx - exact).norm(dim=1).max()) < 1e-6
