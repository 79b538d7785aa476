"""Compiled CPU kernels (numba) for the softmin restricted to kept cluster blocks.

Both clouds are sorted by cluster. Cluster ``I`` of x holds the rows
``x_offsets[I]:x_offsets[I + 1]``; it interacts with the columns of y listed as
ranges ``col_lo[r]:col_hi[r]`` for ``r`` in ``row_ptr[I]:row_ptr[I + 1]`` (a CSR list
of kept y clusters, consecutive clusters merged into one range). Every row of cluster
``I`` then computes

.. math::

    \\ell_i = \\log \\sum_{j \\in \\text{kept}(I)} \\exp(h_j - C(x_i, y_j)/\\varepsilon)

with the building blocks of the online kernels (``_block_sum``, ``_block_max_sum``,
``_fill`` and the vectorisable exponential): the same online max-shift, so no
overflow whatever eps. Work is split over threads by contiguous cluster chunks.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..kernels._online_exp import fast_exp, prefer_wide_vectors
from ..kernels._online_numba import (
    _BLOCK,
    _FASTMATH,
    _OVERFLOW,
    _block_max_sum,
    _block_sum,
    _fill,
)


@njit(fastmath=_FASTMATH, cache=True)
def _row_lse_ranges(xi, yT, hb, c, p, col_lo, col_hi, r0, r1, tmp):
    """log sum_j exp(hb_j - c C(xi, y_j)) over the column ranges r0:r1 (see _row_lse)."""
    _fill(xi, yT, hb, col_lo[r0], col_lo[r0] + 1, c, p, tmp, tmp)
    m = tmp[0]
    s = c - c
    for r in range(r0, r1):
        for j0 in range(col_lo[r], col_hi[r], _BLOCK):
            j1 = min(j0 + _BLOCK, col_hi[r])
            acc = _block_sum(xi, yT, hb, j0, j1, c, p, m, tmp)
            if not acc < _OVERFLOW:
                bm, acc = _block_max_sum(xi, yT, hb, j0, j1, c, p, tmp)
                if bm > m:
                    s = s * fast_exp(m - bm)
                    m = bm
                else:
                    acc = acc * fast_exp(bm - m)
            s += acc
    return m + math.log(s)


@njit(parallel=True, fastmath=_FASTMATH, cache=True)
def lse_kernel(x, yT, h, c, p, x_offsets, row_ptr, col_lo, col_hi, nchunks, out):
    """out[i] = the block-sparse log-sum-exp of row i; x (N, D), yT (D, M)."""
    K = x_offsets.shape[0] - 1
    for ch in prange(nchunks):
        tmp = np.empty(_BLOCK, dtype=x.dtype)
        for cl in range(ch * K // nchunks, (ch + 1) * K // nchunks):
            for i in range(x_offsets[cl], x_offsets[cl + 1]):
                out[i] = _row_lse_ranges(
                    x[i], yT, h, c, p, col_lo, col_hi, row_ptr[cl], row_ptr[cl + 1], tmp
                )


@njit(fastmath=_FASTMATH, cache=True)
def _row_planvec_ranges(xi, yT, ai, hb, VT, c, p, col_lo, col_hi, r0, r1, buf, tmp, out):
    """out[k] = sum_j exp(ai + hb_j - c C(xi, y_j)) V[k, j] over the kept columns."""
    prefer_wide_vectors()
    K = VT.shape[0]
    for k in range(K):
        out[k] = c - c
    for r in range(r0, r1):
        for j0 in range(col_lo[r], col_hi[r], _BLOCK):
            j1 = min(j0 + _BLOCK, col_hi[r])
            L = j1 - j0
            _fill(xi, yT, hb, j0, j1, c, p, buf, tmp)
            for q in range(L):
                buf[q] = fast_exp(buf[q] + ai)
            for k in range(K):
                v = VT[k, j0:j1]
                acc = c - c
                for q in range(L):
                    acc += buf[q] * v[q]
                out[k] += acc


@njit(parallel=True, fastmath=_FASTMATH, cache=True)
def planvec_kernel(x, yT, a, h, VT, c, p, x_offsets, row_ptr, col_lo, col_hi, nchunks, out):
    """out[i, k] = sum_{j kept} exp(a_i + h_j - c C_ij) V[j, k]; VT is (K, M)."""
    K = x_offsets.shape[0] - 1
    for ch in prange(nchunks):
        buf = np.empty(_BLOCK, dtype=x.dtype)
        tmp = np.empty(_BLOCK, dtype=x.dtype)
        for cl in range(ch * K // nchunks, (ch + 1) * K // nchunks):
            r0, r1 = row_ptr[cl], row_ptr[cl + 1]
            for i in range(x_offsets[cl], x_offsets[cl + 1]):
                _row_planvec_ranges(
                    x[i], yT, a[i], h, VT, c, p, col_lo, col_hi, r0, r1, buf, tmp, out[i]
                )


@njit(fastmath=_FASTMATH, cache=True)
def _row_backward_ranges(xi, yT, ai, gi, hb, c, p, col_lo, col_hi, r0, r1, buf, tmp, gx, cS, cG):
    """One row of the softmin backward over the kept columns (see ``_online.py``).

    gx[d] = g_i sum_j P_ij slope_ij (x_id - y_jd); adds cS[j] += g_i P_ij and
    cG[d, j] -= g_i slope_ij (x_id - y_jd), with slope = P (p = 2) or P / |x - y|.
    """
    prefer_wide_vectors()
    D = xi.shape[0]
    for d in range(D):
        gx[d] = c - c
    tiny = c - c + 1e-30
    for r in range(r0, r1):
        for j0 in range(col_lo[r], col_hi[r], _BLOCK):
            j1 = min(j0 + _BLOCK, col_hi[r])
            L = j1 - j0
            _fill(xi, yT, hb, j0, j1, c, p, buf, tmp)  # leaves |x - y|^2 in tmp
            for q in range(L):
                P = fast_exp(buf[q] + ai)
                buf[q] = P
                tmp[q] = P if p == 2 else P / math.sqrt(max(tmp[q], tiny))
                cS[j0 + q] += gi * P
            for d in range(D):
                xd = xi[d]
                yd = yT[d, j0:j1]
                cd = cG[d, j0:j1]
                acc = c - c
                for q in range(L):
                    t = tmp[q] * (xd - yd[q])
                    acc += t
                    cd[q] -= gi * t
                gx[d] += gi * acc


@njit(parallel=True, fastmath=_FASTMATH, cache=True)
def softmin_backward_kernel(x, yT, a, g, h, c, p, x_offsets, row_ptr, col_lo, col_hi, gx, cS, cG):
    """Fused softmin backward; thread chunk ``t`` accumulates its own cS[t] (M,), cG[t] (D, M)."""
    K = x_offsets.shape[0] - 1
    T = cS.shape[0]
    for ch in prange(T):
        buf = np.empty(_BLOCK, dtype=x.dtype)
        tmp = np.empty(_BLOCK, dtype=x.dtype)
        for cl in range(ch * K // T, (ch + 1) * K // T):
            r0, r1 = row_ptr[cl], row_ptr[cl + 1]
            for i in range(x_offsets[cl], x_offsets[cl + 1]):
                _row_backward_ranges(
                    x[i],
                    yT,
                    a[i],
                    g[i],
                    h,
                    c,
                    p,
                    col_lo,
                    col_hi,
                    r0,
                    r1,
                    buf,
                    tmp,
                    gx[i],
                    cS[ch],
                    cG[ch],
                )


def thread_chunks(clusters: int) -> int:
    """Cluster chunks for prange: a few per thread, so that uneven clusters balance."""
    return max(1, min(clusters, 8 * numba.get_num_threads()))
