"""Clustering, truncation and the block-sparse kernel, each against a direct computation."""

from __future__ import annotations

import math

import pytest
import torch

from brenier.kernels import OnlinePair
from brenier.kernels.block_sparse import (
    BlockSparsePair,
    BlockSparsity,
    Frame,
    SortedPair,
    cell_size_for,
    grid_clusters,
    nested_grids,
    potential_fit,
    truncate,
    truncate_chain,
)
from brenier.kernels.block_sparse._truncation import EXACT_MARGIN


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


@pytest.mark.parametrize("D", [2, 3])
def test_nested_grids_from_one_sort_are_the_grids(gen, D) -> None:
    """The grids of :func:`nested_grids` (one sort, codes shifted) hold the same clusters
    as binning each grid on its own, with the same summaries, and nest."""
    x = torch.rand(3000, D, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.5][:D])
    w = torch.rand(3000, generator=gen, dtype=torch.float64)
    w[::7] = 0.0  # clusters of zero weight get plain means
    origin = x.min(0).values - 0.01
    finest = 0.013
    nested = nested_grids(x, origin, finest)
    assert nested is not None
    previous = None
    for m in range(6):
        got, ref = nested.clusters(w, m), grid_clusters(x, w, finest * 2**m, origin)
        assert got.count == ref.count == nested.count(m)
        same = got.labels[:, None] == got.labels[None, :]
        assert torch.equal(same, ref.labels[:, None] == ref.labels[None, :])
        match = ref.labels[got.perm[got.offsets[:-1]]]  # ref's cluster of each of got's
        assert torch.allclose(got.weights, ref.weights[match], atol=1e-12)
        assert torch.allclose(got.centroids, ref.centroids[match], atol=1e-12)
        assert torch.allclose(got.radii, ref.radii[match], atol=1e-12)
        sorted_labels = got.labels[got.perm]
        assert bool((sorted_labels[1:] >= sorted_labels[:-1]).all())  # one order for all
        if previous is not None:  # each cell of grid m - 1 lies in one cell of grid m
            pairs = torch.unique(torch.stack([previous.labels, got.labels]), dim=1)
            assert pairs.shape[1] == previous.count
        previous = got


def _full_pair(x: torch.Tensor, y: torch.Tensor, p: int = 2) -> BlockSparsePair:
    N, M = x.shape[1], y.shape[1]
    item = SortedPair(torch.arange(N), torch.arange(N), torch.arange(M), BlockSparsity.full(N, M))
    return BlockSparsePair(x, y, (item,), p)


