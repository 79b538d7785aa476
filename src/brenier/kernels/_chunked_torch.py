"""Chunked torch versions of the online reductions: any device, no compiler.

The same three reductions as the numba kernels (``lse``, ``planvec``, ``gradred``,
same signatures and conventions), computed on blocks of rows of x so that at most
``_CHUNK_BYTES`` of cost matrix exist at a time. This is the path for CUDA tensors
(and for dtypes numba does not compile, such as float16); on CPU it serves as a
second implementation to test the compiled kernels against. No autograd: the
``torch.autograd.Function`` in ``_online.py`` calls these in its forward and
backward passes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ..geometry._costs import squared_distances

#: Memory of one block of the cost matrix (and of each temporary of its size).
_CHUNK_BYTES = 64 * 1024**2


def _row_blocks(x: Tensor, M: int) -> Iterator[slice]:
    B, N, _ = x.shape
    rows = max(1, _CHUNK_BYTES // max(1, B * M * x.element_size()))
    for start in range(0, N, rows):
        yield slice(start, min(start + rows, N))


def _neg_cost_over_eps(xb: Tensor, y: Tensor, eps: float, p: int) -> tuple[Tensor, Tensor]:
    """-C(x, y)/eps for a block of rows, and the squared distances (B, R, M)."""
    sq = squared_distances(xb, y)
    cost = sq / 2 if p == 2 else sq.clamp_min(1e-30).sqrt()
    return cost.div_(-eps), sq


def lse(x: Tensor, y: Tensor, h: Tensor, eps: float, p: int) -> Tensor:
    """:math:`\\log \\sum_j \\exp(h_j - C(x_i, y_j)/\\varepsilon)`, shape (B, N)."""
    out = torch.empty(x.shape[:2], dtype=x.dtype, device=x.device)
    for rows in _row_blocks(x, y.shape[1]):
        e, _ = _neg_cost_over_eps(x[:, rows], y, eps, p)
        out[:, rows] = torch.logsumexp(e.add_(h.unsqueeze(1)), dim=-1)
    return out


def _plan_block(x: Tensor, y: Tensor, a: Tensor, b: Tensor, eps: float, p: int, rows: slice):
    e, sq = _neg_cost_over_eps(x[:, rows], y, eps, p)
    return e.add_(b.unsqueeze(1)).add_(a[:, rows].unsqueeze(2)).exp_(), sq


def planvec(x: Tensor, y: Tensor, a: Tensor, b: Tensor, V: Tensor, eps: float, p: int) -> Tensor:
    """:math:`\\sum_j \\exp(a_i + b_j - C(x_i, y_j)/\\varepsilon) V_{jk}`, shape (B, N, K)."""
    out = torch.empty(*x.shape[:2], V.shape[-1], dtype=x.dtype, device=x.device)
    for rows in _row_blocks(x, y.shape[1]):
        P, _ = _plan_block(x, y, a, b, eps, p, rows)
        out[:, rows] = P @ V
    return out


def gradred(
    x: Tensor, y: Tensor, a: Tensor, b: Tensor, W: Tensor, eps: float, p: int
) -> tuple[Tensor, Tensor]:
    """S (B, N, K) and G (B, N, K, D) of ``_online_numba.gradred``."""
    B, N, D = x.shape
    K = W.shape[-1]
    G = torch.empty(B, N, K, D, dtype=x.dtype, device=x.device)
    S = torch.empty(B, N, K, dtype=x.dtype, device=x.device)
    for rows in _row_blocks(x, y.shape[1]):
        P, sq = _plan_block(x, y, a, b, eps, p, rows)
        S[:, rows] = P @ W
        if p == 1:  # d|x - y|/dx = (x - y)/|x - y|, 0 where x = y (as the dense kernel)
            P = torch.where(sq > 1e-30, P / sq.clamp_min(1e-30).sqrt(), 0)
        xb = x[:, rows]
        for k in range(K):
            Pk = P * W[:, :, k].unsqueeze(1)
            G[:, rows, k] = xb * Pk.sum(-1, keepdim=True) - Pk @ y
    return G, S
