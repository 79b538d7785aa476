"""The numba kernels are compiled at setup, not silently at the first call (issue 17.6)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from brenier.warmup import ALL, DEMO, DEMO_PARTS, _keops, main, warm_up

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
    assert "--jobs 2" in lines[warm]  # the KeOps formulas next to the numba kernels
    # the full install covers the demo: `make test` then `make demo` installs nothing more
    assert "$(DEMO_STAMP)" in lines[stamp]


def test_make_demo_installs_the_demo_extra_and_compiles_the_demo_kernels():
    lines = _recipe("$(DEMO_STAMP)")
    install, warm, stamp = _order(lines, "install -q", "-m brenier.warmup", "touch $(DEMO_STAMP)")
    assert install < warm < stamp
    assert '".[demo]"' in lines[install] and "--only demo" in lines[warm]
    assert '|| $(PIP) install -q --no-compile -e ".[demo]"' in lines  # pip where uv fails
    assert "\ndemo: $(DEMO_STAMP)\n" in MAKEFILE.read_text()


def test_the_demo_group_is_made_of_paths_of_every_path():
    parts = [part for names in DEMO_PARTS.values() for part in names]
    assert set(DEMO) == set(DEMO_PARTS) and set(parts) < set(ALL)
    assert len(parts) == len(set(parts))  # no path twice, so no kernel compiled twice
    assert "auction 3D float64" in parts and "online p=1 float32" not in parts
    # the Sinkhorn paths of one dtype share their kernels: one process compiles them
    for dtype in ("float32", "float64"):
        assert any({f"multiscale p=2 {dtype}", f"online p=2 {dtype}"} <= set(names)
                   for names in DEMO_PARTS.values())  # fmt: skip


def test_keops_formulas_are_compiled_at_setup_where_pykeops_is_installed():
    # a fresh virtual environment compiled them inside the suite (233 s measured)
    has_pykeops = importlib.util.find_spec("pykeops") is not None
    assert ("keops" in ALL) == has_pykeops and "keops" not in DEMO
    if has_pykeops:
        assert next(iter(ALL)) == "keops"  # the longest path first: --jobs 2 overlaps it


def test_a_keops_failure_prints_a_line_and_never_fails_the_setup(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pykeops", None)  # `import pykeops...` fails
    monkeypatch.setitem(sys.modules, "pykeops.torch", None)
    _keops()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("[brenier] KeOps formulas not compiled (")
    assert "brenier[keops]" in out[0] and "first use" in out[0]


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
    seconds.pop("keops", None)  # KeOps loads its compiled modules: ~5 s
    assert max(seconds.values()) < 5  # compiling one path took 5-25 s


#: In a fresh process: the signatures of every numba function of brenier after the demo's
#: warm-up, then those the full demo added (compiled, or loaded from numba's disk cache).
NEW_SIGNATURES = """
import json, sys, tempfile
from pathlib import Path
import numba
import brenier
from brenier.cli._demo import demo
from brenier.warmup import warm_up

def signatures():
    seen = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("brenier"):
            for attr, value in vars(module).items():
                if isinstance(value, numba.core.registry.CPUDispatcher):
                    seen[f"{name}.{attr}"] = {str(s) for s in value.signatures}
    return seen

warm_up(only="demo")
before = signatures()
demo(output=Path(tempfile.mkdtemp()) / "demo-output", quiet=True)
after = signatures()
print(json.dumps({k: sorted(v - before.get(k, set())) for k, v in after.items()
                  if v - before.get(k, set())}))
"""


@pytest.mark.slow
def test_the_demo_needs_no_kernel_beyond_the_demo_warm_up():
    """``make demo`` compiles the group ``demo`` first: the full demo then calls no
    numba function with a signature the warm-up did not compile."""
    done = subprocess.run(
        [sys.executable, "-c", NEW_SIGNATURES], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_several_processes_run_every_path_once_and_this_process_takes_its_share(monkeypatch):
    """The scheduling of ``jobs > 1``, with threads standing in for the processes."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import brenier.warmup as warmup

    ran: list[tuple[str, str]] = []

    def path(name: str, seconds: float) -> None:
        time.sleep(seconds)
        ran.append((name, threading.current_thread().name))

    group = {f"p{k}": partial(path, f"p{k}", s) for k, s in enumerate((0.3, 0.05, 0.05, 0.05))}
    monkeypatch.setitem(warmup.GROUPS, "fake", group)
    monkeypatch.setattr(
        warmup, "ProcessPoolExecutor", lambda n, mp_context: ThreadPoolExecutor(n, "worker")
    )
    seconds = warm_up(only="fake", jobs=2)
    assert list(seconds) == list(group) and sorted(name for name, _ in ran) == list(group)
    # p0 went to the other process; this one ran the short paths meanwhile
    assert dict(ran)["p0"].startswith("worker") and dict(ran)["p1"] == "MainThread"
