"""Property-based tests of grid measures and their barycenters (hypothesis).

Laws that any (debiased) Wasserstein barycenter and Sinkhorn divergence on a grid obey:

- the barycenter of a density with itself is itself (S(a, a) = 0 and S >= 0, so q = a
  minimises sum_k w_k S(a, q));
- it has mass 1, and is invariant to permuting the inputs with their weights;
- translating every input by whole cells (away from the grid's border) translates the
  barycenter by the same cells;
- the grid divergence is symmetric, zero on equal densities, non-negative, and equals
  the one of the same masses as point clouds at the cells' centres (the dense backend).

As in ``test_properties.py``: a small derandomized profile in the normal suite, a
``slow``-marked one with more random examples.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import brenier
from brenier.geometry import Grid

PROFILES = [
    pytest.param("fast", id="fast"),
    # 40 examples of a few barycenters each: 4-5 minutes on the loaded 2-core machine,
    # which ran past the suite's 300 s limit (no example hangs: each takes 1-8 s)
    pytest.param("slow", id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(1800)]),
]
EXAMPLES = {"fast": 2, "slow": 40}
#: The barycenters' tolerance (L1 marginal error) and the agreement asked of them.
BARY_TOL, CLOSE = 1e-4, 2e-3

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def budget(profile: str) -> Callable:
    n = EXAMPLES[profile]
    # no shrinking: each example is a few barycenters (shrinking one took minutes)
    phases = (Phase.explicit, Phase.reuse, Phase.generate)
    return settings(
        max_examples=n, deadline=None, derandomize=profile == "fast", database=None, phases=phases
    )


def bump(shape: tuple[int, int], centre: tuple[float, float], width: float) -> torch.Tensor:
    """A Gaussian bump (plus a little noise floor) on an (H, W) grid."""
    i = torch.arange(shape[0], dtype=torch.float64)[:, None]
    j = torch.arange(shape[1], dtype=torch.float64)[None, :]
    return torch.exp(-((i - centre[0]) ** 2 + (j - centre[1]) ** 2) / (2 * width**2))


#: The side of the test images.
SIZE = 14


def max_width(margin: int) -> float:
    """The widest bump (at most 2 cells) whose centre can be ``margin`` + 2.5 widths from
    every border: 2 (margin + 2.5 width) <= SIZE - 1. (Widths up to 2 with a margin of 2
    left no room for the centre: hypothesis' slow profile drew one and failed.)"""
    return min(2.0, (SIZE - 1 - 2 * margin) / 5)


@st.composite
def densities(draw: st.DrawFn, k: int, margin: int = 0, texture: bool = True) -> torch.Tensor:
    """k densities (k, SIZE, SIZE): bumps of widths 1.2-2 cells (at most
    :func:`max_width`), at least ``margin`` cells (plus 2.5 widths) from the border, each
    times a random positive texture (unless ``texture`` is false)."""
    size = SIZE
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    out = []
    for _ in range(k):
        width = draw(st.floats(1.2, max_width(margin)))
        room = margin + 2.5 * width
        centre = (draw(st.floats(room, size - 1 - room)), draw(st.floats(room, size - 1 - room)))
        noise = torch.rand(size, size, generator=gen, dtype=torch.float64)
        out.append(bump((size, size), centre, width) * (1 + 0.3 * noise if texture else 1))
    d = torch.stack(out)
    return d / d.sum((1, 2), keepdim=True)


def l1(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p - q).abs().sum())


