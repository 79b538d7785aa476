"""The linearised OT embedding: one solve per shape against a reference, n instead of n^2/2.

For a reference measure :math:`\\rho = \\sum_m w_m \\delta_{r_m}` and the Brenier maps
:math:`T_k` from :math:`\\rho` to each shape :math:`\\mu_k`, the vectors

.. math::

    v_k = \\big(\\sqrt{w_m}\\,(T_k(r_m) - r_m)\\big)_{m} \\in \\mathbb{R}^{M D}

are Euclidean coordinates of the shapes (Wang et al., 2013, "A linear optimal
transportation framework"): :math:`|v_k - v_l|^2 = \\sum_m w_m |T_k(r_m) - T_l(r_m)|^2`
is the cost of the (generally suboptimal) plan from :math:`\\mu_k` to :math:`\\mu_l` through
the reference, an upper bound of :math:`W_2^2(\\mu_k, \\mu_l)` that is exact when the maps
compose well (translations, scalings, shapes close to the reference). In the library's
convention :math:`C = |x-y|^2/2`, the estimate of the divergence matrix is
:math:`|v_k - v_l|^2 / 2`, and :func:`linearization_error` measures it against the true
matrix of :func:`brenier.pairwise`.

The reference is a *template*: by default the shape closest to the mean of the
collection, measured on Gaussian moments, :math:`\\arg\\min_k
\\mathrm{BW}(\\mathcal{N}(m_k, \\Sigma_k), \\mathcal{N}(\\bar m, \\bar\\Sigma))` with
:math:`\\bar m, \\bar\\Sigma` the moments of the mixture :math:`\\frac1n\\sum_k \\mu_k`
(closed form, no solve); or a shape by index; or any cloud the user gives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..._validation import PREFIX
from ...geometry import Geometry
from ...kernels import KernelBackend
from ...transport import bures_wasserstein
from ._cluster import (
    STALL_TIMEOUT,
    ProgressCallback,
    Task,
    check_stall_timeout,
    dask_client,
    progress_callback,
    run_tasks,
    task_threads,
    worker_count,
)
from ._collection import as_geometry, check_masses, collect
from ._pairwise import solve_options
from ._tasks import map_chunk

MAPS = ("transport", "barycentric")


@dataclass(frozen=True)
class LinearizedEmbedding:
    """Brenier maps from one reference to every shape, as Euclidean vectors.

    Attributes:
        maps: (n, M, D) float64, :math:`T_k(r_m)`: where the map to shape k sends each
            reference point.
        reference: (M, D) float64, the reference points :math:`r_m`.
        reference_weights: (M,) float64, their masses :math:`w_m`, summing to 1.
        reference_index: the index of the template shape, or None for a given cloud.
        names: the shapes' names.
        ok: (n,) bool, whether each solve ended with an ok status.
        workers: worker threads of the cluster.
        seconds: wall-clock time.
    """

    maps: np.ndarray
    reference: np.ndarray
    reference_weights: np.ndarray
    reference_index: int | None
    names: tuple[str, ...]
    ok: np.ndarray
    workers: int
    seconds: float

    @property
    def vectors(self) -> np.ndarray:
        """(n, M * D): :math:`v_k = \\sqrt{w}\\,(T_k(r) - r)`, flattened."""
        scaled = (self.maps - self.reference) * np.sqrt(self.reference_weights)[:, None]
        return scaled.reshape(len(self.maps), -1)

    def matrix(self) -> np.ndarray:
        """(n, n): :math:`|v_k - v_l|^2 / 2`, the estimate of the divergence matrix."""
        v = self.vectors
        sq = (v**2).sum(1)
        gram = v @ v.T
        return np.clip(sq[:, None] + sq[None, :] - 2 * gram, 0.0, None) / 2

    def distances(self) -> np.ndarray:
        """(n, n): :math:`|v_k - v_l|`, the estimate of W_2 that MDS and UMAP embed."""
        return np.sqrt(2 * self.matrix())

    def error(self, matrix: Any) -> dict[str, float]:
        """:func:`linearization_error` of this embedding against the true matrix."""
        return linearization_error(self.matrix(), matrix)


def linearization_error(estimate: Any, matrix: Any) -> dict[str, float]:
    """How far an estimated divergence matrix is from the true one, over the pairs i < j.

    Returns:
        ``relative_frobenius`` :math:`\\|E - S\\|_F / \\|S\\|_F`; ``median_relative`` and
        ``max_relative``, of :math:`|E_{ij} - S_{ij}| / S_{ij}`; ``spearman``, the rank
        correlation (1: the same order of the pairs, what MDS and UMAP mostly see).
    """
    from scipy.stats import spearmanr

    E, S = np.asarray(estimate, dtype=np.float64), np.asarray(matrix, dtype=np.float64)
    if E.shape != S.shape or E.ndim != 2 or E.shape[0] != E.shape[1] or len(E) < 2:
        raise ValueError(
            f"{PREFIX} the matrices have shapes {E.shape} and {S.shape}; expected two "
            "square matrices of one size n >= 2."
        )
    i, j = np.triu_indices(len(S), 1)
    e, s = E[i, j], S[i, j]
    rel = np.abs(e - s) / np.maximum(np.abs(s), np.finfo(np.float64).tiny)
    rho = spearmanr(e, s).statistic if len(s) > 1 else 1.0
    return {
        "relative_frobenius": float(np.linalg.norm(e - s) / np.linalg.norm(s)),
        "median_relative": float(np.median(rel)),
        "max_relative": float(rel.max()),
        "spearman": float(rho),
    }


def _moments(geometry: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    x = geometry.support[0].double()
    w = geometry.weights[0].double()
    w = w / w.sum()
    mean = w @ x
    centred = x - mean
    return mean, (centred * w[:, None]).T @ centred


def template_index(shapes: Sequence[Geometry]) -> int:
    """The shape whose Gaussian moments are closest (Bures-Wasserstein) to those of the
    mixture of all shapes: the default reference of :func:`linearized_embedding`."""
    means, covs = zip(*(_moments(g) for g in shapes), strict=True)
    m = torch.stack(means)
    c = torch.stack(covs)
    mean = m.mean(0)
    spread = m - mean
    cov = c.mean(0) + spread.T @ spread / len(shapes)
    costs = bures_wasserstein(m, c, mean.expand_as(m), cov.expand_as(c))
    return int(costs.argmin())


def linearized_embedding(
    shapes: Sequence[Any],
    *,
    blur: float,
    reference: Any = None,
    names: Sequence[str] | None = None,
    map: str = "transport",
    reach: float | None = None,
    scaling: float = 0.5,
    tol: float | None = 1e-4,
    max_iter: int = 10_000,
    backend: str | KernelBackend = "auto",
    scheduler: Any = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    retries: int = 3,
    progress: bool | ProgressCallback | None = None,
    stall_timeout: float | None = STALL_TIMEOUT,
) -> LinearizedEmbedding:
    """The linearised OT embedding of a collection (module docstring): n solves on Dask.

    Args:
        shapes: as in :func:`brenier.pairwise`.
        blur, reach, scaling, tol, max_iter, backend: as in :func:`brenier.solve` (p = 2).
        reference: ``None`` (the template closest to the mean, see
            :func:`template_index`), the index of a shape, or a cloud: points (M, D), a
            pair ``(points, weights)`` or a :class:`~brenier.geometry.PointCloud`.
        names: one name per shape.
        map: ``"transport"``, the debiased Brenier map :math:`z - \\nabla F(z)` at the
            reference points (:meth:`~brenier.OTResult.transport_map`, free of the
            blur's shrinkage), or ``"barycentric"``
            (:meth:`~brenier.OTResult.barycentric_projection`).
        scheduler, workers, retries, progress, stall_timeout: as in
            :func:`brenier.pairwise` (``stall_timeout``: seconds without any finished
            chunk before a ``TimeoutError``; default an hour, ``None``: no limit).
        chunk_size: shapes per task (default: about 4 tasks per worker, at most 16).

    Returns:
        A :class:`LinearizedEmbedding`.

    Shapes:
        n shapes, a reference of M points in dimension D -> vectors (n, M * D).

    Example:
        >>> import torch, brenier
        >>> from brenier.applications.pairwise import linearized_embedding
        >>> x = torch.randn(40, 2, dtype=torch.float64)
        >>> emb = linearized_embedding([x, x + 1, x + 2], blur=0.05, reference=0,
        ...                            workers=1, progress=False)
        >>> round(float(emb.matrix()[0, 2]), 2)  # |shift|^2 / 2 = 8 / 2
        4.0
    """
    start = time.perf_counter()
    collection = collect(shapes, names)
    if reach is None:
        check_masses(collection)
    if map not in MAPS:
        raise ValueError(f"{PREFIX} `map` must be one of {MAPS}, got {map!r}.")
    options = solve_options(
        blur=blur, reach=reach, p=2, scaling=scaling, tol=tol, max_iter=max_iter,
        backend=backend, diameter=None,
    )  # fmt: skip
    stall_timeout = check_stall_timeout(stall_timeout)
    ref, index = _reference(reference, collection)
    if reach is None and index is None:
        check_masses(collect([collection.shapes[0], ref], ["shape 0", "reference"]))
    n = len(collection)
    chunk_size = _chunk(chunk_size)
    maps = np.empty((n, ref.weights.shape[-1], collection.dim))
    ok = np.zeros(n, dtype=bool)
    labels = [collection.label(i) for i in range(n)]
    with dask_client(scheduler, workers=workers) as client:
        threads = worker_count(client)
        size = chunk_size or max(1, min(16, math.ceil(n / (4 * threads))))
        chunks = [list(range(s, min(s + size, n))) for s in range(0, n, size)]
        tasks = [
            Task(
                chunk,
                map_chunk,
                (chunk, labels, options, map, task_threads(scheduler)),
                [n, *chunk],
            )
            for chunk in chunks
        ]

        def on_result(task: Task, result: tuple[np.ndarray, np.ndarray]) -> None:
            maps[task.key], ok[task.key] = result

        callback, close = progress_callback(progress, "linearised OT", len(tasks))
        try:
            run_tasks(client, [*collection.shapes, ref], tasks, on_result, retries=retries,
                      progress=callback, stall_timeout=stall_timeout)  # fmt: skip
        finally:
            close()
    w = ref.weights[0].detach().cpu().double().numpy()
    return LinearizedEmbedding(
        maps=maps, reference=ref.support[0].detach().cpu().double().numpy(),
        reference_weights=w / w.sum(), reference_index=index, names=collection.names,
        ok=ok, workers=threads, seconds=time.perf_counter() - start,
    )  # fmt: skip


def _chunk(chunk_size: int | None) -> int | None:
    if chunk_size is not None and (
        not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise ValueError(f"{PREFIX} `chunk_size` must be a positive integer, got {chunk_size!r}.")
    return chunk_size


def _reference(reference: Any, collection: Any) -> tuple[Geometry, int | None]:
    if reference is None:
        index = template_index(collection.shapes)
        return collection.shapes[index], index
    if isinstance(reference, int) and not isinstance(reference, bool):
        if not -len(collection) <= reference < len(collection):
            raise ValueError(
                f"{PREFIX} `reference` {reference} is not a shape index: the collection "
                f"holds {len(collection)} shapes."
            )
        index = reference % len(collection)
        return collection.shapes[index], index
    try:
        geometry = as_geometry(reference)
    except (ValueError, TypeError) as error:
        body = str(error).removeprefix(PREFIX).strip()
        raise type(error)(f"{PREFIX} `reference` is invalid: {body}") from None
    if geometry.dim != collection.dim or geometry.weights.dtype != collection.dtype:
        raise ValueError(
            f"{PREFIX} `reference` has dimension {geometry.dim} and dtype "
            f"{geometry.weights.dtype}; the shapes have {collection.dim} and "
            f"{collection.dtype}: give the reference in the shapes' space and dtype."
        )
    return geometry, None
