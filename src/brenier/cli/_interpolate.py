"""``brenier interpolate A B --frames N -o anim.gif``: the Wasserstein geodesic from A to B.

Point clouds (``.npy`` (N, D), ``.npz``, ``.csv``, ``.obj`` sampled on the surface) move
along straight lines to their barycentric projection,
:math:`x_i(t) = (1 - t)\\, x_i + t\\, T(x_i)`; images and volumes (``.png``/``.jpg``
pictures, ``.npy`` arrays (H, W) or (D, H, W)) are densities, and the frame at time t is
their debiased barycenter with weights (1 - t, t) (:func:`brenier.interpolate`). The
frames, at N times evenly spaced in [0, 1], are written as an animated ``.gif``, a
``.png`` strip, or the arrays (``.npy``: (N, ...); ``.npz``: ``frames`` and ``times``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from .. import interpolate as displacement_interpolation
from ._barycenter import PICTURES, read_density
from ._compute import computing, describe, resolve_blur, tensors
from ._errors import InputError
from ._options import Debug, Force, Json, Quiet, Samples, Seed
from ._output import check_output, print_json, write_with
from ._progress import bar
from ._readers import check_pair, read_shape

OUTPUTS = (".gif", ".png", ".npy", ".npz")
KINDS = ("auto", "points", "image")


def input_kind(path: Path, kind: str) -> str:
    """``"points"`` or ``"image"``: pictures are images; an ``.npy`` array (N, D) with
    D <= 3 is points, any other array an image or a volume; other files are points."""
    if kind != "auto":
        return kind
    suffix = path.suffix.lower()
    if suffix in PICTURES:
        return "image"
    if suffix == ".npy" and path.is_file():
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception:  # unreadable: read_shape says why, in one line
            return "points"
        return "points" if array.ndim == 2 and array.shape[1] <= 3 else "image"
    return "points"


def interpolate(
    source: Annotated[Path, typer.Argument(help="The shape at t = 0 (points, mesh or image).")],
    target: Annotated[Path, typer.Argument(help="The shape at t = 1.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Animated .gif, a .png strip of the frames, or arrays (.npy, .npz).",
        ),
    ],
    frames: Annotated[
        int, typer.Option("--frames", min=2, help="Frames, at times evenly spaced in [0, 1].")
    ] = 9,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="How to read the inputs: auto (pictures and (H, W) arrays are images, "
            "(N, D) arrays points), points or image.",
        ),
    ] = "auto",
    blur: Annotated[
        float | None,
        typer.Option(
            "--blur",
            show_default=False,
            help="Entropic blur: clouds, in the points' unit (default 1% of their extent); "
            "images, in pixels times --spacing (default 1.5).",
        ),
    ] = None,
    spacing: Annotated[float, typer.Option("--spacing", help="Images: the side of a pixel.")] = 1.0,
    fps: Annotated[int, typer.Option("--fps", min=1, help="GIF frames per second.")] = 4,
    samples: Samples = 2000,
    seed: Seed = 0,
    json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """The displacement interpolation (McCann) between two clouds or two images."""
    check_output(output, force=force, suffixes=OUTPUTS)
    if kind not in KINDS:
        raise InputError(f"--kind {kind!r}: choose among {', '.join(KINDS)}.")
    kinds = {input_kind(source, kind), input_kind(target, kind)}
    if len(kinds) > 1:
        raise InputError(
            f"{source.name!r} and {target.name!r} are not both point clouds or both images; "
            "pass --kind points or --kind image if the guess is wrong."
        )
    times = np.linspace(0.0, 1.0, frames)
    start = time.perf_counter()
    if kinds == {"image"}:
        stack, record = _images(source, target, times, blur, spacing, output, quiet)
    else:
        stack, record = _clouds(source, target, times, blur, samples, seed, output, quiet)
    seconds = time.perf_counter() - start
    _write(output, stack, times, record["kind"], fps)
    record.update(output=str(output), frames=frames, time_s=seconds)
    if json:
        print_json(record)
    elif not quiet:
        what = "images" if record["kind"] == "image" else "clouds"
        print(
            f"{frames} frames of the interpolation between the {what} {source.name} and "
            f"{target.name} (blur {record['blur']:g}) written to {output} ({seconds:.1f} s)"
        )


def _clouds(
    source: Path,
    target: Path,
    times: np.ndarray,
    blur: float | None,
    samples: int,
    seed: int,
    output: Path,
    quiet: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    a = read_shape(source, samples=samples, seed=seed)
    b = read_shape(target, samples=samples, seed=seed + 1)
    check_pair(a, b)
    if output.suffix.lower() in (".gif", ".png") and a.dim not in (2, 3):
        raise InputError(
            f"{output.suffix} pictures draw 2D or 3D clouds; {a.path.name!r} has D = {a.dim}. "
            "Write the frames as .npy or .npz."
        )
    blur = resolve_blur(blur, a, b)
    (x, wa), (y, wb) = tensors(a), tensors(b)
    with bar(quiet, "interpolation"), computing(), torch.no_grad():
        moved = displacement_interpolation(x, y, times.tolist(), blur=blur, a=wa, b=wb)
    record = {"kind": "points", "source": describe(a), "target": describe(b), "blur": blur}
    return moved.numpy(), record


def _images(
    source: Path,
    target: Path,
    times: np.ndarray,
    blur: float | None,
    spacing: float,
    output: Path,
    quiet: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    first, last = read_density(source), read_density(target)
    if first.shape != last.shape:
        raise InputError(
            f"{source.name!r} has shape {first.shape} but {target.name!r} {last.shape}; "
            "the images must lie on one grid."
        )
    if output.suffix.lower() in (".gif", ".png") and first.ndim != 2:
        raise InputError("volumes are written as .npy or .npz, not as pictures.")
    blur = 1.5 * spacing if blur is None else blur
    a, b = torch.from_numpy(first), torch.from_numpy(last)
    stack = []
    with bar(quiet, "interpolation", total=len(times)) as progress, computing():
        for k, t in enumerate(times):
            progress.update(f"frame {k + 1}/{len(times)}, t = {t:.2f}", completed=k)
            stack.append(displacement_interpolation(a, b, float(t), blur=blur, spacing=spacing))
    record = {"kind": "image", "shape": list(first.shape), "blur": blur, "spacing": spacing,
              "source": str(source), "target": str(target)}  # fmt: skip
    return torch.stack(stack).numpy(), record


def _write(output: Path, stack: np.ndarray, times: np.ndarray, kind: str, fps: int) -> None:
    suffix = output.suffix.lower()
    if suffix == ".npy":
        write_with(output, lambda tmp: np.save(tmp, stack))
    elif suffix == ".npz":
        write_with(output, lambda tmp: np.savez_compressed(tmp, frames=stack, times=times))
    else:
        pictures = [_frame_rgb(stack, k, float(t), kind) for k, t in enumerate(times)]
        if suffix == ".gif":
            write_with(output, lambda tmp: _save_gif(pictures, tmp, fps))
        else:
            write_with(output, lambda tmp: _save_strip(pictures, tmp))


def _frame_rgb(stack: np.ndarray, k: int, t: float, kind: str) -> np.ndarray:
    """Frame ``k`` drawn by matplotlib, as an RGB array (the same axes for every frame)."""
    from ..viz._figures import new_axes, new_figure, sample_rows
    from ..viz._history import _rgb

    figure = new_figure((4.0, 4.0))
    if kind == "image":
        ax = figure.add_subplot(111)
        ax.imshow(stack[k], cmap="magma", vmin=0, vmax=float(stack[k].max()) or 1.0)
        ax.set_axis_off()
    else:
        dim = stack.shape[-1]
        ax = new_axes(figure, dim)
        rows = sample_rows(stack.shape[1], 4000)
        low, high = stack.min(axis=(0, 1)), stack.max(axis=(0, 1))
        pad = 0.05 * (high - low).max()
        # each point keeps the colour of its start (its first coordinate): the paths show
        ax.scatter(*stack[k][rows].T, s=3.0, c=stack[0][rows, 0], cmap="viridis",
                   linewidths=0)  # fmt: skip
        ax.set_xlim(low[0] - pad, high[0] + pad)
        ax.set_ylim(low[1] - pad, high[1] + pad)
        if dim == 3:
            ax.set_zlim(low[2] - pad, high[2] + pad)
        ax.set_axis_off()
    ax.set_title(f"t = {t:.2f}", fontsize=10)
    return _rgb(figure, 80)


def _save_gif(pictures: list[np.ndarray], path: Path, fps: int) -> None:
    from PIL import Image

    images = [Image.fromarray(p).quantize(colors=256) for p in pictures]
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:],
        duration=round(1000 / fps), loop=0,
    )  # fmt: skip


def _save_strip(pictures: list[np.ndarray], path: Path, columns: int = 6) -> None:
    """The frames in rows of ``columns``, left to right (white where a row ends early)."""
    from PIL import Image

    h, w, _ = pictures[0].shape
    rows = -(-len(pictures) // columns)
    cols = min(columns, len(pictures))
    canvas = np.full((rows * h, cols * w, 3), 255, dtype=np.uint8)
    for k, picture in enumerate(pictures):
        r, c = divmod(k, columns)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = picture
    Image.fromarray(canvas).save(path, format="PNG")
