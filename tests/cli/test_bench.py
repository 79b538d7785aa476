"""``brenier bench``: timings and errors on problems with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brenier.cli._bench import brenier_pair

from ._clitools import assert_one_line_error, run_process


def test_brenier_pairs_have_the_identity_as_optimal_matching():
    from scipy.optimize import linear_sum_assignment

    x, y, cost = brenier_pair(80, 2, seed=1)
    C = ((x[:, None] - y[None]) ** 2).sum(-1).numpy() / 2
    rows, cols = linear_sum_assignment(C)
    assert C[rows, cols].mean() == pytest.approx(cost, rel=1e-12)


def test_bench_json_and_output_file(cli, tmp_path: Path):
    output = tmp_path / "bench.json"
    out = cli("bench", "--sizes", "40,80", "--dim", "2", "--blur", "0.05", "--json", "-o", output)
    assert out.code == 0, out.stderr
    record = json.loads(out.stdout)
    assert record == json.loads(output.read_text())
    assert [(r["case"], r["n"]) for r in record["rows"]] == [
        ("sinkhorn", 40),
        ("assignment", 40),
        ("sinkhorn", 80),
        ("assignment", 80),
    ]
    exact = [r for r in record["rows"] if r["case"] == "assignment"]
    assert all(abs(r["relative_error"]) < 1e-9 for r in exact)
    assert all(r["time_s"] > 0 for r in record["rows"]) and record["machine"]["cpus"] >= 1


def test_bench_bad_sizes_exit_2(cli):
    assert_one_line_error(cli("bench", "--sizes", "ten"), 2, "--sizes")


def test_the_installed_command_prints_a_table():
    out = run_process("bench", "--sizes", "30", "--dim", "2", "--blur", "0.1")
    assert out.code == 0, out.stderr
    assert "sinkhorn" in out.stdout and "assignment" in out.stdout and "rel. error" in out.stdout
    row = next(line for line in out.stdout.splitlines() if "sinkhorn" in line)
    error = float(row.strip("│ ").split("│")[-1])  # the last column: the relative error
    assert np.isfinite(error) and abs(error) < 0.05
