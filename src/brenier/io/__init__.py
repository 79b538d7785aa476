"""Meshes and point clouds in and out; the bundled example scans."""

from ._examples import EXAMPLES, load_example
from ._obj import read_obj, write_obj
from ._sampling import normalize, sample_surface

__all__ = ["EXAMPLES", "load_example", "normalize", "read_obj", "sample_surface", "write_obj"]
