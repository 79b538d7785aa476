"""Maps from a Sinkhorn result: the barycentric projection and the Brenier map anywhere.

The dual potentials of entropic OT extend to the whole space by the softmin formula
the solver iterates,

.. math::

    f(z) = \\lambda \\operatorname{softmin}_\\varepsilon(z; y, \\log b + g/\\varepsilon)
         = -\\lambda\\varepsilon \\log \\sum_j b_j e^{(g_j - C(z, y_j))/\\varepsilon},

with :math:`\\lambda = 1/(1 + \\varepsilon/\\rho)` (1 for balanced OT), which agrees with
f on the support x at convergence. For :math:`C = |x-y|^2/2` its gradient is a
softmax-weighted sum, :math:`\\nabla f(z) = \\lambda\\,(z - \\sum_j w_j(z)\\, y_j)`, with
:math:`w_j(z) = \\mathrm{softmax}_j(\\log b_j + (g_j - C(z, y_j))/\\varepsilon)`: one
reduction of the kernel backend. The debiased potential
:math:`F = f_{ab} - f_{aa}` (Feydy et al., 2019) subtracts the same construction on
the symmetric problem OT(a, a), which removes the entropic blur's shrinkage, and

.. math::

    T(z) = z - \\nabla F(z)
         = z + \\lambda\\Big(\\sum_j w_j(z)\\, y_j - \\sum_i w^{aa}_i(z)\\, x_i\\Big).

As :math:`\\varepsilon \\to 0` both maps tend to the Brenier map of the exact problem.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._validation import PREFIX
from ._common import Solution, as_problem, check_query_points, log_weights, row_blocks


def barycentric_projection(result: object, *, backend: str | None = None) -> Tensor:
    """Where the plan sends each source point, on average.

    .. math::

        T(x_i) = \\frac{\\sum_j \\pi_{ij}\\, y_j}{\\sum_j \\pi_{ij}}
               = \\sum_j \\mathrm{softmax}_j\\big(\\log b_j
                 + (g_j - C(x_i, y_j))/\\varepsilon\\big)\\, y_j

    (one softmax sum of the kernel backend, the plan is never stored). For balanced OT
    the denominator is :math:`a_i`. As blur -> 0 it tends to the exact OT map on the
    support; at a positive blur it is shrunk towards local averages of y.

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.
        backend: kernel backend (default: the one that solved).

    Returns:
        The target position of every source point.

    Shapes:
        (N, D), or (B, N, D) for batched results.

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(100, 2, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.01)
        >>> T = brenier.transport.barycentric_projection(res)
        >>> float((T - (x + 1.0)).norm(dim=1).max()) < 0.05
        True
    """
    problem = as_problem(result, backend)
    with torch.no_grad():
        T = problem.pair(problem.x, problem.y).softmax_sum(problem.eps, problem.h_col, problem.y)
    return problem.unbatch(T)


def _check_squared_cost(problem: Solution, what: str) -> None:
    if problem.cost.function is not None or problem.cost.p != 2:
        raise ValueError(
            f"{PREFIX} {what} is defined here for the cost |x-y|^2/2 (p=2); this result used "
            f"{problem.cost.name}. Solve with p=2, or use `barycentric_projection`, which "
            "holds for any cost."
        )


def _want_debias(problem: Solution, debias: bool | None) -> bool:
    has = problem.f_aa is not None and problem.g_bb is not None
    if debias is None:
        return has
    if not isinstance(debias, bool):
        raise TypeError(f"{PREFIX} `debias` must be True, False or None, got {debias!r}.")
    if debias and not has:
        raise ValueError(
            f"{PREFIX} debias=True needs the potentials of the symmetric problems; solve "
            "with `debias=True` (the default), or pass debias=False."
        )
    return debias


def _in_chunks(problem: Solution, z: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """Applies ``fn`` to blocks of query points so dense kernels stay within budget."""
    width = max(problem.x.shape[1], problem.y.shape[1]) * z.shape[0]
    blocks = row_blocks(z.shape[1], width, 1)
    if len(blocks) == 1:
        return fn(z)
    return torch.cat([fn(z[:, rows]) for rows in blocks], dim=1)


def transport_map(
    result: object, points: Tensor, *, debias: bool | None = None, backend: str | None = None
) -> Tensor:
    """The Brenier map of the problem, evaluated anywhere in space.

    .. math::

        T(z) = z - \\nabla F(z), \\qquad
        \\nabla f_{ab}(z) = \\lambda\\Big(z - \\sum_j w_j(z)\\, y_j\\Big),

    with :math:`F = f_{ab} - f_{aa}` when debiased, :math:`F = f_{ab}` otherwise (see
    the module docstring). On the support and without debiasing, it is
    :math:`(1 - \\lambda) x_i + \\lambda\\,` :func:`barycentric_projection` (the same for
    balanced OT). Differentiable wrt. ``points``.

    Args:
        result: an :class:`~brenier.results.OTResult` of a problem with ``p=2``.
        points: where to evaluate the map.
        debias: use the debiased potential F (default when the result has it).
        backend: kernel backend (default: the one that solved).

    Returns:
        T(points), same shape, dtype and device as ``points``.

    Shapes:
        points (K, D) -> (K, D); batched results: (B, K, D) -> (B, K, D).

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(200, 2, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.05)
        >>> z = torch.zeros(1, 2, dtype=torch.float64)
        >>> [round(v, 1) for v in brenier.transport.transport_map(res, z)[0].tolist()]
        [1.0, 1.0]
    """
    problem = as_problem(result, backend)
    _check_squared_cost(problem, "the Brenier map z - grad F(z)")
    use_debias = _want_debias(problem, debias)
    z = check_query_points(problem, points)

    def evaluate(zc: Tensor) -> Tensor:
        grad = zc - problem.pair(zc, problem.y).softmax_sum(problem.eps, problem.h_col, problem.y)
        if use_debias:
            h_aa = log_weights(problem.a) + problem.f_aa / problem.eps  # type: ignore[operator]
            grad = grad - (
                zc - problem.pair(zc, problem.x).softmax_sum(problem.eps, h_aa, problem.x)
            )
        return zc - problem.lam * grad

    return problem.unbatch(_in_chunks(problem, z, evaluate))


def potentials_at(
    result: object, points: Tensor, *, debias: bool | None = None, backend: str | None = None
) -> tuple[Tensor, Tensor]:
    """The potentials F and G extended to arbitrary points by the softmin formula.

    .. math::

        f_{ab}(z) = -\\lambda\\varepsilon \\log \\sum_j b_j e^{(g_j - C(z, y_j))/\\varepsilon},
        \\qquad
        g_{ab}(z) = -\\lambda\\varepsilon \\log \\sum_i a_i e^{(f_i - C(z, x_i))/\\varepsilon},

    and, when debiased, :math:`F = f_{ab} - f_{aa}`, :math:`G = g_{ab} - g_{bb}` with the
    symmetric potentials extended the same way. On the supports they agree with
    ``result.potentials`` at convergence. Any cost.

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.
        points: where to evaluate both potentials.
        debias: use the debiased potentials (default when the result has them).
        backend: kernel backend (default: the one that solved).

    Returns:
        (F(points), G(points)).

    Shapes:
        points (K, D) -> (K,), (K,); batched: (B, K, D) -> (B, K), (B, K).

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(100, 2, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.1, tol=1e-5)
        >>> F, G = brenier.transport.potentials_at(res, x)
        >>> bool(torch.allclose(F, res.potentials[0], atol=1e-4))
        True
    """
    problem = as_problem(result, backend)
    use_debias = _want_debias(problem, debias)
    z = check_query_points(problem, points)
    eps, lam = problem.eps, problem.lam
    log_a, log_b = log_weights(problem.a), log_weights(problem.b)

    def evaluate(zc: Tensor) -> Tensor:
        F = lam * problem.pair(zc, problem.y).softmin(eps, problem.h_col)
        G = lam * problem.pair(zc, problem.x).softmin(eps, problem.h_row)
        if use_debias:
            F = F - lam * problem.pair(zc, problem.x).softmin(eps, log_a + problem.f_aa / eps)  # type: ignore[operator]
            G = G - lam * problem.pair(zc, problem.y).softmin(eps, log_b + problem.g_bb / eps)  # type: ignore[operator]
        return torch.stack([F, G], dim=-1)

    FG = _in_chunks(problem, z, evaluate)
    return problem.unbatch(FG[..., 0]), problem.unbatch(FG[..., 1])
