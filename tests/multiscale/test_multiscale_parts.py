"""Clustering, truncation and the block-sparse kernel, each against a direct computation."""

from __future__ import annotations

import pytest
import torch

from brenier.kernels import OnlinePair
from brenier.multiscale import BlockSparsity, cell_size_for, grid_clusters, potential_fit, truncate
from brenier.multiscale._kernel import BlockSparsePair, SortedPair


@pytest.mark.parametrize("D", [2, 3, 5])
def test_grid_clusters_sort_and_summarise(gen: torch.Generator, D: int) -> None:
    x = torch.rand(700, D, generator=gen, dtype=torch.float64)
    w = torch.rand(700, generator=gen, dtype=torch.float64)
    c = grid_clusters(x, w, side=0.3)
    assert torch.equal(c.perm[c.inverse], torch.arange(700))
    assert int(c.offsets[-1]) == 700 and c.count == c.centroids.shape[0]
    labels = c.labels[c.perm]  # sorted cloud: labels are non-decreasing, ranges match
    assert bool((labels.diff() >= 0).all())
    assert torch.equal(torch.bincount(labels), c.offsets.diff())
    assert torch.allclose(c.weights.sum(), w.sum())
    for k in (0, c.count // 2, c.count - 1):
        pts = x[c.perm[c.offsets[k] : c.offsets[k + 1]]]
        ws = w[c.perm[c.offsets[k] : c.offsets[k + 1]]]
        assert torch.allclose(c.centroids[k], (ws[:, None] * pts).sum(0) / ws.sum())
        assert float((pts - c.centroids[k]).norm(dim=-1).max()) <= float(c.radii[k]) + 1e-12
        assert (pts.max(0).values - pts.min(0).values).max() <= 0.3 + 1e-12  # one cell


def test_nested_grids_and_cell_size(gen: torch.Generator) -> None:
    x = torch.rand(2000, 3, generator=gen, dtype=torch.float64)
    w = torch.full((2000,), 1 / 2000, dtype=torch.float64)
    origin = x.min(0).values
    coarse, fine = grid_clusters(x, w, 0.2, origin), grid_clusters(x, w, 0.1, origin)
    # every fine cluster lies inside one coarse cluster
    parent = coarse.labels[fine.perm]
    fine_sorted_labels = fine.labels[fine.perm]
    for k in range(fine.count):
        sl = slice(int(fine.offsets[k]), int(fine.offsets[k + 1]))
        assert parent[sl].unique().numel() == 1
        assert bool((fine_sorted_labels[sl] == k).all())
    side = cell_size_for(x, 100, diameter=3**0.5)
    assert 50 <= grid_clusters(x, w, side).count <= 200


def _full_pair(x: torch.Tensor, y: torch.Tensor) -> BlockSparsePair:
    N, M = x.shape[1], y.shape[1]
    item = SortedPair(torch.arange(N), torch.arange(N), torch.arange(M), BlockSparsity.full(N, M))
    return BlockSparsePair(x, y, (item,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_block_kernel_with_every_block_is_the_online_kernel(gen, dtype) -> None:
    x = torch.randn(1, 300, 3, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    y = torch.randn(1, 250, 3, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    h = torch.randn(1, 250, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    out = _full_pair(x, y).softmin(0.3, h)
    ref = OnlinePair(x, y, p=2).softmin(0.3, h)
    assert out.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert torch.allclose(out, ref, rtol=tol, atol=tol)
    w = torch.randn(1, 300, generator=gen, dtype=torch.float64).to(dtype)
    grads = torch.autograd.grad((out * w).sum(), (x, y, h))
    refs = torch.autograd.grad((ref * w).sum(), (x, y, h))
    for g, r in zip(grads, refs, strict=True):
        assert torch.allclose(g, r, rtol=10 * tol, atol=10 * tol)
    v = torch.randn(1, 250, 2, generator=gen, dtype=torch.float64).to(dtype)
    with torch.no_grad():
        s = _full_pair(x, y).softmax_sum(0.3, h, v)
        assert torch.allclose(s, OnlinePair(x, y, p=2).softmax_sum(0.3, h, v), rtol=tol, atol=tol)
    with pytest.raises(NotImplementedError, match=r"\[brenier\]"):
        _full_pair(x, y).softmax_sum(0.3, h, v)


def test_truncation_keeps_every_block_at_large_tau_and_one_per_row(gen) -> None:
    x = torch.rand(400, 2, generator=gen, dtype=torch.float64)
    y = torch.rand(300, 2, generator=gen, dtype=torch.float64) + 2.0
    w = torch.full((400,), 1 / 400, dtype=torch.float64)
    v = torch.full((300,), 1 / 300, dtype=torch.float64)
    cx, cy = grid_clusters(x, w, 0.25), grid_clusters(y, v, 0.25)
    F, G = (
        potential_fit(torch.zeros(400, dtype=x.dtype), w, x, cx),
        potential_fit(torch.zeros(300, dtype=x.dtype), v, y, cy),
    )
    xy, yx = truncate(cx, cy, F, G, eps=1.0, tau=1e6)
    assert xy.kept_pairs == 400 * 300 and yx.kept_pairs == 400 * 300
    xy, yx = truncate(cx, cy, F, G, eps=1e-4, tau=5.0)  # far apart: only the best pair
    assert 0 < xy.kept_pairs < 400 * 300
    assert bool((xy.row_ptr[1:] > xy.row_ptr[:-1]).all())  # no empty row
    assert bool((yx.row_ptr[1:] > yx.row_ptr[:-1]).all())  # no empty column
