"""Convergence status of a solver, with the remedy in the message."""

from __future__ import annotations

import enum


class Status(enum.Enum):
    """How a solve ended. ``message`` says what happened and what to do about it."""

    CONVERGED = "converged"
    MAX_ITERATIONS = "max_iterations"
    NOT_CHECKED = "not_checked"

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def ok(self) -> bool:
        return self is not Status.MAX_ITERATIONS


_MESSAGES = {
    Status.CONVERGED: "The marginal error reached the tolerance at the final blur.",
    Status.MAX_ITERATIONS: (
        "The maximum number of iterations was reached before the marginal error met the "
        "tolerance. Try increasing `max_iter`, raising `tol`, raising `scaling` (e.g. 0.7-0.9) "
        "or using a larger `blur`."
    ),
    Status.NOT_CHECKED: (
        "Convergence was not checked (tol=None): one iteration per blur of the schedule, "
        "as in GeomLoss. The error on the OT cost can then be several percent."
    ),
}
