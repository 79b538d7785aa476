"""Convergence status of a solver, with the remedy in the message."""

from __future__ import annotations

import enum


class Status(enum.Enum):
    """How a solve ended. ``message`` says what happened and what to do about it.

    ``CONVERGED`` means exactly one thing: the reported marginal error is at most the
    requested ``tol``. Every other way the loop can stop has its own member.
    """

    CONVERGED = "converged"
    ROUNDING_FLOOR = "rounding_floor"
    MAX_ITERATIONS = "max_iterations"
    STALLED = "stalled"
    NOT_CHECKED = "not_checked"

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def ok(self) -> bool:
        """Whether the result can be used as is: converged, or not checked by request."""
        return self in (Status.CONVERGED, Status.NOT_CHECKED)


_MESSAGES = {
    Status.CONVERGED: "The marginal error reached the requested tolerance at the final blur.",
    Status.ROUNDING_FLOOR: (
        "Stopped at the rounding floor of the dtype: the marginal error is above the "
        "requested `tol` but as low as rounding allows at this ratio of the diameter to the "
        "blur (the floor grows as (diameter / blur)^p). The value is usually still accurate; "
        "gradients, plans and maps less so. Use float64 for a tighter result, or a larger "
        "`blur`."
    ),
    Status.MAX_ITERATIONS: (
        "The maximum number of iterations was reached before the marginal error met the "
        "tolerance. Try increasing `max_iter`, raising `tol`, raising `scaling` (e.g. 0.7-0.9) "
        "or using a larger `blur`."
    ),
    Status.STALLED: (
        "The marginal error stopped decreasing (or became NaN) above the tolerance, so the "
        "loop gave up early. Usual causes: a blur far below the data's scale in float32, or "
        "outliers far from the rest of the data. Use float64, rescale the data, remove the "
        "outliers, use a larger `blur`, or raise `tol`."
    ),
    Status.NOT_CHECKED: (
        "Convergence was not checked (tol=None): one iteration per blur of the schedule, "
        "as in GeomLoss. The error on the OT cost can then be several percent."
    ),
}


def final_status(error: float, tol: float, floor: float, iterations: int, max_iter: int) -> Status:
    """The status of a checked solve that stopped with ``error`` after ``iterations``.

    Args:
        error: the worst marginal error of the problems at the final blur.
        tol: the tolerance the user asked for.
        floor: the error that rounding leaves at the final blur (the loop stops there
            when it is above ``tol``).
        iterations: iterations done.
        max_iter: the cap on iterations.
    """
    if error <= tol:
        return Status.CONVERGED
    if error <= floor:
        return Status.ROUNDING_FLOOR
    if iterations >= max_iter:
        return Status.MAX_ITERATIONS
    return Status.STALLED
