"""The one Sinkhorn loop: log-domain, with eps-scaling, debiasing and a tolerance.

The loop solves the linear problems of an :class:`~brenier.problems.Objective` together,
each through injected :class:`~brenier.kernels.PairKernel` objects (it never knows
which backend runs): *pair* problems OT(a, b) with potentials (f, g) and *symmetric*
problems OT(a, a) with one potential f (the debiased divergence is one of each kind
plus one more symmetric). A :class:`~brenier.solvers.KernelStrategy` hands the loop
its *stages*: a temperature, and the kernels and weights of every problem at it. A
plain backend gives the same kernels at every temperature; the multiscale strategy
gives coarse clusters first, truncated kernels later, and extrapolates the
potentials when it changes level. The loop owns everything else: the schedule's
tolerances, the iteration caps, Anderson acceleration and the stopping rule. With
:math:`T_{xy}(g) = \\lambda\\,\\mathrm{softmin}_\\varepsilon(x; y, \\log b + g/\\varepsilon)`
and damping :math:`\\lambda = 1/(1 + \\varepsilon/\\rho)` (1 for balanced OT):

1. Initialise at the first stage, eps_0 = diameter^p: f = T_xy(0), g = T_yx(0),
   the exact solution when eps is much larger than the spread of the costs.
2. Walk the stages of the eps-scaling (diameter^p -> blur^p, ratio scaling^p).
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

   Near the rounding floor of the final temperature the loop also stops once the
   transport maps have settled (:mod:`~brenier.solvers._settling`): there the marginal
   error creeps for dozens of iterations that no longer move the gradient. A strategy
   may solve the final temperature on coarser entities first (a *presolve*): the maps
   settle there, and the stages after it stop once in the floor's zone.
3. A *free measure* (a barycenter, :class:`~brenier.solvers._stages.FreeMeasure`):
   iterative Bregman projections on the K problems OT(a_k, q) at once,
   :math:`f_k \\leftarrow T_{xy}(g_k)`, :math:`\\tilde g_k = T_{yx}(f_k)`, then
   :math:`\\log q \\leftarrow \\log d - \\sum_k w_k \\tilde g_k/\\varepsilon` and
   :math:`g_k \\leftarrow \\tilde g_k` (:func:`free_step`), with the same stages,
   tolerances and caps; the error is the L1 error of the input marginals.
4. ``tol=None`` reproduces GeomLoss: one symmetric averaged update of every problem,
   :math:`(f, g) \\leftarrow \\tfrac12 (f + T_{xy}(g), g + T_{yx}(f))`, per temperature, no check.

The marginal error of the pair (f, g) comes for free from the update itself: the plan
:math:`\\pi = \\exp((f \\oplus g - C)/\\varepsilon)\\, a \\otimes b` has row sums
:math:`a_i \\exp((f_i - \\tilde f_i)/\\varepsilon)`, where :math:`\\tilde f = T_{xy}(g)`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..results import Status, final_status
from ._acceleration import AndersonHistory, anderson_step
from ._progress import NEAR_FLOOR, Progress
from ._settling import ZONE as SETTLE_ZONE
from ._settling import MapWatch
from ._stages import (
    Callback,
    FreeMeasure,
    Interaction,
    KernelStrategy,
    LoopOptions,
    SinkhornState,
    Stage,
)

#: Iterations allowed at each intermediate temperature before moving on.
MAX_ITER_PER_LEVEL = 100
#: Marginal error at which an intermediate temperature hands over to the next one.
INTERMEDIATE_TOL = 1e-3
#: Averaged updates of the debiasing factor d per Bregman projection of a barycenter:
#: q moves a little at each projection and d must follow (one softmin on one grid
#: each, against 2K for the projection). Measured on four 64 x 64 shapes at a blur of
#: 1.5 cells: with one, d lags (58 iterations at the last temperature, the last 34 for
#: d alone); with three, 19; five give the same 19.
DEBIAS_STEPS = 3
#: The intermediate tolerance of a barycenter's stages: they only warm-start the next
#: one (same case: 69 iterations in all instead of 117, 19 at the last temperature).
FREE_INTERMEDIATE_TOL = 1e-2
#: Growth of the marginal error that makes the Anderson iteration forget its memory.
RESTART_GROWTH = 2.0
#: Growth of the marginal error above the best one seen at a temperature that makes the
#: Anderson iteration go back to that best point (its plain image) and iterate plainly
#: until it beats it. Without it, on tiny unbalanced problems at a blur far below the
#: data's scale (5 vs 2 points, reach 3, blur 0.05, tol 1e-9), the extrapolated iterates
#: cycled between the pieces of the nearly piecewise-affine map G for thousands of
#: iterations and stopped at a marginal error of 0.55; with it, 90 such problems
#: converge in 6,566 iterations in all (19,887 and 8 stalls before) and the iteration
#: counts of the benchmarks' problems do not change (tests/reliability/test_anderson.py).
REVERT_GROWTH = 10.0


def marginal_residual(f: Tensor, f_new: Tensor, a: Tensor, scale: float) -> Tensor:
    """:math:`\\sum_i a_i |e^{(f_i - \\tilde f_i)/s} - 1| / \\sum_i a_i` per batch item, (B,).

    For balanced OT (``scale = eps``) this is the relative L1 error on the plan's
    marginal; for unbalanced OT (``scale = lambda * eps``) the relative L1 violation of
    the optimality condition :math:`\\pi 1 = a\\, e^{-f/\\rho}`.
    """
    ratio = torch.exp(((f - f_new) / scale).clamp(max=50.0))
    return (a * (ratio - 1).abs()).sum(-1) / a.sum(-1)


def _t_xy(p: Interaction, eps: float, g: Tensor) -> Tensor:
    """:math:`T_{xy}(g) = \\lambda \\mathrm{softmin}_\\varepsilon(x; y, h)`, h = log b + g/eps."""
    return p.lam(eps) * p.xy.softmin(eps, p.b_log + g / eps)


def _t_yx(p: Interaction, eps: float, f: Tensor) -> Tensor:
    return p.lam(eps) * p.yx.softmin(eps, p.a_log + f / eps)


def _worst(*errors: float) -> float:
    """The largest error, NaN if any is NaN (``max`` would drop a NaN after a number)."""
    return math.nan if any(math.isnan(e) for e in errors) else max(errors)


def _pairs(stage: Stage) -> list[int]:
    return [k for k, p in enumerate(stage.interactions) if not p.symmetric]


def _symmetric_updates(stage: Stage, state: SinkhornState, tol: float) -> dict[str, object]:
    """Averaged updates :math:`f \\leftarrow (f + T_{xx}(f))/2` of the symmetric problems,
    skipped once they have converged at this temperature; the state changes to apply."""
    sym = [k for k, p in enumerate(stage.interactions) if p.symmetric]
    eps = stage.eps
    if not sym or (state.eps == eps and state.symmetric_error <= tol):
        return {}
    fs, error = list(state.fs), 0.0
    for k in sym:
        p = stage.interactions[k]
        f_new = _t_xy(p, eps, fs[k])
        error = _worst(error, float(marginal_residual(fs[k], f_new, p.a, p.lam(eps) * eps).max()))
        fs[k] = (fs[k] + f_new) / 2
    return {"symmetric": {k: fs[k] for k in sym}, "symmetric_error": error}


def _commit(
    state: SinkhornState,
    eps: float,
    pairs: dict[int, tuple[Tensor, Tensor]],
    symmetric: dict[str, object],
    marginal_error: float,
) -> SinkhornState:
    """The state after one iteration: new pair potentials, new symmetric potentials."""
    fs, gs = list(state.fs), list(state.gs)
    for k, (f, g) in pairs.items():
        fs[k], gs[k] = f, g
    for k, f in symmetric.get("symmetric", {}).items():  # type: ignore[attr-defined]
        fs[k] = gs[k] = f
    error = symmetric.get("symmetric_error", state.symmetric_error)
    return state.set(
        fs=tuple(fs),
        gs=tuple(gs),
        eps=eps,
        iteration=state.iteration + 1,
        marginal_error=marginal_error,
        symmetric_error=error,
    )


def symmetric_step(stage: Stage, state: SinkhornState) -> SinkhornState:
    """GeomLoss's iteration (line 3): averaged parallel updates of every problem."""
    eps, pairs, error = stage.eps, {}, 0.0
    for k in _pairs(stage):
        p, f, g = stage.interactions[k], state.fs[k], state.gs[k]
        f_new, g_new = _t_xy(p, eps, g), _t_yx(p, eps, f)
        scale = p.lam(eps) * eps
        err = marginal_residual(f, f_new, p.a, scale) + marginal_residual(g, g_new, p.b, scale)
        error = _worst(error, float(err.max()))
        pairs[k] = ((f + f_new) / 2, (g + g_new) / 2)
    return _commit(state, eps, pairs, _symmetric_updates(stage, state, tol=-1.0), error)


