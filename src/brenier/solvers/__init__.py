"""Solvers: the Sinkhorn loop and its entry points."""

from ._schedule import epsilon_schedule
from ._sinkhorn import Interactions, SinkhornState, sinkhorn_loop
from ._solve import DEFAULT_TOL, sinkhorn_divergence, solve, warn_unless_ok

__all__ = [
    "DEFAULT_TOL",
    "Interactions",
    "SinkhornState",
    "epsilon_schedule",
    "sinkhorn_divergence",
    "sinkhorn_loop",
    "solve",
    "warn_unless_ok",
]
