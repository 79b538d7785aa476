"""Results: one type for every solver, and the convergence status."""

from ._matching import EMDResult, MatchingResult
from ._result import OTResult
from ._status import Status, final_status

__all__ = ["EMDResult", "MatchingResult", "OTResult", "Status", "final_status"]