def relaxed_step(stage: Stage, state: SinkhornState, omega: float, tol: float) -> SinkhornState:
    """One over-relaxed alternating iteration of the pair problems (line 2)."""
    eps, pairs, error = stage.eps, {}, 0.0
    for k in _pairs(stage):
        p = stage.interactions[k]
        f_target = _t_xy(p, eps, state.gs[k])
        error = _worst(
            error, float(marginal_residual(state.fs[k], f_target, p.a, p.lam(eps) * eps).max())
        )
        f = state.fs[k] + omega * (f_target - state.fs[k])
        g = state.gs[k] + omega * (_t_yx(p, eps, f) - state.gs[k])
        pairs[k] = (f, g)
    return _commit(state, eps, pairs, _symmetric_updates(stage, state, tol), error)


def initial_state(stage: Stage) -> SinkhornState:
    """Line 1: potentials at the first temperature (zero potentials inside the softmin)."""
    eps, fs, gs = stage.eps, [], []
    for p in stage.interactions:
        f = p.lam(eps) * p.xy.softmin(eps, p.b_log)
        fs.append(f)
        gs.append(f if p.symmetric else p.lam(eps) * p.yx.softmin(eps, p.a_log))
    inf = float("inf")
    symmetric = any(p.symmetric for p in stage.interactions)
    return SinkhornState(tuple(fs), tuple(gs), eps, 0, inf, inf if symmetric else 0.0)


