"""The demo's images section: silhouettes of the bundled scans, their Wasserstein
barycenter and the displacement interpolation between two of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import barycenter
from ..io import load_example, normalize, sample_surface
from ..viz.report import Report


def silhouette(name: str, size: int, points: int = 20_000) -> torch.Tensor:
    """The front view of a bundled scan as a size x size image of mass 1 (surface
    samples binned, then smoothed over one cell)."""
    vertices, faces = load_example(name)
    xy = normalize(sample_surface(vertices, faces, points, seed=0))[:, :2]
    extent = xy.max(0) - xy.min(0)
    xy = (xy - xy.min(0)) / extent.max() + (1 - extent / extent.max()) / 2  # centred
    xy = 0.1 + 0.8 * xy  # a margin of a tenth
    image, _, _ = np.histogram2d(-xy[:, 1], xy[:, 0], bins=size, range=[[-1, 0], [0, 1]])
    smooth = torch.from_numpy(image)[None, None].float()
    kernel = torch.tensor([0.25, 0.5, 0.25])
    smooth = torch.nn.functional.conv2d(smooth, kernel.view(1, 1, 3, 1), padding=(1, 0))
    smooth = torch.nn.functional.conv2d(smooth, kernel.view(1, 1, 1, 3), padding=(0, 1))
    out = smooth[0, 0].double()
    return out / out.sum()


def _shapes(size: int) -> torch.Tensor:
    axis = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    Y, X = torch.meshgrid(axis, axis, indexing="ij")
    ring = ((Y - 0.5) ** 2 + (X - 0.5) ** 2).sqrt()
    annulus = ((ring > 0.22) & (ring < 0.38)).double()
    square = (((Y - 0.5).abs() < 0.3) & ((X - 0.5).abs() < 0.3)).double()
    images = [silhouette("demosthenes", size), silhouette("nefertiti", size), annulus, square]
    return torch.stack([im / im.sum() for im in images])


def barycenter_section(
    report: Report, size: int, blur: float, png: Callable[[Any], bytes]
) -> dict[str, Any]:
    """Four images, their debiased barycenter, and an interpolation between two;
    ``png`` turns a matplotlib figure into PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = _shapes(size)
    start = time.perf_counter()
    centre = barycenter(images, blur=blur)
    frames = [images[0], barycenter(images[:2], blur=blur), images[1]]
    seconds = time.perf_counter() - start
    figure, axes = plt.subplots(2, 5, figsize=(10, 4.4))
    for ax, image, title in zip(
        axes[0], [*images, centre], ["Demosthenes", "Nefertiti", "annulus", "square",
                                     "barycenter"], strict=True
    ):  # fmt: skip
        ax.imshow(image.numpy(), cmap="magma")
        ax.set_title(title, fontsize=9)
    for ax, image, t in zip(axes[1, 1:4], frames, (0, 0.5, 1), strict=True):
        ax.imshow(image.numpy(), cmap="magma")
        ax.set_title(f"t = {t:g}", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    figure.tight_layout()
    report.heading("Images: a Wasserstein barycenter and a displacement interpolation")
    report.paragraph(
        f"Top: four {size} x {size} images (the silhouettes of both scans, an annulus, a "
        "square) and their debiased Wasserstein barycenter with equal weights. Bottom: "
        "the displacement interpolation from Demosthenes to Nefertiti at t = 1/2, their "
        f"barycenter with equal weights. Blur {blur:g} pixel, grid backend: "
        f"{seconds:.1f} s for both barycenters (brenier.barycenter)."
    )
    report.image("barycenters.png", png(figure), "Barycenter and interpolation")
    plt.close(figure)
    return {"size": size, "blur": blur, "time_s": seconds}
