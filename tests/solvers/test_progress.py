"""Issue 17.4: a loop that cannot reach its tolerance gives up in bounded time."""

from __future__ import annotations

import math
import time

import torch

from brenier.geometry import make_cost
from brenier.kernels import get_backend
from brenier.results import Status
from brenier.solvers import FixedKernels, Interaction, LoopOptions, epsilon_schedule, sinkhorn_loop
from brenier.solvers._progress import STALL_WINDOW, Progress


def test_progress_stops_after_a_window_without_progress():
    watch = Progress(window=3)
    assert not any(watch.stalled(e) for e in (1.0, 0.5, 0.25, 0.2, 0.2, 0.2))
    assert watch.stalled(0.2)  # three iterations without a 1% drop of the best


def test_progress_stops_at_once_on_nan():
    assert Progress().stalled(math.nan)


def test_progress_never_stops_a_steady_slow_decrease():
    watch = Progress(window=50)
    assert not any(watch.stalled(0.98**k) for k in range(5000))


class NoisyPair:
    """A dense kernel whose softmin carries a fixed relative noise, as rounding does:
    the marginal error then plateaus near 1e-2, far above tol."""

    def __init__(self, pair, gen: torch.Generator) -> None:
        self.pair, self.gen = pair, gen

    def softmin(self, eps: float, h: torch.Tensor) -> torch.Tensor:
        out = self.pair.softmin(eps, h)
        noise = torch.rand(out.shape, generator=self.gen, dtype=out.dtype)
        return out + 1e-2 * eps * noise

    def softmax_sum(self, eps, h, v):
        return self.pair.softmax_sum(eps, h, v)


def test_a_loop_that_cannot_converge_stalls_long_before_max_iter(gen):
    x = torch.randn(1, 30, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(1, 30, 2, generator=gen, dtype=torch.float64)
    a = torch.full((1, 30), 1 / 30, dtype=torch.float64)
    dense, cost = get_backend("dense"), make_cost(2, None)
    noisy = Interaction.pair(
        NoisyPair(dense.pair(x, y, cost), gen), NoisyPair(dense.pair(y, x, cost), gen), a, a, None
    )
    schedule = epsilon_schedule(2, 4.0, 0.1, 0.5)
    start = time.perf_counter()
    strategy = FixedKernels(schedule, (noisy,))
    options = LoopOptions(tol=1e-6, max_iter=20_000)
    state, status, _ = sinkhorn_loop(strategy, options, torch.float64)
    assert status is Status.STALLED
    assert state.marginal_error > 1e-6
    assert state.iteration <= len(schedule) * 100 + 2 * STALL_WINDOW  # not 20,000
    assert time.perf_counter() - start < 10
