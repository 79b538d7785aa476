"""Costs of selected pairs (i, j), differentiable wrt. the points.

The exact solvers find a plan without autograd; its value is then recomputed on the
plan's support with autograd on, so that gradients follow the envelope theorem.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...geometry import Cost


def pair_costs(cost: Cost, x: Tensor, y: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """:math:`C(x_{r_k}, y_{c_k})` for (N, D) and (M, D) clouds, shape (K,)."""
    if cost.function is not None:
        return cost.matrix(x[None], y[None])[0][rows, cols]
    d = x[rows] - y[cols]
    sq = (d * d).sum(-1)
    # Same conventions and the same finite slope at 0 as geometry.Cost.matrix.
    return sq / 2 if cost.p == 2 else sq.clamp_min(1e-30).sqrt()


def cost_matrix_numpy(cost: Cost, x: Tensor, y: Tensor) -> np.ndarray:
    """The dense (N, M) cost matrix in float64 on the CPU, for the compiled solvers.

    Built-in costs are formed from differences (not the |x|^2 + |y|^2 - 2<x, y> expansion)
    so that equal points have a cost of exactly 0.
    """
    with torch.no_grad():
        if cost.function is not None:
            return cost.matrix(x[None], y[None])[0].to("cpu", torch.float64).numpy()
        xd = x.to("cpu", torch.float64).numpy()
        yd = y.to("cpu", torch.float64).numpy()
    sq = np.zeros((xd.shape[0], yd.shape[0]))
    for k in range(xd.shape[1]):
        diff = xd[:, k, None] - yd[None, :, k]
        sq += diff * diff
    return sq / 2 if cost.p == 2 else np.sqrt(sq)
