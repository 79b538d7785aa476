"""Backend registry and the written ``backend="auto"`` rule."""

from __future__ import annotations

from .._validation import PREFIX
from ..geometry import Cost
from ..multiscale import MULTISCALE_MIN_POINTS, MultiscaleBackend
from ._dense import DenseBackend
from ._keops import KeOpsBackend
from ._online import OnlineBackend
from ._protocol import KernelBackend

#: Default memory budget for dense cost matrices, in bytes (all four Sinkhorn problems).
DEFAULT_MEMORY_BUDGET = 2 * 1024**3
#: Largest B * N * M for which ``auto`` keeps the dense kernel on CPU.
DENSE_MAX_PAIRS_CPU = 10_000

# Order matters: `auto` takes the first memory-linear backend; keops is not one of
# them (opt-in only: it compiles with a C++ compiler at first use).
_BACKENDS: dict[str, KernelBackend] = {
    "dense": DenseBackend(),
    "online": OnlineBackend(),
    "keops": KeOpsBackend(),
    # not memory_linear: `auto` picks it by its own rule (step 3 of choose_backend)
    "multiscale": MultiscaleBackend(),
}


def register_backend(backend: KernelBackend) -> None:
    """Makes a backend available under ``backend.name``."""
    _BACKENDS[backend.name] = backend


def available_backends() -> tuple[str, ...]:
    return ("auto", *_BACKENDS)


def get_backend(name: str) -> KernelBackend:
    if name not in _BACKENDS:
        raise ValueError(
            f"{PREFIX} unknown backend {name!r}; available: {', '.join(available_backends())}."
        )
    return _BACKENDS[name]


def dense_bytes(B: int, N: int, M: int, itemsize: int, debias: bool) -> int:
    """Memory of the dense cost matrices (xy, yx and, when debiasing, xx and yy)."""
    pairs = 2 * N * M + (N * N + M * M if debias else 0)
    # logsumexp materialises one more matrix of the largest pair at each call
    return B * itemsize * (pairs + max(N, M) ** 2)


def choose_backend(
    requested: str,
    cost: Cost,
    shape: tuple[int, int, int],
    itemsize: int,
    debias: bool,
    memory_budget: int | None,
    device_type: str = "cpu",
    dim: int | None = None,
) -> KernelBackend:
    """Picks the kernel backend.

    The ``auto`` rule, in order:

    1. A custom cost callable needs its matrix: ``dense`` (error above the budget).
    2. ``dense`` when its cost matrices fit ``memory_budget`` (default 2 GiB) and either
       the data is on a GPU (torch's dense kernels are fast there) or the problem is
       tiny (B * N * M <= 10^4 pairs: measured crossover on 2 CPU cores, where the
       compiled kernel's call overhead, ~90 us, dominates).
    3. ``multiscale`` for the Sinkhorn loop on CPU when p = 2, the dimension ``dim``
       is given and <= 3 and both clouds hold at least ``MULTISCALE_MIN_POINTS``
       (2,000) points: measured faster than ``online`` from 1,000 points, 5x at 5,000
       (``docs/multiscale.md``). Callers that only need a pair kernel leave ``dim``
       out.
    4. Otherwise the first registered memory-linear backend that supports the cost
       (``online``: compiled numba kernels on CPU, chunked torch on GPU).
    5. ``dense`` if it fits after all; else a clear error.

    An explicit name is honoured, except ``dense`` above the memory budget, which
    raises instead of exhausting memory.
    """
    B, N, M = shape
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    need = dense_bytes(B, N, M, itemsize, debias)
    fits = need <= budget
    if requested != "auto":
        backend = get_backend(requested)
        if not backend.supports(cost):
            fix = (
                "use backend='dense' (custom costs need their matrix)"
                if cost.function is not None
                else "use backend='online' (or 'auto'), which computes it without a matrix"
            )
            raise ValueError(
                f"{PREFIX} backend {requested!r} cannot compute the cost {cost.name}; {fix}."
            )
        if backend.name == "dense" and not fits:
            raise MemoryError(
                f"{PREFIX} the dense backend needs {need / 1e9:.2f} GB for B={B}, N={N}, M={M}, "
                f"above the memory budget of {budget / 1e9:.2f} GB. Use backend='online' or "
                "'auto', or raise `memory_budget`."
            )
        return backend
    dense = _BACKENDS["dense"]
    if cost.function is not None:
        if not fits:
            raise MemoryError(
                f"{PREFIX} a custom cost needs the dense backend, which would use "
                f"{need / 1e9:.2f} GB (budget {budget / 1e9:.2f} GB). Use p=1 or p=2, "
                "subsample the clouds, or raise `memory_budget`."
            )
        return dense
    if fits and (device_type != "cpu" or B * N * M <= DENSE_MAX_PAIRS_CPU):
        return dense
    multiscale = _BACKENDS.get("multiscale")
    if (
        device_type == "cpu"
        and dim is not None
        and dim <= 3
        and min(N, M) >= MULTISCALE_MIN_POINTS
        and multiscale is not None
        and multiscale.supports(cost)
    ):
        return multiscale
    for name, backend in _BACKENDS.items():
        if name != "dense" and getattr(backend, "memory_linear", False) and backend.supports(cost):
            return backend
    if fits:
        return dense
    raise MemoryError(
        f"{PREFIX} no memory-linear backend is available and the dense one needs "
        f"{need / 1e9:.2f} GB (budget {budget / 1e9:.2f} GB); raise `memory_budget`."
    )
