"""``brenier embed FILES... -o embedding.csv``: a 2D map of a collection of shapes.

All pairwise debiased divergences on Dask (:func:`brenier.pairwise`; or n solves of the
linearised OT embedding with ``--linearized``), then MDS or UMAP, written as a CSV of
one row per shape, with a labelled scatter plot on request.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from ..applications.pairwise import (
    embed as embed_matrix,
)
from ..applications.pairwise import (
    linearized_embedding,
    pairwise,
    plot_embedding,
)
from ._compute import RELATIVE_BLUR, computing
from ._errors import InputError
from ._options import (
    PLOT_SUFFIXES,
    Backend,
    Debug,
    Force,
    Json,
    Plot,
    Quiet,
    Reach,
    Samples,
    Seed,
    ShapeBlur,
    Tol,
)
from ._output import check_output, print_json, write_text
from ._progress import wanted
from ._readers import Shape, check_pair, read_shape


class Method(str, Enum):
    """How the distances are drawn in 2D."""

    mds = "mds"
    umap = "umap"


Files = Annotated[
    list[Path],
    typer.Argument(help="Two or more shapes (.npy, .npz, .csv, .obj).", show_default=False),
]
Output = Annotated[
    Path,
    typer.Option("--output", "-o", help="The embedding: a CSV, one row per shape.", dir_okay=False),
]
Matrix = Annotated[
    Path | None,
    typer.Option(
        "--matrix", help="Also write the divergence matrix (.npy or .csv).", show_default=False
    ),
]
MethodOption = Annotated[Method, typer.Option("--method", help="MDS (scikit-learn) or UMAP.")]
Linearized = Annotated[
    bool,
    typer.Option(
        "--linearized",
        help="n solves against a template shape (linearised OT) instead of n(n-1)/2 pairs.",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="A Dask scheduler's address (tcp://host:8786); default: a local cluster.",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Processes of the local cluster (default: cores).",
                 show_default=False),
]  # fmt: skip
StallTimeout = Annotated[
    float,
    typer.Option(
        "--stall-timeout",
        help="Give up (exit 1, naming the unfinished blocks) when no block has finished "
        "for this many seconds.",
    ),
]
CheckpointDir = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint", file_okay=False,
        help="A folder where finished blocks are saved, to --resume a killed job.",
        show_default=False,
    ),
]  # fmt: skip
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue the job of --checkpoint (same inputs).")
]


def embed(
    files: Files,
    output: Output,
    plot: Plot = None,
    matrix: Matrix = None,
    method: MethodOption = Method.mds,
    linearized: Linearized = False,
    blur: ShapeBlur = None,
    reach: Reach = None,
    backend: Backend = "auto",
    tol: Tol = 1e-4,
    samples: Samples = 2000,
    seed: Seed = 0,
    scheduler: Scheduler = None,
    workers: Workers = None,
    stall_timeout: StallTimeout = 3600.0,
    checkpoint: CheckpointDir = None,
    resume: Resume = False,
    json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """A 2D embedding of shapes by their OT distances (MDS or UMAP), on Dask.

    Every pair's debiased Sinkhorn divergence is solved (blocks of pairs on a Dask
    cluster: a local one by default, or --scheduler); --checkpoint saves finished
    blocks so that --resume continues a killed job. The coordinates embed
    sqrt(2 S_eps), an estimate of the W2 distance.
    """
    _check_options(output, plot, matrix, method, linearized, checkpoint, resume, force)
    shapes = _read_all(files, samples, seed)
    names = _names(files)
    if blur is None:
        blur = _default_blur(shapes)
    clouds = [_tensors(s) for s in shapes]
    record: dict[str, Any] = {
        "shapes": len(shapes), "files": [str(f) for f in files], "blur": blur,
        "reach": reach, "method": method.value, "linearized": linearized,
    }  # fmt: skip
    common: dict[str, Any] = {"blur": blur, "reach": reach, "tol": tol, "backend": backend,
              "scheduler": scheduler, "workers": workers, "names": names,
              "progress": wanted(quiet), "stall_timeout": stall_timeout}  # fmt: skip
    with computing():
        if linearized:
            result: Any = linearized_embedding(clouds, **common)
            record.update(
                reference=names[result.reference_index], time_s=result.seconds,
                workers=result.workers, not_converged=int((~result.ok).sum()),
            )  # fmt: skip
        else:
            result = pairwise(clouds, checkpoint=checkpoint, resume=resume, **common)
            record.update(
                pairs=len(shapes) * (len(shapes) - 1) // 2, blocks=result.blocks,
                computed_blocks=result.computed_blocks, resumed_blocks=result.resumed_blocks,
                resubmitted=result.resubmitted, workers=result.workers,
                not_converged=len(result.not_ok), time_s=result.seconds,
            )  # fmt: skip
        coords = embed_matrix(result, method=method.value, seed=seed)
    _write_outputs(record, result, coords, names, files, output, plot, matrix)
    if json:
        print_json(record)
    elif not quiet:
        _print(record)


def _check_options(
    output: Path, plot: Path | None, matrix: Path | None, method: Method, linearized: bool,
    checkpoint: Path | None, resume: bool, force: bool,
) -> None:  # fmt: skip
    """Every mistake in the options is found before any shape is read or solved."""
    check_output(output, force=force, suffixes=(".csv",))
    if plot is not None:
        check_output(plot, force=force, suffixes=PLOT_SUFFIXES)
    if matrix is not None:
        if linearized:
            raise InputError("--matrix writes the pairwise matrix; drop it or --linearized.")
        check_output(matrix, force=force, suffixes=(".npy", ".csv"))
    if linearized and (checkpoint is not None or resume):
        raise InputError("--checkpoint/--resume are for the pairwise matrix; drop --linearized.")
    if resume and checkpoint is None:
        raise InputError("--resume continues the job of --checkpoint FOLDER; give the folder.")
    if checkpoint is not None and (checkpoint / "manifest.json").exists() and not resume:
        raise InputError(
            f"checkpoint {str(checkpoint)!r} holds a job; pass --resume to continue it, or "
            "give another folder."
        )
    needed = [("sklearn", "scikit-learn")] if method is Method.mds else [("umap", "umap-learn")]
    needed.append(("distributed", "dask[distributed]"))
    for module, package in needed:
        try:
            __import__(module)
        except ImportError:
            raise InputError(
                f"`brenier embed` needs {package}: pip install 'brenier[dask,embed]'."
            ) from None


def _read_all(files: list[Path], samples: int, seed: int) -> list[Shape]:
    if len(files) < 3:
        raise InputError(f"embed needs at least three shapes, got {len(files)}.")
    shapes = [read_shape(f, samples=samples, seed=seed + k) for k, f in enumerate(files)]
    for shape in shapes[1:]:
        check_pair(shapes[0], shape)
    return shapes


def _names(files: list[Path]) -> list[str]:
    stems = [f.stem for f in files]
    return stems if len(set(stems)) == len(stems) else [str(f) for f in files]


def _default_blur(shapes: list[Shape]) -> float:
    """1% of the largest side of the bounding box of all shapes (as ``distance``)."""
    both = np.concatenate([s.points for s in shapes])
    extent = float(np.ptp(both, axis=0).max())
    return RELATIVE_BLUR * extent if extent > 0 else 1.0


def _tensors(shape: Shape) -> Any:
    points = torch.from_numpy(shape.points)
    return points if shape.weights is None else (points, torch.from_numpy(shape.weights))


def _write_outputs(
    record: dict[str, Any], result: Any, coords: np.ndarray, names: list[str],
    files: list[Path], output: Path, plot: Path | None, matrix: Path | None,
) -> None:  # fmt: skip
    rows = ["name,path,x,y"]
    rows += [
        f"{_csv(name)},{_csv(str(f))},{u:.9g},{v:.9g}"
        for name, f, (u, v) in zip(names, files, coords, strict=True)
    ]
    write_text(output, "\n".join(rows) + "\n")
    record["output"] = str(output)
    if matrix is not None:
        _write_matrix(matrix, np.asarray(result))
        record["matrix"] = str(matrix)
    if plot is not None:
        kind = "linearised OT" if record["linearized"] else "pairwise OT"
        plot_embedding(coords, names=names, title=f"{record['method'].upper()} of {kind}",
                       path=plot)  # fmt: skip
        record["plot"] = str(plot)


def _csv(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def _write_matrix(path: Path, values: np.ndarray) -> None:
    if path.suffix.lower() == ".npy":
        from ._output import write_with

        write_with(path, lambda tmp: np.save(tmp, values))
    else:
        write_text(path, "\n".join(",".join(f"{v:.12g}" for v in row) for row in values) + "\n")


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if r["linearized"]:
        console.print(
            f"{r['shapes']} shapes: linearised OT against template {r['reference']!r}, "
            f"{r['shapes']} solves on {r['workers']} workers, {r['time_s']:.1f} s"
        )
    else:
        console.print(
            f"{r['shapes']} shapes, {r['pairs']} pairs in {r['blocks']} blocks "
            f"({r['computed_blocks']} computed, {r['resumed_blocks']} resumed) on "
            f"{r['workers']} workers, {r['time_s']:.1f} s"
        )
    if r["not_converged"]:
        console.print(f"{r['not_converged']} solves stopped above their tolerance")
    console.print(f"embedding ({r['method']}, blur {r['blur']:g}): {r['output']}")
    for key, label in (("matrix", "divergence matrix"), ("plot", "picture")):
        if key in r:
            console.print(f"{label}: {r[key]}")
