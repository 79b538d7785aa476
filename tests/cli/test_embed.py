"""``brenier embed``: files in, an embedding CSV, a picture and a matrix out, on Dask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import brenier

from ._clitools import assert_one_line_error

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def address():
    """A LocalCluster of 2 single-threaded processes, by address (as --scheduler)."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=50,
    )  # fmt: skip
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def family(tmp_path: Path) -> list[Path]:
    """Five 2D clouds of 25 points: one base cloud scaled and shifted."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(25, 2))
    files = []
    for k in range(5):
        path = tmp_path / f"shape{k}.npy"
        np.save(path, base * (1 + 0.2 * k) + [0.3 * k, 0.0])
        files.append(path)
    return files


def test_embed_writes_csv_matrix_and_picture_and_resumes(cli, family, tmp_path, address):
    out, plot, matrix, ck = (tmp_path / n for n in ("e.csv", "e.png", "m.npy", "ck"))
    common = ["--blur", "0.3", "--scheduler", address, "--checkpoint", ck, "--json"]
    run = cli("embed", *family, "-o", out, "--plot", plot, "--matrix", matrix, *common)
    assert run.code == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["shapes"] == 5 and record["pairs"] == 10
    assert record["computed_blocks"] == record["blocks"] and record["resumed_blocks"] == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "name,path,x,y" and [r.split(",")[0] for r in rows[1:]] == [
        f"shape{k}" for k in range(5)
    ]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    S = np.load(matrix)
    x, y = (torch.from_numpy(np.load(f)) for f in (family[0], family[3]))
    assert S[0, 3] == pytest.approx(float(brenier.sinkhorn_divergence(x, y, blur=0.3)), abs=1e-6)
    # Scaled copies lie on a line: MDS puts them in order along its first axis.
    first = np.array([float(r.split(",")[2]) for r in rows[1:]])
    assert (np.diff(first) > 0).all() or (np.diff(first) < 0).all()

    again = cli("embed", *family, "-o", out, "--resume", "--force", *common)
    assert again.code == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert (resumed["computed_blocks"], resumed["resumed_blocks"]) == (0, record["blocks"])


def test_linearized_embedding(cli, family, tmp_path, address):
    out = tmp_path / "lin.csv"
    run = cli("embed", *family, "-o", out, "--linearized", "--blur", "0.3",
              "--scheduler", address)  # fmt: skip
    assert run.code == 0, run.stderr
    assert "linearised OT against template" in run.stdout and out.exists()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (("--resume",), "--checkpoint"),
        (("-o", "e.txt"), "must end in .csv"),
        (("--matrix", "m.npy", "--linearized"), "--linearized"),
        (("--blur", "-1"), "blur"),
        (("--method", "tsne"), "tsne"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(cli, family, tmp_path, options, words):
    args = ["-o", tmp_path / "e.csv"] if "-o" not in options else []
    out = cli("embed", *family, *args, *options, "--scheduler", "tcp://127.0.0.1:9")
    assert_one_line_error(out, 2, words)


def test_bad_files_are_named(cli, family, tmp_path):
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not numpy")
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((10, 3)))
    e = tmp_path / "e.csv"
    nowhere = ("--scheduler", "tcp://127.0.0.1:9")
    assert_one_line_error(cli("embed", *family, junk, "-o", e, *nowhere), 2, "junk.npy")
    missing = tmp_path / "missing.npy"
    assert_one_line_error(cli("embed", *family, missing, "-o", e, *nowhere), 2, "missing.npy")
    assert_one_line_error(cli("embed", *family, flat, "-o", e, *nowhere), 2, "same D")
    e.write_text("exists")
    assert_one_line_error(cli("embed", *family, "-o", e, *nowhere), 2, "--force")
    assert_one_line_error(cli("embed", *family[:2], "-o", tmp_path / "f.csv", *nowhere), 2,
                          "at least three")  # fmt: skip
