"""Accuracy and time of the debiased Sinkhorn divergence, brenier vs GeomLoss (issue 2).

Two different but close 3D shapes: 2,000 samples of the Demosthenes scan (unit size)
and 2,000 *other* samples of it, moved by a small smooth warp. The exact OT cost is
the optimal assignment (scipy). For each blur and scaling we run brenier (default
tolerance) and GeomLoss (its fixed schedule, same blur and scaling) on the same data,
and report the relative error on the OT cost and the time (median of repeats).

Gradients: the gradient of S_eps wrt. x at default settings, from each library, is
compared with central finite differences of that library's own value (same settings)
along random directions, with the converged entropic gradient (brenier at tol 1e-5:
autograd, and central differences of its value), and with the exact-OT gradient
a_i (x_i - y_s(i)).

Usage: python benchmarks/sinkhorn_accuracy.py [-n 2000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).parent))
import brenier
from _machine import machine, median_time, write_json
from brenier.io import load_example, normalize, sample_surface

#: Tolerance of the "converged" reference (0.02% from tol 1e-6 on the gradient, measured).
CONVERGED_TOL = 1e-5


def close_shapes(n: int) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = load_example("demosthenes")
    vertices = normalize(vertices)
    x = sample_surface(vertices, faces, n, seed=1)
    y = sample_surface(vertices, faces, n, seed=2)
    warp = 0.03 * np.sin(3 * y[:, [1, 2, 0]])  # smooth, ~3% of the shape's size
    return x, y + warp


def exact_ot(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    C = ((x[:, None] - y[None]) ** 2).sum(-1) / 2
    rows, cols = linear_sum_assignment(C)
    return float(C[rows, cols].mean()), cols


def geomloss_value(x, y, blur, scaling):
    import geomloss

    return geomloss.SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, backend="tensorized")(
        x, y
    )


def brenier_value(x, y, blur, scaling, **options):
    return brenier.sinkhorn_divergence(x, y, blur=blur, scaling=scaling, **options)


def converged_value(x, y, blur, scaling):
    """The reference: the online kernel (no truncation), converged to CONVERGED_TOL."""
    return brenier_value(x, y, blur, scaling, tol=CONVERGED_TOL, max_iter=50_000, backend="online")


def gradient_errors(x, y, blur, targets, directions=2, seed=0):
    """Each library's gradient at its default settings vs

    - central finite differences of its own value (same settings),
    - the converged entropic gradient (brenier at tol 1e-5: autograd, and central
      differences of its value), in relative L2 and along random directions (relative to
      the typical directional derivative |grad| |d| / sqrt(dim)),
    - the exact-OT gradient a_i (x_i - y_s(i)).
    """
    gen = torch.Generator().manual_seed(seed)
    h = 1e-4  # the shape has unit size
    exact_grad = (x - y[targets]) / len(x)
    ds = [torch.randn(x.shape, generator=gen, dtype=x.dtype) for _ in range(directions)]

    def grad_of(fn):
        x_ = x.clone().requires_grad_(True)
        fn(x_, y, blur, 0.5).backward()
        return x_.grad

    def fd(fn, d):
        return float(fn(x + h * d, y, blur, 0.5) - fn(x - h * d, y, blur, 0.5)) / (2 * h)

    converged = grad_of(converged_value)
    fd_converged = [fd(converged_value, d) for d in ds]
    out = {}
    for name, fn in (("brenier", brenier_value), ("geomloss", geomloss_value)):
        grad = grad_of(fn)
        typical = [float(converged.norm() * d.norm()) / x.numel() ** 0.5 for d in ds]
        dots = [float((grad * d).sum()) for d in ds]
        fd_own = [fd(fn, d) for d in ds]
        out[name] = {
            "fd_rel_error_max": max(abs(g - f) / abs(g) for g, f in zip(dots, fd_own, strict=True)),
            "converged_grad_rel_l2": float((grad - converged).norm() / converged.norm()),
            "converged_fd_error_max": max(
                abs(g - f) / t for g, f, t in zip(dots, fd_converged, typical, strict=True)
            ),
            "exact_ot_grad_rel_l2": float((grad - exact_grad).norm() / exact_grad.norm()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer blurs and scalings")
    args = parser.parse_args()
    blurs = (0.02, 0.005) if args.quick else (0.02, 0.01, 0.005)
    scalings = (0.5,) if args.quick else (0.5, 0.9)

    x_np, y_np = close_shapes(args.n)
    exact, targets = exact_ot(x_np, y_np)
    x, y = torch.tensor(x_np), torch.tensor(y_np)
    print(
        f"{args.n} vs {args.n} points, Demosthenes resampled + warp, float64; exact OT {exact:.6g}"
    )
    rows = []
    header = (
        f"{'blur':>6} {'scaling':>7} | {'brenier err':>11} {'time':>7} {'iters':>5} | "
        f"{'geomloss err':>12} {'time':>7} | speed"
    )
    print(header + "\n" + "-" * len(header))
    for blur in blurs:
        for scaling in scalings:

            def ours(blur=blur, scaling=scaling):
                return brenier.solve(x, y, blur=blur, scaling=scaling)

            def theirs(blur=blur, scaling=scaling):
                return geomloss_value(x, y, blur, scaling)

            t_ours, res = median_time(ours, args.repeats)
            t_geo, val = median_time(theirs, args.repeats)
            err_ours = float(res.value) / exact - 1
            err_geo = float(val) / exact - 1
            rows.append(
                dict(
                    blur=blur,
                    scaling=scaling,
                    brenier_rel_error=err_ours,
                    brenier_time=t_ours,
                    brenier_iterations=res.iterations,
                    brenier_backend=res.backend,
                    geomloss_rel_error=err_geo,
                    geomloss_time=t_geo,
                )
            )
            print(
                f"{blur:6.3f} {scaling:7.2f} | "
                f"{err_ours:+11.2%} {t_ours:6.2f}s {res.iterations:5d} | "
                f"{err_geo:+12.2%} {t_geo:6.2f}s | {t_geo / t_ours:5.2f}x"
            )
    start = time.perf_counter()
    grads = gradient_errors(x, y, 0.005, torch.as_tensor(targets))
    print(
        f"\nGradients at blur 0.005, scaling 0.5, default settings "
        f"({time.perf_counter() - start:.0f}s), max relative error over random directions:"
    )
    for name, g in grads.items():
        print(
            f"  {name:9s} vs FD of its own value {g['fd_rel_error_max']:.2%}; vs the converged "
            f"gradient {g['converged_grad_rel_l2']:.2%} (L2), vs FD of the converged value "
            f"{g['converged_fd_error_max']:.2%}; vs the exact-OT gradient "
            f"{g['exact_ot_grad_rel_l2']:.2%} (L2)"
        )
    path = write_json(
        "sinkhorn_accuracy",
        dict(machine=machine(), n=args.n, exact=exact, rows=rows, gradients=grads),
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
