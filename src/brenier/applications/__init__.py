"""Applications built on the OT core: registration of 3D shapes, barycenters and
displacement interpolation."""

from .barycenters import (
    FreeSupportResult,
    free_support_barycenter,
    free_support_barycenter_result,
    interpolate,
)
from .registration import RegistrationResult, register

__all__ = [
    "FreeSupportResult",
    "RegistrationResult",
    "free_support_barycenter",
    "free_support_barycenter_result",
    "interpolate",
    "register",
]
