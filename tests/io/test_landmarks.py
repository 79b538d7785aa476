"""Landmark files: CSV positions and DIR-Lab voxel indices with a spacing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brenier.io import read_landmarks, write_landmarks


def test_csv_round_trip(tmp_path: Path) -> None:
    points = np.random.default_rng(0).normal(size=(30, 3)) * 100
    back = read_landmarks(write_landmarks(tmp_path / "lm.csv", points))
    np.testing.assert_array_equal(back, points)


def test_csv_without_header(tmp_path: Path) -> None:
    (tmp_path / "lm.csv").write_text("1,2,3\n4,5,6\n")
    assert read_landmarks(tmp_path / "lm.csv").tolist() == [[1, 2, 3], [4, 5, 6]]


def test_dirlab_indices_to_millimetres_and_back(tmp_path: Path) -> None:
    (tmp_path / "case1_300_T00_xyz.txt").write_text("101\t120\t35\n 1 1 1\n")
    spacing = (0.97, 0.97, 2.5)
    points = read_landmarks(tmp_path / "case1_300_T00_xyz.txt", spacing=spacing)
    np.testing.assert_allclose(points, [[97.0, 119 * 0.97, 85.0], [0, 0, 0]])
    out = write_landmarks(tmp_path / "out.txt", points, spacing=spacing)
    assert out.read_text().splitlines()[0] == "101\t120\t35"  # whole voxel indices
    np.testing.assert_allclose(read_landmarks(out, spacing=spacing), points)


def test_dirlab_off_grid_positions_round_trip(tmp_path: Path) -> None:
    points = np.array([[1.23, 4.56, 7.89]])
    out = write_landmarks(tmp_path / "lm.pts", points, spacing=(1, 1, 2))
    np.testing.assert_allclose(read_landmarks(out, spacing=(1, 1, 2)), points)


def test_bad_landmark_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such landmark file"):
        read_landmarks(tmp_path / "none.csv")
    (tmp_path / "lm.txt").write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"lm\.txt holds voxel indices.*spacing="):
        read_landmarks(tmp_path / "lm.txt")
    with pytest.raises(ValueError, match="3 positive numbers"):
        read_landmarks(tmp_path / "lm.txt", spacing=(1, 0, 1))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv holds no landmarks"):
        read_landmarks(tmp_path / "empty.csv")
    (tmp_path / "two.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"two\.csv: expected 3 columns"):
        read_landmarks(tmp_path / "two.csv")
    (tmp_path / "text.txt").write_text("a b c\nd e f\n")
    with pytest.raises(ValueError, match=r"cannot read landmarks from .*text\.txt"):
        read_landmarks(tmp_path / "text.txt", spacing=(1, 1, 1))
    (tmp_path / "nan.csv").write_text("1,nan,3\n")
    with pytest.raises(ValueError, match=r"nan\.csv has NaN"):
        read_landmarks(tmp_path / "nan.csv")
    with pytest.raises(ValueError, match=r"\(K, 3\)"):
        write_landmarks(tmp_path / "x.csv", np.zeros((0, 3)))