def _converge_relaxed(
    stage: Stage, state: SinkhornState, tols: tuple[float, float], budget: int, omega: float,
    callback: Callback | None, floor: float = 0.0, watch_maps: bool = False,
) -> SinkhornState:  # fmt: skip
    """Iterates at one stage until the pair problems meet ``tols[0]`` and the symmetric
    ones ``tols[1]`` (``inf``: one update at this stage), or ``budget`` runs out, or the
    error stalls (:class:`~brenier.solvers._progress.Progress`, with the rounding
    ``floor`` of this temperature), or, with ``watch_maps`` (the final temperature) near
    that floor, the transport maps have settled (:class:`~brenier.solvers._settling.MapWatch`)."""
    tol, symmetric_tol = tols
    relax, previous, k = 1.0, float("inf"), 0  # plain Sinkhorn first after a change of eps
    progress, watch = Progress(floor=floor), MapWatch(stage) if watch_maps else None
    while k < budget:
        state = relaxed_step(stage, state, relax, symmetric_tol)
        k += 1
        if callback is not None:
            callback(state)
        if state.marginal_error <= tol and state.symmetric_error <= symmetric_tol:
            break
        if progress.stalled(state.error) or _settled(watch, progress, state):
            break
        # Over-relax once the error decreases; back off to plain Sinkhorn if it grows.
        relax = omega if state.marginal_error < previous else 1.0
        previous = state.marginal_error
    return state


