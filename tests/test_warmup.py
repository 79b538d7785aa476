"""The numba kernels are compiled at setup, not silently at the first call (issue 17.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from brenier.warmup import warm_up

MAKEFILE = Path(__file__).parents[1] / "Makefile"


def test_make_setup_compiles_the_kernels_before_marking_the_venv_installed():
    recipe = MAKEFILE.read_text().split("$(STAMP): pyproject.toml\n")[1].split("\n\n")[0]
    lines = [line.strip() for line in recipe.splitlines()]
    warm = next(i for i, line in enumerate(lines) if "-m brenier.warmup" in line)
    install = next(i for i, line in enumerate(lines) if "install -q -e" in line)
    stamp = next(i for i, line in enumerate(lines) if line.startswith("touch $(STAMP)"))
    assert install < warm < stamp


@pytest.mark.slow
def test_warm_up_covers_every_compiled_path_and_is_cached():
    warm_up()
    seconds = warm_up()  # the second time from numba's cache
    assert {"online p=1 float32", "multiscale p=2 float64", "auction 3D float32"} <= set(seconds)
    assert max(seconds.values()) < 5  # compiling one path took 5-25 s
