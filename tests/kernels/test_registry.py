"""Backends are objects: picked by name or passed in, picklable, nothing registered."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import pytest
import torch

import brenier
from brenier.geometry import Cost
from brenier.kernels import (
    DEFAULT_MEMORY_BUDGET,
    BackendRequest,
    OnlinePair,
    choose_backend,
    get_backend,
)
from brenier.kernels.block_sparse import MultiscaleBackend


@dataclass(frozen=True)
class CountingOnline:
    """A custom backend defined outside the library: online kernels, tagged."""

    name: str = "counting-online"
    memory_linear: bool = True

    def supports(self, cost: Cost) -> bool:
        return cost.function is None

    def pair(self, x: torch.Tensor, y: torch.Tensor, cost: Cost) -> OnlinePair:
        return OnlinePair(x, y, p=int(cost.p))  # type: ignore[arg-type]


def _solve_with(backend: object) -> float:
    x = torch.linspace(0, 1, 200, dtype=torch.float64)[:, None].repeat(1, 2)
    return float(brenier.solve(x, x + 0.5, blur=0.05, backend=backend).value)


def test_a_custom_backend_object_is_used_and_reported() -> None:
    res = brenier.solve(torch.rand(100, 2), torch.rand(80, 2), blur=0.1, backend=CountingOnline())
    assert res.backend == "counting-online" and isinstance(res.kernel_backend, CountingOnline)
    assert res.plan("lazy").shape == (100, 80)  # plans reuse the object that solved


def test_backends_pickle_and_run_in_another_process() -> None:
    # What a Dask worker receives: the pickled object, in a fresh interpreter.
    for backend in (CountingOnline(), MultiscaleBackend(truncate=7.0), get_backend("online")):
        assert pickle.loads(pickle.dumps(backend)) == backend or backend.name == "online"
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        remote = pool.submit(_solve_with, CountingOnline()).result(timeout=120)
    assert remote == pytest.approx(_solve_with("online"), rel=1e-12)


def test_nothing_is_registered_and_bad_backends_are_refused() -> None:
    assert brenier.kernels.available_backends() == (
        "auto",
        "dense",
        "online",
        "keops",
        "multiscale",
        "grid",
    )
    assert not hasattr(brenier.kernels, "register_backend")
    with pytest.raises(TypeError, match=r"\[brenier\].*KernelBackend object"):
        brenier.solve(torch.rand(10, 2), torch.rand(10, 2), backend=object())
    with pytest.raises(ValueError, match=r"\[brenier\] unknown backend 'fast'"):
        brenier.solve(torch.rand(10, 2), torch.rand(10, 2), backend="fast")


def test_the_auto_rule_reads_a_typed_request() -> None:
    big = BackendRequest("auto", Cost(p=2), (1, 20_000, 20_000), dim=3, purpose="loop")
    assert choose_backend(big).name == "multiscale"
    assert choose_backend(BackendRequest("auto", Cost(p=2), (1, 20_000, 20_000), dim=3)).name == (
        "online"
    )  # a pair kernel (plans, maps) never gets the loop-only strategy
    tight = BackendRequest("dense", Cost(p=2), (1, 20_000, 20_000), dim=3, memory_budget=10**6)
    with pytest.raises(MemoryError, match=r"\[brenier\].*memory budget"):
        choose_backend(tight)
    assert DEFAULT_MEMORY_BUDGET == 2 * 1024**3  # one budget: cost matrices and plans


def test_the_cpu_only_multiscale_backend_refuses_other_devices() -> None:
    """Its kernels are compiled for the CPU: CUDA data gets a clear error, and ``auto``
    never picks it there (dense or online instead)."""
    shape = (1, 20_000, 20_000)
    on_gpu = BackendRequest("multiscale", Cost(p=2), shape, dim=3, device_type="cuda")
    with pytest.raises(ValueError, match=r"\[brenier\] backend 'multiscale' runs on the CPU"):
        choose_backend(on_gpu)
    auto = BackendRequest("auto", Cost(p=2), shape, dim=3, device_type="cuda", purpose="loop")
    assert choose_backend(auto).name in ("dense", "online")


def test_p1_runs_on_multiscale_and_online(gen):
    x = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    m = brenier.solve(x, y, p=1, backend="multiscale", tol=1e-8)
    o = brenier.solve(x, y, p=1, backend="online", tol=1e-8)
    assert (m.backend, o.backend) == ("multiscale", "online")
    assert torch.allclose(m.value, o.value, rtol=1e-6)


def test_a_custom_cost_still_recommends_dense(gen):
    x = torch.randn(20, 2, generator=gen, dtype=torch.float64)

    def cost(u, v):
        return ((u[:, :, None] - v[:, None]) ** 2).sum(-1)

    with pytest.raises(ValueError, match=r"use backend='dense' \(custom costs"):
        brenier.solve(x, x + 1, cost=cost, backend="online")
