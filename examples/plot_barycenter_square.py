"""
Wasserstein barycenters of four silhouettes: the interpolation square
=====================================================================

Four shapes sit at the corners of a square: scikit-image's horse (bundled with the
package, no download) and three shapes drawn with ``skimage.draw``: an annulus, a
star and two disks. Every cell of a 5 x 5 grid shows the debiased Wasserstein
barycenter of the four, with the bilinear weights of its position,

.. math::

    w = \\big((1-u)(1-v),\\ (1-u)\\,v,\\ u\\,(1-v),\\ u\\,v\\big),
    \\qquad u, v \\in \\{0, \\tfrac14, \\tfrac12, \\tfrac34, 1\\},

computed by :func:`brenier.barycenter` on the 64 x 64 grid at a blur of one pixel
and a tolerance of 1e-2 on the marginals
(the debiased barycenter stays sharp; the classical entropic one is blurred by about
the blur). The corners are the inputs themselves. Writes
``barycenter_square.png``.

Run it from the repository root::

    python examples/plot_barycenter_square.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

import brenier
from brenier.io import atomic_write

SIDE = 64


def silhouettes(side: int = SIDE) -> list[np.ndarray]:
    """The horse, an annulus, a five-pointed star and two disks, as side x side masks."""
    from skimage import data, draw, transform

    horse = ~data.horse()  # True on the horse (the image is a black shape on white)
    rows, cols = np.nonzero(horse)
    crop = horse[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(float)
    scale = 0.8 * side / max(crop.shape)
    small = transform.resize(crop, [round(n * scale) for n in crop.shape], anti_aliasing=True)
    horse_img = np.zeros((side, side))
    r0, c0 = ((side - n) // 2 for n in small.shape)
    horse_img[r0 : r0 + small.shape[0], c0 : c0 + small.shape[1]] = small

    centre = side / 2 - 0.5
    annulus = np.zeros((side, side))
    annulus[draw.disk((centre, centre), 0.4 * side, shape=annulus.shape)] = 1.0
    annulus[draw.disk((centre, centre), 0.22 * side, shape=annulus.shape)] = 0.0

    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 0.45, 0.19) * side
    star = np.zeros((side, side))
    star[draw.polygon(centre - radii * np.sin(angles), centre + radii * np.cos(angles),
                      shape=star.shape)] = 1.0  # fmt: skip

    disks = np.zeros((side, side))
    for r, c in ((0.3, 0.3), (0.68, 0.68)):
        disks[draw.disk((r * side, c * side), 0.17 * side, shape=disks.shape)] = 1.0
    return [horse_img, annulus, star, disks]


def square(images: torch.Tensor, n: int, blur: float, tol: float) -> torch.Tensor:
    """The n x n barycenters with bilinear weights of the corners (TL, TR, BL, BR)."""
    out = torch.empty(n, n, *images.shape[1:], dtype=images.dtype)
    for i, u in enumerate(np.linspace(0, 1, n)):
        for j, v in enumerate(np.linspace(0, 1, n)):
            w = torch.tensor([(1 - u) * (1 - v), (1 - u) * v, u * (1 - v), u * v])
            used = w > 0  # inputs of weight zero only cost time
            out[i, j] = brenier.barycenter(images[used], w[used], blur=blur, tol=tol)
    return out


def main(out: Path, side: int, blur: float, tol: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    images = torch.tensor(np.stack(silhouettes(side)))
    images = images / images.sum((1, 2), keepdim=True)
    start = time.perf_counter()
    grid = square(images, 5, blur, tol)
    print(f"25 barycenters of {side} x {side} images in {time.perf_counter() - start:.1f} s")

    fig = Figure(figsize=(7.5, 7.5))
    axes = fig.subplots(5, 5)
    for i in range(5):
        for j in range(5):
            ax = axes[i, j]
            q = grid[i, j].numpy()
            ax.imshow(q, cmap="Greys", vmin=0, vmax=np.quantile(q[q > 0], 0.98))
            ax.set_xticks([]), ax.set_yticks([])
            corner = (i in (0, 4)) and (j in (0, 4))
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:red" if corner else "0.8")
    fig.suptitle(f"Debiased Wasserstein barycenters, bilinear weights (blur = {blur:g} px)")
    fig.tight_layout()
    path = out / "barycenter_square.png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The 4-shape Wasserstein barycenter square.")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--side", type=int, default=SIDE)
    parser.add_argument("--blur", type=float, default=1.0)
    # a picture needs no more: 1e-2 is half the iterations of the default 1e-3
    parser.add_argument("--tol", type=float, default=1e-2)
    args = parser.parse_args()
    main(args.out, args.side, args.blur, args.tol)
