"""The grid backend against the dense kernel on the cell centres, and grid OT."""

import math

import pytest
import torch

import brenier
from brenier.geometry import Cost, Grid
from brenier.kernels import BackendRequest, DenseBackend, GridBackend, GridPair, choose_backend


def _pair_grids(dtype, shapes=((7, 9), (5, 11))):
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.rand(*shape, generator=gen, dtype=dtype) for shape in shapes)
    x = Grid(x, spacing=(0.3, 0.7), origin=(0.1, -1))
    y = Grid(y, spacing=(0.5, 0.2), origin=(1, 0))
    return x, y, gen


@pytest.mark.parametrize("eps", [10.0, 0.1, 1e-3, 1e-5])
def test_softmin_equals_dense_anisotropic_float64(eps):
    x, y, gen = _pair_grids(torch.float64)
    grid = GridPair.between(x, y)
    dense = DenseBackend().pair(x.support, y.support, Cost(p=2))
    h = 3 * torch.randn(2, 55, generator=gen, dtype=torch.float64)
    h[0, 3] = -math.inf  # a cell of zero mass
    expected = dense.softmin(eps, h)
    assert torch.allclose(grid.softmin(eps, h), expected, rtol=1e-10, atol=1e-10 * eps)
    v = torch.randn(2, 55, 3, generator=gen, dtype=torch.float64)
    assert torch.allclose(grid.softmax_sum(eps, h, v), dense.softmax_sum(eps, h, v), atol=1e-9)


def test_softmin_equals_dense_3d_with_pruning():
    gen = torch.Generator().manual_seed(1)
    shape = (20, 17, 40)  # lines longer than a block: the pruning is exercised
    x = Grid(torch.rand(*shape, generator=gen, dtype=torch.float64), spacing=(1.0, 0.5, 2.5))
    grid = GridPair.between(x, x)
    dense = DenseBackend().pair(x.support[:, ::7], x.support, Cost(p=2))
    # potentials of a large translation: the maximiser sits far from the diagonal
    pts = x.support[0]
    for eps in (0.5, 4.0):
        h = (pts @ torch.tensor([3.0, -2.0, 5.0], dtype=torch.float64) / eps)[None]
        got = grid.softmin(eps, h)[:, ::7]
        assert torch.allclose(got, dense.softmin(eps, h), rtol=1e-10, atol=1e-9)


def test_gradient_matches_dense_float64():
    x, y, gen = _pair_grids(torch.float64)
    grid = GridPair.between(x, y)
    dense = DenseBackend().pair(x.support, y.support, Cost(p=2))
    h = torch.randn(1, 55, generator=gen, dtype=torch.float64)
    w = torch.randn(1, 63, generator=gen, dtype=torch.float64)
    grads = []
    for kernel in (grid, dense):
        hh = h.clone().requires_grad_()
        (kernel.softmin(0.05, hh) * w).sum().backward()
        grads.append(hh.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-10)


def test_float32_close_to_float64():
    x, y, gen = _pair_grids(torch.float64)
    h = torch.randn(1, 55, generator=gen, dtype=torch.float64)
    exact = GridPair.between(x, y).softmin(0.01, h)
    x32, y32 = (Grid(g.densities().float(), g.spacing, g.origin) for g in (x, y))
    got = GridPair.between(x32, y32).softmin(0.01, h.float())
    assert torch.allclose(got.double(), exact, rtol=1e-5, atol=1e-5)


def _blob(shape, centre, sigma, spacing, dtype=torch.float64):
    axes = [torch.arange(n, dtype=dtype) * h for n, h in zip(shape, spacing, strict=True)]
    mesh = torch.meshgrid(*axes, indexing="ij")
    d2 = sum((m - c) ** 2 for m, c in zip(mesh, centre, strict=True))
    d = torch.exp(-d2 / (2 * sigma**2))
    return d / d.sum()


def test_grid_ot_of_translated_blobs_matches_closed_form():
    spacing = (0.5, 1.0)
    a = _blob((48, 40), (8.0, 12.0), 2.5, spacing)
    b = _blob((48, 40), (14.0, 21.0), 2.5, spacing)
    res = brenier.solve(Grid(a, spacing), Grid(b, spacing), blur=0.25)
    assert res.backend == "grid" and res.status.ok
    exact = 0.5 * (6.0**2 + 9.0**2)  # W2^2/2 between translated Gaussians
    assert res.value.item() == pytest.approx(exact, rel=2e-3)


