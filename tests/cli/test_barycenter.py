"""``brenier barycenter IMG... -o``: images in, the barycenter out, atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ._clitools import assert_one_line_error, run_process


def _bumps(tmp_path: Path) -> tuple[Path, Path]:
    axis = np.arange(24.0)
    Y, X = np.meshgrid(axis, axis, indexing="ij")
    paths = []
    for k, (cy, cx) in enumerate(((6.0, 7.0), (15.0, 16.0))):
        path = tmp_path / f"bump{k}.npy"
        np.save(path, np.exp(-((Y - cy) ** 2 + (X - cx) ** 2) / 8.0))
        paths.append(path)
    return paths[0], paths[1]


def test_barycenter_of_two_bumps_is_between_them(cli, tmp_path: Path):
    a, b = _bumps(tmp_path)
    output = tmp_path / "q.npy"
    out = cli("barycenter", a, b, "-o", output, "--weights", "0.25,0.75", "--json")
    assert out.code == 0, out.stderr
    q = np.load(output)
    assert q.shape == (24, 24) and q.sum() == pytest.approx(1.0)
    axis = np.arange(24.0)
    centre = (q.sum(1) @ axis, q.sum(0) @ axis)
    assert centre == pytest.approx((0.25 * 6 + 0.75 * 15, 0.25 * 7 + 0.75 * 16), abs=0.05)
    assert json.loads(out.stdout)["shape"] == [24, 24]


def test_png_in_and_out(cli, tmp_path: Path):
    import matplotlib.image

    a, b = _bumps(tmp_path)
    pictures = []
    for path in (a, b):
        picture = path.with_suffix(".png")
        matplotlib.image.imsave(picture, np.load(path), cmap="gray")
        pictures.append(picture)
    output = tmp_path / "q.png"
    assert cli("barycenter", *pictures, "-o", output).code == 0
    assert matplotlib.image.imread(output).shape[:2] == (24, 24)


def test_bad_inputs_exit_2_with_one_line(cli, tmp_path: Path):
    a, b = _bumps(tmp_path)
    (tmp_path / "bad.npy").write_text("not an array")
    np.save(tmp_path / "neg.npy", -np.ones((24, 24)))
    np.save(tmp_path / "small.npy", np.ones((5, 5)))
    existing = tmp_path / "exists.npy"
    existing.write_bytes(b"keep")
    cases = [
        (("barycenter", tmp_path / "missing.npy", b, "-o", tmp_path / "q.npy"), "missing.npy"),
        (("barycenter", tmp_path / "bad.npy", b, "-o", tmp_path / "q.npy"), "bad.npy"),
        (("barycenter", tmp_path / "neg.npy", b, "-o", tmp_path / "q.npy"), "neg.npy"),
        (("barycenter", a, tmp_path / "small.npy", "-o", tmp_path / "q.npy"), "one shape"),
        (("barycenter", a, b, "-o", existing), "--force"),
        (("barycenter", a, b, "-o", tmp_path / "q.npy", "--blur", "-1"), "blur"),
    ]
    for args, word in cases:  # in-process (the real entry point), one subprocess below
        assert_one_line_error(cli(*args), 2, word)
    assert_one_line_error(run_process(*cases[0][0]), 2, cases[0][1])
    assert existing.read_bytes() == b"keep"
