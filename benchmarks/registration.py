"""Registration of 3D shapes: brenier's robust-OT pipeline against CPD and ICP.

One run, the same pairs for every method:

- ``lung``: synthetic vessel trees (:func:`brenier.applications.registration.lung_pair`,
  radii as weights, breathing-like deformation, noise, resampling, 10% missing, 2%
  outliers); landmarks at the bifurcations.
- ``scan``: the bundled Nefertiti scan scaled to 250 mm, sampled twice on its surface
  (no correspondence), the target moved by the same kind of known deformation;
  landmarks: 300 random vertices.

Methods: brenier at its defaults on the full clouds; CPD (pycpd at its defaults on
data normalised as in the CPD paper, affine then deformable, on ``--cpd-points`` random
samples of each cloud: its M x N matrices do not hold more) applied to the landmarks
and the full source through its fitted kernel field (timed: brenier's time includes
moving the whole source, so CPD's does too); a plain ICP
(nearest neighbours + closed-form fit, rigid then affine) on the full clouds.
Prints the target registration error before and after each step with times, and
writes ``results/registration.json`` with the machine record.

Learned step (``--learned K``, issue 15): K held-apart lung pairs with large
deformations (bumps of ``--amplitude`` mm; seeds 10..10+K-1, while the network was
trained on seeds >= 10^6 and validated on 500,000+), each registered three ways in the
same run: affine + OT fine-tuning (``("affine", "nonrigid")``), the network alone
(``("affine", "learned")``) and affine + learned + OT fine-tuning; the mean TRE of each
over the pairs, and per pair, written to ``results/registration_learned.json``.

With ``--big N``, a lung pair of N points is registered twice: at the defaults and with
``max_points=None`` (the flow on the clouds downsampled at half the finest blur only).
``--repeats R`` runs each method R times and reports the median time.

Usage: ``python benchmarks/registration.py [--n 60000] [--cpd-points 2000] [--big 150000]
[--repeats 3]``;
``python benchmarks/registration.py --pairs --learned 6 [--model model.safetensors]``
"""

from __future__ import annotations

import os

# Before torch loads its OpenMP runtime (see brenier._openmp): brenier is imported
# after torch here, so its own setting would come too late.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # as brenier._openmp does, before torch loads

import argparse
import time
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree

from _machine import machine, write_json
from brenier.applications.registration import (
    breathing_deformation,
    chamfer,
    fit_affine,
    fit_similarity,
    lung_pair,
    register,
    target_registration_error,
)
from brenier.io import load_example, sample_surface


