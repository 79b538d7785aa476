"""Pictures for ``--plot``: brenier.viz for Sinkhorn results, a matching drawn here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..results import OTResult
from ..viz import plot_map, plot_plan, save_figure
from ..viz._figures import new_axes, sample_rows, scatter_measures
from ._output import write_with


def plot_result(result: OTResult, path: Path, kind: str = "map") -> Path:
    """The Brenier map (arrows) or the plan (segments) of a Sinkhorn result."""
    draw = plot_plan if kind == "plan" else plot_map
    return write_with(path, lambda tmp: save_figure(draw(result), tmp, dpi=110))


def plot_matching(x: np.ndarray, y: np.ndarray, permutation: np.ndarray, path: Path) -> Path:
    """Segments x_i -- y_sigma(i) for at most 600 evenly spread source points."""
    from ..viz._figures import new_figure

    figure = new_figure((6.0, 5.0))
    dim = x.shape[1]
    ax = new_axes(figure, dim)
    scatter_measures(ax, x, y, size=6.0)
    rows = sample_rows(len(x), 600)
    for i in rows:
        segment = np.stack([x[i], y[permutation[i]]])
        ax.plot(*segment.T, color="#222222", linewidth=0.5, alpha=0.6)
    ax.set_title(f"optimal matching ({len(rows)} of {len(x)} pairs drawn)")
    ax.legend(loc="upper right", fontsize=8)
    return write_with(path, lambda tmp: save_figure(figure, tmp, dpi=110))


def registration_figure(
    before: np.ndarray,
    after: np.ndarray,
    target: np.ndarray,
    errors: tuple[np.ndarray, np.ndarray],
    label: str,
) -> object:
    """Two 3D views, before and after: the target in light blue, the source points
    coloured by their error, each panel on its own colour scale (the error shrinks by
    an order of magnitude); at most 5,000 points of each drawn. The views show the
    second axis up (scans face +z with y up)."""
    from ..viz._figures import new_figure

    figure = new_figure((12.0, 5.6))
    every = np.concatenate([before, after, target])
    low, high = every.min(0), every.max(0)
    centre, half = (low + high) / 2, (high - low).max() / 2
    rows_t = sample_rows(len(target), 5000)
    for k, (points, err, title) in enumerate(
        ((before, errors[0], "before"), (after, errors[1], "after"))
    ):
        ax = figure.add_subplot(1, 2, k + 1, projection="3d")
        t = target[rows_t]
        ax.scatter(t[:, 0], t[:, 2], t[:, 1], s=0.8, c="tab:blue", alpha=0.25, linewidths=0)
        rows = sample_rows(len(points), 5000)
        p = points[rows]
        top = float(np.percentile(err, 99)) or 1.0
        scatter = ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=2.0, c=err[rows], cmap="inferno",
                             vmin=0, vmax=top, linewidths=0)  # fmt: skip
        for axis, index in (("x", 0), ("y", 2), ("z", 1)):
            getattr(ax, f"set_{axis}lim")(centre[index] - half, centre[index] + half)
        ax.set_box_aspect((1, 1, 1), zoom=1.25)
        ax.set_title(f"{title}: mean {err.mean():.3g}, median {np.median(err):.3g}", fontsize=11)
        ax.set_axis_off()
        ax.view_init(elev=12, azim=-70)
        figure.colorbar(scatter, ax=ax, shrink=0.6, label=label)
    return figure


def plot_registration(
    before: np.ndarray, after: np.ndarray, target: np.ndarray, path: Path
) -> Path:
    """The source before and after registration, coloured by the distance of each point
    to the nearest target point (no ground truth needed)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(target)
    errors = (tree.query(before)[0], tree.query(after)[0])
    figure = registration_figure(
        before, after, target, errors, "distance to the nearest target point"
    )
    return write_with(path, lambda tmp: save_figure(figure, tmp, dpi=110))