def test_grid_ot_value_and_gradient_equal_dense():
    spacing = (0.5, 1.0)
    a = _blob((16, 12), (2.0, 4.0), 1.5, spacing).requires_grad_()
    b = _blob((16, 12), (5.0, 7.0), 2.0, spacing)
    values, grads = [], []
    for backend in ("grid", "dense"):
        res = brenier.solve(Grid(a, spacing), Grid(b, spacing), blur=0.5, backend=backend, tol=1e-9)
        (grad,) = torch.autograd.grad(res.value, a)
        values.append(res.value.item())
        grads.append(grad - grad.mean())  # the gauge: gradients wrt masses up to a constant
    assert values[0] == pytest.approx(values[1], rel=1e-9)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_transport_map_of_a_translation():
    spacing = (1.0, 1.0)
    a = _blob((32, 32), (10.0, 12.0), 3.0, spacing)
    b = _blob((32, 32), (16.0, 15.0), 3.0, spacing)
    res = brenier.solve(Grid(a), Grid(b), blur=0.5)
    T = res.barycentric_projection()
    support = Grid(a).support[0]
    shift = torch.tensor([6.0, 3.0], dtype=torch.float64)
    weights = a.reshape(-1, 1)
    assert torch.allclose(((T - support) * weights).sum(0), shift, atol=5e-3)
    core = (T - support)[a.reshape(-1) > 1e-3]  # within ~2 sigma of the centre
    assert torch.allclose(core, shift.expand_as(core), atol=0.1)


def test_auto_picks_grid_and_explicit_grid_rejects_clouds():
    request = BackendRequest("auto", Cost(p=2), (1, 100, 100), dim=2, grids=True)
    assert choose_backend(request).name == "grid"
    with pytest.raises(TypeError, match="Grid geometries"):
        brenier.solve(torch.rand(5, 2), torch.rand(6, 2), backend="grid")
    with pytest.raises(ValueError, match="p=2"):
        GridBackend().pair_grids(Grid(torch.ones(3, 3)), Grid(torch.ones(3, 3)), Cost(p=1))


def test_coarsened_grid_keeps_mass_and_centres():
    base = torch.rand(3, 4, 2, dtype=torch.float64)
    fine = base.repeat_interleave(2, 0).repeat_interleave(2, 1).repeat_interleave(2, 2)
    g = Grid(fine, spacing=(1.0, 2.0, 0.5), origin=(0, 1, 2))
    c = g.coarsened(1)
    assert c.shape == (3, 4, 2) and c.spacing == (2.0, 4.0, 1.0)
    assert c.origin == (0.5, 2.0, 2.25)
    assert c.weights.sum().item() == pytest.approx(g.weights.sum().item())
    mean_fine = (g.weights[0, :, None] * g.support[0]).sum(0)
    mean_coarse = (c.weights[0, :, None] * c.support[0]).sum(0)
    assert torch.allclose(mean_fine, mean_coarse)  # mass spread evenly within coarse cells


@pytest.mark.parametrize("Q", [1, 3, 16, 21])
def test_line_kernel_equals_dense_on_every_layout(Q):
    """``lse_axis`` reads lines in place along the middle axis of (P, n, Q): groups of 16
    lines straddle rows of P when Q is not a multiple of 16; lines without mass and
    scattered empty cells map to log 0; float64 to 1e-12 of the dense log-sum-exp."""
    from brenier.kernels._grid_numba import NEG, lse_axis

    gen = torch.Generator().manual_seed(Q)
    for trial in range(12):
        P = 1 + trial % 3
        n_in, n_out = 5 + 7 * trial, 40 - 3 * trial
        ox, hx, oy, hy = -1.5 + 0.3 * trial, 0.7 + 0.1 * trial, 0.4, 1.3 - 0.05 * trial
        c = (0.02, 0.3, 3.0)[trial % 3]
        scale = (0.1, 5.0, 80.0)[trial % 3]
        H = scale * torch.randn(P, n_in, Q, generator=gen, dtype=torch.float64)
        H = H + 0.5 * trial * torch.arange(n_in, dtype=torch.float64)[None, :, None]
        if trial % 4 == 0:  # empty cells, and a line without mass
            H[:, torch.rand(n_in, generator=gen) < 0.4] = NEG
            H[0, :, 0] = NEG
        out = torch.empty(P, n_out, Q, dtype=torch.float64)
        lse_axis(H.numpy(), n_out, ox, hx, oy, hy, c, 46.0, out.numpy())
        x = ox + hx * torch.arange(n_out, dtype=torch.float64)
        y = oy + hy * torch.arange(n_in, dtype=torch.float64)
        E = H[:, None, :, :] - c * ((x[:, None] - y[None, :]) ** 2)[None, :, :, None]
        ref = torch.logsumexp(E, dim=2)
        live = ref > NEG / 2
        assert bool((out[~live] <= NEG / 2).all())
        scale_ref = max(1.0, float(ref[live].abs().max())) if bool(live.any()) else 1.0
        err = float((out - ref)[live].abs().max()) if bool(live.any()) else 0.0
        assert err <= 1e-12 * scale_ref, (trial, err)
