"""Compiled CPU kernels (numba) for the softmin and its companion reductions.

All three kernels walk the rows ``i`` of x in parallel and the columns ``j`` of y in
blocks of ``BLOCK`` points, so that nothing of size N x M is ever stored. A block is
first *filled* with the exponents

.. math::

    e_{ij} = b_j - C(x_i, y_j) / \\varepsilon

(:func:`_fill`, one vectorised loop per dimension D = 1, 2, 3 and a general one),
then reduced by vectorised loops over the block: the exponential is
:func:`~brenier.kernels._online_exp.fast_exp`, which LLVM vectorises, unlike
``math.exp``.

- :func:`lse_kernel`: :math:`\\log \\sum_j e^{e_{ij}}`, max-shifted per block with an
  online rescale across blocks (the running sum is multiplied by
  :math:`e^{m_\\text{old} - m_\\text{new}}` when the block max grows), so it never
  overflows, whatever eps.
- :func:`planvec_kernel`: :math:`\\sum_j e^{a_i + e_{ij}} V_{jk}`.
- :func:`gradred_kernel`: :math:`S_{ik} = \\sum_j e^{a_i + e_{ij}} W_{jk}` and
  :math:`G_{ikd} = \\sum_j e^{a_i + e_{ij}} W_{jk} \\, \\partial_{x_d} C(x_i, y_j)`.

The last two are only called with :math:`a_i + e_{ij} \\le 0` up to rounding (``a`` is
minus the row log-normaliser, so the weights are entries of a transport plan, <= 1):
they need no max shift.

Inputs are prepared by the wrappers in ``_online.py``: same float dtype, C-contiguous,
y transposed to (B, D, M) so that the inner loops read contiguous memory, and
``-inf`` log-weights replaced by a large finite negative number (the kernels are
compiled with ``fastmath``, which assumes finite values; the exponential of that
number is exactly 0).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from ._online_exp import fast_exp, fast_max, prefer_wide_vectors

#: Columns per block: two buffers of this size stay in the L1 cache.
BLOCK = 1024
FASTMATH = True


@njit(fastmath=FASTMATH, cache=True)
def _fill(xi, yT, hb, j0, j1, c, p, buf, tmp):
    """``buf[k] = hb[j] - c * C(xi, y_j)`` for ``j = j0 + k`` in ``[j0, j1)``.

    ``c`` is ``1 / (2 eps)`` for p = 2 (C = |x - y|^2 / 2 is folded into it) and
    ``1 / eps`` for p = 1. ``tmp`` is scratch space of the same size.
    """
    prefer_wide_vectors()
    D = xi.shape[0]
    L = j1 - j0
    if D == 3:
        x0, x1, x2 = xi[0], xi[1], xi[2]
        y0, y1, y2 = yT[0, j0:j1], yT[1, j0:j1], yT[2, j0:j1]
        for k in range(L):
            d0 = x0 - y0[k]
            d1 = x1 - y1[k]
            d2 = x2 - y2[k]
            tmp[k] = d0 * d0 + d1 * d1 + d2 * d2
    elif D == 2:
        x0, x1 = xi[0], xi[1]
        y0, y1 = yT[0, j0:j1], yT[1, j0:j1]
        for k in range(L):
            d0 = x0 - y0[k]
            d1 = x1 - y1[k]
            tmp[k] = d0 * d0 + d1 * d1
    elif D == 1:
        x0 = xi[0]
        y0 = yT[0, j0:j1]
        for k in range(L):
            d0 = x0 - y0[k]
            tmp[k] = d0 * d0
    else:
        for k in range(L):
            tmp[k] = c - c
        for d in range(D):
            xd = xi[d]
            yd = yT[d, j0:j1]
            for k in range(L):
                t = xd - yd[k]
                tmp[k] += t * t
    h = hb[j0:j1]
    if p == 2:
        for k in range(L):
            buf[k] = h[k] - c * tmp[k]
    else:
        for k in range(L):
            buf[k] = h[k] - c * math.sqrt(tmp[k])


@njit(fastmath=FASTMATH, cache=True)
def _block_sum(xi, yT, hb, j0, j1, c, p, m, tmp):
    """sum_j exp(e_j - m) over one block, e_j = hb_j - c C(xi, y_j), in one fused loop.

    No max is taken (LLVM does not vectorise a loop with both a max and a sum
    reduction): the caller checks the result for overflow instead.
    """
    prefer_wide_vectors()
    D = xi.shape[0]
    L = j1 - j0
    h = hb[j0:j1]
    acc = c - c
    if D == 3:
        x0, x1, x2 = xi[0], xi[1], xi[2]
        y0, y1, y2 = yT[0, j0:j1], yT[1, j0:j1], yT[2, j0:j1]
        for k in range(L):
            d0 = x0 - y0[k]
            d1 = x1 - y1[k]
            d2 = x2 - y2[k]
            r = d0 * d0 + d1 * d1 + d2 * d2
            acc += fast_exp(h[k] - c * (r if p == 2 else math.sqrt(r)) - m)
    elif D == 2:
        x0, x1 = xi[0], xi[1]
        y0, y1 = yT[0, j0:j1], yT[1, j0:j1]
        for k in range(L):
            d0 = x0 - y0[k]
            d1 = x1 - y1[k]
            r = d0 * d0 + d1 * d1
            acc += fast_exp(h[k] - c * (r if p == 2 else math.sqrt(r)) - m)
    elif D == 1:
        x0 = xi[0]
        y0 = yT[0, j0:j1]
        for k in range(L):
            d0 = x0 - y0[k]
            acc += fast_exp(h[k] - c * (d0 * d0 if p == 2 else abs(d0)) - m)
    else:
        _fill(xi, yT, hb, j0, j1, c, p, tmp, tmp)
        for k in range(L):
            acc += fast_exp(tmp[k] - m)
    return acc


@njit(fastmath=FASTMATH, cache=True)
def _block_max_sum(xi, yT, hb, j0, j1, c, p, tmp):
    """(max_j e_j, sum_j exp(e_j - max)) over one block: the exact, two-pass version."""
    prefer_wide_vectors()
    L = j1 - j0
    _fill(xi, yT, hb, j0, j1, c, p, tmp, tmp)
    bm = tmp[0]
    for k in range(1, L):
        bm = max(bm, tmp[k])
    acc = c - c
    for k in range(L):
        acc += fast_exp(tmp[k] - bm)
    return bm, acc


@njit(fastmath=FASTMATH, cache=True)
def _block_max(xi, yT, hb, j0, j1, c, p, tmp):
    """max_j e_j over one block, fused with the costs for D <= 3 like :func:`_block_sum`
    (filling ``tmp`` first, as the general case does, was 10% slower on the block-sparse
    softmin) and taken with ``fast_max``, which LLVM vectorises, unlike numba's ``max``."""
    prefer_wide_vectors()
    D = xi.shape[0]
    L = j1 - j0
    h = hb[j0:j1]
    top = hb.dtype.type(-3.0e38)
    if D == 3:
        x0, x1, x2 = xi[0], xi[1], xi[2]
        y0, y1, y2 = yT[0, j0:j1], yT[1, j0:j1], yT[2, j0:j1]
        for k in range(L):
            r = (x0 - y0[k]) ** 2 + (x1 - y1[k]) ** 2 + (x2 - y2[k]) ** 2
            top = fast_max(top, h[k] - c * (r if p == 2 else math.sqrt(r)))
    elif D == 2:
        x0, x1 = xi[0], xi[1]
        y0, y1 = yT[0, j0:j1], yT[1, j0:j1]
        for k in range(L):
            r = (x0 - y0[k]) ** 2 + (x1 - y1[k]) ** 2
            top = fast_max(top, h[k] - c * (r if p == 2 else math.sqrt(r)))
    else:
        _fill(xi, yT, hb, j0, j1, c, p, tmp, tmp)
        for k in range(L):
            top = fast_max(top, tmp[k])
    return top


