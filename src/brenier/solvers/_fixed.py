"""The strategy of every backend but multiscale: one set of kernels for all temperatures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from ..geometry import Geometry, PointCloud
from ..kernels import KernelBackend, pair_kernel
from ..problems import Objective
from ._stages import Interaction, SinkhornState, Stage


def interactions(objective: Objective, backend: KernelBackend) -> tuple[Interaction, ...]:
    """The kernels of every problem, built once by ``backend`` on the geometries'
    supports, or on the grids themselves for the grid backend (with the user's tensors:
    the value differentiates through them)."""
    out = []
    for problem in objective.problems:
        x, y, cost = problem.x, problem.y, problem.cost
        xy = pair_kernel(backend, x, y, cost)
        if problem.symmetric:
            out.append(Interaction.self_interaction(xy, x.weights.detach(), problem.rho))
        else:
            yx = pair_kernel(backend, y, x, cost)
            a, b = x.weights.detach(), y.weights.detach()
            out.append(Interaction.pair(xy, yx, a, b, problem.rho, points=_points(x, y)))
    return tuple(out)


def _points(x: Geometry, y: Geometry) -> tuple[Tensor, Tensor] | None:
    """The supports of two point clouds, for the loop's look at the transport map
    (grids: ``None``, their supports are not materialised)."""
    if isinstance(x, PointCloud) and isinstance(y, PointCloud):
        return x.points.detach(), y.points.detach()
    return None


@dataclass(frozen=True)
class FixedKernels:
    """The same kernels at every temperature of ``schedule``."""

    schedule: Sequence[float]
    interactions: tuple[Interaction, ...]

    @property
    def temperatures(self) -> Sequence[float]:
        return self.schedule

    def stage(self, index: int, state: SinkhornState | None) -> tuple[Stage, SinkhornState | None]:
        return Stage(self.schedule[index], self.interactions), state

    def differentiable(self, stage: Stage) -> Stage:
        return stage  # built on the user's tensors already
