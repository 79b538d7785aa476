"""Kernel throughput (issue 3): pairs per second of the softmin, forward and backward.

In one run, on the same data (N = M = 20,000 and 100,000 points in 3D, float32):
our online softmin (numba) forward and backward, torch dense where it fits, pykeops
in CPU mode, and the machine's own vectorised ``exp`` throughput; plus the first-call
compile time of our kernels in fresh processes (cold and warm numba cache). Medians of
repeats. Prints a table and writes ``benchmarks/results/kernels.json``.

Usage: ``python benchmarks/kernels.py [--sizes 20000 100000] [--repeats 3] [--no-keops]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine, write_json
from _machine import median_time as shared_median_time
from brenier.geometry import Cost
from brenier.kernels import DensePair, OnlinePair

EPS = 0.01  # blur 0.1 on a unit cube


def median_time(fn, repeats: int) -> float:
    return shared_median_time(fn, repeats, warmup=True)[0]


def data(n: int):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, n, 3, generator=g)
    y = torch.rand(1, n, 3, generator=g)
    h = torch.full((1, n), -float(np.log(n))) + 0.1 * torch.randn(1, n, generator=g)
    return x, y, h


def online_forward(x, y, h):
    with torch.no_grad():
        return OnlinePair(x, y, p=2).softmin(EPS, h)


def online_backward(x, y, h):
    leaves = [t.clone().requires_grad_() for t in (x, y, h)]
    s = OnlinePair(leaves[0], leaves[1], p=2).softmin(EPS, leaves[2])

    def run():
        torch.autograd.grad(s.sum(), leaves, retain_graph=True)

    return run


def dense_forward(x, y, h):
    with torch.no_grad():
        return DensePair(Cost(2).matrix(x, y)).softmin(EPS, h)


def keops_forward(x, y, h):
    from brenier.kernels import KeOpsPair

    with torch.no_grad():
        return KeOpsPair(x, y, p=2).softmin(EPS, h)


def exp_throughput(repeats: int) -> dict:
    """Elements per second of np.exp (one thread) and of our fast_exp (all threads)."""
    from numba import njit, prange

    from brenier.kernels._online_exp import fast_exp

    @njit(parallel=True, fastmath=True)
    def exp_sum(a, reps):
        total = np.float32(0)
        for _ in prange(reps):
            acc = np.float32(0)
            for i in range(a.shape[0]):
                acc += fast_exp(a[i])
            total += acc
        return total

    # a 64 KiB array, in cache: this measures compute, not memory bandwidth
    a = -np.random.default_rng(0).random(1 << 14, dtype=np.float32) * 20
    out = np.empty_like(a)
    reps = 1024
    t_np = median_time(lambda: [np.exp(a, out=out) for _ in range(reps)], repeats)
    t_nb = median_time(lambda: exp_sum(a, reps), repeats)
    n = a.size * reps
    cores = os.cpu_count() or 1
    return {
        "np_exp_1thread": n / t_np,
        "np_exp_all_cores": cores * n / t_np,
        "fast_exp_sum_all_threads": n / t_nb,
    }


_COMPILE_SNIPPET = """
import time, torch
t0 = time.perf_counter()
from brenier.kernels import OnlinePair
t1 = time.perf_counter()
x = torch.rand(1, 50, 3, requires_grad=True); y = torch.rand(1, 60, 3, requires_grad=True)
h = torch.zeros(1, 60, requires_grad=True)
s = OnlinePair(x, y, p=2).softmin(0.01, h)
t2 = time.perf_counter()
s.sum().backward()
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def compile_times() -> dict:
    """First softmin (float32, p = 2) and its backward in fresh processes."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold_cache", "warm_cache"):
            res = subprocess.run(
                [sys.executable, "-c", _COMPILE_SNIPPET],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            imp, fwd, bwd = map(float, res.stdout.split())
            out[label] = {"import_s": imp, "first_forward_s": fwd, "first_backward_s": bwd}
    return out


def keops_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pykeops") is not None


def keops_compile_time() -> float | None:
    if not keops_available():
        return None
    with tempfile.TemporaryDirectory() as build:
        snippet = (
            "import time, torch, pykeops; pykeops.set_verbose(False); "
            f"pykeops.set_build_folder({build!r}); "
            "from brenier.kernels import KeOpsPair; x = torch.rand(1, 50, 3); "
            "t = time.perf_counter(); KeOpsPair(x, x, p=2).softmin(0.01, torch.zeros(1, 50)); "
            "print(time.perf_counter() - t)"
        )
        res = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True)
        return float(res.stdout.split()[-1]) if res.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-keops", action="store_true")
    parser.add_argument("--dense-max", type=int, default=20_000, help="largest N for dense")
    args = parser.parse_args()

    report: dict = {"machine": machine(), "eps": EPS, "dtype": "float32", "D": 3, "sizes": {}}
    report["exp_throughput"] = exp_throughput(args.repeats)
    report["compile"] = compile_times()
    report["keops_compile_s"] = None if args.no_keops else keops_compile_time()
    for n in args.sizes:
        report["sizes"][str(n)] = row = measure_size(n, args)
        print(f"N = M = {n}: " + ", ".join(f"{k} {v / 1e9:.3f} G/s" for k, v in row.items()))

    print_table(report)
    print(f"\nwritten to {write_json('kernels', report)}")


def measure_size(n: int, args: argparse.Namespace) -> dict:
    """Pairs per second of every contender on the same N = M = n problem."""
    x, y, h = data(n)
    pairs = n * n
    reps = args.repeats if n <= 20_000 else max(1, args.repeats - 1)
    row = {
        "online_forward": pairs / median_time(lambda: online_forward(x, y, h), reps),
        "online_backward": pairs / median_time(online_backward(x, y, h), reps),
    }
    if n <= args.dense_max:
        row["torch_dense_forward"] = pairs / median_time(lambda: dense_forward(x, y, h), 1)
    if not args.no_keops and keops_available():
        kreps = reps if n <= 20_000 else 1
        row["keops_cpu_forward"] = pairs / median_time(lambda: keops_forward(x, y, h), kreps)
    return row


def print_table(report: dict) -> None:
    m = report["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']}, numba {m['numba']}")
    print(f"load average at start: {m['load_average']}")
    exp = report["exp_throughput"]
    machine_exp = max(exp["np_exp_all_cores"], exp["fast_exp_sum_all_threads"])
    print("\n| N = M | ours fwd | ours bwd | torch dense | pykeops CPU | fwd/keops | fwd/exp |")
    print("|---|---|---|---|---|---|---|")
    for n, row in report["sizes"].items():
        keops = row.get("keops_cpu_forward")
        dense = row.get("torch_dense_forward")
        cells = [
            n,
            f"{row['online_forward'] / 1e9:.2f} G/s",
            f"{row['online_backward'] / 1e9:.2f} G/s",
            "-" if dense is None else f"{dense / 1e9:.3f} G/s",
            "-" if keops is None else f"{keops / 1e9:.3f} G/s",
            "-" if keops is None else f"{row['online_forward'] / keops:.1f}x",
            f"{100 * row['online_forward'] / machine_exp:.0f}%",
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        f"\nexp throughput: np.exp {exp['np_exp_1thread'] / 1e9:.2f} G/s on one thread "
        f"({exp['np_exp_all_cores'] / 1e9:.2f} G/s scaled to all cores), our fast_exp "
        f"{exp['fast_exp_sum_all_threads'] / 1e9:.2f} G/s on all threads"
    )
    for label, c in report["compile"].items():
        print(
            f"first call ({label}): import {c['import_s']:.2f} s, forward "
            f"{c['first_forward_s']:.2f} s, backward {c['first_backward_s']:.2f} s"
        )
    if report["keops_compile_s"] is not None:
        print(f"pykeops first call (empty build folder): {report['keops_compile_s']:.1f} s")


if __name__ == "__main__":
    main()
