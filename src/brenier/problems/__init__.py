"""Problems: what is asked (linear OT problems, objectives) and their dual values."""

from ._duals import damping, safe_log, semi_dual_value
from ._linear import LinearProblem, Objective

__all__ = ["LinearProblem", "Objective", "damping", "safe_log", "semi_dual_value"]
