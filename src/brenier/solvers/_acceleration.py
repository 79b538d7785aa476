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


@dataclass(frozen=True)
class AndersonHistory:
    """The last image ``G(u)``, residual, and the differences, each (B, M)."""

    image: Tensor | None = None
    residual: Tensor | None = None
    d_image: tuple[Tensor, ...] = ()
    d_residual: tuple[Tensor, ...] = ()


def anderson_step(
    history: AndersonHistory, u: Tensor, image: Tensor, weight: Tensor, memory: int
) -> tuple[Tensor, AndersonHistory]:
    """The next iterate from ``u`` and its image ``G(u)``, and the updated history.

    Shapes:
        u, image, weight: (B, M).
    """
    residual = image - u
    d_image, d_residual = history.d_image, history.d_residual
    if history.image is not None and history.residual is not None:
        d_image = (*d_image, image - history.image)[-memory:]
        d_residual = (*d_residual, residual - history.residual)[-memory:]
    new = AndersonHistory(image, residual, d_image, d_residual)
    if not d_residual:
        return image, new
    dr = torch.stack(d_residual, -1) * weight.sqrt().unsqueeze(-1)  # (B, M, m)
    rhs = dr.transpose(-1, -2) @ (residual * weight.sqrt()).unsqueeze(-1)  # (B, m, 1)
    gram = dr.transpose(-1, -2) @ dr  # (B, m, m)
    # Tikhonov term relative to the size of the differences: scale-free.
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).unsqueeze(-1)
    delta = torch.finfo(u.dtype).eps * scale + torch.finfo(u.dtype).tiny
    eye = torch.eye(gram.shape[-1], dtype=u.dtype, device=u.device)
    gamma, info = torch.linalg.solve_ex(gram + delta * eye, rhs)  # (B, m, 1)
    # A singular system (differences all zero or denormal: converged to rounding) or a
    # non-finite solution: plain iteration for that batch item.
    ok = (info == 0) & torch.isfinite(gamma).all(-1).all(-1)
    gamma = torch.where(ok[:, None, None], gamma, 0.0)
    step = (torch.stack(d_image, -1) @ gamma).squeeze(-1)
    return image - step, new
