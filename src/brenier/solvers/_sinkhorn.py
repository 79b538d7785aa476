"""The one Sinkhorn loop: log-domain, with eps-scaling, debiasing and a tolerance.

The loop solves up to four entropic OT problems at once, each through an injected
:class:`~brenier.kernels.PairKernel` (it never knows which backend runs):
OT(a, b) with potentials (f, g) and, for the debiased divergence, the symmetric
problems OT(a, a) and OT(b, b) with potentials f_aa and g_bb. With
:math:`T_{xy}(g) = \\lambda\\,\\mathrm{softmin}_\\varepsilon(x; y, \\log b + g/\\varepsilon)`
and damping :math:`\\lambda = 1/(1 + \\varepsilon/\\rho)` (1 for balanced OT):

1. Initialise at the largest temperature eps_0 = diameter^p: f = T_xy(0), g = T_yx(0),
   the exact solution when eps is much larger than the spread of the costs.
2. Walk the temperatures of the eps-scaling (diameter^p -> blur^p, ratio scaling^p).
   At each one, iterate until the marginal error of every problem is below
   ``max(tol, 1e-3)``, ``tol`` at the last one:

   - OT(a, b): *Anderson-accelerated* Sinkhorn (default): the iterates
     :math:`g \\leftarrow G(g) = T_{yx}(T_{xy}(g))` extrapolated from the last 8 by
     :func:`~brenier.solvers._acceleration.anderson_step` (GMRES on the linearised map,
     whose spectrum is real in [0, 1]); its memory is cleared when the error grows.
     On close shapes at blur 0.005 (500 points), tol 1e-4 takes 372 iterations, and
     puts the gradient 0.2% from the converged one (1.7% at tol 1e-3).
   - OT(a, b) with ``anderson=0``: *over-relaxed alternating* updates
     :math:`f \\leftarrow f + \\omega (T_{xy}(g) - f)`, then
     :math:`g \\leftarrow g + \\omega (T_{yx}(f) - g)`.
     With :math:`\\omega = 1` this is plain Sinkhorn; :math:`\\omega \\in (1, 2)` damps the slow
     modes that make Sinkhorn crawl at small eps. The first update after a change of
     temperature uses :math:`\\omega = 1`, and :math:`\\omega` falls back to 1 if the error grows.
     Same case as above: 843 iterations to tol 1e-3, 5,164 to 1e-4.
   - OT(a, a), OT(b, b): *symmetric averaged* updates
     :math:`f \\leftarrow (f + T_{xx}(f))/2`, which converge in a few iterations: one
     update per intermediate temperature, then iterated to ``tol`` at the final one
     (a quarter fewer softmins than converging them at every temperature, measured).

   Measured on two samples of one 3D scan (1,000 points each, blur 0.005): one
   averaged update per temperature (GeomLoss) leaves -37% error on the OT cost; 400
   plain alternating iterations, -1.4%; 230 over-relaxed ones (omega = 1.8), -0.64%,
   the entropic bias itself (-0.62% when fully converged).
3. ``tol=None`` reproduces GeomLoss: one symmetric averaged update of every problem,
   :math:`(f, g) \\leftarrow \\tfrac12 (f + T_{xy}(g), g + T_{yx}(f))`, per temperature, no check.

The marginal error of the pair (f, g) comes for free from the update itself: the plan
:math:`\\pi = \\exp((f \\oplus g - C)/\\varepsilon)\\, a \\otimes b` has row sums
:math:`a_i \\exp((f_i - \\tilde f_i)/\\varepsilon)`, where :math:`\\tilde f = T_{xy}(g)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..kernels import PairKernel
from ..results import Status, final_status
from ._acceleration import DEFAULT_MEMORY, AndersonHistory, anderson_step
from ._duals import damping
from ._progress import Progress

#: Over-relaxation of the OT(a, b) updates; see the module docstring.
DEFAULT_RELAXATION = 1.8
#: Iterations allowed at each intermediate temperature before moving on.
MAX_ITER_PER_LEVEL = 100
#: Marginal error at which an intermediate temperature hands over to the next one.
INTERMEDIATE_TOL = 1e-3
#: Growth of the marginal error that makes the Anderson iteration forget its memory.
RESTART_GROWTH = 2.0


@dataclass(frozen=True)
class Interactions:
    """The kernels of the four problems; ``xx``/``yy`` are ``None`` without debiasing."""

    xy: PairKernel
    yx: PairKernel
    xx: PairKernel | None = None
    yy: PairKernel | None = None

    @property
    def debiased(self) -> bool:
        return self.xx is not None and self.yy is not None


@dataclass(frozen=True)
class Marginals:
    """The weights of both measures and their logarithms, (B, N) and (B, M)."""

    a: Tensor
    b: Tensor
    a_log: Tensor
    b_log: Tensor

    @classmethod
    def from_weights(cls, a: Tensor, b: Tensor) -> Marginals:
        return cls(a, b, a.log(), b.log())


@dataclass(frozen=True)
class SinkhornState:
    """Potentials and progress. Batched: f, f_aa (B, N); g, g_bb (B, M).

    ``marginal_error`` is the worst L1 marginal error of OT(a, b) over the batch, for
    the pair (f, g) that the last iteration started from; ``symmetric_error`` the
    worst one of the symmetric problems (0 without debiasing).
    """

    f: Tensor
    g: Tensor
    f_aa: Tensor | None
    g_bb: Tensor | None
    eps: float
    iteration: int
    marginal_error: float
    symmetric_error: float = 0.0

    def set(self, **changes: object) -> SinkhornState:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def error(self) -> float:
        return max(self.marginal_error, self.symmetric_error)


Callback = Callable[[SinkhornState], None]


def marginal_residual(f: Tensor, f_new: Tensor, a: Tensor, scale: float) -> Tensor:
    """:math:`\\sum_i a_i |e^{(f_i - \\tilde f_i)/s} - 1| / \\sum_i a_i` per batch item, (B,).

    For balanced OT (``scale = eps``) this is the relative L1 error on the plan's
    marginal; for unbalanced OT (``scale = lambda * eps``) the relative L1 violation of
    the optimality condition :math:`\\pi 1 = a\\, e^{-f/\\rho}`.
    """
    ratio = torch.exp(((f - f_new) / scale).clamp(max=50.0))
    return (a * (ratio - 1).abs()).sum(-1) / a.sum(-1)


def _symmetric_update(
    kernel: PairKernel, f: Tensor, w: Tensor, w_log: Tensor, eps: float, lam: float
) -> tuple[Tensor, float]:
    """One averaged update of a symmetric problem OT(w, w); returns (f, error)."""
    f_new = lam * kernel.softmin(eps, w_log + f / eps)
    return (f + f_new) / 2, float(marginal_residual(f, f_new, w, lam * eps).max())


def _update_symmetric_problems(
    problems: Interactions, state: SinkhornState, w: Marginals, eps: float, lam: float, tol: float
) -> dict[str, object]:
    """Averaged updates of OT(a, a) and OT(b, b), skipped once they have converged."""
    if not problems.debiased or state.f_aa is None or state.g_bb is None:
        return {}
    if state.eps == eps and state.symmetric_error <= tol:
        return {}
    assert problems.xx is not None and problems.yy is not None
    f_aa, err_aa = _symmetric_update(problems.xx, state.f_aa, w.a, w.a_log, eps, lam)
    g_bb, err_bb = _symmetric_update(problems.yy, state.g_bb, w.b, w.b_log, eps, lam)
    return {"f_aa": f_aa, "g_bb": g_bb, "symmetric_error": max(err_aa, err_bb)}


def symmetric_step(
    problems: Interactions, state: SinkhornState, w: Marginals, eps: float, rho: float | None
) -> SinkhornState:
    """GeomLoss's iteration: averaged parallel updates of every problem."""
    lam = damping(eps, rho)
    f, g = state.f, state.g
    f_new = lam * problems.xy.softmin(eps, w.b_log + g / eps)
    g_new = lam * problems.yx.softmin(eps, w.a_log + f / eps)
    error = marginal_residual(f, f_new, w.a, lam * eps) + marginal_residual(
        g, g_new, w.b, lam * eps
    )
    changes = _update_symmetric_problems(problems, state, w, eps, lam, tol=-1.0)
    return state.set(
        f=(f + f_new) / 2,
        g=(g + g_new) / 2,
        eps=eps,
        iteration=state.iteration + 1,
        marginal_error=float(error.max()),
        **changes,
    )


