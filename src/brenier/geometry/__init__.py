"""Geometry: where the mass of a measure sits (point clouds, grids) and the ground costs."""

from ._costs import Cost, CostFunction, diameter, make_cost, squared_distances
from ._grid import Grid
from ._point_cloud import PointCloud
from ._protocol import Geometry, bounding_diameter

__all__ = [
    "Cost",
    "CostFunction",
    "Geometry",
    "Grid",
    "PointCloud",
    "bounding_diameter",
    "diameter",
    "make_cost",
    "squared_distances",
]
