"""Meshes and point clouds in and out; landmarks; the bundled example scans."""

from ._atomic import atomic_write
from ._examples import EXAMPLES, load_example
from ._landmarks import read_landmarks, write_landmarks
from ._obj import read_obj, write_obj
from ._sampling import normalize, sample_surface
from ._shapes import Shape, read_cloud, read_shape, vertex_areas, write_shape

__all__ = [
    "EXAMPLES",
    "Shape",
    "atomic_write",
    "load_example",
    "normalize",
    "read_cloud",
    "read_landmarks",
    "read_obj",
    "read_shape",
    "sample_surface",
    "vertex_areas",
    "write_landmarks",
    "write_obj",
    "write_shape",
]