def relaxed_step(
    problems: Interactions,
    state: SinkhornState,
    w: Marginals,
    eps: float,
    rho: float | None,
    omega: float,
    tol: float,
) -> SinkhornState:
    """One over-relaxed alternating iteration of OT(a, b) (line 2 of the module doc)."""
    lam = damping(eps, rho)
    f_target = lam * problems.xy.softmin(eps, w.b_log + state.g / eps)
    error = float(marginal_residual(state.f, f_target, w.a, lam * eps).max())
    f = state.f + omega * (f_target - state.f)
    g_target = lam * problems.yx.softmin(eps, w.a_log + f / eps)
    g = state.g + omega * (g_target - state.g)
    changes = _update_symmetric_problems(problems, state, w, eps, lam, tol)
    return state.set(
        f=f, g=g, eps=eps, iteration=state.iteration + 1, marginal_error=error, **changes
    )


def initial_state(
    problems: Interactions, w: Marginals, eps: float, rho: float | None
) -> SinkhornState:
    """Line 1: potentials at the largest temperature (zero potentials inside the softmin)."""
    lam = damping(eps, rho)
    f = lam * problems.xy.softmin(eps, w.b_log)
    g = lam * problems.yx.softmin(eps, w.a_log)
    f_aa = g_bb = None
    if problems.xx is not None and problems.yy is not None:
        f_aa = lam * problems.xx.softmin(eps, w.a_log)
        g_bb = lam * problems.yy.softmin(eps, w.b_log)
    inf = float("inf")
    return SinkhornState(f, g, f_aa, g_bb, eps, 0, inf, inf if problems.debiased else 0.0)


