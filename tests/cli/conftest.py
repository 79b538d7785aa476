"""Small generated shapes, and two ways to drive the real entry point: in-process
(:func:`brenier.cli.run`, fast) and as a subprocess of the installed ``brenier``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from brenier.cli import run

BIN = Path(sys.executable).with_name("brenier")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Runs ``brenier ARGS`` in-process; returns the exit status and the captured output."""

    def call(*args: object) -> Outcome:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out = capsys.readouterr()
        return Outcome(code, out.out, out.err)

    return call


def run_process(*args: object, cwd: Path | None = None, timeout: float = 300) -> Outcome:
    """Runs the installed ``brenier`` script (the console entry point) in a subprocess."""
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "brenier"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def shapes(tmp_path: Path) -> dict[str, Path]:
    """Point files: 3D clouds of 60 points (npy), 2D clouds (csv, weighted npz), bad files."""
    rng = np.random.default_rng(0)
    files = {
        name: tmp_path / name
        for name in ("a.npy", "b.npy", "c.csv", "d.npz", "vector.npy", "junk.npy", "mesh.obj")
    }
    np.save(files["a.npy"], rng.normal(size=(60, 3)))
    np.save(files["b.npy"], rng.normal(size=(60, 3)) + 0.5)
    np.savetxt(files["c.csv"], rng.normal(size=(40, 2)), delimiter=",", header="x,y", comments="")
    np.savez(files["d.npz"], points=rng.normal(size=(30, 2)) + 0.3, weights=rng.random(30) + 0.1)
    np.save(files["vector.npy"], rng.normal(size=7))
    files["junk.npy"].write_text("not an array")
    files["mesh.obj"].write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    )
    return files


def assert_one_line_error(outcome: Outcome, code: int, *words: str) -> None:
    """The exit status, and one ``brenier: error:`` line on stderr naming ``words``."""
    assert outcome.code == code, (outcome.code, outcome.stderr)
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("brenier: error: ")
    assert "Traceback" not in outcome.stderr
    for word in words:
        assert word in lines[0], lines[0]
