"""Public entry points of the Sinkhorn solver: :func:`solve` and :func:`sinkhorn_divergence`."""

from __future__ import annotations

import time
import warnings

import torch
from torch import Tensor

from .._validation import PREFIX, Measures, check_equal_masses, check_positive, check_scaling
from ..geometry import CostFunction, Geometry, Grid, bounding_diameter, make_cost
from ..kernels import BackendRequest, KernelBackend, choose_backend, needs_grids
from ..kernels.block_sparse import MultiscaleBackend
from ..problems import Objective, safe_log, semi_dual_value
from ..results import OTResult, Status
from ._acceleration import DEFAULT_MEMORY
from ._fixed import FixedKernels, interactions
from ._inputs import check_loop_options, measures_of
from ._pyramid import GridPyramid
from ._scale import check_blur_scale, not_finite_message
from ._schedule import epsilon_schedule
from ._sinkhorn import sinkhorn_loop
from ._stages import DEFAULT_RELAXATION, DEFAULT_TOL, Callback, LoopOptions, SinkhornState, Stage
from .multiscale import MultiscaleStrategy

__all__ = ["DEFAULT_TOL", "sinkhorn_divergence", "solve"]


def solve(
    x: Tensor | Geometry,
    y: Tensor | Geometry,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    p: int = 2,
    cost: CostFunction | None = None,
    blur: float = 0.05,
    scaling: float = 0.5,
    reach: float | None = None,
    debias: bool = True,
    diameter: float | None = None,
    tol: float | None = DEFAULT_TOL,
    max_iter: int = 10_000,
    relaxation: float = DEFAULT_RELAXATION,
    anderson: int = DEFAULT_MEMORY,
    backend: str | KernelBackend = "auto",
    memory_budget: int | None = None,
    callback: Callback | None = None,
) -> OTResult:
    """Entropic optimal transport between two weighted point clouds.

    Solves, with the log-domain symmetric Sinkhorn loop and eps-scaling,

    .. math::

        OT_\\varepsilon(a, b) = \\min_{\\pi \\ge 0} \\langle \\pi, C \\rangle
            + \\varepsilon\\, \\mathrm{KL}(\\pi \\,|\\, a \\otimes b)
            + \\rho\\, \\mathrm{KL}(\\pi 1 \\,|\\, a)
            + \\rho\\, \\mathrm{KL}(\\pi^\\top 1 \\,|\\, b)

    with :math:`\\varepsilon = \\text{blur}^p` and :math:`\\rho = \\text{reach}^p`
    (balanced OT, hard marginal constraints, when ``reach`` is ``None``), and returns
    the debiased Sinkhorn divergence
    :math:`S_\\varepsilon(a, b) = OT_\\varepsilon(a, b) - \\tfrac12 OT_\\varepsilon(a, a)
    - \\tfrac12 OT_\\varepsilon(b, b)` (``debias=True``) with its potentials.

    Args:
        x: source points, (N, D) or batched (B, N, D); or a geometry with its weights
            (:class:`~brenier.geometry.PointCloud`, :class:`~brenier.geometry.Grid`).
        y: target points, (M, D) or (B, M, D); or a geometry.
        a: source weights (N,) or (B, N), non-negative; default uniform 1/N (``None``
            when ``x`` is a geometry).
        b: target weights (M,) or (B, M); default uniform 1/M.
        p: 2 for :math:`C = |x-y|^2/2`, 1 for :math:`C = |x-y|`.
        cost: a callable ``(x (B,N,D), y (B,M,D)) -> (B,N,M)`` cost matrix instead of ``p``
            (dense backend only; eps = blur**2).
        blur: final blur; the temperature is ``eps = blur**p``. Smaller is closer to exact
            OT and slower.
        scaling: ratio between two successive blurs of the eps-scaling, in (0, 1).
        reach: ``None`` for balanced OT, else the scale beyond which mass is destroyed
            rather than transported (unbalanced / robust OT).
        debias: return the debiased divergence (default) or the raw OT_eps(a, b).
        diameter: largest distance in the problem (default: bounding box of both clouds).
        tol: L1 marginal error to reach at the final blur; ``None``: one iteration per
            blur and no check (GeomLoss's behaviour). In float32 at a blur below ~1% of the
            diameter, rounding bounds the reachable error (about 1e-3 at 0.5%): the loop
            stops there (:func:`brenier.solvers._sinkhorn.rounding_floor`) with status
            ``ROUNDING_FLOOR``; ``CONVERGED`` always means ``marginal_error <= tol``.
        max_iter: hard cap on the total number of iterations.
        relaxation: over-relaxation factor omega in [1, 2) of the Sinkhorn updates when
            ``anderson=0`` (1 is plain Sinkhorn; see :mod:`brenier.solvers._sinkhorn`).
        anderson: memory of the Anderson acceleration of the Sinkhorn iterations
            (default 8); 0 turns it off for over-relaxed updates. Every backend honours it.
        backend: ``"auto"``, the name of a shipped backend (``"dense"``, ``"online"``,
            ``"keops"``, ``"multiscale"``) or a backend object (e.g.
            ``MultiscaleBackend(truncate=8)``); the rule of ``"auto"`` is documented in
            :func:`brenier.kernels.choose_backend`.
        memory_budget: bytes allowed for dense cost matrices (default 2 GiB).
        callback: called with a :class:`~brenier.solvers.SinkhornState` after every
            iteration, e.g. to record the potentials for a figure.

    Returns:
        An :class:`~brenier.results.OTResult`. ``value`` is differentiable wrt. ``x``,
        ``y``, ``a`` and ``b`` (envelope theorem: no backpropagation through the loop).

    Shapes:
        x (N, D), y (M, D) -> value (), f (N,), g (M,);
        x (B, N, D), y (B, M, D) -> value (B,), f (B, N), g (B, M);
        a grid of shape (H, W) -> f (H * W,) in C order.

    Example:
        >>> import torch, brenier
        >>> x = torch.randn(200, 3, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.01)
        >>> round(float(res.value), 2)  # |shift|^2 / 2 = 3 / 2
        1.5
        >>> from brenier.geometry import PointCloud
        >>> same = brenier.solve(PointCloud(x), PointCloud(x + 1.0), blur=0.01)
        >>> bool(same.value == res.value)
        True
    """
    x_geo, y_geo = measures_of(x, y, a, b)
    if reach is None:
        check_equal_masses(
            Measures(x_geo.support, y_geo.support, x_geo.weights, y_geo.weights, x_geo.batched)
        )
    blur = check_positive("blur", blur, "Typical values: 0.01-0.1 times the shape's size.")
    scaling = check_scaling(scaling)
    rho_reach = None if reach is None else check_positive("reach", reach)
    if diameter is not None:
        diameter = check_positive("diameter", diameter)
    options = check_loop_options(tol, max_iter, relaxation, anderson, callback)
    c = make_cost(p, cost)
    objective = Objective.divergence(x_geo, y_geo, c, rho_reach, debias)
    support = x_geo.support
    request = BackendRequest(
        backend,
        c,
        (support.shape[0], support.shape[1], y_geo.support.shape[1]),
        dim=x_geo.dim,
        itemsize=support.element_size(),
        device_type=support.device.type,
        debias=debias,
        memory_budget=memory_budget,
        purpose="loop",
        grids=isinstance(x_geo, Grid) and isinstance(y_geo, Grid),
    )
    kernels = choose_backend(request)

    t0 = time.perf_counter()
    eps = blur**c.exponent
    diam = bounding_diameter(x_geo, y_geo) if diameter is None else diameter
    check_blur_scale(blur, diam, c.exponent, x_geo.weights.dtype)
    schedule = epsilon_schedule(c.exponent, max(diam, blur), blur, scaling)
    runs = _run(objective, kernels, schedule, options)
    t1 = time.perf_counter()
    parts = [_value(objective, state, stage, eps, rows) for state, _, stage, rows in runs]
    value, f, g = (torch.cat([part[i] for part in parts]) for i in range(3))  # type: ignore[misc]
    f_aa, g_bb = (
        None if parts[0][i] is None else torch.cat([part[i] for part in parts])  # type: ignore[misc]
        for i in (3, 4)
    )
    t2 = time.perf_counter()
    states = [state for state, _, _, _ in runs]
    statuses = [status for _, status, _, _ in runs]
    status = next((st for st in statuses if st is not Status.CONVERGED), statuses[0])
    # The error the status was judged on: the pair's and, when debiased, the symmetric
    # problems' (a pair at 3e-6 with OT(b, b) at the rounding floor is not converged).
    marginal_error = max(s.error for s in states)

    if not bool(torch.isfinite(value.detach()).all()):
        why = f"status {status.value}, marginal error {marginal_error:.2g}"
        raise FloatingPointError(not_finite_message(blur, diam, c.exponent, support.dtype, why))
    unbatch = (lambda t: t) if x_geo.batched else (lambda t: t.squeeze(0))
    return OTResult(
        value=unbatch(value),
        f=unbatch(f),
        g=unbatch(g),
        f_aa=None if f_aa is None else unbatch(f_aa),
        g_bb=None if g_bb is None else unbatch(g_bb),
        debiased=debias,
        blur=blur,
        eps=eps,
        reach=rho_reach,
        p=c.exponent,
        marginal_error=marginal_error,
        iterations=max(s.iteration for s in states),
        eps_schedule=tuple(schedule),
        backend=kernels.name,
        status=status,
        timings={"loop": t1 - t0, "value": t2 - t1},
        objective=Objective.divergence(x_geo.detach(), y_geo.detach(), c, rho_reach, debias),
        kernel_backend=kernels,
        tol=options.tol,
    )


