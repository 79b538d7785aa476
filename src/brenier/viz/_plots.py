"""Pictures of one solve: the plan as segments, the map as arrows, the potentials."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from .._validation import PREFIX
from ..transport import potentials_at, sparse_plan, transport_map
from ._figures import (
    MAP_COLOR,
    check_dimension,
    label_axes,
    new_axes,
    new_figure,
    points_of,
    sample_rows,
    save_figure,
    scatter_measures,
    single_problem,
)

#: Legends of single-panel pictures go below the axes, where they hide no point.
OUTSIDE_LEGEND = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.12), "ncols": 3, "fontsize": 8}


def _finish(figure: Any, path: str | os.PathLike | None, dpi: int) -> Any:
    if path is not None:
        save_figure(figure, path, dpi=dpi)
    return figure


def plot_plan(
    result: object,
    *,
    max_segments: int = 3000,
    index: int = 0,
    path: str | os.PathLike | None = None,
    dpi: int = 110,
) -> Any:
    """The transport plan as segments x_i -- y_j, darker for more mass (2D and 3D).

    Draws the ``max_segments`` largest entries :math:`\\pi_{ij}` of the plan (from
    :func:`brenier.transport.sparse_plan`), with opacity :math:`\\pi_{ij} / \\max \\pi`.

    Args:
        result: an :class:`~brenier.results.OTResult` of 2D or 3D clouds.
        max_segments: the number of largest entries drawn.
        index: which problem of a batched result to draw.
        path: if given, the figure is also saved there (atomically).
        dpi: resolution of the saved figure.

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Shapes:
        x (N, 2|3), y (M, 2|3), or batched with ``index``.

    Example:
        >>> import torch, brenier
        >>> from brenier.viz import plot_plan
        >>> x = torch.randn(50, 2, dtype=torch.float64)
        >>> fig = plot_plan(brenier.solve(x, x + 2.0, blur=0.1))
        >>> fig.axes[0].get_title()
        'Transport plan (blur = 0.1): 50 -> 50 points'
    """
    res = single_problem(result, index)
    if not isinstance(max_segments, int) or max_segments < 1:
        raise ValueError(
            f"{PREFIX} `max_segments` must be a positive integer, got {max_segments!r}."
        )
    x, y, _, _ = points_of(res)
    dim = check_dimension(x, (2, 3), "plot_plan")
    P = sparse_plan(res, threshold=1e-6).matrix.to_sparse_coo().coalesce()
    rows, cols = P.indices().cpu().numpy()
    mass = P.values().detach().cpu().double().numpy()
    top = np.argsort(mass)[::-1][:max_segments]
    segments = np.stack([x[rows[top]], y[cols[top]]], axis=1)
    colours = np.zeros((len(top), 4))
    colours[:, 3] = np.clip(mass[top] / mass.max(), 0.03, 1.0) * 0.8

    figure = new_figure((6.4, 6.0))
    ax = new_axes(figure, dim)
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    if dim == 3:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        ax.add_collection3d(Line3DCollection(list(segments), colors=colours, linewidths=0.7))
    else:
        ax.add_collection(LineCollection(list(segments), colors=colours, linewidths=0.7))
    scatter_measures(ax, x, y)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", lw=1, label="plan $\\pi_{ij}$ (opacity ∝ mass)"))
    ax.legend(handles=handles, **OUTSIDE_LEGEND)
    ax.set_title(f"Transport plan (blur = {res.blur:g}): {len(x)} -> {len(y)} points")
    label_axes(ax, dim)
    return _finish(figure, path, dpi)


def _draw_arrows(ax: Any, start: np.ndarray, end: np.ndarray, dim: int, label: str) -> None:
    delta = end - start
    if dim == 3:
        ax.quiver(*start.T, *delta.T, color=MAP_COLOR, linewidth=0.6, arrow_length_ratio=0.2,
                  label=label)  # fmt: skip
        return
    ax.quiver(*start.T, *delta.T, angles="xy", scale_units="xy", scale=1.0, color=MAP_COLOR,
              width=0.003, headwidth=4, headlength=5, label=label, zorder=4)  # fmt: skip


def plot_map(
    result: object,
    *,
    points: torch.Tensor | None = None,
    max_arrows: int = 400,
    index: int = 0,
    path: str | os.PathLike | None = None,
    dpi: int = 110,
) -> Any:
    """The Brenier map as arrows z -> T(z) (2D and 3D).

    .. math::  T(z) = z - \\nabla F(z)

    from :func:`brenier.transport.transport_map` (debiased when the result is), drawn
    from the source points, or from ``points`` anywhere in space.

    Args:
        result: an :class:`~brenier.results.OTResult` of 2D or 3D clouds, ``p=2``.
        points: where to start the arrows (default: the source points x).
        max_arrows: at most this many arrows, evenly spread over the points.
        index: which problem of a batched result to draw.
        path: if given, the figure is also saved there (atomically).
        dpi: resolution of the saved figure.

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Shapes:
        x (N, 2|3), y (M, 2|3); points (K, D).

    Example:
        >>> import torch, brenier
        >>> from brenier.viz import plot_map
        >>> x = torch.randn(50, 2, dtype=torch.float64)
        >>> fig = plot_map(brenier.solve(x, x + 2.0, blur=0.1))
        >>> len(fig.axes[0].get_legend().get_texts())
        3
    """
    res = single_problem(result, index)
    x, y, _, _ = points_of(res)
    dim = check_dimension(x, (2, 3), "plot_map")
    z = res.measures.x[0] if points is None else points  # type: ignore[union-attr]
    with torch.no_grad():
        Tz = transport_map(res, z)
    keep = sample_rows(len(z), max_arrows)
    start = z.detach().cpu().double().numpy()[keep]
    end = Tz.cpu().double().numpy()[keep]
    figure = new_figure((6.4, 6.0))
    ax = new_axes(figure, dim)
    scatter_measures(ax, x, y)
    _draw_arrows(ax, start, end, dim, "map $z \\mapsto T(z) = z - \\nabla F(z)$")
    ax.legend(**OUTSIDE_LEGEND)
    ax.set_title(f"Brenier map (blur = {res.blur:g})")
    label_axes(ax, dim)
    return _finish(figure, path, dpi)


def grid_around(points: np.ndarray, resolution: int, margin: float = 0.15) -> tuple:
    """A (resolution x resolution) grid over the bounding box of 2D points, with a margin."""
    lo, hi = points.min(0), points.max(0)
    pad = margin * (hi - lo).max()
    u = np.linspace(lo[0] - pad, hi[0] + pad, resolution)
    v = np.linspace(lo[1] - pad, hi[1] + pad, resolution)
    U, V = np.meshgrid(u, v)
    return U, V, np.stack([U.ravel(), V.ravel()], axis=1)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def potential_panels(figure: Any, res: Any, resolution: int, show_map: bool, title: str) -> None:
    """Two panels: F on the source side with the map, G on the target side."""
    x, y, a, b = points_of(res)
    U, V, grid = grid_around(np.concatenate([x, y]), resolution)
    ref = res.measures.x
    with torch.no_grad():
        F_grid, G_grid = potentials_at(
            res, torch.as_tensor(grid, dtype=ref.dtype, device=ref.device)
        )
        F_x, _ = potentials_at(res, ref[0])
        _, G_y = potentials_at(res, res.measures.y[0])
    # potentials are defined up to a constant: show F - <a, F> and G - <b, G>
    F = _numpy(F_grid) - float((_numpy(F_x) * a).sum() / a.sum())
    G = _numpy(G_grid) - float((_numpy(G_y) * b).sum() / b.sum())
    debiased = res.f_aa is not None
    names = ("F = f_{ab} - f_{aa}", "G = g_{ab} - g_{bb}") if debiased else ("f", "g")
    panels = ((F, names[0], "source side"), (G, names[1], "target side"))
    for k, (values, name, side) in enumerate(panels):
        ax = new_axes(figure, 2, 121 + k)
        filled = ax.contourf(U, V, values.reshape(U.shape), levels=20, cmap="viridis")
        ax.contour(U, V, values.reshape(U.shape), levels=10, colors="white", linewidths=0.4,
                   alpha=0.6)  # fmt: skip
        bar = figure.colorbar(filled, ax=ax, shrink=0.8)
        bar.set_label(f"${name}$")
        scatter_measures(ax, x, y, size=8)
        if k == 0 and show_map:
            keep = sample_rows(len(x), 80)
            with torch.no_grad():
                Tx = transport_map(res, ref[0]).cpu().double().numpy()
            _draw_arrows(ax, x[keep], Tx[keep], 2, "map $T(x_i) = x_i - \\nabla F(x_i)$")
        ax.set_title(f"${name}$ ({side})", fontsize=10)
        ax.legend(loc="lower left", fontsize=7, framealpha=0.85)
        label_axes(ax, 2)
    figure.suptitle(title)


def plot_potentials(
    result: object,
    *,
    resolution: int = 120,
    show_map: bool = True,
    index: int = 0,
    path: str | os.PathLike | None = None,
    dpi: int = 110,
) -> Any:
    """The dual potentials F and G as filled contours over the plane, with the map (2D).

    Both potentials are evaluated on a grid by the softmin formula of
    :func:`brenier.transport.potentials_at`,

    .. math::

        F(z) = -\\varepsilon \\log \\sum_j b_j e^{(g_j - |z - y_j|^2/2)/\\varepsilon}
               \\;[ - f_{aa}(z) \\text{ when debiased}],

    and shifted by their mean on their measure (potentials are defined up to a
    constant). The map :math:`T = \\mathrm{Id} - \\nabla F` is overlaid on F.

    Args:
        result: an :class:`~brenier.results.OTResult` of 2D clouds.
        resolution: grid points per side.
        show_map: overlay the map arrows on F (needs ``p=2``).
        index: which problem of a batched result to draw.
        path: if given, the figure is also saved there (atomically).
        dpi: resolution of the saved figure.

    Returns:
        The :class:`matplotlib.figure.Figure` (two panels with colour bars).

    Shapes:
        x (N, 2), y (M, 2).

    Example:
        >>> import torch, brenier
        >>> from brenier.viz import plot_potentials
        >>> x = torch.randn(40, 2, dtype=torch.float64)
        >>> fig = plot_potentials(brenier.solve(x, x + 2.0, blur=0.2), resolution=30)
        >>> len(fig.axes)  # two panels, two colour bars
        4
    """
    res = single_problem(result, index)
    x, _, _, _ = points_of(res)
    check_dimension(x, (2,), "plot_potentials")
    if not isinstance(resolution, int) or not 4 <= resolution <= 2000:
        raise ValueError(
            f"{PREFIX} `resolution` must be an integer in [4, 2000], got {resolution!r}."
        )
    figure = new_figure((11.0, 4.8))
    title = f"Dual potentials and Brenier map (blur = {res.blur:g}, {res.iterations} iterations)"
    can_map = res.p == 2 and res.cost is not None and res.cost.function is None
    potential_panels(figure, res, resolution, show_map and can_map, title)
    return _finish(figure, path, dpi)
