"""Multiscale Sinkhorn: clustering, kernel truncation and block-sparse kernels.

``backend="auto"`` picks it for large p = 2 problems on CPU (see
:func:`brenier.kernels.choose_backend`); ``backend="multiscale"`` forces it. The
solver driver and the compiled kernels are imported on first use only.
"""

from ._backend import MULTISCALE_MIN_POINTS, MultiscaleBackend, default_clusters
from ._clustering import Clusters, cell_size_for, grid_clusters
from ._truncation import BlockSparsity, Frame, potential_fit, truncate

__all__ = [
    "MULTISCALE_MIN_POINTS",
    "BlockSparsity",
    "Clusters",
    "Frame",
    "MultiscaleBackend",
    "cell_size_for",
    "default_clusters",
    "grid_clusters",
    "potential_fit",
    "truncate",
]
