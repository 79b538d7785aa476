"""
Potentials, plan and Brenier map between two 2D shapes, and their history
=========================================================================

A disk of points is transported onto the front view of the bundled Demosthenes scan.
The script solves the entropic problem once, recording the potentials at every
Sinkhorn iteration, and writes to ``docs/images/``:

- ``maps_plan.png``: the plan as segments;
- ``maps_map.png``: the Brenier map T = Id - grad F as arrows;
- ``maps_potentials.png``: the potentials F and G as filled contours, with the map;
- ``maps_history.png``: the potentials at a few iterations of the eps-scaling;
- ``maps_history.gif``: the same as an animation.

Run it from the repository root::

    python examples/plot_potentials_and_maps.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import brenier
from brenier.io import load_example, normalize, sample_surface
from brenier.viz import (
    PotentialHistory,
    animate_history,
    plot_history,
    plot_map,
    plot_plan,
    plot_potentials,
)


def two_shapes(n_source: int, n_target: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A uniform disk, and the front view of Demosthenes' bust, overlapping it."""
    rng = np.random.default_rng(seed)
    radius, angle = 0.3 * np.sqrt(rng.random(n_source)), 2 * np.pi * rng.random(n_source)
    disk = np.stack([radius * np.cos(angle) - 0.1, radius * np.sin(angle)], axis=1)
    vertices, faces = load_example("demosthenes")
    bust = normalize(sample_surface(vertices, faces, n_target, seed=seed))[:, :2] + [0.1, 0.0]
    return torch.as_tensor(disk), torch.as_tensor(bust)


def main(out: Path, blur: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x, y = two_shapes(400, 600)
    history = PotentialHistory()
    start = time.perf_counter()
    result = brenier.solve(x, y, blur=blur, scaling=0.7, callback=history)
    print(f"{result.summary()} in {time.perf_counter() - start:.2f} s")

    written = [
        plot_plan(result, max_segments=2500, path=out / "maps_plan.png", dpi=80),
        plot_map(result, max_arrows=120, path=out / "maps_map.png", dpi=80),
        plot_potentials(result, resolution=100, path=out / "maps_potentials.png", dpi=80),
    ]
    frames = plot_history(history, result, frames=4, resolution=70,
                          path=out / "maps_history.png", dpi=72)  # fmt: skip
    animate_history(history, result, out / "maps_history.gif", frames=16, fps=2,
                    resolution=60, dpi=80)  # fmt: skip
    print(f"wrote {len(written) + 2} files ({len(frames)} history frames) to {out}/")
    for path in sorted(out.glob("maps_*")):
        print(f"  {path.name:24s} {path.stat().st_size / 1024:7.1f} KiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Potentials, plan and Brenier map in 2D.")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--blur", type=float, default=0.01)
    args = parser.parse_args()
    main(args.out, args.blur)
