"""Applications built on the OT core: registration of 3D shapes, barycenters and
displacement interpolation, collections of shapes."""

from .barycenters import (
    FreeSupportResult,
    free_support_barycenter,
    free_support_barycenter_result,
    interpolate,
)
from .pairwise import PairwiseResult, pairwise
from .registration import RegistrationResult, register

__all__ = [
    "FreeSupportResult",
    "PairwiseResult",
    "RegistrationResult",
    "free_support_barycenter",
    "free_support_barycenter_result",
    "interpolate",
    "pairwise",
    "register",
]
