"""Dense torch kernel: the cost matrix is computed once and kept in memory.

Exact and differentiable by plain autograd, on any device and for any cost
(including user callables), but it stores B x N x M numbers: the ``auto`` rule
only picks it when that fits the memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..geometry import Cost


@dataclass(frozen=True)
class DensePair:
    """Holds the (B, N, M) cost matrix between x and y."""

    C: Tensor

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        return -eps * torch.logsumexp(h.unsqueeze(-2) - self.C / eps, dim=-1)

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        weights = torch.softmax(h.unsqueeze(-2) - self.C / eps, dim=-1)
        return weights @ v


class DenseBackend:
    """Factory of :class:`DensePair` kernels."""

    name = "dense"
    memory_linear = False

    def supports(self, cost: Cost) -> bool:
        return True

    def pair(self, x: Tensor, y: Tensor, cost: Cost) -> DensePair:
        return DensePair(cost.matrix(x, y))
