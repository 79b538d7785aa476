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

The solves of the small grid run with ``max_iter=100`` (``--max-iter``): the status of
a solve stopped there must say so.

The grid (``--level full``: 10,080 configurations, 10,584 with ``--keops``, plus a tier
of 7 large problems): coordinates of size 1e-3 to 1e4, blur / diameter from 1e-4 to 1e3,
float32 and float64, 1 to 300 points, D = 1..8 in turn, uniform weights / half of them
zero / ratios of 1e8, with or without duplicate points, balanced and unbalanced, p = 2
(and p = 1 on the backends that support it), every backend (``dense``, ``online``,
``multiscale``, ``auto``; ``keops`` with ``--keops``, on one configuration in
``KEOPS_STRIDE`` of its part). Large N is an explicit subset
(``LARGE``: 2,000 to 10^5 points on the memory-linear backends, at a few blurs, each
with its own iteration cap so that an unconverged solve ends quickly and says so):
large problems on every backend at every blur would take days and test nothing the
small grid does not, except the code paths of size, which the subset covers.
``--level fast`` is one configuration in 60 of the small grid (the CI subset,
``tests/reliability/test_sweep.py``).

Run time: one core (``torch`` and ``numba`` at one thread each: parallel kernels on a
loaded machine wait at their barriers, which made an earlier version take minutes per
configuration). Records are streamed to ``results/sweep_<level>.partial.jsonl``;
``--resume`` skips the configurations already there.

Usage: python benchmarks/sweep.py [--level fast|full] [--limit K] [--out NAME] [--resume]
The KeOps part alone (each formula family first): ``--keops --backends keops --out
sweep_keops``; ``--summarize`` writes ``results/<NAME>_summary.json`` of a run cut short.
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
#: The large tier of the full sweep, explicit: (backend, N = M, blur / diameter, dtype,
#: reach / diameter, iteration cap), D = 3, uniform weights. N = 10^5 on the multiscale
#: backend only (chosen by ``auto`` too); the online one stops at 10^4 (at 10^5 each
#: softmin visits 10^10 pairs: minutes per iteration on one core).
LARGE = (
    ("dense", 2_000, 1e-2, "float64", None, 200),
    ("auto", 2_000, 1e-2, "float32", 1.0, 200),
    ("online", 2_000, 1e-3, "float32", None, 100),
    ("online", 10_000, 1e-1, "float64", 1.0, 10),
    ("multiscale", 10_000, 1e-2, "float32", None, 50),
    ("multiscale", 100_000, 1e-2, "float32", None, 20),
    ("auto", 100_000, 1e-3, "float64", 1.0, 20),
)
#: KeOps is swept by ``--keops`` only, on one configuration in KEOPS_STRIDE of its part
#: of the small grid: it compiles a formula per dimension, dtype, cost and reduction
#: (40-230 s each on the loaded 2-core machine), which made its part alone take hours.
KEOPS_STRIDE = 5
#: One configuration in FAST_STRIDE of the small grid runs in the fast (CI) subset.
FAST_STRIDE = 60
#: Iteration cap of the small grid's solves (the default is 10,000): a solve that cannot
#: reach ``tol`` must then say MAX_ITERATIONS, STALLED or ROUNDING_FLOOR, which is what
#: is checked; it bounds the time of the sweep (a few ms per iteration at these sizes).
MAX_ITER = 100
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
    #: The configuration's own iteration cap (the large tier), else the sweep's.
    max_iter: int | None = None


