"""All pairwise debiased Sinkhorn divergences of a collection of shapes, on Dask."""

from __future__ import annotations

import os
import pickle
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..._validation import PREFIX
from ...geometry import PointCloud
from ...kernels import KernelBackend, get_backend
from ...solvers import solve
from ._blocks import FORMAT, Block, Checkpoint, blocks, default_block_size, fill
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
from ._collection import Collection, check_masses, collect, fingerprint
from ._tasks import solve_block


@dataclass(frozen=True)
class PairwiseResult:
    """The matrix of debiased divergences of a collection, and how it was computed.

    Attributes:
        matrix: (n, n) float64, symmetric, zero diagonal: ``matrix[i, j]`` is
            :math:`S_\\varepsilon(\\mu_i, \\mu_j)`, as ``brenier.sinkhorn_divergence``
            returns it (for p = 2, about :math:`W_2^2/2` at small blur).
        names: the shapes' names.
        ok: (n, n) bool, whether each solve ended with an ok status (converged or not
            checked); :attr:`not_ok` lists the others.
        blocks: the number of blocks (tasks) of the upper triangle.
        computed_blocks: blocks solved by this call.
        resumed_blocks: blocks read back from the checkpoint.
        resubmitted: tasks submitted again after their worker was lost.
        block_size: shapes per side of a block.
        workers: worker threads of the cluster (0 when everything was resumed).
        seconds: wall-clock time of the call.
    """

    matrix: np.ndarray
    names: tuple[str, ...]
    ok: np.ndarray
    blocks: int
    computed_blocks: int
    resumed_blocks: int
    resubmitted: int
    block_size: int
    workers: int
    seconds: float

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.matrix if dtype is None else self.matrix.astype(dtype)

    @property
    def not_ok(self) -> list[tuple[int, int]]:
        """The pairs (i < j) whose solve stopped above its tolerance."""
        i, j = np.nonzero(np.triu(~self.ok, 1))
        return list(zip(i.tolist(), j.tolist(), strict=True))

    def distances(self) -> np.ndarray:
        """:math:`\\sqrt{2 \\max(S_\\varepsilon, 0)}`: for p = 2 an estimate of W_2, the
        metric that MDS and UMAP embed."""
        return np.sqrt(2 * np.clip(self.matrix, 0.0, None))


def solve_options(
    *, blur: float, reach: float | None, p: int, scaling: float, tol: float | None,
    max_iter: int, backend: str | KernelBackend, diameter: float | None,
) -> dict[str, Any]:  # fmt: skip
    """The keyword arguments of :func:`brenier.solve`, checked on a tiny problem (the
    library's own checks and messages) and for pickling before any Dask work."""
    options: dict[str, Any] = {
        "blur": blur, "reach": reach, "p": p, "scaling": scaling, "tol": tol,
        "max_iter": max_iter, "backend": backend, "diameter": diameter,
    }  # fmt: skip
    if not isinstance(backend, str):
        get_backend(backend)  # the protocol's names, else a TypeError
        try:
            pickle.dumps(backend)
        except Exception as error:
            raise TypeError(
                f"{PREFIX} the backend object {type(backend).__name__} cannot be pickled "
                f"({error}); Dask workers receive it by pickle: make it a module-level "
                "class with picklable attributes."
            ) from None
    elif backend != "auto":
        get_backend(backend)
    # the probe runs one iteration: the cap itself is checked here
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"{PREFIX} `max_iter` must be a positive integer, got {max_iter!r}.")
    probe = PointCloud(torch.zeros(1, 1, dtype=torch.float64))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        solve(probe, probe, **{**options, "backend": "dense", "max_iter": 1})
    return options


def _fingerprint_options(options: dict[str, Any]) -> dict[str, str]:
    backend = options["backend"]
    described = backend if isinstance(backend, str) else f"{type(backend).__qualname__}:{backend!r}"
    return {**{k: repr(v) for k, v in options.items()}, "backend": described}


