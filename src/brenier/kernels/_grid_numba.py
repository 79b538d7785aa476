"""Compiled line kernel of the grid backend: a log-convolution along one axis, pruned.

On a regular grid the squared cost factorises along the axes, so a softmin on an image
or a volume is a sequence of one-dimensional log-sum-exps along lines (``_grid.py``).
Along one axis, with source cell centres :math:`x_i = o_x + i h_x` and target centres
:math:`y_j = o_y + j h_y`, every line ``r`` of ``H`` is mapped to

.. math::

    \\text{out}_{ri} = m_i + \\log \\sum_j \\exp\\big(E_{ij} - m_i\\big), \\qquad
    E_{ij} = H_{rj} - c\\,(x_i - y_j)^2, \\quad m_i = \\max_j E_{ij}, \\quad
    c = \\frac{1}{2\\varepsilon}.

Computed exactly, this costs n exponentials per output. :func:`lse_lines` takes the
outputs :data:`LANES` at a time, one per SIMD lane (the loops over lanes compile to
vector instructions, the exponential to :func:`~._online_exp.fast_exp`), and the
targets in blocks of ``block``, in two passes over the same blocks:

1. the exact maxima :math:`m_i` (no exponential), visiting first the block of the
   previous group's maximiser, then the blocks to its right and to its left;
2. the sums of :math:`e^{E_{ij} - m_i}` (every term at most 1, no rescaling).

A block ``b`` is skipped when, for every lane, the bound :math:`M_b - c\\,d_{ib}^2` of
its exponents (:math:`M_b = \\max_{j \\in b} H_{rj}`, :math:`d_{ib}` the distance from
:math:`x_i` to the block's span) lies ``T`` below the running maximum: it adds less
than :math:`\\text{block}\\; e^{-T}` relative to the sum (``T`` is chosen per dtype so
that all skipped blocks together stay below the rounding error). A scan stops when
the same bound, with the largest :math:`M_b` of all blocks beyond, says nothing beyond
can matter. The maximiser of :math:`E_{ij}` is non-decreasing in ``i`` (the cross
term :math:`2c\\,x_i y_j` is supermodular), so the previous group's maximiser starts
the running maxima near the true ones. The skipping follows the potentials, not the
kernel alone: a transport that moves mass by many blurs (a translated image) keeps the
blocks around the *destination*, which a kernel truncated around ``x_i`` would miss.
The cost per output then grows with the blur, not with the side of the grid; at a
blur comparable to the grid, nothing is skipped and the pyramid of coarser grids
(``solvers/_pyramid.py``) takes over.

A line without mass (every value at most ``NEG / 2``: the lines of a sparse image that
miss its shape) maps to ``NEG`` at once, instead of summing all its blocks.

Inputs are prepared by ``_grid.py``: C-contiguous (R, n) arrays with ``-inf`` replaced
by :data:`NEG` (the kernels are compiled with ``fastmath``, which assumes finite values).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._online_exp import fast_exp, prefer_wide_vectors

#: Targets per block of the pruning test.
BLOCK = 8
#: Outputs computed together, one per SIMD lane (16 float32 in an AVX-512 register).
LANES = 16
#: The finite stand-in for log(0) (exp of it, and of anything near it, is exactly 0).
NEG = -1e30
#: Beyond every cell centre: the open end of a one-sided span.
FAR = 1e30
FASTMATH = True


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _reach(xs, m, lo, hi, bound, c, T):
    """How many lanes ``l`` a block spanning [lo, hi] with exponents at most
    ``bound - c d^2`` (d: distance from ``xs[l]`` to the span) can reach: those
    within ``T`` of their running maximum ``m[l]``."""
    zero = xs.dtype.type(0.0)
    count = 0
    for lane in range(xs.shape[0]):
        x = xs[lane]
        d = lo - x if x < lo else (x - hi if x > hi else zero)
        count += bound - c * d * d >= m[lane] - T
    return count


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _maxima(row, j0, j1, xs, m, oy, hy, c):
    """``m[l] = max(m[l], E_lj)`` over the targets [j0, j1); returns the largest
    exponent of the last lane (to find the next group's starting block)."""
    dt = row.dtype.type
    last = xs[xs.shape[0] - 1]
    top = dt(NEG) * 2
    for j in range(j0, j1):
        y, h = oy + dt(j) * hy, row[j]
        for lane in range(xs.shape[0]):
            d = xs[lane] - y
            m[lane] = max(m[lane], h - c * d * d)
        d = last - y
        top = max(top, h - c * d * d)
    return top


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _sums(row, j0, j1, xs, m, s, oy, hy, c):
    """``s[l] += exp(E_lj - m[l])`` over the targets [j0, j1)."""
    dt = row.dtype.type
    for j in range(j0, j1):
        y, h = oy + dt(j) * hy, row[j]
        for lane in range(xs.shape[0]):
            d = xs[lane] - y
            s[lane] += fast_exp(h - c * d * d - m[lane])


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _block_maxima(row, nb, block):
    """The maximum of every block of ``row``, and its running maxima from the right
    (``after[b]``: blocks b and beyond) and from the left (``before[b]``)."""
    n = row.shape[0]
    bmax = np.empty(nb, row.dtype)
    for b in range(nb):
        top = row[b * block]
        for j in range(b * block + 1, min(n, (b + 1) * block)):
            top = max(top, row[j])
        bmax[b] = top
    after = np.empty(nb, row.dtype)
    before = np.empty(nb, row.dtype)
    after[nb - 1] = bmax[nb - 1]
    for b in range(nb - 2, -1, -1):
        after[b] = max(bmax[b], after[b + 1])
    before[0] = bmax[0]
    for b in range(1, nb):
        before[b] = max(bmax[b], before[b - 1])
    return bmax, after, before


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lse_lines(H, n_out, ox, hx, oy, hy, c, T, out, block):
    """``out[r, i] = log sum_j exp(H[r, j] - c (ox + i hx - oy - j hy)^2)``, pruned."""
    prefer_wide_vectors()
    R, n_in = H.shape
    nb = (n_in + block - 1) // block
    dt = H.dtype.type
    ox, hx, oy, hy, c, T = dt(ox), dt(hx), dt(oy), dt(hy), dt(c), dt(T)
    for r in prange(R):
        row = H[r]
        bmax, after, before = _block_maxima(row, nb, block)
        if after[0] <= dt(NEG) / 2:  # no mass on this line: nothing to sum
            for i in range(n_out):
                out[r, i] = dt(NEG)
            continue
        xs = np.empty(LANES, H.dtype)
        m = np.empty(LANES, H.dtype)
        s = np.empty(LANES, H.dtype)
        kept = np.empty(nb, np.int64)
        start = 0
        for i0 in range(0, n_out, LANES):
            for lane in range(LANES):  # lanes past the end repeat the last output
                xs[lane] = ox + dt(min(i0 + lane, n_out - 1)) * hx
                m[lane] = dt(NEG) * 2
                s[lane] = dt(0.0)
            # Pass 1: the exact maxima, and the blocks that can matter.
            kept[0], k, arg = start, 1, start
            top = _maxima(row, start * block, min(n_in, start * block + block), xs, m, oy, hy, c)
            for b in range(start + 1, nb):
                lo, hi = oy + dt(b * block) * hy, oy + dt(min(n_in, b * block + block) - 1) * hy
                if _reach(xs, m, lo, dt(FAR), after[b], c, T) == 0:
                    break
                if _reach(xs, m, lo, hi, bmax[b], c, T) > 0:
                    kept[k], k = b, k + 1
                    v = _maxima(row, b * block, min(n_in, b * block + block), xs, m, oy, hy, c)
                    if v > top:
                        top, arg = v, b
            for b in range(start - 1, -1, -1):
                lo, hi = oy + dt(b * block) * hy, oy + dt(min(n_in, b * block + block) - 1) * hy
                if _reach(xs, m, dt(-FAR), hi, before[b], c, T) == 0:
                    break
                if _reach(xs, m, lo, hi, bmax[b], c, T) > 0:
                    kept[k], k = b, k + 1
                    v = _maxima(row, b * block, min(n_in, b * block + block), xs, m, oy, hy, c)
                    if v > top:
                        top, arg = v, b
            start = arg
            # Pass 2: the sums over the kept blocks still within reach of the exact maxima.
            for q in range(k):
                b = kept[q]
                lo, hi = oy + dt(b * block) * hy, oy + dt(min(n_in, b * block + block) - 1) * hy
                if _reach(xs, m, lo, hi, bmax[b], c, T) > 0:
                    _sums(row, b * block, min(n_in, b * block + block), xs, m, s, oy, hy, c)
            for lane in range(min(LANES, n_out - i0)):
                out[r, i0 + lane] = m[lane] + math.log(s[lane])
