"""``brenier interpolate A B --frames N -o out``: clouds move, images are barycenters;
frames as GIF, PNG strip, NPY or NPZ, written atomically; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ._clitools import assert_one_line_error, run_process

SHIFT = np.array([1.5, -0.5])


@pytest.fixture
def clouds(tmp_path: Path) -> tuple[Path, Path]:
    """A 2D cloud and its translate: the optimal map is the translation (closed form),
    so the frame at time t is the cloud shifted by t * SHIFT."""
    x = np.random.default_rng(0).normal(size=(80, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x + SHIFT)
    return tmp_path / "x.npy", tmp_path / "y.npy"


def _bump(tmp_path: Path, name: str, centre: tuple[float, float]) -> Path:
    axis = np.arange(24.0)
    Y, X = np.meshgrid(axis, axis, indexing="ij")
    path = tmp_path / name
    np.save(path, np.exp(-((Y - centre[0]) ** 2 + (X - centre[1]) ** 2) / 6.0))
    return path


def test_clouds_move_along_the_translation(cli, clouds, tmp_path: Path):
    output = tmp_path / "frames.npz"
    out = cli("interpolate", *clouds, "--frames", "5", "-o", output, "--blur", "0.02", "--json")
    assert out.code == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["kind"] == "points" and record["frames"] == 5 and record["blur"] == 0.02
    with np.load(output) as data:
        frames, times = data["frames"], data["times"]
    x = np.load(clouds[0])
    assert frames.shape == (5, 80, 2) and times.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    for t, frame in zip(times, frames, strict=True):
        assert np.abs(frame - (x + t * SHIFT)).mean() < 0.02


def test_gif_and_png_strip(cli, clouds, tmp_path: Path):
    from PIL import Image

    gif, strip = tmp_path / "anim.gif", tmp_path / "strip.png"
    assert cli("interpolate", *clouds, "--frames", "4", "-o", gif, "--quiet").code == 0
    with Image.open(gif) as image:
        assert image.n_frames == 4 and image.size[0] >= 200
    assert cli("interpolate", *clouds, "--frames", "8", "-o", strip, "--quiet").code == 0
    with Image.open(strip) as image:  # rows of 6 frames: 6 wide, 2 high
        width, height = image.size
        assert width == pytest.approx(3 * height, rel=0.01)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_images_interpolate_through_barycenters(tmp_path: Path):
    a = _bump(tmp_path, "a.npy", (5.0, 6.0))
    b = _bump(tmp_path, "b.npy", (17.0, 16.0))
    output = tmp_path / "frames.npy"
    out = run_process("interpolate", a, b, "--frames", "3", "-o", output, "--json")
    assert out.code == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == "image"
    frames = np.load(output)
    assert frames.shape == (3, 24, 24)
    axis = np.arange(24.0)
    centres = [(f.sum(1) @ axis / f.sum(), f.sum(0) @ axis / f.sum()) for f in frames]
    assert centres[1] == pytest.approx((11.0, 11.0), abs=0.1)  # the midpoint of the centres
    assert np.allclose(frames[0], np.load(a) / np.load(a).sum())


def test_bad_inputs_exit_2_with_one_line(cli, clouds, tmp_path: Path):
    x, y = clouds
    np.save(tmp_path / "z3.npy", np.zeros((10, 3)))
    np.savetxt(tmp_path / "d4.csv", np.random.default_rng(1).normal(size=(10, 4)), delimiter=",")
    (tmp_path / "junk.npy").write_text("not an array")
    image = _bump(tmp_path, "im.npy", (5.0, 5.0))
    np.save(tmp_path / "small.npy", np.ones((8, 8)))
    existing = tmp_path / "exists.gif"
    existing.write_bytes(b"keep")
    out = tmp_path / "o.npy"
    cases = [
        ((tmp_path / "missing.npy", y, "-o", out), "missing.npy"),
        ((tmp_path / "junk.npy", y, "-o", out), "junk.npy"),
        ((x, tmp_path / "z3.npy", "-o", out), "dimension"),
        ((tmp_path / "d4.csv", tmp_path / "d4.csv", "-o", tmp_path / "o.gif"), "D = 4"),
        ((image, tmp_path / "small.npy", "-o", out), "one grid"),
        ((x, image, "-o", out), "--kind"),
        ((x, y, "-o", existing), "--force"),
        ((x, y, "-o", tmp_path / "o.mp4"), ".gif"),
        ((x, y, "-o", out, "--frames", "1"), "--frames"),
        ((x, y, "-o", out, "--blur", "-1"), "blur"),
    ]
    for args, word in cases:
        assert_one_line_error(cli("interpolate", *args), 2, word)
    # (in-process through the real entry point; the installed script: the test above)
    assert existing.read_bytes() == b"keep" and not out.exists()
