"""The grid backend's softmin (issue 10): one log-convolution on images and volumes.

In one run, on the same data (float32, a blur of 1.5 cells; ``h = log b + g/eps`` with
``b`` a Gaussian blob and ``g`` the potential of a translation by 6 cells, so the
mass each output sees sits away from it, as in a Sinkhorn iteration):

- brenier's grid kernel (numba: pruned, 16 lines at a time, one per SIMD lane);
- GeomLoss's ``softmin_grid`` (per axis, dense over each line, pykeops in CPU mode);
- torch's dense per-axis ``logsumexp`` (brenier's own path off the CPU);
- with ``--reference DIR``, the same call on an older brenier tree (``DIR/src``), in
  a subprocess on the same data.

Values are compared with brenier's (largest difference over the range of the
values). Medians of repeats. Prints a table and writes
``benchmarks/results/grid_kernel.json``.

Usage: ``python benchmarks/grid_kernel.py [--repeats 5] [--reference /work/wt-prev]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine, median_time, write_json
from brenier.geometry import Cost, Grid
from brenier.kernels import GridBackend
from brenier.kernels._grid import Axis, dense_lines

#: (name, batch, side, dimension): four images and four volumes, as the barycenters.
CASES = (("4 x 256^2", 4, 256, 2), ("4 x 128^3", 4, 128, 3))
BLUR_CELLS = 1.5
SHIFT_CELLS = 6.0


def problem(batch: int, side: int, dim: int) -> tuple[Tensor, float]:
    """``h`` (batch, side^dim) on the unit grid of spacing 1/side, and eps."""
    h_cell = 1.0 / side
    eps = (BLUR_CELLS * h_cell) ** 2
    axis = (torch.arange(side, dtype=torch.float64) + 0.5) * h_cell
    grids = torch.meshgrid(*([axis] * dim), indexing="ij")
    centres = torch.linspace(0.35, 0.65, batch, dtype=torch.float64)
    h = []
    for c in centres:
        r2 = sum((g - c) ** 2 for g in grids)
        log_b = -r2 / (2 * 0.1**2)
        g = SHIFT_CELLS * h_cell * sum(grids)  # <s, y>: a translation by s
        h.append((log_b - torch.logsumexp(log_b.flatten(), 0) + g / eps).flatten())
    return torch.stack(h).float(), eps


def brenier_softmin(h: Tensor, side: int, dim: int, eps: float) -> Tensor:
    masses = torch.ones(1, *([side] * dim))
    grid = Grid(masses, spacing=1.0 / side, origin=0.5 / side, batched=True)
    with torch.no_grad():
        return GridBackend().pair_grids(grid, grid, Cost(p=2)).softmin(eps, h)


def torch_dense_softmin(h: Tensor, side: int, dim: int, eps: float) -> Tensor:
    """The same separable softmin with every line dense (brenier's ``torch.logsumexp``
    path off the CPU)."""
    c = 0.5 / eps
    axis = Axis(side, 0.5 / side, 1.0 / side, side, 0.5 / side, 1.0 / side)
    H = h.reshape(h.shape[0], *([side] * dim))
    with torch.no_grad():
        for d in range(1, dim + 1):
            moved = H.movedim(d, -1)
            out = dense_lines(moved.reshape(-1, side), axis, c)
            H = out.reshape(moved.shape).movedim(-1, d)
    return -eps * H.reshape(h.shape[0], -1)


def geomloss_softmin(h: Tensor, side: int, dim: int, eps: float) -> Tensor:
    """GeomLoss's grid softmin; its grid is ``arange(N) / N`` (same spacing as ours)."""
    from geomloss._legacy.utils import softmin_grid

    with torch.no_grad():
        out = softmin_grid(eps, 2, h.reshape(h.shape[0], 1, *([side] * dim)))
    return out.reshape(h.shape[0], -1)


def reference_time(tree: Path, h: Tensor, side: int, dim: int, eps: float, repeats: int):
    """Median seconds of the same softmin on an older brenier tree, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "h.pt", Path(tmp) / "out.pt"
        torch.save(h, data)
        snippet = f"""
import statistics, time, torch
from brenier.geometry import Cost, Grid
from brenier.kernels import GridBackend
h = torch.load({str(data)!r})
grid = Grid(torch.ones(1, *([{side}] * {dim})), spacing=1 / {side}, origin=0.5 / {side},
            batched=True)
pair = GridBackend().pair_grids(grid, grid, Cost(p=2))
with torch.no_grad():
    pair.softmin({eps!r}, h)
    times = []
    for _ in range({repeats}):
        t = time.perf_counter(); s = pair.softmin({eps!r}, h); times.append(time.perf_counter() - t)
torch.save(s, {str(out)!r})
print(statistics.median(times))
"""
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        res = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                             env=env, check=True)  # fmt: skip
        return float(res.stdout.split()[-1]), torch.load(out)


def difference(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / (b.max() - b.min()))


def measure(name: str, batch: int, side: int, dim: int, args) -> dict:
    h, eps = problem(batch, side, dim)
    outputs = h.numel() * dim
    row: dict = {"case": name, "outputs_per_softmin": outputs, "eps": eps}
    ours_s, ours = median_time(lambda: brenier_softmin(h, side, dim, eps), args.repeats, True)
    row["brenier_s"] = ours_s
    print(f"{name}: brenier {ours_s * 1e3:.0f} ms", flush=True)
    if args.reference is not None:
        ref_s, ref = reference_time(args.reference, h, side, dim, eps, args.repeats)
        row.update(reference_s=ref_s, reference_difference=difference(ref, ours))
        print(f"  reference tree {ref_s * 1e3:.0f} ms", flush=True)
    dense_s, dense = median_time(lambda: torch_dense_softmin(h, side, dim, eps), 1)
    row.update(torch_dense_s=dense_s, torch_dense_difference=difference(dense, ours))
    print(f"  torch dense {dense_s * 1e3:.0f} ms", flush=True)
    if not args.no_keops and importlib.util.find_spec("pykeops") is not None:
        geomloss_softmin(h[:1, : side**dim], side, dim, eps)  # compile the formula
        keops_s, keops = median_time(lambda: geomloss_softmin(h, side, dim, eps), 1)
        row.update(geomloss_keops_s=keops_s, geomloss_difference=difference(keops, ours))
        print(f"  GeomLoss softmin_grid (pykeops CPU) {keops_s * 1e3:.0f} ms", flush=True)
    return row


def print_table(report: dict) -> None:
    m = report["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']}, numba {m['numba']}")
    print(f"load average at start: {m['load_average']}")
    print("\n| case | brenier | reference tree | torch dense | GeomLoss (KeOps CPU) |")
    print("|---|---:|---:|---:|---:|")
    for row in report["cases"]:
        cells = [row["case"], f"{row['brenier_s'] * 1e3:.0f} ms"]
        for key in ("reference", "torch_dense", "geomloss_keops"):
            seconds = row.get(f"{key}_s")
            diff = row.get(f"{key.split('_keops')[0]}_difference")
            cells.append("-" if seconds is None else
                         f"{seconds * 1e3:.0f} ms ({seconds / row['brenier_s']:.1f}x, "
                         f"diff {diff:.1e})")  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference", type=Path, default=None, help="an older brenier tree")
    parser.add_argument("--no-keops", action="store_true")
    args = parser.parse_args()
    report = {"machine": machine(), "blur_cells": BLUR_CELLS, "dtype": "float32", "cases": []}
    for case in CASES:
        report["cases"].append(measure(*case, args))
    print_table(report)
    print(f"\nwritten to {write_json('grid_kernel', report)}")


if __name__ == "__main__":
    main()
