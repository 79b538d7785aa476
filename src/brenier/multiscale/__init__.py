"""Multiscale Sinkhorn: clustering, kernel truncation and block-sparse kernels.

Use it with ``brenier.solve(..., backend="multiscale")`` (opt-in). The solver driver
and the compiled kernels are imported on first use only.
"""

from ._backend import MultiscaleBackend, default_clusters
from ._clustering import Clusters, cell_size_for, grid_clusters
from ._truncation import BlockSparsity, cluster_potentials, truncate

__all__ = [
    "BlockSparsity",
    "Clusters",
    "MultiscaleBackend",
    "cell_size_for",
    "cluster_potentials",
    "default_clusters",
    "grid_clusters",
    "truncate",
]
