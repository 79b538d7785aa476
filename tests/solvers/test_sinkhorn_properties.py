"""Properties of the Sinkhorn solver: debiasing, gradients, batching, dtypes, status."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import brenier
from brenier.solvers import epsilon_schedule


def cloud(gen, n, d=2, dtype=torch.float64, shift=0.0):
    return torch.randn(n, d, generator=gen, dtype=dtype) + shift


def test_divergence_is_zero_on_identical_inputs(gen):
    x = cloud(gen, 80, 3)
    a = torch.rand(80, generator=gen, dtype=torch.float64) + 0.1
    a = a / a.sum()
    assert abs(float(brenier.sinkhorn_divergence(x, x, a, a, blur=0.5, tol=1e-9))) < 1e-10
    # at the default tolerance, the residue is far below the scale of the costs
    assert abs(float(brenier.sinkhorn_divergence(x, x, a, a, blur=0.05))) < 1e-5


# Derandomized: CI replays the same 15 examples. Random runs found tol=1e-9 cases that
# the loop could not reach (unbalanced, 5 vs 2 points: Anderson cycled at a marginal
# error of 0.55), fixed by the safeguard of _sinkhorn.REVERT_GROWTH
# (tests/reliability/test_anderson.py); tests/reliability/test_properties.py runs the
# random version.
@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    n=st.integers(2, 30),
    m=st.integers(2, 30),
    blur=st.floats(0.05, 2.0),
    seed=st.integers(0, 2**16),
    reach=st.sampled_from([None, 0.5, 3.0]),
)
def test_divergence_is_nonnegative(n, m, blur, seed, reach):
    gen = torch.Generator().manual_seed(seed)
    x, y = cloud(gen, n), cloud(gen, m, shift=0.3)
    value = float(brenier.sinkhorn_divergence(x, y, blur=blur, reach=reach, tol=1e-9))
    assert value >= -1e-9


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), t=st.floats(-3, 3))
def test_translation_equivariance_for_p2(seed, t):
    """S(x, y + t) = S(x, y) + |t + m_x - m_y|^2/2 - |m_x - m_y|^2/2 for p = 2."""
    gen = torch.Generator().manual_seed(seed)
    x, y = cloud(gen, 20), cloud(gen, 25)
    shift = torch.tensor([t, -t / 2], dtype=torch.float64)
    base = float(brenier.sinkhorn_divergence(x, y, blur=0.3, tol=1e-10))
    moved = float(brenier.sinkhorn_divergence(x, y + shift, blur=0.3, tol=1e-10))
    d = x.mean(0) - y.mean(0)
    expected = base + float(((d - shift) ** 2).sum() - (d**2).sum()) / 2
    assert moved == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_symmetry_of_the_divergence(gen):
    x, y = cloud(gen, 30), cloud(gen, 40, shift=1.0)
    s_xy = float(brenier.sinkhorn_divergence(x, y, blur=0.2, tol=1e-10))
    s_yx = float(brenier.sinkhorn_divergence(y, x, blur=0.2, tol=1e-10))
    assert s_xy == pytest.approx(s_yx, rel=1e-7)


@pytest.mark.parametrize("reach", [None, 1.0])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("debias", [True, False])
def test_point_gradients_match_finite_differences(gen, reach, p, debias):
    x, y = cloud(gen, 12), cloud(gen, 15, shift=0.5)
    options = dict(p=p, blur=0.3, reach=reach, debias=debias, tol=1e-12)
    x_ = x.clone().requires_grad_(True)
    y_ = y.clone().requires_grad_(True)
    brenier.sinkhorn_divergence(x_, y_, **options).backward()
    for points, grad, first in ((x, x_.grad, True), (y, y_.grad, False)):
        direction = torch.randn(points.shape, generator=gen, dtype=torch.float64)
        h = 1e-5

        def value(q, first=first):
            return float(
                brenier.sinkhorn_divergence(q, y, **options)
                if first
                else brenier.sinkhorn_divergence(x, q, **options)
            )

        fd = (value(points + h * direction) - value(points - h * direction)) / (2 * h)
        assert float((grad * direction).sum()) == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("reach", [None, 1.0])
def test_weight_gradients_match_finite_differences(gen, reach):
    x, y = cloud(gen, 10), cloud(gen, 14, shift=0.5)
    a = torch.rand(10, generator=gen, dtype=torch.float64) + 0.5
    b = torch.rand(14, generator=gen, dtype=torch.float64) + 0.5
    a, b = a / a.sum(), b / b.sum()
    options = dict(blur=0.3, reach=reach, tol=1e-12)
    a_, b_ = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    brenier.sinkhorn_divergence(x, y, a_, b_, **options).backward()
    # balanced OT needs equal masses: perturb along mass-preserving directions
    da = torch.randn(10, generator=gen, dtype=torch.float64)
    db = torch.randn(14, generator=gen, dtype=torch.float64)
    if reach is None:
        da, db = da - da.mean(), db - db.mean()
    h = 1e-6

    def value(t):
        return float(brenier.sinkhorn_divergence(x, y, a + t * da, b + t * db, **options))

    fd = (value(h) - value(-h)) / (2 * h)
    analytic = float((a_.grad * da).sum() + (b_.grad * db).sum())
    assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_gradient_is_the_brenier_displacement_for_a_translation(gen):
    x = cloud(gen, 50)
    t = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x_ = x.clone().requires_grad_(True)
    brenier.sinkhorn_divergence(x_, x + t, blur=0.01).backward()
    # grad_{x_i} S = a_i (x_i - T(x_i)) = -t / N
    assert torch.allclose(x_.grad, (-t / 50).expand(50, 2), atol=1e-5)


@pytest.mark.parametrize("reach", [None, 2.0])
def test_batched_equals_per_sample(gen, reach):
    x = torch.randn(3, 20, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 25, 2, generator=gen, dtype=torch.float64) + 0.5
    batched = brenier.solve(x, y, blur=0.1, reach=reach, tol=1e-10)
    assert batched.value.shape == (3,) and batched.f.shape == (3, 20)
    for k in range(3):
        single = brenier.solve(x[k], y[k], blur=0.1, reach=reach, tol=1e-10)
        assert float(batched.value[k]) == pytest.approx(float(single.value), rel=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept_and_float32_agrees(gen, dtype):
    x, y = cloud(gen, 40), cloud(gen, 50, shift=1.0)
    ref = brenier.solve(x, y, blur=0.05)
    res = brenier.solve(x.to(dtype), y.to(dtype), blur=0.05)
    assert res.value.dtype == dtype and res.f.dtype == dtype and res.g.dtype == dtype
    assert float(res.value) == pytest.approx(float(ref.value), rel=1e-3)


def test_result_reports_schedule_backend_and_status(gen):
    x, y = cloud(gen, 30), cloud(gen, 30, shift=1.0)
    res = brenier.solve(x, y, blur=0.05, scaling=0.5)
    assert res.backend == "dense"
    assert res.eps_schedule[-1] == pytest.approx(0.05**2)
    assert res.status is brenier.Status.CONVERGED and res.converged
    assert res.marginal_error <= 1e-3
    assert res.iterations >= len(res.eps_schedule)
    assert "backend=dense" in res.summary()


def test_max_iterations_status_and_warning(gen):
    x, y = cloud(gen, 30), cloud(gen, 30, shift=1.0)
    res = brenier.solve(x, y, blur=0.01, max_iter=5)
    assert res.status is brenier.Status.MAX_ITERATIONS and not res.converged
    assert "max_iter" in res.status.message
    with pytest.warns(RuntimeWarning, match="max_iter"):
        brenier.sinkhorn_divergence(x, y, blur=0.01, max_iter=5)


def test_tolerance_none_is_geomloss_fixed_schedule(gen):
    x, y = cloud(gen, 30), cloud(gen, 30, shift=1.0)
    res = brenier.solve(x, y, blur=0.05, scaling=0.5, tol=None)
    assert res.status is brenier.Status.NOT_CHECKED
    assert res.iterations == len(res.eps_schedule)


def test_callback_sees_every_iteration(gen):
    x, y = cloud(gen, 20), cloud(gen, 20, shift=1.0)
    seen = []
    res = brenier.solve(x, y, blur=0.1, callback=lambda s: seen.append((s.iteration, s.eps)))
    assert [k for k, _ in seen] == list(range(1, res.iterations + 1))
    assert seen[-1][1] == pytest.approx(0.01)


def test_custom_cost_callable_equals_p2(gen):
    x, y = cloud(gen, 25), cloud(gen, 30, shift=0.5)

    def half_squared(u, v):
        return torch.cdist(u, v) ** 2 / 2

    custom = brenier.solve(x, y, cost=half_squared, blur=0.1, tol=1e-10)
    builtin = brenier.solve(x, y, p=2, blur=0.1, tol=1e-10)
    assert float(custom.value) == pytest.approx(float(builtin.value), rel=1e-8)
    assert custom.backend == "dense"


def test_unbalanced_destroys_far_mass(gen):
    x = cloud(gen, 40)
    y = torch.cat([x[:30], x[30:] + 100.0])  # a quarter of y is an outlier cluster
    robust = float(brenier.sinkhorn_divergence(x, y, blur=0.05, reach=0.5))
    balanced = float(brenier.sinkhorn_divergence(x, y, blur=0.05))
    assert robust < 1.0 < balanced


def test_zero_weights_are_ignored_with_finite_gradients(gen):
    x, y = cloud(gen, 20), cloud(gen, 25, shift=0.5)
    a = torch.full((20,), 1 / 15, dtype=torch.float64)
    a[15:] = 0
    a_ = a.clone().requires_grad_(True)
    x_ = x.clone().requires_grad_(True)
    value = brenier.sinkhorn_divergence(x_, y, a_, blur=0.1)
    value.backward()
    ref = brenier.sinkhorn_divergence(x[:15], y, a[:15], blur=0.1)
    assert float(value) == pytest.approx(float(ref), rel=1e-6)
    assert torch.isfinite(x_.grad).all() and torch.isfinite(a_.grad).all()


def test_epsilon_schedule_ends_at_blur_and_decreases():
    schedule = epsilon_schedule(2, 4.0, 0.01, 0.7)
    assert schedule[0] == pytest.approx(16.0) and schedule[-1] == pytest.approx(1e-4)
    assert all(u > v for u, v in itertools.pairwise(schedule))
    assert epsilon_schedule(1, 0.1, 1.0, 0.5) == [1.0]
