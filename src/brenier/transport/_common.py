"""What plans and maps share: the checked result, its batched potentials, the kernels.

Every quantity of this package is built from the entropic plan

.. math::

    \\pi_{ij} = a_i b_j \\exp\\big((f_i + g_j - C(x_i, y_j))/\\varepsilon\\big),

which is the optimal plan of balanced and of unbalanced entropic OT alike, given the
potentials (f, g) of :func:`brenier.solve`. In log space,
:math:`\\log \\pi_{ij} = \\log a_i + f_i/\\varepsilon + h_j - C_{ij}/\\varepsilon` with
:math:`h_j = \\log b_j + g_j / \\varepsilon`: a row offset plus the argument of the
kernels' softmin, so that every plan-vector product is one
:meth:`~brenier.kernels.PairKernel.softmax_sum` times a row factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import PREFIX, check_points
from ..geometry import Cost
from ..kernels import PairKernel, get_backend
from ..results import OTResult

#: Largest number of plan entries materialised at once by the chunked loops (per block).
BLOCK_ENTRIES = 2**22


@dataclass(frozen=True)
class Problem:
    """An :class:`OTResult` in batched form, detached: all a plan or a map needs.

    Attributes:
        x, y: supports (B, N, D) and (B, M, D).
        a, b: weights (B, N) and (B, M).
        f, g: potentials of OT(a, b), (B, N) and (B, M).
        f_aa, g_bb: potentials of the symmetric problems (``None`` unless debiased).
        eps: temperature; lam: damping 1/(1 + eps/rho) (1 for balanced OT).
        cost: the ground cost; backend: the name of the kernel backend to use.
        batched: whether outputs keep the batch dimension.
    """

    x: Tensor
    y: Tensor
    a: Tensor
    b: Tensor
    f: Tensor
    g: Tensor
    f_aa: Tensor | None
    g_bb: Tensor | None
    eps: float
    lam: float
    cost: Cost
    backend: str
    batched: bool

    def pair(self, x: Tensor, y: Tensor) -> PairKernel:
        return get_backend(self.backend).pair(x, y, self.cost)

    @property
    def h_col(self) -> Tensor:
        """:math:`\\log b_j + g_j/\\varepsilon`, (B, M): the softmin argument over y."""
        return log_weights(self.b) + self.g / self.eps

    @property
    def h_row(self) -> Tensor:
        """:math:`\\log a_i + f_i/\\varepsilon`, (B, N): the softmin argument over x."""
        return log_weights(self.a) + self.f / self.eps

    def unbatch(self, t: Tensor) -> Tensor:
        return t if self.batched else t.squeeze(0)


def log_weights(w: Tensor) -> Tensor:
    """log w, with -inf (not NaN) for zero weights."""
    return torch.where(w > 0, w.clamp_min(torch.finfo(w.dtype).tiny).log(), -torch.inf)


def _batched(t: Tensor | None, batched: bool) -> Tensor | None:
    if t is None:
        return None
    return t.detach() if batched else t.detach().unsqueeze(0)


def as_problem(result: object, backend: str | None = None) -> Problem:
    """Checks that ``result`` is an :class:`OTResult` that carries its measures."""
    if not isinstance(result, OTResult):
        raise TypeError(
            f"{PREFIX} expected the OTResult returned by `brenier.solve(...)`, got "
            f"{type(result).__name__}."
        )
    if result.measures is None or result.cost is None:
        raise ValueError(
            f"{PREFIX} this OTResult carries no `measures`/`cost` (it was built by hand); "
            "plans and maps need the points and weights: use the result of `brenier.solve`."
        )
    name = result.backend if backend is None else backend
    if not isinstance(name, str):
        raise TypeError(f"{PREFIX} `backend` must be a string, got {type(name).__name__}.")
    kernel_backend = get_backend(name)  # raises on unknown names
    if not kernel_backend.supports(result.cost):
        raise ValueError(
            f"{PREFIX} backend {name!r} cannot compute the cost {result.cost.name}; "
            "use backend='dense'."
        )
    m = result.measures
    rho = None if result.reach is None else result.reach**result.p
    lam = 1.0 if rho is None else 1.0 / (1.0 + result.eps / rho)
    return Problem(
        x=m.x, y=m.y, a=m.a, b=m.b,
        f=_batched(result.f, m.batched),  # type: ignore[arg-type]
        g=_batched(result.g, m.batched),  # type: ignore[arg-type]
        f_aa=_batched(result.f_aa, m.batched),
        g_bb=_batched(result.g_bb, m.batched),
        eps=float(result.eps), lam=lam, cost=result.cost, backend=name, batched=m.batched,
    )  # fmt: skip


def check_query_points(problem: Problem, points: object, name: str = "points") -> Tensor:
    """Points where a map or potential is evaluated, returned as (B, K, D)."""
    if not isinstance(points, Tensor):
        raise TypeError(
            f"{PREFIX} `{name}` must be a torch.Tensor of shape "
            f"{'(B, K, D)' if problem.batched else '(K, D)'}, got {type(points).__name__}."
        )
    expected_dim = 3 if problem.batched else 2
    B, _, D = problem.x.shape
    if points.dim() != expected_dim:
        raise ValueError(
            f"{PREFIX} `{name}` has shape {tuple(points.shape)}; the problem was solved "
            f"{'with' if problem.batched else 'without'} a batch dimension, so expected "
            f"{f'({B}, K, {D})' if problem.batched else f'(K, {D})'}."
        )
    z = check_points(name, points)
    if z.shape[0] != B or z.shape[-1] != D:
        raise ValueError(
            f"{PREFIX} `{name}` has shape {tuple(points.shape)}, expected "
            f"{f'({B}, K, {D})' if problem.batched else f'(K, {D})'}: the points live in the "
            "space of the solved clouds."
        )
    if z.dtype != problem.x.dtype or z.device != problem.x.device:
        raise TypeError(
            f"{PREFIX} `{name}` has dtype {z.dtype} on {z.device}, the solved clouds "
            f"{problem.x.dtype} on {problem.x.device}; use `{name}.to(x)`."
        )
    return z


def row_blocks(n_rows: int, n_cols: int, batch: int) -> list[slice]:
    """Row slices so that each block holds at most :data:`BLOCK_ENTRIES` plan entries."""
    step = max(1, BLOCK_ENTRIES // max(1, n_cols * batch))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def log_plan_block(problem: Problem, rows: slice) -> Tensor:
    """:math:`\\log \\pi_{ij}` for the rows ``rows`` and every column, (B, n, M)."""
    C = problem.cost.matrix(problem.x[:, rows], problem.y)
    row = log_weights(problem.a[:, rows]) + problem.f[:, rows] / problem.eps
    return row.unsqueeze(-1) + problem.h_col.unsqueeze(-2) - C / problem.eps
