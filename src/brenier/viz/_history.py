"""The potentials over the Sinkhorn iterations: a recorder, a grid of frames, a GIF."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from .._validation import PREFIX
from ..results import OTResult
from ._figures import atomic_write, check_dimension, new_figure, points_of, single_problem
from ._plots import potential_panels


@dataclass(frozen=True)
class Snapshot:
    """The potentials after one Sinkhorn iteration (batched, detached, on CPU)."""

    iteration: int
    eps: float
    f: Tensor
    g: Tensor
    f_aa: Tensor | None
    g_bb: Tensor | None


def _copy(t: Tensor) -> Tensor:
    return t.detach().cpu().clone()


def _copy_optional(t: Tensor | None) -> Tensor | None:
    return None if t is None else _copy(t)


@dataclass
class PotentialHistory:
    """A ``callback`` for :func:`brenier.solve` that records the potentials per iteration.

    Args:
        every: keep one iteration out of ``every`` (the first one is always kept).
        max_snapshots: stop recording after this many (memory: 2 (N + M) numbers each).

    Example:
        >>> import torch, brenier
        >>> from brenier.viz import PotentialHistory
        >>> x = torch.randn(30, 2, dtype=torch.float64)
        >>> history = PotentialHistory()
        >>> res = brenier.solve(x, x + 1, blur=0.1, callback=history)
        >>> len(history) == res.iterations
        True
    """

    every: int = 1
    max_snapshots: int = 10_000
    snapshots: list[Snapshot] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("every", "max_snapshots"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{PREFIX} `{name}` must be a positive integer, got {value!r}.")

    def __call__(self, state: Any) -> None:
        if len(self.snapshots) >= self.max_snapshots or (state.iteration - 1) % self.every:
            return
        self.snapshots.append(
            Snapshot(int(state.iteration), float(state.eps), _copy(state.f), _copy(state.g),
                     _copy_optional(state.f_aa), _copy_optional(state.g_bb))
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.snapshots)

    def as_result(self, result: OTResult, k: int) -> OTResult:
        """The result with the potentials of the k-th snapshot (to draw it)."""
        s = self.snapshots[k]
        m = result.measures
        assert m is not None  # callers pass results checked by single_problem

        def to(t: Tensor) -> Tensor:
            return (t if m.batched else t[0]).to(device=m.x.device, dtype=m.x.dtype)

        return replace(
            result, f=to(s.f), g=to(s.g),
            f_aa=None if s.f_aa is None else to(s.f_aa),
            g_bb=None if s.g_bb is None else to(s.g_bb),
            eps=s.eps, blur=s.eps ** (1 / result.p), iterations=s.iteration,
        )  # fmt: skip


def pick_frames(n_snapshots: int, n_frames: int) -> list[int]:
    """Up to ``n_frames`` snapshot indices, geometrically spaced (early iterations change most),
    always including the first and the last."""
    if n_snapshots <= n_frames:
        return list(range(n_snapshots))
    spaced = np.geomspace(1, n_snapshots, n_frames) - 1
    return sorted(set(spaced.round().astype(int).tolist()) | {0, n_snapshots - 1})


def _check(history: object, result: object, index: int) -> OTResult:
    if not isinstance(history, PotentialHistory):
        raise TypeError(
            f"{PREFIX} `history` must be a PotentialHistory passed as `callback=` to "
            f"brenier.solve, got {type(history).__name__}."
        )
    if len(history) == 0:
        raise ValueError(
            f"{PREFIX} the history is empty: pass it to the solver, "
            "`brenier.solve(x, y, callback=history)`, before drawing it."
        )
    res = single_problem(result, index)
    check_dimension(points_of(res)[0], (2,), "the history of potentials")
    return res


def _frame_title(res: OTResult, k: int, history: PotentialHistory) -> str:
    s = history.snapshots[k]
    return f"iteration {s.iteration}, blur = {s.eps ** (1 / res.p):.3g}"


def plot_history(
    history: PotentialHistory,
    result: object,
    *,
    frames: int = 6,
    resolution: int = 60,
    index: int = 0,
    path: str | os.PathLike | None = None,
    dpi: int = 90,
) -> list[Any]:
    """The potentials F, G and the map at a few iterations, one figure per frame.

    Each frame is the two-panel picture of :func:`plot_potentials`, titled
    "iteration 7, blur = 0.01", for snapshots spaced geometrically over the run.

    Args:
        history: the :class:`PotentialHistory` passed as ``callback`` to the solve.
        result: the :class:`~brenier.results.OTResult` of that solve (2D clouds).
        frames: the number of frames.
        resolution: grid points per side.
        index: which problem of a batched result to draw.
        path: if given, the frames are stacked into one image saved there (atomically).
        dpi: resolution of the saved image.

    Returns:
        The list of :class:`matplotlib.figure.Figure`, one per frame.

    Example:
        >>> import torch, brenier
        >>> from brenier.viz import PotentialHistory, plot_history
        >>> x = torch.randn(30, 2, dtype=torch.float64)
        >>> history = PotentialHistory()
        >>> res = brenier.solve(x, x + 1, blur=0.1, callback=history)
        >>> len(plot_history(history, res, frames=2, resolution=10))
        2
    """
    res = _check(history, result, index)
    figures = []
    for k in pick_frames(len(history), frames):
        figure = new_figure((11.0, 4.6))
        potential_panels(figure, history.as_result(res, k), resolution, res.p == 2,
                         _frame_title(res, k, history))  # fmt: skip
        figures.append(figure)
    if path is not None:
        atomic_write(path, lambda tmp: _stack_frames(figures, tmp, dpi))
    return figures


def _rgb(figure: Any, dpi: int) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3]


def _stack_frames(figures: list[Any], path: str, dpi: int) -> None:
    """The frames one above the other, in one image (a 256-colour palette for PNG and GIF:
    the contours have 20 levels, and the file is several times smaller)."""
    from PIL import Image

    image = Image.fromarray(np.concatenate([_rgb(f, dpi) for f in figures], axis=0))
    fmt = Path(path).suffix.lstrip(".").upper().replace("JPG", "JPEG")
    if fmt in ("PNG", "GIF"):
        image = image.quantize(colors=256)
    image.save(path, format=fmt)


def animate_history(
    history: PotentialHistory,
    result: object,
    path: str | os.PathLike,
    *,
    frames: int = 24,
    fps: int = 3,
    resolution: int = 60,
    index: int = 0,
    dpi: int = 70,
) -> Path:
    """An animated GIF of the potentials and the map over the iterations.

    Each frame is titled "iteration k, blur = ..."; the frames are snapshots of the
    history spaced geometrically (see :func:`plot_history`), written with matplotlib's
    ``PillowWriter`` to a temporary file, then moved to ``path``.

    Args:
        history: the :class:`PotentialHistory` passed as ``callback`` to the solve.
        result: the :class:`~brenier.results.OTResult` of that solve (2D clouds).
        path: the GIF to write.
        frames: the number of frames.
        fps: frames per second.
        resolution: grid points per side.
        index: which problem of a batched result to draw.
        dpi: resolution of the frames (the file size grows with its square).

    Returns:
        The path written.

    Example:
        >>> import torch, brenier, tempfile, os
        >>> from brenier.viz import PotentialHistory, animate_history
        >>> x = torch.randn(20, 2, dtype=torch.float64)
        >>> history = PotentialHistory()
        >>> res = brenier.solve(x, x + 1, blur=0.2, callback=history)
        >>> gif = os.path.join(tempfile.mkdtemp(), "potentials.gif")
        >>> animate_history(history, res, gif, frames=2, resolution=8, dpi=30).exists()
        True
    """
    res = _check(history, result, index)
    if Path(path).suffix.lower() != ".gif":
        raise ValueError(f"{PREFIX} `path` must end in .gif, got {str(path)!r}.")
    if not isinstance(fps, int) or isinstance(fps, bool) or fps < 1:
        raise ValueError(f"{PREFIX} `fps` must be a positive integer, got {fps!r}.")
    from matplotlib.animation import FuncAnimation, PillowWriter

    picked = pick_frames(len(history), frames)
    figure = new_figure((11.0, 4.6))

    def draw(k: int) -> list:
        figure.clear()
        potential_panels(figure, history.as_result(res, k), resolution, res.p == 2,
                         _frame_title(res, k, history))  # fmt: skip
        return []

    animation = FuncAnimation(figure, draw, frames=picked, blit=False)
    return atomic_write(
        path, lambda tmp: animation.save(tmp, writer=PillowWriter(fps=fps), dpi=dpi)
    )
