"""``brenier register SRC TGT -o out``: the moved source written (a mesh keeps its
faces), the TRE before/after each step, and one-line errors for bad inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from brenier.io import Shape, read_shape, write_landmarks, write_shape

from ._clitools import assert_one_line_error, run_process


def _motion(points: np.ndarray) -> np.ndarray:
    """The known rigid motion: 0.5 rad about z, then a shift."""
    c, s = math.cos(0.5), math.sin(0.5)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return points @ rotation.T + np.array([1.0, -0.5, 0.3])


def _ellipsoid_mesh(n_theta: int = 12, n_phi: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A closed triangulated ellipsoid with three different axes (no symmetry a rigid
    fit could confuse with the true motion, except the ellipsoid's own flips)."""
    theta = np.linspace(0, np.pi, n_theta)[1:-1]
    phi = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    T, P = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], -1).reshape(-1, 3)
    points = np.concatenate([[[0, 0, 1.0]], ring, [[0, 0, -1.0]]]) * [3.0, 1.6, 0.8]
    points[:, 0] += 0.4 * points[:, 1] ** 2  # bent twice: no rotation maps it onto itself
    points[:, 2] += 0.15 * points[:, 0] ** 2
    faces = []
    index = lambda i, j: 1 + i * n_phi + j % n_phi  # noqa: E731
    last = len(points) - 1
    for j in range(n_phi):
        faces.append([0, index(0, j), index(0, j + 1)])
        faces.append([last, index(len(theta) - 1, j + 1), index(len(theta) - 1, j)])
        for i in range(len(theta) - 1):
            faces.append([index(i, j), index(i + 1, j), index(i + 1, j + 1)])
            faces.append([index(i, j), index(i + 1, j + 1), index(i, j + 1)])
    return points, np.array(faces)


