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
