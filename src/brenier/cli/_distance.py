"""``brenier distance A B``: the Sinkhorn divergence (or the exact OT cost) of two shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._compute import describe, exact, exact_reason, relative_error, resolve_blur, sinkhorn_record
from ._errors import InputError
from ._options import (
    PLOT_SUFFIXES,
    Backend,
    Debug,
    Force,
    Json,
    Plot,
    Power,
    Quiet,
    Reach,
    Samples,
    Seed,
    ShapeBlur,
    Tol,
)
from ._output import check_output, print_json
from ._plots import plot_matching, plot_result
from ._progress import bar
from ._readers import read_pair

Exact = Annotated[
    bool, typer.Option("--exact", help="The exact OT cost (assignment or LP), no Sinkhorn.")
]
Reference = Annotated[
    bool,
    typer.Option(
        "--reference/--no-reference",
        help="Also compute the exact cost and report the relative error.",
    ),
]


def distance(
    source: Annotated[Path, typer.Argument(help="Source shape (.npy, .npz, .csv, .obj).")],
    target: Annotated[Path, typer.Argument(help="Target shape.")],
    blur: ShapeBlur = None,
    p: Power = 2,
    reach: Reach = None,
    exact_only: Exact = False,
    reference: Reference = True,
    backend: Backend = "auto",
    tol: Tol = 1e-4,
    samples: Samples = 2000,
    seed: Seed = 0,
    json: Json = False,
    plot: Plot = None,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """The debiased Sinkhorn divergence S_eps(A, B), its backend and its error.

    The error is the marginal error of the solve and, when the sizes allow it, the
    relative error against the exact OT cost (an optimal assignment for equal sizes,
    else a linear program). --exact prints the exact cost alone.
    """
    if plot is not None:
        check_output(plot, force=force, suffixes=PLOT_SUFFIXES)
    a, b = read_pair(source, target, samples=samples, seed=seed, plot=plot is not None)
    record: dict[str, Any] = {"source": describe(a), "target": describe(b), "p": p}
    if exact_only:
        if reach is not None:
            raise InputError("--exact solves balanced OT; drop --reach or --exact.")
        with bar(quiet, "exact OT"):
            ref = exact(a, b, p)
        record.update(method="exact", value=ref.value, solver=ref.method, time_s=ref.seconds)
        if plot is not None and ref.permutation is not None:
            plot_matching(a.points, b.points, ref.permutation, plot)
        elif plot is not None:
            raise InputError("--plot with --exact draws matchings: equal sizes, uniform weights.")
    else:
        blur = resolve_blur(blur, a, b)
        options = {"blur": blur, "p": p, "reach": reach, "backend": backend, "tol": tol}
        result, solved = sinkhorn_record(a, b, quiet, **options)
        value = solved["value"]
        record.update(method="sinkhorn", **solved)
        reason = exact_reason(a, b, p) if reach is None else "unbalanced OT (--reach)"
        if reference and reason is None:
            with bar(quiet, "exact reference"):
                ref = exact(a, b, p)
            record["exact"] = {"value": ref.value, "solver": ref.method, "time_s": ref.seconds}
            # JSON has no NaN: an exact cost of 0 (identical inputs) has no relative error
            record["relative_error"] = relative_error(value, ref.value) if ref.value else None
        else:
            record["exact"] = None
            record["relative_error"] = None
            record["no_reference"] = reason or "--no-reference"
        if plot is not None:
            plot_result(result, plot)
    if plot is not None:
        record["plot"] = str(plot)
    if json:
        print_json(record)
    elif not quiet:
        _print(record)


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    s, t = r["source"], r["target"]
    console.print(
        f"{s['path']} ({s['points']} points, {s['kind']}) -> "
        f"{t['path']} ({t['points']} points, {t['kind']}), D = {s['dim']}"
    )
    if r["method"] == "exact":
        console.print(f"exact OT cost      {r['value']:.6g}  ({r['solver']}, {r['time_s']:.2f} s)")
    else:
        kind = "unbalanced " if r["reach"] is not None else ""
        console.print(
            f"{kind}Sinkhorn divergence S_eps = {r['value']:.6g}  "
            f"(blur {r['blur']:g}, p = {r['p']})"
        )
        console.print(
            f"backend {r['backend']}, {r['iterations']} iterations, "
            f"{r['time_s']:.2f} s, marginal error {r['marginal_error']:.1e}, "
            f"{r['status']}"
        )
        if r["exact"] is not None:
            e = r["exact"]
            rel = r["relative_error"]
            console.print(
                f"exact OT cost {e['value']:.6g} ({e['solver']}, {e['time_s']:.2f} s):"
                + (
                    f" relative error {rel:+.2%}"
                    if rel is not None
                    else " (zero: no relative error)"
                )
            )
        else:
            console.print(f"no exact reference: {r['no_reference']}")
    if "plot" in r:
        console.print(f"picture: {r['plot']}")
