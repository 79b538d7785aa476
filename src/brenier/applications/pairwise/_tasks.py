"""What runs on the Dask workers: plain functions of picklable arguments.

Each solve is :func:`brenier.solve` at the options of the job, exactly what a user's
double loop of :func:`brenier.sinkhorn_divergence` computes, pair by pair.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...geometry import Geometry
from ...solvers import solve
from ._cluster import limit_threads


def _named_error(error: Exception, what: str) -> Exception:
    """The same exception type with the pair or shape it came from in the message."""
    kind = (
        type(error) if isinstance(error, (ValueError, TypeError, ArithmeticError)) else RuntimeError
    )
    message = str(error)
    prefix = "[brenier]" if message.startswith("[brenier]") else ""
    body = message.removeprefix("[brenier]").strip()
    text = f"{prefix} {what}: {body}".strip()
    try:
        return kind(text)
    except Exception:  # an exception type whose constructor takes other arguments
        return RuntimeError(f"{type(error).__name__}: {text}")


def solve_block(
    rows: range,
    cols: range,
    labels: Sequence[str],
    options: dict[str, Any],
    threads: int | None,
    *shapes: Geometry,
) -> tuple[np.ndarray, np.ndarray]:
    """The debiased divergences of one block of pairs.

    Args:
        rows, cols: the block's shape indices; ``shapes`` holds the rows' shapes, then the
            columns' (a diagonal block passes its shapes twice).
        labels: how errors name the shapes, by index.
        options: keyword arguments of :func:`brenier.solve`.
        threads: torch and numba threads of the task (None: as the worker is set up).

    Returns:
        values (len(rows), len(cols)), NaN where i >= j, and ``ok`` (same shape): whether
        each solve's status is ok (converged or not checked).
    """
    limit_threads(threads)
    row_shapes, col_shapes = shapes[: len(rows)], shapes[len(rows) :]
    values = np.full((len(rows), len(cols)), np.nan)
    ok = np.zeros((len(rows), len(cols)), dtype=bool)
    for r, i in enumerate(rows):
        for c, j in enumerate(cols):
            if i >= j:
                continue
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    result = solve(row_shapes[r], col_shapes[c], **options)
            except Exception as error:
                raise _named_error(error, f"pair ({labels[i]}, {labels[j]})") from None
            values[r, c] = float(result.value)
            ok[r, c] = result.status.ok
    return values, ok


def map_chunk(
    indices: Sequence[int],
    labels: Sequence[str],
    options: dict[str, Any],
    kind: str,
    threads: int | None,
    reference: Geometry,
    *shapes: Geometry,
) -> tuple[np.ndarray, np.ndarray]:
    """Maps from the reference to each shape, at the reference's points.

    Returns:
        maps (len(indices), M, D) in float64, and ``ok`` (len(indices),).
    """
    limit_threads(threads)
    points = reference.support[0]
    out = np.empty((len(indices), *points.shape))
    ok = np.zeros(len(indices), dtype=bool)
    for k, (i, shape) in enumerate(zip(indices, shapes, strict=True)):
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                result = solve(reference, shape, **options)
                if kind == "barycentric":
                    mapped = result.barycentric_projection()
                else:
                    mapped = result.transport_map(points)
        except Exception as error:
            raise _named_error(error, f"map to {labels[i]}") from None
        out[k] = mapped.detach().cpu().double().numpy()
        ok[k] = result.status.ok
    return out, ok