@pytest.fixture
def pair(tmp_path: Path) -> dict[str, Path]:
    """A mesh (PLY), the moved mesh (OBJ) and its vertices as a cloud (NPY), 8 landmarks
    on each (CSV)."""
    points, faces = _ellipsoid_mesh()
    names = ("src.ply", "tgt.obj", "tgt.npy", "ls.csv", "lt.csv")
    files = {name: tmp_path / name for name in names}
    write_shape(files["src.ply"], Shape(points, faces, {"label": np.arange(len(points)) * 1.0}))
    write_shape(files["tgt.obj"], Shape(_motion(points), faces))
    np.save(files["tgt.npy"], _motion(points))
    picked = points[:: len(points) // 8][:8]
    write_landmarks(files["ls.csv"], picked)
    write_landmarks(files["lt.csv"], _motion(picked))
    return files


def test_register_recovers_a_rigid_motion_and_keeps_the_faces(cli, pair, tmp_path: Path):
    output = tmp_path / "moved.ply"
    out = cli(
        "register", pair["src.ply"], pair["tgt.obj"], "-o", output, "--steps", "rigid,affine",
        "--landmarks-source", pair["ls.csv"], "--landmarks-target", pair["lt.csv"], "--json",
    )  # fmt: skip
    assert out.code == 0, out.stderr
    record = json.loads(out.stdout)
    moved = read_shape(output)
    source = read_shape(pair["src.ply"])
    assert np.array_equal(moved.faces, source.faces)  # the mesh is written as a mesh
    assert np.array_equal(moved.attributes["label"], source.attributes["label"])
    error = np.linalg.norm(moved.points - _motion(source.points), axis=1)
    assert error.mean() < 0.05  # the ellipsoid's size is 6
    assert [s["name"] for s in record["steps"]] == ["rigid", "affine"]
    assert record["landmarks"] == 8 and record["source"]["faces"] == len(source.faces)
    before = record["tre_before"]["mean"]
    assert before == pytest.approx(
        np.linalg.norm(np.loadtxt(pair["ls.csv"], delimiter=",", skiprows=1)
                       - np.loadtxt(pair["lt.csv"], delimiter=",", skiprows=1), axis=1).mean()
    )  # fmt: skip
    for step in record["steps"]:
        assert step["time_s"] > 0 and step["tre"]["mean"] < 0.02 * before
    assert record["steps"][-1]["cost"] < record["initial_cost"]


def test_text_report_and_picture(cli, pair, tmp_path: Path):
    from PIL import Image

    output, picture = tmp_path / "moved.npy", tmp_path / "reg.png"
    out = cli(
        "register", pair["tgt.npy"], pair["src.ply"], "-o", output, "--steps", "rigid",
        "--no-multistart", "--plot", picture, "--landmarks-source", pair["lt.csv"],
        "--landmarks-target", pair["ls.csv"],
    )  # fmt: skip
    assert out.code == 0, out.stderr
    assert np.load(output).shape == (len(read_shape(pair["src.ply"]).points), 3)
    lines = out.stdout.splitlines()
    assert lines[1].split()[:4] == ["step", "time", "OT", "cost"] and "TRE" in lines[1]
    assert lines[2].startswith("before") and lines[3].startswith("rigid")
    assert "written to" in lines[-2] and picture.name in lines[-1]
    assert Image.open(picture).size[0] > 500
    assert out.stderr == ""  # no progress bar: stderr is not a terminal


def test_installed_command_writes_csv(pair, tmp_path: Path):
    output = tmp_path / "moved.csv"
    out = run_process(
        "register", pair["src.ply"], pair["tgt.npy"], "-o", output, "--steps", "rigid",
        "--balanced", "--quiet",
    )  # fmt: skip
    assert out.code == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
    assert read_shape(output).points.shape == read_shape(pair["src.ply"]).points.shape


def test_bad_inputs_exit_2_with_one_line(cli, pair, tmp_path: Path):
    (tmp_path / "junk.ply").write_text("ply\nthis is not a mesh\n")
    np.save(tmp_path / "flat.npy", np.random.default_rng(0).normal(size=(50, 2)))
    np.savetxt(tmp_path / "three.csv", np.eye(3), delimiter=",")
    existing = tmp_path / "exists.ply"
    existing.write_bytes(b"keep")
    src, tgt, out = pair["src.ply"], pair["tgt.npy"], tmp_path / "o.ply"
    landmarks = ("--landmarks-source", pair["ls.csv"], "--landmarks-target")
    cases = [
        ((tmp_path / "missing.ply", tgt, "-o", out), "missing.ply"),
        ((tmp_path / "junk.ply", tgt, "-o", out), "junk.ply"),
        ((src, tmp_path / "flat.npy", "-o", out), "(N, 3)"),
        ((src, tgt, "-o", existing), "--force"),
        ((src, tgt, "-o", tmp_path / "o.xyz"), ".ply"),
        ((src, tgt, "-o", out, "--steps", "rigid,warp"), "warp"),
        ((src, tgt, "-o", out, "--landmarks-source", pair["ls.csv"]), "--landmarks-target"),
        ((src, tgt, "-o", out, *landmarks, tmp_path / "three.csv"), "landmarks"),
        ((src, tgt, "-o", out, "--reach", "1", "--balanced"), "--balanced"),
        ((src, tgt, "-o", out, "--blur", "-1"), "blur"),
        ((src, tgt, "-o", src, "--force"), "input"),
        ((src, tgt, "-o", out, "--model", tmp_path / "none.safetensors"), "learned"),
        ((src, tgt, "-o", out, "--steps", "learned", "--model", tmp_path / "no.st"), "no.st"),
        ((src, tgt, "-o", out, "--steps", "learned", "--model", existing), "exists.ply"),
    ]
    for args, word in cases:
        assert_one_line_error(cli("register", *args), 2, word)
    # (in-process through the real entry point; the installed script: the test above)
    assert existing.read_bytes() == b"keep" and not out.exists()


def test_learned_step_with_a_model_file(cli, pair, tmp_path: Path):
    """--model loads a network file for the learned step (here the shipped one, copied)."""
    from brenier.applications.registration.learned import default_model_path

    model = tmp_path / "net.safetensors"
    model.write_bytes(default_model_path().read_bytes())
    output = tmp_path / "moved.npy"
    out = cli(
        "register", pair["src.ply"], pair["tgt.obj"], "-o", output, "--steps",
        "rigid,learned", "--model", model, "--no-multistart", "--json",
    )  # fmt: skip
    assert out.code == 0, out.stderr
    record = json.loads(out.stdout)
    assert [s["name"] for s in record["steps"]] == ["rigid", "learned"]
    assert record["model"] == str(model)
    assert np.isfinite(np.load(output)).all()
