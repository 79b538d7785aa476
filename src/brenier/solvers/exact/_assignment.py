"""Optimal assignment between two uniform clouds of equal size: auction or lapjv."""

from __future__ import annotations

import time

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from ..._validation import PREFIX, check_choice, check_measures, check_positive
from ...geometry import Cost, CostFunction, make_cost
from ...results import MatchingResult
from . import _auction
from ._pairs import cost_matrix_numpy, pair_costs

#: ``method="auto"`` runs the auction from this many points on. Measured on surface
#: samples (benchmarks/assignment.py, 2-core Xeon, CPU times): lapjv/auction time ratio
#: 0.5-0.75 at N = 200, 1.4-1.7 at 500, 3-3.5 at 1,000.
AUCTION_MIN_POINTS = 400

#: eps-scaling of the auction: first eps = cost range / EPS_START_RATIO (for the built-in
#: costs: or less, from the nearest-neighbour costs, see ``_auction._nearest_scale``),
#: then divided by EPS_FACTOR at each phase (tuned on surface samples of the scans).
EPS_START_RATIO = 256.0
EPS_FACTOR = 6.0

#: Relative resolution of real-valued costs (see :func:`assignment`).
RELATIVE_RESOLUTION = 1e-9


def _geometry(cost: Cost, x: Tensor, y: Tensor):
    """The auction's geometry: points for the built-in costs (no N^2 memory), else C."""
    if cost.function is not None:
        C = cost_matrix_numpy(cost, x, y)
        return _auction.make_geometry(C=C), float(C.max() - C.min()), _is_integral(C)
    with torch.no_grad():
        xd = x.to("cpu", torch.float64).numpy()
        yd = y.to("cpu", torch.float64).numpy()
    geometry = _auction.make_geometry(xd, yd)
    span = float(
        np.linalg.norm(np.maximum(xd.max(0), yd.max(0)) - np.minimum(xd.min(0), yd.min(0)))
    )
    if cost.p == 1:
        return _auction.with_kind(geometry, _auction.EUCLIDEAN), span, False
    # Integer coordinates give costs |x - y|^2 / 2 that are multiples of 1/2.
    integral = _is_integral(xd) and _is_integral(yd) and span < 2**20
    return geometry, span * span / 2, integral


def _is_integral(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values))) and float(np.abs(values).max()) < 2**40


def _auction_one(cost: Cost, x: Tensor, y: Tensor, resolution: float | None):
    """Permutation, certified gap on the total cost, resolution and bids of one problem."""
    n = x.shape[0]
    geometry, span, integral = _geometry(cost, x, y)
    if resolution is None:
        unit = 1.0 if cost.function is not None else 0.5
        resolution = unit if integral else RELATIVE_RESOLUTION * n * max(span, 1e-300)
    if n == 1:
        return np.zeros(1, dtype=np.int64), 0.0, resolution, 0
    # N eps < resolution / 2 leaves room for the rounding allowance of the certificate.
    eps_final = resolution / (2 * n)
    eps_start = max(span / EPS_START_RATIO, eps_final)
    sigma, _, gap, _, bids, _, _ = _auction.auction(
        geometry, eps_start, eps_final, EPS_FACTOR, 10_000 * n * n
    )
    if not gap >= 0:  # NaN: bids exhausted, some persons unassigned
        raise RuntimeError(
            f"{PREFIX} the auction ran out of bids on a problem of size {n}; this signals "
            "costs with a huge dynamic range. Use method='lapjv', or rescale the points."
        )
    return sigma, float(gap), resolution, int(bids)


def _lapjv_one(cost: Cost, x: Tensor, y: Tensor) -> np.ndarray:
    _, cols = scipy.optimize.linear_sum_assignment(cost_matrix_numpy(cost, x, y))
    return cols


def _check_square(x: Tensor, y: Tensor, n: int, m: int) -> None:
    if n != m:
        raise ValueError(
            f"{PREFIX} `assignment` matches clouds of equal size with uniform weights, got "
            f"N = {n} source and M = {m} target points (x {tuple(x.shape)}, y "
            f"{tuple(y.shape)}). For N != M or weights, use `emd` (exact LP, small problems) "
            "or `solve` (Sinkhorn)."
        )