def pairwise(
    shapes: Sequence[Any],
    *,
    blur: float,
    reach: float | None = None,
    names: Sequence[str] | None = None,
    p: int = 2,
    scaling: float = 0.5,
    tol: float | None = 1e-4,
    max_iter: int = 10_000,
    backend: str | KernelBackend = "auto",
    diameter: float | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    block_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    retries: int = 3,
    progress: bool | ProgressCallback | None = None,
    stall_timeout: float | None = STALL_TIMEOUT,
) -> PairwiseResult:
    """The symmetric matrix of debiased Sinkhorn divergences among shapes, on Dask.

    .. math::

        D_{ij} = S_\\varepsilon(\\mu_i, \\mu_j) = OT_\\varepsilon(\\mu_i, \\mu_j)
            - \\tfrac12 OT_\\varepsilon(\\mu_i, \\mu_i) - \\tfrac12 OT_\\varepsilon(\\mu_j, \\mu_j),
        \\qquad i < j,

    each entry one :func:`brenier.solve` at the given options, the same number as
    ``brenier.sinkhorn_divergence(x_i, x_j, ...)`` in a double loop. The n(n-1)/2 solves
    are grouped into blocks of the upper triangle (one Dask task each); the shapes are
    scattered to the cluster once.

    Args:
        shapes: n >= 2 shapes: points (N_i, D) as tensors or numpy arrays, pairs
            ``(points, weights)``, or unbatched :class:`~brenier.geometry.PointCloud` /
            :class:`~brenier.geometry.Grid` geometries; one dimension D and one dtype.
        blur, reach, p, scaling, tol, max_iter, backend, diameter: as in
            :func:`brenier.solve` (the library's defaults). ``backend`` may be a backend
            object: it is pickled to the workers.
        names: one name per shape, for messages and results.
        scheduler: ``None`` starts an embedded ``distributed.LocalCluster`` of ``workers``
            single-threaded processes (default: one per core) and closes it at the end;
            an address ``"tcp://host:8786"`` or a ``distributed.Client`` uses that cluster.
        workers: processes of the embedded cluster.
        block_size: shapes per side of a block (default: about 16 blocks per worker,
            at most 16 shapes a side).
        checkpoint: a directory where each finished block is written (atomically);
            with ``resume=True`` a killed job continues from the blocks found there
            (they must come from the same shapes and options) and returns the same matrix.
        resume: continue the job of ``checkpoint``.
        retries: times a task lost with its worker is submitted again.
        progress: a progress bar over blocks on stderr (``None``: only when stderr is a
            terminal), or a callable ``(finished, total)`` called after each block.
        stall_timeout: seconds without any finished block before giving up with a
            ``TimeoutError`` (default an hour; ``None``: no limit). A stalled cluster
            never hangs the call; with a ``checkpoint``, ``resume=True`` keeps the
            blocks finished before.

    Returns:
        A :class:`PairwiseResult`; ``np.asarray(result)`` is the matrix.

    Raises:
        ValueError / TypeError: a bad shape, named by its index and name, or a bad option,
            before any Dask work; an error of a solve names its pair.
        TimeoutError: no block finished for ``stall_timeout`` seconds (the message names
            the unfinished blocks).

    Shapes:
        n shapes -> matrix (n, n).

    Example:
        >>> import torch, brenier
        >>> clouds = [torch.randn(30, 2, dtype=torch.float64) + k for k in range(3)]
        >>> res = brenier.pairwise(clouds, blur=0.05, workers=1, progress=False)
        >>> res.matrix.shape, bool((res.matrix == res.matrix.T).all())
        ((3, 3), True)
    """
    start = time.perf_counter()
    collection = collect(shapes, names)
    if reach is None:
        check_masses(collection)
    options = solve_options(
        blur=blur, reach=reach, p=p, scaling=scaling, tol=tol, max_iter=max_iter,
        backend=backend, diameter=diameter,
    )  # fmt: skip
    if block_size is not None and (
        not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 1
    ):
        raise ValueError(f"{PREFIX} `block_size` must be a positive integer, got {block_size!r}.")
    if resume and checkpoint is None:
        raise ValueError(f"{PREFIX} resume=True needs the `checkpoint` directory to resume.")
    stall_timeout = check_stall_timeout(stall_timeout)
    n = len(collection)
    digest = fingerprint(collection, _fingerprint_options(options))
    old = None if checkpoint is None else Checkpoint.previous(checkpoint, digest, resume=resume)
    if old is not None and block_size not in (None, old["block_size"]):
        raise ValueError(
            f"{PREFIX} the checkpoint was written with block_size={old['block_size']}; "
            "resume with that size, or leave block_size unset."
        )
    job = _Job(collection, checkpoint, digest, np.zeros((n, n)), np.ones((n, n), dtype=bool))
    size = block_size or (None if old is None else int(old["block_size"]))  # type: ignore[call-overload]
    if size is not None:
        job.plan(size)  # a resumed job whose blocks are all on disk needs no cluster
    threads, resubmitted = 0, 0
    if size is None or job.todo:
        with dask_client(scheduler, workers=workers) as client:
            threads = worker_count(client)
            if size is None:
                job.plan(default_block_size(n, threads))
            static = (options, task_threads(scheduler))
            resubmitted = _solve_blocks(client, job, static, retries, progress, stall_timeout)
    _warn_not_ok(job.ok, collection)
    return PairwiseResult(
        matrix=job.matrix, names=collection.names, ok=job.ok, blocks=len(job.blocks),
        computed_blocks=len(job.todo), resumed_blocks=len(job.blocks) - len(job.todo),
        resubmitted=resubmitted, block_size=job.size, workers=threads,
        seconds=time.perf_counter() - start,
    )  # fmt: skip


