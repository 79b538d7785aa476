"""Multiscale Sinkhorn vs online and GeomLoss's multiscale backend (issue 4).

Data with an exact reference (DESIGN.md, the convex-gradient construction): x samples
the Nefertiti scan (normalised), y_i = grad phi(x_i) with the strictly convex
phi(x) = |x|^2/2 + 0.05 sum_k log cosh(3 x_k), i.e. y = x + 0.15 tanh(3 x), then y is
shuffled. The identity matching is optimal, so OT = mean |x_i - y_i|^2 / 2 exactly.

For each N we report the relative error of the debiased Sinkhorn divergence on the
exact cost, and the wall-clock time (one run: these are long), for brenier's
``multiscale`` backend, brenier's ``online`` backend (N <= --online-max) and
GeomLoss's ``multiscale`` backend through KeOps on CPU (N <= --geomloss-max: it needs
minutes above 10^4 points here).

GOMP_SPINCOUNT=10000 is set before torch is imported, as ``brenier._openmp`` does
(the OpenMP threads spin about 0.1 ms after a parallel region, then sleep). It is
recorded in the JSON.

Usage: python benchmarks/multiscale.py [--sizes 10000 100000] [--blur 0.01] [--plot out.png]
"""

from __future__ import annotations

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # as brenier._openmp does, before torch loads

import argparse
import json
import resource
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import brenier
from _machine import machine, write_json
from brenier.io import load_example, normalize, sample_surface


def brenier_pair(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x on the scan, y = grad phi(x) shuffled, and the exact OT cost."""
    vertices, faces = load_example("nefertiti")
    x = sample_surface(normalize(vertices), faces, n, seed=seed)
    y = x + 0.15 * np.tanh(3 * x)
    exact = float(((x - y) ** 2).sum(1).mean() / 2)
    y = y[np.random.default_rng(seed + 1).permutation(n)]
    return torch.from_numpy(x).float(), torch.from_numpy(y).float(), exact


def run_brenier(x, y, blur: float, backend: str, **options) -> tuple[float, float, int]:
    start = time.perf_counter()
    res = brenier.solve(x, y, blur=blur, scaling=0.5, backend=backend, **options)
    return float(res.value), time.perf_counter() - start, res.iterations


def run_geomloss(x, y, blur: float) -> tuple[float, float, int]:
    from geomloss import SamplesLoss

    loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=0.5, backend="multiscale")
    start = time.perf_counter()
    value = float(loss(x, y))
    return value, time.perf_counter() - start, -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--blur", type=float, default=0.01)
    parser.add_argument("--online-max", type=int, default=10_000)
    parser.add_argument("--geomloss-max", type=int, default=10_000)
    parser.add_argument("--default-max", type=int, default=100_000)
    parser.add_argument("--name", default="multiscale", help="results/<name>.json")
    parser.add_argument("--plot", default="", help="save a log-log plot of time vs N here")
    parser.add_argument(
        "--plot-from", nargs="+", default=[], help="only plot the rows of these result JSONs"
    )
    args = parser.parse_args()
    if args.plot_from:
        rows = [r for path in args.plot_from for r in json.loads(Path(path).read_text())["rows"]]
        plot(rows, args.plot)
        return

    try:  # warm-up: numba kernels from cache, KeOps formulas compiled once
        xs, ys, _ = brenier_pair(500)
        run_brenier(xs, ys, 0.05, "multiscale")
        run_geomloss(xs, ys, 0.05)
        geomloss_error = None
    except Exception as err:
        geomloss_error = f"{type(err).__name__}: {err}"
    rows = []
    print(f"{'N':>8} {'method':>22} {'rel. error':>11} {'time (s)':>9} {'iters':>6}")
    for n in args.sizes:
        x, y, exact = brenier_pair(n)
        methods = [
            ("brenier ms tol=1e-2", partial(run_brenier, x, y, args.blur, "multiscale", tol=1e-2))
        ]
        if n <= args.default_max:
            methods.append(
                ("brenier multiscale", partial(run_brenier, x, y, args.blur, "multiscale"))
            )
        if n <= args.online_max:
            methods.append(("brenier online", partial(run_brenier, x, y, args.blur, "online")))
        if n <= args.geomloss_max and geomloss_error is None:
            methods.append(("geomloss multiscale", partial(run_geomloss, x, y, args.blur)))
        for name, fn in methods:
            value, seconds, iters = fn()
            err = abs(value - exact) / exact
            rows.append(
                {
                    "n": n,
                    "method": name,
                    "value": value,
                    "exact": exact,
                    "relative_error": err,
                    "seconds": seconds,
                    "iterations": iters,
                }
            )
            print(f"{n:>8} {name:>22} {err:>11.2e} {seconds:>9.2f} {iters:>6}", flush=True)
    payload = {
        "machine": machine(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
        "blur": args.blur,
        "scaling": 0.5,
        "dtype": "float32",
        "geomloss": geomloss_error or "ran (KeOps on CPU)",
        "geomloss_max_n": args.geomloss_max,
        "online_max_n": args.online_max,
        "note": "one run per row (no repeats); the machine is shared: timings are noisy",
        "rows": rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(f"peak resident memory of the process: {payload['peak_rss_mb']:.0f} MB")
    print(write_json(args.name, payload))
    if args.plot:
        plot(rows, args.plot)


def plot(rows: list[dict], path: str) -> None:
    """Time against N, log-log, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name in dict.fromkeys(r["method"] for r in rows):
        last = {r["n"]: r["seconds"] for r in rows if r["method"] == name}  # latest run wins
        pts = sorted(last.items())
        ax.loglog(*zip(*pts, strict=True), "o-", label=name)
    ax.set_xlabel("points per shape N")
    ax.set_ylabel("time (s), 2-core CPU")
    ax.set_title("Debiased Sinkhorn divergence, Nefertiti scan, blur 0.01")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
