"""Property-based tests of the public API (hypothesis): the laws that any OT solver obeys.

Each property runs twice: a small derandomized profile in the normal suite (the same
examples on every run) and a ``slow``-marked profile with many random examples
(``pytest -m slow tests/reliability/test_properties.py``). The problems are small
(at most 12 points) so that the fast profile stays under a minute on two cores.

References are exact: the divergence's laws in closed form, and the optimal assignment
of scipy (``linear_sum_assignment``) for the limit blur -> 0, with the bound
:math:`W \\le OT_\\varepsilon \\le W + \\varepsilon \\log n` for uniform weights (the
optimal permutation has entropy :math:`\\log n` relative to :math:`a \\otimes b`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

import brenier

#: Examples per property: (fast profile, slow profile).
PROFILES = [
    pytest.param("fast", id="fast"),
    pytest.param("slow", id="slow", marks=pytest.mark.slow),
]
EXAMPLES = {"fast": 15, "slow": 300}
TOL = 1e-9

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def budget(profile: str, scale: float = 1.0) -> Callable:
    n = max(1, round(EXAMPLES[profile] * scale))
    return settings(max_examples=n, deadline=None, derandomize=profile == "fast", database=None)


@dataclass(frozen=True)
class Problem:
    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    reach: float | None
    blur: float

    def options(self, **extra: object) -> dict[str, object]:
        return {"blur": self.blur, "reach": self.reach, "tol": TOL, **extra}


@st.composite
def problems(
    draw: st.DrawFn, *, balanced: bool | None = None, min_points: int = 1, zeros: bool = True
) -> Problem:
    """Two weighted clouds of 1-12 points in D = 1-3, positive (sometimes zero) weights,
    balanced or unbalanced, and a blur between 0.15 and 1 times the data's spread."""
    n, m = draw(st.integers(min_points, 12)), draw(st.integers(min_points, 12))
    d = draw(st.integers(1, 3))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(m, d, generator=gen, dtype=torch.float64) + draw(st.floats(-1.0, 1.0))
    a = torch.rand(n, generator=gen, dtype=torch.float64) + 0.05
    b = torch.rand(m, generator=gen, dtype=torch.float64) + 0.05
    if zeros and n > 1 and draw(st.booleans()):
        a[0] = 0.0  # a point with zero mass must not change anything
    a, b = a / a.sum(), b / b.sum()
    unbalanced = draw(st.booleans()) if balanced is None else not balanced
    reach = draw(st.sampled_from([0.5, 2.0])) if unbalanced else None
    return Problem(x, y, a, b, reach, draw(st.floats(0.3, 2.0)))


def value(pb: Problem, x=None, y=None, a=None, b=None, **extra: object) -> brenier.OTResult:
    x, y = pb.x if x is None else x, pb.y if y is None else y
    a, b = pb.a if a is None else a, pb.b if b is None else b
    return brenier.solve(x, y, a, b, **pb.options(**extra))


def scale_of(res: brenier.OTResult, pb: Problem) -> float:
    """Size of the costs: the error on a value of marginal error e is about e times it."""
    pts = torch.cat([pb.x, pb.y])
    return float((pts.max(0).values - pts.min(0).values).norm()) ** 2 / 2 + pb.blur**2


