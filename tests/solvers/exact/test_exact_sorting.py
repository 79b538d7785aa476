"""1D OT by sorting and sliced OT, against POT and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brenier.solvers.exact import emd, ot_1d, ot_1d_plan, sliced_wasserstein

ot = pytest.importorskip("ot", reason="POT (test extra `pot`) is the 1D reference")


def _weighted_1d(n: int, m: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, dtype=torch.float64, generator=g)
    y = 2 * torch.rand(m, 1, dtype=torch.float64, generator=g)
    a = torch.rand(n, dtype=torch.float64, generator=g) + 0.1
    b = torch.rand(m, dtype=torch.float64, generator=g) + 0.1
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize("sizes", [(7, 5), (40, 40), (100, 63)])
def test_ot_1d_matches_pot_wasserstein_1d(p, sizes):
    x, y, a, b = _weighted_1d(*sizes, seed=sizes[0])
    ref = ot.wasserstein_1d(x[:, 0].numpy(), y[:, 0].numpy(), a.numpy(), b.numpy(), p=p)
    ref = ref / 2 if p == 2 else ref  # our convention at p = 2 is |x - y|^2 / 2
    assert float(ot_1d(x, y, a, b, p=p)) == pytest.approx(ref, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("p", [1, 2])
def test_ot_1d_matches_pot_emd2(p):
    x, y, a, b = _weighted_1d(30, 45, seed=3)
    M = np.abs(x.numpy() - y.numpy().T) ** p / (2 if p == 2 else 1)
    ref = ot.emd2(a.numpy(), b.numpy(), M)
    assert float(ot_1d(x, y, a, b, p=p)) == pytest.approx(ref, rel=1e-10)


def test_ot_1d_plan_matches_pot_emd_1d_with_ties():
    x, y, a, b = _weighted_1d(25, 30, seed=4)
    x[5:10] = x[0]  # duplicated support points
    y[::3] = 0.5
    plan = ot_1d_plan(x, y, a, b).to_dense().numpy()
    ref = ot.emd_1d(x[:, 0].numpy(), y[:, 0].numpy(), a.numpy(), b.numpy())
    cost = np.abs(x.numpy() - y.numpy().T) ** 2
    assert np.allclose(plan.sum(1), a.numpy()) and np.allclose(plan.sum(0), b.numpy())
    # Ties make the plan non-unique: compare the costs, and the plans where unique.
    assert (plan * cost).sum() == pytest.approx((ref * cost).sum(), rel=1e-12)
    assert np.count_nonzero(plan) <= 25 + 30 - 1


def test_ot_1d_plan_uniform_permutation():
    g = torch.Generator().manual_seed(5)
    y = torch.randn(50, 1, generator=g, dtype=torch.float64)
    perm = torch.randperm(50, generator=g)
    plan = ot_1d_plan(y[perm], y).to_dense()
    assert torch.equal(plan.argmax(1), perm)
    assert float(ot_1d(y[perm], y)) == 0.0


def test_ot_1d_batched_equals_loop_and_keeps_dtype():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 20, 1, generator=g)
    y = torch.randn(3, 30, 1, generator=g) + 1
    batched = ot_1d(x, y, p=1)
    assert batched.shape == (3,) and batched.dtype == torch.float32
    looped = torch.stack([ot_1d(x[k], y[k], p=1) for k in range(3)])
    assert torch.allclose(batched, looped)


def test_ot_1d_gradient_by_finite_differences():
    x, y, a, b = _weighted_1d(12, 9, seed=7)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: ot_1d(x, y, a, b, p=2), (x,))
    assert torch.autograd.gradcheck(lambda x: ot_1d(x, y, a, b, p=3), (x,))


def test_ot_1d_gradient_at_p2_is_displacement():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(10, 1, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(10, 1, generator=g, dtype=torch.float64)
    ot_1d(x, y).backward()
    sorted_y = torch.sort(y[:, 0]).values
    rank = torch.argsort(torch.argsort(x.detach()[:, 0]))
    expected = (x.detach()[:, 0] - sorted_y[rank]) / 10  # a_i (x_i - T(x_i))
    assert torch.allclose(x.grad[:, 0], expected)


def test_sliced_in_1d_equals_exact_1d():
    x, y, a, b = _weighted_1d(30, 20, seed=9)
    for p in (1, 2):
        sliced = sliced_wasserstein(x, y, a, b, n_projections=7, p=p, seed=1)
        assert float(sliced) == pytest.approx(float(ot_1d(x, y, a, b, p=p)), rel=1e-12)


def test_sliced_is_deterministic_with_a_seed_and_a_lower_bound():
    g = torch.Generator().manual_seed(10)
    x = torch.randn(80, 3, generator=g, dtype=torch.float64)
    y = torch.randn(80, 3, generator=g, dtype=torch.float64) * 0.5 + 1
    s1 = sliced_wasserstein(x, y, n_projections=100, seed=3)
    s2 = sliced_wasserstein(x, y, n_projections=100, seed=3)
    s3 = sliced_wasserstein(x, y, n_projections=100, seed=4)
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)
    # Projections are 1-Lipschitz: every slice costs at most the full OT.
    assert float(s1) <= float(emd(x, y).value) + 1e-12
    batched = sliced_wasserstein(torch.stack([x, y]), torch.stack([y, x]), seed=3)
    assert batched.shape == (2,) and torch.allclose(batched[0], batched[1])


def test_sliced_translation_closed_form():
    # For a translation t and p = 2 every slice costs (theta . t)^2 / 2, whose mean over
    # the sphere is |t|^2 / (2 D).
    g = torch.Generator().manual_seed(11)
    x = torch.randn(50, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    value = sliced_wasserstein(x, x + t, n_projections=4000, seed=0)
    assert float(value) == pytest.approx(float(t @ t) / 6, rel=0.05)
