"""The block-sparse :class:`~brenier.kernels.PairKernel`: softmin over kept blocks only.

Points are sorted by cluster inside the kernel: it takes and returns tensors in the
user's order (gathers with autograd), so the solver and the semi-dual value code use
it like any other backend. Batched inputs are processed item by item (each item has
its own clusters). Gradients of the softmin wrt. x, y and h, and of the softmax sum
wrt. x, y, h and v, follow ``_online.py``, restricted to the kept pairs: the gradients
of the truncated reductions, which differ from the exact ones by the truncated mass
(below :math:`e^{-\\tau}`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numba
import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

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


def _scale(x: Tensor, eps: float, p: int) -> np.floating:
    """The factor of the cost in the exponent: 1 / (2 eps) for |x - y|^2 / 2 (p = 2, the
    1/2 folded in), 1 / eps for |x - y| (p = 1)."""
    return (np.float32 if x.dtype == torch.float32 else np.float64)((0.5 if p == 2 else 1.0) / eps)


def _structure(s: BlockSparsity) -> tuple[np.ndarray | int, ...]:
    return s.x_offsets, s.row_ptr, s.col_lo, s.col_hi, s.width


def block_lse(
    x: Tensor, y: Tensor, h: Tensor, eps: float, s: BlockSparsity, p: int = 2,
    guess: np.ndarray | None = None,
) -> Tensor:  # fmt: skip
    """Block-sparse log-sum-exp of sorted x (N, D), y (M, D), h (M,): (N,); ``guess``:
    each sorted row's shift (see :func:`_lse`)."""
    return _lse(_np(x), _np(y.T), h, eps, s, p, guess)


def _lse(
    x: np.ndarray, yT: np.ndarray, h: Tensor, eps: float, s: BlockSparsity, p: int,
    guess: np.ndarray | None = None,
) -> Tensor:  # fmt: skip
    """:func:`block_lse` on the kernels' arrays: sorted x (N, D), sorted y as (D, M);
    ``guess`` (N,): each row's shift (see ``lse_kernel``), e.g. the last call's."""
    out = torch.empty(x.shape[0], dtype=h.dtype)
    K = s.x_offsets.shape[0] - 1
    _nb.lse_kernel(  # type: ignore[call-arg]
        x,
        yT,
        _np(_finite(h)),
        _scale(h, eps, p),
        p,
        *_structure(s),
        _nb.thread_chunks(K),
        _NO_GUESS[x.dtype] if guess is None else guess,
        out.numpy(),
    )
    if not bool((h > -math.inf).any()):
        out.fill_(-math.inf)
    return out


#: No guess of the rows' results: an empty array (the kernel then shifts by the rows').
_NO_GUESS = {np.dtype(t): np.empty(0, dtype=t) for t in (np.float32, np.float64)}


class _BlockSoftmin(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x, y, h, eps, s, p, guess=None, known=None):
        lse = block_lse(x, y, h, eps, s, p, guess) if known is None else known
        ctx.save_for_backward(x, y, h, lse)
        ctx.eps, ctx.s, ctx.p = eps, s, p  # type: ignore[attr-defined]
        return lse.mul(-eps)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, h, lse = ctx.saved_tensors
        eps, s, p = ctx.eps, ctx.s, ctx.p
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
            _scale(x, eps, p),
            p,
            *_structure(s),
            gx.numpy(),
            cS.numpy(),
            cG.numpy(),
        )
        return gx, cG.sum(0).T, cS.sum(0).mul_(-eps), None, None, None, None, None