@pytest.mark.parametrize("profile", PROFILES)
def test_divergence_is_symmetric(profile):
    @budget(profile)
    @given(pb=problems(), p=st.sampled_from([1, 2]))
    def check(pb, p):
        s_xy = value(pb, p=p)
        s_yx = brenier.solve(pb.y, pb.x, pb.b, pb.a, p=p, **pb.options())
        assert s_xy.status is s_yx.status is brenier.Status.CONVERGED
        assert float(s_xy.value) == pytest.approx(float(s_yx.value), rel=1e-7, abs=1e-10)

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_translating_both_clouds_changes_nothing_and_maps_follow(profile):
    @budget(profile)
    @given(pb=problems(), shift=st.floats(-50.0, 50.0), p=st.sampled_from([1, 2]))
    def check(pb, shift, p):
        t = torch.full((pb.x.shape[1],), shift, dtype=torch.float64)
        t[0] = -shift / 3  # not along the diagonal only
        base, moved = value(pb, p=p), value(pb, pb.x + t, pb.y + t, p=p)
        assert float(moved.value) == pytest.approx(float(base.value), rel=1e-6, abs=1e-9)
        if p == 2:  # the Brenier map is equivariant: T_t(z + t) = T(z) + t
            z = torch.cat([pb.x, pb.y])
            torch.testing.assert_close(
                brenier.transport_map(moved, z + t), brenier.transport_map(base, z) + t,
                rtol=0, atol=1e-6 * (1 + abs(shift)),
            )  # fmt: skip

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_scaling_law_in_the_coordinates(profile):
    """p = 2: S(cx, cy; blur c*blur, reach c*reach) = c^2 S(x, y); p = 1: c S."""

    @budget(profile)
    @given(pb=problems(), c=st.floats(1e-2, 1e2), p=st.sampled_from([1, 2]))
    def check(pb, c, p):
        base = value(pb, p=p)
        reach = None if pb.reach is None else c * pb.reach
        scaled = brenier.solve(
            c * pb.x, c * pb.y, pb.a, pb.b, p=p, blur=c * pb.blur, reach=reach, tol=TOL
        )
        expected = c**p * float(base.value)
        assert float(scaled.value) == pytest.approx(expected, rel=1e-6, abs=1e-9 * c**p)

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_permuting_the_points_permutes_the_potentials(profile):
    @budget(profile)
    @given(pb=problems(), seed=st.integers(0, 1000))
    def check(pb, seed):
        gen = torch.Generator().manual_seed(seed)
        i, j = torch.randperm(len(pb.a), generator=gen), torch.randperm(len(pb.b), generator=gen)
        base, perm = value(pb), value(pb, pb.x[i], pb.y[j], pb.a[i], pb.b[j])
        assert float(perm.value) == pytest.approx(float(base.value), rel=1e-7, abs=1e-10)
        # potentials on points of positive mass (elsewhere they are extrapolations)
        keep = pb.a[i] > 0
        torch.testing.assert_close(perm.f[keep], base.f[i][keep], rtol=0, atol=1e-6)

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_divergence_of_a_measure_with_itself_is_zero(profile):
    @budget(profile)
    @given(pb=problems(), p=st.sampled_from([1, 2]))
    def check(pb, p):
        res = brenier.solve(pb.x, pb.x, pb.a, pb.a, p=p, **pb.options())
        assert abs(float(res.value)) <= 1e-9 * scale_of(res, pb)

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_divergence_is_nonnegative_up_to_the_reported_error(profile):
    @budget(profile, scale=2)
    @given(
        pb=problems(),
        p=st.sampled_from([1, 2]),
        blur=st.floats(0.05, 2.0),
        tol=st.sampled_from([1e-3, 1e-6, 1e-9]),
    )
    def check(pb, p, blur, tol):
        res = brenier.solve(pb.x, pb.y, pb.a, pb.b, p=p, blur=blur, reach=pb.reach, tol=tol)
        assert math.isfinite(float(res.value))
        # the error on the value is about the marginal error times the size of the costs
        slack = 4 * max(res.marginal_error, 1e-12) * scale_of(res, pb)
        assert float(res.value) >= -slack, (res.summary(), slack)
        if res.status is brenier.Status.CONVERGED:
            assert res.marginal_error <= tol

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_plan_marginals_are_the_weights(profile):
    @budget(profile)
    @given(pb=problems(balanced=True), form=st.sampled_from(["dense", "sparse", "lazy"]))
    def check(pb, form):
        res = value(pb)
        P = brenier.plan(res, form, threshold=0.0)
        rows, cols = (P.row_sums, P.col_sums) if form == "lazy" else (None, None)
        if form != "lazy":
            dense = P if form == "dense" else P.to_dense()
            assert bool((dense >= 0).all())
            rows, cols = dense.sum(1), dense.sum(0)
        rows, cols = rows.reshape(-1), cols.reshape(-1)
        # f = T_xy(g): exact rows; the columns carry the reported marginal error
        assert float((rows - pb.a).abs().sum()) <= 1e-12 + 1e-9
        assert float((cols - pb.b).abs().sum()) <= 2 * res.marginal_error + 1e-12
        err_a, err_b = brenier.marginal_errors(res)
        assert float(err_a) <= 1e-9
        assert float(err_b) == pytest.approx(float((cols - pb.b).abs().sum()), abs=1e-12)

    check()


