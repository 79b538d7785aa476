"""Compiled line kernel of the grid backend: a log-convolution along one axis, pruned.

On a regular grid the squared cost factorises along the axes, so a softmin on an image
or a volume is a sequence of one-dimensional log-sum-exps along lines (``_grid.py``).
Along one axis, with source cell centres :math:`x_i = o_x + i h_x` and target centres
:math:`y_j = o_y + j h_y`, every line ``r`` of ``H`` is mapped to

.. math::

    \\text{out}_{ri} = \\log \\sum_j \\exp\\big(H_{rj} - c\\,(x_i - y_j)^2\\big),
    \\qquad c = \\frac{1}{2\\varepsilon}.

Computed exactly, this costs n operations per output. :func:`lse_lines` skips whole
blocks of ``BLOCK`` targets that cannot matter: with :math:`M_b = \\max_{j \\in b} H_{rj}`
and :math:`d_{ib}` the distance from :math:`x_i` to the block's span, every exponent of
block ``b`` is at most :math:`M_b - c\\,d_{ib}^2`; when this bound, or else the exact
maximum of the block's exponents (cheap: no exponential), lies ``T`` below the
running maximum ``m`` of the exponents already summed, the block adds less than
:math:`\\text{BLOCK}\\, e^{-T}` relative to the sum and is skipped (``T`` is chosen per
dtype so that all skipped blocks together stay below the rounding error). The block
holding the previous output's maximiser is summed first: the maximiser of
:math:`H_j - c (x_i - y_j)^2` is non-decreasing in ``i`` (the cross term
:math:`2c\\,x_i y_j` is supermodular), so the running maximum starts near the true one.
The skipping follows the potentials, not the kernel alone: a transport that moves mass
by many blurs (a translated image) keeps the blocks around the *destination*, which a
kernel truncated around ``x_i`` would miss. The cost per output then grows with the
blur, not with the side of the grid; at a blur comparable to the grid, nothing is
skipped and the pyramid of coarser grids (``solvers/_pyramid.py``) takes over.

Inputs are prepared by ``_grid.py``: C-contiguous (R, n) arrays with ``-inf`` replaced
by :data:`NEG` (the kernels are compiled with ``fastmath``, which assumes finite values).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._online_exp import fast_exp, prefer_wide_vectors

#: Targets per block of the pruning test.
BLOCK = 16
#: The finite stand-in for log(0) (exp of it, and of anything near it, is exactly 0).
NEG = -1e30
FASTMATH = True


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _block_of(t, b0):
    """The t-th block visited: ``b0`` first, then every other block in order."""
    if t == 0:
        return b0
    return t - 1 if t - 1 < b0 else t


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lse_lines(H, n_out, ox, hx, oy, hy, c, T, out, block):
    """``out[r, i] = log sum_j exp(H[r, j] - c (ox + i hx - oy - j hy)^2)``, pruned."""
    prefer_wide_vectors()
    R, n_in = H.shape
    nb = (n_in + block - 1) // block
    zero = H.dtype.type(0.0)
    ox, hx, oy, hy = H.dtype.type(ox), H.dtype.type(hx), H.dtype.type(oy), H.dtype.type(hy)
    c, T = H.dtype.type(c), H.dtype.type(T)
    for r in prange(R):
        row = H[r]
        bmax = np.empty(nb, H.dtype)
        for b in range(nb):
            m = row[b * block]
            for j in range(b * block + 1, min(n_in, (b + 1) * block)):
                m = max(m, row[j])
            bmax[b] = m
        buf = np.empty(block, H.dtype)
        hint = 0
        for i in range(n_out):
            xi = ox + H.dtype.type(i) * hx
            m = H.dtype.type(NEG) * 2
            acc = zero
            first = hint // block
            for t in range(nb):
                b = _block_of(t, first)
                j0 = b * block
                j1 = min(n_in, j0 + block)
                if t > 0:
                    lo = oy + H.dtype.type(j0) * hy
                    hi = oy + H.dtype.type(j1 - 1) * hy
                    d = lo - xi if xi < lo else (xi - hi if xi > hi else zero)
                    if bmax[b] - c * d * d < m - T:
                        continue
                n = j1 - j0
                for k in range(n):
                    dy = xi - (oy + H.dtype.type(j0 + k) * hy)
                    buf[k] = row[j0 + k] - c * dy * dy
                best = buf[0]
                for k in range(1, n):
                    best = max(best, buf[k])
                if best < m - T:  # the exact bound of the block, before any exp
                    continue
                if best > m:
                    acc *= fast_exp(m - best)
                    m = best
                    for k in range(n):
                        if buf[k] == best:
                            hint = j0 + k
                            break
                s = zero
                for k in range(n):
                    s += fast_exp(buf[k] - m)
                acc += s
            out[r, i] = m + math.log(acc)
