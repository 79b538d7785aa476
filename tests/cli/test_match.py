"""``brenier match``: matchings, sparse plans and maps saved as .npz, atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import brenier

from ._clitools import assert_one_line_error, run_process


def test_matching_is_the_optimal_assignment(cli, shapes, tmp_path: Path):
    output = tmp_path / "match.npz"
    out = cli("match", shapes["a.npy"], shapes["b.npy"], "-o", output, "--json")
    assert out.code == 0, out.stderr
    saved = np.load(output)
    x, y = (torch.from_numpy(np.load(shapes[n])) for n in ("a.npy", "b.npy"))
    expected = brenier.assignment(x, y)
    assert str(saved["kind"]) == "matching" and json.loads(out.stdout)["kind"] == "matching"
    assert sorted(saved["permutation"].tolist()) == list(range(60))
    assert float(saved["cost"]) == pytest.approx(float(expected.cost), rel=1e-12)


def test_sparse_plan_has_the_marginals(cli, shapes, tmp_path: Path):
    output = tmp_path / "plan.npz"
    out = cli("match", shapes["c.csv"], shapes["d.npz"], "-o", output, "--blur", "0.1")
    assert out.code == 0, out.stderr
    plan = np.load(output)
    assert str(plan["kind"]) == "plan" and tuple(plan["shape"]) == (40, 30)
    rows = np.bincount(plan["rows"], weights=plan["values"], minlength=40)
    np.testing.assert_allclose(rows, np.full(40, 1 / 40), atol=1e-3)
    assert "sparse plan" in out.stdout


def test_map_matches_the_library(cli, shapes, tmp_path: Path):
    output, picture = tmp_path / "map.npz", tmp_path / "map.png"
    out = cli(
        "match",
        shapes["a.npy"],
        shapes["b.npy"],
        "-o",
        output,
        "--kind",
        "map",
        "--blur",
        "0.2",
        "--plot",
        picture,
        "--quiet",
    )
    assert out.code == 0, out.stderr
    saved = np.load(output)
    x, y = (torch.from_numpy(np.load(shapes[n])) for n in ("a.npy", "b.npy"))
    expected = brenier.solve(x, y, blur=0.2).transport_map(x).numpy()
    np.testing.assert_allclose(saved["map"], expected, rtol=1e-6, atol=1e-8)
    assert saved["F"].shape == (60,) and picture.stat().st_size > 1000


def test_existing_output_needs_force_and_inputs_are_untouched(cli, shapes, tmp_path: Path):
    output = tmp_path / "match.npz"
    output.write_bytes(b"old")
    before = shapes["a.npy"].read_bytes()
    assert_one_line_error(
        cli("match", shapes["a.npy"], shapes["b.npy"], "-o", output), 2, "exists", "--force"
    )
    assert output.read_bytes() == b"old"
    assert cli("match", shapes["a.npy"], shapes["b.npy"], "-o", output, "-f").code == 0
    assert np.load(output)["permutation"].shape == (60,)
    assert shapes["a.npy"].read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("c.csv", "d.npz", "--kind", "matching"), "equal sizes"),
        (("a.npy", "b.npy", "-o", "out.txt"), "must end in .npz"),
        (("a.npy", "b.npy", "-o", "no/such/folder/out.npz"), "does not exist"),
        (("a.npy", "b.npy", "--reach", "0.5", "--kind", "matching"), "balanced"),
        (("a.npy",), "Missing argument"),
        (("a.npy", "missing.npy"), "no such file"),
        (("junk.npy", "b.npy"), "not a valid .npy file"),
        (("vector.npy", "b.npy"), "expected points of shape (N, D)"),
        (("a.npy", "d.npz"), "same D"),
    ],
)
def test_bad_usage_exits_2(cli, shapes, tmp_path, args, words):
    args = [str(shapes[a]) if a in shapes else a for a in args]
    args = [str(tmp_path / a) if a == "missing.npy" else a for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.npz")]
    else:
        k = args.index("-o") + 1
        args[k] = str(tmp_path / args[k])
    assert_one_line_error(cli("match", *args), 2, words)


def test_the_installed_command_writes_a_plan(shapes, tmp_path: Path):
    output = tmp_path / "plan.npz"
    out = run_process(
        "match", shapes["a.npy"], shapes["b.npy"], "-o", output, "--kind", "plan", "--blur", "0.2"
    )
    assert out.code == 0, out.stderr
    assert np.load(output)["values"].sum() == pytest.approx(1.0, abs=1e-3)
