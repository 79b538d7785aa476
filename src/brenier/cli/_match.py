"""``brenier match A B -o plan.npz``: a matching, a sparse plan or a Brenier map, saved."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from ..transport import sparse_plan
from ._compute import computing, describe, exact, resolve_blur, sinkhorn_record
from ._errors import InputError, one_line
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
from ._output import check_output, print_json, write_npz
from ._plots import plot_matching, plot_result
from ._progress import bar
from ._readers import Shape, read_pair


class Kind(str, Enum):
    """What ``match`` computes."""

    auto = "auto"
    matching = "matching"
    plan = "plan"
    map = "map"


def _kind(kind: Kind, a: Shape, b: Shape) -> Kind:
    square = a.size == b.size and a.weights is None and b.weights is None
    if kind is Kind.auto:
        return Kind.matching if square else Kind.plan
    if kind is Kind.matching and not square:
        raise InputError(
            f"a matching needs equal sizes and uniform weights, got N = {a.size}, M = {b.size}"
            "; use --kind plan or --kind map."
        )
    return kind


def match(
    source: Annotated[Path, typer.Argument(help="Source shape (.npy, .npz, .csv, .obj).")],
    target: Annotated[Path, typer.Argument(help="Target shape.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", dir_okay=False, help="The .npz file to write.")
    ],
    kind: Annotated[
        Kind,
        typer.Option(
            "--kind",
            help="matching (exact, N = M), plan (sparse "
            "entropic plan) or map (Brenier map at the source "
            "points); auto: matching when N = M.",
        ),
    ] = Kind.auto,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", min=0.0, help="Plan entries below threshold * max are dropped."
        ),
    ] = 1e-8,
    blur: ShapeBlur = None,
    p: Power = 2,
    reach: Reach = None,
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
    """Matches two shapes and saves the result as a .npz file.

    matching: 'permutation' (target index of each source point) and 'cost'.
    plan: the sparse plan as 'rows', 'cols', 'values' (COO), 'shape', 'dropped_mass'.
    map: 'source', 'map' (T(x_i) = x_i - grad F(x_i)), potentials 'F' and 'G'.
    """
    check_output(output, force=force, suffixes=(".npz",))
    if plot is not None:
        check_output(plot, force=force, suffixes=PLOT_SUFFIXES)
    a, b = read_pair(source, target, samples=samples, seed=seed, plot=plot is not None)
    chosen = _kind(kind, a, b)
    if chosen is Kind.matching and reach is not None:
        raise InputError("a matching is balanced; drop --reach or use --kind plan.")
    record: dict[str, Any] = {
        "source": describe(a),
        "target": describe(b),
        "kind": chosen.value,
        "p": p,
        "output": str(output),
    }
    if chosen is Kind.matching:
        _check_unused(blur, tol, backend)
        with bar(quiet, "assignment"):
            ref = exact(a, b, p)
        assert ref.permutation is not None  # equal sizes, uniform: an assignment ran
        arrays = {
            "kind": np.array("matching"),
            "permutation": ref.permutation,
            "cost": np.array(ref.value),
        }
        record.update(value=ref.value, solver=ref.method, time_s=ref.seconds)
        if plot is not None:
            plot_matching(a.points, b.points, ref.permutation, plot)
    else:
        blur = resolve_blur(blur, a, b)
        options = {"blur": blur, "p": p, "reach": reach, "backend": backend, "tol": tol}
        result, solved = sinkhorn_record(a, b, quiet, **options)
        record.update(solved)
        with bar(quiet, chosen.value), computing(), torch.no_grad():
            arrays = _plan(result, threshold) if chosen is Kind.plan else _map(result, a)
        arrays.update(value=np.array(float(result.value)), blur=np.array(blur))
        record.update({k: v.item() for k, v in arrays.items() if k in ("nnz", "dropped_mass")})
        if plot is not None:
            plot_result(result, plot, kind=chosen.value)
    write_npz(output, arrays)
    if plot is not None:
        record["plot"] = str(plot)
    if json:
        print_json(record)
    elif not quiet:
        _print(record)


def _check_unused(blur: float | None, tol: float | None, backend: str) -> None:
    """A matching ignores the Sinkhorn options, but a bad value is still a mistake: it
    used to be accepted silently (exit 0 with --blur -1, issue 14 fuzzing)."""
    from .._validation import check_positive
    from ..kernels import get_backend

    try:
        for name, value in (("blur", blur), ("tol", tol)):
            if value is not None:
                check_positive(name, value)
        if backend != "auto":
            get_backend(backend)
    except (TypeError, ValueError) as error:
        raise InputError(one_line(error)) from None


def _plan(result: Any, threshold: float) -> dict[str, np.ndarray]:
    plan = sparse_plan(result, threshold=threshold)
    csr = plan.matrix
    crow = csr.crow_indices().numpy()
    rows = np.repeat(np.arange(len(crow) - 1), np.diff(crow))
    return {
        "kind": np.array("plan"),
        "rows": rows,
        "cols": csr.col_indices().numpy(),
        "values": csr.values().numpy(),
        "shape": np.array(csr.shape),
        "nnz": np.array(plan.nnz),
        "dropped_mass": np.array(float(plan.dropped_mass)),
    }


def _map(result: Any, a: Shape) -> dict[str, np.ndarray]:
    x = torch.from_numpy(a.points)
    F, G = result.potentials
    return {
        "kind": np.array("map"),
        "source": a.points,
        "map": result.transport_map(x).numpy(),
        "F": F.numpy(),
        "G": G.numpy(),
    }


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    s, t = r["source"], r["target"]
    console.print(f"{s['path']} ({s['points']} points) -> {t['path']} ({t['points']} points)")
    if r["kind"] == "matching":
        console.print(
            f"optimal matching: cost {r['value']:.6g} ({r['solver']}, {r['time_s']:.2f} s)"
        )
    else:
        console.print(
            f"Sinkhorn: value {r['value']:.6g}, backend {r['backend']}, "
            f"{r['iterations']} iterations, {r['time_s']:.2f} s, "
            f"marginal error {r['marginal_error']:.1e}"
        )
        if r["kind"] == "plan":
            console.print(f"sparse plan: {r['nnz']} entries, dropped mass {r['dropped_mass']:.1e}")
    console.print(f"{r['kind']} written to {r['output']}")
    if "plot" in r:
        console.print(f"picture: {r['plot']}")
