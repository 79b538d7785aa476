import numpy as np
import pytest

from brenier.io import load_example, normalize, read_obj, sample_surface, write_obj


def test_bundled_examples_load_with_expected_sizes():
    v, f = load_example("demosthenes")
    assert v.shape == (8394, 3) and f.shape == (16719, 3)
    v, f = load_example("nefertiti")
    assert v.shape == (35002, 3) and f.shape == (70000, 3)


def test_bundled_examples_are_parsed_once_and_handed_out_as_copies():
    v, f = load_example("demosthenes")
    first = v.copy()
    v += 1.0  # the caller's arrays are its own
    f[:] = 0
    again, faces = load_example("demosthenes")
    assert np.array_equal(again, first) and faces.max() > 0
    assert again is not v and not np.shares_memory(again, v)


def test_unknown_example_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown example"):
        load_example("venus")


def test_write_then_read_round_trip(tmp_path):
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = np.array([[0, 1, 2], [0, 1, 3]])
    path = tmp_path / "t.obj"
    write_obj(path, v, f)
    v2, f2 = read_obj(path)
    np.testing.assert_allclose(v2, v)
    np.testing.assert_array_equal(f2, f)
    assert [p.name for p in tmp_path.iterdir()] == ["t.obj"]  # no temporary left behind


def test_quads_are_fanned_and_relative_indices_resolved(tmp_path):
    path = tmp_path / "q.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf -4/1 -3/2 -2/3 -1/4\n")
    _, f = read_obj(path)
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize(
    "text, match",
    [("v 0 0\n", "cannot parse"), ("f 1 2 3\n", "no vertices"), ("v 0 0 0\nf 1 2 9\n", "outside")],
)
def test_unreadable_files_raise_with_the_reason(tmp_path, text, match):
    path = tmp_path / "bad.obj"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_obj(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such mesh"):
        read_obj(tmp_path / "absent.obj")
    binary = tmp_path / "b.obj"
    binary.write_bytes(b"\xff\xfe\x00v 1 2 3")
    with pytest.raises(ValueError, match="not a text OBJ"):
        read_obj(binary)


def test_surface_samples_lie_on_the_mesh_and_are_seeded():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    f = np.array([[0, 1, 2]])
    pts = sample_surface(v, f, 500, seed=3)
    assert pts.shape == (500, 3)
    assert np.allclose(pts[:, 2], 0) and (pts[:, :2].sum(1) <= 1 + 1e-12).all()
    np.testing.assert_array_equal(pts, sample_surface(v, f, 500, seed=3))
    assert np.ptp(normalize(pts), axis=0).max() == pytest.approx(1.0)
