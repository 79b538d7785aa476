"""Normalisation and subsampling."""

from __future__ import annotations

import pytest
import torch

from brenier.applications.registration import (
    Normalization,
    farthest_point_subsample,
    random_subsample,
    voxel_downsample,
)


def test_normalization_round_trip_and_frame(gen: torch.Generator) -> None:
    x = torch.randn(100, 3, generator=gen, dtype=torch.float64) * 7 + 3
    w = torch.rand(100, generator=gen, dtype=torch.float64)
    norm = Normalization.fit(x, w)
    z = norm.apply(x)
    torch.testing.assert_close(w @ z / w.sum(), torch.zeros(3, dtype=torch.float64))
    assert float((z.amax(0) - z.amin(0)).max()) == pytest.approx(1.0, rel=1e-12)
    torch.testing.assert_close(norm.inverse(z), x)


def test_voxel_downsample_keeps_mass_and_centroid(gen: torch.Generator) -> None:
    x = torch.rand(5000, 3, generator=gen, dtype=torch.float64)
    w = torch.rand(5000, generator=gen, dtype=torch.float64)
    c, v = voxel_downsample(x, w, 0.1)
    assert len(c) <= 1000 and len(c) > 500  # at most 10^3 cells, nearly all occupied
    torch.testing.assert_close(v.sum(), w.sum())
    torch.testing.assert_close(v @ c, w @ x)  # the first moment is kept exactly
    # Every centroid lies in the cell of the points it merges: within one voxel of them.
    d = torch.cdist(c, x).amin(1)
    assert float(d.max()) < 0.1 * 3**0.5


def test_voxel_downsample_drops_zero_weights() -> None:
    x = torch.tensor([[0.0, 0, 0], [5.0, 5, 5]])
    c, w = voxel_downsample(x, torch.tensor([1.0, 0.0]), 1.0)
    assert c.tolist() == [[0.0, 0.0, 0.0]] and w.tolist() == [1.0]


def test_random_subsample_is_distinct_and_seeded() -> None:
    idx = random_subsample(1000, 100, seed=3)
    assert len(set(idx.tolist())) == 100 and int(idx.max()) < 1000
    assert torch.equal(idx, random_subsample(1000, 100, seed=3))
    assert len(random_subsample(10, 100)) == 10


def test_farthest_points_cover_better_than_random(gen: torch.Generator) -> None:
    # A dense blob and a few far points: random sampling misses the far ones.
    x = torch.cat([torch.randn(2000, 3, generator=gen) * 0.1, torch.rand(20, 3, generator=gen) + 3])
    fps = x[farthest_point_subsample(x, 50)]
    rnd = x[random_subsample(len(x), 50, seed=0)]
    cover_fps = float(torch.cdist(x, fps).amin(1).max())
    cover_rnd = float(torch.cdist(x, rnd).amin(1).max())
    assert cover_fps < 0.5 * cover_rnd