class _BlockSoftmaxSum(torch.autograd.Function):
    """:math:`o_i = \\sum_{j \\in \\text{kept}(i)} P_{ij} v_j` with its backward: with
    :math:`s_{ij} = G_i \\cdot v_j - G_i \\cdot o_i` for the upstream gradient G,
    :math:`\\nabla_{x_i} = -\\frac1\\varepsilon \\sum_j P_{ij} s_{ij} (x_i - y_j)`,
    :math:`\\nabla_{y_j} = -\\frac1\\varepsilon \\sum_i P_{ij} s_{ij} (y_j - x_i)`,
    :math:`\\nabla_{h_j} = \\sum_i P_{ij} s_{ij}`, :math:`\\nabla_{v_j} = \\sum_i P_{ij} G_i`
    (the online kernel's formulas, ``_online.py``, restricted to the kept pairs). For
    p = 1 the slopes :math:`x_i - y_j` become :math:`(x_i - y_j) / |x_i - y_j|`."""

    @staticmethod
    def forward(ctx: FunctionCtx, x, y, h, v, eps, s, p):
        lse = block_lse(x, y, h, eps, s, p)
        a = torch.where(lse > -math.inf, -lse, -math.inf)
        out = _planvec(x, y, a, h, v, eps, s, p)
        ctx.save_for_backward(x, y, h, v, a, out)
        ctx.eps, ctx.s, ctx.p = eps, s, p  # type: ignore[attr-defined]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, h, v, a, out = ctx.saved_tensors
        eps, s, p = ctx.eps, ctx.s, ctx.p
        grad = torch.where((a > -math.inf)[:, None], grad, 0).contiguous()
        ubar = (grad * out).sum(-1).contiguous()
        (N, D), (M, E) = x.shape, v.shape
        T = max(1, min(s.x_offsets.shape[0] - 1, numba.get_num_threads()))
        gx = torch.empty(N, D, dtype=x.dtype)
        cS = torch.zeros(T, M, dtype=x.dtype)
        cG = torch.zeros(T, D, M, dtype=x.dtype)
        cV = torch.zeros(T, E, M, dtype=x.dtype)
        _nb.softmax_sum_backward_kernel(
            _np(x), _np(y.T), _np(_finite(a)), _np(grad), _np(ubar), _np(_finite(h)), _np(v.T),
            _scale(x, eps, p), p, *_structure(s), gx.numpy(), cS.numpy(), cG.numpy(),
            cV.numpy(),
        )  # fmt: skip
        gy = cG.sum(0).T.div_(-eps)
        return gx.div_(-eps), gy, cS.sum(0), cV.sum(0).T, None, None, None


def _planvec(
    x: Tensor, y: Tensor, a: Tensor, h: Tensor, v: Tensor, eps: float, s, p: int
) -> Tensor:
    return _planvec_arrays(_np(x), _np(y.T), a, h, v, eps, s, p)


def _planvec_arrays(
    x: np.ndarray, yT: np.ndarray, a: Tensor, h: Tensor, v: Tensor, eps: float, s, p: int
) -> Tensor:
    """:func:`_planvec` on the kernels' arrays: sorted x (N, D), sorted y as (D, M)."""
    out = torch.empty(x.shape[0], v.shape[-1], dtype=h.dtype)
    K = s.x_offsets.shape[0] - 1
    _nb.planvec_kernel(  # type: ignore[call-arg]
        x,
        yT,
        _np(_finite(a)),
        _np(_finite(h)),
        _np(v.T),
        _scale(h, eps, p),
        p,
        *_structure(s),
        _nb.thread_chunks(K),
        out.numpy(),
    )
    return out


