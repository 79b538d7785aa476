"""Kernels: the softmin and its companion reductions, one protocol, several backends."""

from ._dense import DenseBackend, DensePair
from ._grid import GridBackend, GridPair
from ._keops import KeOpsBackend, KeOpsPair
from ._memory import DEFAULT_MEMORY_BUDGET, budget_scope, memory_budget
from ._online import OnlineBackend, OnlinePair
from ._protocol import KernelBackend, PairKernel
from ._registry import (
    BackendRequest,
    available_backends,
    choose_backend,
    dense_bytes,
    get_backend,
    needs_grids,
    pair_kernel,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "BackendRequest",
    "DenseBackend",
    "DensePair",
    "GridBackend",
    "GridPair",
    "KeOpsBackend",
    "KeOpsPair",
    "KernelBackend",
    "OnlineBackend",
    "OnlinePair",
    "PairKernel",
    "available_backends",
    "budget_scope",
    "choose_backend",
    "dense_bytes",
    "get_backend",
    "memory_budget",
    "needs_grids",
    "pair_kernel",
]
