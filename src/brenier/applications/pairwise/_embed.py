"""Low-dimensional embeddings of a collection (MDS, UMAP) and their scatter plot.

Both methods embed a *metric*: from a divergence matrix :math:`S` (about
:math:`W_2^2/2` for p = 2) they use :math:`d_{ij} = \\sqrt{2 \\max(S_{ij}, 0)}`, an
estimate of :math:`W_2`; from a linearised embedding, the Euclidean distances of its
vectors, in the same units.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._validation import PREFIX
from ...viz import save_figure
from ...viz._figures import new_figure
from ._linearized import LinearizedEmbedding
from ._pairwise import PairwiseResult

METHODS = ("mds", "umap")


def _distances(data: Any) -> np.ndarray:
    if isinstance(data, (PairwiseResult, LinearizedEmbedding)):
        return data.distances()
    S = np.asarray(data, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1] or len(S) < 3:
        raise ValueError(
            f"{PREFIX} `data` has shape {S.shape}; pass a PairwiseResult, a "
            "LinearizedEmbedding or a square divergence matrix of n >= 3 shapes."
        )
    if not np.isfinite(S).all() or not np.allclose(S, S.T, rtol=1e-6, atol=1e-12):
        raise ValueError(f"{PREFIX} the divergence matrix must be finite and symmetric.")
    return np.sqrt(2 * np.clip(S, 0.0, None))


def embed(
    data: Any, *, method: str = "mds", dim: int = 2, seed: int = 0, **options: Any
) -> np.ndarray:
    """Coordinates in ``dim`` dimensions whose distances follow the shapes' W_2 distances.

    Args:
        data: a :class:`PairwiseResult`, a :class:`LinearizedEmbedding`, or a
            symmetric (n, n) matrix of divergences :math:`S_\\varepsilon` (module
            docstring: embedded through :math:`\\sqrt{2 S}`).
        method: ``"mds"``, metric multidimensional scaling (scikit-learn's SMACOF,
            which minimises the stress :math:`\\sum_{i<j} (|z_i - z_j| - d_{ij})^2`), or
            ``"umap"`` (umap-learn, on the precomputed distances: neighbourhoods rather
            than distances).
        dim: the embedding's dimension.
        seed: the random state of the method.
        options: passed to ``sklearn.manifold.MDS`` or ``umap.UMAP``
            (e.g. ``n_neighbors=10``).

    Returns:
        (n, dim) float64 coordinates.
    """
    if method not in METHODS:
        raise ValueError(f"{PREFIX} `method` must be one of {METHODS}, got {method!r}.")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"{PREFIX} `dim` must be a positive integer, got {dim!r}.")
    d = _distances(data)
    if method == "mds":
        return _mds(d, dim, seed, options)
    return _umap(d, dim, seed, options)


def _mds(d: np.ndarray, dim: int, seed: int, options: dict[str, Any]) -> np.ndarray:
    try:
        from sklearn.manifold import MDS
    except ImportError as error:
        raise ImportError(
            f"{PREFIX} MDS needs scikit-learn, an optional dependency: "
            "pip install 'brenier[embed]' (or pip install scikit-learn)."
        ) from error
    import inspect

    params = inspect.signature(MDS).parameters
    # scikit-learn 1.8 renamed `dissimilarity="precomputed"` to `metric="precomputed"`
    # (and the metric/non-metric switch to `metric_mds`).
    if "metric_mds" in params:
        settings: dict[str, Any] = {"metric": "precomputed", "metric_mds": True}
    else:
        settings = {"dissimilarity": "precomputed", "metric": True}
    if "init" in params:
        settings["init"] = "classical_mds"
    if "n_init" in params:
        settings["n_init"] = 1
    model = MDS(n_components=dim, random_state=seed, **{**settings, **options})
    return np.asarray(model.fit_transform(d), dtype=np.float64)


def _umap(d: np.ndarray, dim: int, seed: int, options: dict[str, Any]) -> np.ndarray:
    try:
        import umap
    except ImportError as error:
        raise ImportError(
            f"{PREFIX} UMAP needs umap-learn, an optional dependency: "
            "pip install 'brenier[embed]' (or pip install umap-learn)."
        ) from error
    settings = {"n_neighbors": min(15, len(d) - 1), "metric": "precomputed", **options}
    model = umap.UMAP(n_components=dim, random_state=seed, **settings)
    with warnings.catch_warnings():  # "no inverse_transform", "n_jobs=1 with a seed"
        warnings.filterwarnings("ignore", message=".*(inverse_transform|n_jobs).*")
        return np.asarray(model.fit_transform(d), dtype=np.float64)


def plot_embedding(
    coords: Any,
    *,
    names: Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    title: str = "",
    path: str | os.PathLike | None = None,
) -> Any:
    """A scatter plot of 2D coordinates with one label per shape, coloured by group.

    Args:
        coords: (n, 2) coordinates from :func:`embed`.
        names: a label per point (drawn next to it; omitted beyond 60 points).
        groups: a group per point (a colour each, with a legend).
        title: the axes' title.
        path: also save the figure there (atomically; .png, .svg, .pdf).

    Returns:
        The matplotlib ``Figure``.
    """
    z = np.asarray(coords, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"{PREFIX} `coords` must have shape (n, 2), got {z.shape}.")
    for label, values in (("names", names), ("groups", groups)):
        if values is not None and len(values) != len(z):
            raise ValueError(f"{PREFIX} {len(values)} {label} for {len(z)} points.")
    figure = new_figure((6.5, 5.5))
    ax = figure.add_subplot(111)
    if groups is None:
        ax.scatter(z[:, 0], z[:, 1], s=28, color="#1f77b4", edgecolor="white", linewidth=0.5)
    else:
        keys = list(dict.fromkeys(groups))
        for k, key in enumerate(keys):
            rows = np.array([g == key for g in groups])
            ax.scatter(z[rows, 0], z[rows, 1], s=28, color=f"C{k % 10}", label=str(key),
                       edgecolor="white", linewidth=0.5)  # fmt: skip
        ax.legend(fontsize=8, loc="best")
    if names is not None and len(z) <= 60:
        for (u, v), name in zip(z, names, strict=True):
            ax.annotate(str(name), (u, v), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    if path is not None:
        save_figure(figure, Path(path), dpi=120)
    return figure
