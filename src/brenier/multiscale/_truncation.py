"""Kernel truncation: which cluster pairs may carry mass in the transport plan.

With potentials (f, g) at temperature eps, the plan is
:math:`\\pi_{ij} = a_i b_j \\exp((f_i + g_j - C_{ij})/\\varepsilon)` and the rows sum to
:math:`a_i`. The block (I, J) of two clusters is dropped when its exponent is below
:math:`-\\tau` everywhere: its entries are then at most :math:`e^{-\\tau}` times the
row weight, and each row of the softmin changes by at most
:math:`\\varepsilon\\, e^{-\\tau}`. The exponent is known at the centroids only,
through the cluster potentials :math:`F_I, G_J` (weighted means of f and g over the
cluster, equal to their values at the centroid up to second order). Inside the
block it moves by at most

.. math::

    \\delta_{IJ} = (r_I + r_J) \\sqrt{2 \\tau \\varepsilon} + (r_I + r_J)^2 ,

(p = 2: first order, :math:`(c_J - T(c_I)) \\cdot (x_i - c_I)` with
:math:`|c_J - T(c_I)| \\le \\sqrt{2\\tau\\varepsilon}` on kept blocks; second order, the
curvature of C and of the potentials), so a block is kept when

.. math::

    F_I + G_J - C(c_I, c_J) + \\delta_{IJ} \\ge -\\tau \\varepsilon .

Every cluster keeps at least its best partner on both sides, so no row or column is
ever empty. The kept pairs become a CSR list of column *ranges* of the sorted cloud
(consecutive clusters merged), the input of the compiled kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._clustering import Clusters

#: Rows of the cluster cost matrix processed at once (bounds the temporary memory).
_PAIRS_PER_CHUNK = 4_000_000
#: Dropped points between two kept blocks of a row up to which the gap is filled.
_GAP = 32


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

    @classmethod
    def full(cls, N: int, M: int) -> BlockSparsity:
        """One cluster per side, everything kept: the online kernel."""
        z = np.zeros(1, dtype=np.int64)
        return cls(np.array([0, N]), np.array([0, 1]), z, np.array([M]), N * M)


def cluster_potentials(f: Tensor, w: Tensor, clusters: Clusters) -> Tensor:
    """Weighted means of the potential f (N,) over each cluster, (K,).

    Clusters of zero weight get ``-inf``: they carry no mass, so they must never be
    the only partner of a cluster that does (its marginal could not be met); their
    own rows then keep every candidate (all scores tie at ``-inf``).
    """
    fs, ws = f[clusters.perm], w[clusters.perm]
    labels = torch.repeat_interleave(torch.arange(clusters.count), clusters.offsets.diff())
    num = torch.zeros(clusters.count, dtype=f.dtype).index_add_(0, labels, ws * fs)
    mean = num / clusters.weights.clamp_min(torch.finfo(f.dtype).tiny)
    return torch.where(clusters.weights > 0, mean, -math.inf)


def _rule(
    cx: Clusters, cy: Clusters, F: Tensor, G: Tensor, I: Tensor, J: Tensor, eps: float, tau: float
) -> tuple[Tensor, Tensor]:
    """(score, keep) of the candidate blocks (I, J): the rule of the module docstring."""
    cost = (cx.centroids[I] - cy.centroids[J]).square_().sum(-1).mul_(0.5)
    r = cx.radii[I] + cy.radii[J]
    score = F[I] + G[J] - cost
    return score, score + r * math.sqrt(2 * tau * eps) + r * r >= -tau * eps


def _with_best(score: Tensor, keep: Tensor, I: Tensor, Kx: int) -> Tensor:
    """Also keeps, for every row I, its best candidate (ties included)."""
    best = torch.full((Kx,), -math.inf, dtype=score.dtype).scatter_reduce_(0, I, score, "amax")
    return keep | (score >= best[I])


def dense_pairs(
    cx: Clusters, cy: Clusters, F: Tensor, G: Tensor, eps: float, tau: float
) -> tuple[Tensor, Tensor]:
    """Kept blocks among all Kx * Ky cluster pairs, sorted by (I, J); chunked over I."""
    Ky = cy.count
    rows = max(1, _PAIRS_PER_CHUNK // Ky)
    parts_I, parts_J, col_best = [], [], None
    for i0 in range(0, cx.count, rows):
        i1 = min(i0 + rows, cx.count)
        I = torch.arange(i0, i1).repeat_interleave(Ky)
        J = torch.arange(Ky).repeat(i1 - i0)
        score, keep = _rule(cx, cy, F, G, I, J, eps, tau)
        keep = _with_best(score, keep, I - i0, i1 - i0)
        chunk_best = score.view(i1 - i0, Ky).max(0).values
        col_best = chunk_best if col_best is None else torch.maximum(col_best, chunk_best)
        parts_I.append(I[keep])
        parts_J.append(J[keep])
    I, J = torch.cat(parts_I), torch.cat(parts_J)
    return _add_best_columns(cx, cy, F, G, I, J, col_best)


def _add_best_columns(cx, cy, F, G, I, J, col_best) -> tuple[Tensor, Tensor]:
    """Adds the best row of every column J whose best pair was dropped."""
    have = torch.zeros(cy.count, dtype=torch.bool)
    cost = (cx.centroids[I] - cy.centroids[J]).square_().sum(-1).mul_(0.5)
    have[J[(F[I] + G[J] - cost) >= col_best[J]]] = True
    missing = torch.nonzero(~have).flatten()
    if missing.numel():
        cost = torch.cdist(cx.centroids, cy.centroids[missing]).square_().mul_(0.5)
        best = (F[:, None] + G[None, missing] - cost).argmax(0)
        I, J = torch.cat([I, best]), torch.cat([J, missing])
        order = torch.argsort(I * cy.count + J)
        I, J = I[order], J[order]
    return I, J


def select_pairs(
    cx: Clusters, cy: Clusters, F: Tensor, G: Tensor, I: Tensor, J: Tensor, eps: float, tau: float
) -> tuple[Tensor, Tensor]:
    """Kept blocks among the candidates (I, J) (sorted by (I, J); so is the output).

    Every row and every column with a candidate keeps at least its best one.
    """
    score, keep = _rule(cx, cy, F, G, I, J, eps, tau)
    keep = _with_best(score, keep, I, cx.count) | _with_best(score, keep, J, cy.count)
    return I[keep], J[keep]


def _children(parent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Fine clusters grouped by parent: (order, count per parent, first index per parent)."""
    order = torch.argsort(parent, stable=True)
    n = torch.bincount(parent)
    return order, n, torch.cumsum(n, 0) - n


