"""Anderson acceleration of a fixed-point iteration, batched (type II, with restarts).

For a map :math:`G` with residual :math:`r(u) = G(u) - u`, Anderson's method keeps the
last ``m`` differences :math:`\\Delta G_k = G(u_k) - G(u_{k-1})` and
:math:`\\Delta r_k = r_k - r_{k-1}` and steps to

.. math::

    u_{k+1} = G(u_k) - \\Delta G\\, \\gamma, \\qquad
    \\gamma = \\arg\\min_\\gamma \\| W^{1/2} (r_k - \\Delta r\\, \\gamma) \\|^2
              + \\delta \\|\\gamma\\|^2,

a least-squares extrapolation in a weighted norm (``W``: the weights of the measure).
On a linear map it is GMRES on :math:`(I - J) u = G(0)`: when the spectrum of the
Jacobian :math:`J` is real in [0, 1] (Sinkhorn's is), the error falls like that of
Chebyshev's method, :math:`(1 - \\sqrt{1 - \\lambda_2})^k` instead of :math:`\\lambda_2^k`,
with :math:`\\lambda_2` the second eigenvalue of :math:`J`, close to 1 at small eps.
The regularisation :math:`\\delta` keeps the small system solvable when the
differences become collinear near convergence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: Differences kept by Anderson's method (measured on close shapes: 5 and 8 alike).
DEFAULT_MEMORY = 8


@dataclass
class AndersonHistory:
    """The last image ``G(u)`` and residual (B, M), and the last ``memory`` differences
    in ring buffers: images ``d_image`` (B, m, M) and weighted residuals ``d_residual``
    (B, m, M), with their Gram matrix (B, m, m) kept up to date column by column (one
    new column costs m dot products, where stacking and multiplying the differences
    at every step cost m^2 and two copies). Empty until the first step."""

    image: Tensor | None = None
    residual: Tensor | None = None
    root: Tensor | None = None  # sqrt of the weights
    d_image: Tensor | None = None
    d_residual: Tensor | None = None
    gram: Tensor | None = None
    count: int = 0  # differences stored, at most m
    head: int = 0  # the slot of the next one


def anderson_step(
    history: AndersonHistory, u: Tensor, image: Tensor, weight: Tensor, memory: int
) -> tuple[Tensor, AndersonHistory]:
    """The next iterate from ``u`` and its image ``G(u)``, and the updated history (the
    same object, updated in place).

    Shapes:
        u, image, weight: (B, M).
    """
    h = history
    residual = image - u
    if h.image is None or h.residual is None:
        h.image, h.residual, h.root = image, residual, weight.sqrt()
        return image, h
    if h.d_image is None or h.d_residual is None or h.gram is None:
        B, M = u.shape
        h.d_image = u.new_empty(B, memory, M)
        h.d_residual = u.new_empty(B, memory, M)
        h.gram = u.new_zeros(B, memory, memory)
    assert h.root is not None
    slot = h.head
    torch.sub(image, h.image, out=h.d_image[:, slot])
    column = h.d_residual[:, slot]
    torch.mul(residual - h.residual, h.root, out=column)
    h.count, h.head = min(h.count + 1, memory), (slot + 1) % memory
    h.image, h.residual = image, residual
    k = h.count
    dr, gram = h.d_residual[:, :k], h.gram[:, :k, :k]
    dots = (dr @ column.unsqueeze(-1)).squeeze(-1)
    h.gram[:, slot, :k] = dots
    h.gram[:, :k, slot] = dots
    rhs = dr @ (residual * h.root).unsqueeze(-1)  # (B, k, 1)
    # Tikhonov term relative to the size of the differences: scale-free.
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).unsqueeze(-1)
    delta = torch.finfo(u.dtype).eps * scale + torch.finfo(u.dtype).tiny
    eye = torch.eye(k, dtype=u.dtype, device=u.device)
    gamma, info = torch.linalg.solve_ex(gram + delta * eye, rhs)  # (B, k, 1)
    # A singular system (differences all zero or denormal: converged to rounding) or a
    # non-finite solution: plain iteration for that batch item.
    ok = (info == 0) & torch.isfinite(gamma).all(-1).all(-1)
    gamma = torch.where(ok[:, None, None], gamma, 0.0)
    step = (gamma.transpose(-1, -2) @ h.d_image[:, :k]).squeeze(-2)
    return image - step, h
