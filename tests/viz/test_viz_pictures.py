"""Pictures: every function draws, labels and writes its file; bad inputs raise."""

from __future__ import annotations

import os
import sys

import pytest
import torch

import brenier

matplotlib = pytest.importorskip("matplotlib", reason="brenier.viz needs matplotlib")
matplotlib.use("Agg")

from brenier.viz import (  # noqa: E402
    PotentialHistory,
    animate_history,
    plot_history,
    plot_map,
    plot_plan,
    plot_potentials,
    require_matplotlib,
    save_figure,
)


@pytest.fixture
def solved(gen):
    x = torch.randn(40, 2, generator=gen, dtype=torch.float64) * 0.3
    y = torch.randn(30, 2, generator=gen, dtype=torch.float64) * 0.2 + 0.5
    history = PotentialHistory()
    return brenier.solve(x, y, blur=0.1, callback=history), history


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_and_map_pictures_in_2d(solved, tmp_path):
    res, _ = solved
    fig = plot_plan(res, max_segments=200, path=tmp_path / "plan.png", dpi=40)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and "Transport plan" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 3
    assert _is_png(tmp_path / "plan.png")
    fig = plot_map(res, max_arrows=20, path=tmp_path / "map.svg")
    assert "Brenier map" in fig.axes[0].get_title()
    assert (tmp_path / "map.svg").read_text().lstrip().startswith("<?xml")
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "plan.png").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_pictures_in_3d(gen, tmp_path):
    x = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    res = brenier.solve(x, x + 1, blur=0.2)
    assert plot_plan(res, path=tmp_path / "plan3d.png", dpi=40).axes[0].name == "3d"
    assert plot_map(res, path=tmp_path / "map3d.png", dpi=40).axes[0].get_zlabel()
    assert _is_png(tmp_path / "plan3d.png") and _is_png(tmp_path / "map3d.png")


def test_potential_contours_have_colour_bars(solved, tmp_path):
    res, _ = solved
    fig = plot_potentials(res, resolution=20, path=tmp_path / "potentials.png", dpi=40)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert len(fig.axes) == 4  # two panels, two colour bars
    assert any("f_{ab} - f_{aa}" in label for label in labels)
    assert any("g_{ab} - g_{bb}" in label for label in labels)
    assert _is_png(tmp_path / "potentials.png")


def test_history_records_every_iteration_and_renders(solved, tmp_path):
    res, history = solved
    assert len(history) == res.iterations
    assert [s.iteration for s in history.snapshots] == list(range(1, res.iterations + 1))
    assert history.snapshots[-1].eps == pytest.approx(res.eps)
    figures = plot_history(history, res, frames=3, resolution=12, path=tmp_path / "h.png", dpi=30)
    titles = [fig._suptitle.get_text() for fig in figures]
    assert len(figures) == 3 and titles[0].startswith("iteration 1, blur = ")
    assert titles[-1] == f"iteration {res.iterations}, blur = {res.blur:.3g}"
    assert _is_png(tmp_path / "h.png")
    gif = animate_history(history, res, tmp_path / "h.gif", frames=3, resolution=8, dpi=25)
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_history_keeps_one_iteration_in_every(gen):
    x = torch.randn(20, 2, generator=gen, dtype=torch.float64)
    history = PotentialHistory(every=5, max_snapshots=3)
    brenier.solve(x, x + 1, blur=0.1, callback=history)
    assert [s.iteration for s in history.snapshots] == [1, 6, 11]


def test_batched_results_draw_one_item(gen, tmp_path):
    x = torch.randn(2, 20, 2, generator=gen, dtype=torch.float64)
    res = brenier.solve(x, x + 1, blur=0.2)
    assert plot_potentials(res, index=1, resolution=10).axes
    with pytest.raises(ValueError, match=r"\[brenier\].*index"):
        plot_map(res, index=2)


def test_bad_picture_requests_raise(solved, gen, tmp_path):
    res, history = solved
    with pytest.raises(TypeError, match=r"\[brenier\].*OTResult"):
        plot_plan(torch.zeros(3))
    x4 = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\[brenier\].*dimension"):
        plot_plan(brenier.solve(x4, x4, blur=0.5))
    x3 = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\[brenier\].*D = 3"):
        plot_potentials(brenier.solve(x3, x3, blur=0.5))
    with pytest.raises(ValueError, match=r"\[brenier\].*empty"):
        plot_history(PotentialHistory(), res)
    with pytest.raises(TypeError, match=r"\[brenier\].*PotentialHistory"):
        plot_history([], res)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[brenier\].*\.gif"):
        animate_history(history, res, tmp_path / "h.mp4")
    with pytest.raises(ValueError, match=r"\[brenier\].*extension"):
        save_figure(plot_map(res), tmp_path / "no_extension")
    with pytest.raises(ValueError, match=r"\[brenier\].*every"):
        PotentialHistory(every=0)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"\[brenier\].*brenier\[viz\]"):
        require_matplotlib()


# issue 17.6: a missing folder is an error, not silently created.
@pytest.mark.parametrize("plot", [plot_plan, plot_map, plot_potentials])
def test_a_missing_folder_is_not_created(solved, tmp_path, plot):
    res, _ = solved
    target = tmp_path / "typo" / "nested" / "figure.png"
    with pytest.raises(FileNotFoundError, match=r"^\[brenier\] the folder .*typo.* does not exist"):
        plot(res, path=target)
    assert not (tmp_path / "typo").exists()
