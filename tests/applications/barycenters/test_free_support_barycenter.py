"""Free-support barycenters of point clouds against closed forms and exact assignments."""

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.optimize import linear_sum_assignment

import brenier
from brenier.applications.barycenters import free_support_barycenter_result
from brenier.geometry import PointCloud


def _assignment_rms(x, y):
    """RMS distance between two clouds of N points under the exact assignment (scipy)."""
    C = torch.cdist(x, y).pow(2).numpy()
    rows, cols = linear_sum_assignment(C)
    return float(np.sqrt(C[rows, cols].mean()))


def _w2_barycenter_covariance(covs, weights):
    """The fixed point S = sum_k w_k (S^1/2 C_k S^1/2)^1/2 (Alvarez-Esteban et al. 2016)."""
    S = np.eye(covs[0].shape[0])
    for _ in range(200):
        R = scipy.linalg.sqrtm(S).real
        S = sum(w * scipy.linalg.sqrtm(R @ C @ R).real for C, w in zip(covs, weights, strict=True))
    return S


@pytest.mark.slow  # 15-45 s on 2 loaded cores: ~10 iterations of 2 solves of 150 x 150
def test_barycenter_of_gaussian_samples_matches_the_w2_barycenter():
    gen = torch.Generator().manual_seed(0)
    means = [torch.tensor([0.0, 0.0]), torch.tensor([6.0, 1.0])]
    covs = [np.array([[4.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.8], [0.8, 2.0]])]
    weights = [0.4, 0.6]
    n = 150
    clouds = []
    for m, C in zip(means, covs, strict=True):
        L = torch.linalg.cholesky(torch.tensor(C))
        clouds.append(m.double() + torch.randn(n, 2, generator=gen, dtype=torch.float64) @ L.T)
    res = free_support_barycenter_result(clouds, weights, n_points=n, blur=0.1)
    assert res.converged and res.status.ok and res.support.shape == (n, 2)
    X = res.support
    # the barycentric projections keep the means: the weighted mean of the sample means
    expected_mean = sum(w * c.mean(0) for w, c in zip(weights, clouds, strict=True))
    assert torch.allclose(X.mean(0), expected_mean, atol=1e-4)
    # the covariance: the W2 barycenter of the sample covariances; the clouds are not
    # exactly Gaussian, the gap is the sampling error, O(1/sqrt(n)) = 8% (measured 1-2%)
    sample_covs = [np.cov(c.numpy().T, bias=True) for c in clouds]
    expected = _w2_barycenter_covariance(sample_covs, weights)
    cov = np.cov(X.numpy().T, bias=True)
    assert np.abs(cov - expected).max() < 0.05 * np.abs(expected).max()
    # the costs decrease: each step minimises a majorant of F
    costs = np.array(res.costs)
    assert (np.diff(costs) <= 1e-6 * costs[0]).all() and res.iterations == len(costs)


def test_barycenter_of_translated_copies_is_the_mean_translation():
    gen = torch.Generator().manual_seed(1)
    y = torch.rand(100, 2, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 1.0])
    shifts = torch.tensor([[0.0, 0.0], [5.0, 2.0], [-1.0, 4.0]], dtype=torch.float64)
    weights = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    res = free_support_barycenter_result([y + s for s in shifts], weights, n_points=100, blur=0.01)
    assert res.converged and res.iterations <= 5
    expected = y + (weights[:, None] * shifts).sum(0)
    # matched exactly up to the blur: the assignment moves each point by < 1e-2
    assert _assignment_rms(res.support, expected) < 0.01


def test_one_cloud_gives_the_cloud_itself():
    gen = torch.Generator().manual_seed(2)
    y = torch.randn(80, 3, generator=gen, dtype=torch.float64)
    X = brenier.free_support_barycenter([y], n_points=80, blur=0.01)
    assert _assignment_rms(X, y) < 0.01


