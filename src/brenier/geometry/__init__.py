"""Geometry: ground costs, point clouds and their diameters."""

from ._costs import Cost, CostFunction, diameter, make_cost, squared_distances

__all__ = ["Cost", "CostFunction", "diameter", "make_cost", "squared_distances"]