def configurations(level: str = "full", keops: bool = False) -> list[Config]:
    """The sweep's configurations, in a fixed order (``level``: ``"fast"`` or ``"full"``;
    ``keops``: with the KeOps backend's part)."""
    backends = BACKENDS + (("keops",) if keops and keops_available() else ())
    grid = itertools.product(backends, DTYPES, SCALES, BLUR_RATIOS, WEIGHTS, (False, True), SIZES)
    out = []
    for k, (backend, dtype, scale, ratio, weights, dup, (n, m)) in enumerate(grid):
        dim = 1 + k % 8
        if backend == "multiscale" and dim > 3:
            dim = 1 + dim % 3
        p = 1 if k % 5 == 0 else 2
        if backend == "keops":  # its part keeps one k in KEOPS_STRIDE: D and p from k // 5
            j = k // KEOPS_STRIDE  # (k % 5 == 0 there, so p = 1 always before)
            dim, p = 1 + j % 8, 1 if (j // 8) % 2 else 2
        reach = 1.0 if k % 3 == 0 else None
        out.append(Config(backend, dtype, n, m, dim, scale, ratio, weights, dup, reach, p, k))
    if level == "fast":  # cheap ones: no KeOps compilation, no multiscale level set-up
        fast = ("dense", "online", "auto")
        return [c for c in out if c.seed % FAST_STRIDE == 0 and c.backend in fast and c.n < 300]
    # a fixed shuffle: a sweep cut short is still a uniform sample of the small grid;
    # the large tier comes last (a resumed run may change it without losing the rest)
    order = torch.randperm(len(out), generator=torch.Generator().manual_seed(0)).tolist()
    small = [out[i] for i in order]
    small = [c for c in small if c.backend != "keops" or c.seed % KEOPS_STRIDE == 0]
    for j, (backend, n, ratio, dtype, reach, cap) in enumerate(LARGE):
        seed = len(out) + j
        small.append(
            Config(backend, dtype, n, n, 3, 1.0, ratio, "uniform", False, reach, 2, seed, cap)
        )
    return small


def formula_families_first(configs: list[Config]) -> list[Config]:
    """``configs`` reordered for a compiled backend (KeOps), stably: first one of each
    formula family (backend, D, dtype, p), with N > 1 and M > 1 where the family has
    one; then the others of the variants compiled so far; then the rest. (A side of one
    point is a KeOps parameter, not a variable: another formula to compile.) A run cut
    short has then checked every family, and as many configurations as it could."""

    def family(c: Config) -> tuple[str, int, str, int]:
        return (c.backend, c.dim, c.dtype, c.p)

    def variant(c: Config) -> tuple[object, ...]:
        return (*family(c), c.n == 1, c.m == 1)

    first: dict[tuple[str, int, str, int], Config] = {}
    for c in configs:
        best = first.get(family(c))
        if best is None or (min(best.n, best.m) == 1 and min(c.n, c.m) > 1):
            first[family(c)] = c
    lead = list(first.values())
    compiled = {variant(c) for c in lead}
    rest = [c for c in configs if c not in lead]
    return (
        lead
        + [c for c in rest if variant(c) in compiled]
        + [c for c in rest if variant(c) not in compiled]
    )


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
    """One solve and its checks: a record with ``outcome`` "ok", "refused" or "violation".

    ``max_iter`` caps the iterations unless the configuration has its own cap.
    """
    max_iter = max_iter if cfg.max_iter is None else cfg.max_iter
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
    # The recomputed plan's exponents (f + g - C) / eps carry a rounding of up to
    # finfo.eps * C / eps = 8 * floor: above a floor of 0.1 its entries are off by
    # factors e^O(1) and their sums say nothing (one point each, float32, blur 1e-4 x
    # diameter: 7.9 for an exact plan), so the plan is checked below that only.
    if reach is None and cfg.n * cfg.m <= 10**6 and floor < 0.1:
        _, err_b = brenier.marginal_errors(res)
        independent = float(err_b)
        bound = 2 * max(res.marginal_error, tol) + 8 * floor + 1e-5
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


def summary(records: list[dict[str, object]]) -> dict[str, object]:
    """The counts of a sweep, for a committed summary (the records themselves are MBs):
    outcomes, statuses per backend and dtype, per formula family (backend, D, dtype, p),
    sizes, seconds, and every violation and refusal in full."""
    per: dict[str, Counter[str]] = {}
    families: dict[str, Counter[str]] = {}
    for r in records:
        key = f"{r['backend']} {r['dtype']}"
        family = f"{r['backend']} D={r['dim']} {r['dtype']} p={r['p']}"
        for table, k in ((per, key), (families, family)):
            table.setdefault(k, Counter()).update([str(r["outcome"]), str(r.get("status"))])
    for table in (per, families):
        for counts in table.values():
            counts.pop("None", None)
    return {
        "configurations": len(records),
        "outcomes": dict(Counter(str(r["outcome"]) for r in records)),
        "statuses": dict(Counter(str(r.get("status")) for r in records)),
        "seconds": sum(float(r["seconds"]) for r in records),  # type: ignore[arg-type]
        "sizes": dict(Counter(f"{r['n']}x{r['m']}" for r in records)),
        "per_backend_dtype": {k: dict(v) for k, v in sorted(per.items())},
        "per_family": {k: dict(v) for k, v in sorted(families.items())},
        "violations": [r for r in records if r["outcome"] == "violation"],
        "refusals": [r for r in records if r["outcome"] == "refused"],
    }


def _resumed(partial: Path, configs: list[Config]) -> list[dict[str, object]]:
    """The records of ``partial`` (a sweep cut short) whose configuration is in ``configs``."""
    if not partial.exists():
        return []
    wanted = {asdict(c)["seed"]: asdict(c) for c in configs}
    records = []
    for line in partial.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by the interruption
            continue
        cfg = wanted.get(record.get("seed"))
        # (a record's max_iter is the cap that ran: the configuration's or the sweep's)
        same = cfg is not None and all(
            record.get(k) == v for k, v in cfg.items() if k != "max_iter"
        )
        if same:
            records.append(record)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", choices=("fast", "full"), default="full")
    parser.add_argument("--limit", type=int, default=None, help="run the first K only")
    parser.add_argument("--max-iter", type=int, default=MAX_ITER)
    parser.add_argument("--out", default=None, help="results/<OUT>.json (default sweep_<level>)")
    parser.add_argument("--resume", action="store_true", help="skip the partial file's configs")
    parser.add_argument("--threads", type=int, default=1, help="torch and numba threads")
    parser.add_argument("--keops", action="store_true", help="sweep the KeOps backend too")
    parser.add_argument("--redo", nargs="*", default=(), metavar="BACKEND",
                        help="with --resume: run these backends' records and the violations "
                        "again (after a fix)")  # fmt: skip
    parser.add_argument("--backends", nargs="+", default=None, metavar="BACKEND",
                        help="sweep these backends' part only (e.g. --keops --backends keops), "
                        "the first configuration of each (backend, D, dtype, p) first")  # fmt: skip
    parser.add_argument("--summarize", action="store_true",
                        help="run nothing: write results/<OUT>_summary.json from the "
                        "records of a run cut short (<OUT>.partial.jsonl)")  # fmt: skip
    args = parser.parse_args()
    import numba

    from _machine import RESULTS, machine, peak_rss_mb, write_json

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    configs = configurations(args.level, keops=args.keops)
    if args.backends:
        configs = formula_families_first([c for c in configs if c.backend in args.backends])
    configs = configs[: args.limit]
    name = args.out or f"sweep_{args.level}"
    RESULTS.mkdir(exist_ok=True)
    partial = RESULTS / f"{name}.partial.jsonl"  # streamed, for a sweep cut short
    if args.summarize:
        records = _resumed(partial, configs)
        print(summarize(records))
        note = f"{len(records)} of the {len(configs)} configurations, from {partial.name}"
        payload = {"machine": machine(), "level": args.level, "note": note,
                   "peak_rss_mb": None, **summary(records)}  # (not this process's)  # fmt: skip
        path = write_json(f"{name}_summary", payload)
        print(f"wrote {path}")
        return
    records = _resumed(partial, configs) if args.resume else []
    redo = []
    if args.redo:
        redo = [r for r in records if r["backend"] in args.redo or r["outcome"] == "violation"]
        records = [r for r in records if r not in redo]
        partial.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = {r["seed"] for r in records}
    todo = [c for c in configs if c.seed not in done]
    print(f"{len(configs)} configurations, {len(done)} already done ({len(redo)} to redo: "
          f"{dict(Counter(str(r['backend']) for r in redo))})", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    with partial.open("a" if args.resume else "w") as stream:
        for k, cfg in enumerate(todo):
            record = run(cfg, args.max_iter)
            records.append(record)
            stream.write(json.dumps(record) + "\n")
            stream.flush()
            if (k + 1) % 500 == 0:
                spent, left = time.perf_counter() - t0, len(todo) - k - 1
                bad = sum(r["outcome"] == "violation" for r in records)
                eta = spent / (k + 1) * left
                print(f"{len(records)}/{len(configs)} in {spent:.0f} s ({left} left, "
                      f"~{eta:.0f} s), {bad} violations", flush=True)  # fmt: skip
    print(summarize(records))
    seconds = sum(float(r["seconds"]) for r in records)
    print(f"solve time {seconds:.0f} s; peak resident memory {peak_rss_mb():.0f} MB")
    path = write_json(
        name,
        {
            "machine": machine(),
            "level": args.level,
            "configurations": len(records),
            "max_iter": args.max_iter,
            "seconds": seconds,
            "wall_seconds_this_run": time.perf_counter() - t0,
            "resumed": len(done),
            "outcomes": dict(Counter(str(r["outcome"]) for r in records)),
            "records": records,
        },
    )
    partial.unlink()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
