"""The memory budget of SamplesLoss and register (issue 14, item 4): no dense N x M above
it; a memory-linear backend when ``auto`` may choose, else a clear ``MemoryError``."""

from __future__ import annotations

import math

import pytest
import torch

import brenier
from brenier.kernels import DEFAULT_MEMORY_BUDGET, budget_scope, memory_budget
from brenier.solvers import _solve

F64 = torch.float64
#: 100 KB: the dense matrices of 200 x 150 points in float64 need ~1.2 MB.
LOW = 100_000


def clouds(n: int, m: int, d: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    return x, torch.randn(m, d, generator=gen, dtype=F64) + 0.3


@pytest.fixture
def chosen(monkeypatch) -> list[str]:
    """The names of the backends that every solve picks (spied on)."""
    names: list[str] = []
    choose = _solve.choose_backend

    def spy(request):
        backend = choose(request)
        names.append(backend.name)
        return backend

    monkeypatch.setattr(_solve, "choose_backend", spy)
    return names


def test_samples_loss_sinkhorn_and_hausdorff_switch_to_memory_linear_backends(chosen):
    x, y = clouds(200, 150)
    low = brenier.SamplesLoss("sinkhorn", blur=0.2, memory_budget=LOW)(x, y)
    assert chosen == ["online"]  # auto would pick dense at this size without the budget
    dense = brenier.SamplesLoss("sinkhorn", blur=0.2, backend="dense")(x, y)
    assert chosen == ["online", "dense"]
    assert float(low) == pytest.approx(float(dense), rel=1e-6)
    h_low = brenier.SamplesLoss("hausdorff", blur=0.2, memory_budget=LOW)(x, y)
    h_dense = brenier.SamplesLoss("hausdorff", blur=0.2, backend="dense")(x, y)
    assert float(h_low) == pytest.approx(float(h_dense), rel=1e-9)


@pytest.mark.parametrize("loss", ["sinkhorn", "hausdorff", "energy", "gaussian", "laplacian"])
def test_samples_loss_refuses_dense_matrices_above_the_budget(loss):
    x, y = clouds(200, 150)
    backend = "dense" if loss in ("sinkhorn", "hausdorff") else "auto"
    with pytest.raises(MemoryError, match=r"\[brenier\].*memory.budget"):
        brenier.SamplesLoss(loss, blur=0.2, backend=backend, memory_budget=LOW)(x, y)
    # the same loss within a budget that fits: a finite value
    value = brenier.SamplesLoss(loss, blur=0.2, backend=backend, memory_budget=10**7)(x, y)
    assert math.isfinite(float(value))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1GB", True])
def test_a_bad_budget_is_refused_at_construction(bad):
    with pytest.raises((ValueError, TypeError), match=r"\[brenier\] `memory_budget`"):
        brenier.SamplesLoss("sinkhorn", memory_budget=bad)
    x, y = clouds(5, 6)
    with pytest.raises((ValueError, TypeError), match=r"\[brenier\] `memory_budget`"):
        brenier.solve(x, y, memory_budget=bad)


def test_budget_scope_sets_the_default_inside_and_restores_it():
    assert memory_budget(None) == DEFAULT_MEMORY_BUDGET
    with budget_scope(LOW) as inside:
        assert inside == LOW and memory_budget(None) == LOW
        assert memory_budget(5_000) == 5_000  # an explicit budget still wins
        with budget_scope(None):
            assert memory_budget(None) == LOW
    assert memory_budget(None) == DEFAULT_MEMORY_BUDGET
    with pytest.raises(RuntimeError), budget_scope(LOW):
        raise RuntimeError  # restored on errors too
    assert memory_budget(None) == DEFAULT_MEMORY_BUDGET


def _ellipsoid(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=gen, dtype=F64) * torch.tensor([3.0, 1.5, 0.5], dtype=F64)


def test_register_honours_its_budget_in_every_solve(chosen):
    x = _ellipsoid(60, 0)
    c, s = math.cos(0.3), math.sin(0.3)
    R = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=F64)
    y = x @ R.T + 0.5
    options = {"steps": ("rigid",), "multistart": False}
    free = brenier.register(x, y, **options)
    assert "dense" in chosen  # 60 points: dense by default (B N M <= 10^4)
    chosen.clear()
    low = brenier.register(x, y, memory_budget=2_000, **options)
    assert chosen and "dense" not in chosen, chosen
    assert float((low.moved - y).norm(dim=1).max()) < 1e-2
    assert torch.allclose(low.moved, free.moved, atol=1e-3)
    assert memory_budget(None) == DEFAULT_MEMORY_BUDGET  # the scope ended with the call
    with pytest.raises(ValueError, match="memory_budget"):
        brenier.register(x, y, memory_budget=-1, **options)
