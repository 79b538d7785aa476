"""The ``"multiscale"`` kernel backend: opt-in, p = 2, CPU float32/float64.

It is not picked by ``backend="auto"`` in this version (``memory_linear = False``
hides it from the rule) until it is validated at scale. The planned rule: pick it for
p = 2 on CPU when both clouds have more than about 20,000 points and the blur is
below a tenth of the diameter (below that size, or at large blur, the coarse stage
and the truncation cost more than they save). See ``docs/multiscale.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
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
    memory_linear = False  # opt-in: hidden from the `auto` rule until validated

    def supports(self, cost: Cost) -> bool:
        return cost.function is None and cost.p == 2

    def pair(self, x: Tensor, y: Tensor, cost: Cost):
        """Without potentials nothing can be truncated: every block is kept."""
        from ._kernel import BlockSparsePair, SortedPair
        from ._truncation import BlockSparsity

        B, N, _ = x.shape
        M = y.shape[1]
        ix, iy = torch.arange(N), torch.arange(M)
        item = SortedPair(ix, ix, iy, BlockSparsity.full(N, M))
        return BlockSparsePair(x, y, (item,) * B)

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