@pytest.mark.parametrize("E", [2, 3])  # 3: the fused 3D map path, four rows per pass
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_block_kernel_with_every_block_is_the_online_kernel(gen, dtype, p, E) -> None:
    x = torch.randn(1, 301, 3, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    y = torch.randn(1, 250, 3, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    h = torch.randn(1, 250, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    out = _full_pair(x, y, p).softmin(0.3, h)
    ref = OnlinePair(x, y, p=p).softmin(0.3, h)
    assert out.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert torch.allclose(out, ref, rtol=tol, atol=tol)
    w = torch.randn(1, 301, generator=gen, dtype=torch.float64).to(dtype)
    grads = torch.autograd.grad((out * w).sum(), (x, y, h))
    refs = torch.autograd.grad((ref * w).sum(), (x, y, h))
    for g, r in zip(grads, refs, strict=True):
        assert torch.allclose(g, r, rtol=10 * tol, atol=10 * tol)
    v = torch.randn(1, 250, E, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    s = _full_pair(x, y, p).softmax_sum(0.3, h, v)
    ref = OnlinePair(x, y, p=p).softmax_sum(0.3, h, v)
    assert torch.allclose(s, ref, rtol=tol, atol=tol)
    w = torch.randn(1, 301, E, generator=gen, dtype=torch.float64).to(dtype)
    grads = torch.autograd.grad((s * w).sum(), (x, y, h, v))
    refs = torch.autograd.grad((ref * w).sum(), (x, y, h, v))
    for g, r in zip(grads, refs, strict=True):
        assert torch.allclose(g, r, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("D", [1, 2])
def test_block_softmax_sum_of_three_vectors_in_low_dimensions(gen, D) -> None:
    # Three vectors take the fused row (one pass over the targets) for any D <= 3.
    x = torch.randn(1, 97, D, generator=gen, dtype=torch.float64)
    y = torch.randn(1, 80, D, generator=gen, dtype=torch.float64)
    h = torch.randn(1, 80, generator=gen, dtype=torch.float64)
    v = torch.randn(1, 80, 3, generator=gen, dtype=torch.float64)
    for p in (1, 2):
        out = _full_pair(x, y, p).softmax_sum(0.2, h, v)
        ref = OnlinePair(x, y, p=p).softmax_sum(0.2, h, v)
        assert torch.allclose(out, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_block_kernel_rows_far_apart_at_small_eps(gen, D, p, dtype) -> None:
    """One cluster of rows far apart at a small eps: each row's sum starts from the
    previous row's log-sum-exp, which then over- or underflows and must be redone from
    the exact max; the result is the dense log-sum-exp (four rows at a time for D = 2, 3,
    one at a time for the rest), and so is the online kernel's."""
    N, M, eps = 203, 170, 1e-3
    x = torch.rand(1, N, D, generator=gen, dtype=torch.float64)
    x[0, ::3] += 5.0  # every third row far from its neighbours
    y = torch.rand(1, M, D, generator=gen, dtype=torch.float64) * 6
    h = 50 * torch.randn(1, M, generator=gen, dtype=torch.float64)
    out = _full_pair(x.to(dtype), y.to(dtype), p).softmin(eps, h.to(dtype))
    cost = (x[0, :, None] - y[0, None]).norm(dim=-1)
    cost = cost**2 / 2 if p == 2 else cost
    ref = -eps * torch.logsumexp(h[0, None] - cost / eps, dim=-1)
    online = OnlinePair(x.to(dtype), y.to(dtype), p=p).softmin(eps, h.to(dtype))
    scale = eps * float(h.abs().max() + cost.max() / eps)  # the exponents' rounding
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    for result in (out, online):  # the online kernel shifts by the previous row too
        assert bool(torch.isfinite(result).all())
        assert float((result[0].double() - ref).abs().max()) <= tol * scale


@pytest.mark.parametrize("D", [2, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_block_kernel_shifts_by_the_last_results_whatever_they_are(gen, D, dtype) -> None:
    """Calls without autograd shift each row by its result at the previous call (the
    first one by a seed, here absurd or infinite): right after h moved by hundreds
    (every shift then over- or underflows, rows fall back to the exact max), and again
    (good shifts), the results are the dense log-sum-exp, rows of a cluster that are
    not a multiple of four included."""
    N, M, eps = 203, 170, 1e-3
    x = torch.rand(1, N, D, generator=gen, dtype=torch.float64)
    y = torch.rand(1, M, D, generator=gen, dtype=torch.float64)
    pair = _full_pair(x.to(dtype), y.to(dtype), 2)
    pair.seed(eps, torch.full((1, N), 1e6).index_fill_(1, torch.tensor([3, 7]), -math.inf))
    cost = ((x[0, :, None] - y[0, None]) ** 2).sum(-1) / 2
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    for step in range(4):
        h = 300 * (step % 2) * torch.randn(1, M, generator=gen, dtype=torch.float64)
        ref = -eps * torch.logsumexp(h[0, None] - cost / eps, dim=-1)
        out = pair.softmin(eps, h.to(dtype))[0].double()
        scale = eps * float(h.abs().max() + cost.max() / eps)
        assert float((out - ref).abs().max()) <= tol * scale


def test_truncated_softmax_sum_gradients_match_finite_differences(gen) -> None:
    # Clusters of two far-apart groups and a small tau: the kernel visits part of the
    # pairs only; its gradient is the gradient of that truncated sum (gradcheck).
    x = torch.cat([torch.rand(20, 3, generator=gen), torch.rand(20, 3, generator=gen) + 3])
    y = torch.cat([torch.rand(15, 3, generator=gen), torch.rand(15, 3, generator=gen) + 3])
    x, y = x.double(), y.double()
    w, v = torch.full((40,), 1 / 40, dtype=x.dtype), torch.full((30,), 1 / 30, dtype=x.dtype)
    cx, cy = grid_clusters(x, w, 0.5), grid_clusters(y, v, 0.5)
    f, g = torch.zeros(40, dtype=x.dtype), torch.zeros(30, dtype=x.dtype)
    xy, _ = truncate(
        cx, cy, potential_fit(f, Frame.of(w, x, cx)), potential_fit(g, Frame.of(v, y, cy)), 0.5, 3.0
    )
    assert 0 < xy.kept_pairs < 40 * 30
    item = SortedPair(cx.perm, torch.argsort(cx.perm), cy.perm, xy)
    h = torch.randn(1, 30, generator=gen, dtype=x.dtype)
    vals = torch.randn(1, 30, 2, generator=gen, dtype=x.dtype)

    def fn(x, y, h, vals):
        return BlockSparsePair(x, y, (item,)).softmax_sum(0.5, h, vals)

    inputs = tuple(t.clone().requires_grad_() for t in (x[None], y[None], h, vals))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


def test_truncation_keeps_every_block_at_large_tau_and_one_per_row(gen) -> None:
    x = torch.rand(400, 2, generator=gen, dtype=torch.float64)
    y = torch.rand(300, 2, generator=gen, dtype=torch.float64) + 2.0
    w = torch.full((400,), 1 / 400, dtype=torch.float64)
    v = torch.full((300,), 1 / 300, dtype=torch.float64)
    cx, cy = grid_clusters(x, w, 0.25), grid_clusters(y, v, 0.25)
    F = potential_fit(torch.zeros(400, dtype=x.dtype), Frame.of(w, x, cx))
    G = potential_fit(torch.zeros(300, dtype=x.dtype), Frame.of(v, y, cy))
    xy, yx = truncate(cx, cy, F, G, eps=1.0, tau=1e6)
    assert xy.kept_pairs == 400 * 300 and yx.kept_pairs == 400 * 300
    xy, yx = truncate(cx, cy, F, G, eps=1e-4, tau=5.0)  # far apart: only the best pair
    assert 0 < xy.kept_pairs < 400 * 300
    assert bool((xy.row_ptr[1:] > xy.row_ptr[:-1]).all())  # no empty row
    assert bool((yx.row_ptr[1:] > yx.row_ptr[:-1]).all())  # no empty column


def _visited(s: BlockSparsity, x_perm: torch.Tensor, y_perm: torch.Tensor, N: int, M: int):
    """The (N, M) boolean mask of the pairs a block-sparse kernel visits (user order)."""
    mask = torch.zeros(N, M, dtype=torch.bool)
    for i in range(len(s.x_offsets) - 1):
        rows = x_perm[s.x_offsets[i] : s.x_offsets[i + 1]]
        for r in range(s.row_ptr[i], s.row_ptr[i + 1]):
            mask[rows[:, None], y_perm[s.col_lo[r] : s.col_hi[r]][None, :]] = True
    return mask


@pytest.mark.parametrize(("noise", "p"), [(0.0, 2), (0.05, 2), (0.0, 1), (0.05, 1)])
def test_truncation_bound_is_rigorous_even_for_irregular_potentials(gen, noise, p) -> None:
    # Potentials of a shifted cloud (f ~ -x . shift) plus noise at the scale of eps
    # (irregular, as in the sparse tails of samples): no pair whose plan exponent is
    # above -tau eps may be dropped.
    x = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(400, 3, generator=gen, dtype=torch.float64) + 0.7
    w, v = torch.full((500,), 1 / 500, dtype=x.dtype), torch.full((400,), 1 / 400, dtype=x.dtype)
    shift = torch.full((3,), 0.7, dtype=x.dtype)
    eps, tau = 0.01, 3.0
    f = -(x @ shift) + noise * torch.randn(500, generator=gen, dtype=x.dtype)
    g = (
        y @ shift
        - 0.5 * float(shift @ shift)
        + noise * torch.randn(400, generator=gen, dtype=x.dtype)
    )
    cx, cy = grid_clusters(x, w, 0.6), grid_clusters(y, v, 0.6)
    if p == 1:  # potentials of the |x - y| cost: 1-Lipschitz, like a projection's
        unit = shift / shift.norm()
        f = -(x @ unit) + noise * torch.randn(500, generator=gen, dtype=x.dtype)
        g = y @ unit + noise * torch.randn(400, generator=gen, dtype=x.dtype)
    fits = potential_fit(f, Frame.of(w, x, cx)), potential_fit(g, Frame.of(v, y, cy))
    xy, yx = truncate(cx, cy, *fits, eps, tau, p=p)
    cost = torch.cdist(x, y).square() / 2 if p == 2 else torch.cdist(x, y)
    exponent = f[:, None] + g[None, :] - cost
    kept = _visited(xy, cx.perm, cy.perm, 500, 400)
    assert bool(kept[exponent >= -tau * eps].all())
    assert kept.float().mean() < 0.5  # and it does truncate
    assert torch.equal(_visited(yx, cy.perm, cx.perm, 400, 500), kept.T)  # exact transposes


@pytest.mark.parametrize("p", [1, 2])
def test_truncation_tested_on_the_points_keeps_the_band_and_drops_the_slack(gen, p) -> None:
    """With the points and their potentials, the rule's blocks are tested on the
    points: every pair with an exponent above -tau eps is still visited, some of the
    rule's blocks are dropped (its slack), the two ways stay exact transposes, and every
    point keeps a partner."""
    x = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(400, 3, generator=gen, dtype=torch.float64) + 0.7
    w, v = torch.full((500,), 1 / 500, dtype=x.dtype), torch.full((400,), 1 / 400, dtype=x.dtype)
    shift = torch.full((3,), 0.7, dtype=x.dtype)
    eps, tau = 0.01, 3.0
    if p == 2:
        f, g = -(x @ shift), y @ shift - 0.5 * float(shift @ shift)
    else:
        unit = shift / shift.norm()
        f, g = -(x @ unit), y @ unit
    f = f + 0.05 * torch.randn(500, generator=gen, dtype=x.dtype)  # a wide slack
    cx, cy = grid_clusters(x, w, 0.4), grid_clusters(y, v, 0.4)
    fits = (
        [(cx, potential_fit(f, Frame.of(w, x, cx)))],
        [(cy, potential_fit(g, Frame.of(v, y, cy)))],
    )
    rule = _visited(truncate_chain(*fits, [], eps, tau, p=p)[0], cx.perm, cy.perm, 500, 400)
    xy, yx = truncate_chain(*fits, [], eps, tau, p=p, points=(x, y, f, g))
    kept = _visited(xy, cx.perm, cy.perm, 500, 400)
    cost = torch.cdist(x, y).square() / 2 if p == 2 else torch.cdist(x, y)
    exponent = f[:, None] + g[None, :] - cost
    assert bool(kept[exponent >= -tau * eps].all())
    assert bool(rule[kept].all()) and kept.sum() < rule.sum()
    # A kept block holds a pair within the margin, or is a row's or column's best.
    reach = (tau + EXACT_MARGIN) * eps
    lx, ly = cx.labels, cy.labels
    near = torch.zeros(cx.count, cy.count, dtype=torch.bool)
    near[
        lx[:, None].expand(-1, 400)[exponent >= -reach],
        ly[None].expand(500, -1)[exponent >= -reach],
    ] = True
    blocks = torch.zeros(cx.count, cy.count, dtype=torch.bool)
    blocks[lx[:, None].expand(-1, 400)[kept], ly[None].expand(500, -1)[kept]] = True
    assert int((blocks & ~near).sum()) <= cx.count + cy.count
    assert torch.equal(_visited(yx, cy.perm, cx.perm, 400, 500), kept.T)
    assert bool(kept.any(1).all()) and bool(kept.any(0).all())


def test_truncation_bound_keeps_the_cost_curvature(gen) -> None:
    # Blocks much wider than the plan's band (sqrt(2 tau eps) = 0.24 here, blocks of
    # side 0.6): a bound linear in the block extents keeps 8.6x the block pairs that
    # hold a needed pair; with the -|delta - eta|^2 / 2 of the cost kept, 4.4x.
    x = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(400, 3, generator=gen, dtype=torch.float64) + 0.7
    w, v = torch.full((500,), 1 / 500, dtype=x.dtype), torch.full((400,), 1 / 400, dtype=x.dtype)
    shift = torch.full((3,), 0.7, dtype=x.dtype)
    f, g = -(x @ shift), y @ shift - 0.5 * float(shift @ shift)
    eps, tau = 0.01, 3.0
    cx, cy = grid_clusters(x, w, 0.6), grid_clusters(y, v, 0.6)
    fits = potential_fit(f, Frame.of(w, x, cx)), potential_fit(g, Frame.of(v, y, cy))
    xy, _ = truncate(cx, cy, *fits, eps, tau)
    needed = f[:, None] + g[None, :] - torch.cdist(x, y).square() / 2 >= -tau * eps
    kept = _visited(xy, cx.perm, cy.perm, 500, 400)
    assert bool(kept[needed].all())
    lx, ly = torch.empty(500, dtype=torch.long), torch.empty(400, dtype=torch.long)
    lx[cx.perm] = torch.repeat_interleave(torch.arange(cx.count), cx.offsets.diff())
    ly[cy.perm] = torch.repeat_interleave(torch.arange(cy.count), cy.offsets.diff())
    blocks = torch.zeros(cx.count, cy.count, dtype=torch.bool)
    rows, cols = needed.nonzero(as_tuple=True)
    blocks[lx[rows], ly[cols]] = True
    best_possible = blocks[lx[:, None], ly[None, :]].sum()
    assert kept.sum() < 6 * best_possible


def test_truncation_gives_rows_of_zero_mass_a_partner_with_mass(gen) -> None:
    # Found by the sweep (issue 14): a cluster of zero mass has F = -inf, so all its
    # scores tied at -inf and it kept the first column, which could be of zero mass too;
    # its softmin was then +inf and the value NaN. Its best partner is now the column
    # of largest G_J - C(c_I, c_J): never one of zero mass when one with mass exists.
    x = torch.rand(300, 2, generator=gen, dtype=torch.float64)
    y = torch.rand(200, 2, generator=gen, dtype=torch.float64) + 3.0  # far: best pairs only
    w, v = (
        torch.rand(300, generator=gen, dtype=x.dtype),
        torch.rand(200, generator=gen, dtype=x.dtype),
    )
    w[grid_clusters(x, w, 0.2).labels % 2 == 0] = 0.0  # every other cluster without mass
    v[grid_clusters(y, v, 0.2).labels % 2 == 1] = 0.0
    cx, cy = grid_clusters(x, w, 0.2), grid_clusters(y, v, 0.2)
    F = potential_fit(-x.sum(1), Frame.of(w, x, cx))
    G = potential_fit(y.sum(1), Frame.of(v, y, cy))
    assert bool((F[0] == -torch.inf).any()) and bool((G[0] == -torch.inf).any())
    xy, yx = truncate(cx, cy, F, G, eps=1e-4, tau=5.0)
    for s, cols, mass in ((xy, cy, v), (yx, cx, w)):
        for i in range(len(s.row_ptr) - 1):
            spans = range(s.row_ptr[i], s.row_ptr[i + 1])
            kept = torch.cat([cols.perm[s.col_lo[r] : s.col_hi[r]] for r in spans])
            assert float(mass[kept].sum()) > 0, f"cluster {i} keeps no column with mass"


def test_block_sparsity_gives_back_its_kept_pairs(gen: torch.Generator) -> None:
    """``BlockSparsity.blocks`` inverts the ranges (consecutive kept blocks merged, empty
    column clusters sharing their offset): the CSR a chain may start from."""
    import numpy as np

    from brenier.kernels.block_sparse import _truncation_numba as nb

    rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=gen)))
    for _ in range(200):
        Kx, Ky = int(rng.integers(1, 12)), int(rng.integers(1, 15))
        sizes = rng.integers(0, 4, Ky)
        keep = (rng.random((Kx, Ky)) < 0.4) & (sizes > 0)[None]
        ptr = np.concatenate([[0], np.cumsum(keep.sum(1))]).astype(np.int64)
        idx = np.concatenate([np.flatnonzero(r) for r in keep] + [[]]).astype(np.int64)
        x_off = np.concatenate([[0], np.cumsum(rng.integers(1, 4, Kx))]).astype(np.int64)
        y_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        row_ptr, lo, hi, kept = nb.ranges(ptr, idx, x_off, y_off)
        back = BlockSparsity(x_off, row_ptr, lo, hi, int(kept)).blocks(y_off)
        assert np.array_equal(back[0], ptr) and np.array_equal(back[1], idx)


def test_a_chain_started_from_kept_pairs_keeps_them(gen: torch.Generator) -> None:
    """``truncate_chain(start=...)`` with one grouping: the given pairs, both ways (the
    points reading a presolve's blocks); one grid finer: the rule on their children."""
    x = torch.rand(400, 2, generator=gen, dtype=torch.float64)
    y = torch.rand(300, 2, generator=gen, dtype=torch.float64) + 0.2
    a, b = torch.full((400,), 1 / 400, dtype=x.dtype), torch.full((300,), 1 / 300, dtype=x.dtype)
    origin = torch.zeros(2, dtype=x.dtype)
    cx, cy = grid_clusters(x, a, 0.25, origin), grid_clusters(y, b, 0.25, origin)
    f, g = torch.zeros(400, dtype=x.dtype), torch.zeros(300, dtype=x.dtype)
    eps, tau = 0.01, 5.0
    rows = [(cx, potential_fit(f, Frame.of(a, x, cx)))]
    cols = [(cy, potential_fit(g, Frame.of(b, y, cy)))]
    xy, yx = truncate_chain(rows, cols, [], eps, tau)
    start = xy.blocks(cy.offsets.numpy())
    again, back = truncate_chain([(cx, None)], [(cy, None)], [], eps, tau, start=start)
    for s, t in ((again, xy), (back, yx)):
        assert s.kept_pairs == t.kept_pairs
        assert all((u == v).all() for u, v in zip(
            (s.row_ptr, s.col_lo, s.col_hi), (t.row_ptr, t.col_lo, t.col_hi), strict=True
        ))  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_value_reads_the_last_softmin(
    gen: torch.Generator, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call with the h of the kernel's last untracked call at the same eps returns its
    result, with autograd too (the value of a solve reduces the loop's last g again);
    the gradients are those of a fresh kernel; another h is computed afresh."""
    from brenier.kernels.block_sparse import _kernel

    calls = []
    compute = _kernel._lse
    monkeypatch.setattr(_kernel, "_lse", lambda *a: calls.append(1) or compute(*a))
    x = torch.rand(1, 120, 3, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.rand(1, 90, 3, generator=gen, dtype=torch.float64).to(dtype)
    h = torch.randn(1, 90, generator=gen, dtype=torch.float64).to(dtype)
    eps = 0.05
    pair = _full_pair(x, y)
    first = pair.softmin(eps, h)
    assert torch.equal(pair.softmin(eps, h.clone()), first)
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    tracked = pair.with_clouds(xs, ys).softmin(eps, h)
    assert len(calls) == 1  # the first call only
    fresh = _full_pair(xs, ys).softmin(eps, h)
    assert torch.equal(tracked.detach(), first)
    grads = torch.autograd.grad(tracked.sum(), (xs, ys))
    expected = torch.autograd.grad(fresh.sum(), (xs, ys))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for u, v in zip(grads, expected, strict=True):
        torch.testing.assert_close(u, v, atol=tol, rtol=tol)
    other = h + 1.0  # softmin(h + 1) = softmin(h) - eps
    torch.testing.assert_close(pair.softmin(eps, other), first - eps, atol=tol, rtol=tol)
