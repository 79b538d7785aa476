"""Wasserstein barycenters of images and volumes: brenier vs POT, side by side (issue 10).

2D: four 256 x 256 shapes (a disk, two disks, a rectangle, an annulus), uniform
weights, a sharp blur of 1.5 pixels, the *debiased* barycenter (Janati et al. 2020),
both libraries at the same temperature: POT's grid is linspace(0, 1, n) with kernel
exp(-|x - y|^2 / reg), ours has spacing 1 and kernel exp(-|x - y|^2 / 2 blur^2), so
reg = 2 blur^2 / (n - 1)^2. POT's methods are tried in order of speed: ``sinkhorn``
(real domain: at this eps the kernel underflows and the result is not finite) then
``sinkhorn_log`` (dense log-sum-exp along each axis, no eps-scaling), with numpy in
float64. POT's loop has no time limit; it is capped at ``--pot-max-iter`` iterations,
and when it stops there unconverged the ratio printed is a lower bound.

3D: four 128^3 volumes (a ball, an ellipsoid, a box, a hollow ball), blur 1.5 voxels,
float32, brenier only (POT has no 3D barycenter), with the peak memory of the process
that computed it.

GOMP_SPINCOUNT=10000 as in ``benchmarks/multiscale.py``.

Usage: python benchmarks/barycenters.py [--size 256] [--volume 128] [--blur 1.5]
       [--pot-max-iter 30] [--repeats 3]
"""

from __future__ import annotations

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # as brenier._openmp does, before torch loads

import argparse
import multiprocessing
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import brenier
from _machine import machine, median_time, write_json


def shapes_2d(n: int) -> torch.Tensor:
    """Four silhouettes on an n x n grid, each of mass 1."""
    axis = torch.arange(n, dtype=torch.float64) / n
    Y, X = torch.meshgrid(axis, axis, indexing="ij")
    disk = lambda cy, cx, r: ((Y - cy) ** 2 + (X - cx) ** 2 <= r * r).double()  # noqa: E731
    images = torch.stack([
        disk(0.3, 0.3, 0.16),
        disk(0.7, 0.35, 0.12) + disk(0.7, 0.15, 0.06),
        (((Y - 0.35).abs() < 0.12) & ((X - 0.7).abs() < 0.18)).double(),
        disk(0.7, 0.7, 0.2) - disk(0.7, 0.7, 0.1),
    ])  # fmt: skip
    return images / images.sum((1, 2), keepdim=True)


def volumes_3d(n: int) -> torch.Tensor:
    """Four solids on an n^3 grid, float32, each of mass 1."""
    axis = torch.arange(n, dtype=torch.float32) / n
    Z, Y, X = torch.meshgrid(axis, axis, axis, indexing="ij")

    def ball(c, r, scale=(1.0, 1.0, 1.0)):
        d2 = sum(((A - ci) / s) ** 2 for A, ci, s in zip((Z, Y, X), c, scale, strict=True))
        return (d2 <= r * r).float()

    box = ((Z - 0.7).abs() < 0.12) & ((Y - 0.3).abs() < 0.2) & ((X - 0.65).abs() < 0.1)
    volumes = torch.stack([
        ball((0.3, 0.3, 0.3), 0.15),
        ball((0.7, 0.7, 0.3), 0.12, (1.8, 1.0, 0.7)),
        box.float(),
        ball((0.35, 0.7, 0.7), 0.18) - ball((0.35, 0.7, 0.7), 0.1),
    ])  # fmt: skip
    return volumes / volumes.sum((1, 2, 3), keepdim=True)


def pot_barycenter(images: np.ndarray, reg: float, method: str, max_iter: int):
    import ot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        q, log = ot.bregman.convolutional_barycenter2d_debiased(
            images, reg, method=method, numItermax=max_iter, log=True, warn=False
        )
        seconds = time.perf_counter() - start
    iterations = int(log["niter"]) + 1
    converged = iterations < max_iter
    return q, seconds, iterations, converged


