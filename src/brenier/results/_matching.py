"""Results of the exact solvers: a hard matching, and a sparse optimal plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class MatchingResult:
    """An optimal assignment between two uniform clouds of equal size N.

    Attributes:
        permutation: index of the target point matched to each source point, shape (N,)
            or (B, N), ``torch.int64`` on the input's device.
        cost: the OT value with uniform weights,
            :math:`\\frac1N \\sum_i C(x_i, y_{\\sigma(i)})`, shape () or (B,), in the
            input's dtype; differentiable wrt. the points (the matching is held fixed).
        gap_bound: certified upper bound on ``cost - optimal cost`` (same units as
            ``cost``, worst over the batch): the duality gap of the final prices for the
            auction, 0 for the Hungarian-type ``"lapjv"``.
        exact: whether ``gap_bound`` is below the costs' resolution, so that the matching
            is optimal (see :func:`brenier.solvers.exact.assignment`).
        method: the solver that ran, ``"auction"`` or ``"lapjv"``.
        iterations: number of bids of the auction (summed over the batch), 0 for lapjv.
        timings: wall-clock seconds per phase.
    """

    permutation: Tensor
    cost: Tensor
    gap_bound: float
    exact: bool
    method: str
    iterations: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EMDResult:
    """An exact optimal transport plan between two weighted discrete measures.

    Attributes:
        value: the OT value :math:`\\sum_{ij} P_{ij} C(x_i, y_j)`, shape () or (B,);
            differentiable wrt. the points (the plan is held fixed: envelope theorem).
        plan: the optimal plan as a sparse COO tensor of shape (N, M) or (B, N, M), with
            at most N + M - 1 non-zeros per problem (a vertex of the transport polytope).
        f: dual potential on the source points, shape (N,) or (B, N).
        g: dual potential on the target points, shape (M,) or (B, M); with
            :math:`f_i + g_j \\le C_{ij}` and :math:`\\langle f, a\\rangle + \\langle g, b
            \\rangle = ` ``value`` at optimality.
        method: the linear-programming solver that ran (``"highs-ipm"``).
        timings: wall-clock seconds per phase.
    """

    value: Tensor
    plan: Tensor
    f: Tensor
    g: Tensor
    method: str
    timings: dict[str, float] = field(default_factory=dict)
