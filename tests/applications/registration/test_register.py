"""The entry point: inputs, outputs, the transform, the report, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import brenier
from brenier.applications.registration import lung_pair, target_registration_error
from brenier.io import Shape, write_shape


def test_top_level_entry_point_and_report(gen: torch.Generator) -> None:
    x = torch.randn(300, 3, generator=gen, dtype=torch.float64) * torch.tensor([2.0, 1.0, 0.5])
    c, s = 0.8, 0.6  # a rotation of 37 degrees about z
    R = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)
    y = 1.1 * x @ R.T + 0.3
    calls: list = []
    res = brenier.register(
        x, y, steps=("rigid", "similarity"), multistart=False,
        callback=lambda k, name, report: calls.append((k, name, report)),
    )  # fmt: skip
    assert [s.name for s in res.steps] == ["rigid", "similarity"]
    # the callback: each step announced, then its report
    assert calls == [(0, "rigid", None), (0, "rigid", res.steps[0]),
                     (1, "similarity", None), (1, "similarity", res.steps[1])]  # fmt: skip
    assert all(s.seconds > 0 for s in res.steps)
    assert res.steps[-1].cost < res.steps[0].cost < res.initial_cost
    assert res.seconds == pytest.approx(sum(s.seconds for s in res.steps))
    assert isinstance(res.moved, torch.Tensor) and res.moved.dtype == torch.float64
    assert float((res.moved - y).norm(dim=1).max()) < 1e-2


@pytest.mark.parametrize("max_points", [300, None])
def test_apply_on_landmarks_equals_the_moved_samples(max_points: int | None) -> None:
    pair = lung_pair(800, seed=2, depth=6, missing=0.0, outliers=0.0)
    res = brenier.register(
        pair.source, pair.target, steps=("rigid", "affine", "nonrigid"), multistart=False,
        levels=2, blur=5.0, max_points=max_points,
    )  # fmt: skip
    assert isinstance(res.moved, np.ndarray)
    # Landmarks that coincide with samples are moved exactly like them.
    picks = np.array([0, 17, 432, 799])
    np.testing.assert_allclose(res.apply(pair.source[picks]), res.moved[picks], atol=1e-12)
    moved32 = res.apply(torch.from_numpy(pair.source[picks]).float())
    assert moved32.dtype == torch.float32
    np.testing.assert_allclose(moved32.numpy(), res.moved[picks], atol=1e-3)


@pytest.mark.slow
def test_nonrigid_reduces_the_landmark_error() -> None:
    pair = lung_pair(4000, seed=1, depth=7, missing=0.0, outliers=0.01)
    before = target_registration_error(pair.landmarks, pair.landmarks_moved)["mean"]
    affine = brenier.register(
        pair.source, pair.target, pair.source_radius, pair.target_radius,
        steps=("rigid", "affine"), multistart=False,
    )  # fmt: skip
    full = brenier.register(
        pair.source, pair.target, pair.source_radius, pair.target_radius, multistart=False
    )
    tre_affine = target_registration_error(affine.apply(pair.landmarks), pair.landmarks_moved)
    tre_full = target_registration_error(full.apply(pair.landmarks), pair.landmarks_moved)
    assert tre_affine["mean"] < before
    assert tre_full["mean"] < 0.6 * tre_affine["mean"], (before, tre_affine, tre_full)
    assert full.steps[-1].cost < full.steps[-2].cost


def test_spline_step_lowers_the_ot_cost(gen: torch.Generator) -> None:
    x = torch.rand(300, 3, generator=gen, dtype=torch.float64)
    y = x + 0.05 * torch.sin(3 * x[:, [1, 2, 0]])
    res = brenier.register(x, y, steps=("spline",), reach=None)
    assert res.steps[0].cost < 0.5 * res.initial_cost
    assert float((res.moved - y).norm(dim=1).mean()) < float((x - y).norm(dim=1).mean())


def test_files_as_inputs(tmp_path: Path, gen: torch.Generator) -> None:
    pytest.importorskip("meshio")
    x = np.random.default_rng(0).normal(size=(200, 3)) * [2.0, 1.0, 0.5]
    src = write_shape(tmp_path / "src.ply", Shape(x, None, {"radius": np.ones(200)}))
    tgt = write_shape(tmp_path / "tgt.npy", Shape(x + 1.0))
    res = brenier.register(src, tgt, steps=("rigid",), multistart=False)
    np.testing.assert_allclose(res.moved, x + 1.0, atol=1e-2)


def test_bad_arguments_are_clear_errors(gen: torch.Generator) -> None:
    x = torch.randn(10, 3, generator=gen)
    with pytest.raises(ValueError, match=r"`steps` must be a sequence"):
        brenier.register(x, x, steps="rigid")
    with pytest.raises(ValueError, match=r"`steps` must be a sequence"):
        brenier.register(x, x, steps=("twist",))
    with pytest.raises(ValueError, match=r"`source` must have shape \(N, 3\)"):
        brenier.register(x[:, :2], x)
    with pytest.raises(ValueError, match=r"`target` has NaN"):
        brenier.register(x, torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match=r"`b` has 3 weights for 10 target points"):
        brenier.register(x, x, b=torch.ones(3))
    with pytest.raises(ValueError, match=r"`a` must be finite, non-negative"):
        brenier.register(x, x, a=-torch.ones(10))
    with pytest.raises(TypeError, match=r"`source` must be a tensor or array"):
        brenier.register([[0.0, 0, 0]], x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`reach` must be 'auto', None or positive"):
        brenier.register(x, x, reach=-1.0)
    for max_points in (0, -5, 2.5, True):  # 0 made the voxel search grow forever
        with pytest.raises(ValueError, match=r"`max_points` must be a positive integer or None"):
            brenier.register(x, x, max_points=max_points)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`callback` must be a function"):
        brenier.register(x, x, callback=3)  # type: ignore[arg-type]
    res = brenier.register(x, x, steps=())
    with pytest.raises(ValueError, match=r"shape \(K, 3\)"):
        res.apply(np.zeros((3, 2)))
