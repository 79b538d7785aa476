"""Near the rounding floor, whether the transport maps have stopped moving.

At the last temperature the marginal error first falls fast, then creeps: in float32,
towards the rounding floor, where the near-floor rule of
:class:`~brenier.solvers._progress.Progress` stops it after 10 iterations without a
5% drop. That creep can be long, and what users ask of the solve is a value and a
gradient, i.e. a barycentric map, not a marginal error. Measured at the defaults
(multiscale, float32, blur 0.01, 10^4 points, gradients against float64 converged
ones, ``benchmarks/stopping.py``):

- y = x + 0.15 tanh(3x) on the Nefertiti scan: the error creeps from 1e-3 to 4.8e-4 in
  36 iterations, a third of the solve, while the gradient moves from 0.296% to 0.271%
  off. The map moves by 2-3e-4 of the displacement between any two iterations
  (rounding noise), and by 3.4e-4 over 12.
- two samples of the Demosthenes scan, one warped by 3% (close shapes, blur below the
  point spacing): the creep is slow convergence (float64 follows the same path for 700
  iterations); the gradient goes from 1.28% to 0.24% off over 120 iterations, the map
  drifting by about 1e-4 of the displacement per iteration (1.3e-3 over 12).

The rule, looked at only near the floor (where the marginal error no longer tells
progress from rounding) and at the final temperature: every :data:`LOOK_EVERY`
iterations from the first there, the target-side barycentric map
:math:`T(y_j) = \\sum_i \\pi_{ij} x_i / b_j`
of every pair problem whose supports are known (point clouds); the loop stops when the
largest change over the last 12 iterations, relative to the displacement
:math:`\\|y - T(y)\\|` (b-weighted L2), is below :data:`SETTLED`: a drift below
4e-5 per iteration, 0.2-0.4% over the 50-100 iterations of the slowest creep seen.
The status stays ``ROUNDING_FLOOR``. The Demosthenes case never meets the rule and
stops as before (0.20% off); the Nefertiti one stops 26 iterations earlier (107 -> 81,
the gradient 0.286% off instead of 0.271%; at 10^5 points 101 -> 83).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._stages import SinkhornState, Stage

#: Iterations between two looks at the map, compared with each other: 12, so that a
#: slow drift stands out of the rounding noise (float32: 2-6e-4 of the displacement
#: between any two iterations, whatever their distance). Each look is a log-sum-exp
#: and a softmax-weighted sum of the D coordinates per pair problem (about 2.5 softmins);
#: the first is at the first iteration near the floor. (Looks every 6 compared two back
#: stopped at the same iterations on the cases measured, with one look more.)
LOOK_EVERY = 12
#: Relative change of the map over those 12 iterations below which it has settled.
SETTLED = 5e-4
#: The map is looked at within this factor of the rounding floor's estimate (the
#: multiscale solves of the tanh map level off at 1.1x the estimate at 10^4 points, 1.7x
#: at 10^5: with 2, the looks began 8 iterations into the creep there); a stop there
#: reports ``rounding_floor``. The stall rule of ``_progress.py`` keeps its 2x.
ZONE = 3.0


class MapWatch:
    """Tracks the barycentric maps of a stage's pair problems, one look every few calls.

    The map looked at is the target side's, :math:`T(y_j) = \\sum_i \\pi_{ij} x_i / b_j`,
    computed from f: f is a softmin of g, smoother than an extrapolated g.

    Example (a pair problem whose potentials do not change: the map does not move):
        >>> import torch
        >>> from brenier.kernels import OnlinePair
        >>> from brenier.solvers._stages import Interaction, SinkhornState, Stage
        >>> x, y = torch.rand(1, 50, 2).double(), torch.rand(1, 40, 2).double()
        >>> a, b = torch.full((1, 50), 0.02).double(), torch.full((1, 40), 0.025).double()
        >>> xy, yx = OnlinePair(x, y, p=2), OnlinePair(y, x, p=2)
        >>> pair = Interaction.pair(xy, yx, a, b, None, (x, y))
        >>> state = SinkhornState((torch.zeros_like(a),), (torch.zeros_like(b),), 0.1, 0, 0, 0)
        >>> watch = MapWatch(Stage(0.1, (pair,)))
        >>> [watch.settled(state) for _ in range(16)].index(True)  # the 2nd look
        12
    """

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.calls = 0
        self.previous: dict[int, Tensor] = {}  # each pair problem's last look
        self.pairs = [
            k for k, p in enumerate(stage.interactions) if not p.symmetric and p.points is not None
        ]

    def settled(self, state: SinkhornState) -> bool:
        """Records one iteration; True when the maps moved by less than ``SETTLED`` of
        the displacement over the last LOOK_EVERY iterations."""
        self.calls += 1
        if not self.pairs or (self.calls - 1) % LOOK_EVERY:
            return False
        eps, change = self.stage.eps, 0.0
        for k in self.pairs:
            p = self.stage.interactions[k]
            x, y = p.points  # type: ignore[misc]
            T = p.yx.softmax_sum(eps, p.a_log + state.fs[k] / eps, x)
            before = self.previous.get(k)
            self.previous[k] = T
            if before is None:
                change = math.inf
                continue
            tiny = torch.finfo(T.dtype).tiny
            moved = _norm(p.b, T - before) / _norm(p.b, y - T).clamp_min(tiny)
            largest = float(moved.max())  # NaN if any item's map is NaN
            if math.isnan(largest):  # (max() would drop a NaN after a number)
                return False
            change = max(change, largest)
        return change <= SETTLED


def _norm(w: Tensor, v: Tensor) -> Tensor:
    """:math:`(\\sum_j w_j |v_j|^2)^{1/2}` per batch item, (B,)."""
    return (w * v.square().sum(-1)).sum(-1).sqrt()
