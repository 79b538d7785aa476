"""The one protocol every kernel backend implements.

Everything the library computes is the soft distance transform

.. math::

    \\operatorname{softmin}_\\varepsilon(x_i; y, h)
        = -\\varepsilon \\log \\sum_j \\exp\\big(h_j - C(x_i, y_j)/\\varepsilon\\big)

and its companion, the softmax-weighted sum

.. math::

    \\operatorname{softmax\\_sum}_\\varepsilon(x_i; y, h, v)
        = \\sum_j \\frac{\\exp(h_j - C(x_i, y_j)/\\varepsilon)}
                        {\\sum_k \\exp(h_k - C(x_i, y_k)/\\varepsilon)} \\, v_j .

Sinkhorn is two softmins per iteration; gradients, plan-vector products and
barycentric projections are softmax sums. A backend turns a pair of supports into a
:class:`PairKernel` once (it may precompute the cost matrix, cluster the points, or
just keep references); the solver then calls it without knowing how it works.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from ..geometry import Cost


@runtime_checkable
class PairKernel(Protocol):
    """The interaction between the clouds x (B, N, D) and y (B, M, D) under a cost.

    Both reductions are differentiable wrt. ``x``, ``y``, ``h`` and ``v`` (autograd);
    the solver decides which of them carry gradients.
    """

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        """Soft distance transform: h (B, M) -> (B, N)."""
        ...

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        """Softmax-weighted sum: h (B, M), v (B, M, E) -> (B, N, E)."""
        ...


class KernelBackend(Protocol):
    """A factory of :class:`PairKernel` objects.

    A backend is a small picklable object: pass an instance as ``backend=`` (e.g. to
    Dask workers), or the name of a shipped one (:func:`~brenier.kernels.get_backend`).
    """

    @property
    def name(self) -> str:
        """The name reported in ``OTResult.backend``."""
        ...

    @property
    def memory_linear(self) -> bool:
        """Whether its kernels use O(N + M) memory (``auto`` may pick it for large problems)."""
        ...

    def supports(self, cost: Cost) -> bool:
        """Whether this backend can compute the given cost."""
        ...

    def pair(self, x: Tensor, y: Tensor, cost: Cost) -> PairKernel:
        """Prepares the interaction between x (B, N, D) and y (B, M, D)."""
        ...
