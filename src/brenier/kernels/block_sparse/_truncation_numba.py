"""Compiled (numba) steps of the kernel truncation: the rule, CSR lists, transposes.

Kept blocks are CSR lists ``(ptr, idx)``: row ``I`` keeps the columns
``idx[ptr[I]:ptr[I + 1]]``, sorted. A side's *geometry* is the tuple
``(c, F, A, E, U, R, r)`` of its blocks' centroids, linear fits of the potential,
principal extents and radii (``_truncation.py``). The rule keeps the block (I, J) when the bound

.. math::

    S_{IJ} + \\sum_k |(A_I - c_I + c_J) \\cdot U_{I,k}| R_{I,k}
    + \\sum_k |(B_J - c_J + c_I) \\cdot V_{J,k}| S_{J,k} + E_I + E_J
    \\ge -\\tau\\varepsilon, \\qquad S_{IJ} = F_I + G_J - \\tfrac12 |c_I - c_J|^2,

holds (for p = 2; for p = 1, :math:`C = |x - y|`, the centres' difference
:math:`c_I - c_J` in the slack becomes its direction :math:`(c_I - c_J) / |c_I - c_J|`,
the gradient of the cost there, and :math:`S_{IJ} = F_I + G_J - |c_I - c_J|`); for p = 2
the slack is also bounded with the cost's curvature (:func:`_kept`, the
smaller one is used; the side's geometry then carries the blocks' radii too), and
every row keeps its best block (largest :math:`G_J - C(c_I, c_J)`, the score without
the row's own constant F_I, so that rows of zero mass rank their partners too).
Rows are processed in parallel, each in two passes (count, then fill), so no list ever
grows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Fast-math without the no-NaN/no-inf assumptions (the maxima start from -inf).
_FINITE_FREE = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True, inline="always")
def _cost_of(d2, p):
    """C(c_I, c_J) from |c_I - c_J|^2: d2 / 2 (p = 2) or sqrt(d2) (p = 1)."""
    return 0.5 * d2 if p == 2 else np.sqrt(d2)


@njit(cache=True, inline="always")
def _spread(a, t, scale, U, R):
    """max over a block of (a + scale t) . delta, from its extents R along its principal
    axes (the columns of U, (D, D)); t (D,)."""
    D = a.shape[0]
    out = 0.0
    for k in range(D):
        proj = 0.0
        for e in range(D):
            proj += (a[e] + scale * t[e]) * U[e, k]
        out += abs(proj) * R[k]
    return out


@njit(cache=True, inline="always")
def _spread_of(B, J, a, t, scale, V, S):
    """:func:`_spread` of block J of a side, (B_J + a + scale t) . eta over its extents
    S_J along V_J, read in place (a view per pair costs its reference count)."""
    D = t.shape[0]
    out = 0.0
    for k in range(D):
        proj = 0.0
        for e in range(D):
            proj += (B[J, e] + a[e] + scale * t[e]) * V[J, e, k]
        out += abs(proj) * S[J, k]
    return out


@njit(cache=True, inline="always")
def _peak(t, r):
    """max of u . w - |w|^2 / 2 over the ball |w| <= r, for |u| = t."""
    return 0.5 * t * t if t <= r else r * t - 0.5 * r * r


@njit(cache=True, inline="always")
def _test_row(gx, gy, I, cand, n, te, p, verdicts):
    """The rule for row block I against the column blocks ``cand[:n]``: fills
    ``verdicts[:n]`` and returns the position in ``cand`` of the row's best partner,
    -1 without candidates.

    The rule: the upper bound of the plan's exponent over the block pair (I, J) against
    -tau eps. With t = c_J - c_I, the cost's gradient at the centres is -t (p = 2) or its
    direction (p = 1; any vector of the unit ball, 0 here, where the centres coincide:
    |x - y| is convex). For p = 2 the smaller of the linear slack and the curvature
    bound: h(|u|) + max_eta s . eta and h(|v|) + max_delta s . delta, with the slopes
    u = A_I + t, v = B_J - t, s = u + v = A_I + B_J and
    h(t) = max_{|w| <= r_I + r_J} t |w| - |w|^2 / 2.

    The best partner has the largest G_J - C(c_I, c_J), the score without the row's own
    constant F_I, so that rows of zero mass rank their partners too, and partners of zero
    mass (G_J = -inf) come last: a row must never keep only columns of zero mass (its
    softmin would be +inf, and 0 * inf a NaN in the value).

    The rule is written out in the loop, the column side read in place: a per-pair
    helper taking the arrays, or a tuple or a view unpacked per pair, costs numba
    reference counts, and ran 4-10x slower (250 ns per pair, 25 ns here)."""
    (cx, F, A, E, U, R, rx), (cy, G, B, H, V, S, ry) = gx, gy
    D = cx.shape[1]
    t, zero = np.empty(D), np.zeros(D)
    cI, AI, UI, RI, FI, EI, rI = cx[I], A[I], U[I], R[I], F[I], E[I], rx[I]
    best, top = -1, -np.inf
    for q in range(n):
        J = cand[q]
        d2 = 0.0
        for e in range(D):
            t[e] = cy[J, e] - cI[e]
            d2 += t[e] * t[e]
        cost = 0.5 * d2 if p == 2 else np.sqrt(d2)
        if G[J] - cost > top or best < 0:
            top, best = G[J] - cost, q
        scale = 1.0
        if p == 1:
            scale = 1.0 / np.sqrt(d2) if d2 > 0.0 else 0.0
        bound = FI + G[J] - cost + EI + H[J]
        slack = _spread(AI, t, scale, UI, RI) + _spread_of(B, J, zero, t, -scale, V, S)
        if p == 2 and bound + slack >= -te:  # the curvature bound is only ever smaller
            nu = nv = 0.0
            for e in range(D):
                nu += (AI[e] + t[e]) ** 2
                nv += (B[J, e] - t[e]) ** 2
            r = rI + ry[J]
            on_y = _peak(np.sqrt(nu), r) + _spread_of(B, J, AI, zero, 0.0, V, S)
            on_x = 0.0
            for k in range(D):
                proj = 0.0
                for e in range(D):
                    proj += (AI[e] + B[J, e]) * UI[e, k]
                on_x += abs(proj) * RI[k]
            slack = min(slack, on_y, _peak(np.sqrt(nv), r) + on_x)
        verdicts[q] = bound + slack >= -te
    return best


@njit(cache=True)
def _row_candidates(I, cptr, cidx, child_ptr, child_idx, out) -> int:
    """Fine candidates of a fine row: children of the coarse columns its parent keeps."""
    n = 0
    for q in range(cptr[I], cptr[I + 1]):
        J = cidx[q]
        for t in range(child_ptr[J], child_ptr[J + 1]):
            out[n] = child_idx[t]
            n += 1
    return n


@njit(cache=True)
def _candidate_widths(cptr, cidx, child_ptr):
    """The fine candidates of each coarse row (the children of its kept columns), and
    the largest count (at least 1: the size of a row's candidate buffer)."""
    widths = np.zeros(cptr.shape[0] - 1, dtype=np.int64)
    for I in range(cptr.shape[0] - 1):
        for q in range(cptr[I], cptr[I + 1]):
            widths[I] += child_ptr[cidx[q] + 1] - child_ptr[cidx[q]]
    return widths, max(1, widths.max()) if widths.shape[0] else 1


@njit(parallel=True, cache=True)
def select_blocks(gx, gy, parent, cptr, cidx, child_ptr, child_idx, te, p):
    """Kept fine blocks (CSR over the rows of x, columns sorted) and each row's best.

    Candidates of fine row i: the fine children (``child_ptr``, ``child_idx``) of the
    coarse columns kept by its coarse parent ``parent[i]`` (CSR ``cptr``, ``cidx``).
    Returns (ptr, idx, best): ``best[i]`` is the best candidate of row i (-1: none).
    """
    K = gx[0].shape[0]
    widths, wmax = _candidate_widths(cptr, cidx, child_ptr)
    starts = np.zeros(K + 1, dtype=np.int64)  # the rule's verdicts, kept for the fill
    for i in range(K):
        starts[i + 1] = starts[i] + widths[parent[i]]
    verdicts = np.empty(starts[K], dtype=np.bool_)
    counts = np.zeros(K + 1, dtype=np.int64)
    best = np.full(K, -1, dtype=np.int64)
    for i in prange(K):
        cand = np.empty(wmax, dtype=np.int64)
        n = _row_candidates(parent[i], cptr, cidx, child_ptr, child_idx, cand)
        row = verdicts[starts[i] : starts[i] + n]
        q = _test_row(gx, gy, i, cand, n, te, p, row)
        if q >= 0:
            best[i] = cand[q]
            row[q] = True  # every row keeps its best partner
        counts[i + 1] = row.sum()
    ptr = np.cumsum(counts)
    idx = np.empty(ptr[-1], dtype=np.int64)
    for i in prange(K):
        cand = np.empty(wmax, dtype=np.int64)
        n = _row_candidates(parent[i], cptr, cidx, child_ptr, child_idx, cand)
        w = ptr[i]
        for t in range(n):
            if verdicts[starts[i] + t]:
                idx[w] = cand[t]
                w += 1
        idx[ptr[i] : ptr[i + 1]].sort()
    return ptr, idx, best


@njit(parallel=True, cache=True)
def best_blocks(gx, gy, parent, cptr, cidx, child_ptr, child_idx, p):
    """The best candidate of every fine row (as a CSR of one column per row, rows
    without candidates empty): the same candidates and ranking as :func:`select_blocks`,
    without the rule, for the side whose kept pairs the other side's pass found."""
    K = gx[0].shape[0]
    wmax = _candidate_widths(cptr, cidx, child_ptr)[1]
    best = np.full(K, -1, dtype=np.int64)
    cx, (cy, G) = gx[0], gy[:2]
    for i in prange(K):
        cand = np.empty(wmax, dtype=np.int64)
        n = _row_candidates(parent[i], cptr, cidx, child_ptr, child_idx, cand)
        top = -np.inf
        for t in range(n):
            j = cand[t]
            d2 = 0.0
            for e in range(cx.shape[1]):
                d2 += (cy[j, e] - cx[i, e]) ** 2
            pj = G[j] - _cost_of(d2, p)  # the ranking of :func:`_test_row`
            if pj > top or best[i] < 0:
                top, best[i] = pj, j
    ptr = np.zeros(K + 1, dtype=np.int64)
    for i in range(K):
        ptr[i + 1] = ptr[i] + (best[i] >= 0)
    idx = np.empty(ptr[K], dtype=np.int64)
    for i in range(K):
        if best[i] >= 0:
            idx[ptr[i]] = best[i]
    return ptr, idx


@njit(cache=True)
def transpose(ptr, idx, ncols):
    """The CSR of the transposed pattern (rows sorted, since rows are visited in order)."""
    counts = np.zeros(ncols + 1, dtype=np.int64)
    for q in range(idx.shape[0]):
        counts[idx[q] + 1] += 1
    tptr = np.cumsum(counts)
    fill = tptr[:-1].copy()
    tidx = np.empty(idx.shape[0], dtype=np.int64)
    for i in range(ptr.shape[0] - 1):
        for q in range(ptr[i], ptr[i + 1]):
            j = idx[q]
            tidx[fill[j]] = i
            fill[j] += 1
    return tptr, tidx


@njit(cache=True)
def _merged_size(a, b) -> int:
    """Size of the union of two sorted lists without duplicates."""
    i = j = n = 0
    while i < a.shape[0] or j < b.shape[0]:
        if j == b.shape[0] or (i < a.shape[0] and a[i] < b[j]):
            i += 1
        elif i == a.shape[0] or b[j] < a[i]:
            j += 1
        else:
            i += 1
            j += 1
        n += 1
    return n


@njit(cache=True)
def _merge_into(a, b, out) -> None:
    i = j = n = 0
    while i < a.shape[0] or j < b.shape[0]:
        if j == b.shape[0] or (i < a.shape[0] and a[i] < b[j]):
            out[n] = a[i]
            i += 1
        elif i == a.shape[0] or b[j] < a[i]:
            out[n] = b[j]
            j += 1
        else:
            out[n] = a[i]
            i += 1
            j += 1
        n += 1


@njit(parallel=True, cache=True)
def union(ptr_a, idx_a, ptr_b, idx_b):
    """Row-wise union of two CSR patterns with the same rows (sorted, no duplicates)."""
    K = ptr_a.shape[0] - 1
    counts = np.zeros(K + 1, dtype=np.int64)
    for i in prange(K):
        a, b = idx_a[ptr_a[i] : ptr_a[i + 1]], idx_b[ptr_b[i] : ptr_b[i + 1]]
        counts[i + 1] = _merged_size(a, b)
    ptr = np.cumsum(counts)
    idx = np.empty(ptr[-1], dtype=np.int64)
    for i in prange(K):
        a, b = idx_a[ptr_a[i] : ptr_a[i + 1]], idx_b[ptr_b[i] : ptr_b[i + 1]]
        _merge_into(a, b, idx[ptr[i] : ptr[i + 1]])
    return ptr, idx


@njit(cache=True)
def dense_blocks(gx, gy, te, p):
    """Kept blocks among all Kx x Ky pairs: the rule, the best of every row and the best
    of every column. Returns the CSR (ptr, idx).

    Serial: the coarse grid is small (Kx * Ky <= ~10^7), and the parallel version was
    measured 20x slower on 2 threads (0.36 s against 0.016 s for 9 calls at 500 x 700).
    """
    (cx, F), cy = gx[:2], gy[0]
    Kx, Ky = cx.shape[0], cy.shape[0]
    keep = np.zeros((Kx, Ky), dtype=np.bool_)
    columns = np.arange(Ky)
    for I in range(Kx):
        q = _test_row(gx, gy, I, columns, Ky, te, p, keep[I])
        if q >= 0:
            keep[I, q] = True  # every row keeps its best partner
    for J in range(Ky):  # the best partner of every column too
        top, arg = -np.inf, 0
        for I in range(Kx):
            d2 = 0.0
            for e in range(cx.shape[1]):
                d2 += (cy[J, e] - cx[I, e]) ** 2
            score = F[I] - _cost_of(d2, p)
            if score > top:
                top, arg = score, I
        keep[arg, J] = True
    counts = np.zeros(Kx + 1, dtype=np.int64)
    for I in range(Kx):
        counts[I + 1] = keep[I].sum()
    ptr = np.cumsum(counts)
    idx = np.empty(ptr[-1], dtype=np.int64)
    for I in range(Kx):
        w = ptr[I]
        for J in range(Ky):
            if keep[I, J]:
                idx[w] = J
                w += 1
    return ptr, idx


@njit(cache=True)
def ranges(ptr, idx, x_offsets, y_offsets):
    """Blocks -> column ranges of the sorted y (consecutive blocks merged).

    Returns (row_ptr, col_lo, col_hi, kept point pairs).
    """
    K = ptr.shape[0] - 1
    row_ptr = np.zeros(K + 1, dtype=np.int64)
    col_lo = np.empty(idx.shape[0], dtype=np.int64)
    col_hi = np.empty(idx.shape[0], dtype=np.int64)
    n = 0
    kept = 0
    for I in range(K):
        rows = x_offsets[I + 1] - x_offsets[I]
        q = ptr[I]
        while q < ptr[I + 1]:
            J0 = idx[q]
            J1 = J0
            while q + 1 < ptr[I + 1] and idx[q + 1] == J1 + 1:
                q += 1
                J1 += 1
            col_lo[n], col_hi[n] = y_offsets[J0], y_offsets[J1 + 1]
            kept += rows * (col_hi[n] - col_lo[n])
            n += 1
            q += 1
        row_ptr[I + 1] = n
    return row_ptr, col_lo[:n], col_hi[:n], kept


@njit(parallel=True, cache=True)
def frame_moments(xs, ws, offsets, c, d, delta, mass, m, cov):
    """Per cluster (rows ``offsets[k]:offsets[k + 1]`` of the sorted xs, ws, float64):
    its mass, weighted mean m and weighted covariance about it; fills the offsets
    d = x - m and delta = x - c (c the clusters' centroids). Two passes per cluster
    (the mean, then the centred sums): as stable as the torch version it replaces."""
    K, D = offsets.shape[0] - 1, xs.shape[1]
    for k in prange(K):
        lo, hi = offsets[k], offsets[k + 1]
        s = 0.0
        for e in range(D):
            m[k, e] = 0.0
        for i in range(lo, hi):
            s += ws[i]
            for e in range(D):
                m[k, e] += ws[i] * xs[i, e]
        mass[k] = s
        for e in range(D):
            m[k, e] /= max(s, 1e-300)
        for e in range(D):
            for f in range(D):
                cov[k, e, f] = 0.0
        for i in range(lo, hi):
            for e in range(D):
                d[i, e] = xs[i, e] - m[k, e]
                delta[i, e] = xs[i, e] - c[k, e]
            for e in range(D):
                for f in range(D):
                    cov[k, e, f] += ws[i] * d[i, e] * d[i, f]


@njit(parallel=True, cache=True)
def frame_extents(delta, offsets, U, R, radius):
    """Per cluster: the extents R[k, a] = max |delta_i . U[k, :, a]| along its principal
    axes (the columns of U[k]) and its radius max |delta_i|."""
    K, D = offsets.shape[0] - 1, delta.shape[1]
    for k in prange(K):
        r = 0.0
        for a in range(D):
            R[k, a] = 0.0
        for i in range(offsets[k], offsets[k + 1]):
            n = 0.0
            for e in range(D):
                n += delta[i, e] * delta[i, e]
            r = max(r, n)
            for a in range(D):
                proj = 0.0
                for e in range(D):
                    proj += delta[i, e] * U[k, e, a]
                R[k, a] = max(R[k, a], abs(proj))
        radius[k] = np.sqrt(r)


@njit(parallel=True, cache=True)
def fit_moments(fs, ws, d, offsets, mass, mean, rhs):
    """Per cluster: the weighted mean of the sorted potential fs and the right-hand side
    sum_i w_i (f_i - mean) d_i of its least-squares slope."""
    K, D = offsets.shape[0] - 1, d.shape[1]
    for k in prange(K):
        lo, hi = offsets[k], offsets[k + 1]
        s = 0.0
        for i in range(lo, hi):
            s += ws[i] * fs[i]
        mean[k] = s / max(mass[k], 1e-300)
        for e in range(D):
            rhs[k, e] = 0.0
        for i in range(lo, hi):
            t = ws[i] * (fs[i] - mean[k])
            for e in range(D):
                rhs[k, e] += t * d[i, e]


@njit(parallel=True, cache=True)
def fit_residuals(fs, delta, offsets, F, A, E):
    """Per cluster: the largest residual of the linear fit, max_i f_i - F - A . delta_i."""
    K, D = offsets.shape[0] - 1, delta.shape[1]
    for k in prange(K):
        top = -np.inf
        for i in range(offsets[k], offsets[k + 1]):
            r = fs[i] - F[k]
            for e in range(D):
                r -= A[k, e] * delta[i, e]
            top = max(top, r)
        E[k] = top


@njit(cache=True, inline="always")
def _gather_blocks(yT, g, y_offsets, idx, qs, n, yb, gb, starts):
    """The entities of the column blocks ``idx[qs[:n]]`` (y as (D, M), g (M,)) copied
    one after the other into yb (D, width) and gb (width,); ``starts[s]`` is where
    block s begins (``starts[n]``: the total). Returns the total."""
    L = 0
    for s in range(n):
        starts[s] = L
        j0, j1 = y_offsets[idx[qs[s]]], y_offsets[idx[qs[s]] + 1]
        for e in range(yb.shape[0]):
            src, dst = yT[e, j0:j1], yb[e, L : L + j1 - j0]
            for k in range(j1 - j0):
                dst[k] = src[k]
        src, dst = g[j0:j1], gb[L : L + j1 - j0]
        for k in range(j1 - j0):
            dst[k] = src[k]
        L += j1 - j0
    starts[n] = L
    return L


@njit(cache=True, inline="always")
def _row_maxima(x, f, i0, i1, yb, gb, L, p, v):
    """v[k] = max over the rows i0:i1 of f_i + g_k - C(x_i, y_k), for the L gathered
    columns: one vectorised pass per row (fused for D = 3, p = 2)."""
    D = x.shape[1]
    for k in range(L):
        v[k] = -np.inf
    gv = gb[:L]
    for i in range(i0, i1):
        fi = f[i]
        if D == 3 and p == 2:  # the usual case
            a0, a1, a2 = x[i, 0], x[i, 1], x[i, 2]
            y0, y1, y2 = yb[0, :L], yb[1, :L], yb[2, :L]
            for k in range(L):
                d2 = (a0 - y0[k]) ** 2 + (a1 - y1[k]) ** 2 + (a2 - y2[k]) ** 2
                v[k] = max(v[k], fi + gv[k] - 0.5 * d2)
        else:
            for k in range(L):
                d2 = (x[i, 0] - yb[0, k]) ** 2
                for e in range(1, D):
                    d2 += (x[i, e] - yb[e, k]) ** 2
                v[k] = max(v[k], fi + gv[k] - (0.5 * d2 if p == 2 else np.sqrt(d2)))


@njit(cache=True, inline="always")
def _segment_max(v, starts, s):
    seg = v[starts[s] : starts[s + 1]]
    top = -np.inf
    for k in range(seg.shape[0]):
        top = max(top, seg[k])
    return top


@njit(parallel=True, fastmath=_FINITE_FREE, cache=True)
def exact_maxima(ptr, idx, x, yT, f, g, x_offsets, y_offsets, te, p):
    """For every block pair (I, J) of the CSR (ptr, idx): the largest exponent
    f_i + g_j - C(x_i, y_j) over its entity pairs (x (N, D) and f (N,) sorted by block,
    y as (D, M) and g (M,) alike), computed where it is below -te; where it reaches
    -te, a value that does (the first row's maximum).

    Per row block, its partners' entities are gathered into contiguous buffers; the
    block's first row takes its maxima over all of them in one vectorised pass, which
    settles the blocks well inside the plan's band (most of the kept ones); the others
    are gathered again and take every row (10^5 points, the last temperature: 27 ->
    20 ms; more first rows settled no more blocks)."""
    K, D = ptr.shape[0] - 1, x.shape[1]
    out = np.empty(idx.shape[0])
    width, most = 1, 1
    for I in range(K):
        w = 0
        for q in range(ptr[I], ptr[I + 1]):
            w += y_offsets[idx[q] + 1] - y_offsets[idx[q]]
        width, most = max(width, w), max(most, ptr[I + 1] - ptr[I])
    for I in prange(K):
        yb = np.empty((D, width), dtype=x.dtype)
        gb = np.empty(width, dtype=x.dtype)
        v = np.empty(width, dtype=x.dtype)
        qs = np.empty(most, dtype=np.int64)
        starts = np.empty(most + 1, dtype=np.int64)
        i0, i1 = x_offsets[I], x_offsets[I + 1]
        n = ptr[I + 1] - ptr[I]
        for s in range(n):
            qs[s] = ptr[I] + s
        L = _gather_blocks(yT, g, y_offsets, idx, qs, n, yb, gb, starts)
        _row_maxima(x, f, i0, i0 + 1, yb, gb, L, p, v)  # blocks are never empty
        m = 0  # the undecided blocks, compacted in qs
        for s in range(n):
            top = _segment_max(v, starts, s)
            out[ptr[I] + s] = top
            if top < -te:
                qs[m] = ptr[I] + s
                m += 1
        if m == 0 or i1 - i0 == 1:
            continue
        L = _gather_blocks(yT, g, y_offsets, idx, qs, m, yb, gb, starts)
        _row_maxima(x, f, i0, i1, yb, gb, L, p, v)
        for s in range(m):
            out[qs[s]] = _segment_max(v, starts, s)
    return out


@njit(cache=True, inline="always")
def _better(live, top, best_live, best_top):
    """Partners rank by mass first (one of positive mass beats any without), then by
    their maximum."""
    return (live and not best_live) or (live == best_live and top > best_top)


@njit(cache=True)
def exact_filter(ptr, idx, tops, te, live_x, live_y):
    """The block pairs of (ptr, idx) whose computed maximum ``tops`` reaches -te, and
    the best pair of every row and of every column (:func:`_better`, with the blocks'
    ``live_x``, ``live_y``: positive mass): no row or column is left without a partner,
    nor with partners of zero mass only when it had one with mass. Returns the CSR."""
    K, Ky = ptr.shape[0] - 1, live_y.shape[0]
    keep = tops >= -te
    col_q = np.full(Ky, -1, dtype=np.int64)  # each column's best so far, and its row
    col_row = np.zeros(Ky, dtype=np.int64)
    for I in range(K):
        best = -1
        for q in range(ptr[I], ptr[I + 1]):
            J = idx[q]
            if best < 0 or _better(live_y[J], tops[q], live_y[idx[best]], tops[best]):
                best = q
            c = col_q[J]
            if c < 0 or _better(live_x[I], tops[q], live_x[col_row[J]], tops[c]):
                col_q[J], col_row[J] = q, I
        if best >= 0:
            keep[best] = True
    for J in range(Ky):
        if col_q[J] >= 0:
            keep[col_q[J]] = True
    counts = np.zeros(K + 1, dtype=np.int64)
    for I in range(K):
        counts[I + 1] = keep[ptr[I] : ptr[I + 1]].sum()
    new_ptr = np.cumsum(counts)
    new_idx = np.empty(new_ptr[-1], dtype=np.int64)
    w = 0
    for q in range(idx.shape[0]):
        if keep[q]:
            new_idx[w] = idx[q]
            w += 1
    return new_ptr, new_idx
