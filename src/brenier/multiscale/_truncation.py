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

Candidates (:func:`truncate_children`): testing all Kx x Ky blocks costs more than
the kernels once the blocks are small, so the rule is applied twice: to all pairs of
the *coarse* clusters, then to the children (fine blocks of nested grids) of the kept
coarse pairs only. The compiled steps are in ``_truncation_numba.py``.
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
    def width(self) -> int:
        """The largest number of kept columns of one cluster (the kernels' buffers)."""
        rows = np.repeat(np.arange(self.row_ptr.shape[0] - 1), np.diff(self.row_ptr))
        cols = np.bincount(rows, weights=self.col_hi - self.col_lo)
        return max(1, int(cols.max())) if cols.size else 1

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


def _geometry(c: Clusters, F: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 numpy centroids, radii and potentials of the clusters."""
    return (
        c.centroids.double().numpy(),
        c.radii.double().numpy(),
        F.detach().double().numpy(),
    )


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


def _tolerances(eps: float, tau: float) -> tuple[float, float]:
    return math.sqrt(2 * tau * eps), tau * eps


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
    ptr, idx = _nb.dense_blocks(*_geometry(cx, F), *_geometry(cy, G), *_tolerances(eps, tau))
    return _both_ways(ptr, idx, cx, cy, symmetric=False)


def _select_step(
    ptr: np.ndarray,
    idx: np.ndarray,
    coarse_cols: int,
    fine: tuple[Clusters, Tensor, Clusters, Tensor],
    children: tuple[Children, Children],
    tolerances: tuple[float, float],
    symmetric: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Kept fine blocks among the children of the kept coarse pairs (ptr, idx), with the
    best candidate of every fine row and every fine column."""
    kx, F, ky, G = fine
    chx, chy = children
    gx, gy = _geometry(kx, F), _geometry(ky, G)
    fptr, fidx, _ = _nb.select_blocks(*gx, *gy, chx.parent, ptr, idx, chy.ptr, chy.idx, *tolerances)
    if symmetric:  # x = y: the set and its transpose hold the same rule and bests
        return _nb.union(fptr, fidx, *_nb.transpose(fptr, fidx, ky.count))
    tptr, tidx = _nb.transpose(ptr, idx, coarse_cols)
    yptr, yidx, _ = _nb.select_blocks(
        *gy, *gx, chy.parent, tptr, tidx, chx.ptr, chx.idx, *tolerances
    )
    return _nb.union(fptr, fidx, *_nb.transpose(yptr, yidx, kx.count))


def truncate_chain(
    rows: list[tuple[Clusters, Tensor]],
    cols: list[tuple[Clusters, Tensor]],
    children: list[tuple[Children, Children]],
    eps: float,
    tau: float,
    symmetric: bool = False,
) -> tuple[BlockSparsity, BlockSparsity]:
    """Block sparsity of (x, y) and (y, x) at the last of a chain of nested groupings.

    ``rows[t] = (clusters, potentials)`` groups x by the grid t of a chain of nested
    grids (coarse to fine; alike ``cols`` for y); ``children[t - 1]`` holds the
    parents of the grid-t cells in grid t - 1. The rule is applied to all pairs at
    t = 0, then to the children of the kept pairs at every next grid: the cost of the
    test follows the kept pairs, not Kx * Ky.
    """
    tolerances = _tolerances(eps, tau)
    (cx, F), (cy, G) = rows[0], cols[0]
    ptr, idx = _nb.dense_blocks(*_geometry(cx, F), *_geometry(cy, G), *tolerances)
    for t in range(1, len(rows)):
        fine = (*rows[t], *cols[t])
        step = _select_step(
            ptr, idx, cols[t - 1][0].count, fine, children[t - 1], tolerances, symmetric
        )
        ptr, idx = step
    return _both_ways(ptr, idx, rows[-1][0], cols[-1][0], symmetric)