def _converge_at(
    problems: Interactions,
    state: SinkhornState,
    w: Marginals,
    eps: float,
    rho: float | None,
    tol: float,
    symmetric_tol: float,
    budget: int,
    omega: float,
    callback: Callback | None,
) -> SinkhornState:
    """Iterates at one temperature until OT(a, b) meets ``tol`` and the symmetric problems
    meet ``symmetric_tol`` (``inf``: one update at this temperature), or ``budget`` runs out.
    """
    relax, previous, k = 1.0, float("inf"), 0  # plain Sinkhorn first after a change of eps
    progress = Progress()
    while k < budget:
        state = relaxed_step(problems, state, w, eps, rho, relax, symmetric_tol)
        k += 1
        if callback is not None:
            callback(state)
        if state.marginal_error <= tol and state.symmetric_error <= symmetric_tol:
            break
        if progress.stalled(state.error):
            break
        # Over-relax once the error decreases; back off to plain Sinkhorn if it grows.
        relax = omega if state.marginal_error < previous else 1.0
        previous = state.marginal_error
    return state


def _converge_accelerated(
    problems: Interactions,
    state: SinkhornState,
    w: Marginals,
    eps: float,
    rho: float | None,
    tol: float,
    symmetric_tol: float,
    budget: int,
    memory: int,
    callback: Callback | None,
) -> SinkhornState:
    """Anderson-accelerated Sinkhorn at one temperature (line 2 of the module doc).

    Iterates on :math:`g` with the map :math:`G(g) = T_{yx}(T_{xy}(g))`; the plan
    :math:`(T_{xy}(g), g)` has exact row sums and the column error of the residual.
    Anderson's memory is cleared when that error grows by :data:`RESTART_GROWTH`.
    """
    lam = damping(eps, rho)
    history, g, previous, k = AndersonHistory(), state.g, float("inf"), 0
    progress = Progress()
    while k < budget:
        f = lam * problems.xy.softmin(eps, w.b_log + g / eps)
        image = lam * problems.yx.softmin(eps, w.a_log + f / eps)
        error = float(marginal_residual(g, image, w.b, lam * eps).max())
        state = state.set(**_update_symmetric_problems(problems, state, w, eps, lam, symmetric_tol))
        k += 1
        done = error <= tol and state.symmetric_error <= symmetric_tol
        if error > RESTART_GROWTH * previous:  # the extrapolation overshot: start afresh
            history = AndersonHistory()
        previous = error
        if done:  # the plain image is never worse than g; no extrapolation at the end
            g = image
        else:
            g, history = anderson_step(history, g, image, w.b, memory)
        state = state.set(f=f, g=g, eps=eps, iteration=state.iteration + 1, marginal_error=error)
        if callback is not None:
            callback(state)
        if done or progress.stalled(state.error):
            break
    return state


