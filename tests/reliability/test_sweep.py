"""The numerical sweep of ``benchmarks/sweep.py``: a fast subset here, the full one (over
10,000 configurations, hours on two cores) under ``slow``.

Each configuration must end "ok" (finite result, truthful status, no negative
divergence beyond the reported error, inputs untouched) or "refused" (a documented
exception with a ``[brenier]`` message); never "violation".
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

import brenier

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import sweep


def violations(configs: list[sweep.Config], max_iter: int) -> list[dict[str, object]]:
    records = [sweep.run(cfg, max_iter) for cfg in configs]
    assert all(r["outcome"] in ("ok", "refused", "violation") for r in records)
    return [r for r in records if r["outcome"] == "violation"]


def test_the_grid_has_what_the_issue_asks():
    full = sweep.configurations("full", keops=False)
    assert len(full) >= 10_000
    assert {c.dim for c in full} == set(range(1, 9))
    assert {c.dtype for c in full} == {"float32", "float64"}
    assert min(c.n for c in full) == 1 and max(c.n for c in full) == 100_000
    assert {c.weights for c in full} == {"uniform", "zeros", "ratio1e8"}
    assert {c.backend for c in full} >= {"dense", "online", "multiscale", "auto"}
    assert min(c.blur_ratio for c in full) == 1e-4 and max(c.blur_ratio for c in full) == 1e3
    assert min(c.scale for c in full) == 1e-3 and max(c.scale for c in full) == 1e4
    fast = sweep.configurations("fast")
    assert {c.dtype for c in fast} == {"float32", "float64"} and len(fast) >= 100


def test_fast_subset_of_the_sweep():
    configs = sweep.configurations("fast")[::3]  # 36 configurations, ~20 s
    assert violations(configs, max_iter=100) == []


@pytest.mark.slow
def test_full_sweep():
    assert violations(sweep.configurations("full"), max_iter=sweep.MAX_ITER) == []


#: Found by the first full sweep: multiscale with half the weights zero gave a NaN value
#: (balanced: seed 7205, unbalanced: seed 5520, float64 and float32). A cluster of zero
#: mass has F = -inf, so its truncation scores all tied at -inf and it kept its first
#: partner, of zero mass here: its softmin was +inf, and 0 * inf a NaN in the value.
MULTISCALE_ZEROS = (
    sweep.Config("multiscale", "float64", 2, 3, 1, 100.0, 0.1, "zeros", True, None, 2, 7205),
    sweep.Config("multiscale", "float32", 7, 12, 1, 0.1, 1e3, "zeros", False, 1.0, 2, 5520),
    sweep.Config("multiscale", "float64", 40, 50, 2, 1.0, 1e-2, "zeros", False, None, 2, 7205),
    sweep.Config("multiscale", "float64", 300, 200, 3, 1e2, 1e-1, "zeros", True, 1.0, 2, 5520),
)


@pytest.mark.parametrize("cfg", MULTISCALE_ZEROS, ids=lambda c: f"{c.n}x{c.m}-seed{c.seed}")
def test_multiscale_with_zero_weights_is_finite_and_agrees_with_online(cfg):
    record = sweep.run(cfg)
    assert record["outcome"] == "ok", record
    online = sweep.run(dataclasses.replace(cfg, backend="online", dtype="float64"))
    # The debiased value is a difference of terms of order eps = blur^2: at blur = 1000 x
    # diameter, float32 leaves it only to the rounding of those (docs/reliability.md).
    eps = float(record["blur"]) ** 2
    rounding = 8 * torch.finfo(getattr(torch, cfg.dtype)).eps * eps
    assert abs(record["value"] - online["value"]) <= 1e-4 * abs(online["value"]) + rounding


def test_status_and_marginal_error_agree_when_only_a_symmetric_problem_is_not_converged():
    # Found by the restructured sweep (seed 848): the pair OT(a, b) converged (3.1e-6)
    # while OT(b, b) stopped at its float32 rounding floor (1.4e-4 > tol = 1e-4); the status
    # said rounding_floor but marginal_error reported the pair's error only, so
    # "CONVERGED exactly when marginal_error <= tol" did not hold. marginal_error is now
    # the worst of the problems the status was judged on.
    cfg = sweep.Config("dense", "float32", 1, 6, 1, 100.0, 1e-2, "uniform", True, None, 2, 848)
    record = sweep.run(cfg)
    assert record["outcome"] == "ok", record
    assert record["status"] == "rounding_floor" and record["marginal_error"] > record["tol"]


#: Found by the restructured sweep: the multiscale result's plan (the full kernel, as for
#: plans and maps) missed the marginals by 2.6e-4 to 4.1e-4 while the truncated loop
#: reported converged at 3.5e-5 to 8.7e-5 (tol 1e-4): dropped blocks hold up to exp(-tau)
#: = 6.7e-3 of the mass at tau = 5, which on 2-12 points is not negligible. The last
#: temperature is now truncated at max(tau, log(1 / tol)).
MULTISCALE_TRUNCATION = (
    sweep.Config("multiscale", "float32", 2, 3, 1, 1e-3, 0.1, "uniform", False, None, 2, 5168),
    sweep.Config("multiscale", "float64", 7, 12, 2, 0.1, 0.1, "uniform", True, None, 2, 6689),
    sweep.Config("multiscale", "float64", 2, 3, 1, 100.0, 0.1, "uniform", False, None, 2, 7184),
    sweep.Config("multiscale", "float32", 7, 12, 2, 1e-3, 0.1, "ratio1e8", False, None, 2, 5198),
)


@pytest.mark.parametrize("cfg", MULTISCALE_TRUNCATION, ids=lambda c: f"seed{c.seed}")
def test_a_converged_multiscale_plan_meets_tol(cfg):
    record = sweep.run(cfg)
    assert record["outcome"] == "ok", record
    assert record["status"] == "converged" and record["plan_marginal_error"] <= 2 * record["tol"]


def test_one_point_each_in_float32_at_a_tiny_blur_is_exact():
    # Found by the sweep (seed 2548): the plan recomputed by marginal_errors was off by
    # 7.9 for the exact one-entry plan: at blur = 1e-4 x diameter in float32 the exponent
    # (f + g - C) / eps carries a rounding of finfo.eps * C / eps ~ 6 (the rounding floor
    # is 1.5 > tol). Not a solver error: the sweep checks plans below a floor of 0.1 only.
    cfg = sweep.Config("online", "float32", 1, 1, 5, 1e-3, 1e-4, "ratio1e8", False, None, 2, 2548)
    record = sweep.run(cfg)
    assert record["outcome"] == "ok" and record["floor"] > 1.0, record
    x, y, a, b = sweep.data(cfg)
    res = brenier.solve(x.double(), y.double(), a.double(), b.double(), blur=record["blur"])
    assert float(brenier.marginal_errors(res)[1]) < 1e-6  # float64: the plan is exact


def test_dense_float32_p1_reported_error_matches_the_plan():
    # Found by the restructured sweep (seed 7655, auto -> dense at 7 x 12 points, D = 8,
    # coordinates ~1e-3, blur = 1% of the diameter). float64 and the online backend agree
    # with their plans; the dense float32 loop's error was not the plan's: the matmul form
    # of |x - y|^2 under a square root (p = 1) lost sqrt(finfo.eps) |x| at duplicates.
    cfg = sweep.Config("auto", "float32", 7, 12, 8, 1e-3, 1e-2, "uniform", True, None, 1, 7655)
    record = sweep.run(cfg)
    assert record["outcome"] == "ok", record["problems"]


@pytest.mark.keops
def test_keops_with_zero_weights_is_finite_and_agrees_with_dense():
    # Found by the sweep (seed 10483): log 0 = -inf made KeOps' reduction return NaN.
    pytest.importorskip("pykeops")
    cfg = sweep.Config("keops", "float32", 7, 12, 3, 0.1, 0.1, "zeros", True, None, 2, 10483)
    record = sweep.run(cfg)
    assert record["outcome"] == "ok", record
    dense = sweep.run(dataclasses.replace(cfg, backend="dense"))
    assert record["value"] == pytest.approx(dense["value"], rel=1e-4, abs=1e-7)


def test_the_keops_part_covers_every_formula_family():
    """KeOps compiles a formula per dimension, dtype and cost: its part of the sweep has
    each (D = 1..8, float32/float64, p = 1/2), and ``--backends keops`` runs one of each
    first (its part had p = 1 and D = 2, 3 only: one k in 5 kept, p = 1 on k % 5 == 0)."""
    pytest.importorskip("pykeops")
    keops = [c for c in sweep.configurations("full", keops=True) if c.backend == "keops"]
    families = {(c.dim, c.dtype, c.p) for c in keops}
    assert families == {(d, t, p) for d in range(1, 9) for t in sweep.DTYPES for p in (1, 2)}
    first = sweep.formula_families_first(keops)[: len(families)]
    assert {(c.dim, c.dtype, c.p) for c in first} == families
    assert sorted(c.seed for c in sweep.formula_families_first(keops)) == sorted(
        c.seed for c in keops
    )


def test_summary_counts_every_record_once():
    records = [sweep.run(c) for c in sweep.configurations("fast")[:4]]
    records[0] = {**records[0], "outcome": "violation", "problems": ["made up"]}
    out = sweep.summary(records)
    assert out["configurations"] == 4 and sum(out["outcomes"].values()) == 4
    outcomes = ("ok", "refused", "violation")
    for table in ("per_backend_dtype", "per_family"):
        assert sum(n for c in out[table].values() for k, n in c.items() if k in outcomes) == 4
    assert out["violations"] == [records[0]]