def test_weighted_cloud_through_masses_and_point_cloud():
    y = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    mass = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    X = brenier.free_support_barycenter([y], n_points=4, blur=0.02, masses=[mass])
    # mass 1/2 at the origin: two of the four points sit there
    at = [int((X - p).norm(dim=1).lt(0.05).sum()) for p in y]
    assert at == [2, 1, 1]
    same = brenier.free_support_barycenter([PointCloud(y, mass)], n_points=4, blur=0.02)
    assert torch.equal(X, same)


def test_deterministic_given_the_seed_and_init_is_used():
    gen = torch.Generator().manual_seed(3)
    clouds = [torch.randn(40, 2, generator=gen, dtype=torch.float64) + s for s in (0.0, 3.0)]
    first = brenier.free_support_barycenter(clouds, n_points=30, blur=0.05, seed=7, tol=0.02)
    again = brenier.free_support_barycenter(clouds, n_points=30, blur=0.05, seed=7, tol=0.02)
    assert torch.equal(first, again)
    res = free_support_barycenter_result(clouds, n_points=30, blur=0.05, init=first, tol=0.02)
    assert res.iterations == 1 and res.moves[0] < 0.02  # started from (near) a fixed point


@pytest.mark.filterwarnings("ignore:.*status=rounding_floor")
def test_float32_clouds():
    gen = torch.Generator().manual_seed(4)
    y = torch.randn(60, 2, generator=gen)
    X = brenier.free_support_barycenter([y, y + 1.0], n_points=60, blur=0.05)
    assert X.dtype == torch.float32
    assert _assignment_rms(X.double(), (y + 0.5).double()) < 0.05


def test_not_converged_warns():
    gen = torch.Generator().manual_seed(5)
    clouds = [torch.randn(60, 2, generator=gen, dtype=torch.float64) * s for s in (1.0, 3.0)]
    with pytest.warns(RuntimeWarning, match="raise `max_iter`"):
        res = free_support_barycenter_result(clouds, n_points=20, blur=0.05, max_iter=1)
    assert not res.converged and res.iterations == 1


_Y = torch.rand(10, 2, dtype=torch.float64)


@pytest.mark.parametrize(
    ("clouds", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "empty"),
        (_Y, {}, TypeError, "list of"),
        ([_Y, torch.rand(5, 3, dtype=torch.float64)], {}, ValueError, "different dimensions"),
        ([torch.full((4, 2), float("nan"))], {}, ValueError, "NaN"),
        ([torch.zeros(0, 2)], {}, ValueError, "empty point cloud"),
        ([_Y.reshape(1, 10, 2)], {}, ValueError, r"shape \(N, D\)"),
        ([_Y, _Y.float()], {}, TypeError, "dtype"),
        ([_Y], {"n_points": 0}, ValueError, "n_points"),
        ([_Y], {"n_points": 2.5}, TypeError, "n_points"),
        ([_Y], {"n_points": True}, TypeError, "n_points"),
        ([_Y, _Y], {"weights": [1.0]}, ValueError, "weights"),
        ([_Y, _Y], {"weights": [1.0, -0.5]}, ValueError, "weights"),
        ([_Y, _Y], {"weights": [0.0, 0.0]}, ValueError, "sum to zero"),
        ([_Y], {"masses": [None, None]}, ValueError, "masses"),
        ([_Y], {"masses": [-torch.ones(10, dtype=torch.float64)]}, ValueError, "negative"),
        ([PointCloud(_Y)], {"masses": [torch.ones(10, dtype=torch.float64)]}, ValueError, "own"),
        ([_Y], {"blur": 0.0}, ValueError, "blur"),
        ([_Y], {"init": torch.zeros(3, 2)}, ValueError, "init"),
        ([_Y], {"tol": -1.0}, ValueError, "tol"),
    ],
)
def test_bad_input_gets_a_clear_error(clouds, kwargs, error, match):
    kwargs = {"n_points": 5, "blur": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        brenier.free_support_barycenter(clouds, **kwargs)
