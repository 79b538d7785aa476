"""The block-sparse :class:`~brenier.kernels.PairKernel`: softmin over kept blocks only.

Points are sorted by cluster inside the kernel: it takes and returns tensors in the
user's order (gathers with autograd), so the solver and the semi-dual value code use
it like any other backend. Batched inputs are processed item by item (each item has
its own clusters). Gradients of the softmin wrt. x, y and h follow ``_online.py``,
restricted to the kept pairs: the gradient of the truncated softmin, which differs
from the exact one by the truncated mass (below :math:`e^{-\\tau}`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from ..._validation import PREFIX
from . import _block_sparse_numba as _nb
from ._truncation import BlockSparsity


@dataclass(frozen=True)
class SortedPair:
    """One batch item: sorting permutations of both clouds and the kept blocks.

    Attributes:
        x_perm: (N,) user index of each sorted x (``x[x_perm]`` is sorted).
        x_inverse: (N,) sorted position of each user x.
        y_perm: (M,) user index of each sorted y.
        blocks: kept blocks of the sorted clouds.
    """

    x_perm: Tensor
    x_inverse: Tensor
    y_perm: Tensor
    blocks: BlockSparsity


def _np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _finite(t: Tensor) -> Tensor:
    return t.detach().clamp_min(-float(torch.finfo(t.dtype).max) / 16)


def _scale(x: Tensor, eps: float) -> np.floating:
    return (np.float32 if x.dtype == torch.float32 else np.float64)(0.5 / eps)


def _structure(s: BlockSparsity) -> tuple[np.ndarray | int, ...]:
    return s.x_offsets, s.row_ptr, s.col_lo, s.col_hi, s.width


def block_lse(x: Tensor, y: Tensor, h: Tensor, eps: float, s: BlockSparsity) -> Tensor:
    """Block-sparse log-sum-exp of sorted x (N, D), y (M, D), h (M,): (N,)."""
    out = torch.empty(x.shape[0], dtype=x.dtype)
    K = s.x_offsets.shape[0] - 1
    _nb.lse_kernel(  # type: ignore[call-arg]
        _np(x),
        _np(y.T),
        _np(_finite(h)),
        _scale(x, eps),
        2,
        *_structure(s),
        _nb.thread_chunks(K),
        out.numpy(),
    )
    if not bool((h > -math.inf).any()):
        out.fill_(-math.inf)
    return out


class _BlockSoftmin(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x, y, h, eps, s):
        lse = block_lse(x, y, h, eps, s)
        ctx.save_for_backward(x, y, h, lse)
        ctx.eps, ctx.s = eps, s  # type: ignore[attr-defined]
        return lse.mul(-eps)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, h, lse = ctx.saved_tensors
        eps, s = ctx.eps, ctx.s
        a = torch.where(lse > -math.inf, -lse, -math.inf)
        grad = torch.where(lse > -math.inf, grad, 0).contiguous()
        N, D = x.shape
        T = max(1, min(s.x_offsets.shape[0] - 1, numba.get_num_threads()))
        gx = torch.empty(N, D, dtype=x.dtype)
        cS = torch.zeros(T, y.shape[0], dtype=x.dtype)
        cG = torch.zeros(T, D, y.shape[0], dtype=x.dtype)
        _nb.softmin_backward_kernel(
            _np(x),
            _np(y.T),
            _np(_finite(a)),
            _np(grad),
            _np(_finite(h)),
            _scale(x, eps),
            2,
            *_structure(s),
            gx.numpy(),
            cS.numpy(),
            cG.numpy(),
        )
        return gx, cG.sum(0).T, cS.sum(0).mul_(-eps), None, None


def _planvec(x: Tensor, y: Tensor, a: Tensor, h: Tensor, v: Tensor, eps: float, s) -> Tensor:
    out = torch.empty(x.shape[0], v.shape[-1], dtype=x.dtype)
    K = s.x_offsets.shape[0] - 1
    _nb.planvec_kernel(  # type: ignore[call-arg]
        _np(x),
        _np(y.T),
        _np(_finite(a)),
        _np(_finite(h)),
        _np(v.T),
        _scale(x, eps),
        2,
        *_structure(s),
        _nb.thread_chunks(K),
        out.numpy(),
    )
    return out


@dataclass(frozen=True)
class BlockSparsePair:
    """The truncated interaction between x (B, N, D) and y (B, M, D), p = 2.

    Attributes:
        x, y: the clouds in the user's order (autograd flows through them).
        items: per batch item, the sorting and the kept blocks.
    """

    x: Tensor
    y: Tensor
    items: tuple[SortedPair, ...]

    @property
    def kept_fraction(self) -> float:
        """Fraction of the N x M point pairs that the kernel visits (over the batch)."""
        B, N, _ = self.x.shape
        return sum(it.blocks.kept_pairs for it in self.items) / (B * N * self.y.shape[1])

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        """Truncated soft distance transform, h (B, M) -> (B, N).

        .. math:: -\\varepsilon \\log \\sum_{j \\in \\text{kept}(i)}
                  \\exp(h_j - |x_i - y_j|^2 / 2\\varepsilon)
        """
        x, y, h = _cast(self.x, self.y, h)
        out = []
        for b, it in enumerate(self.items):
            xs, ys, hs = x[b, it.x_perm], y[b, it.y_perm], h[b, it.y_perm]
            s = _BlockSoftmin.apply(xs, ys, hs, float(eps), it.blocks)
            out.append(s[it.x_inverse])
        return torch.stack(out).to(self.x.dtype)

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        """Truncated softmax-weighted sum, h (B, M), v (B, M, E) -> (B, N, E).

        Forward only in this version: raises if a gradient is required.
        """
        if torch.is_grad_enabled() and any(t.requires_grad for t in (self.x, self.y, h, v)):
            raise NotImplementedError(
                f"{PREFIX} the multiscale backend's softmax_sum has no gradient yet; call it "
                "under torch.no_grad() or use backend='online'."
            )
        x, y, h, v = _cast(self.x, self.y, h, v)
        out = []
        for b, it in enumerate(self.items):
            xs, ys, hs, vs = x[b, it.x_perm], y[b, it.y_perm], h[b, it.y_perm], v[b, it.y_perm]
            a = -block_lse(xs, ys, hs, eps, it.blocks)
            out.append(_planvec(xs, ys, a, hs, vs, float(eps), it.blocks)[it.x_inverse])
        return torch.stack(out).to(self.x.dtype)


def _cast(x: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """float16/bfloat16 -> float32 (numba compiles float32/float64 only)."""
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return tuple(t.to(dtype) for t in (x, *others))
