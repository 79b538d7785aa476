"""``SamplesLoss``: a drop-in replacement for GeomLoss's module of the same name."""

from __future__ import annotations

import logging
from collections.abc import Callable

from torch import Tensor, nn

from .._validation import (
    PREFIX,
    check_choice,
    check_measures,
    check_positive,
    check_scaling,
)
from ..geometry import make_cost
from ..kernels import BackendRequest, choose_backend
from ..kernels import memory_budget as check_memory_budget
from ..kernels.block_sparse import MultiscaleBackend
from ..solvers import DEFAULT_TOL, solve, warn_unless_ok
from ._kernel_losses import KERNELS, hausdorff_divergence, kernel_loss

LOSSES = ("sinkhorn", "hausdorff", *KERNELS)
#: GeomLoss's backend names, mapped to ours.
BACKEND_ALIASES = {"tensorized": "dense"}

logger = logging.getLogger("brenier")


def multiscale_truncation(backend: str, truncate: float | None) -> str | MultiscaleBackend:
    """The backend for GeomLoss's ``truncate``: a multiscale backend object with that
    threshold, named ``"multiscale(truncate=...)"``."""
    if truncate is None or truncate == MultiscaleBackend.truncate:
        return backend
    tau = check_positive("truncate", truncate)
    if backend != "multiscale":
        raise ValueError(
            f"{PREFIX} `truncate`={truncate!r} sets the truncation of the multiscale backend, "
            f"but backend={backend!r}: pass backend='multiscale' with it, or leave truncate "
            "at its default (5)."
        )
    return MultiscaleBackend(name=f"multiscale(truncate={tau:g})", truncate=tau)


