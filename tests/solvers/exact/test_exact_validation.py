"""Bad inputs to the exact solvers raise the right exception, with a helpful message."""

from __future__ import annotations

import pytest
import torch

from brenier.solvers.exact import _lp, assignment, emd, ot_1d, sliced_wasserstein

x3 = torch.rand(5, 3, generator=torch.Generator().manual_seed(0))
x1 = torch.rand(5, 1, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: assignment(x3, torch.rand(6, 3)), ValueError, r"N = 5 source and M = 6"),
        (lambda: assignment(x3, x3, method="hungarian"), ValueError, r"`method` must be one"),
        (lambda: assignment(x3, x3, p=3), ValueError, r"`p` must be 1"),
        (lambda: assignment(x3, x3, resolution=-1.0), ValueError, r"`resolution` must be"),
        (lambda: assignment(x3.int(), x3.int()), TypeError, r"floating"),
        (lambda: assignment(x3.numpy(), x3), TypeError, r"torch.Tensor"),
        (lambda: ot_1d(x3, x3), ValueError, r"shape \(N, 1\).*sliced_wasserstein"),
        (lambda: ot_1d(x1, x1, p=0.5), ValueError, r"`p` must be a finite number >= 1"),
        (lambda: ot_1d(x1, x1, p="2"), TypeError, r"`p` must be a number"),
        (lambda: ot_1d(x1[:, 0], x1[:, 0]), ValueError, r"x\[:, None\]"),
        (
            lambda: ot_1d(x1, x1, torch.ones(5), torch.ones(5) / 5),
            ValueError,
            r"different total masses",
        ),
        (lambda: ot_1d(x1, x1, -torch.ones(5)), ValueError, r"negative"),
        (lambda: sliced_wasserstein(x3, x3, n_projections=0), ValueError, r">= 1"),
        (lambda: sliced_wasserstein(x3, x3, seed=1.5), TypeError, r"`seed` must be an int"),
        (lambda: emd(x3, x3, torch.ones(4) / 4), ValueError, r"expected weights of shape"),
        (lambda: emd(x3, torch.rand(5, 2)), ValueError, r"dimension"),
        (lambda: emd(x3, x3, cost=3), TypeError, r"`cost` must be a callable"),
        (lambda: emd(x3, x3.double()), TypeError, r"dtype"),
    ],
)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert str(info.value).startswith("[brenier]")


def test_emd_refuses_large_problems(monkeypatch):
    monkeypatch.setattr(_lp, "MAX_LP_VARIABLES", 20)
    with pytest.raises(ValueError, match=r"Use `assignment`") as info:
        emd(x3, x3)
    assert "5 x 5" in str(info.value)


def test_nan_points_are_rejected():
    bad = x3.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN") as info:
        assignment(bad, x3)
    assert str(info.value).startswith("[brenier]")
