"""Transport plans and maps from a Sinkhorn result, and the Gaussian closed forms.

Plans in three forms (:func:`dense_plan`, :func:`sparse_plan`, :func:`lazy_plan`, or
:func:`plan` with ``form=``), their :func:`marginals` and :func:`marginal_errors`, the
Altschuler-Weed-Rigollet :func:`round_plan` and a :func:`hard_matching`; the
:func:`barycentric_projection`, the Brenier :func:`transport_map` and the
:func:`potentials_at` arbitrary points; :func:`bures_wasserstein`,
:func:`gaussian_map` and :func:`gaussian_fit` between Gaussians.
"""

from ._common import BLOCK_ENTRIES, Solution
from ._gaussian import AffineMap, bures_wasserstein, gaussian_fit, gaussian_map
from ._lazy import LazyPlan, lazy_plan
from ._maps import barycentric_projection, potentials_at, transport_map
from ._matching import hard_matching
from ._plans import (
    SparsePlan,
    dense_plan,
    marginal_errors,
    marginals,
    plan,
    sparse_plan,
)
from ._rounding import round_plan

__all__ = [
    "BLOCK_ENTRIES",
    "AffineMap",
    "LazyPlan",
    "Solution",
    "SparsePlan",
    "barycentric_projection",
    "bures_wasserstein",
    "dense_plan",
    "gaussian_fit",
    "gaussian_map",
    "hard_matching",
    "lazy_plan",
    "marginal_errors",
    "marginals",
    "plan",
    "potentials_at",
    "round_plan",
    "sparse_plan",
    "transport_map",
]
