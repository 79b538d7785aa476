"""Sphinx configuration: ``make docs`` builds docs/_build/html, warnings as errors.

The user guide is the Markdown pages of this folder (MyST); the API reference comes
from the docstrings (Google style, napoleon); the gallery executes ``examples/`` with
sphinx-gallery and shows the pictures each example writes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import brenier

project = "brenier"
author = "The brenier developers"
copyright = "The brenier developers, BSD-3-Clause"
release = version = brenier.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static: the site works offline
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "**.codeobj.json"]  # fmt: skip
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = f"brenier {version}"
html_static_path: list[str] = []

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shapes"]
nitpicky = False
# sphinx-gallery's configuration holds functions: Sphinx cannot pickle it, and says so.
suppress_warnings = ["myst.header", "config.cache"]

_OUTSIDE_BACKTICKS = re.compile(r"(`[^`]*`)|\|")


def _escape_bars(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Docstrings write norms as |x - y| in plain text, which reStructuredText reads as a
    substitution: escape the bars outside inline literals, math roles and tables."""
    in_math = False
    for k, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(".. math::"):
            in_math = True
            continue
        if in_math and stripped and not line.startswith((" ", "\t")):
            in_math = False
        if in_math or stripped.startswith(("|", "+")) or "|" not in line:
            continue
        lines[k] = _OUTSIDE_BACKTICKS.sub(lambda m: m.group(1) or "\\|", line)


def setup(app: object) -> None:
    app.connect("autodoc-process-docstring", _escape_bars)  # type: ignore[attr-defined]


# -- the gallery --------------------------------------------------------------------
# The examples draw with matplotlib's Figure (no pyplot, no global state) and save
# their pictures to the folder given by --out; the gallery runs each example with a
# fresh folder and shows what appears in it.
_OUT = Path(tempfile.mkdtemp(prefix="brenier-gallery-"))
#: The gallery runs the slow examples at a reduced size (their own options), so that
#: `make docs` takes minutes, not a quarter of an hour; BRENIER_GALLERY_FULL=1 runs
#: them at the size of the pictures in docs/images (`python examples/X.py` does too).
QUICK_ARGUMENTS = {
    "plot_barycenter_square": ["--side", "32"],
    "plot_interpolation_3d": ["--side", "24"],
    "plot_free_support_barycenter": ["--points", "100"],
}
FULL_SIZE = os.environ.get("BRENIER_GALLERY_FULL", "") not in ("", "0")


def _example_argv(gallery_conf: dict, script_vars: dict) -> list[str]:
    name = Path(script_vars["src_file"]).stem
    folder = _OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    quick = [] if FULL_SIZE else QUICK_ARGUMENTS.get(name, [])
    return ["--out", str(folder), *quick]


class _WrittenPictures:
    """An image scraper: the PNG and GIF files an example wrote to its --out folder."""

    def __repr__(self) -> str:  # sphinx-gallery caches the configuration by repr
        return "_WrittenPictures"

    def __call__(self, block: object, block_vars: dict, gallery_conf: dict) -> str:
        from sphinx_gallery.scrapers import figure_rst

        folder = _OUT / Path(block_vars["src_file"]).stem
        written = sorted(p for p in folder.glob("*") if p.suffix in (".png", ".gif"))
        paths = []
        for picture, target in zip(written, block_vars["image_path_iterator"], strict=False):
            target = Path(target).with_suffix(picture.suffix)
            shutil.copyfile(picture, target)
            picture.unlink()
            paths.append(str(target))
        return figure_rst(paths, gallery_conf["src_dir"])


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # the plot_ examples and the registration (about 10 s); embed_shapes is shown with
    # its stored picture (a Dask cluster and 276 solves)
    "filename_pattern": r"/(plot_|register_scan)",
    "reset_argv": _example_argv,
    "image_scrapers": (_WrittenPictures(),),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # the table of execution times loads jQuery and DataTables from CDNs: the site stays
    # offline without it (sphinx-gallery prints the times during the build)
    "write_computation_times": False,
}
