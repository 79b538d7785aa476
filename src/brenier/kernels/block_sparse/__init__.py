"""Block-sparse kernels: clustering, truncation with a rigorous bound, compiled kernels.

The kernels of the multiscale strategy (``brenier.solvers.multiscale``): points sorted
by voxel clusters, pairs of clusters kept or dropped by a bound on the plan entries,
and softmins over the kept blocks only. ``backend="multiscale"`` selects the strategy
with the options of :class:`MultiscaleBackend`.
"""

from ._backend import MULTISCALE_MIN_POINTS, MultiscaleBackend, default_clusters
from ._clustering import (
    Clusters,
    NestedGrids,
    cell_size_for,
    grid_clusters,
    nested_grids,
    sorted_groups,
)
from ._kernel import BlockSparsePair, SortedPair
from ._truncation import (
    BlockSparsity,
    Children,
    Fit,
    Frame,
    potential_fit,
    truncate,
    truncate_chain,
)

__all__ = [
    "MULTISCALE_MIN_POINTS",
    "BlockSparsePair",
    "BlockSparsity",
    "Children",
    "Clusters",
    "Fit",
    "Frame",
    "MultiscaleBackend",
    "NestedGrids",
    "SortedPair",
    "cell_size_for",
    "default_clusters",
    "grid_clusters",
    "nested_grids",
    "potential_fit",
    "sorted_groups",
    "truncate",
    "truncate_chain",
]