def _converge_accelerated(
    stage: Stage, state: SinkhornState, tols: tuple[float, float], budget: int, memory: int,
    callback: Callback | None, floor: float = 0.0, watch_maps: bool = False,
) -> SinkhornState:  # fmt: skip
    """Anderson-accelerated Sinkhorn at one stage (line 2 of the module doc).

    Iterates on each pair problem's :math:`g` with the map
    :math:`G(g) = T_{yx}(T_{xy}(g))`; the plan :math:`(T_{xy}(g), g)` has exact row sums
    and the column error of the residual. A problem's memory is cleared when its error
    grows by :data:`RESTART_GROWTH`. Safeguard: when its error exceeds
    :data:`REVERT_GROWTH` times the best one seen at this stage, the iterate goes back to
    the plain image of that best point and the iteration stays plain (a contraction)
    until it finds a better one. The secant model of Anderson's method is only valid
    within ~eps of the iterate (the softmin's scale), while in unbalanced OT its steps
    along the slow direction :math:`(f - c, g + c)`, contracted by :math:`\\lambda^2`
    only, are :math:`1/(1 - \\lambda^2) \\approx \\rho / (2\\varepsilon)` times the
    residual: at small eps they jump between the pieces of the nearly piecewise-affine
    map and can cycle there, above the tolerance, without ever doubling their error.
    """
    tol, symmetric_tol = tols
    eps, pairs = stage.eps, _pairs(stage)
    histories = {k: AndersonHistory() for k in pairs}
    previous = dict.fromkeys(pairs, float("inf"))
    best = {k: (float("inf"), state.gs[k]) for k in pairs}  # best error, its plain image
    plain = dict.fromkeys(pairs, False)  # after a revert: plain steps until a new best
    gs, n = {k: state.gs[k] for k in pairs}, 0
    progress, watch = Progress(floor=floor), MapWatch(stage) if watch_maps else None
    while n < budget:
        images, errors = {}, {}
        for k in pairs:
            p = stage.interactions[k]
            f = _t_xy(p, eps, gs[k])
            images[k] = (f, _t_yx(p, eps, f))
            errors[k] = float(marginal_residual(gs[k], images[k][1], p.b, p.lam(eps) * eps).max())
        symmetric = _symmetric_updates(stage, state, symmetric_tol)
        n += 1
        error = _worst(0.0, *errors.values())
        sym_error = symmetric.get("symmetric_error", state.symmetric_error)
        done = error <= tol and sym_error <= symmetric_tol  # type: ignore[operator]
        for k in pairs:
            revert = False
            if errors[k] < best[k][0]:
                best[k], plain[k] = (errors[k], images[k][1]), False
            elif errors[k] > REVERT_GROWTH * best[k][0]:
                revert = plain[k] = True
                histories[k] = AndersonHistory()
            if errors[k] > RESTART_GROWTH * previous[k]:  # overshot: start afresh
                histories[k] = AndersonHistory()
            previous[k] = errors[k]
            if done:  # the plain image is never worse than g; no extrapolation at the end
                gs[k] = gs[k] if stage.keep_measured else images[k][1]
            elif revert:
                gs[k] = best[k][1]
            elif plain[k]:
                gs[k] = images[k][1]
            else:
                gs[k], histories[k] = anderson_step(
                    histories[k], gs[k], images[k][1], stage.interactions[k].b, memory
                )
        state = _commit(state, eps, {k: (images[k][0], gs[k]) for k in pairs}, symmetric, error)
        if callback is not None:
            callback(state)
        if done or progress.stalled(state.error) or _settled(watch, progress, state):
            break
    return state


def _converge_symmetric(
    stage: Stage, state: SinkhornState, tol: float, budget: int, callback: Callback | None
) -> SinkhornState:
    """Averaged updates of the symmetric problems alone until they meet ``tol`` (the
    pair problems' potentials stay), or ``budget`` runs out, or their error stalls."""
    progress, n = Progress(), 0
    while n < budget:
        symmetric = _symmetric_updates(stage, state, tol)
        if not symmetric:  # none, or converged at this temperature
            break
        state = _commit(state, stage.eps, {}, symmetric, state.marginal_error)
        n += 1
        if callback is not None:
            callback(state)
        if progress.stalled(state.symmetric_error):
            break
    return state


