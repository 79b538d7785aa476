"""The ``"learned"`` step of :func:`..register`: the network's displacements as a field."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from .._transforms import SmoothDisplacement
from ._features import Sample, prepare
from ._io import LearnedModel


def predict(model: LearnedModel, sample: Sample) -> Tensor:
    """The network's displacements (N, 3) at the sample's points (float64)."""
    with torch.no_grad():
        return model.net(sample.points, sample.features, sample.target).to(torch.float64)


def field_of(sample: Sample, displacements: Tensor, smoothing: float) -> SmoothDisplacement:
    """Displacements known at the sample's points as a smooth field of space: the
    Gaussian-kernel average of :class:`SmoothDisplacement`, fading away from the shape."""
    points = sample.points.to(torch.float64)
    field = SmoothDisplacement(points, displacements, sample.weights.to(torch.float64), smoothing)
    return replace(field, fade=0.01 * float(torch.median(field.kernel_mass(points))))


def learned_step(
    x: Tensor, a: Tensor, y: Tensor, b: Tensor, model: LearnedModel
) -> SmoothDisplacement:
    """The field predicted by ``model`` from the pre-aligned source x to the target y
    (both in the target's normalised frame, with their weights)."""
    sample = prepare(x, a, y, b, model.config)
    return field_of(sample, predict(model, sample), model.config.smoothing)
