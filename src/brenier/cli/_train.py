"""``brenier train-registration --out model.safetensors``: trains the learned step.

The network of :mod:`brenier.applications.registration.learned` is trained on
synthetic pairs generated on the fly (vessel trees and the bundled scans under large
deformations) for ``--minutes``, with a fixed seeded validation set, a checkpoint
(``OUT.ckpt``, safetensors) every minute and ``--resume`` from it; the best model by
validation TRE is written to ``OUT`` (safetensors with its metadata record).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ._compute import computing
from ._errors import InputError
from ._options import Debug, Force, Json, Quiet
from ._output import check_output, print_json
from ._progress import bar


def train_registration(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The model file (.safetensors).", dir_okay=False),
    ],
    minutes: Annotated[
        float, typer.Option("--minutes", help="Wall-clock training budget, minutes.")
    ] = 25.0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUT.ckpt (the time spent counts).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the network and the pairs.")] = 0,
    validation: Annotated[
        int, typer.Option("--validation", min=1, help="Validation pairs (seeded, fixed).")
    ] = 8,
    json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """Trains the registration network of the "learned" step on synthetic pairs."""
    from ..applications.registration import learned

    if not minutes > 0:
        raise InputError(f"--minutes must be positive, got {minutes}.")
    if not resume:
        check_output(out, force=force, suffixes=(".safetensors",))
    elif not learned.checkpoint_path(out).is_file():
        raise InputError(f"--resume: no checkpoint {str(learned.checkpoint_path(out))!r}.")
    learned.prefer_workqueue()
    config = learned.TrainConfig(minutes=minutes, seed=seed, validation=validation)
    start = time.perf_counter()
    with bar(quiet, "training", total=60.0 * minutes) as progress, computing():

        def show(state: dict[str, float]) -> None:
            progress.update(
                f"step {int(state['step'])}, loss {state['loss']:.3f}, "
                f"validation TRE {state['validation_tre']:.2f} mm",
                completed=min(state["elapsed"], state["budget"]),
            )

        result = learned.train(out, config, resume=resume, progress=show)
    record = {"output": str(out), "checkpoint": str(learned.checkpoint_path(out)),
              **learned.describe(result), "time_s": time.perf_counter() - start}  # fmt: skip
    if json:
        print_json(record)
    elif not quiet:
        print(
            f"model written to {out}: validation TRE {result.validation_tre:.2f} mm "
            f"(OT feature alone {result.ot_tre:.2f}, before {result.initial_tre:.2f}) "
            f"after {result.steps} steps, {result.seconds / 60:.1f} min"
        )
