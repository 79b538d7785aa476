"""Memory budget (no dense N x M above it) and bit-identical repeats (issue 14, items 4-5)."""

from __future__ import annotations

import pytest
import torch

import brenier

F64 = torch.float64
#: float32 at blur 0.1 stops at its rounding floor (and warns): determinism holds there too.
pytestmark = pytest.mark.filterwarnings("ignore:.*status=rounding_floor:RuntimeWarning")


def clouds(n: int, m: int, d: int = 3, dtype=F64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=gen, dtype=dtype)
    return x, torch.randn(m, d, generator=gen, dtype=dtype) + 0.3


#: 100 KB: the dense matrices of 200 x 150 points in float64 need ~1.2 MB.
LOW = 100_000


@pytest.mark.parametrize("p", [1, 2])
def test_auto_switches_to_a_memory_linear_backend_below_the_budget(p):
    x, y = clouds(200, 150)
    small = brenier.solve(x[:20], y[:20], p=p, blur=0.2, memory_budget=LOW)
    assert small.backend == "dense"  # 20 x 20 fits
    res = brenier.solve(x, y, p=p, blur=0.2, memory_budget=LOW)
    assert res.backend in ("online", "multiscale") and res.converged
    ref = brenier.solve(x, y, p=p, blur=0.2, backend="dense")
    assert float(res.value) == pytest.approx(float(ref.value), rel=1e-6)


def test_explicit_dense_above_the_budget_is_a_clear_memory_error():
    x, y = clouds(200, 150)
    with pytest.raises(MemoryError, match=r"memory budget.*backend='online'"):
        brenier.solve(x, y, backend="dense", memory_budget=LOW)
    with pytest.raises(MemoryError, match="custom cost"):
        brenier.solve(x, y, cost=lambda u, v: torch.cdist(u, v), memory_budget=LOW)


def test_plans_honour_the_budget_and_the_linear_forms_do_not_need_it():
    x, y = clouds(200, 150)
    res = brenier.solve(x, y, blur=0.2, memory_budget=LOW)
    with pytest.raises(MemoryError, match="memory_budget"):
        brenier.dense_plan(res, memory_budget=LOW)
    with pytest.raises(MemoryError, match="memory_budget"):
        brenier.plan(res, "dense", memory_budget=LOW)
    lazy = brenier.plan(res, "lazy")
    rows = lazy.row_sums.reshape(-1)
    assert torch.allclose(rows, torch.full_like(rows, 1 / 200), atol=1e-9)
    sparse = brenier.sparse_plan(res, threshold=1e-6)
    assert sparse.nnz < 200 * 150
    maps = brenier.transport_map(res, x)
    assert maps.shape == x.shape and bool(torch.isfinite(maps).all())


def test_batched_problems_count_the_whole_batch():
    x, y = clouds(60, 60)
    xb, yb = x.expand(4, 60, 3).contiguous(), y.expand(4, 60, 3).contiguous()
    one = brenier.solve(x, y, blur=0.3, memory_budget=200_000)
    batch = brenier.solve(xb, yb, blur=0.3, memory_budget=200_000)
    assert one.backend == "dense" and batch.backend == "online"
    assert torch.allclose(batch.value, one.value.expand(4), rtol=1e-9)


@pytest.mark.parametrize(("backend", "n"), [("dense", 50), ("online", 200), ("multiscale", 400)])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_same_inputs_give_bit_identical_results(backend, n, dtype):
    x, y = clouds(n, n, dtype=dtype)
    first, second = (brenier.solve(x, y, blur=0.1, backend=backend) for _ in range(2))
    assert first.iterations == second.iterations
    for u, v in ((first.value, second.value), (first.f, second.f), (first.g, second.g)):
        assert torch.equal(u, v)
    assert first.marginal_error == second.marginal_error
    if backend != "dense":
        return
    grads = []  # and the gradients
    for _ in range(2):
        x_ = x.clone().requires_grad_(True)
        brenier.sinkhorn_divergence(x_, y, blur=0.1, backend=backend).backward()
        grads.append(x_.grad)
    assert torch.equal(grads[0], grads[1])


def test_exact_solvers_are_deterministic():
    x, y = clouds(300, 300)
    for fn in (lambda: brenier.assignment(x, y).permutation,
               lambda: brenier.sliced_wasserstein(x, y, seed=3),
               lambda: brenier.emd(x[:40], y[:40]).value):  # fmt: skip
        assert torch.equal(fn(), fn())
