"""OT values from dual potentials, written so that autograd gives envelope gradients.

For entropic OT with marginal penalties of strength :math:`\\rho` (``rho = inf``:
balanced), the dual objective is

.. math::

    D(f, g) = -\\rho\\langle a, e^{-f/\\rho} - 1\\rangle - \\rho\\langle b, e^{-g/\\rho} - 1\\rangle
              - \\varepsilon \\langle a \\otimes b, e^{(f \\oplus g - C)/\\varepsilon} - 1\\rangle ,

with :math:`-\\rho(e^{-f/\\rho} - 1) \\to f` as :math:`\\rho \\to \\infty`. We evaluate its
*semi-dual*: for the potential ``g`` found by the loop (detached), maximise in ``f`` in
closed form. With :math:`s = \\operatorname{softmin}_\\varepsilon(x; y, \\log b + g/\\varepsilon)`
the maximiser is :math:`f = \\lambda s`, :math:`\\lambda = 1 / (1 + \\varepsilon/\\rho)`, and

.. math::

    \\text{balanced:}\\quad V(g) = \\langle a, s\\rangle + \\langle b, g\\rangle
        + \\varepsilon\\, m(a)\\,(m(b) - 1)

    \\text{unbalanced:}\\quad V(g) = -(\\rho + \\varepsilon)\\langle a, e^{-f/\\rho}\\rangle
        + \\rho\\, m(a)
        - \\rho\\langle b, e^{-g/\\rho}\\rangle + \\rho\\, m(b) + \\varepsilon\\, m(a) m(b).

:math:`V(g) \\le OT_\\varepsilon(a, b)` for any ``g``, with equality at the optimum. Since
``s`` is computed with autograd on the points and weights (``g`` detached), the
gradient of :math:`V` is exactly the envelope-theorem gradient,
:math:`\\nabla_{x_i} V = \\sum_j \\pi_{ij} \\nabla_x C(x_i, y_j)`, with the plan
:math:`\\pi_{ij} = a_i b_j e^{(f_i + g_j - C_{ij})/\\varepsilon}`: one reduction per problem,
no backpropagation through the iterations.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _SafeLog(torch.autograd.Function):
    """log(w) whose derivative is 0 (not 0 * inf = NaN) where w == 0.

    A point of zero weight carries no mass; its log-weight is -inf and the reductions
    ignore it. Plain autograd would propagate 1/0 into NaN gradients.
    """

    @staticmethod
    def forward(ctx, w: Tensor) -> Tensor:
        ctx.save_for_backward(w)
        return w.log()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (w,) = ctx.saved_tensors
        return torch.where(w > 0, grad / w.clamp_min(torch.finfo(w.dtype).tiny), 0.0)


def safe_log(w: Tensor) -> Tensor:
    return _SafeLog.apply(w)


def damping(eps: float, rho: float | None) -> float:
    """:math:`\\lambda = 1/(1 + \\varepsilon/\\rho)`, 1 for balanced OT."""
    return 1.0 if rho is None else 1.0 / (1.0 + eps / rho)


def semi_dual_value(
    s: Tensor, g: Tensor, a: Tensor, b: Tensor, eps: float, rho: float | None
) -> Tensor:
    """:math:`V(g)` above, batched: s, a (B, N); g, b (B, M) -> (B,)."""
    mass_a, mass_b = a.sum(-1), b.sum(-1)
    if rho is None:
        return (a * s).sum(-1) + (b * g).sum(-1) + eps * mass_a * (mass_b - 1)
    f = damping(eps, rho) * s
    return (
        -(rho + eps) * (a * torch.exp(-f / rho)).sum(-1)
        + rho * mass_a
        - rho * (b * torch.exp(-g / rho)).sum(-1)
        + rho * mass_b
        + eps * mass_a * mass_b
    )
