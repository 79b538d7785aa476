"""Interactive plotly views: a Brenier map between two clouds, potentials over iterations."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._figures import MAP_COLOR, SOURCE_COLOR, TARGET_COLOR, sample_rows
from ._page import _require_plotly


def _scatter(go: Any, points: np.ndarray, **style: Any) -> Any:
    if points.shape[1] == 3:
        return go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="markers", **style)
    return go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", **style)


def _segments(go: Any, start: np.ndarray, end: np.ndarray, **style: Any) -> Any:
    """All segments as one trace, separated by gaps (NaN rows)."""
    gap = np.full_like(start, np.nan)
    path = np.stack([start, end, gap], axis=1).reshape(-1, start.shape[1])
    if start.shape[1] == 3:
        return go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], mode="lines", **style)
    return go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", **style)


def map_scene(
    x: np.ndarray,
    y: np.ndarray,
    mapped: np.ndarray,
    potential: np.ndarray | None = None,
    *,
    max_arrows: int = 300,
    title: str = "",
) -> Any:
    """Source and target clouds (2D or 3D) and segments x_i -> T(x_i) of a transport map.

    Args:
        x: source points (N, D), coloured by ``potential`` when given.
        y: target points (M, D).
        mapped: T(x_i), shape (N, D).
        potential: values on x (N,), e.g. the potential F.
        max_arrows: at most this many segments, evenly spread over the points.
        title: the figure's title.

    Returns:
        A :class:`plotly.graph_objects.Figure`.

    Example:
        >>> import numpy as np
        >>> from brenier.viz.report import map_scene
        >>> x = np.random.default_rng(0).normal(size=(50, 3))
        >>> len(map_scene(x, x + 1, x + 1, potential=x[:, 0]).data)
        3
    """
    go = _require_plotly().graph_objects
    rows = sample_rows(len(x), max_arrows)
    source_style: dict[str, Any] = {"color": SOURCE_COLOR}
    if potential is not None:
        source_style = {
            "color": potential,
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": "F", "x": 1.0},
        }
    figure = go.Figure(
        [
            _scatter(go, x, name="source x_i", marker={"size": 2.5, **source_style}),
            _scatter(
                go, y, name="target y_j", marker={"size": 2.5, "color": TARGET_COLOR}, opacity=0.6
            ),
            _segments(
                go,
                x[rows],
                mapped[rows],
                name="x -> T(x)",
                line={"color": MAP_COLOR, "width": 2},
                opacity=0.7,
            ),
        ]
    )
    figure.update_layout(
        title=title,
        legend={"orientation": "h", "y": -0.05},
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    if x.shape[1] == 3:
        figure.update_layout(scene={"aspectmode": "data"})
    else:
        figure.update_yaxes(scaleanchor="x", scaleratio=1)
    return figure


def potential_frames_scene(
    x: np.ndarray,
    y: np.ndarray,
    frames: list[tuple[str, np.ndarray, np.ndarray]],
    *,
    title: str = "",
) -> Any:
    """2D clouds coloured by the potentials F (on x) and G (on y), one frame per snapshot,
    with a slider and a play button.

    Args:
        x: source points (N, 2).
        y: target points (M, 2).
        frames: (label, F (N,), G (M,)) per snapshot, e.g. per Sinkhorn iteration.
        title: the figure's title.

    Returns:
        A :class:`plotly.graph_objects.Figure`.

    Example:
        >>> import numpy as np
        >>> from brenier.viz.report import potential_frames_scene
        >>> x = np.random.default_rng(0).normal(size=(20, 2))
        >>> figure = potential_frames_scene(x, x + 1, [("it 1", x[:, 0], x[:, 1])] * 2)
        >>> len(figure.frames)
        2
    """
    go = _require_plotly().graph_objects

    def traces(F: np.ndarray, G: np.ndarray) -> list[Any]:
        marker = {"size": 6, "colorscale": "Viridis", "line": {"width": 0}}
        return [
            go.Scatter(
                x=x[:, 0],
                y=x[:, 1],
                mode="markers",
                name="F on source x_i",
                marker={
                    **marker,
                    "color": F,
                    "symbol": "circle",
                    "showscale": True,
                    "colorbar": {"title": "F", "x": 1.02},
                },
            ),
            go.Scatter(
                x=y[:, 0],
                y=y[:, 1],
                mode="markers",
                name="G on target y_j",
                marker={
                    **marker,
                    "color": G,
                    "symbol": "diamond",
                    "colorscale": "Magma",
                    "showscale": True,
                    "colorbar": {"title": "G", "x": 1.14},
                },
            ),
        ]

    _, F0, G0 = frames[0]
    figure = go.Figure(
        traces(F0, G0), frames=[go.Frame(data=traces(F, G), name=label) for label, F, G in frames]
    )
    steps = [
        {
            "label": label,
            "method": "animate",
            "args": [[label], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}],
        }
        for label, _, _ in frames
    ]
    play = {
        "label": "play",
        "method": "animate",
        "args": [None, {"frame": {"duration": 400, "redraw": True}, "fromcurrent": True}],
    }
    figure.update_layout(
        title=title,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        legend={"orientation": "h", "y": 1.02},
        sliders=[{"steps": steps, "currentvalue": {"prefix": "snapshot: "}, "pad": {"t": 40}}],
        updatemenus=[
            {
                "type": "buttons",
                "buttons": [play],
                "x": 0,
                "y": -0.05,
                "xanchor": "right",
                "yanchor": "top",
            }
        ],
    )
    figure.update_yaxes(scaleanchor="x", scaleratio=1)
    return figure
