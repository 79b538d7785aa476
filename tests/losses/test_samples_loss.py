"""SamplesLoss: a drop-in replacement for geomloss.SamplesLoss."""

from __future__ import annotations

import pytest
import torch

import brenier
from brenier import SamplesLoss


@pytest.fixture
def clouds(gen):
    x = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(70, 3, generator=gen, dtype=torch.float64) + 0.5
    a = torch.rand(60, generator=gen, dtype=torch.float64) + 0.1
    b = torch.rand(70, generator=gen, dtype=torch.float64) + 0.1
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("loss", ["energy", "gaussian", "laplacian"])
def test_kernel_losses_match_geomloss(clouds, loss):
    geomloss = pytest.importorskip("geomloss", reason="GeomLoss is a test-only reference")
    x, y, a, b = clouds
    ours = SamplesLoss(loss, blur=0.5)(a, x, b, y)
    theirs = geomloss.SamplesLoss(loss, blur=0.5)(a, x, b, y)
    # GeomLoss computes |x - y| as sqrt(max(|x-y|^2, 1e-8)): ~1e-4 off on the diagonal
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5 if loss == "gaussian" else 2e-4)


def test_two_call_forms_agree_with_uniform_weights(clouds):
    x, y, _, _ = clouds
    loss = SamplesLoss("sinkhorn", blur=0.2)
    uniform_a = torch.full((60,), 1 / 60, dtype=torch.float64)
    uniform_b = torch.full((70,), 1 / 70, dtype=torch.float64)
    assert float(loss(x, y)) == pytest.approx(float(loss(uniform_a, x, uniform_b, y)), rel=1e-9)


def test_wrong_number_of_arguments_is_a_type_error(clouds):
    x, y, a, _ = clouds
    with pytest.raises(TypeError, match=r"loss\(x, y\) or loss\(a, x, b, y\)"):
        SamplesLoss()(a, x, y)


def test_sinkhorn_loss_is_solve_value(clouds):
    x, y, a, b = clouds
    ours = SamplesLoss("sinkhorn", p=2, blur=0.1, reach=2.0)(a, x, b, y)
    direct = brenier.sinkhorn_divergence(x, y, a, b, p=2, blur=0.1, reach=2.0)
    assert float(ours) == pytest.approx(float(direct), rel=1e-12)


def test_potentials_are_the_debiased_ones(clouds):
    x, y, _, _ = clouds
    F, G = SamplesLoss(blur=0.2, potentials=True)(x, y)
    res = brenier.solve(x, y, blur=0.2)
    assert F.shape == (60,) and G.shape == (70,)
    assert torch.allclose(F, res.f - res.f_aa) and torch.allclose(G, res.g - res.g_bb)


def test_hausdorff_works_and_tends_to_the_chamfer_distance(clouds):
    x, y, _, _ = clouds
    x_ = x.clone().requires_grad_(True)
    value = SamplesLoss("hausdorff", p=2, blur=1e-3)(x_, y)
    value.backward()
    d = torch.cdist(x, y) ** 2 / 2
    chamfer = 0.5 * (d.min(1).values.mean() + d.min(0).values.mean())
    assert float(value.detach()) == pytest.approx(float(chamfer), rel=1e-3)
    assert torch.isfinite(x_.grad).all()
    assert float(SamplesLoss("hausdorff", blur=0.1)(x, x)) == pytest.approx(0.0, abs=1e-12)


def test_geomloss_backend_names_and_batched_inputs(gen):
    x = torch.randn(2, 30, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 40, 2, generator=gen, dtype=torch.float64)
    value = SamplesLoss("sinkhorn", blur=0.1, backend="tensorized")(x, y)
    assert value.shape == (2,)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(loss="wasserstein"), ValueError, "`loss` must be one of"),
        (dict(kernel=lambda x, y: x), ValueError, "custom `kernel`"),
        (dict(cluster_scale=0.1), ValueError, "multiscale backend sizes its grids"),
        (dict(truncate=3), ValueError, r"pass backend='multiscale' with it"),
        (dict(truncate=-1.0, backend="multiscale"), ValueError, "truncate"),
        (dict(loss="energy", potentials=True), ValueError, "potentials=True"),
        (dict(blur=0), ValueError, "blur"),
        (dict(scaling=2), ValueError, "scaling"),
        (dict(p=4), ValueError, "`p` must be 1"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SamplesLoss(**kwargs)


# issue 17.6: GeomLoss's truncate maps to the multiscale backend's threshold, and the
# module warns at a non-converged status like sinkhorn_divergence.
def test_truncate_configures_the_multiscale_backend(gen):
    x = torch.randn(300, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(300, 3, generator=gen, dtype=torch.float64) + 0.5
    loss = SamplesLoss("sinkhorn", blur=0.05, truncate=3, backend="multiscale")
    assert loss.backend.name == "multiscale(truncate=3)" and loss.backend.truncate == 3.0
    assert brenier.kernels.get_backend(loss.backend).truncate == 3.0
    reference = brenier.sinkhorn_divergence(x, y, blur=0.05, backend="online")
    assert float(loss(x, y)) == pytest.approx(float(reference), rel=1e-3)


def test_samples_loss_warns_like_sinkhorn_divergence(gen):
    x = torch.randn(100, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(100, 3, generator=gen, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="status=max_iterations") as functional:
        brenier.sinkhorn_divergence(x, y, blur=0.001, max_iter=5)
    with pytest.warns(RuntimeWarning, match="status=max_iterations") as module:
        SamplesLoss("sinkhorn", blur=0.001, max_iter=5)(x, y)
    assert module[0].filename == functional[0].filename == __file__  # points at the caller