class SamplesLoss(nn.Module):
    """Loss between weighted point clouds, with GeomLoss's constructor keywords.

    Replacing ``from geomloss import SamplesLoss`` by ``from brenier import SamplesLoss``
    keeps working code working; the Sinkhorn loss additionally iterates at each blur
    until the marginal error is below ``tol`` (``tol=None`` restores GeomLoss's
    fixed schedule).

    Args:
        loss: ``"sinkhorn"`` (debiased Sinkhorn divergence, see :func:`brenier.solve`),
            ``"hausdorff"`` (weighted Hausdorff divergence), or a kernel norm
            ``"energy"``, ``"gaussian"``, ``"laplacian"``.
        p: exponent of the cost for ``"sinkhorn"`` and ``"hausdorff"`` (1 or 2).
        blur: final blur (Sinkhorn, Hausdorff) or kernel width (Gaussian, Laplacian).
        reach: ``None`` (balanced) or the reach of unbalanced OT.
        diameter: largest distance in the problem (default: computed).
        scaling: ratio of the eps-scaling, in (0, 1).
        truncate: with ``backend="multiscale"``, the truncation threshold of the
            multiscale backend, as in GeomLoss: blocks whose plan entries are below
            ``exp(-truncate)`` are dropped (default 5; ``None`` keeps the default).
        cost: a callable ``(x, y) -> (B, N, M)`` cost matrix instead of ``p``.
        kernel: must be ``None`` (GeomLoss's custom kernel formulas are not supported).
        cluster_scale: must be ``None`` (the multiscale grids are sized from the
            number of points).
        debias: debiased divergence (default) or raw OT_eps.
        potentials: return the dual potentials (F, G) instead of the value.
        verbose: accepted for compatibility; diagnostics live in :func:`brenier.solve`'s
            ``OTResult``.
        backend: ``"auto"``, ``"dense"`` (alias ``"tensorized"``) or another registered
            backend.
        tol, max_iter: stopping rule of the Sinkhorn loop (brenier only).
        memory_budget: bytes allowed for dense matrices (brenier only; default 2 GiB).
            Above it, ``backend="auto"`` computes the Sinkhorn and Hausdorff losses with
            a memory-linear backend, and an explicit ``"dense"`` backend or a kernel
            norm (``"energy"``, ``"gaussian"``, ``"laplacian"``, which build their N x M
            matrices) raise a ``MemoryError``.

    Call forms (the two of GeomLoss, checked, never guessed):
        ``loss(x, y)``: uniform weights; ``loss(a, x, b, y)``: weighted. Points are
        (N, D) or batched (B, N, D); the value is () or (B,).

    Example:
        >>> import torch
        >>> from brenier import SamplesLoss
        >>> x, y = torch.randn(50, 3), torch.randn(60, 3)
        >>> SamplesLoss("sinkhorn", blur=0.05)(x, y).shape
        torch.Size([])
    """

    def __init__(
        self,
        loss: str = "sinkhorn",
        p: int = 2,
        blur: float = 0.05,
        reach: float | None = None,
        diameter: float | None = None,
        scaling: float = 0.5,
        truncate: float | None = 5,
        cost: Callable[[Tensor, Tensor], Tensor] | None = None,
        kernel: object = None,
        cluster_scale: float | None = None,
        debias: bool = True,
        potentials: bool = False,
        verbose: bool = False,
        backend: str = "auto",
        *,
        tol: float | None = DEFAULT_TOL,
        max_iter: int = 10_000,
        memory_budget: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("loss", loss, LOSSES)
        if kernel is not None:
            raise ValueError(
                f"{PREFIX} custom `kernel` formulas are not supported; use loss='gaussian', "
                "'laplacian' or 'energy', or a `cost` callable with loss='sinkhorn'."
            )
        if cluster_scale is not None:
            raise ValueError(
                f"{PREFIX} `cluster_scale` is not supported: brenier's multiscale backend "
                "sizes its grids from the number of points. Leave it at None; to set the "
                "number of clusters, pass "
                "`backend=brenier.kernels.block_sparse.MultiscaleBackend(clusters=...)`."
            )
        if potentials and loss != "sinkhorn":
            raise ValueError(f"{PREFIX} potentials=True needs loss='sinkhorn', got {loss!r}.")
        check_positive("blur", blur)
        check_scaling(scaling)
        make_cost(p, cost)  # validates p / cost now rather than at the first call
        self.loss, self.p, self.blur, self.reach = loss, p, blur, reach
        self.diameter, self.scaling, self.cost = diameter, scaling, cost
        self.debias, self.potentials, self.verbose = debias, potentials, verbose
        self.backend = multiscale_truncation(BACKEND_ALIASES.get(backend, backend), truncate)
        self.tol, self.max_iter = tol, max_iter
        if memory_budget is not None:
            check_memory_budget(memory_budget)  # fails now rather than at the first call
        self.memory_budget = memory_budget

    def forward(self, *tensors: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """``loss(x, y)`` or ``loss(a, x, b, y)``; see the class docstring."""
        if len(tensors) == 2:
            (x, y), a, b = tensors, None, None
        elif len(tensors) == 4:
            a, x, b, y = tensors
        else:
            raise TypeError(
                f"{PREFIX} SamplesLoss takes loss(x, y) or loss(a, x, b, y); got "
                f"{len(tensors)} tensors."
            )
        if self.loss == "sinkhorn":
            return self._sinkhorn(x, y, a, b)
        m = check_measures(x, y, a, b)
        if self.loss == "hausdorff":
            c = make_cost(self.p, self.cost)
            B, N, _ = m.x.shape
            shape = (B, max(N, m.y.shape[1]), max(N, m.y.shape[1]))
            request = BackendRequest(
                self.backend,
                c,
                shape,
                dim=m.x.shape[-1],
                itemsize=m.x.element_size(),
                device_type=m.x.device.type,
                memory_budget=self.memory_budget,
            )
            kernels = choose_backend(request)
            value = hausdorff_divergence(m, c, kernels, self.blur**c.exponent)
        else:
            value = kernel_loss(self.loss, m, self.blur, self.memory_budget)
        return value if m.batched else value.squeeze(0)

    def _sinkhorn(
        self, x: Tensor, y: Tensor, a: Tensor | None, b: Tensor | None
    ) -> Tensor | tuple[Tensor, Tensor]:
        result = solve(
            x,
            y,
            a,
            b,
            p=self.p,
            cost=self.cost,
            blur=self.blur,
            scaling=self.scaling,
            reach=self.reach,
            debias=self.debias,
            diameter=self.diameter,
            tol=self.tol,
            max_iter=self.max_iter,
            backend=self.backend,
            memory_budget=self.memory_budget,
        )
        if self.verbose:
            logger.info(result.summary())
        # user -> Module.__call__ -> _call_impl -> forward -> _sinkhorn -> warn_unless_ok
        warn_unless_ok(result, stacklevel=6)
        return result.potentials if self.potentials else result.value

    def extra_repr(self) -> str:
        return (
            f"loss={self.loss!r}, p={self.p}, blur={self.blur}, reach={self.reach}, "
            f"scaling={self.scaling}, debias={self.debias}, backend={self.backend!r}"
        )


__all__ = ["SamplesLoss"]
