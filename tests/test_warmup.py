"""The numba kernels are compiled at setup, not silently at the first call (issue 17.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from brenier.warmup import ALL, DEMO, main, warm_up

MAKEFILE = Path(__file__).parents[1] / "Makefile"


def _recipe(target: str) -> list[str]:
    recipe = MAKEFILE.read_text().split(f"{target}: pyproject.toml\n")[1].split("\n\n")[0]
    return [line.strip() for line in recipe.splitlines()]


def _order(lines: list[str], *pieces: str) -> list[int]:
    return [next(i for i, line in enumerate(lines) if piece in line) for piece in pieces]


def test_make_setup_compiles_the_kernels_before_marking_the_venv_installed():
    lines = _recipe("$(STAMP)")
    install, warm, stamp = _order(lines, "install -q -e", "-m brenier.warmup", "touch $(STAMP)")
    assert install < warm < stamp
    assert '".[dev]"' in lines[install] and "--only" not in lines[warm]
    # the full install covers the demo: `make test` then `make demo` installs nothing more
    assert "$(DEMO_STAMP)" in lines[stamp]


def test_make_demo_installs_the_demo_extra_and_compiles_the_demo_kernels():
    lines = _recipe("$(DEMO_STAMP)")
    install, warm, stamp = _order(lines, "install -q", "-m brenier.warmup", "touch $(DEMO_STAMP)")
    assert install < warm < stamp
    assert '".[demo]"' in lines[install] and "--only demo" in lines[warm]
    assert '|| $(PIP) install -q --no-compile -e ".[demo]"' in lines  # pip where uv fails
    assert "\ndemo: $(DEMO_STAMP)\n" in MAKEFILE.read_text()


def test_the_demo_group_is_part_of_every_path():
    assert set(DEMO) < set(ALL)
    assert "auction 3D float64" in DEMO and "online p=1 float32" not in DEMO


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"only": "tests"}, "only='tests'"),
        ({"jobs": 0}, "jobs=0"),
        ({"jobs": 1.5}, "jobs=1.5"),
        ({"jobs": True}, "jobs=True"),
    ],
)
def test_bad_arguments_are_named(kwargs, words):
    with pytest.raises(ValueError, match=words):
        warm_up(**kwargs)


def test_bad_jobs_on_the_command_line_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--jobs", "0"])
    assert exit_info.value.code == 2 and "--jobs 0" in capsys.readouterr().err


@pytest.mark.slow
def test_warm_up_covers_every_compiled_path_and_is_cached():
    warm_up()
    seconds = warm_up()  # the second time from numba's cache
    assert {"online p=1 float32", "multiscale p=2 float64", "auction 3D float32"} <= set(seconds)
    assert max(seconds.values()) < 5  # compiling one path took 5-25 s


@pytest.mark.slow
def test_the_demo_compiles_nothing_after_the_demo_warm_up(tmp_path):
    """``make demo`` compiles the group ``demo`` first: the demo then finds every kernel
    it calls compiled (a kernel it calls with a new signature would be compiled here,
    and would fire numba's compile event)."""
    from numba.core import event

    from brenier.cli._demo import demo

    warm_up(only="demo", jobs=1)
    compiled: list[str] = []

    class Listener(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Listener()):
        demo(output=tmp_path / "demo-output", quiet=True)
    assert compiled == []