def _run(
    objective: Objective, backend: KernelBackend, schedule: list[float], options: LoopOptions
) -> list[tuple[SinkhornState, Status, Stage, slice]]:
    """The loop with the backend's strategy: the multiscale strategy once per batch item
    (its grids differ between items), the pyramid of grid measures, fixed kernels for the
    whole batch otherwise.
    Returns each run's state, status, last stage (differentiable) and batch rows."""
    x, y = objective.transport.x, objective.transport.y
    dtype = x.weights.dtype
    if needs_grids(backend):
        pyramid = GridPyramid(objective, backend, schedule)
        state, status, stage = sinkhorn_loop(pyramid, options, dtype)
        return [(state, status, pyramid.differentiable(stage), slice(None))]
    if not isinstance(backend, MultiscaleBackend):
        strategy = FixedKernels(schedule, interactions(objective, backend))
        state, status, stage = sinkhorn_loop(strategy, options, dtype)
        return [(state, status, strategy.differentiable(stage), slice(None))]
    runs = []
    for i in range(x.weights.shape[0]):
        rows = slice(i, i + 1)
        item = MultiscaleStrategy(
            x.support[rows], y.support[rows], x.weights[rows], y.weights[rows], schedule,
            rho=objective.transport.rho, debias=objective.debiased, backend=backend,
            tol=options.tol, p=objective.transport.cost.p or 2,
        )  # fmt: skip
        state, status, stage = sinkhorn_loop(item, options, dtype)
        runs.append((state, status, item.differentiable(stage), rows))
    return runs


