"""Free-support Wasserstein barycenters of point clouds: :func:`free_support_barycenter`.

The barycenter of K weighted clouds :math:`\\nu_k = \\sum_j b_{kj} \\delta_{y_{kj}}`
with weights :math:`w_k` is searched among the uniform measures on ``n_points`` free
points :math:`X = (x_1, \\dots, x_n)`, :math:`\\mu_X = \\frac1n \\sum_i \\delta_{x_i}`:

.. math::

    X^\\star \\in \\arg\\min_X F(X), \\qquad
    F(X) = \\sum_k w_k\\, OT_\\varepsilon(\\mu_X, \\nu_k),
    \\quad C(x, y) = \\tfrac12 |x - y|^2 .

With the optimal plans :math:`\\pi_k` of the K problems at the current X held fixed,
:math:`G(X') = \\sum_k w_k (\\langle \\pi_k, C(X', Y_k) \\rangle + \\varepsilon
\\mathrm{KL}(\\pi_k | \\mu_X \\otimes \\nu_k))` is a quadratic majorant of F that
touches it at X; its minimiser is the weighted mean of the barycentric projections,

.. math::

    x_i \\leftarrow \\sum_k w_k\\, T_k(x_i), \\qquad
    T_k(x_i) = n \\sum_j \\pi_{k,ij}\\, y_{kj},

so the fixed-point iteration (Cuturi and Doucet 2014, Alvarez-Esteban et al. 2016)
decreases F at every step. As blur -> 0 it is the exact free-support barycenter
iteration (a local minimum: the problem is not convex in X); at a positive blur each
:math:`T_k` averages over about a blur, which shrinks the support by about
:math:`\\varepsilon` in variance per axis.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..._validation import PREFIX, check_barycentric_weights, check_positive, check_scaling
from ...geometry import PointCloud
from ...results import Status
from ...solvers import solve
from ._inputs import check_clouds

#: Default tolerance on the support's move per iteration, relative to the clouds' spread.
FREE_SUPPORT_TOL = 1e-3


@dataclass(frozen=True)
class FreeSupportResult:
    """What :func:`free_support_barycenter_result` returns.

    Attributes:
        support: the barycenter's points (n_points, D), each of mass 1 / n_points.
        iterations: fixed-point iterations done.
        converged: whether the last move was at most ``tol``.
        costs: :math:`F(X_i) = \\sum_k w_k OT_\\varepsilon(\\mu_{X_i}, \\nu_k)` at the
            support before each iteration (non-increasing up to the solves' tolerance).
        moves: per iteration, the RMS move of the points divided by the spread (the
            RMS radius of the weighted union of the clouds).
        status: the worst status of the last iteration's K solves.
    """

    support: Tensor
    iterations: int
    converged: bool
    costs: tuple[float, ...]
    moves: tuple[float, ...]
    status: Status


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{PREFIX} `{name}` must be an integer, got {value!r}.")
    if int(value) < 1:
        raise ValueError(f"{PREFIX} `{name}` must be >= 1, got {value}.")
    return int(value)


def _union(clouds: list[PointCloud], w: Tensor) -> tuple[Tensor, Tensor]:
    """The points of all clouds with masses w_k b_kj (clouds of weight 0 left out)."""
    keep = [k for k in range(len(clouds)) if float(w[k]) > 0]
    points = torch.cat([clouds[k].points[0] for k in keep])
    masses = torch.cat([w[k] * clouds[k].weights[0] / clouds[k].weights[0].sum() for k in keep])
    return points, masses


def kmeans_plus_plus(points: Tensor, masses: Tensor, n: int, seed: int) -> Tensor:
    """n points drawn from a weighted cloud by k-means++ seeding (Arthur and Vassilvitskii).

    The first point is drawn with probability proportional to its mass, each next one
    proportionally to mass times the squared distance to the nearest point drawn so
    far; once every point of positive mass is drawn, the rest are drawn by mass
    (repeated points: the barycenter of N points with 2N points doubles them).

    Returns the indices (n,) of the points drawn, deterministic given ``seed``.
    """
    pts, m = points.detach().cpu(), masses.detach().cpu()
    gen = torch.Generator().manual_seed(seed)
    chosen = torch.empty(n, dtype=torch.long)
    chosen[0] = torch.multinomial(m, 1, generator=gen)[0]
    d2 = ((pts - pts[chosen[0]]) ** 2).sum(-1)
    for i in range(1, n):
        score = m * d2
        chosen[i] = torch.multinomial(score if float(score.sum()) > 0 else m, 1, generator=gen)[0]
        d2 = torch.minimum(d2, ((pts - pts[chosen[i]]) ** 2).sum(-1))
    return chosen


def _check_init(init: Tensor | None, n_points: int, like: Tensor) -> Tensor | None:
    if init is None:
        return None
    if not isinstance(init, Tensor) or tuple(init.shape) != (n_points, like.shape[-1]):
        raise ValueError(
            f"{PREFIX} `init` must be a tensor of shape (n_points, D) = "
            f"({n_points}, {like.shape[-1]}), got {getattr(init, 'shape', type(init).__name__)}."
        )
    if init.dtype != like.dtype or init.device != like.device:
        raise TypeError(
            f"{PREFIX} `init` has dtype {init.dtype} on {init.device}; the clouds have "
            f"{like.dtype} on {like.device}."
        )
    if not bool(torch.isfinite(init).all()):
        raise ValueError(f"{PREFIX} `init` contains NaN or infinite values.")
    return init.detach()


def free_support_barycenter_result(
    clouds: Sequence[Tensor | PointCloud],
    weights: Tensor | Sequence[float] | None = None,
    *,
    n_points: int,
    blur: float,
    masses: Sequence[Tensor | None] | None = None,
    init: Tensor | None = None,
    seed: int = 0,
    tol: float = FREE_SUPPORT_TOL,
    max_iter: int = 100,
    scaling: float = 0.5,
    backend: str = "auto",
) -> FreeSupportResult:
    """The free-support barycenter of point clouds, with its iteration record.

    Takes the arguments of :func:`free_support_barycenter` and returns a
    :class:`FreeSupportResult` (support, iterations, costs, moves, status).
    """
    checked = check_clouds(clouds, masses)
    like = checked[0].points
    w = check_barycentric_weights(weights, len(checked), like)
    n_points = _check_count("n_points", n_points)
    blur = check_positive("blur", blur, "Typical values: 0.5-2% of the clouds' diameter.")
    tol = check_positive("tol", tol, "It bounds the support's move relative to its spread.")
    max_iter = _check_count("max_iter", max_iter)
    scaling = check_scaling(scaling)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{PREFIX} `seed` must be an integer, got {seed!r}.")

    points, mass = _union(checked, w)
    mean = (mass[:, None] * points).sum(0)
    spread = math.sqrt(float((mass * ((points - mean) ** 2).sum(-1)).sum())) or 1.0
    X = _check_init(init, n_points, like)
    if X is None:
        X = points[kmeans_plus_plus(points, mass, n_points, int(seed)).to(points.device)]
    costs: list[float] = []
    moves: list[float] = []
    status = Status.CONVERGED
    for _ in range(max_iter):
        moved = torch.zeros_like(X)
        cost, status = 0.0, Status.CONVERGED
        for k, cloud in enumerate(checked):
            if float(w[k]) == 0:
                continue
            res = solve(
                X, cloud.points[0], None, cloud.weights[0] / cloud.weights[0].sum(),
                blur=blur, debias=False, scaling=scaling, backend=backend,
            )  # fmt: skip
            cost += float(w[k]) * float(res.value)
            moved += w[k] * res.barycentric_projection()
            status = status if res.status.ok else res.status
        moves.append(float((moved - X).pow(2).sum(-1).mean().sqrt()) / spread)
        costs.append(cost)
        X = moved
        if moves[-1] <= tol:
            break
    converged = moves[-1] <= tol
    _warn(converged, status, moves[-1], tol, len(moves))
    return FreeSupportResult(X, len(moves), converged, tuple(costs), tuple(moves), status)


def _warn(converged: bool, status: Status, move: float, tol: float, iterations: int) -> None:
    if not converged:
        warnings.warn(
            f"{PREFIX} free_support_barycenter: the support still moved by {move:.2e} of its "
            f"spread after {iterations} iterations (tol={tol:g}); raise `max_iter`, or `tol`.",
            RuntimeWarning,
            stacklevel=3,
        )
    if not status.ok:
        warnings.warn(
            f"{PREFIX} free_support_barycenter: a transport problem ended with "
            f"status={status.value}. {status.message}",
            RuntimeWarning,
            stacklevel=3,
        )


def free_support_barycenter(
    clouds: Sequence[Tensor | PointCloud],
    weights: Tensor | Sequence[float] | None = None,
    *,
    n_points: int,
    blur: float,
    masses: Sequence[Tensor | None] | None = None,
    init: Tensor | None = None,
    seed: int = 0,
    tol: float = FREE_SUPPORT_TOL,
    max_iter: int = 100,
    scaling: float = 0.5,
    backend: str = "auto",
) -> Tensor:
    """The Wasserstein barycenter of K point clouds, on ``n_points`` free points.

    Minimises :math:`F(X) = \\sum_k w_k OT_\\varepsilon(\\mu_X, \\nu_k)` over the
    support X of a uniform measure :math:`\\mu_X` by the fixed point
    :math:`X \\leftarrow \\sum_k w_k T_k(X)`, with :math:`T_k` the barycentric projection
    of the entropic plan from :math:`\\mu_X` to cloud k (:func:`brenier.solve` with
    ``debias=False``); F decreases at every step (see
    :mod:`brenier.applications.barycenters._free_support`). It stops when the RMS move
    of the points is at most ``tol`` times the spread of the clouds (the RMS radius of
    their weighted union), and warns (RuntimeWarning) when ``max_iter`` came first.

    Args:
        clouds: K >= 1 point clouds, each a tensor (N_k, D) or an unbatched
            :class:`~brenier.geometry.PointCloud` (with its weights); one D, dtype and
            device.
        weights: the barycentric weights w_k (K,), non-negative; default uniform;
            normalised to sum 1. Clouds of weight 0 are not solved for.
        n_points: the number of points of the barycenter (uniform masses 1/n_points).
        blur: the entropic blur of every transport problem, in the clouds' units
            (eps = blur**2); about 1% of the diameter, and below the distance between
            neighbouring points for a sharp barycenter.
        masses: the clouds' point weights, one (N_k,) tensor or ``None`` (uniform) per
            cloud; each cloud is normalised to mass 1.
        init: the initial support (n_points, D); default: ``n_points`` points of the
            weighted union of the clouds drawn by k-means++ seeding with ``seed``.
        seed: the seed of the initial draw (the result is deterministic given it).
        tol: the stopping threshold on the relative RMS move per iteration.
        max_iter: cap on the fixed-point iterations (each solves K problems).
        scaling: ratio between two successive blurs of each solve's eps-scaling.
        backend: the kernel backend of the solves (see :func:`brenier.solve`).

    Returns:
        The support X of the barycenter, (n_points, D) (not differentiable). For the
        iterations, the costs and the moves, call
        :func:`free_support_barycenter_result` with the same arguments.

    Shapes:
        clouds [(N_1, D), ..., (N_K, D)] -> (n_points, D).

    Example:
        >>> import torch, brenier
        >>> y = torch.randn(200, 2, dtype=torch.float64)
        >>> shifts = [torch.tensor([0.0, 0.0]), torch.tensor([4.0, 2.0])]
        >>> X = brenier.free_support_barycenter(
        ...     [y + s.double() for s in shifts], n_points=200, blur=0.01)
        >>> [round(v, 3) for v in (X.mean(0) - y.mean(0)).tolist()]  # the mean shift
        [2.0, 1.0]
    """
    return free_support_barycenter_result(
        clouds, weights, n_points=n_points, blur=blur, masses=masses, init=init, seed=seed,
        tol=tol, max_iter=max_iter, scaling=scaling, backend=backend,
    ).support  # fmt: skip
