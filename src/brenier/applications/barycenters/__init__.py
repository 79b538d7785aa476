"""Barycenters and geodesics of measures: free-support barycenters of point clouds and
displacement interpolation between clouds or densities on a grid.

The grid barycenter itself is a solver, :func:`brenier.barycenter`; these build on it
and on :func:`brenier.solve`.
"""

from ._free_support import (
    FREE_SUPPORT_TOL,
    FreeSupportResult,
    free_support_barycenter,
    free_support_barycenter_result,
    kmeans_plus_plus,
)
from ._interpolate import interpolate

__all__ = [
    "FREE_SUPPORT_TOL",
    "FreeSupportResult",
    "free_support_barycenter",
    "free_support_barycenter_result",
    "interpolate",
    "kmeans_plus_plus",
]
