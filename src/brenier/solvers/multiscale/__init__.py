"""The multiscale strategy of the Sinkhorn loop: nested grids, jumps, truncated kernels."""

from ._hierarchy import Hierarchy, Level, plan_levels
from ._strategy import MultiscaleStrategy

__all__ = ["Hierarchy", "Level", "MultiscaleStrategy", "plan_levels"]
