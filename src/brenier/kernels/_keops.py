"""Optional pykeops backend (``pip install brenier[keops]``): symbolic lazy tensors.

KeOps compiles each formula with a C++ (or CUDA) compiler at first use and caches it;
it is therefore opt-in (``backend="keops"``) and never chosen by ``auto``. pykeops is
imported lazily, inside the methods: importing brenier never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from .._validation import PREFIX
from ..geometry import Cost


def _pykeops_torch() -> ModuleType:
    try:
        import pykeops.torch as keops_torch
    except ImportError as err:
        raise ImportError(
            f"{PREFIX} the 'keops' backend needs pykeops, which is not installed: "
            "`pip install brenier[keops]` (or use backend='online', which needs no compiler)."
        ) from err
    return keops_torch


@dataclass(frozen=True)
class KeOpsPair:
    """x (B, N, D) and y (B, M, D) as KeOps lazy tensors; nothing N x M is stored."""

    x: Tensor
    y: Tensor
    p: int

    def _exponent(self, eps: float, h: Tensor):
        """The symbolic (B, N, M) matrix h_j - C(x_i, y_j) / eps."""
        LazyTensor = _pykeops_torch().LazyTensor
        x_i = LazyTensor(self.x.unsqueeze(2).contiguous())
        y_j = LazyTensor(self.y.unsqueeze(1).contiguous())
        # log 0 = -inf (points of zero weight) gave NaN in KeOps' reductions (issue 14
        # sweep); the most negative finite number / 4 gives them weight 0 as well.
        h = h.clamp(min=torch.finfo(h.dtype).min / 4)
        h_j = LazyTensor(h.unsqueeze(1).unsqueeze(-1).contiguous())
        sq = ((x_i - y_j) ** 2).sum(-1)
        # p = 1: sqrt(sq + tiny) keeps the gradient finite (and 0) where x_i = y_j.
        cost = sq / 2 if self.p == 2 else (sq + 1e-30).sqrt()
        return h_j - cost / eps

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        """Soft distance transform, h (B, M) -> (B, N) (see :class:`PairKernel`)."""
        B, N = self.x.shape[:2]
        # reshaped: with N = M = 1 every operand is a KeOps parameter and the reduction
        # came back as (B,), which broadcast silently or broke Anderson's stack (sweep
        # seed 11130)
        return -eps * self._exponent(eps, h).logsumexp(dim=2).reshape(B, N)

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        """Softmax-weighted sum of v (B, M, E) -> (B, N, E)."""
        LazyTensor = _pykeops_torch().LazyTensor
        B, N = self.x.shape[:2]
        v_j = LazyTensor(v.unsqueeze(1).contiguous())
        return self._exponent(eps, h).sumsoftmaxweight(v_j, dim=2).reshape(B, N, v.shape[-1])


class KeOpsBackend:
    """Factory of :class:`KeOpsPair` kernels (p = 1 and p = 2). Needs pykeops."""

    name = "keops"
    memory_linear = False  # opt-in: it compiles with a C++ compiler at first use

    def supports(self, cost: Cost) -> bool:
        return cost.function is None and cost.p in (1, 2)

    def pair(self, x: Tensor, y: Tensor, cost: Cost) -> KeOpsPair:
        _pykeops_torch()  # fail early, with the install hint
        return KeOpsPair(x, y, p=int(cost.p))  # type: ignore[arg-type]
