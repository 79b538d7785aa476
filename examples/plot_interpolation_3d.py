"""
Displacement interpolation between two volumes: Demosthenes to Nefertiti
========================================================================

The two bundled scans are voxelised into 40^3 volumes (points sampled on each
surface, splatted into the voxels, smoothed by a Gaussian of one voxel), and the
density at times t = 0, 1/4, 1/2, 3/4, 1 of the Wasserstein geodesic between them is
computed by :func:`brenier.interpolate`: the debiased barycenter of the two volumes
with weights (1 - t, t) (:func:`brenier.barycenter`, separable grid kernels, a blur of
one voxel, a tolerance of 1e-2 on the marginals: enough for pictures). Writes

- ``interpolation_3d_projections.png``: for each frame, the maximum-intensity projections
  along the three axes;
- ``interpolation_3d_isosurfaces.png``: an isosurface of each frame
  (``skimage.measure.marching_cubes``, drawn with matplotlib's 3D axes).

Run it from the repository root::

    python examples/plot_interpolation_3d.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter

import brenier
from brenier.io import atomic_write, load_example, normalize, sample_surface

SIDE = 40
TIMES = (0.0, 0.25, 0.5, 0.75, 1.0)


def voxelise(name: str, side: int, n_points: int = 60_000) -> np.ndarray:
    """A scan as a (side, side, side) density of mass 1, axes (down, right, depth)."""
    vertices, faces = load_example(name)
    points = normalize(sample_surface(vertices, faces, n_points, seed=0))  # largest side 1
    points -= (points.max(0) + points.min(0)) / 2  # the bounding box centred at 0
    x, y, z = points.T  # the scans face +z, with y up
    # cells of 1 / (side - 8): a margin of 4 voxels around the shape for the blur
    index = np.round(np.stack([-y, x, z], 1) * (side - 8) + (side - 1) / 2).astype(int)
    volume = np.zeros((side, side, side))
    np.add.at(volume, tuple(np.clip(index, 0, side - 1).T), 1.0)
    volume = gaussian_filter(volume, sigma=1.0)
    return volume / volume.sum()


def draw_projections(frames: np.ndarray, times: tuple[float, ...], path: Path) -> None:
    fig = Figure(figsize=(2.0 * len(times), 6.0))
    axes = fig.subplots(3, len(times))
    names = ("front (max over depth)", "side (max over width)", "top (max over height)")
    for j, (t, volume) in enumerate(zip(times, frames, strict=True)):
        for i, axis in enumerate((2, 1, 0)):
            ax = axes[i, j]
            ax.imshow(volume.max(axis=axis), cmap="magma", vmin=0)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {t:g}")
            if j == 0:
                ax.set_ylabel(names[i], fontsize=7)
    fig.suptitle("Wasserstein geodesic between two volumes: maximum-intensity projections")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80))


def draw_isosurfaces(frames: np.ndarray, times: tuple[float, ...], path: Path) -> None:
    from matplotlib.colors import LightSource
    from skimage.measure import marching_cubes

    surfaces = []
    for volume in frames:
        level = 0.25 * volume.max()  # a fixed fraction of the peak: comparable contours
        verts, faces, _, _ = marching_cubes(volume, level)
        surfaces.append((verts, faces))
    every = np.concatenate([verts for verts, _ in surfaces])
    low, high = every.min(0), every.max(0)
    half = (high - low).max() / 2
    centre = (low + high) / 2
    light = LightSource(azdeg=300, altdeg=35)
    fig = Figure(figsize=(2.4 * len(times), 3.4))
    for j, (t, (verts, faces)) in enumerate(zip(times, surfaces, strict=True)):
        ax = fig.add_subplot(1, len(times), j + 1, projection="3d")
        down, right, depth = (verts - centre).T
        ax.plot_trisurf(right, depth, -down, triangles=faces, color="tab:orange",
                        linewidth=0, antialiased=False, shade=True, lightsource=light)  # fmt: skip
        ax.view_init(elev=12, azim=-55)
        for axis in ("x", "y", "z"):
            getattr(ax, f"set_{axis}lim")(-half, half)
        ax.set_box_aspect((1, 1, 1), zoom=1.3)
        ax.set_axis_off()
        ax.set_title(f"t = {t:g}")
    fig.suptitle("Isosurfaces of the interpolated volumes (marching cubes)")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.85, wspace=0)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80))


def main(out: Path, side: int, blur: float, tol: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    source = torch.tensor(voxelise("demosthenes", side))
    target = torch.tensor(voxelise("nefertiti", side))
    start = time.perf_counter()
    frames = brenier.interpolate(source, target, list(TIMES), blur=blur, spacing=1.0, tol=tol)
    print(f"{len(TIMES)} frames of {side}^3 in {time.perf_counter() - start:.1f} s")
    frames_np = frames.numpy()
    draw_projections(frames_np, TIMES, out / "interpolation_3d_projections.png")
    draw_isosurfaces(frames_np, TIMES, out / "interpolation_3d_isosurfaces.png")
    for path in sorted(out.glob("interpolation_3d_*.png")):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A 3D displacement interpolation.")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--side", type=int, default=SIDE)
    parser.add_argument("--blur", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-2)
    args = parser.parse_args()
    main(args.out, args.side, args.blur, args.tol)