@njit(fastmath=FASTMATH, cache=True)
def row_max(xi, yT, hb, c, p, tmp):
    """max_j (hb_j - c C(xi, y_j)): the exact shift of a row, block by block."""
    M = yT.shape[1]
    top = hb.dtype.type(-3.0e38)
    for j0 in range(0, M, BLOCK):
        top = fast_max(top, _block_max(xi, yT, hb, j0, min(j0 + BLOCK, M), c, p, tmp))
    return top


#: A block sum above this may hold overflowed terms (exp clamps its input at ~88).
_OVERFLOW = 2.0**64
#: A row sum below this lost its terms to underflow: the shift was far above the max.
_UNDERFLOW = 2.0**-40


@njit(fastmath=FASTMATH, cache=True)
def row_lse(xi, yT, hb, c, p, tmp):
    """log sum_j exp(hb_j - c C(xi, y_j)), exact, in about one pass over y, shifted by
    the first exponent to start with (:func:`row_lse_from`)."""
    M = yT.shape[1]
    first = M - M  # an int64: the literal 0 would compile _fill once more, for literals
    _fill(xi, yT, hb, first, first + 1, c, p, tmp, tmp)
    return row_lse_from(xi, yT, hb, c, p, tmp, tmp[0])


@njit(fastmath=FASTMATH, cache=True)
def row_lse_from(xi, yT, hb, c, p, tmp, m):
    """log sum_j exp(hb_j - c C(xi, y_j)), exact, in one pass over y when the shift ``m``
    is within ~40 of the max (e.g. the log-sum-exp of a nearby row: rows of one cluster).

    Each block is summed shifted by the running shift m. A block whose terms reach
    2^64 / BLOCK (its exponents exceed m by ~37: the sum may have overflowed or lost
    the small terms' precision) is summed again with its own max, and the running sum
    is rescaled by exp(m_old - m_new). A final sum below 2^-40 (m was more than ~28
    above every exponent, and the terms may have underflowed) is computed again from
    the exact max, in two passes.
    """
    M = yT.shape[1]
    s = c - c
    for j0 in range(0, M, BLOCK):
        j1 = min(j0 + BLOCK, M)
        acc = _block_sum(xi, yT, hb, j0, j1, c, p, m, tmp)
        if not acc < _OVERFLOW:
            bm, acc = _block_max_sum(xi, yT, hb, j0, j1, c, p, tmp)
            if bm > m:
                s = s * fast_exp(m - bm)
                m = bm
            else:
                acc = acc * fast_exp(bm - m)
        s += acc
    if not s >= _UNDERFLOW:
        m = row_max(xi, yT, hb, c, p, tmp)
        s = c - c
        for j0 in range(0, M, BLOCK):
            s += _block_sum(xi, yT, hb, j0, min(j0 + BLOCK, M), c, p, m, tmp)
    return m + math.log(s)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lse_kernel(x, yT, h, c, p, nchunks, out):
    """out[b, i] = log sum_j exp(h[b, j] - c C(x[b, i], y[b, j])); x (B,N,D), yT (B,D,M).

    A chunk's first row is shifted by its first exponent, every next row by the
    previous row's result (:func:`row_lse_from`; a shift that over- or underflows is
    corrected there): 4,000 points of a scan in their sampling order, 1.2x faster at a
    blur of 0.01 and 1.3x at 0.1 than every row from its first exponent.
    """
    B, N, _ = x.shape
    rows = B * N
    for ch in prange(nchunks):
        tmp = np.empty(BLOCK, dtype=x.dtype)
        start, stop = ch * rows // nchunks, (ch + 1) * rows // nchunks
        shift = x.dtype.type(0.0)
        for t in range(start, stop):
            b = t // N
            i = t - b * N
            if t == start or i == 0:
                out[b, i] = row_lse(x[b, i], yT[b], h[b], c, p, tmp)
            else:
                out[b, i] = row_lse_from(x[b, i], yT[b], h[b], c, p, tmp, shift)
            shift = out[b, i]


