"""The strategy of every backend but multiscale: one set of kernels for all temperatures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
            out.append(
                Interaction.pair(xy, yx, x.weights.detach(), y.weights.detach(), problem.rho)
            )
    return tuple(out)


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
