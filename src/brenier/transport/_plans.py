"""Transport plans from a Sinkhorn result: dense, sparse (CSR), lazy; marginals, rounding.

The plan of entropic OT is

.. math::

    \\pi_{ij} = a_i b_j \\exp\\big((f_i + g_j - C(x_i, y_j))/\\varepsilon\\big)

(balanced and unbalanced alike). It is computed in log space, block by block of rows,
so that no entry overflows and no more than :data:`~brenier.transport._common.BLOCK_ENTRIES`
entries exist at once outside the dense form.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .._validation import PREFIX, check_choice
from ..kernels import memory_budget as budget_of
from ._common import Solution, as_problem, log_plan_block, row_blocks
from ._lazy import LazyPlan, build_lazy_plan


@dataclass(frozen=True)
class SparsePlan:
    """The entries of a plan above a relative threshold, in compressed sparse rows.

    Attributes:
        matrices: one ``torch.sparse_csr_tensor`` of shape (N, M) per batch item (the
            dtype and device of the inputs).
        dropped_mass: total mass of the entries left out, () or (B,).
        threshold: the relative threshold used (see :func:`sparse_plan`).
        batched: whether the problem had a batch dimension.
    """

    matrices: tuple[Tensor, ...]
    dropped_mass: Tensor
    threshold: float
    batched: bool

    @property
    def matrix(self) -> Tensor:
        """The CSR matrix (N, M) of an unbatched problem."""
        if self.batched:
            raise ValueError(
                f"{PREFIX} this plan has a batch of {len(self.matrices)} matrices; use "
                "`plan.matrices[k]` for the k-th one."
            )
        return self.matrices[0]

    @property
    def nnz(self) -> int:
        """Number of stored entries, over the whole batch."""
        return sum(int(m.values().numel()) for m in self.matrices)

    def to_dense(self) -> Tensor:
        """The stored entries as a dense (N, M) or (B, N, M) tensor (zeros elsewhere)."""
        dense = torch.stack([m.to_dense() for m in self.matrices])
        return dense if self.batched else dense[0]

    def to_scipy(self) -> list:
        """The matrices as ``scipy.sparse.csr_array`` objects (CPU, one per batch item)."""
        from scipy.sparse import csr_array

        return [_to_scipy(csr_array, m) for m in self.matrices]


def _to_scipy(csr_array: type, m: Tensor) -> object:
    arrays = (m.values(), m.col_indices(), m.crow_indices())
    return csr_array(tuple(t.cpu().numpy() for t in arrays), shape=tuple(m.shape))


def _check_budget(problem: Solution, memory_budget: int | None) -> None:
    B, N, M = problem.x.shape[0], problem.x.shape[1], problem.y.shape[1]
    budget = budget_of(memory_budget)
    need = B * N * M * problem.x.element_size()
    if need > budget:
        raise MemoryError(
            f"{PREFIX} a dense plan of shape {(B, N, M) if problem.batched else (N, M)} needs "
            f"{need / 1e9:.2f} GB, above the budget of {budget / 1e9:.2f} GB. Use "
            "form='sparse' (entries above a threshold) or form='lazy' (products only), "
            "or raise `memory_budget`."
        )


def dense_plan(result: object, *, memory_budget: int | None = None) -> Tensor:
    """The entropic plan as a dense tensor.

    .. math::

        \\pi_{ij} = a_i b_j \\exp\\big((f_i + g_j - C(x_i, y_j))/\\varepsilon\\big)

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.
        memory_budget: bytes allowed for the plan (default: the library's budget, 2 GiB);
            above it, a ``MemoryError`` suggests the sparse or lazy forms.

    Returns:
        The plan, in the dtype and on the device of the inputs.

    Shapes:
        (N, M), or (B, N, M) for batched results.

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(30, 2, dtype=torch.float64)
        >>> P = brenier.transport.dense_plan(brenier.solve(x, x + 1, blur=0.1))
        >>> round(float(P.sum()), 6)
        1.0
    """
    problem = as_problem(result)
    _check_budget(problem, memory_budget)
    with torch.no_grad():
        P = log_plan_block(problem, slice(None)).exp()
    return problem.unbatch(P)


def _csr_of_block(log_p: Tensor, log_threshold: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Counts per row, columns, values and dropped mass of one (n, M) block."""
    row_max = log_p.amax(-1, keepdim=True)
    keep = (log_p >= row_max + log_threshold) & (log_p > -math.inf)
    values = log_p.exp()
    dropped = torch.where(keep, 0.0, values).sum()
    rows, cols = keep.nonzero(as_tuple=True)
    return keep.sum(-1), cols, values[rows, cols], dropped


def sparse_plan(result: object, *, threshold: float = 1e-8) -> SparsePlan:
    """The entries of the plan that matter, in compressed sparse rows (torch CSR).

    Keeps :math:`\\pi_{ij} \\ge \\text{threshold} \\cdot \\max_k \\pi_{ik}`: a threshold
    relative to the largest entry of each row, so that every row with mass keeps at
    least its largest entry, whatever N, M and the weights. The plan is computed block
    by block of rows; the mass of the dropped entries is reported, and bounds the
    L1 error of the sparse plan: :math:`\\|\\pi - \\pi_{\\text{sparse}}\\|_1`.

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.
        threshold: relative threshold in [0, 1); 0 keeps every non-zero entry.

    Returns:
        A :class:`SparsePlan` (torch CSR matrices, ``dropped_mass``, ``to_scipy()``).

    Shapes:
        ``matrices``: B tensors of shape (N, M); ``dropped_mass``: () or (B,).

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(100, 2, dtype=torch.float64)
        >>> S = brenier.transport.sparse_plan(brenier.solve(x, x + 1, blur=0.05))
        >>> S.nnz < 100 * 100, float(S.dropped_mass) < 1e-6
        (True, True)
    """
    problem = as_problem(result)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
        raise TypeError(f"{PREFIX} `threshold` must be a number, got {type(threshold).__name__}.")
    if not 0 <= threshold < 1:
        raise ValueError(
            f"{PREFIX} `threshold` must lie in [0, 1), got {threshold}: it is relative to the "
            "largest entry of each row (1e-8 keeps all that matters, 0 keeps everything)."
        )
    log_threshold = math.log(threshold) if threshold > 0 else -math.inf
    B, N, M = problem.x.shape[0], problem.x.shape[1], problem.y.shape[1]
    matrices, dropped = [], []
    with torch.no_grad():
        for k in range(B):
            item = _item(problem, k)
            counts, cols, vals, lost = [], [], [], problem.x.new_zeros(())
            for rows in row_blocks(N, M, 1):
                n, c, v, d = _csr_of_block(log_plan_block(item, rows)[0], log_threshold)
                counts.append(n)
                cols.append(c)
                vals.append(v)
                lost = lost + d
            crow = torch.cat([counts[0].new_zeros(1), torch.cat(counts).cumsum(0)])
            matrices.append(_csr(crow, torch.cat(cols), torch.cat(vals), (N, M)))
            dropped.append(lost)
    dropped_mass = torch.stack(dropped)
    return SparsePlan(
        tuple(matrices), problem.unbatch(dropped_mass), float(threshold), problem.batched
    )


def _csr(crow: Tensor, cols: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A torch CSR tensor, without torch's "beta" warning (the indices are valid by design)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols, values, size=size, check_invariants=False)


def _item(problem: Solution, k: int) -> Solution:
    """The k-th problem of a batch, as a batch of one."""
    from dataclasses import replace

    pick = slice(k, k + 1)
    return replace(
        problem, x=problem.x[pick], y=problem.y[pick], a=problem.a[pick], b=problem.b[pick],
        f=problem.f[pick], g=problem.g[pick],
    )  # fmt: skip


PlanForm = Literal["dense", "sparse", "lazy"]


def plan(
    result: object,
    form: PlanForm = "dense",
    *,
    threshold: float = 1e-8,
    backend: str | None = None,
    memory_budget: int | None = None,
) -> Tensor | SparsePlan | LazyPlan:
    """The entropic plan of a Sinkhorn result, in one of three forms.

    .. math::

        \\pi_{ij} = a_i b_j \\exp\\big((f_i + g_j - C(x_i, y_j))/\\varepsilon\\big)

    One entry point for :func:`dense_plan` (a tensor), :func:`sparse_plan` (a
    :class:`SparsePlan` of CSR matrices) and :func:`lazy_plan` (a :class:`LazyPlan`);
    typed code may prefer those, whose return type does not depend on an argument.

    Args:
        result: an :class:`~brenier.results.OTResult` from :func:`brenier.solve`.
        form: ``"dense"`` (small problems, refused above ``memory_budget``),
            ``"sparse"`` (entries above ``threshold`` times their row's largest) or
            ``"lazy"`` (products ``P @ v``, ``P.T @ u``, never stored).
        threshold: relative threshold of the sparse form.
        backend: kernel backend of the lazy form (default: the one that solved); the
            dense and sparse forms evaluate the plan's entries directly and reject it.
        memory_budget: bytes allowed for the dense form (default 2 GiB).

    Shapes:
        dense: (N, M) or (B, N, M); see :class:`SparsePlan` and :class:`LazyPlan`.

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(20, 2, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1, blur=0.1)
        >>> tuple(brenier.transport.plan(res, "dense").shape)
        (20, 20)
    """
    check_choice("form", form, ("dense", "sparse", "lazy"))
    if backend is not None and form != "lazy":
        raise ValueError(
            f"{PREFIX} `backend` chooses the kernels of the lazy form; the {form} form "
            "evaluates the plan's entries directly. Drop `backend`, or use form='lazy'."
        )
    if form == "dense":
        return dense_plan(result, memory_budget=memory_budget)
    if form == "sparse":
        return sparse_plan(result, threshold=threshold)
    return build_lazy_plan(as_problem(result, backend))


def marginals(result: object, *, backend: str | None = None) -> tuple[Tensor, Tensor]:
    """The marginals of the plan, :math:`\\pi 1` and :math:`\\pi^\\top 1`, in linear memory.

    For balanced OT they approach the weights a and b as the solver converges.
    Computed with one softmin per side: :math:`(\\pi 1)_i = a_i e^{(f_i - s_i)/\\varepsilon}`,
    :math:`s_i = \\operatorname{softmin}_\\varepsilon(x_i; y, \\log b + g/\\varepsilon)`.

    Shapes:
        (N,), (M,) or batched (B, N), (B, M).

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(30, 2, dtype=torch.float64)
        >>> rows, cols = brenier.transport.marginals(brenier.solve(x, x + 1, blur=0.1))
        >>> round(float(rows.sum()), 6), round(float(cols.sum()), 6)
        (1.0, 1.0)
    """
    problem = as_problem(result, backend)
    lazy = build_lazy_plan(problem)
    return problem.unbatch(lazy.row_sums), problem.unbatch(lazy.col_sums)


def marginal_errors(result: object, *, backend: str | None = None) -> tuple[Tensor, Tensor]:
    """Relative L1 errors of the plan's marginals, :math:`\\|\\pi 1 - a\\|_1 / \\|a\\|_1` and
    :math:`\\|\\pi^\\top 1 - b\\|_1 / \\|b\\|_1` (the solver's ``marginal_error`` convention).

    Meaningful for balanced OT; for unbalanced OT the marginals differ from the weights
    by design.

    Shapes:
        two () tensors, or two (B,) tensors for batched results.

    Example:
        >>> import torch, brenier, brenier.transport
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(30, 2, dtype=torch.float64)
        >>> err_a, err_b = brenier.transport.marginal_errors(brenier.solve(x, x + 1, blur=0.1))
        >>> float(err_a) < 1e-10, float(err_b) < 1e-2
        (True, True)
    """
    problem = as_problem(result, backend)
    lazy = build_lazy_plan(problem)
    err_a = (lazy.row_sums - problem.a).abs().sum(-1) / problem.a.sum(-1)
    err_b = (lazy.col_sums - problem.b).abs().sum(-1) / problem.b.sum(-1)
    return problem.unbatch(err_a), problem.unbatch(err_b)
