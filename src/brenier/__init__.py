"""brenier: optimal transport on 2D/3D shapes, in PyTorch.

The functional core is :func:`solve` (an :class:`OTResult`) and
:func:`sinkhorn_divergence` (a differentiable tensor); :class:`SamplesLoss` is a
drop-in replacement for GeomLoss's module of the same name.
"""

from . import _openmp  # noqa: F401  (first: before torch loads its OpenMP runtime)
from ._version import __version__
from .applications import free_support_barycenter, interpolate, pairwise, register
from .losses import SamplesLoss
from .results import EMDResult, MatchingResult, OTResult, Status
from .solvers import barycenter, sinkhorn_divergence, solve
from .solvers.exact import assignment, emd, ot_1d, ot_1d_plan, sliced_wasserstein
from .transport import (
    LazyPlan,
    SparsePlan,
    barycentric_projection,
    bures_wasserstein,
    dense_plan,
    gaussian_map,
    hard_matching,
    lazy_plan,
    marginal_errors,
    plan,
    round_plan,
    sparse_plan,
    transport_map,
)

__all__ = [
    "EMDResult",
    "LazyPlan",
    "MatchingResult",
    "OTResult",
    "SamplesLoss",
    "SparsePlan",
    "Status",
    "__version__",
    "assignment",
    "barycenter",
    "barycentric_projection",
    "bures_wasserstein",
    "dense_plan",
    "emd",
    "free_support_barycenter",
    "gaussian_map",
    "hard_matching",
    "interpolate",
    "lazy_plan",
    "marginal_errors",
    "ot_1d",
    "ot_1d_plan",
    "pairwise",
    "plan",
    "register",
    "round_plan",
    "sinkhorn_divergence",
    "sliced_wasserstein",
    "solve",
    "sparse_plan",
    "transport_map",
]