def child_pairs(I: Tensor, J: Tensor, parent_x: Tensor, parent_y: Tensor) -> tuple[Tensor, Tensor]:
    """All pairs of children (i, j) of the coarse pairs (I, J), sorted by (i, j).

    ``parent_x[i]`` is the coarse cluster holding the fine cluster i (nested grids).
    """
    ox, nx, sx = _children(parent_x)
    oy, ny, sy = _children(parent_y)
    sizes = nx[I] * ny[J]
    pair = torch.repeat_interleave(torch.arange(I.numel()), sizes)
    t = torch.arange(pair.numel()) - (torch.cumsum(sizes, 0) - sizes)[pair]
    nyp = ny[J][pair]
    i = ox[sx[I][pair] + t // nyp]
    j = oy[sy[J][pair] + t % nyp]
    order = torch.argsort(i * (int(j.max()) + 1) + j)
    return i[order], j[order]


def _fill_gaps(I: Tensor, J: Tensor, y_offsets: Tensor) -> tuple[Tensor, Tensor]:
    """Adds the clusters J' between two kept blocks (I, J1), (I, J2) of the same row when
    they hold at most ``_GAP`` points: visiting a few more pairs costs less than one
    more column range, and only adds accuracy. Input and output sorted by (I, J)."""
    if I.numel() < 2:
        return I, J
    gap = y_offsets[J[1:]] - y_offsets[J[:-1] + 1]
    fill = (I[1:] == I[:-1]) & (gap > 0) & (gap <= _GAP)
    if not bool(fill.any()):
        return I, J
    reps = torch.ones_like(J)
    reps[:-1] += torch.where(fill, J[1:] - J[:-1] - 1, 0)
    first = torch.repeat_interleave(J, reps)
    idx = torch.arange(first.numel()) - torch.repeat_interleave(torch.cumsum(reps, 0) - reps, reps)
    return torch.repeat_interleave(I, reps), first + idx


def _csr(I: Tensor, J: Tensor, cx: Clusters, cy: Clusters) -> BlockSparsity:
    """Kept pairs sorted by (I, J) -> CSR list of column ranges (adjacent clusters merged)."""
    I_np, J_np = I.numpy(), J.numpy()
    y_off = cy.offsets.numpy()
    start = np.ones(I_np.shape[0], dtype=bool)
    start[1:] = (I_np[1:] != I_np[:-1]) | (J_np[1:] != J_np[:-1] + 1)
    first = np.flatnonzero(start)
    last = np.append(first[1:], I_np.shape[0]) - 1
    col_lo = y_off[J_np[first]]
    col_hi = y_off[J_np[last] + 1]
    counts = np.bincount(I_np[first], minlength=cx.count)
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    x_sizes = cx.offsets.diff().numpy()
    kept = int((x_sizes[I_np[first]] * (col_hi - col_lo)).sum())
    return BlockSparsity(cx.offsets.numpy(), row_ptr, col_lo, col_hi, kept)


def block_sparsity(
    I: Tensor, J: Tensor, cx: Clusters, cy: Clusters, symmetric: bool = False
) -> tuple[BlockSparsity, BlockSparsity]:
    """Block sparsity of the pair (x, y) from its kept blocks (I, J), and of (y, x).

    Both are built from one set of pairs (small gaps filled first), so that the two
    kernels of a Sinkhorn iteration are exact transposes: otherwise the loop has no
    fixed point. ``symmetric`` (x = y) also symmetrises the set.
    """
    I, J = _fill_gaps(I, J, cy.offsets)
    if symmetric:
        I, J = torch.cat([I, J]), torch.cat([J, I])
        key = torch.unique(I * cy.count + J)
        I, J = key // cy.count, key % cy.count
    order = torch.argsort(J * cx.count + I)
    return _csr(I, J, cx, cy), _csr(J[order], I[order], cy, cx)


def truncate(
    cx: Clusters, cy: Clusters, F: Tensor, G: Tensor, eps: float, tau: float
) -> tuple[BlockSparsity, BlockSparsity]:
    """Block sparsity of the pair (x, y) and of its transpose (y, x), all pairs tested.

    Args:
        cx, cy: clusters of both clouds.
        F, G: cluster potentials (Kx,) and (Ky,) at temperature ``eps``.
        eps: temperature.
        tau: truncation threshold (dropped entries are below exp(-tau) of the plan).
    """
    with torch.no_grad():
        return block_sparsity(*dense_pairs(cx, cy, F, G, eps, tau), cx, cy)
