"""Displacement interpolation against closed forms: translations, 1D sorting, Gaussians."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import brenier
from brenier.applications.registration import chamfer
from brenier.geometry import Grid, PointCloud


def test_clouds_endpoints_and_frames():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=gen, dtype=torch.float64)
    angle = 2 * math.pi * torch.rand(400, generator=gen, dtype=torch.float64)
    y = torch.stack([angle.cos(), angle.sin()], 1) * 2 + torch.tensor([3.0, 0.0])
    frames = brenier.interpolate(x, y, [0.0, 0.5, 1.0], blur=0.05)
    assert frames.shape == (3, 300, 2) and frames.dtype == torch.float64
    assert torch.equal(frames[0], x)
    assert chamfer(frames[2].numpy(), y.numpy()) < 0.1  # on the circle, spread over it
    assert chamfer(frames[1].numpy(), y.numpy()) > 0.5


def test_translation_moves_linearly():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(200, 3, generator=gen, dtype=torch.float64)
    v = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    times = [0.25, 0.5, 0.75]
    frames = brenier.interpolate(x, x + v, torch.tensor(times), blur=0.01)
    for t, frame in zip(times, frames, strict=True):
        assert (frame - (x + t * v)).norm(dim=1).max() < 0.01 * t


def test_one_dimension_against_sorting():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(250, 1, generator=gen, dtype=torch.float64)
    y = torch.rand(250, 1, generator=gen, dtype=torch.float64) * 3 + 1.0
    t = 0.3
    moved = brenier.interpolate(x, y, t, blur=1e-3)
    # the monotone rearrangement: the i-th smallest x goes to the i-th smallest y
    order = torch.argsort(x[:, 0])
    exact = torch.empty_like(x)
    exact[order] = (1 - t) * x[order] + t * torch.sort(y[:, 0]).values[:, None]
    assert (moved - exact).abs().max() < 0.02
    # a geodesic: W2(x, x_t) = t W2(x, y) and W2(x_t, y) = (1 - t) W2(x, y)
    w = brenier.ot_1d(x, y).sqrt()
    assert brenier.ot_1d(x, moved).sqrt().item() == pytest.approx(t * w.item(), rel=1e-3)
    assert brenier.ot_1d(moved, y).sqrt().item() == pytest.approx((1 - t) * w.item(), rel=1e-3)


def test_weighted_clouds_and_point_clouds():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([[10.0], [11.0], [12.0]], dtype=torch.float64)
    a = torch.tensor([2 / 3, 1 / 3], dtype=torch.float64)
    moved = brenier.interpolate(x, y, 1.0, blur=0.01, a=a)
    # x_0 (mass 2/3) goes to the mean of 10 and 11; x_1 to 12
    assert torch.allclose(moved[:, 0], torch.tensor([10.5, 12.0], dtype=torch.float64), atol=1e-3)
    same = brenier.interpolate(PointCloud(x, a), PointCloud(y), 1.0, blur=0.01)
    assert torch.equal(moved, same)


def _blob(shape, spacing, mean, cov):
    axes = [torch.arange(n, dtype=torch.float64) * h for n, h in zip(shape, spacing, strict=True)]
    P = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)
    d = P - torch.tensor(mean, dtype=torch.float64)
    inv = torch.linalg.inv(torch.tensor(cov, dtype=torch.float64))
    g = torch.exp(-0.5 * torch.einsum("...i,ij,...j->...", d, inv, d))
    return g, P


def _moments(q, P):
    mean = (q[..., None] * P).reshape(-1, P.shape[-1]).sum(0)
    d = (P - mean).reshape(-1, P.shape[-1])
    return mean, torch.einsum("n,na,nb->ab", q.reshape(-1), d, d)


def test_grid_translated_blob_moves_linearly_and_keeps_its_covariance():
    shape, spacing = (48, 40), (0.5, 1.0)
    cov = [[4.0, 1.0], [1.0, 6.0]]
    m0, m1 = np.array([6.0, 10.0]), np.array([17.0, 28.0])
    a, P = _blob(shape, spacing, m0, cov)
    b, _ = _blob(shape, spacing, m1, cov)
    times = [0.0, 0.25, 0.5, 1.0]
    frames = brenier.interpolate(a, b, times, blur=0.5, spacing=spacing)
    assert frames.shape == (4, *shape)
    assert torch.equal(frames[0], a / a.sum()) and torch.equal(frames[-1], b / b.sum())
    for t, q in zip(times, frames, strict=True):
        assert q.sum().item() == pytest.approx(1.0)
        mean, c = _moments(q, P)
        assert np.allclose(mean.numpy(), (1 - t) * m0 + t * m1, atol=1e-2)
        assert np.allclose(c.numpy(), cov, rtol=1e-2, atol=0.03)


def test_grid_geodesic_between_gaussians_matches_mccann():
    shape = (56, 56)
    S0, S1 = np.array([[20.0, 0.0], [0.0, 5.0]]), np.array([[6.0, -3.0], [-3.0, 12.0]])
    a, P = _blob(shape, (1.0, 1.0), [22.0, 26.0], S0)
    b, _ = _blob(shape, (1.0, 1.0), [32.0, 30.0], S1)
    t = 0.4
    q = brenier.interpolate(Grid(a), Grid(b), t, blur=1.0)
    # the Brenier map between Gaussians is x -> A x, A = S0^-1/2 (S0^1/2 S1 S0^1/2)^1/2 S0^-1/2
    R = scipy.linalg.sqrtm(S0).real
    Ri = np.linalg.inv(R)
    A = Ri @ scipy.linalg.sqrtm(R @ S1 @ R).real @ Ri
    M = (1 - t) * np.eye(2) + t * A
    mean, cov = _moments(q, P)
    assert np.allclose(mean.numpy(), [26.0, 27.6], atol=1e-2)
    assert np.allclose(cov.numpy(), M @ S0 @ M, rtol=1e-2, atol=0.05)


def test_grid_tensors_and_grid_geometries_agree():
    a = torch.rand(12, 10, dtype=torch.float64)
    b = torch.rand(12, 10, dtype=torch.float64)
    q = brenier.interpolate(a, b, 0.5, blur=1.0, spacing=(1.0, 2.0))
    same = brenier.interpolate(Grid(a, (1.0, 2.0)), Grid(b, (1.0, 2.0)), 0.5, blur=1.0)
    assert torch.equal(q, same)


def test_volume():
    shape, spacing = (10, 12, 14), (2.0, 1.0, 1.0)
    a, P = _blob(shape, spacing, [8.0, 5.0, 5.0], np.eye(3) * 2.0)
    b, _ = _blob(shape, spacing, [12.0, 7.0, 9.0], np.eye(3) * 2.0)
    q = brenier.interpolate(a, b, 0.5, blur=1.0, spacing=spacing)
    assert q.shape == shape and q.dtype == torch.float64
    mean, _ = _moments(q, P)
    assert np.allclose(mean.numpy(), [10.0, 6.0, 7.0], atol=2e-2)


_X = torch.rand(10, 2, dtype=torch.float64)
_IMG = torch.rand(8, 8, dtype=torch.float64)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((_X, _X, -0.1), {}, ValueError, r"\[0, 1\]"),
        ((_X, _X, 1.5), {}, ValueError, r"\[0, 1\]"),
        ((_X, _X, float("nan")), {}, ValueError, r"\[0, 1\]"),
        ((_X, _X, [0.5, float("nan")]), {}, ValueError, r"\[0, 1\]"),
        ((_X, _X, []), {}, ValueError, "empty"),
        ((_X, _X, "0.5"), {}, TypeError, "number"),
        ((_X, _X, True), {}, TypeError, "number"),
        ((_X, _X, torch.ones(2, 2) / 2), {}, TypeError, "1D sequence"),
        ((_X, _X, 0.5), {"blur": 0.0}, ValueError, "blur"),
        ((_X, torch.rand(5, 3, dtype=torch.float64), 0.5), {}, ValueError, "dimension"),
        ((_X, _X.float(), 0.5), {}, TypeError, "dtype"),
        ((torch.rand(2, 3, 4), torch.rand(2, 3, 4), 0.5), {}, ValueError, "pass `spacing`"),
        (
            (_IMG, torch.rand(8, 9, dtype=torch.float64), 0.5),
            {"spacing": 1.0},
            ValueError,
            "one grid",
        ),
        ((_IMG, -_IMG, 0.5), {"spacing": 1.0}, ValueError, "negative"),
        ((_IMG, _IMG * 0, 0.5), {"spacing": 1.0}, ValueError, "zero total mass"),
        ((_IMG, _IMG, 0.5), {"spacing": 0.0}, ValueError, "spacing"),
        ((Grid(_IMG), _IMG, 0.5), {}, TypeError, "both be Grid"),
        ((Grid(_IMG), Grid(_IMG), 0.5), {"spacing": 1.0}, ValueError, "comes with"),
        ((_IMG, _IMG, 0.5), {"spacing": 1.0, "a": torch.ones(8)}, ValueError, "weights of point"),
        ((PointCloud(_X), PointCloud(_X), 0.5), {"spacing": 1.0}, TypeError, "not PointClouds"),
    ],
)
def test_bad_input_gets_a_clear_error(args, kwargs, error, match):
    kwargs = {"blur": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        brenier.interpolate(*args, **kwargs)
