"""Solvers: the one Sinkhorn loop, its strategies, its entry points, and exact solvers."""

from ._fixed import FixedKernels
from ._schedule import epsilon_schedule
from ._sinkhorn import sinkhorn_loop
from ._solve import DEFAULT_TOL, sinkhorn_divergence, solve, warn_unless_ok
from ._stages import Interaction, KernelStrategy, LoopOptions, SinkhornState, Stage

__all__ = [
    "DEFAULT_TOL",
    "FixedKernels",
    "Interaction",
    "KernelStrategy",
    "LoopOptions",
    "SinkhornState",
    "Stage",
    "epsilon_schedule",
    "sinkhorn_divergence",
    "sinkhorn_loop",
    "solve",
    "warn_unless_ok",
]
