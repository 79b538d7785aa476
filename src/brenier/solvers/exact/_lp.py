"""Weighted discrete OT as a linear program (scipy's HiGHS): the small-problem reference."""

from __future__ import annotations

import time

import numpy as np
import scipy.optimize
import scipy.sparse
import torch
from torch import Tensor

from ..._validation import PREFIX, check_measures
from ...geometry import Cost, CostFunction, make_cost
from ...results import EMDResult
from ._pairs import cost_matrix_numpy, pair_costs
from ._sorting import _check_balanced

#: Largest number N * M of plan entries accepted by :func:`emd` (2,000 x 2,000). The LP
#: takes ~1 s at 400 x 400 and ~16 s at 1,000 x 1,000 on one core.
MAX_LP_VARIABLES = 4_000_000


def _marginal_constraints(n: int, m: int) -> scipy.sparse.csr_matrix:
    """The (N + M, N M) matrix of the row and column sums of a row-major plan."""
    rows = np.concatenate([np.repeat(np.arange(n), m), n + np.tile(np.arange(m), n)])
    cols = np.concatenate([np.arange(n * m), np.arange(n * m)])
    data = np.ones(2 * n * m)
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(n + m, n * m))


def _solve_lp(C: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Plan (as rows, cols, masses) and duals (f, g) of one problem with HiGHS."""
    n, m = C.shape
    res = scipy.optimize.linprog(
        C.ravel(),
        A_eq=_marginal_constraints(n, m),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        # The interior-point method with crossover (to a vertex: a sparse plan) is 3-4x
        # faster than the dual simplex on transport LPs; presolve finds nothing to remove.
        method="highs-ipm",
        options={"presolve": False},
    )
    if res.status != 0:
        raise RuntimeError(f"{PREFIX} HiGHS did not solve the transport LP: {res.message}")
    support = np.flatnonzero(res.x > 0)
    duals = res.eqlin.marginals
    return support // m, support % m, res.x[support], duals[:n], duals[n:]


def _check_size(n: int, m: int) -> None:
    if n * m > MAX_LP_VARIABLES:
        raise ValueError(
            f"{PREFIX} `emd` is a reference for small problems: N x M = {n} x {m} plan entries "
            f"exceed {MAX_LP_VARIABLES:,}. Use `assignment` for uniform clouds of equal size, "
            "or the Sinkhorn solver `solve` with a small blur for large weighted problems."
        )


def _one_problem(cost: Cost, x: Tensor, y: Tensor, a: Tensor, b: Tensor):
    with torch.no_grad():
        wa = a.to("cpu", torch.float64).numpy()
        wb = b.to("cpu", torch.float64).numpy()
    # Equal masses to the last ulp, or the equality constraints are infeasible.
    wb = wb * (wa.sum() / wb.sum())
    rows, cols, mass, f, g = _solve_lp(cost_matrix_numpy(cost, x, y), wa, wb)
    rows_t = torch.as_tensor(rows, device=x.device)
    cols_t = torch.as_tensor(cols, device=x.device)
    mass_t = torch.as_tensor(mass, dtype=x.dtype, device=x.device)
    value = (mass_t * pair_costs(cost, x, y, rows_t, cols_t)).sum()
    return value, rows_t, cols_t, mass_t, f, g


def emd(
    x: Tensor,
    y: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    p: int = 2,
    cost: CostFunction | None = None,
) -> EMDResult:
    """Exact OT between weighted discrete measures, as a linear program (HiGHS).

    .. math::

        OT(a, b) = \\min_{P \\ge 0,\\; P 1 = a,\\; P^\\top 1 = b} \\sum_{ij} P_{ij} C(x_i, y_j)
        = \\max_{f_i + g_j \\le C(x_i, y_j)} \\langle f, a \\rangle + \\langle g, b \\rangle,

    solved by ``scipy.optimize.linprog(method="highs-ipm")`` with the sparse (N + M, N M)
    constraint matrix (interior point + crossover). A reference for small problems: about
    1 s at N = M = 400 and 16 s at N = M = 1,000; sizes N M above
    :data:`MAX_LP_VARIABLES` are refused.

    Args:
        x: source points, (N, D) or batched (B, N, D) (the batch is solved in a loop).
        y: target points, (M, D) or (B, M, D).
        a: source weights (N,) or (B, N); default uniform 1/N.
        b: target weights (M,) or (B, M) with the total mass of ``a``; default uniform.
        p: 2 for :math:`C = |x-y|^2/2`, 1 for :math:`C = |x-y|`.
        cost: a callable ``(x (B,N,D), y (B,M,D)) -> (B,N,M)`` instead of ``p``.

    Returns:
        An :class:`~brenier.results.EMDResult`: the value (differentiable wrt. the points),
        the sparse optimal plan and the dual potentials.

    Shapes:
        x (N, D), y (M, D) -> value (), plan (N, M), f (N,), g (M,);
        x (B, N, D), y (B, M, D) -> value (B,), plan (B, N, M), f (B, N), g (B, M).

    Example:
        >>> import torch
        >>> from brenier.solvers.exact import emd
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> res = emd(x, x + torch.tensor([0.0, 2.0]))
        >>> float(res.value)  # both points move by 2: |2|^2 / 2
        2.0
    """
    m = check_measures(x, y, a, b)
    c = make_cost(p, cost)
    _check_balanced(m.a, m.b)
    (B, N, _), M = m.x.shape, m.y.shape[1]
    _check_size(N, M)
    t0 = time.perf_counter()
    values, index, masses, fs, gs = [], [], [], [], []
    for k in range(B):
        value, rows, cols, mass, f, g = _one_problem(c, m.x[k], m.y[k], m.a[k], m.b[k])
        values.append(value)
        index.append(torch.stack([torch.full_like(rows, k), rows, cols]))
        masses.append(mass)
        fs.append(f)
        gs.append(g)
    plan = torch.sparse_coo_tensor(
        torch.cat(index, 1), torch.cat(masses), (B, N, M), check_invariants=False
    ).coalesce()
    f_t = torch.as_tensor(np.stack(fs), dtype=m.x.dtype, device=m.x.device)
    g_t = torch.as_tensor(np.stack(gs), dtype=m.x.dtype, device=m.x.device)
    value_t = torch.stack(values)
    timings = {"total": time.perf_counter() - t0}
    if m.batched:
        return EMDResult(value_t, plan, f_t, g_t, "highs-ipm", timings)
    return EMDResult(value_t[0], plan[0].coalesce(), f_t[0], g_t[0], "highs-ipm", timings)
