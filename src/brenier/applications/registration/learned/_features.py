"""The network's input: a pre-aligned source, the target, and robust-OT displacements.

For each blur :math:`\\sigma_s` of the configuration, robust OT between the source
points :math:`p_i` and the target gives the barycentric projection :math:`T_s`
(entropic shrinkage included: the network learns to correct it) and the
transported fractions :math:`c^{(s)}_i = e^{-f_i/\\rho^2}` (see
:mod:`.._matching`); the features are :math:`(T_s(p_i) - p_i)/s` and :math:`c^{(s)}_i`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._matching import robust_matching
from .._nonrigid import downsample_to
from ._network import NetConfig

#: Marginal tolerance of the feature solves (the projections are needed to ~1%).
FEATURE_TOL = 1e-2
#: Where the eps-scaling of the feature solves starts (fraction of the size): the
#: shapes are pre-aligned, so annealing from the full diameter is not needed.
FEATURE_DIAMETER = 0.3
#: Voxel of the first downsampling (fraction of the size) before the cap on points.
VOXEL = 0.004


@dataclass(frozen=True)
class Sample:
    """What the network sees (float32, normalised frame): points (N, 3), their weights
    (N,), features (N, F) and the target (M, 3)."""

    points: Tensor
    weights: Tensor
    features: Tensor
    target: Tensor


def prepare(x: Tensor, a: Tensor, y: Tensor, b: Tensor, config: NetConfig) -> Sample:
    """Downsamples both clouds to ``config.points`` and computes the OT features.

    Args:
        x, a: the pre-aligned source (N, 3) and its weights, in the target's normalised
            frame (float64).
        y, b: the target (M, 3) and its weights.
    """
    xs, as_ = downsample_to(x, a / a.sum(), VOXEL, config.points)
    ys, bs = downsample_to(y, b / b.sum(), VOXEL, config.points)
    columns = []
    for blur in config.blurs:
        m = robust_matching(
            xs, ys, as_, bs, blur=blur, reach=config.reach, tol=FEATURE_TOL,
            diameter=FEATURE_DIAMETER,
        )  # fmt: skip
        columns += [(m.targets - xs) / config.scale, m.confidence[:, None]]
    features = torch.cat(columns, dim=1)
    f32 = torch.float32
    return Sample(xs.to(f32), as_.to(f32), features.to(f32), ys.to(f32))
