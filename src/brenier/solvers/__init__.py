"""Solvers: the one Sinkhorn loop, its strategies, its entry points, and exact solvers."""

from ._barycenter import BARYCENTER_TOL, barycenter
from ._fixed import FixedKernels
from ._pyramid import GridPyramid
from ._schedule import epsilon_schedule
from ._sinkhorn import sinkhorn_loop
from ._solve import DEFAULT_TOL, sinkhorn_divergence, solve, warn_unless_ok
from ._stages import FreeMeasure, Interaction, KernelStrategy, LoopOptions, SinkhornState, Stage

__all__ = [
    "BARYCENTER_TOL",
    "DEFAULT_TOL",
    "FixedKernels",
    "FreeMeasure",
    "GridPyramid",
    "Interaction",
    "KernelStrategy",
    "LoopOptions",
    "SinkhornState",
    "Stage",
    "barycenter",
    "epsilon_schedule",
    "sinkhorn_divergence",
    "sinkhorn_loop",
    "solve",
    "warn_unless_ok",
]