def _settled(watch: MapWatch | None, progress: Progress, state: SinkhornState) -> bool:
    """Near the rounding floor of the final temperature: whether the maps have settled."""
    near = state.error <= SETTLE_ZONE * progress.floor
    return watch is not None and near and watch.settled(state)


def log_convolve(p: Interaction, eps: float, h: Tensor) -> Tensor:
    """:math:`\\log \\sum_j e^{h_j - C_{ij}/\\varepsilon}` with the kernel of ``p``."""
    return p.xy.softmin(eps, h) / -eps


def initial_free(stage: Stage) -> tuple[Tensor, Tensor]:
    """log q and log d at the first stage: q the target weights given (uniform), d the
    solution of :math:`d \\odot K d = q` after one averaged step from 1."""
    log_q = stage.interactions[0].b_log[:1]
    if len(stage.interactions) < 2:
        return log_q, torch.zeros_like(log_q)
    kernel = stage.interactions[1]
    return log_q, (log_q - log_convolve(kernel, stage.eps, torch.zeros_like(log_q))) / 2


def free_step(stage: Stage, state: SinkhornState, free: FreeMeasure) -> SinkhornState:
    """One iterative Bregman projection of a barycenter (line 3 of the module doc).

    The error is the L1 error of the input marginals of the plans
    :math:`(f_k, g_k, q)` this iteration started from (their second marginals are q
    exactly); the symmetric error, of :math:`d \\odot K d = q`.
    """
    eps, p = stage.eps, stage.interactions[0]
    log_q, log_d = state.free  # type: ignore[misc]
    f = p.xy.softmin(eps, log_q + state.gs[0] / eps)
    error = float(marginal_residual(state.fs[0], f, p.a, eps).max())
    g = _t_yx(p, eps, f)
    new_q = log_d - (free.weights * g).sum(0, keepdim=True) / eps
    symmetric_error = 0.0
    if free.debias:  # d K d = q, averaged updates: one softmin on one grid each
        q = new_q.exp()  # |d K d - q|, never inf * 0 where q underflows
        for step in range(DEBIAS_STEPS):
            k_d = log_convolve(stage.interactions[1], eps, log_d)
            if step == DEBIAS_STEPS - 1:  # the error of the d this last update starts from
                symmetric_error = float((torch.exp(log_d + k_d) - q).abs().sum() / q.sum())
            log_d = (log_d + new_q - k_d) / 2
    fs, gs = list(state.fs), list(state.gs)
    fs[0], gs[0] = f, g
    return state.set(
        fs=tuple(fs), gs=tuple(gs), eps=eps, iteration=state.iteration + 1,
        marginal_error=error, symmetric_error=symmetric_error, free=(new_q, log_d),
    )  # fmt: skip


def _converge_free(
    stage: Stage, state: SinkhornState, tols: tuple[float, float], budget: int, memory: int,
    callback: Callback | None,
) -> SinkhornState:  # fmt: skip
    """Bregman projections at one stage until both errors meet ``tols``.

    With ``memory`` > 0, Anderson-accelerated on the potentials :math:`g_k/\\varepsilon`
    (q follows them, d keeps its own averaged updates). Measured on two 64 x 64
    silhouettes at a blur of one cell, debiased: 46 iterations instead of 365 to a
    marginal error of 1e-3, but that answer is 0.029 (L1) from the converged one, the
    plain one 0.0027; 272 iterations to 1e-5. Extrapolating d as well diverged on four
    shapes. So :func:`~brenier.barycenter` keeps plain projections by default.
    """
    free = stage.free
    assert free is not None
    eps, progress, n = stage.eps, Progress(), 0
    history, previous = AndersonHistory(), float("inf")
    while n < budget:
        new = free_step(stage, state, free)
        n += 1
        done = new.marginal_error <= tols[0] and new.symmetric_error <= tols[1]
        if memory > 0 and not done:
            if new.error > RESTART_GROWTH * previous:
                history = AndersonHistory()
            previous = new.error
            u, image = _free_vector(state, eps), _free_vector(new, eps)
            step, history = anderson_step(history, u, image, torch.ones_like(u), memory)
            new = _from_free_vector(new, step, eps, free)
        state = new
        if callback is not None:
            callback(state)
        if done or progress.stalled(state.error):
            break
    return state


