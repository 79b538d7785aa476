"""The entry points: ``brenier``, ``python -m brenier``, help and version."""

from __future__ import annotations

import subprocess
import sys

from brenier import __version__


def test_version_and_help(cli):
    version = cli("--version")
    assert (version.code, version.stdout.strip()) == (0, f"brenier {__version__}")
    helped = cli("distance", "--help")
    assert helped.code == 0 and "--blur" in helped.stdout and "--json" in helped.stdout


def test_no_command_prints_the_help_and_exits_2(cli):
    out = cli()
    assert out.code == 2
    for command in ("distance", "match", "register", "interpolate", "embed", "barycenter",
                    "bench", "demo"):  # fmt: skip
        assert command in out.stdout + out.stderr


def test_unknown_command_exits_2_with_one_line(cli):
    out = cli("warp", "a.obj", "b.obj")
    assert out.code == 2 and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith("brenier: error: ")
    missing = cli("register", "a.obj", "b.obj")  # a known command without its -o
    assert missing.code == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "--output" in missing.stderr and "brenier register --help" in missing.stderr


def test_python_dash_m_brenier_is_the_same_command():
    done = subprocess.run([sys.executable, "-m", "brenier", "--version"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == f"brenier {__version__}"
