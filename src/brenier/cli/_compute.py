"""What the commands share once the inputs are read: tensors, the solve, the exact cost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import assignment, emd, solve
from ..results import OTResult
from ._errors import CLIError, ComputeError, InputError
from ._readers import Shape

#: Largest N * M for which the exact reference is an LP (weights or unequal sizes).
LP_LIMIT = 1_000_000
#: Largest N for which the exact reference is an assignment (auction, k-d tree).
ASSIGNMENT_LIMIT = 20_000


@contextmanager
def computing() -> Iterator[None]:
    """Turns errors while computing into CLI errors: the library's own validation
    (``[brenier] ...`` ValueError/TypeError: an option out of range) is bad usage,
    anything else is a failure (exit status 1)."""
    try:
        yield
    except CLIError:
        raise
    except (ValueError, TypeError) as error:
        if str(error).startswith("[brenier]"):
            raise InputError(str(error)) from error
        raise ComputeError(f"{type(error).__name__}: {error}") from error
    except (RuntimeError, MemoryError, ArithmeticError, OSError) as error:
        raise ComputeError(f"{type(error).__name__}: {error}") from error


def tensors(shape: Shape) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Points and weights as float64 tensors (weights None when uniform)."""
    w = None if shape.weights is None else torch.from_numpy(shape.weights)
    return torch.from_numpy(shape.points), w


def sinkhorn(a: Shape, b: Shape, callback: Any = None, **options: Any) -> tuple[OTResult, float]:
    """The debiased entropic OT problem between two shapes, and its run time."""
    x, wa = tensors(a)
    y, wb = tensors(b)
    start = time.perf_counter()
    with computing(), torch.no_grad():
        result = solve(x, y, wa, wb, callback=callback, **options)
    return result, time.perf_counter() - start


#: The default blur, as a fraction of the shapes' extent.
RELATIVE_BLUR = 0.01


def resolve_blur(blur: float | None, a: Shape, b: Shape) -> float:
    """The blur given, else 1% of the largest side of both shapes' bounding box (files
    come in any unit: millimetres, metres, pixels)."""
    if blur is not None:
        return blur
    both = np.concatenate([a.points, b.points])
    extent = float(np.ptp(both, axis=0).max())
    return RELATIVE_BLUR * extent if extent > 0 else 1.0


def sinkhorn_record(
    a: Shape, b: Shape, quiet: bool, **options: Any
) -> tuple[OTResult, dict[str, Any]]:
    """The solve with a progress bar, and what the commands report of it."""
    from ._progress import bar

    with bar(quiet, "Sinkhorn") as progress:
        result, seconds = sinkhorn(a, b, progress.sinkhorn, **options)
    record = {"value": float(result.value), "backend": result.backend,
              "blur": options.get("blur"), "reach": options.get("reach"),
              "iterations": result.iterations, "marginal_error": result.marginal_error,
              "status": result.status.value, "time_s": seconds}  # fmt: skip
    return result, record


@dataclass(frozen=True)
class Exact:
    """An exact OT cost, how it was computed and in how long."""

    value: float
    method: str
    seconds: float
    permutation: np.ndarray | None = None


def exact_reason(a: Shape, b: Shape, p: int) -> str | None:
    """Why no exact reference can be computed quickly, or None when it can."""
    if p not in (1, 2):
        return f"no exact solver for p = {p}"
    if a.size == b.size and a.weights is None and b.weights is None:
        return None if a.size <= ASSIGNMENT_LIMIT else f"N = {a.size} > {ASSIGNMENT_LIMIT}"
    if a.size * b.size <= LP_LIMIT:
        return None
    return f"unequal sizes or weights and N*M = {a.size * b.size} > {LP_LIMIT}"


def exact(a: Shape, b: Shape, p: int) -> Exact:
    """The exact OT cost: an optimal assignment (equal sizes, uniform), else an LP."""
    reason = exact_reason(a, b, p)
    if reason is not None:
        raise InputError(f"cannot compute the exact OT cost: {reason}; use the Sinkhorn value.")
    x, wa = tensors(a)
    y, wb = tensors(b)
    start = time.perf_counter()
    with computing():
        if a.size == b.size and wa is None and wb is None:
            match = assignment(x, y, p=p)
            return Exact(
                float(match.cost),
                f"assignment ({match.method})",
                time.perf_counter() - start,
                match.permutation.numpy(),
            )
        lp = emd(x, y, wa, wb, p=p)
        return Exact(float(lp.value), f"linear program ({lp.method})", time.perf_counter() - start)


def relative_error(estimate: float, reference: float) -> float:
    """(estimate - reference) / reference, signed; NaN when the reference is 0."""
    return (estimate - reference) / reference if reference != 0 else float("nan")


def describe(shape: Shape) -> dict[str, Any]:
    """An input, as the JSON output lists it."""
    return {
        "path": str(shape.path),
        "kind": shape.kind,
        "points": shape.size,
        "dim": shape.dim,
        "weighted": shape.weights is not None,
    }
