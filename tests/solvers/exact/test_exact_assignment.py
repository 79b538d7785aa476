"""The auction and lapjv assignments against scipy, and the auction's certificate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

from brenier.solvers.exact import _auction, assignment, check_certificate


def _scipy_cost(x: torch.Tensor, y: torch.Tensor, p: int) -> float:
    d = x.double()[:, None, :] - y.double()[None, :, :]
    sq = (d * d).sum(-1).numpy()
    C = sq / 2 if p == 2 else np.sqrt(sq)
    rows, cols = scipy.optimize.linear_sum_assignment(C)
    return float(C[rows, cols].mean())


def _cloud(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.rand(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("n", "d", "p"), [(50, 2, 2), (300, 3, 1), (600, 2, 2), (2000, 3, 2), (800, 3, 1)]
)
def test_auction_matches_scipy_on_random_clouds(n, d, p):
    x, y = _cloud(n, d, seed=n), _cloud(n, d, seed=n + 1) * 1.5
    res = assignment(x, y, p=p, method="auction")
    ref = _scipy_cost(x, y, p)
    assert res.method == "auction" and res.exact
    assert float(res.cost) == pytest.approx(ref, rel=1e-9)
    assert float(res.cost) - res.gap_bound <= ref + 1e-15  # the certificate holds
    assert sorted(res.permutation.tolist()) == list(range(n))


def test_auction_on_a_permutation_of_the_same_cloud_costs_zero():
    y = _cloud(1500, 3, seed=1)
    perm = torch.randperm(1500, generator=torch.Generator().manual_seed(2))
    res = assignment(y[perm], y, method="auction")
    assert float(res.cost) == 0.0 and res.exact
    assert torch.equal(res.permutation, perm)


def test_auction_on_integer_grids_with_ties_is_certified_exact():
    # Grids have many optimal matchings; integer coordinates make costs multiples of 1/2.
    side = torch.arange(20, dtype=torch.float64)
    grid = torch.cartesian_prod(side, side)
    shifted = grid[torch.randperm(400, generator=torch.Generator().manual_seed(3))] + 3.0
    shifted[::7] = grid[0]  # duplicated targets
    res = assignment(grid, shifted, method="auction")
    ref = _scipy_cost(grid, shifted, 2)
    assert res.exact and res.gap_bound < 0.5 / 400
    assert float(res.cost) == pytest.approx(ref, rel=1e-12)


def test_auction_with_duplicated_points_3d():
    x = _cloud(200, 3, seed=4).repeat(3, 1)  # every point three times
    y = _cloud(600, 3, seed=5)
    res = assignment(x, y, method="auction")
    assert res.exact and float(res.cost) == pytest.approx(_scipy_cost(x, y, 2), rel=1e-9)


def test_certificate_of_the_compiled_auction_checked_with_numpy():
    x, y = _cloud(400, 3, seed=6).numpy(), _cloud(400, 3, seed=7).numpy()
    C = ((x[:, None] - y[None]) ** 2).sum(-1) / 2
    eps_final = 1e-6
    sigma, prices, gap, dual, *_ = _auction.auction(
        _auction.make_geometry(C=C), 0.01, eps_final, 5.0, 10**8
    )
    cert = check_certificate(C, sigma, prices)
    rows, cols = scipy.optimize.linear_sum_assignment(C)
    true_gap = cert["primal"] - C[rows, cols].sum()
    assert cert["violation"] <= 1e-12  # (f, g) is dual feasible
    assert 0 <= true_gap <= cert["gap"] + 1e-12 <= gap + 1e-12  # the bound holds
    assert cert["gap"] <= 400 * eps_final and dual == pytest.approx(cert["dual"], abs=1e-9)


def test_integer_custom_cost_is_exact():
    x, y = _cloud(120, 2, seed=8) * 10, _cloud(120, 2, seed=9) * 10

    def rounded_manhattan(u, v):
        return (u[:, :, None, :] - v[:, None, :, :]).abs().sum(-1).round()

    res = assignment(x, y, cost=rounded_manhattan, method="auction")
    C = rounded_manhattan(x[None], y[None])[0].numpy()
    rows, cols = scipy.optimize.linear_sum_assignment(C)
    assert res.exact and float(res.cost) * 120 == pytest.approx(C[rows, cols].sum(), abs=1e-9)


def test_lapjv_auto_batch_dtype_and_gradient():
    x = _cloud(30, 3, seed=10).float().reshape(2, 15, 3).requires_grad_(True)
    y = _cloud(30, 3, seed=11).float().reshape(2, 15, 3)
    res = assignment(x, y)  # small: auto picks lapjv
    assert res.method == "lapjv" and res.exact and res.gap_bound == 0.0
    assert res.cost.shape == (2,) and res.cost.dtype == torch.float32
    assert res.permutation.shape == (2, 15) and res.permutation.dtype == torch.int64
    res.cost.sum().backward()
    matched = torch.stack([y[k][res.permutation[k]] for k in range(2)])
    assert torch.allclose(x.grad, (x.detach() - matched) / 15)  # d/dx of mean |x-y|^2/2
    auction = assignment(x.detach(), y, method="auction")
    assert torch.allclose(auction.cost, res.cost)
