"""Grid barycenters against closed forms: Gaussians (W2), a density with itself."""

import numpy as np
import pytest
import scipy.linalg
import torch

import brenier


def _gaussian(n, mean, cov):
    axis = torch.arange(n, dtype=torch.float64)
    P = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1)
    d = P - torch.tensor(mean, dtype=torch.float64)
    inv = torch.linalg.inv(torch.tensor(cov, dtype=torch.float64))
    g = torch.exp(-0.5 * torch.einsum("...i,ij,...j->...", d, inv, d))
    return g / g.sum(), P


def _moments(q, P):
    mean = (q[..., None] * P).sum((0, 1))
    d = P - mean
    return mean, torch.einsum("ij,ija,ijb->ab", q, d, d)


def _w2_barycenter_covariance(covs, weights):
    """The fixed point S = sum_k w_k (S^1/2 C_k S^1/2)^1/2 (Alvarez-Esteban et al. 2016)."""
    S = np.eye(2)
    for _ in range(200):
        R = scipy.linalg.sqrtm(S).real
        S = sum(w * scipy.linalg.sqrtm(R @ C @ R).real for C, w in zip(covs, weights, strict=True))
    return S


def test_debiased_barycenter_of_gaussians_is_the_w2_barycenter():
    covs = [np.array([[16.0, 0.0], [0.0, 4.0]]), np.array([[4.0, 2.0], [2.0, 25.0]])]
    means = [[20.0, 24.0], [40.0, 36.0]]
    weights = [0.3, 0.7]
    gaussians = [_gaussian(64, m, C) for m, C in zip(means, covs, strict=True)]
    P = gaussians[0][1]
    q = brenier.barycenter(torch.stack([g for g, _ in gaussians]), weights, blur=1.0)
    assert q.shape == (64, 64) and q.sum().item() == pytest.approx(1.0)
    mean, cov = _moments(q, P)
    expected_mean = 0.3 * np.array(means[0]) + 0.7 * np.array(means[1])
    assert np.allclose(mean.numpy(), expected_mean, atol=1e-3)
    expected = _w2_barycenter_covariance(covs, weights)
    assert np.allclose(cov.numpy(), expected, rtol=1e-2, atol=0.05)


def test_entropic_barycenter_is_blurred_and_debiased_is_not():
    x = torch.arange(64.0, dtype=torch.float64)
    bumps = torch.stack([torch.exp(-((x - c) ** 2) / 8) for c in (16.0, 48.0)])
    # The closed forms hold at the fixed point: converge well past the default tol.
    sharp = brenier.barycenter(bumps, blur=1.0, tol=1e-7)
    blurred = brenier.barycenter(bumps, blur=1.0, debias=False, tol=1e-7)
    for q in (sharp, blurred):
        assert (q * x).sum().item() == pytest.approx(32.0, abs=1e-6)
    var = lambda q: ((q * (x - 32.0) ** 2).sum()).item()  # noqa: E731
    assert var(sharp) == pytest.approx(4.0, rel=1e-3)  # the inputs' variance
    assert var(blurred) == pytest.approx(4.0 + 1.0, rel=1e-3)  # + blur^2


def test_barycenter_of_a_density_with_itself_is_itself():
    img, _ = _gaussian(40, [18.0, 22.0], [[20.0, 6.0], [6.0, 10.0]])
    img = img + 0.5 * _gaussian(40, [10.0, 10.0], [[6.0, 0.0], [0.0, 6.0]])[0]
    img = img / img.sum()
    q = brenier.barycenter(torch.stack([img, img, img]), blur=1.0, tol=1e-5)
    assert (q - img).abs().sum().item() < 1e-2


def test_volumes_and_anisotropic_spacing():
    shape = (10, 14, 18)
    axes = [torch.arange(n, dtype=torch.float64) for n in shape]
    Z, Y, X = torch.meshgrid(*axes, indexing="ij")
    spacing = (2.5, 0.7, 0.7)

    def blob(c):
        d2 = ((Z - c[0]) * spacing[0]) ** 2 + ((Y - c[1]) * spacing[1]) ** 2
        d2 = d2 + ((X - c[2]) * spacing[2]) ** 2
        return torch.exp(-d2 / (2 * 2.0**2))

    inputs = torch.stack([blob((4, 5, 6)), blob((7, 9, 12))])
    q = brenier.barycenter(inputs, blur=1.0, spacing=spacing)
    assert q.shape == shape
    centre = [float((q * A).sum()) for A in (Z, Y, X)]
    means = [[float((d * A).sum() / d.sum()) for A in (Z, Y, X)] for d in inputs]
    assert np.allclose(centre, np.mean(means, axis=0), atol=0.02)  # the mean of the means


@pytest.mark.parametrize(
    ("densities", "kwargs", "error", "match"),
    [
        (-torch.ones(2, 4, 4), {}, ValueError, "negative"),
        (torch.full((2, 4, 4), float("nan")), {}, ValueError, "NaN"),
        (torch.stack([torch.ones(4, 4), torch.zeros(4, 4)]), {}, ValueError, r"\[1\] have zero"),
        (torch.ones(4), {}, ValueError, "expected K images"),
        ([[1.0]], {}, TypeError, "torch.Tensor"),
        (torch.ones(2, 4, 4), {"spacing": 0.0}, ValueError, "spacing"),
        (torch.ones(2, 4, 4), {"spacing": (1.0, 1.0, 1.0)}, ValueError, "spacing"),
        (torch.ones(2, 4, 4), {"blur": -1.0}, ValueError, "blur"),
        (torch.ones(2, 4, 4), {"weights": [1.0]}, ValueError, "weights"),
        (torch.ones(2, 4, 4), {"weights": [1.0, -1.0]}, ValueError, "weights"),
    ],
)
def test_bad_input_gets_a_clear_error(densities, kwargs, error, match):
    kwargs = {"blur": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        brenier.barycenter(densities, **kwargs)


def test_input_is_not_modified():
    d = torch.rand(2, 8, 8, dtype=torch.float64)
    before = d.clone()
    brenier.barycenter(d, blur=1.0)
    assert torch.equal(d, before)


def test_entropic_barycenter_agrees_with_pot():
    """POT's log-domain convolutional barycenter at the same eps: POT's grid is
    linspace(0, 1, n) and its kernel exp(-|x-y|^2 / reg), so spacing 1/(n-1), eps = reg/2."""
    ot = pytest.importorskip("ot")
    n, reg = 32, 4e-3
    axis = torch.arange(n, dtype=torch.float64)
    Y, X = torch.meshgrid(axis, axis, indexing="ij")
    disk = ((Y - 10) ** 2 + (X - 11) ** 2 <= 36).double()
    square = ((Y - 20).abs() <= 5) & ((X - 21).abs() <= 7)
    images = torch.stack([disk / disk.sum(), square.double() / square.sum()])
    ours = brenier.barycenter(
        images, [0.4, 0.6], blur=(reg / 2) ** 0.5, spacing=1 / (n - 1), debias=False, tol=1e-7
    )
    theirs = ot.bregman.convolutional_barycenter2d(
        images.numpy(), reg, np.array([0.4, 0.6]), method="sinkhorn_log", stopThr=1e-10,
        numItermax=5000, warn=False,
    )  # fmt: skip
    theirs = torch.as_tensor(theirs) / theirs.sum()
    relative_l1 = ((ours - theirs).abs().sum() / theirs.abs().sum()).item()
    print(f"relative L1 difference to POT: {relative_l1:.2e}")
    assert relative_l1 < 1e-3, relative_l1
