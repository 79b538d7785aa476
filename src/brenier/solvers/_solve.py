"""Public entry points of the Sinkhorn solver: :func:`solve` and :func:`sinkhorn_divergence`."""

from __future__ import annotations

import time
import warnings

import torch
from torch import Tensor

from .._validation import (
    PREFIX,
    Measures,
    check_equal_masses,
    check_measures,
    check_positive,
    check_scaling,
)
from ..geometry import CostFunction, make_cost
from ..geometry import diameter as bounding_diameter
from ..kernels import choose_backend
from ..results import OTResult, final_status
from ._acceleration import DEFAULT_MEMORY
from ._duals import damping, safe_log, semi_dual_value
from ._scale import check_blur_scale, not_finite_message
from ._schedule import epsilon_schedule
from ._sinkhorn import DEFAULT_RELAXATION, Callback, Interactions, rounding_floor, sinkhorn_loop

#: Default stopping tolerance on the L1 marginal error at the final blur: at 1e-3 the
#: gradient was measured 1.7-2.6% (relative L2) off the converged one on close shapes
#: at blur 0.005; at 1e-4, 0.2% (``benchmarks/sinkhorn_accuracy.py``).
DEFAULT_TOL = 1e-4


def solve(
    x: Tensor,
    y: Tensor,
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
    backend: str = "auto",
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
        x: source points, (N, D) or batched (B, N, D).
        y: target points, (M, D) or (B, M, D).
        a: source weights (N,) or (B, N), non-negative; default uniform 1/N.
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
            (default 8); 0 turns it off for over-relaxed updates. Backends that drive the
            loop themselves (multiscale) use their own setting.
        backend: ``"auto"``, ``"dense"``, or another registered kernel backend; the rule
            of ``"auto"`` is documented in :func:`brenier.kernels.choose_backend`.
        memory_budget: bytes allowed for dense cost matrices (default 2 GiB).
        callback: called with a :class:`~brenier.solvers.SinkhornState` after every
            iteration, e.g. to record the potentials for a figure.

    Returns:
        An :class:`~brenier.results.OTResult`. ``value`` is differentiable wrt. ``x``,
        ``y``, ``a`` and ``b`` (envelope theorem: no backpropagation through the loop).

    Shapes:
        x (N, D), y (M, D) -> value (), f (N,), g (M,);
        x (B, N, D), y (B, M, D) -> value (B,), f (B, N), g (B, M).

    Example:
        >>> import torch, brenier
        >>> x = torch.randn(200, 3, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.01)
        >>> round(float(res.value), 2)  # |shift|^2 / 2 = 3 / 2
        1.5
    """
    m = check_measures(x, y, a, b)
    if reach is None:
        check_equal_masses(m)
    blur = check_positive("blur", blur, "Typical values: 0.01-0.1 times the shape's size.")
    scaling = check_scaling(scaling)
    rho_reach = None if reach is None else check_positive("reach", reach)
    if diameter is not None:
        diameter = check_positive("diameter", diameter)
    if tol is not None:
        tol = check_positive("tol", tol)
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"{PREFIX} `max_iter` must be a positive integer, got {max_iter!r}.")
    if not isinstance(relaxation, (int, float)) or not 1 <= relaxation < 2:
        raise ValueError(f"{PREFIX} `relaxation` must lie in [1, 2), got {relaxation!r}.")
    if not isinstance(anderson, int) or anderson < 0:
        raise ValueError(
            f"{PREFIX} `anderson` must be a non-negative integer (0 turns the acceleration "
            f"off), got {anderson!r}."
        )
    c = make_cost(p, cost)
    B, N, _ = m.x.shape
    kernels = choose_backend(
        backend,
        c,
        (B, N, m.y.shape[1]),
        m.x.element_size(),
        debias,
        memory_budget,
        m.x.device.type,
        dim=m.x.shape[-1],
    )

    t0 = time.perf_counter()
    power = c.exponent
    eps = blur**power
    rho = None if rho_reach is None else rho_reach**power
    diam = bounding_diameter(m.x, m.y) if diameter is None else diameter
    check_blur_scale(blur, diam, power, m.x.dtype)
    schedule = epsilon_schedule(power, max(diam, blur), blur, scaling)
    run_loop = getattr(kernels, "run_loop", None)
    if run_loop is not None:  # backends that drive the loop themselves (multiscale)
        t1 = time.perf_counter()
        problems, state, status = run_loop(
            m.x, m.y, m.a.detach(), m.b.detach(), schedule, debias=debias, callback=callback,
            rho=rho, tol=tol, max_iter=max_iter, relaxation=float(relaxation),
        )  # fmt: skip
    else:
        problems = Interactions(
            xy=kernels.pair(m.x, m.y, c),
            yx=kernels.pair(m.y, m.x, c),
            xx=kernels.pair(m.x, m.x, c) if debias else None,
            yy=kernels.pair(m.y, m.y, c) if debias else None,
        )
        t1 = time.perf_counter()
        state, status = sinkhorn_loop(
            problems,
            m.a.detach(),
            m.b.detach(),
            schedule,
            rho=rho,
            tol=tol,
            max_iter=max_iter,
            relaxation=float(relaxation),
            anderson=anderson,
            callback=callback,
        )
    t2 = time.perf_counter()
    if tol is not None:  # one rule for every backend: converged means error <= the tol asked
        floor = rounding_floor(eps, schedule, m.x.dtype)
        status = final_status(state.error, tol, floor, state.iteration, max_iter)

    # Envelope theorem: one last reduction per problem with autograd, potentials detached.
    lam = damping(eps, rho)
    a_log, b_log = safe_log(m.a), safe_log(m.b)
    g = state.g.detach()
    s = problems.xy.softmin(eps, b_log + g / eps)
    value = semi_dual_value(s, g, m.a, m.b, eps, rho)
    f_aa = g_bb = None
    if problems.xx is not None and problems.yy is not None:
        assert state.f_aa is not None and state.g_bb is not None  # set by the loop
        f_aa_in, g_bb_in = state.f_aa.detach(), state.g_bb.detach()
        s_aa = problems.xx.softmin(eps, a_log + f_aa_in / eps)
        s_bb = problems.yy.softmin(eps, b_log + g_bb_in / eps)
        value_aa = semi_dual_value(s_aa, f_aa_in, m.a, m.a, eps, rho)
        value_bb = semi_dual_value(s_bb, g_bb_in, m.b, m.b, eps, rho)
        value = value - (value_aa + value_bb) / 2
        f_aa, g_bb = lam * s_aa.detach(), state.g_bb.detach()
    f = lam * s.detach()
    if rho is None:  # fix the gauge (f + c, g - c) so that <a, f> = <b, g>, as GeomLoss's does
        shift = (
            (m.b.detach() * g).sum(-1, keepdim=True) - (m.a.detach() * f).sum(-1, keepdim=True)
        ) / 2
        f, g = f + shift, g - shift
    t3 = time.perf_counter()

    if not bool(torch.isfinite(value.detach()).all()):
        why = f"status {status.value}, marginal error {state.marginal_error:.2g}"
        raise FloatingPointError(not_finite_message(blur, diam, power, m.x.dtype, why))
    unbatch = (lambda t: t) if m.batched else (lambda t: t.squeeze(0))
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
        p=power,
        marginal_error=state.marginal_error,
        iterations=state.iteration,
        eps_schedule=tuple(schedule),
        backend=kernels.name,
        status=status,
        timings={"prepare": t1 - t0, "loop": t2 - t1, "value": t3 - t2},
        measures=Measures(m.x.detach(), m.y.detach(), m.a.detach(), m.b.detach(), m.batched),
        cost=c,
        tol=tol,
    )


def sinkhorn_divergence(
    x: Tensor,
    y: Tensor,
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
