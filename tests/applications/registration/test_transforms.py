"""Displacement fields: smoothing, fading, anisotropy; kernel splines."""

from __future__ import annotations

import torch

from brenier.applications.registration import KernelSpline, SmoothDisplacement
from brenier.applications.registration._nonrigid import local_precisions


def test_constant_displacement_is_reproduced_and_fades_far_away(gen: torch.Generator) -> None:
    c = torch.rand(500, 3, generator=gen, dtype=torch.float64)
    d = torch.tensor([0.1, -0.2, 0.05], dtype=torch.float64).expand(500, 3)
    field = SmoothDisplacement(c, d, torch.ones(500, dtype=torch.float64), 0.1, None, 1e-3)
    torch.testing.assert_close(field.velocity(c), d, atol=1e-3, rtol=0)
    far = torch.full((1, 3), 10.0, dtype=torch.float64)
    assert float(field.velocity(far).abs().max()) == 0.0
    assert torch.equal(field.apply(far), far)


def test_smoothing_averages_noise_away(gen: torch.Generator) -> None:
    c = torch.rand(3000, 3, generator=gen, dtype=torch.float64)
    noise = 0.1 * torch.randn(3000, 3, generator=gen, dtype=torch.float64)
    field = SmoothDisplacement(c, noise, torch.ones(3000, dtype=torch.float64), 0.15)
    inner = c[((c - 0.5).abs() < 0.3).all(1)]
    assert float(field.velocity(inner).norm(dim=1).mean()) < 0.2 * float(noise.norm(dim=1).mean())


def test_anisotropic_kernel_is_long_along_a_line(gen: torch.Generator) -> None:
    t = torch.linspace(0, 1, 200, dtype=torch.float64)[:, None]
    line = t * torch.tensor([1.0, 0, 0], dtype=torch.float64)
    P = local_precisions(line, sigma=0.1, ratio=0.25)
    e_along, e_across = torch.tensor([1.0, 0, 0]).double(), torch.tensor([0, 1.0, 0]).double()
    along = float(e_along @ P[100] @ e_along) ** -0.5
    across = float(e_across @ P[100] @ e_across) ** -0.5
    assert abs(along - 0.1) < 1e-6
    assert abs(across - 0.025) < 1e-3
    # Two parallel vessels 0.05 apart, one moving and one still: the anisotropic kernel
    # keeps the still one still; the isotropic one mixes them.
    other = line + torch.tensor([0, 0.05, 0], dtype=torch.float64)
    centers = torch.cat([line, other])
    d = torch.cat([torch.tensor([0, 0, 0.1]).double().expand(200, 3), torch.zeros(200, 3).double()])
    w = torch.ones(400, dtype=torch.float64)
    P2 = local_precisions(centers, sigma=0.1, ratio=0.25)
    iso = SmoothDisplacement(centers, d, w, 0.1)
    aniso = SmoothDisplacement(centers, d, w, 0.1, P2)
    leak_iso = float(iso.velocity(other[50:150]).norm(dim=1).mean())
    leak_aniso = float(aniso.velocity(other[50:150]).norm(dim=1).mean())
    assert leak_aniso < 0.3 * leak_iso, (leak_aniso, leak_iso)


def test_kernel_spline_is_the_gaussian_sum(gen: torch.Generator) -> None:
    c = torch.rand(5, 3, generator=gen, dtype=torch.float64)
    alpha = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    z = torch.rand(7, 3, generator=gen, dtype=torch.float64)
    spline = KernelSpline(c, alpha, 0.3)
    k = torch.exp(-((z[:, None] - c[None]) ** 2).sum(-1) / (2 * 0.3**2))
    torch.testing.assert_close(spline.apply(z), z + k @ alpha)