def rounding_floor(eps: float, schedule: list[float], dtype: torch.dtype) -> float:
    """The marginal error that rounding leaves at temperature ``eps``.

    The costs enter the softmin as :math:`C/\\varepsilon`, up to
    :math:`\\text{diameter}^p/\\varepsilon` = ``schedule[0] / eps``, rounded to the dtype's
    relative precision. Measured in float32 on close 3D shapes at blur 0.005 (ratio
    7e4): the error stalls at 5e-4, 1/15 of ``finfo.eps * ratio``; we take 1/8. In
    float64 it is below 1e-11.
    """
    return torch.finfo(dtype).eps * schedule[0] / eps / 8


def _converge_levels(
    problems: Interactions,
    state: SinkhornState,
    w: Marginals,
    schedule: list[float],
    rho: float | None,
    tol: float,
    max_iter: int,
    relaxation: float,
    anderson: int,
    callback: Callback | None,
) -> SinkhornState:
    """Line 2: converges at each temperature in turn, the last one to ``tol``."""
    for level, eps in enumerate(schedule):
        final = level == len(schedule) - 1
        budget = max_iter - state.iteration
        if budget <= 0:  # max_iter is a hard cap, even before the final temperature
            break
        if not final:
            budget = min(budget, MAX_ITER_PER_LEVEL)
        # An intermediate temperature only hands a start to the next one: 1e-3 is enough
        # (measured on close shapes, 500 points, blur 0.005: 372 iterations in all; 416
        # with 3e-4 and 798 with 1e-4 at every level). The symmetric problems get one
        # update per level before the last.
        level_tol = tol if final else max(tol, INTERMEDIATE_TOL)
        symmetric_tol = tol if final else float("inf")
        # At the rounding floor, residual differences are noise and Anderson's
        # extrapolation wanders (float32, blur 0.005: 1,937 iterations vs 898 measured).
        if anderson > 0 and level_tol > rounding_floor(eps, schedule, w.a.dtype):
            state = _converge_accelerated(
                problems, state, w, eps, rho, level_tol, symmetric_tol, budget, anderson, callback
            )
        else:
            state = _converge_at(
                problems, state, w, eps, rho, level_tol, symmetric_tol, budget, relaxation, callback
            )
    return state


def sinkhorn_loop(
    problems: Interactions,
    a: Tensor,
    b: Tensor,
    schedule: list[float],
    *,
    rho: float | None,
    tol: float | None,
    max_iter: int,
    relaxation: float = DEFAULT_RELAXATION,
    anderson: int = DEFAULT_MEMORY,
    callback: Callback | None = None,
    init: SinkhornState | None = None,
) -> tuple[SinkhornState, Status]:
    """Runs the eps-scaling loop without autograd; returns the last state and status.

    Args:
        problems: kernels of the problems to solve.
        a, b: weights (B, N) and (B, M).
        schedule: temperatures, largest first; the last one is the target eps.
        rho: marginal penalty of unbalanced OT (``None``: balanced).
        tol: marginal error to reach at the last temperature (the earlier ones stop at
            ``max(tol, 1e-3)``), raised to the rounding floor of the dtype if larger (see
            :func:`rounding_floor`; status ``ROUNDING_FLOOR`` when it stops there). At
            each temperature the loop also stops when the error has stalled
            (:mod:`brenier.solvers._progress`; status ``STALLED``). ``None`` does one
            symmetric iteration per temperature and no check (GeomLoss).
        max_iter: hard cap on the total number of iterations: when it runs out before
            the last temperature, the remaining ones are skipped (status
            ``MAX_ITERATIONS``).
        relaxation: over-relaxation factor omega in [1, 2) of the OT(a, b) updates, used
            when ``anderson`` is 0.
        anderson: memory of the Anderson acceleration of OT(a, b); 0: over-relaxed updates.
        callback: called with the state after every iteration (e.g. to record history).
        init: potentials to start from (e.g. a coarser solve); default: line 1.
    """
    with torch.no_grad():
        w = Marginals.from_weights(a, b)
        state = init if init is not None else initial_state(problems, w, schedule[0], rho)
        if tol is None:  # Line 3: GeomLoss's schedule, no convergence check.
            for eps in schedule[:max_iter]:
                state = symmetric_step(problems, state, w, eps, rho)
                if callback is not None:
                    callback(state)
            return state, Status.NOT_CHECKED
        floor = rounding_floor(schedule[-1], schedule, a.dtype)
        state = _converge_levels(
            problems, state, w, schedule, rho, max(tol, floor), max_iter, relaxation, anderson,
            callback,
        )  # fmt: skip
        return state, final_status(state.error, tol, floor, state.iteration, max_iter)
