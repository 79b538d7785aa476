"""The one result type of every OT solver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor

from .._validation import Measures
from ..geometry import Cost
from ..kernels import KernelBackend
from ..problems import Objective
from ..transport import LazyPlan, SparsePlan, barycentric_projection, plan, transport_map
from ._status import Status


@dataclass(frozen=True)
class OTResult:
    """What a Sinkhorn solve returns, whatever the flags.

    Attributes:
        value: the OT value: the debiased Sinkhorn divergence
            :math:`S_\\varepsilon(a, b)` when ``debiased``, else :math:`OT_\\varepsilon(a, b)`.
            Shape (B,) for batched inputs, () otherwise. Differentiable wrt. the points and
            the weights (envelope theorem).
        f: dual potential of OT(a, b) on the source points x, shape (B, N) or (N,).
        g: dual potential of OT(a, b) on the target points y, shape (B, M) or (M,).
        f_aa: potential of the symmetric problem OT(a, a) on x (``None`` unless debiased).
        g_bb: potential of the symmetric problem OT(b, b) on y (``None`` unless debiased).
        debiased: whether ``value`` is the debiased divergence.
        blur: the final blur; ``eps = blur**p``.
        eps: the final temperature :math:`\\varepsilon`.
        reach: the reach of unbalanced OT (``None`` for balanced OT); ``rho = reach**p``.
        p: exponent of the cost (2 for |x-y|^2/2, 1 for |x-y|; 2 for custom costs).
        marginal_error: L1 error on the marginals of the plan of OT(a, b) at the last
            iteration, or of the symmetric problems OT(a, a), OT(b, b) when debiased if
            theirs is larger (worst over the batch; for unbalanced OT, the L1 violation of
            the first-order optimality conditions, relative to the marginals).
        iterations: number of Sinkhorn iterations, annealing included.
        eps_schedule: the temperatures of the eps-scaling, largest first.
        backend: the kernel backend that ran (``"dense"``, ``"online"``, ...).
        status: how the loop ended; ``status.message`` explains and suggests a fix.
        timings: wall-clock seconds per phase.
        objective: the problems solved (geometries detached, cost, reach), for plans and
            maps computed after the solve.
        kernel_backend: the backend object that ran (plans and maps reuse it).
        tol: the tolerance asked for (``None``: not checked); ``status`` is ``CONVERGED``
            exactly when ``marginal_error <= tol``.
    """

    value: Tensor
    f: Tensor
    g: Tensor
    f_aa: Tensor | None
    g_bb: Tensor | None
    debiased: bool
    blur: float
    eps: float
    reach: float | None
    p: int
    marginal_error: float
    iterations: int
    eps_schedule: tuple[float, ...]
    backend: str
    status: Status
    timings: dict[str, float] = field(default_factory=dict)
    objective: Objective | None = field(default=None, repr=False)
    kernel_backend: KernelBackend | None = field(default=None, repr=False)
    tol: float | None = None

    @property
    def measures(self) -> Measures | None:
        """Both measures' supports and weights in batched form, detached."""
        if self.objective is None:
            return None
        x, y = self.objective.transport.x, self.objective.transport.y
        return Measures(x.support, y.support, x.weights, y.weights, x.batched)

    @property
    def cost(self) -> Cost | None:
        """The ground cost."""
        return None if self.objective is None else self.objective.transport.cost

    @property
    def potentials(self) -> tuple[Tensor, Tensor]:
        """The potentials (F, G) whose gradients give the transport.

        Debiased: :math:`F = f_{ba} - f_{aa}`, :math:`G = g_{ab} - g_{bb}`, so that
        :math:`\\nabla_{x_i} S_\\varepsilon = a_i \\nabla F(x_i)`; otherwise (f, g).
        """
        if self.f_aa is None or self.g_bb is None:
            return self.f, self.g
        return self.f - self.f_aa, self.g - self.g_bb

    def plan(
        self,
        form: Literal["dense", "sparse", "lazy"] = "dense",
        *,
        threshold: float = 1e-8,
        backend: str | None = None,
        memory_budget: int | None = None,
    ) -> Tensor | SparsePlan | LazyPlan:
        """The transport plan; see :func:`brenier.transport.plan`."""
        return plan(self, form, threshold=threshold, backend=backend, memory_budget=memory_budget)

    def barycentric_projection(self, *, backend: str | None = None) -> Tensor:
        """sum_j pi_ij y_j / (pi 1)_i; see :func:`brenier.transport.barycentric_projection`."""
        return barycentric_projection(self, backend=backend)

    def transport_map(
        self, points: Tensor, *, debias: bool | None = None, backend: str | None = None
    ) -> Tensor:
        """The Brenier map z - grad F(z); see :func:`brenier.transport.transport_map`."""
        return transport_map(self, points, debias=debias, backend=backend)

    @property
    def converged(self) -> bool:
        return self.status is Status.CONVERGED

    def summary(self) -> str:
        """A short human-readable report."""
        value = self.value.detach().flatten().tolist()
        shown = ", ".join(f"{v:.6g}" for v in value[:4]) + (" ..." if len(value) > 4 else "")
        return (
            f"OTResult(value=[{shown}], backend={self.backend}, blur={self.blur:g}, "
            f"iterations={self.iterations}, marginal_error={self.marginal_error:.2e}, "
            f"tol={self.tol if self.tol is None else format(self.tol, '.0e')}, "
            f"status={self.status.value})"
        )
