"""Compiled (numba) steps of the voxel-grid clustering: Z-order codes, and the weights,
centroids and radii of clusters that are contiguous ranges of the sorted cloud.

Both replace passes of torch operations over all the points (a code built bit by bit,
scatter-adds by label): at 10^6 points, the grids of one solve (nine per cloud) took
1.6 s of a 16 s solve that way.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def morton(cells, bits):
    """Z-order code of non-negative cells (N, D), D * bits <= 62: bit ``b`` of
    coordinate ``d`` goes to bit ``b D + d`` of the code."""
    N, D = cells.shape
    code = np.zeros(N, dtype=np.int64)
    for i in prange(N):
        c = np.int64(0)
        for b in range(bits):
            for d in range(D):
                c |= ((cells[i, d] >> b) & 1) << (b * D + d)
        code[i] = c
    return code


@njit(parallel=True, cache=True)
def segment_moments(xs, ws, offsets, weights, centroids, radii):
    """Per cluster k = the sorted points ``offsets[k]:offsets[k + 1]`` of xs (N, D) with
    weights ws (N,): its total weight, its weighted mean (the plain mean where that
    weight is 0) and the largest distance of its points from that mean, written to
    ``weights`` (K,), ``centroids`` (K, D) and ``radii`` (K,). Sums in float64."""
    K, D = offsets.shape[0] - 1, xs.shape[1]
    sums = np.zeros((K, D))
    for k in prange(K):
        i0, i1 = offsets[k], offsets[k + 1]
        w = 0.0
        for i in range(i0, i1):
            w += ws[i]
        plain = not w > 0
        norm = 0.0
        acc = sums[k]
        for i in range(i0, i1):
            wi = 1.0 if plain else ws[i]
            norm += wi
            for d in range(D):
                acc[d] += wi * xs[i, d]
        r2 = 0.0
        for d in range(D):
            centroids[k, d] = acc[d] / norm if norm > 0 else 0.0
        for i in range(i0, i1):
            s = 0.0
            for d in range(D):
                s += (xs[i, d] - centroids[k, d]) ** 2
            r2 = max(r2, s)
        weights[k] = w
        radii[k] = np.sqrt(r2)
