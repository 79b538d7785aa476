"""Applications built on the OT core: registration of 3D shapes."""

from .registration import RegistrationResult, register

__all__ = ["RegistrationResult", "register"]
