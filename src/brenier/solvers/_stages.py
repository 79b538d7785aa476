"""The records the loop works on: options, stages (kernels at a temperature), state.

A *stage* is one temperature of the eps-scaling with, for every linear problem of the
objective, an :class:`Interaction`: the kernels and weights the loop iterates on. A
:class:`KernelStrategy` hands the stages to the loop one by one; it may change the
kernels (multiscale: clusters, then truncated kernels) and move the potentials onto
them (a change of level), but never decides when or how much to iterate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from torch import Tensor

from ..kernels import PairKernel
from ..problems import damping, safe_log
from ._acceleration import DEFAULT_MEMORY

#: Over-relaxation of the pair updates without Anderson; see ``_sinkhorn.py``.
DEFAULT_RELAXATION = 1.8
#: Default stopping tolerance on the L1 marginal error at the final blur: at 1e-3 the
#: gradient was measured 1.7-2.6% (relative L2) off the converged one on close shapes
#: at blur 0.005; at 1e-4, 0.2% (``benchmarks/sinkhorn_accuracy.py``).
DEFAULT_TOL = 1e-4


@dataclass(frozen=True)
class Interaction:
    """The kernels and weights of one linear problem at one stage.

    Attributes:
        xy: the kernel from the source to the target, softmin over y: (B, M) -> (B, N).
        yx: the reverse kernel; ``xy`` itself for a symmetric problem.
        a, b: weights (B, N) and (B, M); the same tensor for a symmetric problem.
        a_log, b_log: their logarithms (-inf where a weight is 0).
        rho: the marginal penalty of unbalanced OT (``None``: balanced).
        symmetric: OT(a, a), one potential.
        points: the supports x (B, N, D) and y (B, M, D) the kernels act on, where the
            strategy knows them (the loop then watches the transport map,
            :mod:`~brenier.solvers._settling`); ``None`` otherwise.
    """

    xy: PairKernel
    yx: PairKernel
    a: Tensor
    b: Tensor
    a_log: Tensor
    b_log: Tensor
    rho: float | None
    symmetric: bool
    points: tuple[Tensor, Tensor] | None = None

    @classmethod
    def pair(
        cls, xy: PairKernel, yx: PairKernel, a: Tensor, b: Tensor, rho: float | None,
        points: tuple[Tensor, Tensor] | None = None,
    ) -> Interaction:  # fmt: skip
        return cls(xy, yx, a, b, a.log(), b.log(), rho, symmetric=False, points=points)

    @classmethod
    def self_interaction(cls, xx: PairKernel, a: Tensor, rho: float | None) -> Interaction:
        log = a.log()
        return cls(xx, xx, a, a, log, log, rho, symmetric=True)

    def lam(self, eps: float) -> float:
        """The damping :math:`\\lambda = 1/(1 + \\varepsilon/\\rho)` of every update."""
        return damping(eps, self.rho)

    def differentiable_logs(self) -> tuple[Tensor, Tensor]:
        """log a, log b with zero (not NaN) gradients at zero weights, for the value."""
        return safe_log(self.a), safe_log(self.b)


@dataclass(frozen=True)
class FreeMeasure:
    """A target measure that is solved for, not given: a Wasserstein barycenter.

    The first problem of the stage is then a batch of K pair problems
    :math:`OT_\\varepsilon(\\alpha_k, q)`, one per batch row, sharing their target q,
    which the loop updates after every iteration to the weighted geometric mean of
    the plans' second marginals (iterative Bregman projections, Benamou et al. 2015),
    times the debiasing factor d of Janati et al. (2020) when ``debias``: the fixed
    point of :math:`d \\odot K d = q` (the symmetric problem :math:`OT_\\varepsilon(q, q)`,
    the second interaction of the stage). The state carries :math:`\\log q` and
    :math:`\\log d` (``SinkhornState.free``); the target weights of the interactions
    are not used.

    Attributes:
        weights: the barycentric weights of the K inputs, (K, 1), summing to 1.
        debias: whether to debias (sharp barycenters).
    """

    weights: Tensor
    debias: bool


@dataclass(frozen=True)
class Stage:
    """One temperature and the interactions of every problem at it.

    Attributes:
        eps: the temperature.
        interactions: one per problem of the objective.
        jump: whether the strategy moves the potentials to finer entities after this
            stage (the last temperature of a multiscale level): the loop then converges
            every problem here, the symmetric ones too, which are cheap to converge on
            the coarse entities and dear on the points (see ``sinkhorn_loop``).
        presolve: whether this stage solves the last temperature on coarser entities than
            the last stage's (a multiscale grid level before the points): the loop
            converges it by the last temperature's rules (its tolerance, the settled
            maps), and the last stage then only polishes: it stops once its error is
            within the rounding floor's zone (see ``sinkhorn_loop``).
        keep_measured: whether a converged accelerated iteration ends on the plan whose
            error it measured, :math:`(T_{xy}(g), g)`, rather than on the plain image
            :math:`T_{yx}(T_{xy}(g))` (half an iteration further): set on a last stage
            whose kernels remember their last reduction, which the value then reads
            instead of a new softmin (multiscale; ``BlockSparsePair``).
        free: the free measure of a barycenter problem (``None``: all measures given).
    """

    eps: float
    interactions: tuple[Interaction, ...]
    jump: bool = False
    presolve: bool = False
    keep_measured: bool = False
    free: FreeMeasure | None = None


@dataclass(frozen=True)
class SinkhornState:
    """Potentials and progress (OTT's small immutable state, updated with :meth:`set`).

    Attributes:
        fs: the potential of each problem on its source, (B, N_k).
        gs: on its target, (B, M_k); for a symmetric problem the same tensor as ``fs``.
        eps: the temperature of the last update.
        iteration: updates done, annealing included.
        marginal_error: the worst L1 marginal error of the pair problems over the batch,
            for the potentials that the last iteration started from.
        symmetric_error: the worst one of the symmetric problems (0 if there are none).
        free: ``(log q, log d)`` of a free measure, (1, M) each (``None`` without one).
    """

    fs: tuple[Tensor, ...]
    gs: tuple[Tensor, ...]
    eps: float
    iteration: int
    marginal_error: float
    symmetric_error: float = 0.0
    free: tuple[Tensor, Tensor] | None = None

    def set(self, **changes: object) -> SinkhornState:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def error(self) -> float:
        """The worst error of all problems (NaN if either is NaN)."""
        if math.isnan(self.symmetric_error):
            return self.symmetric_error
        return max(self.marginal_error, self.symmetric_error)

    @property
    def f(self) -> Tensor:
        """The source potential of the first problem (the transport asked for)."""
        return self.fs[0]

    @property
    def g(self) -> Tensor:
        """The target potential of the first problem."""
        return self.gs[0]

    @property
    def f_aa(self) -> Tensor | None:
        """The potential of OT(a, a) in a debiased divergence (``None`` otherwise)."""
        return self.fs[1] if len(self.fs) == 3 else None

    @property
    def g_bb(self) -> Tensor | None:
        """The potential of OT(b, b) in a debiased divergence (``None`` otherwise)."""
        return self.fs[2] if len(self.fs) == 3 else None


Callback = Callable[[SinkhornState], None]


@dataclass(frozen=True)
class LoopOptions:
    """How the loop iterates; every backend and strategy honours all of them.

    Attributes:
        tol: L1 marginal error to reach at the last stage (``max(tol, 1e-3)`` before);
            ``None``: one symmetric update per stage and no check (GeomLoss).
        max_iter: cap on the total number of iterations (every stage gets at least one).
        relaxation: over-relaxation omega in [1, 2) of the pair updates when
            ``anderson`` is 0.
        anderson: memory of the Anderson acceleration of the pair problems; 0: off.
        callback: called with the state after every iteration.
    """

    tol: float | None = DEFAULT_TOL
    max_iter: int = 10_000
    relaxation: float = DEFAULT_RELAXATION
    anderson: int = DEFAULT_MEMORY
    callback: Callback | None = None


class KernelStrategy(Protocol):
    """Supplies the loop's stages: the kernels at each temperature of the schedule.

    ``temperatures`` lists the stages' temperatures, largest first (a temperature may
    appear twice, at two levels of a multiscale solve). ``stage(k, state)`` returns
    stage k and the state moved onto its kernels (``state`` is ``None`` for k = 0; a
    strategy that keeps its kernels returns it unchanged). ``differentiable(stage)``
    returns the last stage's kernels rebuilt on the user's tensors, for the value and
    its gradients.
    """

    @property
    def temperatures(self) -> Sequence[float]: ...

    def stage(
        self, index: int, state: SinkhornState | None
    ) -> tuple[Stage, SinkhornState | None]: ...

    def differentiable(self, stage: Stage) -> Stage: ...