def _free_vector(state: SinkhornState, eps: float) -> Tensor:
    """The potentials g_k / eps as one (1, K M) vector."""
    return (state.gs[0] / eps).reshape(1, -1)


def _from_free_vector(
    state: SinkhornState, u: Tensor, eps: float, free: FreeMeasure
) -> SinkhornState:
    """The state with extrapolated g_k, and q = d exp(-sum_k w_k g_k / eps) to match."""
    gs = list(state.gs)
    gs[0] = u.reshape(gs[0].shape) * eps
    log_d = state.free[1]  # type: ignore[index]
    log_q = log_d - (free.weights * gs[0]).sum(0, keepdim=True) / eps
    return state.set(gs=tuple(gs), free=(log_q, log_d))


def rounding_floor(eps: float, first_eps: float, dtype: torch.dtype) -> float:
    """The marginal error that rounding leaves at temperature ``eps``.

    The costs enter the softmin as :math:`C/\\varepsilon`, up to
    :math:`\\text{diameter}^p/\\varepsilon` = ``first_eps / eps``, rounded to the dtype's
    relative precision. Measured in float32 on close 3D shapes at blur 0.005 (ratio
    7e4): the error stalls at 5e-4, 1/15 of ``finfo.eps * ratio``; we take 1/8. In
    float64 it is below 1e-11.
    """
    return torch.finfo(dtype).eps * first_eps / eps / 8


