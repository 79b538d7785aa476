"""Exact solvers: 1D OT by sorting, sliced OT, assignment (auction, lapjv), small LPs."""

from ._assignment import AUCTION_MIN_POINTS, assignment
from ._auction import check_certificate
from ._lp import MAX_LP_VARIABLES, emd
from ._sorting import ot_1d, ot_1d_plan, sliced_wasserstein

__all__ = [
    "AUCTION_MIN_POINTS",
    "MAX_LP_VARIABLES",
    "assignment",
    "check_certificate",
    "emd",
    "ot_1d",
    "ot_1d_plan",
    "sliced_wasserstein",
]
