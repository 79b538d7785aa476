"""Kernel truncation: which cluster pairs may carry mass in the transport plan.

With potentials (f, g) at temperature eps, the plan is
:math:`\\pi_{ij} = a_i b_j \\exp((f_i + g_j - C_{ij})/\\varepsilon)` and the rows sum to
:math:`a_i`. The block (I, J) of two clusters is dropped when its exponent is below
:math:`-\\tau` everywhere: its entries are then at most :math:`e^{-\\tau}` times the
row weight. A *rigorous* bound on the exponent over the block comes from a linear
fit of each potential on each block, :math:`f_i = F_I + A_I \\cdot \\delta_i + e_i`
(:math:`\\delta_i = x_i - c_I`, weighted least squares, residual
:math:`e_i \\le E_I`), and from
:math:`C_{ij} = C(c_I, c_J) + (c_I - c_J) \\cdot (\\delta_i - \\eta_j) + |\\delta_i - \\eta_j|^2/2`:

.. math::

    f_i + g_j - C_{ij} \\le F_I + G_J - C(c_I, c_J)
    + r_I |A_I - c_I + c_J| + r_J |B_J - c_J + c_I| + E_I + E_J .

For smooth potentials :math:`A_I \\approx c_I - T(c_I)` (T the map), so the slack is
:math:`r_I |c_J - T(c_I)|`: small for the pairs near the map, where it matters.

For p = 2 the dropped :math:`-|\\delta_i - \\eta_j|^2/2` gives a second bound: with the
slopes :math:`u = A_I - c_I + c_J`, :math:`v = B_J + c_I - c_J` and
:math:`s = u + v = A_I + B_J` (about 0 near the map, where :math:`v \\approx -u`),
:math:`u \\cdot \\delta + v \\cdot \\eta - |\\delta - \\eta|^2/2
\\le h(|u|) + \\max_\\eta s \\cdot \\eta`, where
:math:`h(t) = \\max_{|w| \\le r} (t |w| - |w|^2/2)` over :math:`r = r_I + r_J` (the
clusters' radii), and the same with u, v swapped. The rule takes the smaller bound.
Blocks wider than the plan's band (:math:`r \\gg \\sqrt{2\\tau\\varepsilon}`) then keep
partners up to :math:`r + \\sqrt{2\\tau\\varepsilon}` from the map instead of about 2r:
half the block pairs in ``test_truncation_bound_keeps_the_cost_curvature``.

Neither bound needs smoothness: irregular potentials (the sparse tails of sampled Gaussians,
whose empirical map is far from smooth at the scale of a block) only widen the bound.
A first version assumed smoothness (slack :math:`(r_I + r_J)\\sqrt{2\\tau\\varepsilon} +
(r_I + r_J)^2`) and dropped the best partners of a few tail points (their softmins
then off by 10^3 eps): the loop stalled.

For p = 1, :math:`C = |x - y|` is convex, so
:math:`C_{ij} \\ge C(c_I, c_J) + s_{IJ} \\cdot (\\delta_i - \\eta_j)` with
:math:`s_{IJ} = (c_I - c_J) / |c_I - c_J|` (any unit-ball vector where the centres
coincide), and the same bound holds with :math:`s_{IJ}` in place of :math:`c_I - c_J`.

Every cluster keeps at least its best partner on both sides, so no row or column is
ever empty. The kept pairs become a CSR list of column *ranges* of the sorted cloud
(consecutive clusters merged), the input of the compiled kernels.

Candidates (:func:`truncate_chain`): testing all Kx x Ky blocks costs more than the
kernels once the blocks are small, so the rule is applied to all pairs of a coarse
grid, then to the children (nested grids) of the kept pairs only, down a chain of
grids. The compiled steps are in ``_truncation_numba.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import _truncation_numba as _nb
from ._clustering import Clusters


@dataclass(frozen=True)
class BlockSparsity:
    """Which columns of y each cluster of x interacts with (all arrays int64, numpy).

    Attributes:
        x_offsets: (Kx + 1,) rows of the sorted x in each cluster.
        row_ptr: (Kx + 1,) cluster I uses the ranges ``row_ptr[I]:row_ptr[I + 1]``.
        col_lo, col_hi: (R,) column ranges of the sorted y.
        kept_pairs: number of point pairs (i, j) the kernels visit.
    """

    x_offsets: np.ndarray
    row_ptr: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    kept_pairs: int

    @functools.cached_property
    def columns(self) -> np.ndarray:
        """(K,) the number of kept columns of each cluster."""
        rows = np.repeat(np.arange(self.row_ptr.shape[0] - 1), np.diff(self.row_ptr))
        counts = np.bincount(rows, weights=self.col_hi - self.col_lo)
        return np.pad(counts, (0, self.row_ptr.shape[0] - 1 - counts.shape[0]))

    @property
    def width(self) -> int:
        """The largest number of kept columns of one cluster (the kernels' buffers)."""
        return max(1, int(self.columns.max())) if self.columns.size else 1

    def blocks(self, col_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kept block pairs as CSR (ptr, idx) over the row clusters, given the
        column clusters' offsets (``ranges`` merged consecutive blocks; empty clusters
        share their offset with the next one and are left out)."""
        live = np.flatnonzero(np.diff(col_offsets) > 0)
        starts = col_offsets[live]
        lo = np.searchsorted(starts, self.col_lo)
        hi = np.searchsorted(starts, self.col_hi)
        counts = hi - lo
        K = self.row_ptr.shape[0] - 1
        per_row = np.bincount(np.repeat(np.arange(K), np.diff(self.row_ptr)), counts, K)
        ptr = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int64)
        ends = np.cumsum(counts)
        within = np.arange(ends[-1] if ends.size else 0) - np.repeat(ends - counts, counts)
        idx = live[np.repeat(lo, counts) + within].astype(np.int64)
        return ptr, idx

    @classmethod
    def full(cls, N: int, M: int) -> BlockSparsity:
        """One cluster per side, everything kept: the online kernel."""
        z = np.zeros(1, dtype=np.int64)
        return cls(np.array([0, N]), np.array([0, 1]), z, np.array([M]), N * M)


Fit = tuple[Tensor, ...]


@dataclass(frozen=True)
class Frame:
    """What the fits of any potential on one grouping share (it depends on the entities,
    their weights and the grouping only, so a level computes it once).

    Attributes:
        perm: (N,) sorts the entities by cluster.
        weights: (N,) sorted entity weights; mass: (K,) cluster masses.
        d: (N, D) offsets from the clusters' weighted means; shift: (K, D) mean - centroid.
        delta: (N, D) offsets from the clusters' centroids.
        normal: (K, D, D) regularised second moments (the least-squares matrices).
        U, R: (K, D, D) principal axes (columns) and (K, D) extents along them.
        radius: (K,) the largest distance of an entity from its cluster's centroid.
        offsets: (K + 1,) int64, cluster k holds the sorted entities offsets[k]:offsets[k + 1].
    """

    perm: Tensor
    weights: Tensor
    mass: Tensor
    d: Tensor
    shift: Tensor
    delta: Tensor
    normal: Tensor
    U: Tensor
    R: Tensor
    radius: Tensor
    offsets: np.ndarray

    @classmethod
    def of(cls, w: Tensor, x: Tensor, clusters: Clusters) -> Frame:
        """The frame of the entities x (N, D) with weights w (N,) grouped by ``clusters``."""
        K, D = clusters.count, x.shape[1]
        ws = w.detach()[clusters.perm].double().contiguous()
        xs = x.detach()[clusters.perm].double().contiguous()
        offsets = clusters.offsets.numpy().astype(np.int64)
        c = clusters.centroids.double().contiguous()
        d, delta = torch.empty_like(xs), torch.empty_like(xs)
        mass, m = xs.new_empty(K), xs.new_empty(K, D)
        cov = xs.new_empty(K, D, D)
        _nb.frame_moments(
            xs.numpy(), ws.numpy(), offsets, c.numpy(),
            d.numpy(), delta.numpy(), mass.numpy(), m.numpy(), cov.numpy(),
        )  # fmt: skip
        ridge = 1e-9 * cov.diagonal(dim1=1, dim2=2).sum(-1) + 1e-300
        normal = cov + ridge[:, None, None] * torch.eye(D, dtype=cov.dtype)
        U = torch.linalg.eigh(normal)[1].contiguous()
        R, radius = xs.new_empty(K, D), xs.new_empty(K)
        _nb.frame_extents(delta.numpy(), offsets, U.numpy(), R.numpy(), radius.numpy())
        return cls(clusters.perm, ws, mass, d, m - c, delta, normal, U, R, radius, offsets)


def potential_fit(f: Tensor, frame: Frame) -> Fit:
    """Linear fits of a potential f (N,) on each cluster of a :class:`Frame`.

    Returns (F, A, E, U, R, radius): on cluster I, :math:`f_i \\le F_I + A_I \\cdot (x_i - c_I)
    + E_I`, with (F, A) the weighted least-squares fit (a small ridge keeps it defined
    on clusters of one point or of one line), E the largest residual, and the extent
    of the cluster along the principal axes U_I (D, D, columns) of its points:
    :math:`|(x_i - c_I) \\cdot U_{I,k}| \\le R_{I,k}`, and its radius
    :math:`|x_i - c_I| \\le r_I`. On a surface the normal extent is
    small, so a displacement across the surface widens the bound little.
    Clusters of zero weight get ``F = -inf``: they carry no mass, so they must never be
    the only partner of a cluster that does (its marginal could not be met).
    """
    fr = frame
    K, D = fr.mass.shape[0], fr.d.shape[1]
    fs = f.detach()[fr.perm].double().contiguous()
    offsets = fr.offsets
    mean, rhs = fs.new_empty(K), fs.new_empty(K, D)
    _nb.fit_moments(
        fs.numpy(), fr.weights.numpy(), fr.d.numpy(), offsets,
        fr.mass.numpy(), mean.numpy(), rhs.numpy(),
    )  # fmt: skip
    A = torch.linalg.solve(fr.normal, rhs)
    F = mean + (A * fr.shift).sum(-1)  # the fit at the centroid
    E = fs.new_empty(K)
    _nb.fit_residuals(fs.numpy(), fr.delta.numpy(), offsets, F.numpy(), A.numpy(), E.numpy())
    live = fr.mass > 0
    F = torch.where(live, F, -math.inf)
    return F, torch.where(live[:, None], A, 0.0), torch.where(live, E, 0.0), fr.U, fr.R, fr.radius


@dataclass(frozen=True)
class Children:
    """Fine blocks grouped by coarse cluster (nested grids), as CSR.

    Attributes:
        parent: (Kf,) coarse cluster of each fine block.
        ptr: (Kc + 1,) the children of coarse cluster I are ``idx[ptr[I]:ptr[I + 1]]``.
        idx: (Kf,) fine blocks sorted by parent.
    """

    parent: np.ndarray
    ptr: np.ndarray
    idx: np.ndarray

    @classmethod
    def of(cls, parent: Tensor, coarse_count: int) -> Children:
        p = parent.numpy().astype(np.int64)
        counts = np.bincount(p, minlength=coarse_count)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(p, ptr, np.argsort(p, kind="stable").astype(np.int64))


def _geometry(c: Clusters, fit: Fit) -> tuple[np.ndarray, ...]:
    """The compiled rule's view of one side: (centroids, F, A, E, U, R, radius), float64."""
    parts = (c.centroids, *fit)
    return tuple(np.ascontiguousarray(t.detach().double().numpy()) for t in parts)


def _sparsity(ptr: np.ndarray, idx: np.ndarray, cx: Clusters, cy: Clusters) -> BlockSparsity:
    x_off, y_off = cx.offsets.numpy(), cy.offsets.numpy()
    row_ptr, col_lo, col_hi, kept = _nb.ranges(ptr, idx, x_off, y_off)
    return BlockSparsity(x_off, row_ptr, col_lo, col_hi, int(kept))


def _both_ways(
    ptr: np.ndarray, idx: np.ndarray, cx: Clusters, cy: Clusters, symmetric: bool
) -> tuple[BlockSparsity, BlockSparsity]:
    """Sparsity of (x, y) and of (y, x) from one set of kept blocks: the two kernels of a
    Sinkhorn iteration must be exact transposes, otherwise the loop has no fixed point.
    ``symmetric`` (x = y) also symmetrises the set."""
    tptr, tidx = _nb.transpose(ptr, idx, cy.count)
    if symmetric:
        ptr, idx = _nb.union(ptr, idx, tptr, tidx)
        tptr, tidx = ptr, idx
    return _sparsity(ptr, idx, cx, cy), _sparsity(tptr, tidx, cy, cx)


def truncate(
    cx: Clusters, cy: Clusters, F: Fit, G: Fit, eps: float, tau: float, p: int = 2
) -> tuple[BlockSparsity, BlockSparsity]:
    """Block sparsity of the pair (x, y) and of its transpose (y, x), all pairs tested.

    Args:
        cx, cy: clusters of both clouds.
        F, G: fits of the potentials on the clusters (:func:`potential_fit`) at
            temperature ``eps``.
        eps: temperature.
        tau: truncation threshold (dropped entries are below exp(-tau) of the plan).
        p: the cost, |x - y|^2 / 2 (2) or |x - y| (1).
    """
    return truncate_chain([(cx, F)], [(cy, G)], [], eps, tau, p=p)


def _select_step(
    ptr: np.ndarray,
    idx: np.ndarray,
    coarse_cols: int,
    fine: tuple[Clusters, Fit, Clusters, Fit],
    children: tuple[Children, Children],
    te: float,
    symmetric: bool,
    p: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Kept fine blocks among the children of the kept coarse pairs (ptr, idx), with the
    best candidate of every fine row and every fine column."""
    kx, F, ky, G = fine
    chx, chy = children
    gx, gy = _geometry(kx, F), _geometry(ky, G)
    fptr, fidx, _ = _nb.select_blocks(gx, gy, chx.parent, ptr, idx, chy.ptr, chy.idx, te, p)
    if symmetric:  # x = y: the set and its transpose hold the same rule and bests
        return _nb.union(fptr, fidx, *_nb.transpose(fptr, fidx, ky.count))
    # The rule is symmetric: the y side only adds the best partner of each of its blocks.
    tptr, tidx = _nb.transpose(ptr, idx, coarse_cols)
    yptr, yidx = _nb.best_blocks(gy, gx, chy.parent, tptr, tidx, chx.ptr, chx.idx, p)
    return _nb.union(fptr, fidx, *_nb.transpose(yptr, yidx, kx.count))


def truncate_chain(
    rows: list[tuple[Clusters, Fit | None]],
    cols: list[tuple[Clusters, Fit | None]],
    children: list[tuple[Children, Children]],
    eps: float,
    tau: float,
    symmetric: bool = False,
    p: int = 2,
    points: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[BlockSparsity, BlockSparsity]:
    """Block sparsity of (x, y) and (y, x) at the last of a chain of nested groupings.

    ``rows[t] = (clusters, fit)`` groups x by the grid t of a chain of nested grids
    (coarse to fine; alike ``cols`` for y) with the fit of its potential on them;
    ``children[t - 1]`` holds the parents of the grid-t cells in grid t - 1. The rule
    is applied to all pairs at t = 0, then to the children of the kept pairs at every
    next grid: the cost of the test follows the kept pairs, not Kx * Ky.

    With ``points = (x, y, f, g)``, the entities of both sides and their potentials, the
    blocks the rule kept at the last grid are tested once more on the entities
    themselves (:func:`_exact_step`).

    ``start``: the kept pairs of the first grouping as CSR (ptr, idx), e.g. a coarser
    level's at the same temperature (:meth:`BlockSparsity.blocks`), instead of the rule
    on all its pairs (its fits are then not used).
    """
    te = tau * eps
    (cx, F), (cy, G) = rows[0], cols[0]
    if start is not None:
        ptr, idx = start
    else:
        assert F is not None and G is not None  # fits are given where the rule runs
        ptr, idx = _nb.dense_blocks(_geometry(cx, F), _geometry(cy, G), te, p)
    for t in range(1, len(rows)):
        (kx, F), (ky, G) = rows[t], cols[t]
        assert F is not None and G is not None
        fine = (kx, F, ky, G)
        ptr, idx = _select_step(
            ptr, idx, cols[t - 1][0].count, fine, children[t - 1], te, symmetric, p
        )
    if points is not None:
        te_exact = (tau + EXACT_MARGIN) * eps
        ptr, idx = _exact_step(ptr, idx, rows[-1][0], cols[-1][0], points, te_exact, p)
    return _both_ways(ptr, idx, rows[-1][0], cols[-1][0], symmetric)


#: The exact test keeps the block pairs whose largest exponent reaches
#: -(tau + EXACT_MARGIN) eps at the potentials the stage starts from: the margin covers
#: their moves during the stage (with 2, a value at reach = 1 moved by 0.2%).
EXACT_MARGIN = 5.0


def _exact_step(
    ptr: np.ndarray,
    idx: np.ndarray,
    cx: Clusters,
    cy: Clusters,
    points: tuple[Tensor, Tensor, Tensor, Tensor],
    te: float,
    p: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Of the kept block pairs (ptr, idx), those where the plan's exponent
    f_i + g_j - C(x_i, y_j) reaches -te at some pair of entities, computed, with the
    best pair of every row and column block (``exact_filter``).

    The rule bounds the exponent over a block from linear fits of the potentials and
    the blocks' extents; its slack (the fits' residuals, the spread of the slopes over
    a block) kept twice the pairs of the computed maxima at 10^4 points (blur 0.01,
    16-point blocks at the last temperature: 557 partners per point against 261).
    The computed test costs one row per block, then every row of the blocks that row
    does not settle (``exact_maxima``).
    """
    x, y, f, g = (t.detach() for t in points)
    xs = x[cx.perm].contiguous().numpy()
    yT = y[cy.perm].T.contiguous().numpy()
    fs = f[cx.perm].to(x.dtype).contiguous().numpy()
    gs = g[cy.perm].to(x.dtype).contiguous().numpy()
    x_off, y_off = cx.offsets.numpy(), cy.offsets.numpy()
    tops = _nb.exact_maxima(ptr, idx, xs, yT, fs, gs, x_off, y_off, te, p)
    live_x, live_y = (cx.weights > 0).numpy(), (cy.weights > 0).numpy()
    return _nb.exact_filter(ptr, idx, tops, te, live_x, live_y)