@njit(fastmath=FASTMATH, cache=True)
def row_planvec(xi, yT, ai, hb, VT, c, p, buf, tmp, out):
    """out[k] = sum_j exp(ai + hb_j - c C(xi, y_j)) V[k, j]."""
    prefer_wide_vectors()
    M = yT.shape[1]
    K = VT.shape[0]
    for k in range(K):
        out[k] = c - c
    for j0 in range(0, M, BLOCK):
        j1 = min(j0 + BLOCK, M)
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


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def planvec_kernel(x, yT, a, hb_all, VT, c, p, nchunks, out):
    """out[b, i, k] = sum_j exp(a[b, i] + h[b, j] - c C_ij) V[b, j, k]; VT is (B, K, M)."""
    B, N, _ = x.shape
    rows = B * N
    for ch in prange(nchunks):
        buf = np.empty(BLOCK, dtype=x.dtype)
        tmp = np.empty(BLOCK, dtype=x.dtype)
        for t in range(ch * rows // nchunks, (ch + 1) * rows // nchunks):
            b = t // N
            i = t - b * N
            row_planvec(x[b, i], yT[b], a[b, i], hb_all[b], VT[b], c, p, buf, tmp, out[b, i])


@njit(fastmath=FASTMATH, cache=True)
def _row_gradred(xi, yT, ai, hb, WT, c, p, buf, tmp, G, S):
    """S[k] = sum_j P_j W[k, j], G[k, d] = sum_j P_j W[k, j] dC/dx_d with P_j = exp(ai + e_j)."""
    prefer_wide_vectors()
    D = xi.shape[0]
    M = yT.shape[1]
    K = WT.shape[0]
    for k in range(K):
        S[k] = c - c
        for d in range(D):
            G[k, d] = c - c
    for j0 in range(0, M, BLOCK):
        j1 = min(j0 + BLOCK, M)
        L = j1 - j0
        if D == 3:  # fused: squared distances to tmp, plan entries to buf
            x0, x1, x2 = xi[0], xi[1], xi[2]
            y0, y1, y2, h = yT[0, j0:j1], yT[1, j0:j1], yT[2, j0:j1], hb[j0:j1]
            for q in range(L):
                d0 = x0 - y0[q]
                d1 = x1 - y1[q]
                d2 = x2 - y2[q]
                r = d0 * d0 + d1 * d1 + d2 * d2
                tmp[q] = r
                buf[q] = fast_exp(h[q] - c * (r if p == 2 else math.sqrt(r)) + ai)
        else:
            _fill(xi, yT, hb, j0, j1, c, p, buf, tmp)
            for q in range(L):
                buf[q] = fast_exp(buf[q] + ai)
        if p == 1:
            # d|x - y|/dx = (x - y)/|x - y|, and 0 where x = y (as the dense kernel);
            # _fill left the squared distances in tmp.
            for q in range(L):
                r2 = tmp[q]
                tmp[q] = buf[q] / math.sqrt(r2) if r2 > 1e-30 else c - c
        slope = tmp if p == 1 else buf
        for k in range(K):
            w = WT[k, j0:j1]
            if D == 3:
                _accumulate3(
                    xi, yT[0, j0:j1], yT[1, j0:j1], yT[2, j0:j1], buf, slope, w, S, G[k], k
                )
                continue
            acc = c - c
            for q in range(L):
                acc += buf[q] * w[q]
            S[k] += acc
            for d in range(D):
                xd = xi[d]
                yd = yT[d, j0:j1]
                acc = c - c
                for q in range(L):
                    acc += slope[q] * w[q] * (xd - yd[q])
                G[k, d] += acc


@njit(fastmath=FASTMATH, cache=True)
def _accumulate3(xi, y0, y1, y2, P, slope, w, S, Gk, k):
    """D = 3: S[k] += sum_q P_q w_q and Gk += sum_q slope_q w_q (xi - y_q), one loop."""
    prefer_wide_vectors()
    x0, x1, x2 = xi[0], xi[1], xi[2]
    s = g0 = g1 = g2 = x0 - x0
    for q in range(w.shape[0]):
        s += P[q] * w[q]
        sw = slope[q] * w[q]
        g0 += sw * (x0 - y0[q])
        g1 += sw * (x1 - y1[q])
        g2 += sw * (x2 - y2[q])
    S[k] += s
    Gk[0] += g0
    Gk[1] += g1
    Gk[2] += g2


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def gradred_kernel(x, yT, a, hb_all, WT, c, p, nchunks, G, S):
    """The gradient reduction of every row of x; G is (B, N, K, D), S is (B, N, K)."""
    B, N, _ = x.shape
    rows = B * N
    for ch in prange(nchunks):
        buf = np.empty(BLOCK, dtype=x.dtype)
        tmp = np.empty(BLOCK, dtype=x.dtype)
        for t in range(ch * rows // nchunks, (ch + 1) * rows // nchunks):
            b = t // N
            i = t - b * N
            _row_gradred(
                x[b, i], yT[b], a[b, i], hb_all[b], WT[b], c, p, buf, tmp, G[b, i], S[b, i]
            )


@njit(fastmath=FASTMATH, cache=True)
def row_softmin_backward(xi, yT, ai, gi, hb, c, p, buf, tmp, gx, cS, cG):
    """One row of the fused softmin backward: gx (D,) for this row, and adds this row's
    share of the column sums cS[j] += g_i P_ij, cG[d, j] -= g_i slope_ij (x_id - y_jd)."""
    prefer_wide_vectors()
    D = xi.shape[0]
    M = yT.shape[1]
    for d in range(D):
        gx[d] = c - c
    tiny = c - c + 1e-30
    for j0 in range(0, M, BLOCK):
        j1 = min(j0 + BLOCK, M)
        L = j1 - j0
        if D == 3:
            # Separate loops, each with few arrays: LLVM gives up vectorising a loop
            # that needs more than 8 runtime alias checks.
            x0, x1, x2 = xi[0], xi[1], xi[2]
            y0, y1, y2, h = yT[0, j0:j1], yT[1, j0:j1], yT[2, j0:j1], hb[j0:j1]
            a0 = a1 = a2 = c - c
            if p == 2:
                for q in range(L):
                    d0 = x0 - y0[q]
                    d1 = x1 - y1[q]
                    d2 = x2 - y2[q]
                    P = fast_exp(h[q] - c * (d0 * d0 + d1 * d1 + d2 * d2) + ai)
                    buf[q] = P
                    a0 += P * d0
                    a1 += P * d1
                    a2 += P * d2
                slope = buf
            else:  # where r = 0, d = 0 and the slope does not matter
                for q in range(L):
                    d0 = x0 - y0[q]
                    d1 = x1 - y1[q]
                    d2 = x2 - y2[q]
                    rt = math.sqrt(max(d0 * d0 + d1 * d1 + d2 * d2, tiny))
                    buf[q] = fast_exp(h[q] - c * rt + ai)
                for q in range(L):
                    d0 = x0 - y0[q]
                    d1 = x1 - y1[q]
                    d2 = x2 - y2[q]
                    rt = math.sqrt(max(d0 * d0 + d1 * d1 + d2 * d2, tiny))
                    sl = buf[q] / rt
                    tmp[q] = sl
                    a0 += sl * d0
                    a1 += sl * d1
                    a2 += sl * d2
                slope = tmp
            gx[0] += gi * a0
            gx[1] += gi * a1
            gx[2] += gi * a2
            s = cS[j0:j1]
            for q in range(L):
                s[q] += gi * buf[q]
            for d in range(3):
                xd = xi[d]
                yd = yT[d, j0:j1]
                cd = cG[d, j0:j1]
                for q in range(L):
                    cd[q] -= gi * slope[q] * (xd - yd[q])
            continue
        _fill(xi, yT, hb, j0, j1, c, p, buf, tmp)
        for q in range(L):
            buf[q] = fast_exp(buf[q] + ai)
            tmp[q] = buf[q] if p == 2 else buf[q] / math.sqrt(max(tmp[q], tiny))
            cS[j0 + q] += gi * buf[q]
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


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def softmin_backward_kernel(x, yT, a, g, h, c, p, gx, cS, cG):
    """Fused backward of the softmin: one exp per pair for the gradients wrt. x, y, h.

    Rows are split in ``T = cS.shape[0]`` contiguous ranges, one per thread; each
    accumulates its own column sums cS[t] (B, M) and cG[t] (B, D, M), summed afterwards.
    """
    B, N, _ = x.shape
    rows = B * N
    T = cS.shape[0]
    for ch in prange(T):
        buf = np.empty(BLOCK, dtype=x.dtype)
        tmp = np.empty(BLOCK, dtype=x.dtype)
        for t in range(ch * rows // T, (ch + 1) * rows // T):
            b = t // N
            i = t - b * N
            row_softmin_backward(
                x[b, i],
                yT[b],
                a[b, i],
                g[b, i],
                h[b],
                c,
                p,
                buf,
                tmp,
                gx[b, i],
                cS[ch, b],
                cG[ch, b],
            )


# --------------------------------------------------------------------------------------
# torch-facing wrappers: CPU float32/float64 tensors in, tensors out, no autograd.


def _threads_chunks(rows: int) -> int:
    """Row chunks for prange: a few per thread, so that uneven rows balance."""
    return max(1, min(rows, 8 * numba.get_num_threads()))


def _np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _finite(t: Tensor) -> Tensor:
    """-inf -> a large finite number whose exponential, shifted or not, is exactly 0."""
    return t.detach().clamp_min(-float(torch.finfo(t.dtype).max) / 16)


def _scale(x: Tensor, eps: float, p: int) -> np.floating:
    dtype = np.float32 if x.dtype == torch.float32 else np.float64
    return dtype(0.5 / eps if p == 2 else 1.0 / eps)


def lse(x: Tensor, y: Tensor, h: Tensor, eps: float, p: int) -> Tensor:
    """:math:`\\log \\sum_j \\exp(h_j - C(x_i, y_j)/\\varepsilon)`, shape (B, N).

    Batch items whose log-weights are all ``-inf`` give ``-inf``.
    """
    B, N, _ = x.shape
    out = torch.empty(B, N, dtype=x.dtype)
    yT = _np(y.transpose(1, 2))
    lse_kernel(
        _np(x), yT, _np(_finite(h)), _scale(x, eps, p), p, _threads_chunks(B * N), out.numpy()
    )
    dead = ~(h > -math.inf).any(dim=-1)
    if bool(dead.any()):
        out[dead] = -math.inf
    return out


def planvec(x: Tensor, y: Tensor, a: Tensor, b: Tensor, V: Tensor, eps: float, p: int) -> Tensor:
    """:math:`\\sum_j \\exp(a_i + b_j - C(x_i, y_j)/\\varepsilon) V_{jk}`, shape (B, N, K)."""
    B, N, _ = x.shape
    out = torch.empty(B, N, V.shape[-1], dtype=x.dtype)
    planvec_kernel(
        _np(x),
        _np(y.transpose(1, 2)),
        _np(_finite(a)),
        _np(_finite(b)),
        _np(V.transpose(1, 2)),
        _scale(x, eps, p),
        p,
        _threads_chunks(B * N),
        out.numpy(),
    )
    return out


def gradred(
    x: Tensor, y: Tensor, a: Tensor, b: Tensor, W: Tensor, eps: float, p: int
) -> tuple[Tensor, Tensor]:
    """The weighted gradient reduction; returns G (B, N, K, D) and S (B, N, K).

    .. math::

        S_{ik} = \\sum_j P_{ij} W_{jk}, \\qquad
        G_{ikd} = \\sum_j P_{ij} W_{jk} \\, \\partial_{x_d} C(x_i, y_j), \\qquad
        P_{ij} = e^{a_i + b_j - C(x_i, y_j)/\\varepsilon}.
    """
    B, N, D = x.shape
    K = W.shape[-1]
    G = torch.empty(B, N, K, D, dtype=x.dtype)
    S = torch.empty(B, N, K, dtype=x.dtype)
    gradred_kernel(
        _np(x),
        _np(y.transpose(1, 2)),
        _np(_finite(a)),
        _np(_finite(b)),
        _np(W.transpose(1, 2)),
        _scale(x, eps, p),
        p,
        _threads_chunks(B * N),
        G.numpy(),
        S.numpy(),
    )
    return G, S


def softmin_backward(
    x: Tensor, y: Tensor, a: Tensor, g: Tensor, h: Tensor, eps: float, p: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the softmin wrt. x, y and h for the upstream gradient g (B, N).

    ``a`` is minus the row log-normaliser (``-inf`` on rows without mass, where g must
    be 0). One pass over the pairs, one exponential each, instead of two ``gradred``.
    """
    B, N, D = x.shape
    M = y.shape[1]
    T = max(1, min(B * N, numba.get_num_threads()))
    gx = torch.empty(B, N, D, dtype=x.dtype)
    cS = torch.zeros(T, B, M, dtype=x.dtype)
    cG = torch.zeros(T, B, D, M, dtype=x.dtype)
    softmin_backward_kernel(
        _np(x),
        _np(y.transpose(1, 2)),
        _np(_finite(a)),
        _np(g),
        _np(_finite(h)),
        _scale(x, eps, p),
        p,
        gx.numpy(),
        cS.numpy(),
        cG.numpy(),
    )
    return gx, cG.sum(0).transpose(1, 2), cS.sum(0).mul_(-eps)