def _volume_job(n: int, blur: float, queue) -> None:
    volumes = volumes_3d(n)
    iterations = []  # (eps, seconds since the start) after every iteration
    start = time.perf_counter()
    q = brenier.barycenter(
        volumes, blur=blur,
        callback=lambda s: iterations.append((s.eps, time.perf_counter() - start)),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    finite = bool(torch.isfinite(q).all())
    stages: list[dict] = []  # iterations and seconds per temperature, the last one finest
    previous = 0.0
    for eps, at in iterations:
        if not stages or stages[-1]["eps"] != eps:
            stages.append({"eps": eps, "iterations": 0, "seconds": 0.0})
        stages[-1]["iterations"] += 1
        stages[-1]["seconds"] += at - previous
        previous = at
    queue.put({"seconds": seconds, "iterations": len(iterations), "peak_bytes": peak,
               "mass": float(q.sum()), "finite": finite, "stages": stages})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--volume", type=int, default=128, help="side of the 3D case; 0: skip")
    parser.add_argument("--blur", type=float, default=1.5, help="in cells")
    parser.add_argument("--pot-max-iter", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    n, blur = args.size, args.blur
    images = shapes_2d(n)
    reg = 2 * blur**2 / (n - 1) ** 2
    rows = []
    for dtype in (torch.float32, torch.float64):
        seconds, q = median_time(
            lambda d=dtype: brenier.barycenter(images.to(d), blur=blur),
            args.repeats,
            warmup=args.repeats > 1,
        )
        rows.append({"library": "brenier", "method": f"grid, debiased, {dtype}",
                     "seconds": seconds, "finite": bool(torch.isfinite(q).all()),
                     "converged": True, "iterations": None})  # fmt: skip
        ours = q.double()
    for method in ("sinkhorn", "sinkhorn_log"):
        q, seconds, iterations, converged = pot_barycenter(
            images.numpy(), reg, method, args.pot_max_iter
        )
        finite = bool(np.isfinite(q).all()) and float(q.sum()) > 0
        l1 = None
        if finite:
            theirs = torch.as_tensor(q / q.sum())
            l1 = float((theirs - ours).abs().sum())
        rows.append({"library": "POT " + ot_version(), "method": f"{method}, debiased, float64",
                     "seconds": seconds, "finite": finite, "converged": converged,
                     "iterations": iterations, "l1_to_brenier": l1})  # fmt: skip

    ours_time = min(r["seconds"] for r in rows if r["library"] == "brenier")
    print(f"2D barycenter of 4 images {n}x{n}, blur {blur} px (reg {reg:.3g}), debiased")
    print(f"{'library':<19}{'method':<36}{'seconds':>9}{'iters':>7}  finite  converged  ratio")
    for r in rows:
        ratio = r["seconds"] / ours_time
        bound = ">=" if not r["converged"] else "  "
        iters = "" if r["iterations"] is None else str(r["iterations"])
        print(f"{r['library']:<19}{r['method']:<36}{r['seconds']:>9.2f}{iters:>7}  "
              f"{r['finite']!s:<7} {r['converged']!s:<10} {bound}{ratio:.1f}x")  # fmt: skip

    volume = None
    if args.volume:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        job = ctx.Process(target=_volume_job, args=(args.volume, blur, queue))
        job.start()
        volume = queue.get()
        job.join()
        m = args.volume
        print(f"\n3D barycenter of 4 volumes {m}^3, blur {blur} voxels, float32: "
              f"{volume['seconds']:.1f} s, {volume['iterations']} iterations, peak memory "
              f"{volume['peak_bytes'] / 2**30:.2f} GiB, finite: {volume['finite']}")  # fmt: skip
        for stage in volume["stages"]:
            print(f"  blur {stage['eps'] ** 0.5:7.2f} voxels: {stage['iterations']:4d} "
                  f"iterations, {stage['seconds']:6.1f} s")  # fmt: skip

    path = write_json("barycenters", {
        "machine": machine(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
        "size": n, "blur": blur, "reg_pot": reg, "rows": rows, "volume": volume,
        "volume_side": args.volume,
    })  # fmt: skip
    print(f"\nwrote {path}")


def ot_version() -> str:
    import ot

    return ot.__version__


if __name__ == "__main__":
    main()
