"""Small generated shapes, and the in-process runner of the real entry point
(:func:`brenier.cli.run`); ``_clitools.run_process`` runs the installed command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brenier.cli import run

from ._clitools import Outcome


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Runs ``brenier ARGS`` in-process; returns the exit status and the captured output."""

    def call(*args: object) -> Outcome:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out = capsys.readouterr()
        return Outcome(code, out.out, out.err)

    return call


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
