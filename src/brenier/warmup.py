"""Compiles the numba kernels once and caches them (``make setup`` runs this).

The kernels are compiled on first use (``cache=True`` keeps them on disk, in the
``__pycache__`` folders next to their sources): without this step the first call after
an install spent ~25 s compiling, silently (the demo's first row, the first
``assignment``; issue 17.6). Run it again after upgrading numba:

    python -m brenier.warmup                      # every compiled path (make setup)
    python -m brenier.warmup --only demo --jobs 2  # those of `brenier demo` (make demo)

Each path is one small problem that makes numba compile one family of kernels for one
dtype. Where pykeops is installed, the ``keops`` path compiles the KeOps formulas that
the fast test suite and a first ``backend="keops"`` solve use (KeOps caches them per
virtual environment: each new one, e.g. a fresh clone's, compiled them again inside the
suite, about 4 minutes on two cores); a failure there prints a line and leaves the
formulas to be compiled at their first use, it never fails the setup.

Numba compiles in the calling process, one function at a time, and its cache is one
pair of files per function (written atomically), so ``--jobs N`` compiles the paths
in N processes at once; a kernel compiled by two of them is merely compiled twice.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _solve(backend: str, p: int, n: int, dtype: torch.dtype, grad: bool) -> None:
    import brenier

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, generator=gen, dtype=dtype).requires_grad_(grad)
    y = torch.rand(n, 3, generator=gen, dtype=dtype)
    result = brenier.solve(x, y, p=p, blur=0.1, backend=backend)
    if grad:
        result.value.backward()
        if backend == "online" and p == 2:  # the transport map and its gradient
            z = x.detach().clone().requires_grad_()
            brenier.transport_map(result, z).sum().backward()
            brenier.barycentric_projection(result)
    elif backend == "online":  # the demo's Brenier map, drawn from an online solve
        with torch.no_grad():
            result.transport_map(x)


def _multiscale(dtype: torch.dtype, grad: bool) -> None:
    """The multiscale solve; with ``grad`` (``all``) also its truncation down a chain of
    nested grids (``select_blocks``: many clusters, as 10^5 points have) and the block
    kernel's softmax-weighted sum (``planvec``) with its backward, which the suite
    compiled before."""
    _solve("multiscale", 2, 300, dtype, grad)
    if not grad:
        return
    import brenier
    from brenier.kernels.block_sparse import (
        BlockSparsePair,
        BlockSparsity,
        MultiscaleBackend,
        SortedPair,
    )

    gen = torch.Generator().manual_seed(0)
    x, y = (torch.rand(n, 3, generator=gen, dtype=dtype) for n in (300, 250))
    brenier.solve(x, y, blur=0.05, backend=MultiscaleBackend(clusters=8, block_size=8))
    full = SortedPair(torch.arange(300), torch.arange(300), torch.arange(250),
                      BlockSparsity.full(300, 250))  # fmt: skip
    v = y[None].clone().requires_grad_()  # planvec and the fused backward
    BlockSparsePair(x[None], y[None], (full,)).softmax_sum(
        0.3, torch.zeros(1, 250, dtype=dtype), v
    ).sum().backward()


def _grid(dtype: torch.dtype, grad: bool) -> None:
    import brenier
    from brenier.geometry import Grid

    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, 24, 20, generator=gen, dtype=dtype)
    image = image / image.sum((1, 2), keepdim=True)
    a = image[0].clone().requires_grad_(grad)
    result = brenier.solve(Grid(a), Grid(image[1]), blur=1.0)
    if grad:
        result.value.backward()
    brenier.barycenter(image, blur=1.0)


def _auction(dim: int, dtype: torch.dtype) -> None:
    import brenier

    gen = torch.Generator().manual_seed(0)
    x, y = (torch.rand(64, dim, generator=gen, dtype=dtype) for _ in range(2))
    brenier.assignment(x, y, method="auction")


def _fields(anisotropic: bool = True) -> None:
    """The truncated Gaussian sums of registration's smooth fields (float64 only): the
    isotropic 3D kernel, and with ``anisotropic`` the general one (unused by the demo)."""
    from brenier.applications.registration._kernel_sums import gaussian_sums

    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(50, 3, generator=gen, dtype=torch.float64)
    precisions = torch.eye(3, dtype=torch.float64).expand(50, 3, 3) * 25
    for p in (None, precisions) if anisotropic else (None,):
        gaussian_sums(centers, centers, torch.ones(50), centers, 0.2, p)


def _chain(*paths: Callable[[], None]) -> None:
    for path in paths:
        path()


def _keops() -> None:
    """The KeOps formulas (one per reduction, gradient, dtype, dimension, cost, and for
    one point each) of a first solve and of ``make test``: a float32 solve in 3D with its
    gradient; the softmin of each cost in float64 3D with its gradient in x
    (``tests/kernels/test_keops.py``); one point each (every operand a KeOps parameter);
    the softmax-weighted sum of the transport map, float64 2D."""
    try:
        import brenier
        from brenier.kernels import KeOpsPair

        gen = torch.Generator().manual_seed(0)
        x = torch.rand(20, 3, generator=gen).requires_grad_()
        brenier.solve(
            x, torch.rand(30, 3, generator=gen), blur=0.1, backend="keops"
        ).value.backward()
        for p in (1, 2):
            x64 = torch.randn(2, 30, 3, generator=gen, dtype=torch.float64).requires_grad_()
            y64 = torch.randn(2, 40, 3, generator=gen, dtype=torch.float64)
            KeOpsPair(x64, y64, p=p).softmin(
                0.3, torch.zeros(2, 40, dtype=torch.float64)
            ).sum().backward()
        one = torch.rand(1, 1, 3, generator=gen)
        KeOpsPair(one, one + 1, p=2).softmin(10.0, torch.zeros(1, 1))
        x2, y2 = (torch.randn(1, n, 2, generator=gen, dtype=torch.float64) for n in (20, 25))
        KeOpsPair(x2, y2, p=2).softmax_sum(0.5, torch.zeros(1, 25, dtype=torch.float64), y2)
    except Exception as error:  # a missing compiler, a broken pykeops: never fail the setup
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"[brenier] KeOps formulas not compiled ({type(error).__name__}: {first}); "
            "backend='keops' will compile them at its first use."
        )


def _has_pykeops() -> bool:
    return importlib.util.find_spec("pykeops") is not None


def _paths(grad: bool, dtypes: Sequence[str]) -> dict[str, Callable[[], None]]:
    paths: dict[str, Callable[[], None]] = {}
    for name in dtypes:
        dtype = DTYPES[name]
        for dim in (2, 3):
            paths[f"auction {dim}D {name}"] = partial(_auction, dim, dtype)
        paths[f"multiscale p=2 {name}"] = partial(_multiscale, dtype, grad)
        for p in (2, 1):
            paths[f"online p={p} {name}"] = partial(_solve, "online", p, 40, dtype, grad)
        paths[f"grid {name}"] = partial(_grid, dtype, grad)
    paths["registration fields"] = _fields
    return paths


#: Every compiled path, with gradients: what ``make setup`` (and so ``make test``) needs;
#: the KeOps formulas first (the longest), where pykeops is installed.
ALL = {
    **({"keops": _keops} if _has_pykeops() else {}),
    **_paths(grad=True, dtypes=("float32", "float64")),
}

#: The kernels ``brenier demo`` calls (read off the numba cache a cold demo wrote), as
#: paths of ``ALL`` without gradients: the 3D auction of its exact cost, the multiscale
#: and online Sinkhorn with the Brenier map in float64 (the scans, the 2D history) and
#: float32 (the registration), the grid kernels in float64 (the barycenters) and the
#: registration's isotropic smooth fields. The paths that share kernels (the Sinkhorn
#: ones of a dtype) are one path here, so that two processes do not compile the same
#: kernel at once; in this order they balance over two processes, and the float32
#: Sinkhorn starts after the auction, once the other process has compiled the
#: truncation kernels that both dtypes call (compile CPU, one after the other on the
#: 2-core machine: 9.6, 7.2, 6.8, 3.5 and 2.2 s; the former paths took 40 s).
DEMO_PARTS: dict[str, tuple[str, ...]] = {
    "multiscale and online p=2 float64": ("multiscale p=2 float64", "online p=2 float64"),
    "auction 3D float64": ("auction 3D float64",),
    "multiscale and online p=2 float32": ("multiscale p=2 float32", "online p=2 float32"),
    "grid float64": ("grid float64",),
    "registration fields": ("registration fields",),
}
_FORWARD: dict[str, Callable[[], None]] = {
    **_paths(grad=False, dtypes=("float32", "float64")),
    "registration fields": partial(_fields, anisotropic=False),
}
DEMO: dict[str, Callable[[], None]] = {
    name: partial(_chain, *(_FORWARD[part] for part in parts)) for name, parts in DEMO_PARTS.items()
}

GROUPS: dict[str, dict[str, Callable[[], None]]] = {"all": ALL, "demo": DEMO}


def _timed(group: str, name: str) -> float:
    start = time.perf_counter()
    GROUPS[group][name]()
    return time.perf_counter() - start


def warm_up(only: str = "all", jobs: int = 1) -> dict[str, float]:
    """Runs each compiled path of the group ``only`` (``"all"`` or ``"demo"``) once on a
    tiny problem, in ``jobs`` processes; returns the seconds each took (long the first
    time, short once cached).

    With several processes, each path runs in one of them, in the order listed: see
    ``DEMO`` for how the demo's paths are grouped and ordered for two processes.
    """
    from ._validation import PREFIX

    if only not in GROUPS:
        raise ValueError(f"{PREFIX}only={only!r}: expected one of {sorted(GROUPS)}.")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"{PREFIX}jobs={jobs!r}: expected a positive integer.")
    names = list(GROUPS[only])
    if jobs == 1 or len(names) == 1:
        return {name: _timed(only, name) for name in names}
    return _in_processes(only, names, min(jobs, len(names)))


def _in_processes(group: str, names: list[str], jobs: int) -> dict[str, float]:
    """The paths in order, each taken by the first process free: ``jobs - 1`` spawned
    ones and this one (which saves a process the import of torch and brenier, ~2 s of
    CPU, and the compile of numba's own helpers)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process running torch
    seconds: dict[str, float] = {}
    futures: dict[str, Future[float]] = {}
    with ProcessPoolExecutor(jobs - 1, mp_context=context) as pool:
        pending = list(names)
        while pending:
            if sum(not future.done() for future in futures.values()) < jobs - 1:
                futures[pending[0]] = pool.submit(_timed, group, pending[0])
            else:
                seconds[pending[0]] = _timed(group, pending[0])
            pending.pop(0)
        seconds.update({name: future.result() for name, future in futures.items()})
    return {name: seconds[name] for name in names}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m brenier.warmup",
        description="Compile and cache the numba kernels (and KeOps formulas, with pykeops).",
    )
    parser.add_argument(
        "--only",
        choices=sorted(GROUPS),
        default="all",
        help="all: every compiled path (default); demo: those `brenier demo` calls.",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="processes compiling at once (default 1)."
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: expected a positive integer.")
    start = time.perf_counter()
    seconds = warm_up(args.only, args.jobs)
    keops = " and KeOps formulas" if "keops" in seconds else ""
    print(
        f"[brenier] numba kernels{keops} compiled and cached ({len(seconds)} paths of "
        f"{args.only!r}, {args.jobs} process(es), {time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
