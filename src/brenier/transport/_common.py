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
from ..geometry import Cost, Geometry
from ..kernels import (
    KernelBackend,
    OnlineBackend,
    PairKernel,
    get_backend,
    needs_grids,
    pair_kernel,
)
from ..problems import damping

#: Largest number of plan entries materialised at once by the chunked loops (per block).
BLOCK_ENTRIES = 2**22


@dataclass(frozen=True)
class Solution:
    """A solved problem in batched form, detached: all a plan or a map needs.

    Built from an :class:`~brenier.results.OTResult` by :func:`as_solution`.

    Attributes:
        x, y: supports (B, N, D) and (B, M, D).
        a, b: weights (B, N) and (B, M).
        f, g: potentials of OT(a, b), (B, N) and (B, M).
        f_aa, g_bb: potentials of the symmetric problems (``None`` unless debiased).
        eps: temperature; lam: damping 1/(1 + eps/rho) (1 for balanced OT).
        cost: the ground cost; backend: the kernel backend to use.
        batched: whether outputs keep the batch dimension.
        measures: the geometries of x and y (a grid backend pairs the grids themselves).
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
    backend: KernelBackend
    batched: bool
    measures: tuple[Geometry, Geometry] | None = None

    def pair(self, x: Tensor, y: Tensor) -> PairKernel:
        """The kernel between x and y: the solved supports or query points. A grid
        backend pairs the solved grids; at other points the online kernel stands in."""
        if not needs_grids(self.backend):
            return self.backend.pair(x, y, self.cost)
        geometries = {id(self.x): self.measures[0], id(self.y): self.measures[1]}  # type: ignore[index]
        if id(x) in geometries and id(y) in geometries:
            return pair_kernel(self.backend, geometries[id(x)], geometries[id(y)], self.cost)
        return OnlineBackend().pair(x, y, self.cost)

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


def as_problem(result: object, backend: str | KernelBackend | None = None) -> Solution:
    """The :class:`Solution` of an OTResult (checked), with the backend to use for its
    kernels: ``backend``, or the one that solved it."""
    if not all(hasattr(result, name) for name in ("objective", "potentials", "eps", "f")):
        raise TypeError(
            f"{PREFIX} expected the OTResult returned by `brenier.solve(...)`, got "
            f"{type(result).__name__}."
        )
    objective = result.objective  # type: ignore[attr-defined]
    if objective is None:
        raise ValueError(
            f"{PREFIX} this OTResult carries no `objective` (it was built by hand); plans "
            "and maps need the points and weights: use the result of `brenier.solve`."
        )
    if backend is None:
        kernels = result.kernel_backend or get_backend(result.backend)  # type: ignore[attr-defined]
    else:
        kernels = get_backend(backend)  # raises on unknown names and non-backends
    problem = objective.transport
    if not kernels.supports(problem.cost):
        raise ValueError(
            f"{PREFIX} backend {kernels.name!r} cannot compute the cost {problem.cost.name}; "
            "use backend='dense'."
        )
    x, y = problem.x, problem.y
    res = result  # an OTResult
    return Solution(
        x=x.support, y=y.support, a=x.weights, b=y.weights,
        f=_batched(res.f, x.batched),  # type: ignore[attr-defined,arg-type]
        g=_batched(res.g, x.batched),  # type: ignore[attr-defined,arg-type]
        f_aa=_batched(res.f_aa, x.batched),  # type: ignore[attr-defined]
        g_bb=_batched(res.g_bb, x.batched),  # type: ignore[attr-defined]
        eps=float(res.eps), lam=damping(float(res.eps), problem.rho),  # type: ignore[attr-defined]
        cost=problem.cost, backend=kernels, batched=x.batched, measures=(x, y),
    )  # fmt: skip


def check_query_points(problem: Solution, points: object, name: str = "points") -> Tensor:
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


def log_plan_block(problem: Solution, rows: slice) -> Tensor:
    """:math:`\\log \\pi_{ij}` for the rows ``rows`` and every column, (B, n, M)."""
    C = problem.cost.matrix(problem.x[:, rows], problem.y)
    row = log_weights(problem.a[:, rows]) + problem.f[:, rows] / problem.eps
    return row.unsqueeze(-1) + problem.h_col.unsqueeze(-2) - C / problem.eps
