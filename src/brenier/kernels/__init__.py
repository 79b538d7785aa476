"""Kernels: the softmin and its companion reductions, one protocol, several backends."""

from ._dense import DenseBackend, DensePair
from ._keops import KeOpsBackend, KeOpsPair
from ._online import OnlineBackend, OnlinePair
from ._protocol import KernelBackend, PairKernel
from ._registry import (
    DEFAULT_MEMORY_BUDGET,
    available_backends,
    choose_backend,
    get_backend,
    register_backend,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DenseBackend",
    "DensePair",
    "KeOpsBackend",
    "KeOpsPair",
    "KernelBackend",
    "OnlineBackend",
    "OnlinePair",
    "PairKernel",
    "available_backends",
    "choose_backend",
    "get_backend",
    "register_backend",
]
