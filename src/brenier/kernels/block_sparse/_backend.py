"""The ``"multiscale"`` backend's options: p = 1 or 2, CPU float32/float64.

``backend="auto"`` picks it for the Sinkhorn loop on CPU when p = 1 or 2, D <= 3 and both
clouds hold at least ``MULTISCALE_MIN_POINTS`` points (the rule is written in
:func:`brenier.kernels.choose_backend`; measurements in ``docs/multiscale.md``). It is
not a memory-linear *pair* backend: its kernels depend on the potentials, so the
Sinkhorn loop gets them from the multiscale strategy (``brenier.solvers.multiscale``),
stage by stage; outside the loop (plans, maps, kernel losses) its ``pair`` is the
online kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ...geometry import Cost
from .._online import OnlinePair

#: Default number of clusters per cloud: grows as N^(2/3), the balance between the
#: coarse stage (K^2 pairs) and the fine one (about N^2 / K kept pairs).
DEFAULT_CLUSTER_FACTOR = 2.0
MIN_CLUSTERS, MAX_CLUSTERS = 16, 8000
#: Truncation threshold tau: dropped plan entries are below exp(-tau) of their row.
DEFAULT_TRUNCATE = 5.0
#: Points per fine block: smaller blocks truncate tighter, but the lists of kept
#: block pairs grow as (kept point pairs) / block^2 and cost more than the kernel.
DEFAULT_BLOCK_SIZE = 16


#: `auto` picks multiscale from this many points per cloud (p = 1 or 2, CPU, D <= 3).
#: Measured on 1 thread, convex-gradient pairs on a scan: faster than online from
#: 1,000 points at blur 0.1-0.02 (1.2x at 1,000, blur 0.1; 5x at 5,000, blur 0.02).
MULTISCALE_MIN_POINTS = 2_000


def default_clusters(n: int) -> int:
    """About 2 N^(2/3) clusters, within [16, 8000]."""
    return int(min(MAX_CLUSTERS, max(MIN_CLUSTERS, DEFAULT_CLUSTER_FACTOR * n ** (2 / 3))))


@dataclass(frozen=True)
class MultiscaleBackend:
    """Coarse-to-fine Sinkhorn with truncated block-sparse kernels (options only).

    The solver runs its multiscale strategy for this backend; progress (levels, kept
    fractions, times) is logged at DEBUG level on the ``"brenier.multiscale"`` logger.

    Attributes:
        name: the name reported in ``OTResult.backend``.
        clusters: clusters per cloud (``None``: :func:`default_clusters`).
        truncate: truncation threshold tau (see ``_truncation.py``).
        block_size: points per fine block, about (the fine grid halves the coarse one
            until its cells hold at most this many points on average).

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
    memory_linear = False  # `auto` picks it by its own rule, not as a pair backend

    def supports(self, cost: Cost) -> bool:
        return cost.function is None and cost.p in (1, 2)

    def pair(self, x: Tensor, y: Tensor, cost: Cost) -> OnlinePair:
        """Without potentials nothing can be truncated: the full kernel, i.e. the online
        one (plans, maps and kernel losses of a multiscale result use it, with
        gradients)."""
        return OnlinePair(x, y, p=int(cost.p))  # type: ignore[arg-type]
