"""When to give up at one temperature: the marginal error has stopped decreasing.

A loop that cannot reach its tolerance (float32 rounding at a blur far below the data's
scale, far outliers) would otherwise run to ``max_iter`` (10,000 by default: minutes on
a few thousand points) or spin on NaNs. The rule bounds that time without touching a
converging loop: it stops when the best error seen has not dropped by
:data:`MIN_PROGRESS` (relative) for :data:`STALL_WINDOW` iterations, and at once when
the error is NaN.

Near the rounding floor of the dtype (float32 at a blur far below the diameter) the
error creeps towards a level set by rounding, not by the potentials: there the rule is
stricter, :data:`FLOOR_WINDOW` iterations without a :data:`FLOOR_PROGRESS` drop.
Measured at the defaults (multiscale, 10^4 points of the Nefertiti scan and
y = x + 0.15 tanh(3x), blur 0.01, float32, floor 4.4e-4): the last temperature took 116
iterations to creep from 5.5e-4 to 4.4e-4, the last 80 of them for a few percent of the
error; the gradient had long stopped moving (0.04% from the converged one at 2,000
points).
"""

from __future__ import annotations

import math

#: Iterations without progress after which the loop stops at one temperature. The
#: slowest converging loop measured (plain over-relaxed Sinkhorn, blur 0.005) gains a
#: factor 10 in ~4,000 iterations: 25% per 500, far above the 1% asked here. Anderson's
#: iterates can plateau longer: 547 iterations without a new best before converging
#: (80 vs 120 weighted points, blur 0.005, float64; tests/solvers/test_sinkhorn_references.py).
STALL_WINDOW = 1000
#: Relative decrease of the best error that counts as progress.
MIN_PROGRESS = 0.01
#: Within this factor of the rounding floor, the stricter rule below applies (the floor
#: is an estimate: measured 1/15 of ``finfo.eps * ratio``, estimated 1/8). Not 3: the
#: close Demosthenes shapes at 10^5 points (blur 0.01, float32, multiscale) then stopped
#: after 110 iterations with the gradient 1.4% from the converged one (0.43% in 175
#: with 2); the transport-map rule of ``_settling.py`` looks further out.
NEAR_FLOOR = 2.0
#: Iterations without a :data:`FLOOR_PROGRESS` drop of the best error, near the floor.
FLOOR_WINDOW = 10
#: Relative decrease of the best error that counts as progress near the floor.
FLOOR_PROGRESS = 0.05


class Progress:
    """Tracks the best marginal error of one temperature's iterations.

    Example:
        >>> watch = Progress(window=2)
        >>> [watch.stalled(e) for e in (1.0, 0.5, 0.5, 0.5)]
        [False, False, False, True]
        >>> near = Progress(floor=1e-3)  # below 2e-3: 10 iterations without a 5% drop
        >>> [near.stalled(1.5e-3 * 0.996**k) for k in range(12)].index(True)
        10
    """

    def __init__(self, window: int = STALL_WINDOW, floor: float = 0.0) -> None:
        self.window = window
        self.floor = floor
        self.best = math.inf
        self.since_best = 0

    def near(self, error: float) -> bool:
        """Whether ``error`` is within :data:`NEAR_FLOOR` of the rounding floor."""
        return error <= NEAR_FLOOR * self.floor

    def stalled(self, error: float) -> bool:
        """Records one iteration's error; True when the loop should give up."""
        if math.isnan(error):
            return True
        near = self.near(error)
        progress = FLOOR_PROGRESS if near else MIN_PROGRESS
        if error < (1 - progress) * self.best:
            self.best, self.since_best = error, 0
        else:
            self.since_best += 1
        return self.since_best >= (min(self.window, FLOOR_WINDOW) if near else self.window)
