"""Numerical sweep of ``brenier.solve`` over scales, blurs, dtypes, sizes, weights and backends.

Every configuration is one solve on seeded data; it is checked for:

- no NaN or Inf in the value and the potentials;
- a status that tells the truth: ``CONVERGED`` exactly when the reported marginal error
  is at most ``tol``; for balanced OT the marginal error of the returned plan,
  recomputed independently (:func:`brenier.marginal_errors`), is at most twice the
  tolerance (plus the rounding floor) when the status is ``CONVERGED``;
- a debiased divergence that is not negative beyond the reported error;
- any exception is a documented one (``ValueError``, ``TypeError``, ``MemoryError``,
  ``FloatingPointError``) whose message starts with ``[brenier]`` ("refused"), except a
  non-finite value that the library cannot explain ("Please report it": a violation).

The solves run with ``max_iter=300`` (``--max-iter``): the status of a solve stopped
there must say so.

The grid (``--level full``: 10,080 configurations, 12,600 with KeOps, plus a large-N
tier up to 10^5 points): coordinates of size 1e-3 to 1e4, blur / diameter from 1e-4 to
1e3, float32 and float64, 1 to 300 points (10^5 in the large tier), D = 1..8 in turn,
uniform weights / half of them zero / ratios of 1e8, with or without duplicate points,
balanced and unbalanced, p = 2 (and p = 1 on the backends that support it), every
backend (``dense``, ``online``, ``multiscale``, ``auto``, ``keops`` when importable).
``--level fast`` is one configuration in 60 of the small grid (the CI subset,
``tests/reliability/test_sweep.py``).

Usage: python benchmarks/sweep.py [--level fast|full] [--limit K] [--out NAME]
Prints a table (outcome counts per backend and dtype, the worst cases) and writes every
record to ``benchmarks/results/sweep_<level>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import brenier
from brenier.solvers._sinkhorn import rounding_floor

SCALES = (1e-3, 1e-1, 1.0, 1e2, 1e4)
BLUR_RATIOS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e3)
DTYPES = ("float32", "float64")
WEIGHTS = ("uniform", "zeros", "ratio1e8")
SIZES = ((1, 1), (1, 6), (2, 3), (5, 5), (7, 12), (40, 50), (300, 200))
BACKENDS = ("dense", "online", "multiscale", "auto")
#: The large tier of the full sweep: (backend, N) with N = M, at blur / diameter 1e-2.
LARGE = (
    ("auto", 2_000),
    ("online", 2_000),
    ("multiscale", 2_000),
    ("online", 10_000),
    ("multiscale", 10_000),
    ("auto", 100_000),
)
#: One configuration in FAST_STRIDE of the small grid runs in the fast (CI) subset.
FAST_STRIDE = 60
#: Iteration cap of the sweep's solves (the default is 10,000): a solve that cannot reach
#: ``tol`` must then say MAX_ITERATIONS, STALLED or ROUNDING_FLOOR, which is what is
#: checked; it bounds the time of the sweep (about 30 ms per iteration of the compiled
#: kernels' call overhead on the loaded 2-core machine).
MAX_ITER = 300
#: Exceptions a solve may raise on purpose, with a "[brenier]" message.
DOCUMENTED = (ValueError, TypeError, MemoryError, FloatingPointError)


def keops_available() -> bool:
    try:
        import pykeops  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Config:
    """One solve of the sweep (the data is generated from ``seed``)."""

    backend: str
    dtype: str
    n: int
    m: int
    dim: int
    scale: float
    blur_ratio: float
    weights: str
    duplicates: bool
    reach_ratio: float | None
    p: int
    seed: int


def configurations(level: str = "full", keops: bool | None = None) -> list[Config]:
    """The sweep's configurations, in a fixed order (``level``: ``"fast"`` or ``"full"``)."""
    backends = BACKENDS + (("keops",) if (keops_available() if keops is None else keops) else ())
    grid = itertools.product(backends, DTYPES, SCALES, BLUR_RATIOS, WEIGHTS, (False, True), SIZES)
    out = []
    for k, (backend, dtype, scale, ratio, weights, dup, (n, m)) in enumerate(grid):
        dim = 1 + k % 8 if backend != "keops" else 2 + k % 2  # KeOps compiles per D
        if backend == "multiscale" and dim > 3:
            dim = 1 + dim % 3
        p = 1 if k % 5 == 0 and backend != "multiscale" else 2
        reach = 1.0 if k % 3 == 0 else None
        out.append(Config(backend, dtype, n, m, dim, scale, ratio, weights, dup, reach, p, k))
    if level == "fast":  # cheap ones: no KeOps compilation, no multiscale level set-up
        fast = ("dense", "online", "auto")
        return [c for c in out if c.seed % FAST_STRIDE == 0 and c.backend in fast and c.n < 300]
    for j, ((backend, n), dtype) in enumerate(itertools.product(LARGE, DTYPES)):
        seed = len(out) + j
        out.append(Config(backend, dtype, n, n, 3, 1.0, 1e-2, "uniform", False, None, 2, seed))
    # a fixed shuffle: a sweep cut short is still a uniform sample of the grid
    order = torch.randperm(len(out), generator=torch.Generator().manual_seed(0)).tolist()
    return [out[i] for i in order]


