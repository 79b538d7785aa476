"""The grid backend: softmins on images and volumes as separable log-convolutions.

For :math:`C(x, y) = |x - y|^2/2` between two regular grids the exponent splits along
the axes, :math:`C/\\varepsilon = \\sum_d (x_d - y_d)^2 / 2\\varepsilon`, so

.. math::

    \\operatorname{softmin}_\\varepsilon(x; y, h) = -\\varepsilon \\log \\sum_{j_1}
    e^{-(x_1 - y_{j_1})^2/2\\varepsilon} \\cdots \\sum_{j_D}
    e^{-(x_D - y_{j_D})^2/2\\varepsilon}\\, e^{h_{j_1 \\dots j_D}}

is D one-dimensional log-sum-exps, one axis after the other (:func:`_axis_lse`), each
in log space (no FFT, no real-domain convolution: both lose every digit once the
potentials vary by more than ~80 units of eps across the grid, which happens at a
blur of a few cells). A softmin costs :math:`O(D\\, n^D w)` instead of
:math:`O(n^{2D})`, with ``w`` the number of targets per line within reach of the
potentials (``_grid_numba.py``: blocks that cannot matter are skipped).

Gradients: each axis is an autograd function whose backward is two log-convolutions
along the reversed axis (the positive and negative parts of the incoming gradient),
:math:`\\partial \\text{out}_i / \\partial H_j = e^{H_j - c(x_i - y_j)^2 - \\text{out}_i}`,
so divergences between images differentiate wrt. the densities at the same cost.
On other devices than the CPU, the same per-axis reduction runs as a chunked dense
``torch.logsumexp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import PREFIX
from ..geometry import Cost, Grid
from ._grid_numba import NEG, lse_axis

#: Pruning thresholds ``T`` per dtype: skipped blocks weigh < n e^{-T}, below rounding.
_THRESHOLD = {torch.float32: 24.0, torch.float64: 46.0}
#: Elements of the (lines, n_out, n_in) block of the dense fallback per chunk.
_CHUNK = 1 << 22


@dataclass(frozen=True)
class Axis:
    """One axis of a pair of grids: centres ``ox + i hx`` (n_out) and ``oy + j hy`` (n_in)."""

    n_out: int
    ox: float
    hx: float
    n_in: int
    oy: float
    hy: float

    def reversed(self) -> Axis:
        return Axis(self.n_in, self.oy, self.hy, self.n_out, self.ox, self.hx)


def _finite(t: Tensor) -> Tensor:
    """``-inf`` (and anything below ``NEG``) replaced by ``NEG``, C-contiguous, in one
    pass over ``t`` (a strided view is gathered by the clamp itself)."""
    out = torch.empty(t.shape, dtype=t.dtype, device=t.device)
    return torch.clamp(t, min=NEG, out=out)


def _lines(H: Tensor, dim: int, axis: Axis, c: float, finite: bool = False) -> Tensor:
    """The log-convolution of H along ``dim`` (size n_in -> n_out), contiguous, values
    >= ``NEG``-ish. On the CPU the lines are read in place (``lse_axis`` on H viewed as
    (P, n_in, Q)); elsewhere they are moved last for the dense reduction. ``finite``:
    H is already contiguous and >= ``NEG`` (an output of this function), no clamp."""
    shape = tuple(H.shape)
    if H.device.type == "cpu" and H.dtype in _THRESHOLD:
        before, after = math.prod(shape[:dim]), math.prod(shape[dim + 1 :])
        out = torch.empty(*shape[:dim], axis.n_out, *shape[dim + 1 :], dtype=H.dtype)
        if out.numel() > 0:
            src = H if finite and H.is_contiguous() else _finite(H)
            lse_axis(
                src.reshape(before, axis.n_in, after).numpy(), axis.n_out,
                axis.ox, axis.hx, axis.oy, axis.hy, c, _THRESHOLD[H.dtype],
                out.reshape(before, axis.n_out, after).numpy(),
            )  # fmt: skip
        return out
    moved = H.movedim(dim, -1)
    lines = dense_lines(_finite(moved).reshape(-1, axis.n_in), axis, c)
    return lines.reshape(*moved.shape[:-1], axis.n_out).movedim(-1, dim).contiguous()


def dense_lines(lines: Tensor, axis: Axis, c: float) -> Tensor:
    """The same log-convolution of finite lines (R, n_in) -> (R, n_out), every target
    summed (``torch.logsumexp`` in chunks): the path off the CPU, and the reference."""
    x = axis.ox + axis.hx * torch.arange(axis.n_out, dtype=lines.dtype, device=lines.device)
    y = axis.oy + axis.hy * torch.arange(axis.n_in, dtype=lines.dtype, device=lines.device)
    cost = c * (x[:, None] - y[None, :]) ** 2
    step = max(1, _CHUNK // max(1, axis.n_out * axis.n_in))
    chunks = [
        torch.logsumexp(lines[k : k + step, None, :] - cost, dim=-1)
        for k in range(0, lines.shape[0], step)
    ]
    return torch.cat(chunks) if chunks else lines.new_empty(0, axis.n_out)


class _AxisLSE(torch.autograd.Function):
    """``out = log sum_j exp(H_j - c (x_i - y_j)^2)`` along ``dim``, with its backward."""

    @staticmethod
    def forward(ctx, H: Tensor, dim: int, axis: Axis, c: float, finite: bool) -> Tensor:
        out = _lines(H.detach(), dim, axis, c, finite)
        ctx.save_for_backward(H, out)
        ctx.dim, ctx.axis, ctx.c = dim, axis, c
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        H, out = ctx.saved_tensors
        live_out = out > NEG / 2
        live_in = H > NEG / 2
        grad_h = torch.zeros_like(H)
        for sign in (1.0, -1.0):
            part = (sign * grad).clamp(min=0)
            keep = (part > 0) & live_out
            log_part = torch.where(keep, part.clamp(min=1e-300).log() - out, NEG)
            if not bool(keep.any()):
                continue
            back = _lines(log_part, ctx.dim, ctx.axis.reversed(), ctx.c)
            grad_h = grad_h + sign * torch.where(live_in, torch.exp(H + back), 0.0)
        return grad_h, None, None, None, None


def _axis_lse(H: Tensor, dim: int, axis: Axis, c: float, finite: bool = False) -> Tensor:
    """The log-convolution of ``H`` along ``dim`` (size n_in -> n_out); ``finite``: H
    is the output of a previous axis (contiguous, no ``-inf``)."""
    return _AxisLSE.apply(H, dim, axis, c, finite)


@dataclass(frozen=True)
class GridPair:
    """The interaction between the grids x (source) and y (target), for :math:`|x-y|^2/2`.

    The softmin maps a (B, M) function on the cells of y (C order) to (B, N) on x.
    """

    axes: tuple[Axis, ...]
    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]

    @classmethod
    def between(cls, x: Grid, y: Grid) -> GridPair:
        if x.dim != y.dim:
            raise ValueError(f"{PREFIX} grids of dimensions {x.dim} and {y.dim} cannot be paired.")
        axes = tuple(
            Axis(nx, ox, hx, ny, oy, hy)
            for nx, ox, hx, ny, oy, hy in zip(
                x.shape, x.origin, x.spacing, y.shape, y.origin, y.spacing, strict=True
            )
        )
        return cls(axes, x.shape, y.shape)

    def log_convolve(self, eps: float, h: Tensor) -> Tensor:
        """:math:`\\log \\sum_j e^{h_j - C(x_i, y_j)/\\varepsilon}`: (B, M) -> (B, N)."""
        c = 0.5 / eps
        H = h.reshape(h.shape[0], *self.y_shape)
        for d, axis in enumerate(self.axes):
            H = _axis_lse(H, d + 1, axis, c, finite=d > 0)
        return H.reshape(h.shape[0], -1)

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        return -eps * self.log_convolve(eps, h)

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        """:math:`\\sum_j \\mathrm{softmax}_j(h_j - C_{ij}/\\varepsilon)\\, v_j`: one
        log-convolution of ``h + log(v - min v)`` per column (then shifted back), so no
        cancellation between positive and negative parts."""
        log_norm = self.log_convolve(eps, h)
        low = v.amin(dim=-2, keepdim=True)
        shifted = v - low
        columns = []
        for e in range(v.shape[-1]):
            part = shifted[..., e]
            log_part = torch.where(part > 0, part.clamp(min=1e-300).log(), NEG)
            columns.append(torch.exp(self.log_convolve(eps, h + log_part) - log_norm))
        return torch.stack(columns, dim=-1) + low


class GridBackend:
    """Separable log-convolutions between regular grids (:class:`~brenier.geometry.Grid`).

    Memory-linear and exact to rounding (``_grid_numba.py``); ``auto`` picks it when
    both measures are grids and the cost is :math:`|x - y|^2/2`. It needs the grids
    themselves, not their cell centres: the solver calls :meth:`pair_grids`.
    """

    name = "grid"
    memory_linear = True

    def supports(self, cost: Cost) -> bool:
        return cost.function is None and cost.exponent == 2

    def pair_grids(self, x: Grid, y: Grid, cost: Cost) -> GridPair:
        if not self.supports(cost):
            raise ValueError(
                f"{PREFIX} the grid backend computes the cost |x-y|^2/2 only (p=2), not "
                f"{cost.name}; use backend='online' on the cell centres."
            )
        return GridPair.between(x, y)

    def pair(self, x: Tensor, y: Tensor, cost: Cost) -> GridPair:
        raise TypeError(
            f"{PREFIX} the grid backend works on Grid geometries (images and volumes), not on "
            "point clouds; pass brenier.geometry.Grid measures, or use backend='auto'."
        )
