"""The lazy plan: products with the entropic plan, never storing it.

With :math:`h_j = \\log b_j + g_j/\\varepsilon` and
:math:`s_i = \\operatorname{softmin}_\\varepsilon(x_i; y, h)`, the plan factors as

.. math::

    \\pi_{ij} = r_i \\, \\mathrm{softmax}_j\\big(h_j - C_{ij}/\\varepsilon\\big), \\qquad
    r_i = a_i\\, e^{(f_i - s_i)/\\varepsilon} = (\\pi 1)_i ,

so :math:`\\pi v = r \\odot \\operatorname{softmax\\_sum}_\\varepsilon(x; y, h, v)`, and the
same with the roles of x and y swapped for :math:`\\pi^\\top u`. Each product is one
reduction of the kernel backend (memory-linear with ``"online"``); the row and
column sums r and c (the marginals) are computed once, with one softmin each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import PREFIX
from ..kernels import PairKernel
from ._common import Solution, as_problem, log_weights


@dataclass(frozen=True)
class LazyPlan:
    """The entropic plan of an :class:`~brenier.results.OTResult` as a linear operator.

    Build it with :func:`lazy_plan` (or ``result.plan(form="lazy")``). ``plan @ v``
    computes :math:`\\pi v`, ``plan.T @ u`` computes :math:`\\pi^\\top u`; nothing of size
    N x M is stored (with the ``"online"`` backend, nor computed at once).

    Attributes:
        rows: the kernel between the row points and the column points.
        cols: the kernel between the column points and the row points.
        h_col: :math:`\\log b_j + g_j/\\varepsilon`, (B, M).
        h_row: :math:`\\log a_i + f_i/\\varepsilon`, (B, N).
        row_sums: :math:`\\pi 1`, (B, N).
        col_sums: :math:`\\pi^\\top 1`, (B, M).
        eps: the temperature.
        batched: whether products keep the batch dimension.

    Shapes:
        unbatched: ``plan @ v`` with v (M,) -> (N,), v (M, E) -> (N, E);
        batched: v (B, M) -> (B, N), v (B, M, E) -> (B, N, E).
        ``shape`` is (N, M) or (B, N, M).

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> from brenier.transport import lazy_plan
        >>> x = torch.randn(50, 2, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.1)
        >>> P = lazy_plan(res)
        >>> ones = torch.ones(50, dtype=torch.float64)
        >>> bool(torch.allclose(P @ ones, res.measures.a[0]))
        True
    """

    rows: PairKernel
    cols: PairKernel
    h_col: Tensor
    h_row: Tensor
    row_sums: Tensor
    col_sums: Tensor
    eps: float
    batched: bool

    @property
    def shape(self) -> tuple[int, ...]:
        B, N = self.row_sums.shape
        M = self.col_sums.shape[1]
        return (B, N, M) if self.batched else (N, M)

    @property
    def T(self) -> LazyPlan:
        """The transposed plan :math:`\\pi^\\top`, also lazy."""
        return LazyPlan(
            self.cols, self.rows, self.h_row, self.h_col, self.col_sums, self.row_sums,
            self.eps, self.batched,
        )  # fmt: skip

    def matvec(self, v: Tensor) -> Tensor:
        """:math:`(\\pi v)_i = \\sum_j \\pi_{ij} v_j` (see the Shapes section of the class)."""
        vb, squeeze = self._check_vector(v)
        with torch.no_grad():
            out = self.row_sums.unsqueeze(-1) * self.rows.softmax_sum(self.eps, self.h_col, vb)
        out = out.squeeze(-1) if squeeze else out
        return out if self.batched else out.squeeze(0)

    def rmatvec(self, u: Tensor) -> Tensor:
        """:math:`(\\pi^\\top u)_j = \\sum_i \\pi_{ij} u_i`."""
        return self.T.matvec(u)

    def __matmul__(self, v: Tensor) -> Tensor:
        return self.matvec(v)

    def to_dense(self) -> Tensor:
        """The plan as a dense tensor (small problems only: it stores N x M numbers)."""
        B, M = self.col_sums.shape
        eye = torch.eye(M, dtype=self.h_col.dtype, device=self.h_col.device)
        dense = self.matvec(eye.expand(B, M, M) if self.batched else eye)
        return dense

    def _check_vector(self, v: Tensor) -> tuple[Tensor, bool]:
        """v as (B, M, E), and whether it had no trailing E dimension."""
        B, M = self.col_sums.shape
        if not isinstance(v, Tensor):
            raise TypeError(f"{PREFIX} plan products need a torch.Tensor, got {type(v).__name__}.")
        lead = (B, M) if self.batched else (M,)
        if tuple(v.shape[: len(lead)]) != lead or v.dim() > len(lead) + 1:
            expected = f"({B}, {M}) or ({B}, {M}, E)" if self.batched else f"({M},) or ({M}, E)"
            raise ValueError(
                f"{PREFIX} cannot multiply the plan of shape {self.shape} with a tensor of "
                f"shape {tuple(v.shape)}; expected {expected}."
            )
        if v.dtype != self.h_col.dtype or v.device != self.h_col.device:
            raise TypeError(
                f"{PREFIX} the vector has dtype {v.dtype} on {v.device} but the plan "
                f"{self.h_col.dtype} on {self.h_col.device}; cast it with `.to(...)`."
            )
        squeeze = v.dim() == len(lead)
        vb = v.unsqueeze(-1) if squeeze else v
        return (vb if self.batched else vb.unsqueeze(0)), squeeze


def build_lazy_plan(problem: Solution) -> LazyPlan:
    """Kernels, softmin arguments and marginals of the plan (two softmins)."""
    with torch.no_grad():
        rows = problem.pair(problem.x, problem.y)
        cols = problem.pair(problem.y, problem.x)
        h_col, h_row = problem.h_col, problem.h_row
        eps = problem.eps
        # r_i = a_i exp((f_i - s_i)/eps); zero weights give exact zeros (log a = -inf)
        row_sums = torch.exp(log_weights(problem.a) + (problem.f - rows.softmin(eps, h_col)) / eps)
        col_sums = torch.exp(log_weights(problem.b) + (problem.g - cols.softmin(eps, h_row)) / eps)
    return LazyPlan(rows, cols, h_col, h_row, row_sums, col_sums, eps, problem.batched)


def lazy_plan(result: object, *, backend: str | None = None) -> LazyPlan:
    """The entropic plan of a Sinkhorn result as a lazy linear operator.

    .. math::

        \\pi_{ij} = a_i b_j \\exp\\big((f_i + g_j - C(x_i, y_j))/\\varepsilon\\big)

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.
        backend: kernel backend of the products (default: the one that solved).

    Returns:
        A :class:`LazyPlan`; ``P @ v`` and ``P.T @ u`` are reductions, never N x M arrays.

    Shapes:
        see :class:`LazyPlan`.

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(40, 2, dtype=torch.float64)
        >>> P = brenier.transport.lazy_plan(brenier.solve(x, 2 * x, blur=0.1))
        >>> P.shape
        (40, 40)
    """
    return build_lazy_plan(as_problem(result, backend))
