"""The shipped backends and the written ``backend="auto"`` rule.

Nothing is registered at import time: the shipped backends are built on demand by
name, and a custom backend is any object of the :class:`~brenier.kernels.KernelBackend`
protocol passed as ``backend=`` (picklable, so it reaches Dask workers as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._validation import PREFIX
from ..geometry import Cost, Geometry, Grid
from ._dense import DenseBackend
from ._grid import GridBackend
from ._keops import KeOpsBackend
from ._memory import memory_budget
from ._online import OnlineBackend
from ._protocol import KernelBackend, PairKernel
from .block_sparse import MULTISCALE_MIN_POINTS, MultiscaleBackend

#: Largest B * N * M for which ``auto`` keeps the dense kernel on CPU.
DENSE_MAX_PAIRS_CPU = 10_000

#: The shipped backends, in the order in which ``auto`` looks for a memory-linear one.
SHIPPED: dict[str, type[KernelBackend]] = {
    "dense": DenseBackend,
    "online": OnlineBackend,
    "keops": KeOpsBackend,
    "multiscale": MultiscaleBackend,
    "grid": GridBackend,
}


def needs_grids(backend: KernelBackend) -> bool:
    """Whether ``backend`` pairs grids (``pair_grids``) rather than point supports."""
    return hasattr(backend, "pair_grids")


def pair_kernel(backend: KernelBackend, x: Geometry, y: Geometry, cost: Cost) -> PairKernel:
    """The kernel between two measures: a grid backend gets the grids themselves, any
    other backend their supports (the cell centres of a grid)."""
    if needs_grids(backend):
        if not (isinstance(x, Grid) and isinstance(y, Grid)):
            raise TypeError(
                f"{PREFIX} backend {backend.name!r} works on Grid geometries (images and "
                f"volumes), not on {type(x).__name__}/{type(y).__name__}; use backend='auto'."
            )
        return backend.pair_grids(x, y, cost)  # type: ignore[attr-defined]
    return backend.pair(x.support, y.support, cost)


def available_backends() -> tuple[str, ...]:
    return ("auto", *SHIPPED)


def get_backend(backend: str | KernelBackend) -> KernelBackend:
    """A shipped backend by name, or ``backend`` itself if it is a backend object."""
    if not isinstance(backend, str):
        for attribute in ("name", "supports", "pair"):
            if not hasattr(backend, attribute):
                raise TypeError(
                    f"{PREFIX} `backend` must be a name ({', '.join(available_backends())}) "
                    f"or a KernelBackend object with `name`, `supports` and `pair`; got "
                    f"{type(backend).__name__} without `{attribute}`."
                )
        return backend  # checked above: it has the protocol's names
    if backend not in SHIPPED:
        raise ValueError(
            f"{PREFIX} unknown backend {backend!r}; available: {', '.join(available_backends())}, "
            "or pass a KernelBackend object."
        )
    return SHIPPED[backend]()


def dense_bytes(B: int, N: int, M: int, itemsize: int, debias: bool) -> int:
    """Memory of the dense cost matrices (xy, yx and, when debiasing, xx and yy)."""
    pairs = 2 * N * M + (N * N + M * M if debias else 0)
    # logsumexp materialises one more matrix of the largest pair at each call
    return B * itemsize * (pairs + max(N, M) ** 2)


@dataclass(frozen=True)
class BackendRequest:
    """What :func:`choose_backend` needs to know.

    Attributes:
        backend: ``"auto"``, a shipped backend's name, or a backend object.
        cost: the ground cost.
        shape: (B, N, M): batch size and sizes of both measures.
        dim: the dimension D of the space.
        itemsize: bytes per number (4 for float32).
        device_type: ``"cpu"``, ``"cuda"``, ...
        debias: whether the symmetric problems need kernels too.
        memory_budget: bytes allowed for dense matrices (``None``: the default 2 GiB).
        purpose: ``"loop"`` for the Sinkhorn loop (which may run a multiscale strategy),
            ``"pair"`` for callers that need one pair kernel (plans, maps, losses).
        grids: whether both measures are :class:`~brenier.geometry.Grid` geometries.
    """

    backend: str | KernelBackend
    cost: Cost
    shape: tuple[int, int, int]
    dim: int
    itemsize: int = 4
    device_type: str = "cpu"
    debias: bool = True
    memory_budget: int | None = None
    purpose: Literal["loop", "pair"] = "pair"
    grids: bool = False


def choose_backend(request: BackendRequest) -> KernelBackend:
    """Picks the kernel backend.

    The ``auto`` rule, in order:

    1. A custom cost callable needs its matrix: ``dense`` (error above the budget).
    2. ``grid`` when both measures are grids (images, volumes) and p = 2: separable
       log-convolutions, exact and memory-linear (``docs/grids.md``).
    3. ``dense`` when its cost matrices fit the memory budget (default 2 GiB) and either
       the data is on a GPU (torch's dense kernels are fast there) or the problem is
       tiny (B * N * M <= 10^4 pairs: measured crossover on 2 CPU cores, where the
       compiled kernel's call overhead, ~90 us, dominates).
    4. ``multiscale`` for the Sinkhorn loop (``purpose="loop"``) on CPU when p = 1 or 2,
       D <= 3 and both clouds hold at least ``MULTISCALE_MIN_POINTS`` (2,000) points:
       measured faster than ``online`` from 1,000 points, 5x at 5,000
       (``docs/multiscale.md``).
    5. Otherwise the first shipped memory-linear backend for point supports that
       supports the cost (``online``: compiled numba kernels on CPU, chunked torch on GPU).
    6. ``dense`` if it fits after all; else a clear error.

    An explicit name or object is honoured, except ``dense`` above the memory budget,
    which raises instead of exhausting memory.

    Example:
        >>> from brenier.geometry import Cost
        >>> from brenier.kernels import BackendRequest, choose_backend
        >>> choose_backend(BackendRequest("auto", Cost(p=2), (1, 50_000, 50_000), dim=3)).name
        'online'
    """
    B, N, M = request.shape
    budget = memory_budget(request.memory_budget)
    need = dense_bytes(B, N, M, request.itemsize, request.debias)
    fits = need <= budget
    cost = request.cost
    if not (isinstance(request.backend, str) and request.backend == "auto"):
        backend = get_backend(request.backend)
        if not backend.supports(cost):
            fix = (
                "use backend='dense' (custom costs need their matrix)"
                if cost.function is not None
                else "use backend='online' (or 'auto'), which computes it without a matrix"
            )
            raise ValueError(
                f"{PREFIX} backend {backend.name!r} cannot compute the cost {cost.name}; {fix}."
            )
        if isinstance(backend, DenseBackend) and not fits:
            raise MemoryError(
                f"{PREFIX} the dense backend needs {need / 1e9:.2f} GB for B={B}, N={N}, M={M}, "
                f"above the memory budget of {budget / 1e9:.2f} GB. Use backend='online' or "
                "'auto', or raise `memory_budget`."
            )
        if isinstance(backend, MultiscaleBackend) and request.device_type != "cpu":
            raise ValueError(
                f"{PREFIX} backend 'multiscale' runs on the CPU (compiled kernels); the data "
                f"is on {request.device_type!r}. Use backend='auto' (dense or online there), "
                "'online' or 'keops', or move the data to the CPU."
            )
        if needs_grids(backend) and not request.grids:
            raise TypeError(
                f"{PREFIX} backend {backend.name!r} works on Grid geometries (images and "
                "volumes), not on point clouds; use backend='auto'."
            )
        return backend
    if cost.function is not None:
        if not fits:
            raise MemoryError(
                f"{PREFIX} a custom cost needs the dense backend, which would use "
                f"{need / 1e9:.2f} GB (budget {budget / 1e9:.2f} GB). Use p=1 or p=2, "
                "subsample the clouds, or raise `memory_budget`."
            )
        return DenseBackend()
    grid = GridBackend()
    if request.grids and grid.supports(cost):
        return grid
    if fits and (request.device_type != "cpu" or B * N * M <= DENSE_MAX_PAIRS_CPU):
        return DenseBackend()
    multiscale = MultiscaleBackend()
    if (
        request.purpose == "loop"
        and request.device_type == "cpu"
        and request.dim <= 3
        and min(N, M) >= MULTISCALE_MIN_POINTS
        and multiscale.supports(cost)
    ):
        return multiscale
    for factory in SHIPPED.values():
        backend = factory()
        if backend.memory_linear and backend.supports(cost) and not needs_grids(backend):
            return backend
    if fits:
        return DenseBackend()
    raise MemoryError(
        f"{PREFIX} no memory-linear backend supports the cost {cost.name} and the dense "
        f"one needs {need / 1e9:.2f} GB (budget {budget / 1e9:.2f} GB); raise `memory_budget`."
    )
