"""``brenier register SRC TGT -o out.ply``: registers a 3D shape onto another.

The engine is :func:`brenier.register` (robust OT: rigid, similarity and affine fits,
then the non-rigid OT flow or splines). The source is read by :func:`brenier.io.read_shape`
(PLY, OBJ, STL, OFF, VTK, VTU meshes; NPY, NPZ, CSV points): a mesh's vertices with
their area weights, a cloud's points with uniform weights. The output is the source
moved by ``result.apply``: a mesh keeps its faces and attributes.

With landmarks (``--landmarks-source``/``--landmarks-target``: the same K points on
both shapes, CSV positions or DIR-Lab voxel indices with ``--spacing``), the target
registration error :math:`\\mathrm{TRE} = \\frac1K \\sum_k |\\phi(l_k) - l'_k|` is
reported before registration and after each step (``result.apply(..., after=k)``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .. import register as register_shapes
from ..applications.registration import StepReport, target_registration_error
from ..applications.registration._register import STEPS
from ..io import Shape, read_landmarks, read_shape, vertex_areas, write_shape
from ..io._shapes import MESH_SUFFIXES, POINT_SUFFIXES
from ._compute import computing
from ._errors import InputError, one_line
from ._options import PLOT_SUFFIXES, Debug, Force, Json, Plot, Quiet
from ._output import check_output, print_json
from ._progress import Bar, bar

SHAPE_SUFFIXES = MESH_SUFFIXES + POINT_SUFFIXES
DEFAULT_STEPS = "rigid,affine,nonrigid"


@dataclass(frozen=True)
class Inputs:
    """What a registration reads: the source shape (faces kept for the output), its
    weights, the target cloud and its weights, the landmarks (or None)."""

    source: Shape
    weights: np.ndarray
    target: Shape
    target_weights: np.ndarray
    landmarks: tuple[np.ndarray, np.ndarray] | None


def read_input(path: Path, role: str) -> tuple[Shape, np.ndarray]:
    """A shape file and its weights (area weights on a mesh's vertices, else uniform);
    any problem with the file is a one-line :class:`InputError`."""
    try:
        with quiet_streams():  # meshio prints its own complaints before raising
            shape = read_shape(path)
    except (FileNotFoundError, ValueError, ImportError) as error:
        raise InputError(f"{role}: {one_line(error)}") from error
    if shape.faces is not None and len(shape.faces):
        weights = vertex_areas(shape.points, shape.faces)
        if not weights.sum() > 0:  # degenerate triangles: fall back to the vertices
            weights = np.ones(len(shape.points))
    else:
        weights = np.ones(len(shape.points))
    return shape, weights / weights.sum()


@contextmanager
def quiet_streams() -> Iterator[None]:
    """Whatever a reader prints on stdout or stderr is dropped: the command's error is
    its one line."""
    sink = io.StringIO()
    with redirect_stdout(sink), redirect_stderr(sink):
        yield


def parse_steps(text: str) -> tuple[str, ...]:
    """``"rigid,affine,nonrigid"`` as a tuple of known step names."""
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if not steps or unknown:
        raise InputError(
            f"--steps {text!r}: unknown step(s) {unknown}; choose among {', '.join(STEPS)}, "
            f"comma-separated (e.g. {DEFAULT_STEPS})."
        )
    return steps


def parse_spacing(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"--spacing {text!r} must be 3 positive numbers, e.g. 0.97,0.97,2.5.")
    return values[0], values[1], values[2]


def read_landmark_pair(
    source: Path | None, target: Path | None, spacing: tuple[float, float, float] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Both landmark files, K points each, or None when neither is given."""
    if source is None and target is None:
        return None
    if source is None or target is None:
        raise InputError(
            "give both --landmarks-source and --landmarks-target (the same K landmarks on "
            "each shape), or neither."
        )
    pair = []
    for path, role in ((source, "--landmarks-source"), (target, "--landmarks-target")):
        try:
            pair.append(read_landmarks(path, spacing=spacing))
        except (FileNotFoundError, ValueError) as error:
            raise InputError(f"{role}: {one_line(error)}") from error
    if pair[0].shape != pair[1].shape:
        raise InputError(
            f"{source.name!r} holds {len(pair[0])} landmarks but {target.name!r} {len(pair[1])}; "
            "the k-th row of each file must be the same point."
        )
    return pair[0], pair[1]


def tre_record(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The landmark errors' mean, median, 95th percentile and maximum."""
    t = target_registration_error(predicted, truth)
    return {"mean": t["mean"], "median": t["p50"], "p95": t["p95"], "max": t["max"]}


def register(
    source: Annotated[
        Path, typer.Argument(help="The shape to move: a mesh (.ply, .obj, .stl, ...) or points.")
    ],
    target: Annotated[Path, typer.Argument(help="The shape to move it onto.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="The registered source (.ply, .obj, .stl, .off, .vtk, .vtu, .npy, .npz, "
            ".csv); a mesh keeps its faces.",
        ),
    ],
    landmarks_source: Annotated[
        Path | None,
        typer.Option(
            "--landmarks-source",
            show_default=False,
            help="K landmarks on the source (.csv x,y,z; .txt/.pts DIR-Lab indices).",
        ),
    ] = None,
    landmarks_target: Annotated[
        Path | None,
        typer.Option(
            "--landmarks-target",
            show_default=False,
            help="The same K landmarks on the target: TRE before/after each step.",
        ),
    ] = None,
    spacing: Annotated[
        str | None,
        typer.Option(
            "--spacing",
            show_default=False,
            help="Voxel spacing of DIR-Lab landmark files, e.g. 0.97,0.97,2.5.",
        ),
    ] = None,
    steps: Annotated[
        str,
        typer.Option("--steps", help=f"Steps, comma-separated, among {', '.join(STEPS)}."),
    ] = DEFAULT_STEPS,
    reach: Annotated[
        float | None,
        typer.Option(
            "--reach",
            show_default=False,
            help="Robust-OT reach in the shapes' unit (outliers beyond it are discarded); "
            "default: 5% of the target's largest side.",
        ),
    ] = None,
    balanced: Annotated[
        bool, typer.Option("--balanced", help="Balanced OT (no reach): every point is matched.")
    ] = False,
    blur: Annotated[
        float | None,
        typer.Option(
            "--blur",
            show_default=False,
            help="Finest blur in the shapes' unit; default: 1% of the target's largest side.",
        ),
    ] = None,
    multistart: Annotated[
        bool,
        typer.Option(
            "--multistart/--no-multistart",
            help="Try the 24 rotations of the cube before the rigid fit (any rotation).",
        ),
    ] = True,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            show_default=False,
            help="Network of the 'learned' step (.safetensors, from `brenier "
            "train-registration`); default: the model shipped with brenier.",
        ),
    ] = None,
    json: Json = False,
    plot: Plot = None,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """Registers a 3D shape onto another with robust OT and writes the moved source.

    Reports the time and the OT cost after each step and, with landmarks, the target
    registration error (TRE) before registration and after each step.
    """
    check_output(output, force=force, suffixes=SHAPE_SUFFIXES)
    if plot is not None:
        check_output(plot, force=force, suffixes=PLOT_SUFFIXES)
    for path in (source, target, landmarks_source, landmarks_target):
        if path is not None and path.exists() and output.resolve() == path.resolve():
            raise InputError(f"output {str(output)!r} is an input; inputs are never modified.")
    if balanced and reach is not None:
        raise InputError("--balanced means no reach; drop --reach or --balanced.")
    chosen = parse_steps(steps)
    learned = _learned_model(model, chosen)
    landmarks = read_landmark_pair(landmarks_source, landmarks_target, parse_spacing(spacing))
    shape, weights = read_input(source, "source")
    cloud, target_weights = read_input(target, "target")
    if output.suffix.lower() == ".stl" and shape.faces is None:
        raise InputError(
            f"{source.name!r} has no faces and STL stores triangles only; write the "
            "registered points as .ply, .vtu, .npy or .csv."
        )
    inputs = Inputs(shape, weights, cloud, target_weights, landmarks)
    options: dict[str, Any] = {
        "steps": chosen,
        "reach": None if balanced else ("auto" if reach is None else reach),
        "blur": "auto" if blur is None else blur,
        "multistart": multistart,
    }
    start = time.perf_counter()
    with bar(quiet, "registration", total=len(chosen)) as progress, computing():
        result = register_shapes(
            inputs.source.points, inputs.target.points, inputs.weights, inputs.target_weights,
            callback=_step_progress(progress, len(chosen)), model=learned, **options,
        )  # fmt: skip
    moved = np.asarray(result.moved)
    write_shape(output, Shape(moved, shape.faces, dict(shape.attributes)))
    record = _record(inputs, result.steps, result, source, target, output, options)
    record["time_s"] = time.perf_counter() - start
    if learned is not None:
        record["model"] = "shipped" if model is None else str(model)
    if plot is not None:
        from ._plots import plot_registration

        plot_registration(shape.points, moved, cloud.points, plot)
        record["plot"] = str(plot)
    if json:
        print_json(record)
    elif not quiet:
        _print(record)


def _learned_model(path: Path | None, steps: tuple[str, ...]) -> Any:
    """The network of the learned step, loaded and checked before any computing."""
    if path is not None and "learned" not in steps:
        raise InputError(
            f"--model is the network of the 'learned' step; add it to --steps "
            f"(e.g. --steps affine,learned,nonrigid), got {','.join(steps)}."
        )
    if "learned" not in steps:
        return None
    from ..applications.registration.learned import resolve_model

    try:  # a missing or corrupt file: load_model's message, which names it
        return resolve_model(path)
    except (ValueError, ImportError) as error:
        raise InputError(str(error).removeprefix("[brenier] ")) from error


def _step_progress(progress: Bar, total: int) -> Any:
    def update(k: int, name: str, report: StepReport | None) -> None:
        done = k + (report is not None)
        progress.update(f"step {min(k + 1, total)}/{total}: {name}", completed=done)

    return update


def _record(
    inputs: Inputs,
    steps: tuple[StepReport, ...],
    result: Any,
    source: Path,
    target: Path,
    output: Path,
    options: dict[str, Any],
) -> dict[str, Any]:
    """What the command reports: the inputs, each step's time, cost and TRE."""

    def describe(shape: Shape, path: Path) -> dict[str, Any]:
        faces = 0 if shape.faces is None else len(shape.faces)
        return {"path": str(path), "points": len(shape.points), "faces": faces}

    record: dict[str, Any] = {
        "source": describe(inputs.source, source),
        "target": describe(inputs.target, target),
        "output": str(output),
        "options": {**options, "steps": list(options["steps"])},
        "initial_cost": result.initial_cost,
        "steps": [{"name": s.name, "time_s": s.seconds, "cost": s.cost} for s in steps],
        "registration_time_s": result.seconds,
    }
    if inputs.landmarks is not None:
        before, truth = inputs.landmarks
        record["landmarks"] = len(truth)
        record["tre_before"] = tre_record(before, truth)
        for k, step in enumerate(record["steps"]):
            step["tre"] = tre_record(np.asarray(result.apply(before, after=k)), truth)
    return record


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    s, t = r["source"], r["target"]
    console.print(
        f"{s['path']} ({s['points']} points, {s['faces']} faces) -> "
        f"{t['path']} ({t['points']} points, {t['faces']} faces)"
    )
    tre = "tre_before" in r
    header = f"{'step':<11}{'time':>9}{'OT cost':>12}"
    if tre:
        header += f"{'TRE mean':>11}{'median':>9}{'max':>9}   ({r['landmarks']} landmarks)"
    console.print(header)

    def line(name: str, seconds: str, cost: float, t: dict[str, float] | None) -> str:
        row = f"{name:<11}{seconds:>9}{cost:>12.4g}"
        if t is not None:
            row += f"{t['mean']:>11.3g}{t['median']:>9.3g}{t['max']:>9.3g}"
        return row

    console.print(line("before", "", r["initial_cost"], r.get("tre_before")))
    for step in r["steps"]:
        console.print(line(step["name"], f"{step['time_s']:.2f} s", step["cost"], step.get("tre")))
    console.print(f"registered source written to {r['output']} ({r['time_s']:.1f} s in all)")
    if "plot" in r:
        console.print(f"picture: {r['plot']}")
