"""The compiled truncated Gaussian sums against dense sums over the same cutoff."""

from __future__ import annotations

import math

import pytest
import torch

from brenier.applications.registration._kernel_sums import CUTOFF, gaussian_sums
from brenier.applications.registration._nonrigid import local_precisions


def dense(queries, centers, weights, values, sigma, precisions=None):
    diff = queries[:, None, :] - centers[None]  # (K, C, D)
    if precisions is None:
        quad = (diff**2).sum(-1) / sigma**2
    else:
        quad = torch.einsum("kcd,cde,kce->kc", diff, precisions, diff)
    inside = diff.norm(dim=-1) < CUTOFF * sigma
    k = torch.exp(-0.5 * quad) * inside * weights
    return k @ values, k.sum(1)


@pytest.mark.parametrize(("dim", "values_dim"), [(1, 2), (2, 2), (3, 2), (3, 3), (4, 2)])
def test_isotropic_sums_match_dense_ones_within_the_cutoff(dim, values_dim):
    """(3, 3) is the vectorised path of the registration fields (3D displacements)."""
    gen = torch.Generator().manual_seed(dim)
    centers = torch.rand(300, dim, generator=gen, dtype=torch.float64)
    # queries inside, on the border and far outside the centres' box
    queries = torch.rand(200, dim, generator=gen, dtype=torch.float64) * 1.6 - 0.3
    weights = torch.rand(300, generator=gen, dtype=torch.float64)
    values = torch.randn(300, values_dim, generator=gen, dtype=torch.float64)
    num, mass = gaussian_sums(queries, centers, weights, values, 0.07)
    ref_num, ref_mass = dense(queries, centers, weights, values, 0.07)
    torch.testing.assert_close(num, ref_num, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mass, ref_mass, rtol=1e-12, atol=1e-12)
    assert (mass == 0).any() and (mass > 0).sum() > 40  # both cases were exercised


def test_anisotropic_sums_match_dense_ones():
    gen = torch.Generator().manual_seed(0)
    t = torch.rand(400, generator=gen, dtype=torch.float64) * 2 * math.pi
    centers = torch.stack([t.cos(), t.sin(), 0.3 * t], 1)  # a helix: a tube to follow
    centers = centers + 0.01 * torch.randn(centers.shape, generator=gen, dtype=torch.float64)
    precisions = local_precisions(centers, 0.2, 0.3)
    queries = centers[::3] + 0.05 * torch.randn(134, 3, generator=gen, dtype=torch.float64)
    weights = torch.ones(400, dtype=torch.float64)
    values = torch.randn(400, 3, generator=gen, dtype=torch.float64)
    num, mass = gaussian_sums(queries, centers, weights, values, 0.2, precisions)
    ref_num, ref_mass = dense(queries, centers, weights, values, 0.2, precisions)
    torch.testing.assert_close(num, ref_num, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mass, ref_mass, rtol=1e-12, atol=1e-12)


def test_float32_queries_give_float32_sums_and_empty_inputs_give_zeros():
    centers = torch.zeros(1, 3)
    num, mass = gaussian_sums(torch.zeros(2, 3), centers, torch.ones(1), torch.ones(1, 3), 1.0)
    assert num.dtype == mass.dtype == torch.float32
    assert torch.equal(mass, torch.ones(2)) and torch.equal(num, torch.ones(2, 3))
    num, mass = gaussian_sums(torch.zeros(0, 3), centers, torch.ones(1), torch.ones(1, 3), 1.0)
    assert num.shape == (0, 3) and mass.shape == (0,)
    empty = torch.zeros(0, 3)
    num, mass = gaussian_sums(torch.zeros(2, 3), empty, torch.ones(0), empty, 1.0)
    assert torch.equal(mass, torch.zeros(2))