@pytest.mark.parametrize("profile", PROFILES)
def test_barycenter_of_a_density_with_itself_is_itself(profile):
    @budget(profile)
    # smooth densities: a textured one is not exactly reachable by the debiased fixed point
    # at blur 1 (its texture is at the scale of a cell), it stays within a few 1e-3
    @given(densities(1, texture=False), st.floats(0.1, 0.9))
    def check(d, w):
        q = brenier.barycenter(torch.cat([d, d]), [w, 1 - w], blur=1.0, tol=BARY_TOL)
        assert float(q.sum()) == pytest.approx(1.0, abs=1e-12)
        assert l1(q, d[0]) < CLOSE

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_barycenter_has_mass_one_and_ignores_the_order_of_its_inputs(profile):
    @budget(profile)
    @given(
        densities(3),
        st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3),
        st.permutations(range(3)),
    )
    def check(d, w, perm):
        q = brenier.barycenter(d, w, blur=1.0, tol=BARY_TOL)
        p = brenier.barycenter(d[perm], [w[i] for i in perm], blur=1.0, tol=BARY_TOL)
        assert float(q.sum()) == pytest.approx(1.0, abs=1e-12) and bool((q >= 0).all())
        assert l1(p, q) < CLOSE

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_barycenter_of_translated_images_is_the_translated_barycenter(profile):
    @budget(profile)
    @given(densities(2, margin=2), st.integers(-2, 2), st.integers(-2, 2))
    def check(d, di, dj):
        q = brenier.barycenter(d, [0.3, 0.7], blur=1.0, tol=BARY_TOL)
        # the bumps are 2 cells + 2.5 widths from the border: a shift of 2 cells moves
        # no mass that matters across it (torch.roll wraps only the tails)
        moved = torch.roll(d, shifts=(di, dj), dims=(1, 2))
        moved = moved / moved.sum((1, 2), keepdim=True)
        qm = brenier.barycenter(moved, [0.3, 0.7], blur=1.0, tol=BARY_TOL)
        assert l1(qm, torch.roll(q, shifts=(di, dj), dims=(0, 1))) < 5 * CLOSE

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_grid_divergence_is_symmetric_zero_on_equal_densities_and_non_negative(profile):
    @budget(profile)
    @given(densities(2), st.sampled_from([0.7, 1.5, 4.0]), st.sampled_from([None, 5.0]))
    def check(d, blur, reach):
        a, b = Grid(d[0]), Grid(d[1])
        options = {"blur": blur, "reach": reach, "tol": 1e-9}
        ab = brenier.solve(a, b, **options)
        ba = brenier.solve(b, a, **options)
        assert float(ab.value) == pytest.approx(float(ba.value), rel=1e-6, abs=1e-12)
        assert float(ab.value) >= -1e-9
        assert abs(float(brenier.solve(a, a, **options).value)) < 1e-9

    check()


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.data())
def test_the_densities_strategy_draws_every_width_and_margin(data):
    """The strategy itself (no solve): every margin used above leaves room for the centre
    of the widest bump, and the bumps keep their margin (their peak cell inside it)."""
    margin = data.draw(st.sampled_from([0, 1, 2]))
    d = data.draw(densities(2, margin=margin, texture=False))
    assert d.shape == (2, SIZE, SIZE) and bool(torch.isfinite(d).all())
    for image in d:
        i, j = divmod(int(image.argmax()), SIZE)
        assert margin + 2 <= min(i, j) and max(i, j) <= SIZE - 1 - margin - 2
    assert max_width(2) == 1.8 and max_width(0) == 2.0


def test_grid_divergence_equals_the_point_cloud_one():
    # the same masses at the cells' centres, through the dense backend (an exact reference)
    gen = torch.Generator().manual_seed(0)
    d = torch.rand(2, 6, 5, generator=gen, dtype=torch.float64) + 0.1
    d = d / d.sum((1, 2), keepdim=True)
    spacing = (1.5, 0.5)
    i, j = torch.meshgrid(torch.arange(6.0), torch.arange(5.0), indexing="ij")
    centres = torch.stack([i * spacing[0], j * spacing[1]], -1).reshape(-1, 2).double()
    for reach in (None, 2.0):
        grid = brenier.solve(
            Grid(d[0], spacing), Grid(d[1], spacing), blur=0.8, reach=reach, tol=1e-10
        )
        dense = brenier.solve(
            centres, centres, d[0].reshape(-1), d[1].reshape(-1), blur=0.8, reach=reach,
            tol=1e-10, backend="dense",
        )  # fmt: skip
        assert float(grid.value) == pytest.approx(float(dense.value), rel=1e-7, abs=1e-12)