def _choose_method(method: str, n: int) -> str:
    check_choice("method", method, ("auto", "auction", "lapjv"))
    if method == "auto":
        return "auction" if n >= AUCTION_MIN_POINTS else "lapjv"
    return method


def assignment(
    x: Tensor,
    y: Tensor,
    *,
    p: int = 2,
    cost: CostFunction | None = None,
    method: str = "auto",
    resolution: float | None = None,
) -> MatchingResult:
    """Optimal one-to-one matching of two clouds of N points with uniform weights.

    Solves the assignment problem, i.e. exact OT between uniform measures of equal size,

    .. math::

        OT = \\min_{\\sigma \\in S_N} \\frac1N \\sum_{i=1}^N C(x_i, y_{\\sigma(i)}),

    with ``method="lapjv"`` (``scipy.optimize.linear_sum_assignment``, O(N^3), dense
    N x N matrix) or ``method="auction"`` (Bertsekas's auction with eps-scaling, compiled
    with numba; built-in costs are computed on the fly, without N^2 memory). The auction
    returns a certificate: its final prices give dual potentials whose value is within
    ``gap_bound`` of the matching's cost, so ``cost - gap_bound <= OT <= cost``. The result
    is marked ``exact`` when the certified gap on the total cost is below ``resolution``.

    Args:
        x: source points, (N, D) or batched (B, N, D).
        y: target points, (N, D) or (B, N, D): the same number of points.
        p: 2 for :math:`C = |x-y|^2/2`, 1 for :math:`C = |x-y|`.
        cost: a callable ``(x (B,N,D), y (B,N,D)) -> (B,N,N)`` instead of ``p``.
        method: ``"auction"``, ``"lapjv"``, or ``"auto"``: the auction from
            :data:`AUCTION_MIN_POINTS` points on, lapjv below.
        resolution: the auction stops when the certified gap on the total cost
            :math:`\\sum_i C(x_i, y_{\\sigma(i)})` is below it. Default: 1 for integer-valued
            custom costs and 1/2 for p = 2 on integer coordinates -- then every other
            matching costs at least one resolution more, and ``exact`` means optimal --,
            else ``1e-9 * N * max C``: for real-valued costs, two matchings can differ by
            less than any fixed resolution, and ``exact`` means optimal up to a relative
            1e-9 of the largest cost (float64 rounding of the sum is ~1e-13).

    Returns:
        A :class:`~brenier.results.MatchingResult`; ``cost`` is differentiable wrt. the
        points with the matching held fixed.

    Shapes:
        x (N, D), y (N, D) -> permutation (N,), cost ();
        x (B, N, D), y (B, N, D) -> permutation (B, N), cost (B,).

    Example:
        >>> import torch
        >>> from brenier.solvers.exact import assignment
        >>> x = torch.randn(600, 3, dtype=torch.float64)
        >>> res = assignment(x, x[torch.randperm(600)] + 1.0, method="auction")
        >>> round(float(res.cost), 6), res.exact  # a translation: |1|^2 * 3 / 2
        (1.5, True)
    """
    m = check_measures(x, y, None, None)
    (B, N, _), M = m.x.shape, m.y.shape[1]
    _check_square(x, y, N, M)
    c = make_cost(p, cost)
    chosen = _choose_method(method, N)
    if resolution is not None:
        resolution = check_positive("resolution", resolution, "It is in units of the cost.")
    t0 = time.perf_counter()
    perms, gaps, exact, bids = [], [], True, 0
    for k in range(B):
        if chosen == "lapjv":
            perms.append(_lapjv_one(c, m.x[k], m.y[k]))
            gaps.append(0.0)
            continue
        sigma, gap, res, n_bids = _auction_one(c, m.x[k], m.y[k], resolution)
        perms.append(sigma)
        gaps.append(gap / N)
        exact = exact and gap < res
        bids += n_bids
    t1 = time.perf_counter()
    permutation = torch.as_tensor(np.stack(perms), dtype=torch.int64, device=m.x.device)
    rows = torch.arange(N, device=m.x.device)
    costs = torch.stack([pair_costs(c, m.x[k], m.y[k], rows, permutation[k]) for k in range(B)])
    value = costs.mean(-1)
    timings = {"solve": t1 - t0, "total": time.perf_counter() - t0}
    if not m.batched:
        permutation, value = permutation[0], value[0]
    return MatchingResult(permutation, value, max(gaps), exact, chosen, bids, timings)
