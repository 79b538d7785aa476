"""Sinkhorn divergence on CPU, 10,000 vs 10,000 3D points: brenier vs GeomLoss (issue 3).

Data: the convex-gradient construction on the Nefertiti scan (`_shapes.py`), so the
exact OT cost is known. brenier runs at its defaults (online kernel, tolerance 1e-3);
GeomLoss runs its CPU backends ("online" and "multiscale" through KeOps, "tensorized"
where it fits) at scalings 0.5 (its default) and 0.7 (one timed run each at 10k), on
the same float32 data and blur. "Best GeomLoss" is its fastest run within 1% of the
exact cost (or its most accurate run if none is). Peak memory is the resident-set growth of a fresh process
running one brenier solve, at several N.

Usage: python benchmarks/sinkhorn_cpu.py [-n 10000] [--blur 0.02] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import brenier
from _machine import machine, median_time, write_json
from _shapes import convex_gradient_pair

MEMORY_PROBE = """
import resource, sys, torch, brenier
sys.path.insert(0, {here!r})
from _shapes import convex_gradient_pair
n = {n}
x, y, _ = convex_gradient_pair(n)
x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
brenier.solve(x[:100], y[:100], blur={blur}, backend="online")  # compile / load caches
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
brenier.solve(x, y, blur={blur})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
"""


def peak_memory_mb(n: int, blur: float) -> float:
    code = MEMORY_PROBE.format(here=str(Path(__file__).parent), n=n, blur=blur)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def geomloss_runs(x, y, blur, exact, repeats):
    import geomloss

    runs = []
    n = x.shape[0]
    backends = ["online", "multiscale"] + (["tensorized"] if n <= 5000 else [])
    for backend in backends:
        for scaling in (0.5, 0.7):
            loss = geomloss.SamplesLoss(
                "sinkhorn", p=2, blur=blur, scaling=scaling, backend=backend
            )
            loss(x[:200], y[:200])  # compile KeOps formulas outside the timing
            t, value = median_time(lambda loss=loss: loss(x, y), 1 if n >= 10_000 else repeats)
            runs.append(
                dict(backend=backend, scaling=scaling, time=t, rel_error=float(value) / exact - 1)
            )
            print(
                f"  geomloss {backend:10s} scaling {scaling:.1f}: "
                f"err {runs[-1]['rel_error']:+.2%}  {t:7.2f}s",
                flush=True,
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--blur", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    x_np, y_np, exact = convex_gradient_pair(args.n)
    x = torch.tensor(x_np, dtype=torch.float32)
    y = torch.tensor(y_np, dtype=torch.float32)
    print(
        f"{args.n} vs {args.n} points (Nefertiti, convex-gradient map), float32, "
        f"blur {args.blur}; exact OT {exact:.6g}"
    )
    brenier.solve(x[:100], y[:100], blur=args.blur, backend="online")  # warm the JIT cache
    t_ours, res = median_time(lambda: brenier.solve(x, y, blur=args.blur), args.repeats)
    ours = dict(
        time=t_ours,
        rel_error=float(res.value) / exact - 1,
        iterations=res.iterations,
        backend=res.backend,
        marginal_error=res.marginal_error,
    )
    print(
        f"  brenier  {res.backend:10s} tol 1e-3   : err {ours['rel_error']:+.2%}  {t_ours:7.2f}s "
        f"({res.iterations} iterations)",
        flush=True,
    )
    theirs = geomloss_runs(x, y, args.blur, exact, args.repeats)
    accurate = [r for r in theirs if abs(r["rel_error"]) <= 0.01]
    best = (
        min(accurate, key=lambda r: r["time"])
        if accurate
        else min(theirs, key=lambda r: abs(r["rel_error"]))
    )
    print(
        f"\nbest GeomLoss: {best['backend']} scaling {best['scaling']} "
        f"({best['rel_error']:+.2%}, {best['time']:.2f}s) -> brenier is "
        f"{best['time'] / t_ours:.1f}x faster at {ours['rel_error']:+.2%}"
    )

    memory = {}
    for n in (2500, 5000, 10_000, 20_000):
        memory[n] = peak_memory_mb(n, args.blur)
        print(f"  peak memory growth, N = {n:6d}: {memory[n]:7.1f} MB", flush=True)
    payload = dict(
        machine=machine(),
        n=args.n,
        blur=args.blur,
        exact=exact,
        brenier=ours,
        geomloss=theirs,
        best_geomloss=best,
        speedup=best["time"] / t_ours,
        peak_memory_mb=memory,
    )
    print(f"wrote {write_json('sinkhorn_cpu', payload)}")


if __name__ == "__main__":
    main()