def scan_pair(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The Nefertiti scan at lung size under a known breathing-like deformation."""
    vertices, faces = load_example("nefertiti")
    vertices = vertices - vertices.mean(0)
    vertices = vertices * (250.0 / np.ptp(vertices, axis=0).max())
    phi = breathing_deformation(seed + 1)
    rng = np.random.default_rng(seed)
    source = sample_surface(vertices, faces, n, seed=seed)
    target = phi(sample_surface(vertices, faces, n, seed=seed + 100))
    target = target + rng.normal(scale=0.5, size=target.shape)
    landmarks = vertices[rng.choice(len(vertices), 300, replace=False)]
    return {
        "source": source, "target": target, "a": np.ones(n), "b": np.ones(n),
        "landmarks": landmarks, "truth": phi(landmarks),
    }  # fmt: skip


def lung(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    pair = lung_pair(n, seed=seed)
    return {
        "source": pair.source, "target": pair.target, "a": pair.source_radius,
        "b": pair.target_radius, "landmarks": pair.landmarks, "truth": pair.landmarks_moved,
    }  # fmt: skip


def run_brenier(pair: dict[str, np.ndarray], **options: Any) -> dict[str, object]:
    start = time.perf_counter()
    res = register(pair["source"], pair["target"], pair["a"], pair["b"], **options)
    seconds = time.perf_counter() - start
    steps = []
    for k, step in enumerate(res.steps):
        tre = target_registration_error(res.apply(pair["landmarks"], after=k), pair["truth"])
        steps.append({"step": step.name, "seconds": step.seconds, "cost": step.cost, "tre": tre})
    final = target_registration_error(res.apply(pair["landmarks"]), pair["truth"])
    return {
        "seconds": seconds, "tre": final, "steps": steps,
        "chamfer": chamfer(np.asarray(res.moved), pair["target"]),
    }  # fmt: skip


def cpd_move(deformable: object, points: np.ndarray) -> np.ndarray:
    """CPD's fitted field at any points: z + G(z, Y) W (pycpd 2.0 only moves its own Y)."""
    Y, W, beta = deformable.Y, deformable.W, deformable.beta  # type: ignore[attr-defined]
    out = []
    for chunk in np.array_split(points, max(1, len(points) // 5000)):
        sq = ((chunk[:, None, :] - Y[None]) ** 2).sum(-1)
        out.append(chunk + np.exp(-sq / (2 * beta**2)) @ W)
    return np.concatenate(out)


def run_cpd(pair: dict[str, np.ndarray], points: int, seed: int = 0) -> dict[str, object]:
    """pycpd at its defaults (beta = lambda = 2, w = 0) on data normalised as in the CPD
    paper (zero mean, unit standard deviation), affine then deformable."""
    from pycpd import AffineRegistration, DeformableRegistration

    rng = np.random.default_rng(seed)
    mean, scale = pair["target"].mean(0), pair["target"].std()

    def norm(p: np.ndarray) -> np.ndarray:
        return (p - mean) / scale

    src = norm(pair["source"][rng.choice(len(pair["source"]), points, replace=False)])
    tgt = norm(pair["target"][rng.choice(len(pair["target"]), points, replace=False)])
    # pycpd: X is the fixed target, Y the moving source.
    start = time.perf_counter()
    moved_src, (B, t) = AffineRegistration(X=tgt, Y=src).register()
    t_affine = time.perf_counter() - start
    landmarks_affine = norm(pair["landmarks"]) @ B + t
    tre_affine = target_registration_error(landmarks_affine * scale + mean, pair["truth"])
    start = time.perf_counter()
    deformable = DeformableRegistration(X=tgt, Y=moved_src)
    deformable.register()
    t_deformable = time.perf_counter() - start
    landmarks = cpd_move(deformable, landmarks_affine) * scale + mean
    # Moving the whole source is part of the job (brenier's time includes it).
    start = time.perf_counter()
    moved_all = cpd_move(deformable, norm(pair["source"]) @ B + t) * scale + mean
    t_move = time.perf_counter() - start
    tre = target_registration_error(landmarks, pair["truth"])
    return {
        "seconds": t_affine + t_deformable + t_move, "tre": tre,
        "steps": [
            {"step": "affine", "seconds": t_affine, "tre": tre_affine},
            {"step": "deformable", "seconds": t_deformable, "tre": tre},
            {"step": "move all points", "seconds": t_move, "tre": tre},
        ],
        "chamfer": chamfer(moved_all, pair["target"]), "points": points,
    }  # fmt: skip


def run_icp(pair: dict[str, np.ndarray], iterations: int = 50) -> dict[str, object]:
    """Point-to-point ICP: nearest target of each moved point, closed-form fit, repeat."""
    x = torch.from_numpy(pair["source"])
    tree = cKDTree(pair["target"])
    ones = torch.ones(len(x), dtype=torch.float64)
    transform = None
    steps = []
    start = time.perf_counter()
    moved = x + torch.from_numpy(pair["target"].mean(0) - pair["source"].mean(0))
    for kind in ("rigid", "affine"):
        t0 = time.perf_counter()
        for _ in range(iterations):
            _, idx = tree.query(moved.numpy())
            y = torch.from_numpy(pair["target"][idx])
            transform = fit_affine(x, y, ones) if kind == "affine" else fit_similarity(x, y, ones)
            moved = transform.apply(x)
        landmarks = transform.apply(torch.from_numpy(pair["landmarks"])).numpy()  # type: ignore[union-attr]
        tre = target_registration_error(landmarks, pair["truth"])
        steps.append({"step": kind, "seconds": time.perf_counter() - t0, "tre": tre})
    return {
        "seconds": time.perf_counter() - start, "tre": steps[-1]["tre"], "steps": steps,
        "chamfer": chamfer(moved.numpy(), pair["target"]),
    }  # fmt: skip


LEARNED_METHODS = {
    "affine + OT": ("affine", "nonrigid"),
    "affine + learned": ("affine", "learned"),
    "affine + learned + OT": ("affine", "learned", "nonrigid"),
}


def run_learned(count: int, n: int, amplitude: float, model: str | None) -> dict[str, Any]:
    """The three pipelines on ``count`` held-apart large-deformation lung pairs."""
    from brenier.applications.registration.learned import resolve_model

    net = resolve_model(model)
    per_pair: list[dict[str, Any]] = []
    for seed in range(10, 10 + count):
        pair = lung_pair(n, seed=seed, amplitude=amplitude)
        truth = pair.landmarks_moved
        before = target_registration_error(pair.landmarks, truth)["mean"]
        entry: dict[str, Any] = {"seed": seed, "before": before}
        for method, steps in LEARNED_METHODS.items():
            start = time.perf_counter()
            res = register(
                pair.source, pair.target, pair.source_radius, pair.target_radius,
                steps=steps, model=net,
            )  # fmt: skip
            entry[method] = {
                "tre": target_registration_error(res.apply(pair.landmarks), truth),
                "seconds": time.perf_counter() - start,
                "steps": {s.name: s.seconds for s in res.steps},
            }
        errors = "; ".join(f"{m} {entry[m]['tre']['mean']:.2f}" for m in LEARNED_METHODS)
        print(f"  seed {seed}: before {before:.2f} mm; {errors}", flush=True)
        per_pair.append(entry)
    summary: dict[str, dict[str, float]] = {
        "before": {"mean_tre": float(np.mean([e["before"] for e in per_pair]))}
    }
    for method in LEARNED_METHODS:
        means = [e[method]["tre"]["mean"] for e in per_pair]
        baseline = [e["affine + OT"]["tre"]["mean"] for e in per_pair]
        summary[method] = {
            "mean_tre": float(np.mean(means)),
            "median_of_pair_medians": float(np.median([e[method]["tre"]["p50"] for e in per_pair])),
            "mean_seconds": float(np.mean([e[method]["seconds"] for e in per_pair])),
            "pairs_better_than_affine_ot": int(
                sum(m < b for m, b in zip(means, baseline, strict=True))
            ),
        }
    keys = ("brenier_version", "validation_tre_mm", "parameters", "training")
    return {
        "pairs": per_pair, "summary": summary, "n": n, "amplitude": amplitude,
        "model": str(model) if model else "shipped",
        "model_record": {k: net.metadata.get(k) for k in keys},
    }  # fmt: skip


def repeated(run: Any, pair: dict[str, np.ndarray], repeats: int) -> dict[str, Any]:
    """The first run's output with the median of ``repeats`` runs' total seconds (every
    method is deterministic: the errors are the same each time)."""
    outs = [run(pair) for _ in range(max(1, repeats))]
    times = [out["seconds"] for out in outs]
    return {**outs[0], "seconds": float(np.median(times)), "all_seconds": times}


def row(pair: str, method: str, out: dict) -> str:
    tre = out["tre"]
    return (
        f"| {pair} | {method} | {tre['mean']:.2f} ± {tre['std']:.2f} | {tre['p50']:.2f} | "
        f"{tre['p95']:.2f} | {out['chamfer']:.2f} | {out['seconds']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000, help="points per cloud")
    parser.add_argument("--cpd-points", type=int, default=2000, help="CPD's subsample")
    parser.add_argument("--big", type=int, default=0, help="also time a lung pair this big")
    parser.add_argument("--repeats", type=int, default=1, help="runs per method: median time")
    parser.add_argument("--pairs", nargs="*", default=["lung", "scan"])
    parser.add_argument("--name", default="registration")
    parser.add_argument("--learned", type=int, default=0, help="pairs of the learned-step run")
    parser.add_argument("--amplitude", type=float, default=15.0, help="their bumps, mm")
    parser.add_argument("--model", default=None, help="learned model (default: shipped)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the OT kernels are numba-parallel; torch's BLAS is tiny here
    # Load the compiled kernels once (a small registration) so that no method's time
    # includes the process's one-off start-up: numba's cached kernels load on first use.
    warm = lung(3000, seed=5)
    register(warm["source"], warm["target"], warm["a"], warm["b"])
    record: dict[str, object] = {"machine": machine(), "args": vars(args), "results": {}}
    lines = [
        "| pair | method | TRE mean ± std (mm) | median | 95% | chamfer | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.pairs:
        pair = lung(args.n) if name == "lung" else scan_pair(args.n)
        before = target_registration_error(pair["landmarks"], pair["truth"])
        sizes = f"{len(pair['source'])} -> {len(pair['target'])} points"
        print(f"{name}: {sizes}, {len(pair['landmarks'])} landmarks, TRE {before['mean']:.2f} mm")
        results = {"before": before}
        for method, run in (
            ("brenier", run_brenier),
            (f"CPD ({args.cpd_points} pts)", lambda p: run_cpd(p, args.cpd_points)),
            ("ICP", run_icp),
        ):
            out = repeated(run, pair, args.repeats)
            results[method] = out
            for step in out["steps"]:
                print(f"  {method:>18} {step['step']:>10}: TRE {step['tre']['mean']:6.2f} mm "
                      f"after {step['seconds']:6.1f} s")  # fmt: skip
            lines.append(row(name, method, out))
        record["results"][name] = results  # type: ignore[index]
    if args.big:
        pair = lung(args.big, seed=1)
        for label, options in (("defaults", {}), ("max_points=None", {"max_points": None})):
            out = repeated(lambda p, o=options: run_brenier(p, **o), pair, args.repeats)
            record["results"][f"big {label}"] = {"n": args.big, **out}  # type: ignore[index]
            lines.append(row(f"lung {args.big}", f"brenier ({label})", out))
    if args.pairs or args.big:
        print("\n".join(lines))
        print(f"wrote {write_json(args.name, record)}")
    if args.learned:
        n = min(args.n, 30_000)
        print(f"learned step: {args.learned} lung pairs, {n} points, bumps {args.amplitude} mm")
        out = run_learned(args.learned, n, args.amplitude, args.model)
        summary = out["summary"]
        print("| method | mean TRE (mm) | median | pairs better than affine + OT | seconds |")
        print("|---|---|---|---|---|")
        print(f"| before | {summary['before']['mean_tre']:.2f} | | | |")
        for method in LEARNED_METHODS:
            r = summary[method]
            print(
                f"| {method} | {r['mean_tre']:.2f} | {r['median_of_pair_medians']:.2f} | "
                f"{r['pairs_better_than_affine_ot']}/{args.learned} | {r['mean_seconds']:.1f} |"
            )
        learned_record = {"machine": machine(), "args": vars(args), "results": out}
        print(f"wrote {write_json(args.name + '_learned', learned_record)}")


if __name__ == "__main__":
    main()
