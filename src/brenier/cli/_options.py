"""Options shared by the commands, as typer annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars and no report on stdout.")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
Json = Annotated[bool, typer.Option("--json", help="Print the results as one JSON object.")]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing outputs.")]
Plot = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Also draw a picture there (.png, .svg or .pdf).",
        dir_okay=False,
        show_default=False,
    ),
]
Samples = Annotated[
    int, typer.Option("--samples", "-n", min=1, help="Points sampled on each mesh surface.")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the surface sampling.")]
Blur = Annotated[
    float, typer.Option("--blur", help="Entropic blur (eps = blur**p), in the points' units.")
]
ShapeBlur = Annotated[
    float | None,
    typer.Option(
        "--blur",
        show_default=False,
        help="Entropic blur in the points' units (eps = blur**p); "
        "default: 1% of the shapes' extent (the largest side of their bounding box).",
    ),
]
Power = Annotated[int, typer.Option("--p", help="Cost |x-y|^2/2 (p=2) or |x-y| (p=1).")]
Reach = Annotated[
    float | None,
    typer.Option(
        "--reach",
        show_default=False,
        help="Unbalanced OT: the reach (rho = reach**p); balanced when omitted.",
    ),
]
Backend = Annotated[
    str, typer.Option("--backend", help="Kernel backend: auto, dense, online, multiscale, ...")
]
Tol = Annotated[float, typer.Option("--tol", help="Stopping tolerance on the marginal error.")]
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
