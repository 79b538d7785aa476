"""Bures-Wasserstein closed forms against POT and against the entropic map on samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brenier
from brenier.transport import bures_wasserstein, gaussian_fit, gaussian_map, transport_map


def _spd(gen: torch.Generator, d: int, batch: tuple[int, ...] = ()) -> torch.Tensor:
    M = torch.randn(*batch, d, d, generator=gen, dtype=torch.float64)
    return M @ M.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=torch.float64)


def test_closed_form_on_commuting_covariances():
    # N(0, I) -> N(1, 4I) in 2D: W2^2 = |1|^2 * 2 + 2 * (1 - 2)^2 = 4, value = W2^2 / 2
    eye = torch.eye(2, dtype=torch.float64)
    zero, one = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    assert float(bures_wasserstein(zero, eye, one, 4 * eye)) == pytest.approx(2.0, abs=1e-12)
    T = gaussian_map(zero, eye, one, 4 * eye)
    torch.testing.assert_close(T.matrix, 2 * eye)
    torch.testing.assert_close(T.offset, one)


@pytest.mark.parametrize("d", [2, 3])
def test_distance_matches_pot(gen, d):
    gaussian = pytest.importorskip("ot.gaussian", reason="POT is a test-only reference")
    if not hasattr(gaussian, "bures_wasserstein_distance"):
        pytest.skip("this POT version has no ot.gaussian.bures_wasserstein_distance")
    m0, m1 = torch.randn(2, d, generator=gen, dtype=torch.float64)
    S0, S1 = _spd(gen, d), _spd(gen, d)
    ours = float(bures_wasserstein(m0, S0, m1, S1))
    W = float(gaussian.bures_wasserstein_distance(m0.numpy(), m1.numpy(), S0.numpy(), S1.numpy()))
    assert ours == pytest.approx(W**2 / 2, rel=1e-9)


@pytest.mark.parametrize("d", [2, 3])
def test_affine_map_matches_pot(gen, d):
    gaussian = pytest.importorskip("ot.gaussian", reason="POT is a test-only reference")
    if not hasattr(gaussian, "bures_wasserstein_mapping"):
        pytest.skip("this POT version has no ot.gaussian.bures_wasserstein_mapping")
    m0, m1 = torch.randn(2, d, generator=gen, dtype=torch.float64)
    S0, S1 = _spd(gen, d), _spd(gen, d)
    A_pot, b_pot = gaussian.bures_wasserstein_mapping(
        m0.numpy(), m1.numpy(), S0.numpy(), S1.numpy()
    )
    T = gaussian_map(m0, S0, m1, S1)
    # POT maps rows: x @ A + b; A is symmetric
    np.testing.assert_allclose(T.matrix.numpy(), A_pot, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(T.offset.numpy(), np.ravel(b_pot), rtol=1e-6, atol=1e-8)
    # the map pushes N(m0, S0) onto N(m1, S1): A S0 A = S1
    torch.testing.assert_close(T.matrix @ S0 @ T.matrix, S1)


def test_batched_closed_forms(gen):
    m = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    S = _spd(gen, 3, (4,))
    values = bures_wasserstein(m, S, m.flip(0), S.flip(0))
    assert values.shape == (4,)
    torch.testing.assert_close(values, values.flip(0))  # symmetric in its arguments
    assert float(bures_wasserstein(m, S, m, S).abs().max()) < 1e-10
    assert gaussian_map(m, S, m, S).matrix.shape == (4, 3, 3)


def test_gaussian_fit_matches_numpy(gen):
    x = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    mean, cov = gaussian_fit(x)
    np.testing.assert_allclose(mean.numpy(), x.numpy().mean(0), atol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.numpy().T, bias=True), atol=1e-12)
    w = torch.rand(500, generator=gen, dtype=torch.float64)
    mean_w, cov_w = gaussian_fit(x, w)
    np.testing.assert_allclose(mean_w.numpy(), np.average(x.numpy(), axis=0, weights=w.numpy()))
    np.testing.assert_allclose(
        cov_w.numpy(), np.cov(x.numpy().T, aweights=w.numpy(), bias=True), atol=1e-12
    )


def test_affine_map_matches_the_entropic_map_on_samples(gen):
    m0 = torch.tensor([0.0, 0.0], dtype=torch.float64)
    m1 = torch.tensor([1.0, 0.5], dtype=torch.float64)
    S0 = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    S1 = torch.tensor([[0.4, -0.1], [-0.1, 0.9]], dtype=torch.float64)
    L0, L1 = torch.linalg.cholesky(S0), torch.linalg.cholesky(S1)
    x = m0 + torch.randn(600, 2, generator=gen, dtype=torch.float64) @ L0.T
    y = m1 + torch.randn(600, 2, generator=gen, dtype=torch.float64) @ L1.T
    res = brenier.solve(x, y, blur=0.05)
    T = gaussian_map(*gaussian_fit(x), *gaussian_fit(y))
    z = m0 + 0.7 * torch.randn(100, 2, generator=gen, dtype=torch.float64) @ L0.T  # the bulk
    error = (transport_map(res, z) - T(z)).norm(dim=1).median()
    assert float(error) < 0.15  # measured 0.084: the sampling noise of 600 points
    exact = float(bures_wasserstein(*gaussian_fit(x), *gaussian_fit(y)))
    assert float(res.value) == pytest.approx(exact, rel=0.05)  # measured 1.6 %


def test_bad_gaussians_raise():
    eye = torch.eye(2, dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\[brenier\].*singular"):
        gaussian_map(zero, torch.zeros(2, 2, dtype=torch.float64), zero, eye)
    with pytest.raises(ValueError, match=r"\[brenier\].*\(D, D\)"):
        bures_wasserstein(zero, torch.eye(3, dtype=torch.float64), zero, eye)
    with pytest.raises(ValueError, match=r"\[brenier\].*symmetric"):
        bures_wasserstein(zero, torch.tensor([[1.0, 1.0], [0.0, 1.0]]).double(), zero, eye)
    with pytest.raises(TypeError, match=r"\[brenier\]"):
        bures_wasserstein(zero.numpy(), eye, zero, eye)  # type: ignore[arg-type]
