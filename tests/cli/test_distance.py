"""``brenier distance``: values against the library, JSON, pictures, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import brenier
from brenier.cli import run
from brenier.cli._errors import InputError

from ._clitools import assert_one_line_error, run_process


def test_json_reports_the_divergence_its_backend_and_its_error(cli, shapes):
    out = cli("distance", shapes["a.npy"], shapes["b.npy"], "--blur", "0.1", "--json")
    assert out.code == 0, out.stderr
    record = json.loads(out.stdout)
    x, y = (torch.from_numpy(np.load(shapes[n])) for n in ("a.npy", "b.npy"))
    expected = brenier.solve(x, y, blur=0.1)
    exact = float(brenier.assignment(x, y).cost)
    assert record["value"] == pytest.approx(float(expected.value), rel=1e-6)
    assert record["backend"] == expected.backend and record["status"] == "converged"
    assert record["exact"]["value"] == pytest.approx(exact, rel=1e-9)
    assert record["relative_error"] == pytest.approx(record["value"] / exact - 1, rel=1e-9)
    assert record["source"]["points"] == 60 and record["target"]["dim"] == 3


def test_exact_cost_of_a_mesh_against_itself_is_zero(cli, shapes):
    out = cli(
        "distance",
        shapes["mesh.obj"],
        shapes["mesh.obj"],
        "--exact",
        "-n",
        "30",
        "--seed",
        "3",
        "--json",
    )
    record = json.loads(out.stdout)
    assert out.code == 0 and record["method"] == "exact"
    assert record["value"] > 0  # seeds 3 and 4: two different samples of the same surface
    assert record["solver"].startswith("assignment")


def test_weighted_clouds_of_different_sizes_use_a_linear_program(cli, shapes):
    out = cli("distance", shapes["c.csv"], shapes["d.npz"], "--blur", "0.1", "--json")
    record = json.loads(out.stdout)
    assert out.code == 0, out.stderr
    assert record["exact"]["solver"].startswith("linear program")
    assert record["target"]["weighted"] is True


def test_human_output_and_plot(cli, shapes, tmp_path: Path):
    picture = tmp_path / "map.png"
    out = cli("distance", shapes["a.npy"], shapes["b.npy"], "--blur", "0.1", "--plot", picture)
    assert out.code == 0, out.stderr
    assert "Sinkhorn divergence" in out.stdout and "relative error" in out.stdout
    assert "backend" in out.stdout
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quiet_prints_nothing(cli, shapes):
    out = cli("distance", shapes["a.npy"], shapes["b.npy"], "--blur", "0.2", "--quiet")
    assert (out.code, out.stdout, out.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("files", "options", "words"),
    [
        (("a.npy", "missing.npy"), (), "no such file"),
        (("a.npy", "junk.npy"), (), "not a valid .npy file"),
        (("a.npy", "vector.npy"), (), "expected points of shape (N, D)"),
        (("a.npy", "c.csv"), (), "same D"),
        (("a.npy", "b.npy"), ("--blur", "-1"), "blur"),
        (("a.npy", "b.npy"), ("--bogus",), "No such option"),
        (("a.npy", "b.npy"), ("--plot", "map.txt"), "must end in .png"),
        (("c.csv", "d.npz"), ("--exact", "--plot", "m.png"), "matchings"),
    ],
)
def test_bad_usage_or_input_exits_2_with_one_line(cli, shapes, tmp_path, files, options, words):
    paths = [shapes.get(name, tmp_path / name) for name in files]
    options = tuple(str(tmp_path / o) if o.endswith((".png", ".txt")) else o for o in options)
    assert_one_line_error(cli("distance", *paths, *options), 2, words)


def test_existing_plot_is_not_overwritten_without_force(cli, shapes, tmp_path: Path):
    picture = tmp_path / "map.png"
    picture.write_bytes(b"keep me")
    out = cli("distance", shapes["a.npy"], shapes["b.npy"], "--plot", picture)
    assert_one_line_error(out, 2, "--force")
    assert picture.read_bytes() == b"keep me"
    forced = cli(
        "distance",
        shapes["a.npy"],
        shapes["b.npy"],
        "--blur",
        "0.2",
        "--plot",
        picture,
        "--force",
        "--quiet",
    )
    assert forced.code == 0 and picture.read_bytes()[:4] == b"\x89PNG"


def test_a_failure_while_computing_exits_1(cli, shapes, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory in the kernel")

    monkeypatch.setattr("brenier.cli._compute.solve", broken)
    out = cli("distance", shapes["a.npy"], shapes["b.npy"])
    assert_one_line_error(out, 1, "RuntimeError: out of memory in the kernel")


def test_debug_shows_the_traceback(cli, shapes):
    """--debug lets the error propagate out of the entry point (Python prints its traceback;
    without --debug the same error is one line)."""
    missing = shapes["a.npy"].with_name("nope.npy")
    with pytest.raises(InputError, match=r"nope\.npy"):
        run(["distance", str(shapes["a.npy"]), str(missing), "--debug"])
    assert_one_line_error(cli("distance", shapes["a.npy"], missing), 2, "no such file")


def test_the_installed_command_runs(shapes):
    """The console script in a subprocess (its errors: ``test_fuzz.py``, in a subprocess too)."""
    out = run_process("distance", shapes["a.npy"], shapes["b.npy"], "--blur", "0.2", "--json")
    assert out.code == 0, out.stderr
    assert json.loads(out.stdout)["value"] > 0


def test_default_blur_is_one_percent_of_the_shapes_extent(cli, shapes):
    x, y = (np.load(shapes[n]) for n in ("a.npy", "b.npy"))
    scaled = shapes["a.npy"].with_name("a_mm.npy")
    np.save(scaled, 1000 * x)  # the same shape in millimetres instead of metres
    np.save(shapes["b.npy"].with_name("b_mm.npy"), 1000 * y)
    metres = json.loads(cli("distance", shapes["a.npy"], shapes["b.npy"], "--json").stdout)
    millimetres = json.loads(cli("distance", scaled, scaled.with_name("b_mm.npy"), "--json").stdout)
    extent = np.ptp(np.concatenate([x, y]), axis=0).max()
    assert metres["blur"] == pytest.approx(0.01 * extent, rel=1e-12)
    assert millimetres["blur"] == pytest.approx(1000 * metres["blur"], rel=1e-9)
    assert millimetres["value"] == pytest.approx(1e6 * metres["value"], rel=1e-3)
