"""``brenier bench``: a quick benchmark on problems whose exact answer is known.

The targets are y_i = grad phi(x_i) for the strictly convex
phi(x) = |x|^2/2 + |x|^4/20 (gradient x (1 + |x|^2/5)): the identity matching is
optimal (Brenier), so the exact cost (1/2N) sum |x_i - y_i|^2 is known at any N,
and every row states its relative error against it. y is shuffled before solving.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from .. import __version__, assignment, solve
from ._compute import computing, relative_error
from ._errors import InputError
from ._options import Blur, Debug, Force, Json, Quiet
from ._output import check_output, print_json, write_text
from ._progress import bar


def brenier_pair(n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x uniform in [-1, 1]^D, y = grad phi(x) shuffled, and the exact OT cost."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, dim))
    y = x * (1 + (x**2).sum(1, keepdims=True) / 5)
    cost = float(((x - y) ** 2).sum(1).mean() / 2)
    return torch.from_numpy(x), torch.from_numpy(y[rng.permutation(n)]), cost


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 2:
        raise InputError(f"--sizes must be integers >= 2 separated by commas, got {text!r}.")
    return sizes


def bench(
    sizes: Annotated[
        str, typer.Option("--sizes", help="Numbers of points, comma-separated.")
    ] = "1000,5000",
    dim: Annotated[int, typer.Option("--dim", min=1, max=3, help="Dimension D.")] = 3,
    blur: Blur = 0.01,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            show_default=False,
            help="Also write the results as JSON.",
        ),
    ] = None,
    json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """Times Sinkhorn (default options) and the exact assignment, with their errors."""
    if output is not None:
        check_output(output, force=force, suffixes=(".json",))
    cases = [(kind, n) for n in _sizes(sizes) for kind in ("sinkhorn", "assignment")]
    rows = []
    with bar(quiet, "bench", total=len(cases)) as progress:
        for k, (kind, n) in enumerate(cases):
            progress.update(f"{kind} N = {n}", completed=k)
            rows.append(_run(kind, n, dim, blur))
    record = {"machine": _machine(), "blur": blur, "dim": dim, "rows": rows}
    if output is not None:
        import json as json_module

        write_text(output, json_module.dumps(record, indent=2) + "\n")
    if json:
        print_json(record)
    elif not quiet:
        _print(record)


def _run(kind: str, n: int, dim: int, blur: float) -> dict[str, Any]:
    x, y, cost = brenier_pair(n, dim, seed=n)
    start = time.perf_counter()
    with computing(), torch.no_grad():
        if kind == "sinkhorn":
            result = solve(x, y, blur=blur)
            value, backend, iterations = float(result.value), result.backend, result.iterations
        else:
            match = assignment(x, y)
            value, backend, iterations = float(match.cost), match.method, match.iterations
    seconds = time.perf_counter() - start
    return {
        "case": kind,
        "n": n,
        "backend": backend,
        "iterations": iterations,
        "time_s": seconds,
        "value": value,
        "exact": cost,
        "relative_error": relative_error(value, cost),
    }


def _machine() -> dict[str, Any]:
    return {
        "brenier": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or "unknown",
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }


def _print(record: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = record["machine"]
    table = Table(
        title=f"brenier {m['brenier']} bench: D = {record['dim']}, "
        f"blur {record['blur']:g} (exact costs known: Brenier maps)"
    )
    for column in ("case", "N", "backend", "iterations", "time", "value", "rel. error"):
        table.add_column(column, justify="left" if column in ("case", "backend") else "right")
    for r in record["rows"]:
        table.add_row(
            r["case"],
            str(r["n"]),
            r["backend"],
            str(r["iterations"]),
            f"{r['time_s']:.2f} s",
            f"{r['value']:.6g}",
            f"{r['relative_error']:+.1e}",
        )
    # a pipe or a log gets the whole table, not one cut at 80 columns
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
    console.print(table)
    console.print(f"torch {m['torch']}, {m['cpus']} CPUs ({m['threads']} threads), {m['platform']}")
