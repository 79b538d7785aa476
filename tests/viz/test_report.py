"""The HTML report: escaped text, embedded pictures written beside it, plotly inlined once."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from brenier.viz.report import Report, map_scene, potential_frames_scene

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_text_is_escaped_and_pictures_are_embedded_and_written(tmp_path: Path):
    report = Report("<b>title</b>", "a & b")
    report.paragraph("x < y")
    report.table(["name"], [["<i>"]])
    report.image("dot.png", PNG, "a dot")
    page = report.write(tmp_path / "out")
    text = page.read_text()
    assert "&lt;b&gt;title&lt;/b&gt;" in text and "a &amp; b" in text and "x &lt; y" in text
    assert "<td>&lt;i&gt;</td>" in text
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in text
    assert (tmp_path / "out" / "dot.png").read_bytes() == PNG
    assert "<script" not in text  # no plotly view, no JavaScript
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dot.png", "index.html"]


def test_plotly_is_inlined_once_for_several_views(tmp_path: Path):
    pytest.importorskip("plotly")
    rng = np.random.default_rng(0)
    x2, x3 = rng.normal(size=(30, 2)), rng.normal(size=(30, 3))
    report = Report("views")
    report.plotly(map_scene(x3, x3 + 1, x3 + 1, potential=x3[:, 0]), "3D")
    report.plotly(map_scene(x2, x2 + 1, x2 + 1), "2D")
    report.plotly(potential_frames_scene(x2, x2, [("a", x2[:, 0], x2[:, 1])] * 3), "frames")
    text = report.write(tmp_path).read_text()
    assert text.count("Plotly.newPlot") == 3
    assert text.count("plotly.js v") == 1 and "<script src" not in text


def test_map_scene_draws_the_requested_number_of_segments():
    pytest.importorskip("plotly")
    x = np.random.default_rng(1).normal(size=(100, 3))
    segments = map_scene(x, x, x + 1, max_arrows=10).data[2]
    assert np.isnan(np.asarray(segments.x, dtype=float)).sum() == 10  # one gap per segment