@dataclass(frozen=True)
class BlockSparsePair:
    """The truncated interaction between x (B, N, D) and y (B, M, D).

    Attributes:
        x, y: the clouds in the user's order (autograd flows through them).
        items: per batch item, the sorting and the kept blocks.
        p: the cost, :math:`|x - y|^2 / 2` (2) or :math:`|x - y|` (1).
    """

    x: Tensor
    y: Tensor
    items: tuple[SortedPair, ...]
    p: int = 2
    #: Per item, the eps and the rows' results of its last untracked call, and its
    #: sorted h: the next call's shifts at that eps (one array per item, whatever the
    #: eps a user walks), and its result if it has the same h (``None``: a seed).
    _shifts: dict[int, tuple[float, np.ndarray, Tensor | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def kept_fraction(self) -> float:
        """Fraction of the N x M point pairs that the kernel visits (over the batch)."""
        B, N, _ = self.x.shape
        return sum(it.blocks.kept_pairs for it in self.items) / (B * N * self.y.shape[1])

    @functools.cached_property
    def _sorted(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Per batch item, the sorted x (N, D) and sorted y as (D, M), detached: the
        loop calls a kernel dozens of times without autograd, and sorting and
        transposing the clouds at each call was 10% of a softmin at 10^5 points."""
        x, y = _cast(self.x.detach(), self.y.detach())
        return tuple(
            (_np(x[b, it.x_perm]), _np(y[b, it.y_perm].T)) for b, it in enumerate(self.items)
        )

    def seed(self, eps: float, lse: Tensor) -> None:
        """Guesses (B, N), in the user's order, of the log-sum-exps of the next call at
        ``eps`` without autograd (the shifts of its rows, ``lse_kernel``), e.g.
        -f / eps from the potentials the kernel was built from. Only the speed of that
        call depends on them."""
        for b, it in enumerate(self.items):
            guess = lse[b].detach().to(self.x.dtype)[it.x_perm]
            self._shifts[b] = (float(eps), guess.contiguous().numpy(), None)

    def _untracked_lse(self, b: int, eps: float, hs: Tensor) -> Tensor:
        """Item b's log-sum-exp without autograd on its sorted h, shifted by the rows' last
        results: a loop calls its kernels with slowly changing h, and rows of one
        cluster are too far apart in the log to shift each other (``lse_kernel``)."""
        known = self._known(b, eps, hs)
        if known is not None:
            return known
        it = self.items[b]
        out = _lse(*self._sorted[b], hs, eps, it.blocks, self.p, self._guess(b, eps))
        # Never written again (callers copy it); hs neither (a fresh gather).
        self._shifts[b] = (float(eps), out.numpy(), hs.detach())
        return out

    def _last(self, b: int, eps: float) -> tuple[float, np.ndarray, Tensor | None] | None:
        """Item b's last untracked call (or seed), if it was at eps."""
        last = self._shifts.get(b)
        return last if last is not None and last[0] == float(eps) else None

    def _guess(self, b: int, eps: float) -> np.ndarray | None:
        """Item b's row shifts for a call at eps: the last call's results there, if any."""
        last = self._last(b, eps)
        return None if last is None else last[1]

    def _known(self, b: int, eps: float, hs: Tensor) -> Tensor | None:
        """Item b's log-sum-exp at (eps, sorted h) if its last untracked call had them:
        the value of a solve reduces the last g of the loop again (with autograd), the
        loop's last softmin (``solvers/_solve.py``)."""
        last = self._last(b, eps)
        if last is None or last[2] is None:
            return None
        before = last[2]
        same = before.shape == hs.shape and before.dtype == hs.dtype and torch.equal(before, hs)
        return torch.from_numpy(last[1]) if same else None

    def with_clouds(self, x: Tensor, y: Tensor) -> BlockSparsePair:
        """The same kept blocks (and row shifts) on other tensors of the same points,
        e.g. the user's, which autograd tracks."""
        return BlockSparsePair(x, y, self.items, self.p, dict(self._shifts))

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        """Truncated soft distance transform, h (B, M) -> (B, N).

        .. math:: -\\varepsilon \\log \\sum_{j \\in \\text{kept}(i)}
                  \\exp(h_j - |x_i - y_j|^2 / 2\\varepsilon)
        """
        x, y, h = _cast(self.x, self.y, h)
        if not _tracked(x, y, h):  # the loop's calls: no copy beyond the two gathers
            lses = torch.empty(len(self.items), x.shape[1], dtype=h.dtype)
            for b, it in enumerate(self.items):
                lse = self._untracked_lse(b, eps, h[b].index_select(0, it.y_perm))
                torch.index_select(lse, 0, it.x_inverse, out=lses[b])
            return lses.mul_(-eps).to(self.x.dtype)
        out = []
        for b, it in enumerate(self.items):
            xs, ys, hs = x[b, it.x_perm], y[b, it.y_perm], h[b, it.y_perm]
            known, guess = self._known(b, eps, hs.detach()), self._guess(b, eps)
            s = _BlockSoftmin.apply(xs, ys, hs, float(eps), it.blocks, self.p, guess, known)
            out.append(s[it.x_inverse])
        return torch.stack(out).to(self.x.dtype)

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        """Truncated softmax-weighted sum, h (B, M), v (B, M, E) -> (B, N, E), with its
        gradients wrt. x, y, h and v (:class:`_BlockSoftmaxSum`).

        .. math:: \\sum_{j \\in \\text{kept}(i)}
                  \\mathrm{softmax}_j(h_j - |x_i - y_j|^2 / 2\\varepsilon)\\, v_j
        """
        x, y, h, v = _cast(self.x, self.y, h, v)
        if not _tracked(x, y, h, v):  # the loop's looks at the map
            out = []
            for b, it in enumerate(self.items):
                xa, yT = self._sorted[b]
                hs, vs = h[b, it.y_perm], v[b, it.y_perm]
                lse = self._untracked_lse(b, eps, hs)
                a = torch.where(lse > -math.inf, -lse, -math.inf)
                out.append(_planvec_arrays(xa, yT, a, hs, vs, eps, it.blocks, self.p)[it.x_inverse])
            return torch.stack(out).to(self.x.dtype)
        out = []
        for b, it in enumerate(self.items):
            xs, ys, hs, vs = x[b, it.x_perm], y[b, it.y_perm], h[b, it.y_perm], v[b, it.y_perm]
            o = _BlockSoftmaxSum.apply(xs, ys, hs, vs.contiguous(), float(eps), it.blocks, self.p)
            out.append(o[it.x_inverse])
        return torch.stack(out).to(self.x.dtype)


def _tracked(*tensors: Tensor) -> bool:
    """Whether autograd records this call (else the kernel's kept sorted clouds serve)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _cast(x: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """float16/bfloat16 -> float32 (numba compiles float32/float64 only)."""
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return tuple(t.to(dtype) for t in (x, *others))