def sinkhorn_loop(
    strategy: KernelStrategy, options: LoopOptions, dtype: torch.dtype
) -> tuple[SinkhornState, Status, Stage]:
    """Runs the eps-scaling loop without autograd; returns the last state, status and stage.

    Args:
        strategy: supplies the kernels of every problem at each stage.
        options: tolerance, iteration cap, acceleration, callback (:class:`LoopOptions`).
        dtype: the dtype of the potentials (for the rounding floor of ``tol``).
    """
    with torch.no_grad():
        temperatures = list(strategy.temperatures)
        stage, _ = strategy.stage(0, None)
        state = initial_state(stage)
        if stage.free is not None:
            state = state.set(free=initial_free(stage))
        callback, tol = options.callback, options.tol
        if tol is None:  # Line 4: GeomLoss's schedule, no convergence check.
            for index in range(len(temperatures)):
                stage, state = _next_stage(strategy, index, stage, state)
                if state.iteration >= options.max_iter:  # a hard cap
                    continue
                state = symmetric_step(stage, state)
                if callback is not None:
                    callback(state)
            return state, Status.NOT_CHECKED, stage
        first = temperatures[0]
        floor_at_blur = rounding_floor(temperatures[-1], first, dtype)
        asked, tol = tol, max(tol, floor_at_blur)
        presolved = False
        for index, eps in enumerate(temperatures):
            # The strategy still moves the state through every stage (a multiscale solve
            # must end on the points), but max_iter is a hard cap on the iterations.
            stage, state = _next_stage(strategy, index, stage, state)
            final = index == len(temperatures) - 1
            budget = options.max_iter - state.iteration
            if budget <= 0:
                continue
            if not final:
                budget = min(budget, MAX_ITER_PER_LEVEL)
            # An intermediate temperature only hands a start to the next one: 1e-3 is
            # enough (measured on close shapes, 500 points, blur 0.005: 372 iterations in
            # all; 416 with 3e-4 and 798 with 1e-4 at every level). The symmetric problems
            # get one update per stage before the last; before a jump to the points (the
            # last temperature of a coarser multiscale level) they are then converged
            # alone, cheap there, and the points start from them. Measured at the
            # defaults, blur 0.01: at 10^4 points, converging them with the pair problems
            # at every multiscale stage gave the same 81 iterations and value for 36
            # softmins more on the points (0.25 s against 0.23; gradients as close at
            # 10^4 and 10^5 points, ``benchmarks/results/stopping_*_symonce.json``); at
            # 10^6 points (only the last stage on them), one update before the jump left
            # them rough for the points: 66 s against 55. Converged before the jump, they
            # no longer hold the last temperature above the floor's zone: the close shapes
            # at 10^4 points stop after 165 iterations, 0.49% of the gradient off (206
            # and 0.20% without; the online backend: 165 and 0.53%).
            handover = INTERMEDIATE_TOL if stage.free is None else FREE_INTERMEDIATE_TOL
            floor = rounding_floor(eps, first, dtype)
            # A presolve (the last temperature on coarser entities, multiscale) is
            # converged as the last temperature would be, where its iterations are cheap;
            # the stages after it (a finer presolve, the last one) start near its
            # solution and only polish: they stop in the floor's zone (the maps settled
            # upstream). Measured at the defaults, blur 0.01, gradients against float64
            # converged ones (``benchmarks/stopping.py``): at 10^5 points 0.61%, 0.40%,
            # 0.04% (0.42%, 0.39%, 0.01% with the map watch on the points); at 10^6
            # points 1 iteration on the points instead of 13 (56 s -> 9 s).
            presolve = stage.presolve and not final
            polish = (final or presolve) and presolved
            level_tol = tol if final or presolve else max(tol, handover)
            if polish:
                level_tol = max(tol, SETTLE_ZONE * floor)
            tols = (level_tol, level_tol if final or presolve else float("inf"))
            watch_maps = (final or presolve) and not polish
            presolved = presolved or presolve
            # At the rounding floor, residual differences are noise and Anderson's
            # extrapolation wanders (float32, dense, blur 0.005: 1,937 iterations vs 898
            # over-relaxed); the near-floor rule of ``Progress`` stops it there. Measured
            # with that rule, float32, debiased, defaults, gradient vs float64 converged:
            # 2,000 points of the Demosthenes scan warped by 3%, blur 0.01, online: 211
            # iterations, 0.39% (over-relaxed without the rule: 1,114, 0.43%); 500 points,
            # blur 0.005, dense: 237, 3.5% (586, 2.5%: that blur is below float32's reach
            # either way). The floor of each temperature goes to ``Progress``.
            if stage.free is not None:
                state = _converge_free(stage, state, tols, budget, options.anderson, callback)
            elif options.anderson > 0:
                state = _converge_accelerated(
                    stage, state, tols, budget, options.anderson, callback, floor, watch_maps
                )
            else:
                state = _converge_relaxed(
                    stage, state, tols, budget, options.relaxation, callback, floor, watch_maps
                )
            if stage.jump and not final:
                budget = min(options.max_iter - state.iteration, MAX_ITER_PER_LEVEL)
                state = _converge_symmetric(stage, state, level_tol, budget, callback)
        # Near the floor the loop stops once the error no longer falls (``Progress``,
        # within NEAR_FLOOR of the estimate) or the transport maps no longer move
        # (``_settling``, within its ZONE): the error is the rounding's.
        near_floor = max(NEAR_FLOOR, SETTLE_ZONE) * floor_at_blur
        status = final_status(state.error, asked, near_floor, state.iteration, options.max_iter)
        return state, status, stage


def _next_stage(
    strategy: KernelStrategy, index: int, stage: Stage, state: SinkhornState
) -> tuple[Stage, SinkhornState]:
    """Stage ``index`` from the strategy (stage 0 is already there), the state moved onto it."""
    if index == 0:
        return stage, state
    stage, moved = strategy.stage(index, state)
    return stage, state if moved is None else moved
