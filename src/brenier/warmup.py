"""Compiles the numba kernels once and caches them (``make setup`` runs this).

The kernels are compiled on first use (``cache=True`` keeps them on disk): without this
step the first call after an install spent ~25 s compiling, silently (the demo's first
row, the first ``assignment``; issue 17.6). Run it again after upgrading numba:

    python -m brenier.warmup
"""

from __future__ import annotations

import time

import torch


def warm_up() -> dict[str, float]:
    """Runs each compiled path once on tiny problems, in float32 and float64, with
    gradients; returns the seconds each took (long the first time, short once cached)."""
    import brenier

    seconds: dict[str, float] = {}
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        name = str(dtype).removeprefix("torch.")
        for backend, p, n in (("online", 2, 40), ("online", 1, 40), ("multiscale", 2, 300)):
            x = torch.rand(n, 3, generator=gen, dtype=dtype).requires_grad_()
            y = torch.rand(n, 3, generator=gen, dtype=dtype)
            start = time.perf_counter()
            brenier.solve(x, y, p=p, blur=0.1, backend=backend).value.backward()
            seconds[f"{backend} p={p} {name}"] = time.perf_counter() - start
        from brenier.geometry import Grid

        image = torch.rand(2, 24, 20, generator=gen, dtype=dtype)
        image = image / image.sum((1, 2), keepdim=True)
        start = time.perf_counter()
        a = image[0].clone().requires_grad_()
        brenier.solve(Grid(a), Grid(image[1]), blur=1.0).value.backward()
        brenier.barycenter(image, blur=1.0)
        seconds[f"grid {name}"] = time.perf_counter() - start
        for dim in (2, 3):
            x, y = (torch.rand(64, dim, generator=gen, dtype=dtype) for _ in range(2))
            start = time.perf_counter()
            brenier.assignment(x, y, method="auction")
            seconds[f"auction {dim}D {name}"] = time.perf_counter() - start
    return seconds


def main() -> None:
    start = time.perf_counter()
    seconds = warm_up()
    print(
        f"[brenier] numba kernels compiled and cached ({len(seconds)} paths, "
        f"{time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
