"""Kernel norms (MMD) and the weighted Hausdorff divergence between point clouds.

For a positive-definite kernel k, the kernel loss is half the squared kernel norm of
the difference of the measures:

.. math::

    L_k(a, b) = \\tfrac12 \\langle a, K_{xx} a\\rangle + \\tfrac12 \\langle b, K_{yy} b\\rangle
                - \\langle a, K_{xy} b\\rangle .

``gaussian``: :math:`k = \\exp(-|x-y|^2 / 2\\sigma^2)`; ``laplacian``:
:math:`k = \\exp(-|x-y|/\\sigma)`; ``energy``: :math:`k = -|x-y|` (conditionally
positive, so :math:`L \\ge 0` for measures of equal mass); :math:`\\sigma` is the blur.

The weighted Hausdorff divergence replaces the transport plan by soft nearest
neighbours: with :math:`s_\\beta(z) = \\operatorname{softmin}_\\varepsilon(z; y, \\log b)`,

.. math::

    H_\\varepsilon(a, b) = \\tfrac12 \\langle a, s_\\beta(x) - s_\\alpha(x) \\rangle
                         + \\tfrac12 \\langle b, s_\\alpha(y) - s_\\beta(y) \\rangle ,

a smooth, symmetric version of the mean closest-point (Chamfer) distance, which it
becomes as :math:`\\varepsilon \\to 0`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import PREFIX, Measures
from ..geometry import Cost, squared_distances
from ..kernels import KernelBackend, memory_budget
from ..problems import safe_log

KERNELS = ("gaussian", "laplacian", "energy")


def _kernel_matrix(name: str, x: Tensor, y: Tensor, blur: float) -> Tensor:
    sq = squared_distances(x, y)
    if name == "gaussian":
        return torch.exp(-sq / (2 * blur**2))
    distance = sq.clamp_min(1e-30).sqrt()
    if name == "laplacian":
        return torch.exp(-distance / blur)
    return -distance


def kernel_loss(name: str, m: Measures, blur: float, budget: int | None = None) -> Tensor:
    """:math:`L_k(a, b)` with dense kernel matrices, shape (B,).

    Raises:
        MemoryError: the largest kernel matrix (and the distances it is made of) would
            not fit ``budget`` bytes (``None``: the library's budget, 2 GiB).
    """
    B, N, M = m.x.shape[0], m.x.shape[1], m.y.shape[1]
    need = 2 * B * max(N, M) ** 2 * m.x.element_size()
    allowed = memory_budget(budget)
    if need > allowed:
        raise MemoryError(
            f"{PREFIX} loss={name!r} builds dense kernel matrices: {need / 1e9:.3g} GB for "
            f"B={B}, N={N}, M={M}, above the memory budget of {allowed / 1e9:.3g} GB. Use "
            "loss='sinkhorn' or 'hausdorff' (memory-linear backends), subsample the "
            "clouds, or raise `memory_budget`."
        )

    def quad(u: Tensor, p: Tensor, v: Tensor, q: Tensor) -> Tensor:
        K = _kernel_matrix(name, p, q.detach() if p is q else q, blur)
        return (u.unsqueeze(-2) @ K @ v.unsqueeze(-1)).reshape(u.shape[0])

    return (
        0.5 * quad(m.a, m.x, m.a, m.x) + 0.5 * quad(m.b, m.y, m.b, m.y) - quad(m.a, m.x, m.b, m.y)
    )


def hausdorff_divergence(m: Measures, cost: Cost, backend: KernelBackend, eps: float) -> Tensor:
    """:math:`H_\\varepsilon(a, b)`, shape (B,), with any kernel backend."""
    a_log, b_log = safe_log(m.a), safe_log(m.b)
    s_b_x = backend.pair(m.x, m.y, cost).softmin(eps, b_log)
    s_a_x = backend.pair(m.x, m.x, cost).softmin(eps, a_log)
    s_a_y = backend.pair(m.y, m.x, cost).softmin(eps, a_log)
    s_b_y = backend.pair(m.y, m.y, cost).softmin(eps, b_log)
    return 0.5 * ((m.a * (s_b_x - s_a_x)).sum(-1) + (m.b * (s_a_y - s_b_y)).sum(-1))
