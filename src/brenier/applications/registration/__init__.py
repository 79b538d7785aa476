"""Registration of 3D shapes with robust optimal transport.

:func:`register` chains pre-alignment (rigid, similarity, affine maps fitted to
robust-OT matchings, with a multi-start over rotations) and non-rigid steps (a
coarse-to-fine OT flow, kernel splines) and returns a transform that moves any points.
:func:`lung_pair` makes vessel-tree pairs with known deformations to measure it.
"""

from ._align import cube_rotations, fit_affine, fit_similarity
from ._matching import Matching, robust_matching
from ._metrics import chamfer, target_registration_error
from ._preprocess import (
    Normalization,
    farthest_point_subsample,
    random_subsample,
    voxel_downsample,
)
from ._register import RegistrationResult, StepReport, register
from ._synthetic import (
    Deformation,
    LungPair,
    VesselTree,
    breathing_deformation,
    lung_pair,
    vessel_tree,
)
from ._transforms import AffineTransform, Composite, KernelSpline, SmoothDisplacement

__all__ = [
    "AffineTransform",
    "Composite",
    "Deformation",
    "KernelSpline",
    "LungPair",
    "Matching",
    "Normalization",
    "RegistrationResult",
    "SmoothDisplacement",
    "StepReport",
    "VesselTree",
    "breathing_deformation",
    "chamfer",
    "cube_rotations",
    "farthest_point_subsample",
    "fit_affine",
    "fit_similarity",
    "lung_pair",
    "random_subsample",
    "register",
    "robust_matching",
    "target_registration_error",
    "vessel_tree",
    "voxel_downsample",
]
