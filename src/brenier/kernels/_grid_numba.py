"""Compiled line kernel of the grid backend: log-convolutions along one axis, pruned.

On a regular grid the squared cost factorises along the axes, so a softmin on an image
or a volume is a sequence of one-dimensional log-sum-exps along lines (``_grid.py``).
Along one axis, with source cell centres :math:`x_i = o_x + i h_x` and target centres
:math:`y_j = o_y + j h_y`, every line ``r`` of ``H`` is mapped to

.. math::

    \\text{out}_{ri} = m_{ri} + \\log \\sum_j \\exp\\big(E_{rij} - m_{ri}\\big), \\qquad
    E_{rij} = H_{rj} - c\\,(x_i - y_j)^2, \\quad m_{ri} = \\max_j E_{rij}, \\quad
    c = \\frac{1}{2\\varepsilon}.

Computed exactly, this costs n exponentials per output. :func:`lse_axis` reads an
array in place as (P, n, Q), the lines running along the middle axis (stride Q), so
the lines along any axis of an image or a volume need no transposed copy. It takes
the lines :data:`LANES` at a time, one per SIMD lane: a group's lines are copied into
a (n, LANES) block, so that a target ``j`` is one vector load and its cost
:math:`c\\,(x_i - y_j)^2` one scalar shared by all lanes (the loops over lanes compile
to vector instructions, the exponential to :func:`~._online_exp.fast_exp`). Every
output ``i`` then takes two passes over a window of targets:

1. the exact maxima :math:`m_{ri}` over the previous output's window, which is
   extended to the right (left) while a target beyond it could come within ``T`` of
   some lane's running maximum: the bound is the lane's largest value beyond
   (its suffix or prefix maximum) minus the cost at the nearest distance. Its left
   end then moves on while nothing at or left of it can matter any more;
2. the sums of :math:`e^{E_{rij} - m_{ri}}` (every term at most 1, no rescaling) over
   the window's targets within ``T`` of some lane's maximum.

Targets left out lie ``T`` below the maximum for every lane: together they weigh less
than :math:`n e^{-T}` relative to the sum (``T`` is chosen per dtype so that this
stays below the rounding error). The window follows the potentials, not the kernel
alone: a transport that moves mass by many blurs (a translated image) keeps the
targets around the *destination*, which a kernel truncated around ``x_i`` would miss.
Its maximisers move right with ``i`` (the cross term :math:`2c\\,x_i y_j` is
supermodular), so the window slides and costs about its width per output: the cost
grows with the blur, not with the side of the grid. At a blur comparable to the grid
nothing is left out, and the pyramid of coarser grids (``solvers/_pyramid.py``) takes
over.

A group of lines without mass (every value at most ``NEG / 2``: lines of a sparse image
that miss its shape) maps to ``NEG`` at once. Inputs are prepared by ``_grid.py``:
C-contiguous arrays with ``-inf`` replaced by :data:`NEG` (the kernels are compiled
with ``fastmath``, which assumes finite values).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._online_exp import fast_exp, fast_max, prefer_wide_vectors

#: Lines computed together, one per SIMD lane (16 float32 in an AVX-512 register).
LANES = 16
#: The finite stand-in for log(0) (exp of it, and of anything near it, is exactly 0).
NEG = -1e30
FASTMATH = True


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _raise_maxima(X, j, cd2, m, width):
    """``m[l] = max(m[l], X[j, l] - cd2)`` for every lane."""
    for lane in range(min(width, LANES)):
        m[lane] = fast_max(m[lane], X[j, lane] - cd2)


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _gap(bounds, j, m, width):
    """``max_l (bounds[j, l] - m[l])``: a target (or all beyond it) can matter for some
    lane iff this is at least ``c d^2 - T``."""
    gap = m.dtype.type(2.0 * NEG)
    for lane in range(min(width, LANES)):
        gap = fast_max(gap, bounds[j, lane] - m[lane])
    return gap


@njit(fastmath=FASTMATH, cache=True)
def _group(H, out, base, out_base, lines, width, n_in, n_out, Q, ox, hx, oy, hy, c, T,
           X, Y, after, before, m, s):  # fmt: skip
    """The log-convolution of one group of ``lines`` <= LANES lines (``width`` = LANES,
    passed at run time so that LLVM vectorises the loops over lanes rather than
    unrolling them): line ``l`` is ``H[base[l] + j Q]``, its outputs
    ``out[out_base[l] + i Q]``."""
    prefer_wide_vectors()
    dt = X.dtype.type
    low = dt(NEG) * dt(2.0)
    for j in range(n_in):  # the group's lines as (targets, lanes), unused lanes empty
        for lane in range(lines):
            X[j, lane] = H[base[lane] + j * Q]
        for lane in range(lines, LANES):
            X[j, lane] = low
    for lane in range(min(width, LANES)):
        after[n_in - 1, lane] = X[n_in - 1, lane]
        before[0, lane] = X[0, lane]
    for j in range(n_in - 2, -1, -1):
        for lane in range(min(width, LANES)):
            after[j, lane] = fast_max(X[j, lane], after[j + 1, lane])
    for j in range(1, n_in):
        for lane in range(min(width, LANES)):
            before[j, lane] = fast_max(X[j, lane], before[j - 1, lane])
    top = low
    for lane in range(min(width, LANES)):
        top = fast_max(top, after[0, lane])
    if top <= dt(NEG) / 2:  # no mass on these lines: nothing to sum
        for i in range(n_out):
            for lane in range(lines):
                out[out_base[lane] + i * Q] = dt(NEG)
        return
    lo, hi = 0, 1  # the window [lo, hi) of targets
    for i in range(n_out):
        x = ox + dt(i) * hx
        for lane in range(min(width, LANES)):
            m[lane] = low
            s[lane] = dt(0.0)
        # Pass 1: the exact maxima over the window, extended while targets can matter.
        for j in range(lo, hi):
            d = x - (oy + dt(j) * hy)
            _raise_maxima(X, j, c * d * d, m, width)
        while hi < n_in:
            d = x - (oy + dt(hi) * hy)
            if d <= 0 and _gap(after, hi, m, width) < c * d * d - T:
                break  # nothing at or right of hi can matter
            _raise_maxima(X, hi, c * d * d, m, width)
            hi += 1
        while lo > 0:
            d = x - (oy + dt(lo - 1) * hy)
            if d >= 0 and _gap(before, lo - 1, m, width) < c * d * d - T:
                break  # nothing at or left of lo - 1 can matter
            _raise_maxima(X, lo - 1, c * d * d, m, width)
            lo -= 1
        while lo < hi - 1:  # the left end moves on while nothing at or left of it matters
            d = x - (oy + dt(lo) * hy)
            if d < 0 or _gap(before, lo, m, width) >= c * d * d - T:
                break
            lo += 1
        # Pass 2: the sums over the window's targets within reach of some lane's maximum.
        for j in range(lo, hi):
            d = x - (oy + dt(j) * hy)
            cd2 = c * d * d
            if _gap(X, j, m, width) < cd2 - T:
                continue
            for lane in range(min(width, LANES)):
                s[lane] += fast_exp(X[j, lane] - cd2 - m[lane])
        for lane in range(lines):
            Y[i, lane] = m[lane] + math.log(s[lane])
    for i in range(n_out):
        for lane in range(lines):
            out[out_base[lane] + i * Q] = Y[i, lane]


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lse_axis(H, n_out, ox, hx, oy, hy, c, T, out):
    """``out[p, i, q] = log sum_j exp(H[p, j, q] - c (ox + i hx - oy - j hy)^2)``,
    pruned; ``H`` (P, n_in, Q) and ``out`` (P, n_out, Q) C-contiguous, finite."""
    P, n_in, Q = H.shape
    dt = H.dtype.type
    ox, hx, oy, hy, c, T = dt(ox), dt(hx), dt(oy), dt(hy), dt(c), dt(T)
    flat, flat_out = H.reshape(-1), out.reshape(-1)
    R = P * Q
    for g in prange((R + LANES - 1) // LANES):
        r0 = g * LANES
        lines = min(LANES, R - r0)
        base = np.empty(LANES, np.int64)
        out_base = np.empty(LANES, np.int64)
        for lane in range(lines):
            p, q = (r0 + lane) // Q, (r0 + lane) % Q
            base[lane] = p * n_in * Q + q
            out_base[lane] = p * n_out * Q + q
        _group(
            flat, flat_out, base, out_base, lines, base.shape[0], n_in, n_out, Q,
            ox, hx, oy, hy, c, T,
            np.empty((n_in, LANES), H.dtype), np.empty((n_out, LANES), H.dtype),
            np.empty((n_in, LANES), H.dtype), np.empty((n_in, LANES), H.dtype),
            np.empty(LANES, H.dtype), np.empty(LANES, H.dtype),
        )  # fmt: skip
