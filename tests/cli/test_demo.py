"""``brenier demo``: the report is written, self-contained, and renders in a real browser.

The browser part opens the page in headless Chromium (Debian's ``chromium``; ``.ci/run``
installs it) and is skipped, with the reason, where no browser exists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ._chromium import find_chromium, open_page
from ._clitools import assert_one_line_error, run_process

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="no Chromium on PATH: apt-get install chromium (.ci/run does) to run the browser test",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The small demo, run once through the installed command."""
    folder = tmp_path_factory.mktemp("demo") / "demo-output"
    out = run_process("demo", "--small", "-o", folder, "--json")
    assert out.code == 0, out.stderr
    return folder, json.loads(out.stdout)


def test_demo_reports_ot_between_the_scans(demo):
    folder, record = demo
    assert record["report"] == str(folder / "index.html")
    assert record["exact"]["value"] > 0 and len(record["sinkhorn"]) == 2
    for run in record["sinkhorn"]:
        assert run["backend"] and run["time_s"] > 0 and abs(run["relative_error"]) < 0.5
    errors = [abs(r["relative_error"]) for r in record["sinkhorn"]]
    assert errors[-1] < errors[0]  # closer to the exact cost at the smaller blur
    assert record["history"]["snapshots"] == record["history"]["iterations"]


def test_demo_registers_the_scan_onto_its_deformed_copy(demo):
    folder, record = demo
    reg = record["registration"]
    assert [s["name"] for s in reg["steps"]] == ["rigid", "affine", "nonrigid"]
    before = reg["tre_before"]["mean"]
    assert before > 50  # a 60-degree turn of a 250 mm bust
    errors = [s["tre_mean"] for s in reg["steps"]]
    assert errors[-1] < 0.1 * before and errors[-1] <= errors[0]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "Registration: Demosthenes onto a deformed copy" in page
    for step in reg["steps"]:
        assert f"<td>{step['name']}</td>" in page and f"{step['tre_mean']:.2f}" in page


def test_report_is_self_contained_with_pictures_beside_it(demo):
    folder, record = demo
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert sorted(record["files"]) == [
        "barycenters.png",
        "history.gif",
        "history.png",
        "potentials.png",
        "registration.png",
        "scans_map.png",
    ]
    for name in record["files"]:
        assert (folder / name).stat().st_size > 1000
        assert f'data-file="{name}"' in page
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)  # scripts are inline
    assert "<script" in page and "<script src" not in page
    assert not re.search(r"""(src|href)=["']?https?:""", markup)  # nothing fetched online
    assert page.count("Plotly.newPlot") == 2 and "plotly.js" in page
    assert "CC BY 4.0" in page and "Nefertiti" in page and "Demosthenes" in page
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files


def test_existing_report_needs_force(cli, demo):
    folder, _ = demo
    before = (folder / "index.html").stat().st_mtime_ns
    assert_one_line_error(cli("demo", "--small", "-o", folder), 2, "exists", "--force")
    assert (folder / "index.html").stat().st_mtime_ns == before


PROBES = {
    "plots": "document.querySelectorAll('.js-plotly-plot').length",
    "webgl_canvases": "document.querySelectorAll('.js-plotly-plot canvas').length",
    "svg_points": "document.querySelectorAll('.js-plotly-plot .point').length",
    "images_loaded": "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0)"
    ".length",
    "no_webgl": "document.body.innerText.includes('WebGL is not supported')",
}


#: The report of ``make demo`` (the full demo), checked when it exists.
MAKE_DEMO_REPORT = Path(__file__).parents[2] / "demo-output" / "index.html"


def _renders_in_chromium(page: Path, shot: Path) -> None:
    """The page loads without JavaScript errors, draws its two plotly views and its six
    pictures, and its screenshot is not blank."""
    from PIL import Image

    seen = open_page(page.resolve().as_uri(), shot, expressions=PROBES)
    assert seen.errors == [], seen.errors
    assert seen.values["plots"] == 2 and seen.values["webgl_canvases"] >= 1
    assert seen.values["svg_points"] > 100  # the 2D view's markers are drawn
    assert seen.values["images_loaded"] == 6 and seen.values["no_webgl"] is False
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[0] >= 1000 and pixels.std() > 20  # not a blank page
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200  # pictures, not text only


@needs_chromium
def test_report_renders_in_chromium_without_errors(demo, tmp_path: Path):
    folder, _ = demo
    _renders_in_chromium(folder / "index.html", tmp_path / "report.png")


@needs_chromium
@pytest.mark.skipif(
    not MAKE_DEMO_REPORT.exists(), reason="no demo-output/index.html: run `make demo` first"
)
def test_make_demo_report_renders_in_chromium(tmp_path: Path):
    _renders_in_chromium(MAKE_DEMO_REPORT, tmp_path / "make-demo.png")


@needs_chromium
def test_the_browser_check_sees_javascript_errors(tmp_path: Path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><p>hello</p><script>console.error('bad thing');"
        "undefined_function();</script></body></html>"
    )
    seen = open_page(page.as_uri(), tmp_path / "broken.png", settle=0.5)
    assert any("bad thing" in e for e in seen.errors)
    assert any("undefined_function" in e for e in seen.errors)