def data(cfg: Config) -> tuple[torch.Tensor, ...]:
    """x (N, D), y (M, D), a (N,), b (M,) in the configuration's dtype."""
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype = getattr(torch, cfg.dtype)
    x = torch.randn(cfg.n, cfg.dim, generator=gen, dtype=torch.float64)
    y = torch.randn(cfg.m, cfg.dim, generator=gen, dtype=torch.float64) * 0.8 + 0.5
    if cfg.duplicates:  # a third of x repeats its first point; y repeats points of x
        x[: max(1, cfg.n // 3)] = x[0].clone()
        k = min(cfg.n, cfg.m, max(1, cfg.m // 2))
        y[:k] = x[:k].clone()
    a = torch.full((cfg.n,), 1.0, dtype=torch.float64)
    b = torch.full((cfg.m,), 1.0, dtype=torch.float64)
    if cfg.weights == "zeros":
        a[1::2], b[::2] = 0.0, 0.0
        if b.sum() == 0:
            b[0] = 1.0
    elif cfg.weights == "ratio1e8":
        a[::2], b[1::2] = 1e-8, 1e-8
    a, b = a / a.sum(), b / b.sum()
    return tuple(t.to(dtype) for t in (x * cfg.scale, y * cfg.scale, a, b))


def _finite(*tensors: torch.Tensor | None) -> bool:
    return all(t is None or bool(torch.isfinite(t.detach()).all()) for t in tensors)


def run(cfg: Config, max_iter: int = MAX_ITER) -> dict[str, object]:
    """One solve and its checks: a record with ``outcome`` "ok", "refused" or "violation"."""
    x, y, a, b = data(cfg)
    diameter = float(
        torch.cat([x, y]).double().amax(0).sub(torch.cat([x, y]).double().amin(0)).norm()
    )
    scale_len = diameter if diameter > 0 else cfg.scale
    blur = cfg.blur_ratio * scale_len
    reach = None if cfg.reach_ratio is None else cfg.reach_ratio * scale_len
    tol = 1e-4
    record: dict[str, object] = {**asdict(cfg), "blur": blur, "tol": tol, "max_iter": max_iter}
    t0 = time.perf_counter()
    x0, y0, a0, b0 = (t.clone() for t in (x, y, a, b))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = brenier.solve(
                x, y, a, b, p=cfg.p, blur=blur, reach=reach, tol=tol, backend=cfg.backend,
                max_iter=max_iter,
            )  # fmt: skip
    except DOCUMENTED as error:
        message = str(error)
        # "Please report it": the library's own word for a NaN it cannot explain
        documented = message.startswith("[brenier]") and "Please report" not in message
        record.update(
            outcome="refused" if documented else "violation",
            problems=[] if documented else ["undocumented message"],
            error=f"{type(error).__name__}: {message[:300]}",
            seconds=time.perf_counter() - t0,
        )
        return record
    except Exception as error:  # any other exception is a violation
        record.update(
            outcome="violation",
            problems=["unexpected exception"],
            error=f"{type(error).__name__}: {str(error)[:300]}",
            seconds=time.perf_counter() - t0,
        )
        return record
    seconds = time.perf_counter() - t0
    problems = []
    if not all(torch.equal(u, v) for u, v in ((x, x0), (y, y0), (a, a0), (b, b0))):
        problems.append("input modified in place")
    if not _finite(res.value, res.f, res.g, res.f_aa, res.g_bb):
        problems.append("NaN or Inf in the result")
    converged = res.marginal_error <= tol
    if (res.status is brenier.Status.CONVERGED) != converged:
        problems.append(f"status {res.status.value} at marginal error {res.marginal_error:.3g}")
    dtype = getattr(torch, cfg.dtype)
    floor = rounding_floor(blur**cfg.p, max(diameter, blur) ** cfg.p, dtype)
    independent = math.nan
    if reach is None and cfg.n * cfg.m <= 10**6:
        _, err_b = brenier.marginal_errors(res)
        independent = float(err_b)
        bound = 2 * max(res.marginal_error, tol) + 4 * floor + 1e-5
        if res.status is brenier.Status.CONVERGED and not independent <= bound:
            problems.append(f"plan's marginal error {independent:.3g} above tol")
    value = float(res.value)
    cost_size = (max(diameter, blur) ** cfg.p) / cfg.p
    if math.isfinite(value) and value < -(4 * max(res.marginal_error, floor) + 1e-6) * cost_size:
        problems.append(f"negative divergence {value:.3g}")
    record.update(
        outcome="violation" if problems else "ok",
        problems=problems,
        status=res.status.value,
        marginal_error=res.marginal_error,
        plan_marginal_error=independent,
        floor=floor,
        value=value,
        backend_used=res.backend,
        iterations=res.iterations,
        seconds=seconds,
        warnings=sorted({str(w.category.__name__) for w in caught}),
    )
    return record


def summarize(records: list[dict[str, object]]) -> str:
    """The table: outcomes and statuses per backend and dtype, then the violations."""
    head = ("backend", "dtype", "configs", "ok", "refused", "violation", "converged", "floor",
            "stalled", "max_it")  # fmt: skip
    lines = [f"{head[0]:<11} {head[1]:<8} " + " ".join(f"{h:>9}" for h in head[2:])]
    keys = sorted({(str(r["backend"]), str(r["dtype"])) for r in records})
    for backend, dtype in keys:
        rs = [r for r in records if r["backend"] == backend and r["dtype"] == dtype]
        out, st = Counter(r["outcome"] for r in rs), Counter(r.get("status") for r in rs)
        counts = (len(rs), out["ok"], out["refused"], out["violation"], st["converged"],
                  st["rounding_floor"], st["stalled"], st["max_iterations"])  # fmt: skip
        lines.append(f"{backend:<11} {dtype:<8} " + " ".join(f"{c:>9}" for c in counts))
    out = Counter(r["outcome"] for r in records)
    lines.append(f"total {len(records)}: {dict(out)}")
    refusals = Counter(str(r["error"]).split(":")[0] + ": " + str(r["error"])[:90].split(": ", 1)[1]
                       for r in records if r["outcome"] == "refused")  # fmt: skip
    for reason, count in refusals.most_common(8):
        lines.append(f"  refused x{count}: {reason}")
    for r in [r for r in records if r["outcome"] == "violation"][:20]:
        lines.append(f"  VIOLATION seed={r['seed']} {r['backend']} {r['dtype']} n={r['n']} "
                     f"m={r['m']} D={r['dim']} scale={r['scale']:g} blur/diam={r['blur_ratio']:g} "
                     f"{r['weights']} dup={r['duplicates']} reach={r['reach_ratio']} p={r['p']}: "
                     f"{r.get('problems')} {r.get('error', '')}")  # fmt: skip
    slow = sorted(records, key=lambda r: -float(r["seconds"]))[:3]
    lines.append("slowest: " + ", ".join(f"seed={r['seed']} {r['backend']} n={r['n']} "
                                         f"{float(r['seconds']):.1f} s" for r in slow))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", choices=("fast", "full"), default="full")
    parser.add_argument("--limit", type=int, default=None, help="run the first K only")
    parser.add_argument("--max-iter", type=int, default=MAX_ITER)
    parser.add_argument("--out", default=None, help="results/<OUT>.json (default sweep_<level>)")
    args = parser.parse_args()
    from _machine import RESULTS, machine, write_json

    torch.set_num_threads(1)
    configs = configurations(args.level)[: args.limit]
    name = args.out or f"sweep_{args.level}"
    records, t0 = [], time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    partial = RESULTS / f"{name}.partial.jsonl"  # streamed, for a sweep cut short
    with partial.open("w") as stream:
        for k, cfg in enumerate(configs):
            record = run(cfg, args.max_iter)
            records.append(record)
            stream.write(json.dumps(record) + "\n")
            stream.flush()
            if (k + 1) % 500 == 0:
                print(f"{k + 1}/{len(configs)} in {time.perf_counter() - t0:.0f} s", flush=True)
    print(summarize(records))
    path = write_json(
        name,
        {
            "machine": machine(),
            "level": args.level,
            "configurations": len(records),
            "max_iter": args.max_iter,
            "seconds": time.perf_counter() - t0,
            "outcomes": dict(Counter(str(r["outcome"]) for r in records)),
            "records": records,
        },
    )
    partial.unlink()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
