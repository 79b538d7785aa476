"""What every picture shares: the optional matplotlib import, atomic saves, one problem.

matplotlib is an optional dependency (``pip install 'brenier[viz]'``), imported only
when a picture is drawn. Figures are built with :class:`matplotlib.figure.Figure`
directly, not with pyplot, so that drawing touches no global state and needs no GUI
backend; notebooks still display the returned figure.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from torch import Tensor

from .._validation import PREFIX
from ..results import OTResult

#: Colours of the two measures and of the map, used by every picture.
SOURCE_COLOR = "#1f77b4"
TARGET_COLOR = "#d62728"
MAP_COLOR = "#222222"


def require_matplotlib() -> ModuleType:
    """Imports matplotlib, or raises an ImportError that names the extra to install."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError(
            f"{PREFIX} brenier.viz needs matplotlib, an optional dependency: "
            "pip install 'brenier[viz]' (or pip install matplotlib)."
        ) from err
    return matplotlib


def new_figure(figsize: tuple[float, float]) -> Any:
    """A pyplot-free Figure with constrained layout."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _file_mode(target: Path) -> int:
    """The mode of the file being replaced, else the one open() would give (0666 & ~umask)."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Any) -> Path:
    """Calls ``write(tmp_path)`` on a temporary file next to ``path``, then os.replace.

    A reader never sees a half-written file, and a failed write leaves no file behind.
    The folder must exist: it is never created (a mistyped path fails instead).
    """
    target = Path(path)
    if target.suffix == "":
        raise ValueError(
            f"{PREFIX} `path` {str(path)!r} has no extension; matplotlib picks the format "
            "from it: use e.g. 'figure.png', 'figure.svg' or 'animation.gif'."
        )
    if not target.parent.is_dir():  # a typo must not create a tree of folders
        raise FileNotFoundError(
            f"{PREFIX} the folder {str(target.parent)!r} of `path` {str(path)!r} does not "
            "exist; create it first (e.g. `Path(path).parent.mkdir(parents=True)`) or fix "
            "the path."
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode(target))  # mkstemp makes 0600 files; keep the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def save_figure(figure: Any, path: str | os.PathLike, **savefig_options: Any) -> Path:
    """Saves a matplotlib figure atomically (temporary file, then ``os.replace``).

    Args:
        figure: a :class:`matplotlib.figure.Figure`.
        path: destination; the extension picks the format (``.png``, ``.svg``, ``.pdf``).
        **savefig_options: passed to :meth:`~matplotlib.figure.Figure.savefig` (e.g. ``dpi``).

    Returns:
        The path written.

    Example:
        >>> from brenier.viz import save_figure
        >>> from matplotlib.figure import Figure
        >>> import tempfile, os
        >>> path = save_figure(Figure(), os.path.join(tempfile.mkdtemp(), "empty.png"))
        >>> path.exists()
        True
    """
    fmt = Path(path).suffix.lstrip(".") or None
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format=fmt, **savefig_options))


def single_problem(result: object, index: int) -> OTResult:
    """The ``index``-th problem of a (possibly batched) result, as an unbatched result."""
    if not isinstance(result, OTResult):
        raise TypeError(
            f"{PREFIX} expected the OTResult returned by `brenier.solve(...)`, got "
            f"{type(result).__name__}."
        )
    if result.objective is None or result.measures is None:
        raise ValueError(f"{PREFIX} this OTResult carries no `objective`; use `brenier.solve`.")
    m = result.measures
    B = m.x.shape[0]
    if not isinstance(index, int) or not -B <= index < B:
        raise ValueError(f"{PREFIX} `index` must be an integer in [0, {B}), got {index!r}.")
    if not m.batched:
        return result
    k = index % B

    def item(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[index]

    objective = result.objective.map_geometries(lambda g: g.item(k))
    return replace(
        result, value=result.value[index], f=result.f[index], g=result.g[index],
        f_aa=item(result.f_aa), g_bb=item(result.g_bb), objective=objective,
    )  # fmt: skip


def points_of(result: OTResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x (N, D), y (M, D), a (N,), b (M,) of an unbatched result, as numpy arrays."""
    m = result.measures
    assert m is not None  # checked by single_problem
    return tuple(t[0].detach().cpu().double().numpy() for t in (m.x, m.y, m.a, m.b))  # type: ignore[return-value]


def check_dimension(x: np.ndarray, allowed: tuple[int, ...], what: str) -> int:
    D = x.shape[-1]
    if D not in allowed:
        raise ValueError(
            f"{PREFIX} {what} draws clouds in dimension {' or '.join(map(str, allowed))}; "
            f"these points have D = {D}. Project them first (e.g. keep two coordinates)."
        )
    return D


def new_axes(figure: Any, dim: int, position: int = 111) -> Any:
    """2D axes with equal aspect, or 3D axes."""
    if dim == 3:
        return figure.add_subplot(position, projection="3d")
    ax = figure.add_subplot(position)
    ax.set_aspect("equal")
    return ax


def label_axes(ax: Any, dim: int) -> None:
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if dim == 3:
        ax.set_zlabel("$z_3$")


def scatter_measures(ax: Any, x: np.ndarray, y: np.ndarray, size: float = 12.0) -> None:
    """Source and target points, labelled for the legend."""
    cols = lambda p: [p[:, k] for k in range(p.shape[1])]  # noqa: E731
    ax.scatter(*cols(x), s=size, c=SOURCE_COLOR, label="source $x_i$", zorder=3, linewidths=0)
    ax.scatter(*cols(y), s=size, c=TARGET_COLOR, label="target $y_j$", zorder=3, linewidths=0)


def sample_rows(n: int, at_most: int | None) -> np.ndarray:
    """At most ``at_most`` evenly spread row indices (all of them when None)."""
    if at_most is None or n <= at_most:
        return np.arange(n)
    return np.linspace(0, n - 1, at_most).round().astype(int)