def _value(
    objective: Objective, state: SinkhornState, stage: Stage, eps: float, rows: slice
) -> tuple[Tensor | None, ...]:
    """Envelope theorem: one last reduction per problem with autograd, potentials detached.

    With the semi-dual :math:`V_k` of each problem (``problems/_duals.py``), the value is
    :math:`\\sum_k c_k V_k`, (B,) for the batch ``rows`` of this run; also returns the
    potentials f, g and, when debiased, f_aa and g_bb.
    """
    terms, out = [], []
    for k, (problem, c, p) in enumerate(
        zip(objective.problems, objective.coefficients, stage.interactions, strict=True)
    ):
        a, b = problem.x.weights[rows], problem.y.weights[rows]
        g = state.gs[k].detach()
        s = p.xy.softmin(eps, safe_log(b) + g / eps)
        terms.append(c * semi_dual_value(s, g, a, b, eps, p.rho))
        out.append(p.lam(eps) * s.detach())
    value = sum(terms[1:], terms[0])
    f, g = out[0], state.gs[0].detach()
    if objective.transport.rho is None:  # fix the gauge (f + c, g - c): <a, f> = <b, g>
        a, b = (w.weights[rows].detach() for w in (objective.transport.x, objective.transport.y))
        shift = ((b * g).sum(-1, keepdim=True) - (a * f).sum(-1, keepdim=True)) / 2
        f, g = f + shift, g - shift
    if len(out) == 1:
        return value, f, g, None, None
    return value, f, g, out[1], state.gs[2].detach()


def sinkhorn_divergence(
    x: Tensor | Geometry,
    y: Tensor | Geometry,
    a: Tensor | None = None,
    b: Tensor | None = None,
    **options: object,
) -> Tensor:
    """The debiased Sinkhorn divergence :math:`S_\\varepsilon(a, b)` as a differentiable tensor.

    Takes the same keyword arguments as :func:`solve` and returns ``solve(...).value``.
    It is >= 0, = 0 iff a = b, and tends to the exact OT cost as ``blur -> 0``. Warns
    when the loop stopped before reaching its tolerance.

    Example:
        >>> import torch, brenier
        >>> x = torch.randn(100, 2, dtype=torch.float64)
        >>> float(brenier.sinkhorn_divergence(x, x)) < 1e-8
        True
    """
    result = solve(x, y, a, b, **options)  # type: ignore[arg-type]
    warn_unless_ok(result, stacklevel=3)
    return result.value


def warn_unless_ok(result: OTResult, stacklevel: int = 2) -> None:
    """Warns (RuntimeWarning) when a solve stopped above its tolerance, with the numbers
    and the remedy; for the losses, which return the value only."""
    if result.status.ok:
        return
    dtype = str(result.value.dtype).removeprefix("torch.")
    warnings.warn(
        f"{PREFIX} status={result.status.value}: marginal error {result.marginal_error:.2e} "
        f"above tol={result.tol:g} ({dtype}, blur={result.blur:g}, {result.iterations} "
        f"iterations). {result.status.message}",
        RuntimeWarning,
        stacklevel=stacklevel,
    )