def exact_assignment(x: torch.Tensor, y: torch.Tensor) -> float:
    C = (torch.cdist(x, y) ** 2 / 2).numpy()
    rows, cols = linear_sum_assignment(C)
    return float(C[rows, cols].mean())


@pytest.mark.parametrize("profile", PROFILES)
def test_entropic_cost_tends_to_the_optimal_assignment(profile):
    """Uniform clouds of n points: W <= OT_eps <= W + eps log n, and |S_eps - W| <= eps log n."""

    @budget(profile)
    @given(n=st.integers(2, 10), d=st.integers(1, 3), seed=st.integers(0, 2**20))
    def check(n, d, seed):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
        y = torch.randn(n, d, generator=gen, dtype=torch.float64) + 0.5
        w = exact_assignment(x, y)
        gaps = []
        for blur in (0.5, 0.2, 0.05):
            eps = blur**2
            raw = brenier.solve(x, y, blur=blur, debias=False, tol=TOL)
            div = brenier.solve(x, y, blur=blur, tol=TOL)
            slack = 1e-7 * (1 + w)
            assert w - slack <= float(raw.value) <= w + eps * math.log(n) + slack
            assert abs(float(div.value) - w) <= eps * math.log(n) + slack
            gaps.append(float(raw.value) - w)
        assert gaps[-1] <= gaps[0] + 1e-9  # closer at the smaller blur

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_exact_solvers_agree_with_scipy_and_each_other(profile):
    @budget(profile)
    @given(n=st.integers(1, 12), d=st.integers(1, 3), seed=st.integers(0, 2**20))
    def check(n, d, seed):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
        y = torch.randn(n, d, generator=gen, dtype=torch.float64) * 2
        w = exact_assignment(x, y)
        match = brenier.assignment(x, y)
        assert float(match.cost) == pytest.approx(w, rel=1e-9, abs=1e-12)
        assert sorted(match.permutation.tolist()) == list(range(n))
        lp = brenier.emd(x, y)
        assert float(lp.value) == pytest.approx(w, rel=1e-7, abs=1e-10)
        # symmetric, and invariant to permutations of the points
        perm = torch.randperm(n, generator=gen)
        assert float(brenier.emd(y[perm], x).value) == pytest.approx(w, rel=1e-7, abs=1e-10)
        if d == 1:  # 1D: sorting
            ref = float(((x[:, 0].sort().values - y[:, 0].sort().values) ** 2).mean() / 2)
            assert float(brenier.ot_1d(x, y)) == pytest.approx(ref, rel=1e-9, abs=1e-12)
        sw = float(brenier.sliced_wasserstein(x, y))
        assert sw >= 0 and sw == pytest.approx(float(brenier.sliced_wasserstein(y, x)), rel=1e-9)
        assert sw <= w * (1 + 1e-9) + 1e-12  # each projection contracts the costs

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_samples_loss_is_the_divergence(profile):
    @budget(profile)
    @given(pb=problems(zeros=False))
    def check(pb):
        loss = brenier.SamplesLoss(blur=pb.blur, reach=pb.reach, tol=TOL)
        ours = float(loss(pb.a, pb.x, pb.b, pb.y))
        assert ours == pytest.approx(float(value(pb).value), rel=1e-7, abs=1e-10)

    check()
