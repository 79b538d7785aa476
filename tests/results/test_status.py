"""Issue 17.1: a status that never lies. ``converged`` means marginal_error <= tol."""

from __future__ import annotations

import pytest

from brenier.results import Status, final_status


def test_every_status_has_its_own_message_with_a_remedy():
    messages = {status: status.message for status in Status}
    assert len(set(messages.values())) == len(Status)
    assert "float64" in Status.ROUNDING_FLOOR.message
    assert "max_iter" in Status.MAX_ITERATIONS.message
    assert "float64" in Status.STALLED.message and "rescale" in Status.STALLED.message


def test_only_converged_and_not_checked_are_ok():
    assert {s for s in Status if s.ok} == {Status.CONVERGED, Status.NOT_CHECKED}


@pytest.mark.parametrize(
    ("error", "floor", "iterations", "expected"),
    [
        (1e-5, 1e-2, 10, Status.CONVERGED),
        (1e-4, 0.0, 10, Status.CONVERGED),  # error == tol counts
        (2e-2, 3e-2, 10, Status.ROUNDING_FLOOR),  # the README case, float32
        (2e-2, 1e-5, 100, Status.MAX_ITERATIONS),
        (2e-2, 1e-5, 40, Status.STALLED),
        (float("nan"), 1e-5, 40, Status.STALLED),
    ],
)
def test_final_status(error, floor, iterations, expected):
    assert final_status(error, 1e-4, floor, iterations, max_iter=100) is expected
