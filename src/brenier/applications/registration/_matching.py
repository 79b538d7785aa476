"""Robust-OT matching: where each source point goes, and how much of it is transported.

Every step of the registration fits its transform to the barycentric projection of an
unbalanced OT plan,

.. math::

    T(x_i) = \\frac{\\sum_j \\pi_{ij} y_j}{\\sum_j \\pi_{ij}}, \\qquad
    c_i = \\frac{\\sum_j \\pi_{ij}}{a_i} = e^{-f_i/\\rho},

where the second identity holds at the fixed point of unbalanced Sinkhorn
(:math:`f = \\lambda\\, \\mathrm{softmin}`, :math:`\\lambda = 1/(1+\\varepsilon/\\rho)`,
so :math:`\\log \\sum_j \\pi_{ij}/a_i = f_i/\\varepsilon - f_i/(\\lambda\\varepsilon)
= -f_i/\\rho`). Outliers and points of parts missing from the target are far from any
target point: their potential f is large and their confidence :math:`c_i` vanishes,
so they do not pull the fit (the ``reach`` of robust OT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

import brenier

#: Above this many point pairs the barycentric projection is truncated to each point's
#: nearest targets (k-d tree) instead of summed over all targets.
EXACT_PAIRS = 4 * 10**8
#: The solves run in float32: the fits need the projections to ~1%, far above float32's
#: rounding floor at the blurs used (6e-4 at 0.5% of the size), and the compiled
#: kernels run about twice as fast (the landmark errors of the benchmark were equal to
#: three digits). The targets come back in the inputs' dtype.
SOLVE_DTYPE = torch.float32
#: ``auto``: the compiled online kernels up to 2,000 points, multiscale above. (The
#: dense backend, used below 10^6 pairs before, measured 3-9x slower than online at
#: 300-1,000 points once the OpenMP threads stopped spinning: see ``brenier._openmp``.)
BACKEND = "auto"
#: Targets kept per source point by the truncated projection.
PROJECTION_NEIGHBOURS = 64


@dataclass(frozen=True)
class Matching:
    """The barycentric targets (N, D), the transported fraction (N,) and the OT cost."""

    targets: Tensor
    confidence: Tensor
    cost: float


def _truncated_projection(x: Tensor, y: Tensor, b: Tensor, g: Tensor, eps: float) -> Tensor:
    """The barycentric projection summed over the nearest targets of each point only.

    Terms of far targets carry the factor exp(-|x_i - y_j|^2 / 2 eps): once the shapes
    are roughly aligned the nearest few dozen targets hold all the mass that matters.
    """
    tree = cKDTree(y.numpy())
    k = min(PROJECTION_NEIGHBOURS, len(y))
    _, index = tree.query(x.numpy(), k=k, workers=-1)
    index = torch.from_numpy(np.asarray(index).reshape(len(x), k))
    near = y[index]  # (N, k, D)
    logits = (
        torch.log(b.clamp_min(1e-300))[index]
        + (g[index] - 0.5 * ((x[:, None, :] - near) ** 2).sum(-1)) / eps
    )
    return torch.einsum("nk,nkd->nd", torch.softmax(logits, dim=1), near)


def robust_matching(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    blur: float,
    reach: float | None,
    tol: float,
    diameter: float | None = None,
    debias: bool = False,
) -> Matching:
    """Solves robust OT from x to y and returns the barycentric targets and confidences.

    Args:
        x, y: moved source (N, D) and target (M, D), float64; or batches (B, N, D) and
            (B, M, D) of independent problems (then ``targets`` is (B, N, D),
            ``confidence`` (B, N) and ``cost`` the mean over the batch; see
            :func:`batch_costs`).
        a, b: their weights, summing to 1, (N,) and (M,) or (B, N) and (B, M).
        blur: the OT blur (eps = blur^2).
        reach: the robust OT reach (``None``: balanced, every point fully confident).
        tol: the solver's marginal tolerance.
        diameter: where the eps-scaling starts (default: the clouds' diameter). Shapes
            already matched at a coarser blur need no annealing from the full diameter:
            the fixed point is the same, only the number of iterations changes.
    """
    result = _solve(x, y, a, b, blur=blur, reach=reach, tol=tol, diameter=diameter, debias=debias)
    return _matching(result, x, y, b, reach)


def batch_costs(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    blur: float,
    reach: float | None,
    tol: float,
) -> tuple[Matching, list[float]]:
    """:func:`robust_matching` on a batch (B, N, D) -> (B, M, D), with the cost of each item."""
    result = _solve(x, y, a, b, blur=blur, reach=reach, tol=tol, diameter=None, debias=False)
    return _matching(result, x, y, b, reach), [float(v) for v in result.value]


def _solve(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    blur: float,
    reach: float | None,
    tol: float,
    diameter: float | None,
    debias: bool,
) -> brenier.OTResult:
    x, y, a, b = (t.to(SOLVE_DTYPE) for t in (x, y, a, b))
    return brenier.solve(
        x, y, a, b, blur=blur, reach=reach, debias=debias, tol=tol, diameter=diameter,
        backend=BACKEND,
    )  # fmt: skip


def _matching(
    result: brenier.OTResult, x: Tensor, y: Tensor, b: Tensor, reach: float | None
) -> Matching:
    f, g = result.f, result.g
    with torch.no_grad():
        if result.debiased:
            targets = brenier.transport_map(result, x.to(SOLVE_DTYPE))
        elif x.dim() == 3 or x.shape[0] * y.shape[0] <= EXACT_PAIRS:
            targets = brenier.barycentric_projection(result)
        else:
            targets = _truncated_projection(x, y, b, g, result.eps)
    if reach is None:
        confidence = torch.ones_like(f)
    else:
        confidence = torch.exp(-f / reach**2).clamp(max=1.0)
    dtype = x.dtype
    return Matching(
        targets.detach().to(dtype), confidence.detach().to(dtype), float(result.value.mean())
    )
