"""Auction vs scipy's lapjv on 3D assignment problems from a real scan.

Both solvers run end to end through ``brenier.solvers.exact.assignment`` (lapjv pays for
its dense N x N cost matrix, the auction computes costs on the fly). Points are sampled
on the bundled Demosthenes scan (normalised to the unit box) and matched against

- ``resample``: an independent sample of the same surface (a small, local transport);
- ``rotated``: a sample of the surface rotated by 0.5 rad about z and shifted by 0.1
  (a large, global transport; hard for lapjv).

Usage: ``python benchmarks/assignment.py [--sizes 1000 2000 5000] [--repeats 3]``.
Prints a table and writes ``benchmarks/results/assignment.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numba
import numpy as np
import scipy
import torch

import brenier
from brenier.io import load_example, normalize, sample_surface
from brenier.solvers.exact import assignment

RESULTS = Path(__file__).parent / "results" / "assignment.json"


def machine() -> dict:
    model = "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "brenier": brenier.__version__,
        "device": "cpu",
    }


def problem(kind: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    vertices, faces = load_example("demosthenes")
    x = normalize(sample_surface(vertices, faces, n, seed=1))
    y = normalize(sample_surface(vertices, faces, n, seed=2))
    if kind == "rotated":
        c, s = np.cos(0.5), np.sin(0.5)
        y = y @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T + 0.1
    return torch.as_tensor(x), torch.as_tensor(y)


def timed(x: torch.Tensor, y: torch.Tensor, method: str, repeats: int):
    times, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = assignment(x, y, method=method)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), res


def run(sizes: list[int], kinds: list[str], repeats: int, lapjv_repeats: int) -> list[dict]:
    t0 = time.perf_counter()
    x, y = problem("resample", 64)
    assignment(x, y, method="auction")  # loads (or compiles) the numba kernels
    print(f"numba load/compile: {time.perf_counter() - t0:.2f} s")
    rows = []
    for kind in kinds:
        for n in sizes:
            x, y = problem(kind, n)
            t_auction, auction = timed(x, y, "auction", repeats)
            t_lapjv, lapjv = timed(x, y, "lapjv", lapjv_repeats)
            rows.append(
                {
                    "problem": kind,
                    "n": n,
                    "auction_s": t_auction,
                    "lapjv_s": t_lapjv,
                    "speedup": t_lapjv / t_auction,
                    "auction_cost": float(auction.cost),
                    "lapjv_cost": float(lapjv.cost),
                    "cost_difference": float(auction.cost - lapjv.cost),
                    "gap_bound": auction.gap_bound,
                    "exact": auction.exact,
                    "bids": auction.iterations,
                    "repeats": [repeats, lapjv_repeats],
                }
            )
            print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    print(
        f"{r['problem']:>9} {r['n']:>6} {r['auction_s']:>10.3f} {r['lapjv_s']:>10.3f} "
        f"{r['speedup']:>8.1f}x {r['auction_cost']:>14.10f} {r['lapjv_cost']:>14.10f} "
        f"{r['cost_difference']:>10.1e} {r['gap_bound']:>9.1e} {r['exact']!s:>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--problems", nargs="+", default=["resample", "rotated"])
    parser.add_argument("--repeats", type=int, default=5, help="auction repeats (median)")
    parser.add_argument("--lapjv-repeats", type=int, default=3, help="lapjv repeats (median)")
    args = parser.parse_args()
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, scipy {info['scipy']}")
    print(
        f"{'problem':>9} {'N':>6} {'auction s':>10} {'lapjv s':>10} {'speedup':>9} "
        f"{'auction cost':>14} {'lapjv cost':>14} {'cost diff':>10} {'gap bnd':>9} {'exact':>6}"
    )
    rows = run(args.sizes, args.problems, args.repeats, args.lapjv_repeats)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": info, "results": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
