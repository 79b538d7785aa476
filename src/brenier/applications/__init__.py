"""Applications built on the OT core: registration of 3D shapes, collections of shapes."""

from .pairwise import PairwiseResult, pairwise
from .registration import RegistrationResult, register

__all__ = ["PairwiseResult", "RegistrationResult", "pairwise", "register"]
