"""Spatial transforms: affine maps, smooth displacement fields, and their composition.

Every registration step returns one of these; the registration result is their
composition, so that any points (landmarks, the full-resolution mesh) can be moved,
not only the samples that were registered.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._kernel_sums import gaussian_sums


@dataclass(frozen=True)
class AffineTransform:
    """z -> z A^T + t.

    Attributes:
        matrix: A, (D, D); a rotation times a scale for rigid and similarity maps.
        translation: t, (D,).
    """

    matrix: Tensor
    translation: Tensor

    @classmethod
    def identity(cls, dim: int = 3, dtype: torch.dtype = torch.float64) -> AffineTransform:
        return cls(torch.eye(dim, dtype=dtype), torch.zeros(dim, dtype=dtype))

    def apply(self, points: Tensor) -> Tensor:
        """Moves points (K, D) -> (K, D)."""
        return points @ self.matrix.to(points).T + self.translation.to(points)

    def compose(self, first: AffineTransform) -> AffineTransform:
        """The affine map ``self ∘ first``: first ``first``, then ``self``."""
        return AffineTransform(
            self.matrix @ first.matrix, first.translation @ self.matrix.T + self.translation
        )


@dataclass(frozen=True)
class SmoothDisplacement:
    """z -> z + v(z), v a Gaussian-kernel average of displacements known at centres.

    .. math::

        v(z) = \\frac{\\sum_i w_i\\, k_i(z)\\, d_i}{\\sum_i w_i\\, k_i(z) + \\delta},
        \\qquad k_i(z) = \\exp\\!\\big(-\\tfrac12 (z - c_i)^\\top P_i (z - c_i)\\big)

    with :math:`P_i = I / \\sigma^2` (isotropic) or an anisotropic precision from the
    local principal directions of the shape. The small :math:`\\delta` (1% of the
    typical kernel mass) lets v fade to zero far from the centres instead of
    extrapolating a constant.

    Attributes:
        centers: c, (K, D). displacements: d, (K, D). weights: w, (K,), >= 0.
        sigma: kernel width (the longest axis when anisotropic).
        precisions: P, (K, D, D), or ``None`` for the isotropic kernel.
        fade: :math:`\\delta`.
    """

    centers: Tensor
    displacements: Tensor
    weights: Tensor
    sigma: float
    precisions: Tensor | None = None
    fade: float = 0.0

    def _sums(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """:math:`\\sum_i w_i k_i(z) d_i` (K, D) and :math:`\\sum_i w_i k_i(z)` (K,),
        over the centres within ``CUTOFF`` sigma of each point (:mod:`._kernel_sums`)."""
        return gaussian_sums(
            points, self.centers, self.weights, self.displacements, self.sigma, self.precisions
        )

    def kernel_mass(self, points: Tensor) -> Tensor:
        """:math:`\\sum_i w_i k_i(z)` at the points, (K,): the denominator of v."""
        return self._sums(points)[1]

    def velocity(self, points: Tensor) -> Tensor:
        """v(points), (K, D)."""
        num, mass = self._sums(points)
        return num / (mass[:, None] + self.fade)

    def apply(self, points: Tensor) -> Tensor:
        """Moves points (K, D) -> (K, D)."""
        return points + self.velocity(points)


@dataclass(frozen=True)
class KernelSpline:
    """z -> z + sum_k exp(-|z - c_k|^2 / 2 sigma^2) alpha_k: Gaussian splines on control points.

    Attributes:
        controls: c, (K, D). coefficients: alpha, (K, D). sigma: the kernel width.
    """

    controls: Tensor
    coefficients: Tensor
    sigma: float

    def velocity(self, points: Tensor) -> Tensor:
        """The displacement at points (K, D), differentiable wrt. the coefficients."""
        sq = torch.cdist(points, self.controls.to(points)) ** 2
        return torch.exp(-0.5 * sq / self.sigma**2) @ self.coefficients.to(points)

    def apply(self, points: Tensor) -> Tensor:
        chunks = [p + self.velocity(p) for p in torch.split(points, 8192)]
        return torch.cat(chunks) if chunks else points


@dataclass(frozen=True)
class Composite:
    """The steps applied one after the other (the first one first)."""

    steps: tuple[object, ...]

    def apply(self, points: Tensor) -> Tensor:
        for step in self.steps:
            points = step.apply(points)  # type: ignore[attr-defined]
        return points
