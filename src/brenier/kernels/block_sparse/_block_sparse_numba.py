"""Compiled CPU kernels (numba) for the softmin restricted to kept cluster blocks.

Both clouds are sorted by cluster. Cluster ``I`` of x holds the rows
``x_offsets[I]:x_offsets[I + 1]``; it interacts with the columns of y listed as
ranges ``col_lo[r]:col_hi[r]`` for ``r`` in ``row_ptr[I]:row_ptr[I + 1]`` (a CSR list
of kept y clusters, consecutive clusters merged into one range). Every row of cluster
``I`` then computes

.. math::

    \\ell_i = \\log \\sum_{j \\in \\text{kept}(I)} \\exp(h_j - C(x_i, y_j)/\\varepsilon).

Gather, then stream: the kept columns of cluster ``I`` (coordinates, ``h`` and the
vectors of the companion reductions) are first copied into contiguous scratch buffers
(one set per thread, ``width`` columns), once per cluster; every row of the cluster
then runs on them: the log-sum-exp four rows per pass (:func:`_sums4`), each row's sum
shifted by the previous row's result, a 3D map (three vectors) four rows per pass too
(:func:`_planvec4_3d`: 1.45x the row function's throughput at 10^5 points), the other
reductions with the *online* kernels' row functions (``row_lse_from``,
``row_planvec``, ``row_softmin_backward``). The copy
costs one pass over the kept columns per cluster, shared by its rows, and the pair
loop runs at the online kernels' speed whatever the length of the ranges (short
ranges, from small blocks, would otherwise defeat the vectorisation). The last
temperature's softmin at 10^5 points (blur 0.01, 0.9% of the pairs kept, 9 rows per
cluster): 0.43 ns per pair per thread, against 0.80 ns one row at a time with a
gather that kept numba's wraparound tests; shifting each row by its first exponent
(far below the max at small eps: most blocks went through the overflow fallback) cost
3.2 ns at 10^4 points. The backward accumulates its column sums in buffers and
scatters them back per cluster. Work is split over threads by contiguous cluster chunks.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from .._online_exp import fast_exp, prefer_wide_vectors
from .._online_numba import (
    _OVERFLOW,
    _UNDERFLOW,
    BLOCK,
    FASTMATH,
    _fill,
    row_lse_from,
    row_max,
    row_planvec,
    row_softmin_backward,
)


@njit(cache=True)
def _gather(src, col_lo, col_hi, r0, r1, L, scratch):
    """The kept columns of src (E, M) over the ranges r0:r1, as a C-contiguous (E, L)
    array in the scratch space (1D, at least E * L long).

    A reshaped 1D slice rather than a 2D view of a buffer: numba vectorises the row
    functions for C-contiguous arrays only (a strided view compiles a scalar loop).
    Each range is copied between two views, indexed from 0 by the loop counter: LLVM
    then knows the indices are not negative and copies with vector moves (indexing
    ``s[lo + q]`` kept numba's wraparound test on every element, 2.7x slower).
    """
    dst = scratch[: src.shape[0] * L].reshape((src.shape[0], L))
    for e in range(src.shape[0]):
        s, d = src[e], dst[e]
        k = 0
        for r in range(r0, r1):
            lo, n = col_lo[r], col_hi[r] - col_lo[r]
            sv, dv = s[lo : lo + n], d[k : k + n]
            for q in range(n):  # a loop: a slice assignment compiles its
                dv[q] = sv[q]  # shape check and error message (~1 s)
            k += n
    return dst


@njit(cache=True)
def _scatter_add(src, col_lo, col_hi, r0, r1, dst) -> None:
    """dst[:, kept columns] += src (E, L), the inverse of :func:`_gather`."""
    for e in range(src.shape[0]):
        s, d = src[e], dst[e]
        k = 0
        for r in range(r0, r1):
            lo, n = col_lo[r], col_hi[r] - col_lo[r]
            sv, dv = s[k : k + n], d[lo : lo + n]
            for q in range(n):
                dv[q] += sv[q]
            k += n


@njit(cache=True)
def _width(col_lo, col_hi, r0, r1) -> int:
    L = 0
    for r in range(r0, r1):
        L += col_hi[r] - col_lo[r]
    return L


@njit(cache=True)
def _gather_targets(yT, h2, col_lo, col_hi, r0, r1, ys, hs):
    """The kept targets of one cluster (rows r0:r1 of the structure): their points
    (D, L) and their values (L,), gathered into ``ys`` and ``hs``."""
    L = _width(col_lo, col_hi, r0, r1)
    yk = _gather(yT, col_lo, col_hi, r0, r1, L, ys)
    return yk, _gather(h2, col_lo, col_hi, r0, r1, L, hs)[0]


@njit(fastmath=FASTMATH, cache=True)
def _sums4(xs, yT, hb, c, p, m):
    """``sum_j exp(hb_j - c C(x_q, y_j) - m_q)`` for the four rows q of xs (4, D),
    D = 2 or 3, each with its own shift m_q, in one pass over the targets: each target
    is loaded once for four rows (1.2x the throughput of one row at a time)."""
    prefer_wide_vectors()
    D, L = yT.shape[0], yT.shape[1]
    s0 = s1 = s2 = s3 = c - c
    m0, m1, m2, m3 = m[0], m[1], m[2], m[3]
    if D == 3:
        y0, y1, y2 = yT[0], yT[1], yT[2]
        a0, a1, a2 = xs[0, 0], xs[0, 1], xs[0, 2]
        b0, b1, b2 = xs[1, 0], xs[1, 1], xs[1, 2]
        e0, e1, e2 = xs[2, 0], xs[2, 1], xs[2, 2]
        f0, f1, f2 = xs[3, 0], xs[3, 1], xs[3, 2]
        for k in range(L):
            u0, u1, u2, v = y0[k], y1[k], y2[k], hb[k]
            r = (a0 - u0) ** 2 + (a1 - u1) ** 2 + (a2 - u2) ** 2
            s0 += fast_exp(v - m0 - c * (r if p == 2 else math.sqrt(r)))
            r = (b0 - u0) ** 2 + (b1 - u1) ** 2 + (b2 - u2) ** 2
            s1 += fast_exp(v - m1 - c * (r if p == 2 else math.sqrt(r)))
            r = (e0 - u0) ** 2 + (e1 - u1) ** 2 + (e2 - u2) ** 2
            s2 += fast_exp(v - m2 - c * (r if p == 2 else math.sqrt(r)))
            r = (f0 - u0) ** 2 + (f1 - u1) ** 2 + (f2 - u2) ** 2
            s3 += fast_exp(v - m3 - c * (r if p == 2 else math.sqrt(r)))
    else:
        y0, y1 = yT[0], yT[1]
        a0, a1, b0, b1 = xs[0, 0], xs[0, 1], xs[1, 0], xs[1, 1]
        e0, e1, f0, f1 = xs[2, 0], xs[2, 1], xs[3, 0], xs[3, 1]
        for k in range(L):
            u0, u1, v = y0[k], y1[k], hb[k]
            r = (a0 - u0) ** 2 + (a1 - u1) ** 2
            s0 += fast_exp(v - m0 - c * (r if p == 2 else math.sqrt(r)))
            r = (b0 - u0) ** 2 + (b1 - u1) ** 2
            s1 += fast_exp(v - m1 - c * (r if p == 2 else math.sqrt(r)))
            r = (e0 - u0) ** 2 + (e1 - u1) ** 2
            s2 += fast_exp(v - m2 - c * (r if p == 2 else math.sqrt(r)))
            r = (f0 - u0) ** 2 + (f1 - u1) ** 2
            s3 += fast_exp(v - m3 - c * (r if p == 2 else math.sqrt(r)))
    return s0, s1, s2, s3


@njit(cache=True, inline="always")
def _safe(s):
    """A sum shifted by a good guess: neither overflowed nor underflowed."""
    return s < _OVERFLOW and s >= _UNDERFLOW


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lse_kernel(x, yT, h, c, p, x_offsets, row_ptr, col_lo, col_hi, width, nchunks, guess, out):
    """out[i] = the block-sparse log-sum-exp of row i; x (N, D), yT (D, M); ``width``
    bounds the kept columns of a cluster.

    One pass over the targets, four rows at a time for D = 2, 3 (a cluster's last rows
    padded with copies of its last one), each row's sum shifted by ``guess[i]`` when
    ``guess`` holds N values (the previous call's results: the loop calls a kernel
    with slowly changing h; a value that is not finite is no guess), else by the
    previous rows' result (the cluster's first
    rows by the first row's exact max). A shift that over- or underflowed sends its row
    to :func:`row_lse_from`, which rescales. Measured at 10^4 points (blur 0.01, the
    last temperature, 27 rows per cluster): rows of one cluster differ by up to ~75 in
    the log, and 40% of the four-row passes shifted by the previous row's result went
    through that fallback; shifted by the previous call's, none.
    """
    K = x_offsets.shape[0] - 1
    D = yT.shape[0]
    h2 = h.reshape(1, -1)
    guessed = guess.shape[0] == x.shape[0]
    for ch in prange(nchunks):
        tmp = np.empty(BLOCK, dtype=x.dtype)
        ys, hs = np.empty(D * width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        xs, ms = np.empty((4, D), dtype=x.dtype), np.empty(4, dtype=x.dtype)
        for cl in range(ch * K // nchunks, (ch + 1) * K // nchunks):
            i, i1 = x_offsets[cl], x_offsets[cl + 1]
            if i == i1:
                continue
            r0, r1 = row_ptr[cl], row_ptr[cl + 1]
            yk, hk = _gather_targets(yT, h2, col_lo, col_hi, r0, r1, ys, hs)
            shift = out.dtype.type(0.0) if guessed else row_max(x[i], yk, hk, c, p, tmp)
            if D != 2 and D != 3:  # one row at a time
                for q in range(i, i1):
                    m = guess[q] if guessed and math.isfinite(guess[q]) else shift
                    out[q] = row_lse_from(x[q], yk, hk, c, p, tmp, m)
                    shift = out[q]
                continue
            while i < i1:
                n = min(4, i1 - i)
                for r in range(4):
                    src = i + min(r, n - 1)
                    for e in range(D):
                        xs[r, e] = x[src, e]
                    ms[r] = guess[src] if guessed and math.isfinite(guess[src]) else shift
                s0, s1, s2, s3 = _sums4(xs, yk, hk, c, p, ms)
                for r in range(n):
                    s = s0 if r == 0 else (s1 if r == 1 else (s2 if r == 2 else s3))
                    if _safe(s):
                        out[i + r] = ms[r] + math.log(s)
                    else:
                        out[i + r] = row_lse_from(x[i + r], yk, hk, c, p, tmp, ms[r])
                shift = out[i + n - 1]
                i += n


@njit(fastmath=FASTMATH, cache=True)
def _planvec_row3(xi, yT, ai, hb, VT, c, p, out) -> None:
    """``out[k] = sum_j exp(ai + hb_j - c C(xi, y_j)) V[k, j]`` for D <= 3 and three
    vectors (a 3D map) in one pass over the targets: :func:`row_planvec` fills the
    exponents block by block and then runs one pass per vector (2x slower here)."""
    prefer_wide_vectors()
    D, L = yT.shape[0], yT.shape[1]
    v0, v1, v2 = VT[0], VT[1], VT[2]
    o0 = o1 = o2 = c - c
    if D == 3:
        y0, y1, y2 = yT[0], yT[1], yT[2]
        a0, a1, a2 = xi[0], xi[1], xi[2]
        for k in range(L):
            r = (a0 - y0[k]) ** 2 + (a1 - y1[k]) ** 2 + (a2 - y2[k]) ** 2
            w = fast_exp(ai + hb[k] - c * (r if p == 2 else math.sqrt(r)))
            o0 += w * v0[k]
            o1 += w * v1[k]
            o2 += w * v2[k]
    else:
        for k in range(L):
            r = c - c
            for d in range(D):
                r += (xi[d] - yT[d, k]) ** 2
            w = fast_exp(ai + hb[k] - c * (r if p == 2 else math.sqrt(r)))
            o0 += w * v0[k]
            o1 += w * v1[k]
            o2 += w * v2[k]
    out[0], out[1], out[2] = o0, o1, o2


@njit(fastmath=FASTMATH, cache=True)
def _planvec4_3d(x, i, yT, a, hb, VT, c, p, out) -> None:
    """:func:`_planvec_row3` for the four rows i, ..., i + 3 of x (D = 3) in one pass:
    each target and its vectors are loaded once for four rows."""
    prefer_wide_vectors()
    L = yT.shape[1]
    y0, y1, y2, v0, v1, v2 = yT[0], yT[1], yT[2], VT[0], VT[1], VT[2]
    p00 = p01 = p02 = p10 = p11 = p12 = p20 = p21 = p22 = p30 = p31 = p32 = c - c
    a0, a1, a2, aa = x[i, 0], x[i, 1], x[i, 2], a[i]
    b0, b1, b2, ba = x[i + 1, 0], x[i + 1, 1], x[i + 1, 2], a[i + 1]
    e0, e1, e2, ea = x[i + 2, 0], x[i + 2, 1], x[i + 2, 2], a[i + 2]
    f0, f1, f2, fa = x[i + 3, 0], x[i + 3, 1], x[i + 3, 2], a[i + 3]
    for k in range(L):
        u0, u1, u2, v, w0, w1, w2 = y0[k], y1[k], y2[k], hb[k], v0[k], v1[k], v2[k]
        r = (a0 - u0) ** 2 + (a1 - u1) ** 2 + (a2 - u2) ** 2
        w = fast_exp(aa + v - c * (r if p == 2 else math.sqrt(r)))
        p00 += w * w0
        p01 += w * w1
        p02 += w * w2
        r = (b0 - u0) ** 2 + (b1 - u1) ** 2 + (b2 - u2) ** 2
        w = fast_exp(ba + v - c * (r if p == 2 else math.sqrt(r)))
        p10 += w * w0
        p11 += w * w1
        p12 += w * w2
        r = (e0 - u0) ** 2 + (e1 - u1) ** 2 + (e2 - u2) ** 2
        w = fast_exp(ea + v - c * (r if p == 2 else math.sqrt(r)))
        p20 += w * w0
        p21 += w * w1
        p22 += w * w2
        r = (f0 - u0) ** 2 + (f1 - u1) ** 2 + (f2 - u2) ** 2
        w = fast_exp(fa + v - c * (r if p == 2 else math.sqrt(r)))
        p30 += w * w0
        p31 += w * w1
        p32 += w * w2
    out[i, 0], out[i, 1], out[i, 2] = p00, p01, p02
    out[i + 1, 0], out[i + 1, 1], out[i + 1, 2] = p10, p11, p12
    out[i + 2, 0], out[i + 2, 1], out[i + 2, 2] = p20, p21, p22
    out[i + 3, 0], out[i + 3, 1], out[i + 3, 2] = p30, p31, p32


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def planvec_kernel(x, yT, a, h, VT, c, p, x_offsets, row_ptr, col_lo, col_hi, width, nchunks, out):
    """out[i, k] = sum_{j kept} exp(a_i + h_j - c C_ij) V[j, k]; VT is (E, M)."""
    K = x_offsets.shape[0] - 1
    D, E = yT.shape[0], VT.shape[0]
    h2 = h.reshape(1, -1)
    for ch in prange(nchunks):
        buf = np.empty(BLOCK, dtype=x.dtype)
        tmp = np.empty(BLOCK, dtype=x.dtype)
        ys, hs = np.empty(D * width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        vs = np.empty(E * width, dtype=x.dtype)
        for cl in range(ch * K // nchunks, (ch + 1) * K // nchunks):
            r0, r1 = row_ptr[cl], row_ptr[cl + 1]
            yk, hk = _gather_targets(yT, h2, col_lo, col_hi, r0, r1, ys, hs)
            L = hk.shape[0]
            vk = _gather(VT, col_lo, col_hi, r0, r1, L, vs)
            i, i1 = x_offsets[cl], x_offsets[cl + 1]
            if E == 3 and D == 3:
                while i + 4 <= i1:
                    _planvec4_3d(x, i, yk, a, hk, vk, c, p, out)
                    i += 4
            for q in range(i, i1):
                if E == 3 and D <= 3:
                    _planvec_row3(x[q], yk, a[q], hk, vk, c, p, out[q])
                else:
                    row_planvec(x[q], yk, a[q], hk, vk, c, p, buf, tmp, out[q])


@njit(fastmath=FASTMATH, cache=True)
def _softmin_backward4_3d(x, i, yT, a, g, hb, c, sS, sG, gx) -> None:
    """:func:`row_softmin_backward` for the four rows i, ..., i + 3 of x (D = 3, p = 2)
    in one pass over the targets: with :math:`w_{rj} = g_r P_{rj}` and
    :math:`d_{rj} = x_r - y_j`, each row's :math:`\\sum_j w_{rj} d_{rj}`, and the column
    sums updated once for the four rows, :math:`S_j \\mathrel{+}= \\sum_r w_{rj}`,
    :math:`G_j \\mathrel{-}= \\sum_r w_{rj} d_{rj}` (one read-modify-write of the four
    column arrays per target, not four; differences first, as the one-row pass)."""
    prefer_wide_vectors()
    L = yT.shape[1]
    y0, y1, y2, s0, s1, s2 = yT[0], yT[1], yT[2], sG[0], sG[1], sG[2]
    p0, p1, p2, pa, pg = x[i, 0], x[i, 1], x[i, 2], a[i], g[i]
    q0, q1, q2, qa, qg = x[i + 1, 0], x[i + 1, 1], x[i + 1, 2], a[i + 1], g[i + 1]
    r0, r1, r2, ra, rg = x[i + 2, 0], x[i + 2, 1], x[i + 2, 2], a[i + 2], g[i + 2]
    t0, t1, t2, ta, tg = x[i + 3, 0], x[i + 3, 1], x[i + 3, 2], a[i + 3], g[i + 3]
    gp0 = gp1 = gp2 = gq0 = gq1 = gq2 = gr0 = gr1 = gr2 = gt0 = gt1 = gt2 = c - c
    for k in range(L):
        u0, u1, u2, v = y0[k], y1[k], y2[k], hb[k]
        dp0, dp1, dp2 = p0 - u0, p1 - u1, p2 - u2
        dq0, dq1, dq2 = q0 - u0, q1 - u1, q2 - u2
        dr0, dr1, dr2 = r0 - u0, r1 - u1, r2 - u2
        dt0, dt1, dt2 = t0 - u0, t1 - u1, t2 - u2
        wp = pg * fast_exp(pa + v - c * (dp0 * dp0 + dp1 * dp1 + dp2 * dp2))
        wq = qg * fast_exp(qa + v - c * (dq0 * dq0 + dq1 * dq1 + dq2 * dq2))
        wr = rg * fast_exp(ra + v - c * (dr0 * dr0 + dr1 * dr1 + dr2 * dr2))
        wt = tg * fast_exp(ta + v - c * (dt0 * dt0 + dt1 * dt1 + dt2 * dt2))
        e0 = wp * dp0 + wq * dq0 + wr * dr0 + wt * dt0
        e1 = wp * dp1 + wq * dq1 + wr * dr1 + wt * dt1
        e2 = wp * dp2 + wq * dq2 + wr * dr2 + wt * dt2
        gp0, gp1, gp2 = gp0 + wp * dp0, gp1 + wp * dp1, gp2 + wp * dp2
        gq0, gq1, gq2 = gq0 + wq * dq0, gq1 + wq * dq1, gq2 + wq * dq2
        gr0, gr1, gr2 = gr0 + wr * dr0, gr1 + wr * dr1, gr2 + wr * dr2
        gt0, gt1, gt2 = gt0 + wt * dt0, gt1 + wt * dt1, gt2 + wt * dt2
        sS[k] += wp + wq + wr + wt
        s0[k] -= e0
        s1[k] -= e1
        s2[k] -= e2
    gx[i, 0], gx[i, 1], gx[i, 2] = gp0, gp1, gp2
    gx[i + 1, 0], gx[i + 1, 1], gx[i + 1, 2] = gq0, gq1, gq2
    gx[i + 2, 0], gx[i + 2, 1], gx[i + 2, 2] = gr0, gr1, gr2
    gx[i + 3, 0], gx[i + 3, 1], gx[i + 3, 2] = gt0, gt1, gt2


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def softmin_backward_kernel(
    x, yT, a, g, h, c, p, x_offsets, row_ptr, col_lo, col_hi, width, gx, cS, cG
):
    """Fused softmin backward; thread chunk ``t`` accumulates its own cS[t] (M,), cG[t] (D, M)."""
    K = x_offsets.shape[0] - 1
    D = yT.shape[0]
    T = cS.shape[0]
    h2 = h.reshape(1, -1)
    for ch in prange(T):
        buf = np.empty(BLOCK, dtype=x.dtype)
        tmp = np.empty(BLOCK, dtype=x.dtype)
        ys, hs = np.empty(D * width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        gs, ss = np.empty(D * width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        for cl in range(ch * K // T, (ch + 1) * K // T):
            r0, r1 = row_ptr[cl], row_ptr[cl + 1]
            yk, hk = _gather_targets(yT, h2, col_lo, col_hi, r0, r1, ys, hs)
            L = hk.shape[0]
            sG = gs[: D * L].reshape((D, L))
            sS = ss[:L]
            sG[:] = 0
            sS[:] = 0
            i, i1 = x_offsets[cl], x_offsets[cl + 1]
            if D == 3 and p == 2:  # four rows per pass over the targets
                while i + 4 <= i1:
                    _softmin_backward4_3d(x, i, yk, a, g, hk, c, sS, sG, gx)
                    i += 4
            for q in range(i, i1):
                row_softmin_backward(x[q], yk, a[q], g[q], hk, c, p, buf, tmp, gx[q], sS, sG)
            _scatter_add(sG, col_lo, col_hi, r0, r1, cG[ch])
            _scatter_add(sS.reshape(1, -1), col_lo, col_hi, r0, r1, cS[ch].reshape(1, -1))


@njit(fastmath=FASTMATH, cache=True)
def row_softmax_sum_backward(xi, yT, ai, gi, ui, hb, VT, c, p, buf, tmp, inv, gx, cS, cG, cV):
    """One row of the softmax-sum backward. With :math:`P_j = e^{a_i + h_j - c\\,
    C(x_i, y_j)}`, :math:`s_j = g_i \\cdot v_j - u_i` and the slope :math:`\\sigma_j = 1`
    (p = 2) or :math:`1 / |x_i - y_j|` (p = 1): gx (D,) =
    :math:`\\sum_j P_j s_j \\sigma_j (x_i - y_j)`, and this row's share of the column
    sums cS[j] += P_j s_j, cG[d, j] -= P_j s_j sigma_j (x_id - y_jd), cV[k, j] += P_j g_ik.
    ``inv`` is scratch space of the size of ``buf``."""
    D, E, M = xi.shape[0], VT.shape[0], yT.shape[1]
    zero = c - c
    tiny = zero + 1e-30
    for d in range(D):
        gx[d] = zero
    for j0 in range(0, M, BLOCK):
        j1 = min(j0 + BLOCK, M)
        L = j1 - j0
        _fill(xi, yT, hb, j0, j1, c, p, buf, tmp)  # tmp: the squared distances
        for q in range(L):
            buf[q] = fast_exp(buf[q] + ai)
            inv[q] = 1.0 if p == 2 else 1.0 / math.sqrt(max(tmp[q], tiny))
            tmp[q] = -ui
        for k in range(E):
            g, v, cv = gi[k], VT[k, j0:j1], cV[k, j0:j1]
            for q in range(L):
                cv[q] += g * buf[q]
                tmp[q] += g * v[q]
        s = cS[j0:j1]
        for q in range(L):
            tmp[q] *= buf[q]
            s[q] += tmp[q]
            inv[q] *= tmp[q]
        for d in range(D):
            xd, yd, cd = xi[d], yT[d, j0:j1], cG[d, j0:j1]
            acc = zero
            for q in range(L):
                t = inv[q] * (xd - yd[q])
                acc += t
                cd[q] -= t
            gx[d] += acc


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def softmax_sum_backward_kernel(
    x, yT, a, G, U, h, VT, c, p, x_offsets, row_ptr, col_lo, col_hi, width, gx, cS, cG, cV
):
    """Fused softmax-sum backward over the kept blocks (:func:`row_softmax_sum_backward`
    per row: one exp per pair); thread chunk ``t`` accumulates its own cS[t] (M,),
    cG[t] (D, M) and cV[t] (E, M)."""
    K = x_offsets.shape[0] - 1
    D, E = yT.shape[0], VT.shape[0]
    T = cS.shape[0]
    h2 = h.reshape(1, -1)
    for ch in prange(T):
        buf = np.empty(BLOCK, dtype=x.dtype)
        tmp = np.empty(BLOCK, dtype=x.dtype)
        inv = np.empty(BLOCK, dtype=x.dtype)
        ys, hs = np.empty(D * width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        vs = np.empty(E * width, dtype=x.dtype)
        gs, ss = np.empty(D * width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        ws = np.empty(E * width, dtype=x.dtype)
        for cl in range(ch * K // T, (ch + 1) * K // T):
            r0, r1 = row_ptr[cl], row_ptr[cl + 1]
            yk, hk = _gather_targets(yT, h2, col_lo, col_hi, r0, r1, ys, hs)
            L = hk.shape[0]
            vk = _gather(VT, col_lo, col_hi, r0, r1, L, vs)
            sG, sS, sV = gs[: D * L].reshape((D, L)), ss[:L], ws[: E * L].reshape((E, L))
            sG[:] = 0
            sS[:] = 0
            sV[:] = 0
            for i in range(x_offsets[cl], x_offsets[cl + 1]):
                row_softmax_sum_backward(
                    x[i], yk, a[i], G[i], U[i], hk, vk, c, p, buf, tmp, inv, gx[i], sS, sG, sV
                )
            _scatter_add(sG, col_lo, col_hi, r0, r1, cG[ch])
            _scatter_add(sV, col_lo, col_hi, r0, r1, cV[ch])
            _scatter_add(sS.reshape(1, -1), col_lo, col_hi, r0, r1, cS[ch].reshape(1, -1))


def thread_chunks(clusters: int) -> int:
    """Cluster chunks for prange: a few per thread, so that uneven clusters balance."""
    return max(1, min(clusters, 8 * numba.get_num_threads()))
