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
def _add_block(row, j0, j1, xi, oy, hy, c, T, buf, state):
    """Adds the exponents of targets [j0, j1) to the running ``state`` = (max m, sum
    of exp(z - m), maximiser), unless their exact maximum lies ``T`` below m."""
    n = j1 - j0
    for k in range(n):
        dy = xi - (oy + row.dtype.type(j0 + k) * hy)
        buf[k] = row[j0 + k] - c * dy * dy
    best = buf[0]
    for k in range(1, n):
        best = max(best, buf[k])
    m = state[0]
    if best < m - T:
        return
    acc = state[1]
    if best > m:
        acc *= fast_exp(m - best)
        m = best
        for k in range(n):
            if buf[k] == best:
                state[2] = j0 + k
                break
    s = row.dtype.type(0.0)
    for k in range(n):
        s += fast_exp(buf[k] - m)
    state[0] = m
    state[1] = acc + s


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lse_lines(H, n_out, ox, hx, oy, hy, c, T, out, block):
    """``out[r, i] = log sum_j exp(H[r, j] - c (ox + i hx - oy - j hy)^2)``, pruned.

    From the block of the previous output's maximiser, blocks are scanned rightwards
    then leftwards; a scan stops as soon as no block beyond can matter (the maximum of
    the block maxima beyond, less the cost of the nearest of them), and a block is
    skipped when its own bound says so.
    """
    prefer_wide_vectors()
    R, n_in = H.shape
    nb = (n_in + block - 1) // block
    dt = H.dtype.type
    zero = dt(0.0)
    ox, hx, oy, hy, c, T = dt(ox), dt(hx), dt(oy), dt(hy), dt(c), dt(T)
    for r in prange(R):
        row = H[r]
        bmax = np.empty(nb, H.dtype)
        for b in range(nb):
            m = row[b * block]
            for j in range(b * block + 1, min(n_in, (b + 1) * block)):
                m = max(m, row[j])
            bmax[b] = m
        after = np.empty(nb, H.dtype)  # max of bmax[b:]
        before = np.empty(nb, H.dtype)  # max of bmax[:b + 1]
        after[nb - 1] = bmax[nb - 1]
        for b in range(nb - 2, -1, -1):
            after[b] = max(bmax[b], after[b + 1])
        before[0] = bmax[0]
        for b in range(1, nb):
            before[b] = max(bmax[b], before[b - 1])
        buf = np.empty(block, H.dtype)
        state = np.zeros(3, H.dtype)
        for i in range(n_out):
            xi = ox + dt(i) * hx
            state[0] = dt(NEG) * 2
            state[1] = zero
            b0 = int(state[2]) // block
            _add_block(row, b0 * block, min(n_in, b0 * block + block), xi, oy, hy, c, T, buf, state)
            for b in range(b0 + 1, nb):
                lo = oy + dt(b * block) * hy
                d = lo - xi if xi < lo else zero
                if after[b] - c * d * d < state[0] - T:
                    break
                if bmax[b] - c * d * d >= state[0] - T:
                    _add_block(row, b * block, min(n_in, b * block + block), xi, oy, hy, c, T,
                               buf, state)  # fmt: skip
            for b in range(b0 - 1, -1, -1):
                hi = oy + dt(min(n_in, b * block + block) - 1) * hy
                d = xi - hi if xi > hi else zero
                if before[b] - c * d * d < state[0] - T:
                    break
                if bmax[b] - c * d * d >= state[0] - T:
                    _add_block(row, b * block, min(n_in, b * block + block), xi, oy, hy, c, T,
                               buf, state)  # fmt: skip
            out[r, i] = state[0] + math.log(state[1])
