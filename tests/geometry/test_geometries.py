"""Geometries: point clouds and grids, validated, and solved like the tensor inputs."""

from __future__ import annotations

import pickle

import pytest
import torch

import brenier
from brenier.geometry import Geometry, Grid, PointCloud


def test_point_cloud_is_the_tensor_call(gen: torch.Generator) -> None:
    x = torch.rand(150, 3, generator=gen, dtype=torch.float64)
    y = torch.rand(120, 3, generator=gen, dtype=torch.float64) + 0.5
    a = torch.rand(150, generator=gen, dtype=torch.float64)
    b = torch.rand(120, generator=gen, dtype=torch.float64)
    a, b = a / a.sum(), b / b.sum()
    for backend in ("dense", "online"):
        r = brenier.solve(x, y, a, b, blur=0.05, backend=backend)
        s = brenier.solve(PointCloud(x, a), PointCloud(y, b), blur=0.05, backend=backend)
        assert torch.equal(r.value, s.value) and torch.equal(r.f, s.f) and torch.equal(r.g, s.g)
        assert r.iterations == s.iterations and s.backend == backend


def test_point_cloud_shapes_and_gradients(gen: torch.Generator) -> None:
    x = torch.rand(2, 40, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    cloud = PointCloud(x)
    assert isinstance(cloud, Geometry) and cloud.batched and cloud.points.shape == (2, 40, 2)
    assert torch.allclose(cloud.weights.sum(-1), torch.ones(2, dtype=torch.float64))
    res = brenier.solve(cloud, PointCloud(x.detach() + 1.0), blur=0.05)
    res.value.sum().backward()  # gradients reach the user's tensor through the geometry
    assert x.grad is not None and x.grad.shape == x.shape
    assert pickle.loads(pickle.dumps(cloud.detach())).points.shape == (2, 40, 2)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: PointCloud(torch.zeros(0, 3)), ValueError, "empty"),
        (lambda: PointCloud(torch.zeros(5, 3), -torch.ones(5)), ValueError, "negative"),
        (lambda: PointCloud(torch.tensor([[float("nan"), 0.0]])), ValueError, "NaN"),
        (lambda: PointCloud([[0.0, 1.0]]), TypeError, "torch.Tensor"),  # type: ignore[arg-type]
        (lambda: Grid(torch.zeros(3, 3)), ValueError, "zero total mass"),
        (lambda: Grid(torch.ones(2, 2, 2, 2)), ValueError, "volume"),
        (lambda: Grid(torch.ones(4, 4), spacing=(1.0, 0.0)), ValueError, "spacing"),
        (lambda: Grid(torch.ones(4, 4), spacing=(1.0, 2.0, 3.0)), ValueError, "per axis"),
    ],
)
def test_bad_geometries(call, error, match) -> None:
    with pytest.raises(error, match=rf"\[brenier\].*{match}"):
        call()


def test_mixing_geometries_and_weights_is_refused() -> None:
    cloud = PointCloud(torch.rand(10, 2))
    with pytest.raises(ValueError, match=r"\[brenier\].*carry their own weights"):
        brenier.solve(cloud, cloud, torch.ones(10) / 10)
    with pytest.raises(TypeError, match=r"\[brenier\].*two geometries"):
        brenier.solve(cloud, torch.rand(10, 2))
    with pytest.raises(ValueError, match=r"\[brenier\].*dimension"):
        brenier.solve(cloud, PointCloud(torch.rand(10, 3)))


def test_grid_support_and_densities() -> None:
    image = torch.arange(12, dtype=torch.float64).reshape(3, 4) + 1
    grid = Grid(image, spacing=(2.0, 0.5), origin=(1.0, -1.0))
    assert grid.shape == (3, 4) and grid.dim == 2 and not grid.batched
    centres = grid.support[0]
    assert centres.shape == (12, 2)
    # C order: the last axis runs fastest; cell (i, j) sits at origin + (2 i, 0.5 j)
    assert centres[5].tolist() == [3.0, -0.5]
    assert torch.equal(grid.densities(), image) and torch.equal(grid.weights[0], image.flatten())
    batch = Grid(torch.rand(2, 3, 4, 5), batched=True)
    assert batch.shape == (3, 4, 5) and batch.weights.shape == (2, 60)
    assert batch.support.shape == (2, 60, 3)


def _blob(shape: tuple[int, ...], centre: tuple[float, ...]) -> torch.Tensor:
    axes = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in shape), indexing="ij")
    sq = sum((ax - c) ** 2 for ax, c in zip(axes, centre, strict=True))
    return torch.exp(-sq / 4.0)


@pytest.mark.parametrize("backend", ["dense", "online"])
def test_grid_translation_has_its_closed_form(backend: str) -> None:
    # S_eps(a, a shifted by t) = |t|^2 / 2 exactly (p = 2), at any blur: the cross term
    # of |x - y - t|^2 integrates to zero against the plan of OT(a, a).
    image = torch.zeros(16, 20, dtype=torch.float64)
    image[2:10, 3:12] = _blob((8, 9), (3.5, 4.0))
    image /= image.sum()  # the masses are the weights: S scales with the total mass
    shifted = torch.roll(image, shifts=(3, 5), dims=(0, 1))  # stays inside the grid
    spacing = (2.0, 0.5)
    t = torch.tensor([3 * 2.0, 5 * 0.5], dtype=torch.float64)
    res = brenier.solve(
        Grid(image, spacing), Grid(shifted, spacing), blur=0.5, tol=1e-9, backend=backend
    )
    exact = float(t.square().sum() / 2)
    assert abs(float(res.value) - exact) < 1e-6 * exact
    assert res.f.shape == (16 * 20,)


def test_grid_1d_matches_the_sorting_solution() -> None:
    # Smooth densities on 200 cells of [0, 1); blur 0.02 (4 cells): the debiased
    # divergence is within 1e-4 of the exact cost (measured 8.4e-5; 2.5e-4 at blur 0.01).
    n = 200
    t = torch.arange(n, dtype=torch.float64) / n
    a = torch.exp(-((t - 0.3) ** 2) / 0.005) + 0.5 * torch.exp(-((t - 0.7) ** 2) / 0.002)
    b = torch.exp(-((t - 0.55) ** 2) / 0.01) + 0.1
    a, b = a / a.sum(), b / b.sum()
    res = brenier.solve(Grid(a, spacing=1 / n), Grid(b, spacing=1 / n), blur=0.02, tol=1e-6)
    exact = float(brenier.ot_1d(t[:, None], t[:, None], a, b, p=2))  # |x - y|^2 / 2, as ours
    assert res.converged and abs(float(res.value) - exact) < 2e-4 * exact
