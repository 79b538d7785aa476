"""The ``"multiscale"`` kernel backend: p = 2, CPU float32/float64.

``backend="auto"`` picks it for the Sinkhorn loop on CPU when p = 2, D <= 3 and both
clouds hold at least ``MULTISCALE_MIN_POINTS`` points (the rule is written in
:func:`brenier.kernels.choose_backend`; measurements in ``docs/multiscale.md``). It is
not a memory-linear *pair* backend: outside the loop (plans, maps, kernel losses) its
``pair`` is the online kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from ..geometry import Cost

if TYPE_CHECKING:  # the solver layer imports the kernels: no import cycle at run time
    from ..results import Status
    from ..solvers._sinkhorn import Interactions, SinkhornState

#: Default number of clusters per cloud: grows as N^(2/3), the balance between the
#: coarse stage (K^2 pairs) and the fine one (about N^2 / K kept pairs).
DEFAULT_CLUSTER_FACTOR = 2.0
MIN_CLUSTERS, MAX_CLUSTERS = 16, 8000
#: Truncation threshold tau: dropped plan entries are below exp(-tau) of their row.
DEFAULT_TRUNCATE = 5.0
#: Points per fine block: smaller blocks truncate tighter, but the lists of kept
#: block pairs grow as (kept point pairs) / block^2 and cost more than the kernel.
DEFAULT_BLOCK_SIZE = 16


#: `auto` picks multiscale from this many points per cloud (p = 2, CPU, D <= 3).
#: Measured on 1 thread, convex-gradient pairs on a scan: faster than online from
#: 1,000 points at blur 0.1-0.02 (1.2x at 1,000, blur 0.1; 5x at 5,000, blur 0.02).
MULTISCALE_MIN_POINTS = 2_000


def default_clusters(n: int) -> int:
    """About 2 N^(2/3) clusters, within [16, 8000]."""
    return int(min(MAX_CLUSTERS, max(MIN_CLUSTERS, DEFAULT_CLUSTER_FACTOR * n ** (2 / 3))))


@dataclass(frozen=True)
class MultiscaleBackend:
    """Coarse-to-fine Sinkhorn with truncated block-sparse kernels.

    Attributes:
        name: registry name.
        clusters: clusters per cloud (``None``: :func:`default_clusters`).
        truncate: truncation threshold tau (see ``_truncation.py``).
        block_size: points per fine block, about (the fine grid halves the coarse one
            until its cells hold at most this many points on average).
        verbose: print the levels, kept fractions and times.

    Example:
        >>> import torch, brenier
        >>> x = torch.rand(500, 3, dtype=torch.float64)
        >>> res = brenier.solve(x, x + 1.0, blur=0.05, backend="multiscale")
        >>> res.backend, round(float(res.value), 2)  # |shift|^2 / 2 = 3 / 2
        ('multiscale', 1.5)
    """

    name: str = "multiscale"
    clusters: int | None = None
    truncate: float = DEFAULT_TRUNCATE
    block_size: int = DEFAULT_BLOCK_SIZE
    verbose: bool = False
    memory_linear = False  # `auto` picks it by its own rule, not as a pair backend

    def supports(self, cost: Cost) -> bool:
        return cost.function is None and cost.p == 2

    def pair(self, x: Tensor, y: Tensor, cost: Cost):
        """Without potentials nothing can be truncated: the full kernel, i.e. the online
        one (plans, maps and kernel losses of a multiscale result use it, with
        gradients)."""
        from ..kernels import get_backend

        return get_backend("online").pair(x, y, cost)

    def run_loop(
        self,
        x: Tensor,
        y: Tensor,
        a: Tensor,
        b: Tensor,
        schedule: list[float],
        *,
        debias: bool,
        rho: float | None,
        tol: float | None,
        max_iter: int,
        relaxation: float,
        callback: Callable | None,
    ) -> tuple[Interactions, SinkhornState, Status]:
        """Runs the whole Sinkhorn loop (see ``_driver.py``) on x (B, N, D), y (B, M, D).

        Returns the last (truncated) kernels, the final state and the status, in the
        user's order, for :func:`brenier.solve` to compute the value.
        """
        from ._driver import LoopOptions, run_multiscale

        n = max(x.shape[1], y.shape[1])
        k = self.clusters if self.clusters is not None else default_clusters(n)
        opt = LoopOptions(rho, tol, max_iter, relaxation, callback, debias)
        return run_multiscale(
            x,
            y,
            a,
            b,
            schedule,
            opt,
            clusters=k,
            tau=self.truncate,
            block=self.block_size,
            verbose=self.verbose,
        )