@dataclass
class _Job:
    """The matrix being filled, its blocks and its checkpoint."""

    collection: Collection
    checkpoint: str | os.PathLike | None
    digest: str
    matrix: np.ndarray
    ok: np.ndarray
    store: Checkpoint | None = None
    size: int = 0
    blocks: list[Block] = field(default_factory=list)
    todo: list[Block] = field(default_factory=list)

    def plan(self, size: int) -> None:
        """Cuts the triangle into blocks of ``size``, reads back the finished ones (into
        the matrix) and keeps the others in ``todo``."""
        self.size = size
        c = self.collection
        if self.checkpoint is not None:
            manifest = {"format": FORMAT, "n": len(c), "names": list(c.names),
                        "fingerprint": self.digest, "block_size": size}  # fmt: skip
            self.store = Checkpoint(self.checkpoint, manifest).start()
        self.blocks = blocks(len(c), size)
        self.todo = []
        for block in self.blocks:
            found = None if self.store is None else self.store.load(block)
            if found is None:
                self.todo.append(block)
            else:
                self.place(block, *found)

    def place(self, block: Block, values: np.ndarray, good: np.ndarray) -> None:
        fill(self.matrix, block, values)
        fill(self.ok, block, good)

    def finished(self, task: Task, result: tuple[np.ndarray, np.ndarray]) -> None:
        """A block came back: saved first (a kill right after loses nothing), then placed."""
        if self.store is not None:
            self.store.save(task.key, *result)
        self.place(task.key, *result)


def _solve_blocks(
    client: Any, job: _Job, static: tuple[Any, ...], retries: int,
    progress: bool | ProgressCallback | None, stall_timeout: float | None,
) -> int:  # fmt: skip
    """Runs the missing blocks; returns how many tasks were submitted again."""
    labels = [job.collection.label(i) for i in range(len(job.collection))]
    tasks = [
        Task(block, solve_block, (block.rows, block.cols, labels, *static),
             [*block.rows, *block.cols])
        for block in job.todo
    ]  # fmt: skip
    callback, close = progress_callback(progress, "pairwise OT", len(tasks))
    try:
        stats = run_tasks(
            client, job.collection.shapes, tasks, job.finished, retries=retries,
            progress=callback, stall_timeout=stall_timeout,
        )  # fmt: skip
    finally:
        close()
    return stats.resubmitted


def _warn_not_ok(ok: np.ndarray, collection: Collection) -> None:
    bad = np.argwhere(np.triu(~ok, 1))
    if len(bad) == 0:
        return
    i, j = (int(v) for v in bad[0])
    warnings.warn(
        f"{PREFIX} {len(bad)} of {ok.shape[0] * (ok.shape[0] - 1) // 2} solves stopped above "
        f"their tolerance (first: {collection.label(i)} and {collection.label(j)}); "
        "`result.not_ok` lists them. Solve one pair with brenier.solve for its status and "
        "remedy (float64, a larger blur or tol).",
        RuntimeWarning,
        stacklevel=3,
    )
