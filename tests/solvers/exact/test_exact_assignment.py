"""The auction and lapjv assignments against scipy, and the auction's certificate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

from brenier.solvers.exact import _auction, _kdtree, assignment, check_certificate


def _scipy_cost(x: torch.Tensor, y: torch.Tensor, p: int) -> float:
    d = x.double()[:, None, :] - y.double()[None, :, :]
    sq = (d * d).sum(-1).numpy()
    C = sq / 2 if p == 2 else np.sqrt(sq)
    rows, cols = scipy.optimize.linear_sum_assignment(C)
    return float(C[rows, cols].mean())


def _cloud(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.rand(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("n", "d", "p"),
    [(50, 2, 2), (300, 3, 1), (600, 2, 2), (2000, 3, 2), (800, 3, 1), (500, 5, 2), (400, 6, 1)],
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


def _sphere(n: int, seed: int) -> torch.Tensor:
    """Uniform samples of the unit sphere: two of them nearly tie everywhere."""
    z = torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return z / z.norm(dim=1, keepdim=True)


def _rotated_annulus(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    r = 1 + torch.rand(n, generator=g, dtype=torch.float64)
    t = 2 * torch.pi * torch.rand(2, n, generator=g, dtype=torch.float64)
    x = torch.stack([r * t[0].cos(), r * t[0].sin()], 1)
    y = torch.stack([r * (t[1] + 0.5).cos(), r * (t[1] + 0.5).sin()], 1) + 0.3
    return x, y


@pytest.mark.parametrize(
    ("name", "p"), [("sphere", 2), ("sphere", 1), ("annulus", 2), ("tiny", 2), ("pair", 2)]
)
def test_auction_matches_scipy_on_structured_problems(name, p):
    if name == "sphere":  # two samples of one surface: a local transport, many near-ties
        x, y = _sphere(2000, seed=12), _sphere(2000, seed=13)
    elif name == "annulus":  # a rotated, shifted sample: a large, global transport
        x, y = _rotated_annulus(1500, seed=14)
    else:  # N = 3 and N = 2: candidate lists of one object
        n = 3 if name == "tiny" else 2
        x, y = _cloud(n, 2, seed=15), _cloud(n, 2, seed=16)
    res = assignment(x, y, p=p, method="auction")
    ref = _scipy_cost(x, y, p)
    assert res.exact and float(res.cost) == pytest.approx(ref, rel=1e-9, abs=1e-15)
    assert float(res.cost) - res.gap_bound <= ref + 1e-15


def test_certificate_of_the_auction_on_points_checked_with_numpy():
    # Objects are renumbered in k-d tree order inside; sigma and prices come back in the
    # caller's numbering, which the numpy certificate checks.
    x, y = _sphere(500, seed=17).numpy(), (_sphere(500, seed=18) * 1.2).numpy()
    C = ((x[:, None] - y[None]) ** 2).sum(-1) / 2
    eps_final = 1e-7
    sigma, prices, gap, *_ = _auction.auction(
        _auction.make_geometry(x, y), 1.0, eps_final, 6.0, 10**8
    )
    cert = check_certificate(C, sigma, prices)
    rows, cols = scipy.optimize.linear_sum_assignment(C)
    assert cert["violation"] <= 1e-12
    assert 0 <= cert["primal"] - C[rows, cols].sum() <= cert["gap"] + 1e-12 <= gap + 1e-12
    assert cert["gap"] <= 500 * eps_final


@pytest.mark.parametrize(("d", "euclidean"), [(2, False), (3, False), (3, True)])
def test_tree_search_returns_the_values_of_a_linear_scan(d, euclidean):
    rng = np.random.default_rng(d)
    Y = rng.random((700, d))
    Y[::7] = Y[0]  # duplicated objects: ties
    prices = np.zeros(700)
    tree = _kdtree.build_tree(Y)
    heap_v, heap_j = np.empty(9), np.empty(9, dtype=np.int64)
    stack, bounds = np.zeros(128, dtype=np.int64), np.zeros(128)
    for step in range(3):
        for j in rng.integers(0, 700, 300):  # prices only increase, as in the auction
            prices[j] += rng.random() * 0.05 * step
            _kdtree.raise_price(tree, prices, j)
        _, _, start, stop, _, _, _, min_price, order, _ = tree
        subtree_min = [prices[order[a:b]].min() for a, b in zip(start, stop, strict=True)]
        assert np.array_equal(min_price, subtree_min)  # exact lower bounds of the prices
        for x in rng.random((50, d)) * 1.2 - 0.1:
            _kdtree.smallest_reduced(tree, x, Y, prices, euclidean, heap_v, heap_j, stack, bounds)
            s = np.zeros(700)
            for k in range(d):  # the compiled code's operations, in its order
                s = s + (x[k] - Y[:, k]) * (x[k] - Y[:, k])
            values = (np.sqrt(s) if euclidean else 0.5 * s) + prices
            assert np.array_equal(np.sort(heap_v), np.sort(values)[:9])
            assert heap_v[0] == heap_v.max()  # the root is the threshold
            assert np.array_equal(values[heap_j], heap_v)
