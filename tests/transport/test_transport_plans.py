"""Plans in three forms against each other, their marginals, rounding and hard matching."""

from __future__ import annotations

import pytest
import torch

import brenier
from brenier.transport import (
    LazyPlan,
    SparsePlan,
    dense_plan,
    hard_matching,
    lazy_plan,
    marginal_errors,
    marginals,
    plan,
    round_plan,
    sparse_plan,
)

BACKENDS = ["dense", "online"]


def _clouds(gen: torch.Generator, n: int = 120, m: int = 90, dtype=torch.float64):
    x = torch.randn(n, 2, generator=gen, dtype=dtype)
    y = torch.randn(m, 2, generator=gen, dtype=dtype) * 0.6 + 1.0
    a = torch.rand(n, generator=gen, dtype=dtype) + 0.2
    return x, y, a / a.sum()


@pytest.fixture(scope="module")
def result():
    """One solve shared by the read-only tests of this module (results are immutable)."""
    x, y, a = _clouds(torch.Generator().manual_seed(1))
    return brenier.solve(x, y, a, blur=0.1, backend="dense")


@pytest.mark.parametrize("backend", BACKENDS)
def test_lazy_products_match_the_dense_plan(gen, backend):
    x, y, a = _clouds(gen)
    res = brenier.solve(x, y, a, blur=0.1, backend=backend)
    P, L = dense_plan(res), lazy_plan(res)
    v = torch.randn(90, 3, generator=gen, dtype=torch.float64)
    u = torch.randn(120, generator=gen, dtype=torch.float64)
    assert isinstance(L, LazyPlan) and L.shape == (120, 90)
    torch.testing.assert_close(L @ v, P @ v, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(L.T @ u, P.T @ u, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(L.rmatvec(u), P.T @ u, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(L.to_dense(), P, rtol=1e-10, atol=1e-14)


def test_sparse_plan_matches_dense_up_to_the_dropped_mass(result):
    P = dense_plan(result)
    S = sparse_plan(result, threshold=1e-4)
    assert isinstance(S, SparsePlan) and S.matrix.layout == torch.sparse_csr
    kept = S.to_dense()
    assert 0 < S.nnz < P.numel()
    # kept entries are exact; what is missing is exactly the reported dropped mass
    torch.testing.assert_close(kept[kept > 0], P[kept > 0], rtol=1e-12, atol=0.0)
    assert float((P - kept).sum()) == pytest.approx(float(S.dropped_mass), rel=1e-9, abs=1e-15)
    assert float(S.dropped_mass) < 1e-3
    # every row keeps its largest entry; a smaller threshold keeps more
    assert bool((kept.argmax(1) == P.argmax(1)).all())
    assert sparse_plan(result, threshold=1e-10).nnz > S.nnz
    torch.testing.assert_close(sparse_plan(result, threshold=0.0).to_dense(), P)
    scipy_matrix = S.to_scipy()[0]
    assert scipy_matrix.shape == (120, 90) and scipy_matrix.nnz == S.nnz


def test_plan_marginals_match_the_weights_within_the_reported_error(gen):
    x, y, a = _clouds(gen)
    res = brenier.solve(x, y, a, blur=0.05, tol=1e-3)
    err_a, err_b = marginal_errors(res)
    rows, cols = marginals(res)
    P = dense_plan(res)
    torch.testing.assert_close(rows, P.sum(1))
    torch.testing.assert_close(cols, P.sum(0))
    # f is the exact softmin of the final g: rows are exact, columns within the reported error
    assert float(err_a) < 1e-10
    assert float(err_b) <= 2 * res.marginal_error
    assert res.marginal_error <= 1e-3


def test_rounding_gives_exact_marginals_and_moves_little(result):
    P = dense_plan(result)
    a, b = result.measures.a[0], result.measures.b[0]
    R = round_plan(P, a, b)
    assert bool((R >= 0).all())
    torch.testing.assert_close(R.sum(1), a, rtol=0, atol=1e-15)
    torch.testing.assert_close(R.sum(0), b, rtol=0, atol=1e-15)
    delta = float((P.sum(1) - a).abs().sum() + (P.sum(0) - b).abs().sum())
    assert float((R - P).abs().sum()) <= 2 * delta + 1e-14  # Altschuler-Weed-Rigollet bound


def test_rounding_of_a_crude_matrix_and_of_a_batch(gen):
    P = torch.rand(2, 7, 5, generator=gen, dtype=torch.float64)
    a = torch.softmax(torch.randn(2, 7, generator=gen, dtype=torch.float64), -1)
    b = torch.softmax(torch.randn(2, 5, generator=gen, dtype=torch.float64), -1)
    R = round_plan(P, a, b)
    assert R.shape == P.shape
    torch.testing.assert_close(R.sum(-1), a, rtol=0, atol=1e-15)
    torch.testing.assert_close(R.sum(-2), b, rtol=0, atol=1e-15)


def test_rounding_rejects_bad_inputs():
    P = torch.full((3, 3), 1 / 9, dtype=torch.float64)
    a = torch.full((3,), 1 / 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\[brenier\].*total masses"):
        round_plan(P, a, 2 * a)
    with pytest.raises(ValueError, match=r"\[brenier\].*non-negative"):
        round_plan(-P, a, a)
    with pytest.raises(TypeError, match=r"\[brenier\].*dense torch.Tensor"):
        round_plan(P.numpy(), a, a)
    with pytest.raises(ValueError, match=r"\[brenier\]"):
        round_plan(P, a[:2], a)


def test_hard_matching_is_the_row_argmax_and_recovers_a_permutation(gen, result):
    assert bool((hard_matching(result) == dense_plan(result).argmax(1)).all())
    x = torch.rand(80, 2, generator=gen, dtype=torch.float64)
    perm = torch.randperm(80, generator=gen)
    res = brenier.solve(x, x[perm] + 0.01, blur=0.005)
    j = hard_matching(res)
    assert j.dtype == torch.int64 and bool((perm[j] == torch.arange(80)).all())


def test_batched_plans_agree(gen):
    x = torch.randn(2, 40, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 30, 3, generator=gen, dtype=torch.float64) + 0.5
    res = brenier.solve(x, y, blur=0.1)
    P = dense_plan(res)
    assert P.shape == (2, 40, 30)
    v = torch.randn(2, 30, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(lazy_plan(res) @ v, (P @ v.unsqueeze(-1)).squeeze(-1))
    S = sparse_plan(res, threshold=0.0)
    assert len(S.matrices) == 2 and S.dropped_mass.shape == (2,)
    torch.testing.assert_close(S.to_dense(), P)
    assert hard_matching(res).shape == (2, 40)
    assert marginal_errors(res)[0].shape == (2,)


def test_unbalanced_plan_forms_agree(gen):
    x, y, a = _clouds(gen)
    res = brenier.solve(x, y, a, blur=0.1, reach=0.5)
    P = dense_plan(res)
    ones = torch.ones(90, dtype=torch.float64)
    torch.testing.assert_close(lazy_plan(res) @ ones, P.sum(1))
    torch.testing.assert_close(marginals(res)[1], P.sum(0))
    assert float(P.sum()) < 1.0  # mass is destroyed rather than moved far


def test_float32_plans_keep_the_dtype(gen):
    x, y, a = _clouds(gen, dtype=torch.float32)
    res = brenier.solve(x, y, a, blur=0.1)
    assert dense_plan(res).dtype == torch.float32
    assert sparse_plan(res).matrix.dtype == torch.float32
    v = torch.ones(90)
    assert (lazy_plan(res) @ v).dtype == torch.float32


def test_result_methods_delegate(result):
    torch.testing.assert_close(result.plan(), dense_plan(result))
    assert isinstance(result.plan("sparse", threshold=1e-6), SparsePlan)
    assert isinstance(result.plan(form="lazy"), LazyPlan)


def test_bad_plan_requests_raise(result):
    with pytest.raises(ValueError, match=r"\[brenier\].*form"):
        plan(result, "csr")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\[brenier\].*OTResult"):
        dense_plan(torch.zeros(3))
    with pytest.raises(MemoryError, match=r"\[brenier\].*form='sparse'"):
        dense_plan(result, memory_budget=1000)
    with pytest.raises(ValueError, match=r"\[brenier\].*threshold"):
        sparse_plan(result, threshold=1.5)
    with pytest.raises(ValueError, match=r"\[brenier\].*unknown backend"):
        lazy_plan(result, backend="gpu-magic")
    L = lazy_plan(result)
    with pytest.raises(ValueError, match=r"\[brenier\].*cannot multiply"):
        L @ torch.ones(120, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"\[brenier\].*dtype"):
        L @ torch.ones(90, dtype=torch.float32)
