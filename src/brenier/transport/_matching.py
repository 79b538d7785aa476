"""Hard matching: where does each source point send most of its mass?"""

from __future__ import annotations

import torch
from torch import Tensor

from ._common import as_problem, log_plan_block, row_blocks


def hard_matching(result: object) -> Tensor:
    """The index of the largest entry of each row of the plan.

    .. math::

        j^\\star(i) = \\arg\\max_j \\pi_{ij}
                   = \\arg\\max_j \\big(\\log b_j + (g_j - C(x_i, y_j))/\\varepsilon\\big)

    the mode of the conditional law of the target given the source point x_i. Computed
    block by block of rows (never N x M at once). It is not a permutation in general
    (two points may pick the same target): for a one-to-one matching of equal-size
    clouds, use :func:`brenier.assignment`.

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.

    Returns:
        int64 indices into the target points.

    Shapes:
        (N,), or (B, N) for batched results.

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(50, 2, dtype=torch.float64)
        >>> perm = torch.randperm(50)
        >>> j = brenier.transport.hard_matching(brenier.solve(x, x[perm] + 0.01, blur=0.01))
        >>> bool((perm[j] == torch.arange(50)).all())
        True
    """
    problem = as_problem(result)
    B, N, M = problem.x.shape[0], problem.x.shape[1], problem.y.shape[1]
    with torch.no_grad():
        blocks = [log_plan_block(problem, rows).argmax(-1) for rows in row_blocks(N, M, B)]
    return problem.unbatch(torch.cat(blocks, dim=-1))
