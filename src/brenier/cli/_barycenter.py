"""``brenier barycenter IMG... -o out.png``: the Wasserstein barycenter of images.

Images are read as densities: ``.npy`` arrays (2D images or 3D volumes, non-negative)
or pictures (``.png``, ``.jpg``: the mean of the colour channels, bright = mass). The
barycenter (:func:`brenier.barycenter`, debiased by default) is written as ``.npy``
(the density, mass 1) or ``.png`` (an image, scaled to its maximum).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from .. import barycenter as grid_barycenter
from ._compute import computing
from ._errors import InputError
from ._options import Debug, Force, Json, Quiet
from ._output import check_output, print_json, write_with

PICTURES = (".png", ".jpg", ".jpeg")


def read_density(path: Path) -> np.ndarray:
    """An image or a volume as a float64 array of non-negative masses; a clear error
    naming the file otherwise."""
    if not path.is_file():
        raise InputError(f"{str(path)!r} does not exist or is not a file.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix in PICTURES:
            import matplotlib.image

            array = matplotlib.image.imread(path)
            if array.ndim == 3:  # colour: the mean of the channels, without alpha
                array = array[..., :3].mean(-1)
        else:
            raise InputError(
                f"{str(path)!r}: unknown image format {suffix!r}; use .npy, .png or .jpg."
            )
    except InputError:
        raise
    except Exception as error:  # unreadable: any reader error becomes one line
        raise InputError(f"cannot read {str(path)!r}: {error}") from error
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise InputError(
            f"{str(path)!r} holds {array.dtype} values; a density needs real numbers "
            "(bool, int or float)."
        )
    array = array.astype(np.float64)
    if array.ndim not in (2, 3) or min(array.shape) < 1:
        raise InputError(f"{str(path)!r} has shape {array.shape}; expected an image or a volume.")
    if not np.isfinite(array).all() or (array < 0).any() or array.sum() <= 0:
        raise InputError(
            f"{str(path)!r} is not a density: it needs finite, non-negative values with a "
            "positive sum."
        )
    return array


def barycenter(
    files: Annotated[
        list[Path], typer.Argument(help="Two or more images (.npy, .png, .jpg) of one shape.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The barycenter: .npy (density) or .png.", dir_okay=False
        ),
    ],
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Barycentric weights, comma-separated (default: equal)."),
    ] = None,
    blur: Annotated[float, typer.Option("--blur", help="Blur, in pixels (times --spacing).")] = 1.5,
    spacing: Annotated[float, typer.Option("--spacing", help="The side of a pixel.")] = 1.0,
    entropic: Annotated[
        bool, typer.Option("--entropic", help="The entropic (blurred) barycenter, not debiased.")
    ] = False,
    json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """The Wasserstein barycenter of images or volumes on one grid."""
    check_output(output, force=force, suffixes=(".npy", ".png"))
    if len(files) < 2:
        raise InputError("give at least two images.")
    arrays = [read_density(path) for path in files]
    if any(a.shape != arrays[0].shape for a in arrays):
        shapes = ", ".join(f"{p.name} {a.shape}" for p, a in zip(files, arrays, strict=True))
        raise InputError(f"the images must have one shape; got {shapes}.")
    if output.suffix.lower() == ".png" and arrays[0].ndim != 2:
        raise InputError("a volume's barycenter is written as .npy, not .png.")
    w = None
    if weights is not None:
        try:
            w = [float(v) for v in weights.split(",")]
        except ValueError as error:
            raise InputError(f"--weights must be numbers separated by commas: {error}") from error
    start = time.perf_counter()
    with computing():
        q = grid_barycenter(
            torch.from_numpy(np.stack(arrays)), w, blur=blur, spacing=spacing, debias=not entropic
        ).numpy()
    seconds = time.perf_counter() - start
    if output.suffix.lower() == ".npy":
        write_with(output, lambda tmp: np.save(tmp, q))
    else:
        import matplotlib.image

        write_with(output, lambda tmp: matplotlib.image.imsave(tmp, q, cmap="gray", format="png"))
    record = {"output": str(output), "inputs": len(files), "shape": list(q.shape),
              "blur": blur, "debiased": not entropic, "time_s": seconds}  # fmt: skip
    if json:
        print_json(record)
    elif not quiet:
        print(f"barycenter of {len(files)} images {q.shape} written to {output} ({seconds:.1f} s)")
