"""brenier.pairwise on a real Dask cluster: against a plain double loop, a killed worker,
a resumed job, bad shapes reported before any Dask work."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

import brenier
from brenier.applications.pairwise import pairwise
from brenier.applications.pairwise._blocks import blocks, default_block_size
from brenier.geometry import Grid, PointCloud
from brenier.kernels import DenseBackend

BLUR = 0.5
#: An address nothing listens on: a call that reached Dask would fail to connect there.
NOWHERE = "tcp://127.0.0.1:9"
ZEROS = torch.zeros(5, 2, dtype=torch.float64)


def double_loop(shapes, **options) -> np.ndarray:
    """The reference: n(n-1)/2 calls of brenier.sinkhorn_divergence, in Python."""
    n = len(shapes)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            (x, a), (y, b) = (
                s if isinstance(s, tuple) else (s, None) for s in (shapes[i], shapes[j])
            )
            out[i, j] = out[j, i] = float(brenier.sinkhorn_divergence(x, y, a, b, **options))
    return out


def test_blocks_cover_the_upper_triangle_once():
    for n, size in ((7, 2), (10, 3), (16, 16), (5, 1)):
        pairs = [p for block in blocks(n, size) for p in block.pairs()]
        assert sorted(pairs) == [(i, j) for i in range(n) for j in range(i + 1, n)]
    assert 2 <= default_block_size(200, 2) <= 16
    assert default_block_size(10_000, 64) == 16


def test_equals_the_double_loop(client, family):
    shapes = family(7)
    shapes[2] = shapes[2][:23]  # unequal sizes
    g = torch.Generator().manual_seed(3)
    w = torch.rand(30, generator=g, dtype=torch.float64) + 0.1
    shapes[4] = (shapes[4], w / w.sum())  # weighted
    res = pairwise(shapes, blur=BLUR, scheduler=client, block_size=2, progress=False)
    ref = double_loop(shapes, blur=BLUR)
    np.testing.assert_allclose(res.matrix, ref, rtol=0, atol=1e-6)
    assert (res.matrix == res.matrix.T).all() and (np.diag(res.matrix) == 0).all()
    assert (res.matrix[np.triu_indices(7, 1)] > 0).all()
    assert res.blocks == res.computed_blocks == len(blocks(7, 2))
    assert res.resumed_blocks == 0 and res.workers == 2
    assert np.array_equal(np.asarray(res), res.matrix)


def test_geometries_numpy_and_backend_objects(client, family):
    clouds = family(3, points=40)
    img = torch.zeros(6, 6, dtype=torch.float64)
    img[1:4, 2:5] = 1.0
    grid = Grid(img / img.sum(), spacing=0.5)
    shapes = [clouds[0].numpy(), PointCloud(clouds[1]), PointCloud(clouds[2]), grid]
    res = pairwise(shapes, blur=BLUR, scheduler=client, backend=DenseBackend(), progress=False)
    geoms = [PointCloud(clouds[0]), PointCloud(clouds[1]), PointCloud(clouds[2]), grid]
    ref = double_loop(geoms, blur=BLUR, backend="dense")
    np.testing.assert_allclose(res.matrix, ref, rtol=0, atol=1e-6)


def test_killed_worker_mid_job_gives_the_same_matrix(client, family):
    shapes = family(8)
    ref = double_loop(shapes, blur=BLUR)
    killed: dict[str, object] = {}

    def kill_a_busy_worker(finished: int, total: int) -> None:
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        if not busy:
            return
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.update(pid=pid, finished=finished, total=total)

    res = pairwise(shapes, blur=BLUR, scheduler=client, block_size=2, progress=kill_a_busy_worker)
    assert killed and killed["finished"] < killed["total"]  # killed with blocks to go
    np.testing.assert_allclose(res.matrix, ref, rtol=0, atol=1e-6)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests
    assert killed["pid"] not in client.run(os.getpid).values()


class Interrupted(Exception):
    pass


def test_resume_recomputes_only_the_missing_blocks(client, family, tmp_path):
    shapes = family(8)
    checkpoint = tmp_path / "job"
    stop_after = 4

    def interrupt(finished: int, total: int) -> None:
        if finished == stop_after:
            raise Interrupted  # a job killed after four blocks were written

    with pytest.raises(Interrupted):
        pairwise(shapes, blur=BLUR, scheduler=client, block_size=2, checkpoint=checkpoint,
                 progress=interrupt)  # fmt: skip
    written = sorted(checkpoint.glob("block-*.npz"))
    assert len(written) == stop_after
    res = pairwise(shapes, blur=BLUR, scheduler=client, checkpoint=checkpoint, resume=True,
                   progress=False)  # fmt: skip
    total = len(blocks(8, 2))
    assert res.block_size == 2  # the checkpoint's, not a new default
    assert (res.resumed_blocks, res.computed_blocks) == (stop_after, total - stop_after)
    np.testing.assert_allclose(res.matrix, double_loop(shapes, blur=BLUR), rtol=0, atol=1e-6)

    # All blocks on disk: nothing is computed and no cluster is needed.
    again = pairwise(shapes, blur=BLUR, scheduler=NOWHERE, checkpoint=checkpoint, resume=True)
    assert (again.computed_blocks, again.resumed_blocks) == (0, total)
    assert np.array_equal(again.matrix, res.matrix)

    # A damaged block file is recomputed, alone.
    written[0].write_bytes(b"not an npz")
    fixed = pairwise(shapes, blur=BLUR, scheduler=client, checkpoint=checkpoint, resume=True,
                     progress=False)  # fmt: skip
    assert fixed.computed_blocks == 1 and np.array_equal(fixed.matrix, res.matrix)

    with pytest.raises(FileExistsError, match="resume=True"):
        pairwise(shapes, blur=BLUR, scheduler=NOWHERE, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="fingerprint"):
        pairwise(shapes, blur=0.6, scheduler=NOWHERE, checkpoint=checkpoint, resume=True)
    with pytest.raises(ValueError, match="block_size=2"):
        pairwise(shapes, blur=BLUR, scheduler=NOWHERE, checkpoint=checkpoint, resume=True,
                 block_size=3)  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (torch.tensor([[0.0, float("nan")]] * 5, dtype=torch.float64), ("NaN",)),
        (torch.zeros(5, 3, dtype=torch.float64), ("dimension 3",)),
        (torch.zeros(5, 2, dtype=torch.float32), ("dtype torch.float32",)),
        (torch.zeros(5, 2, dtype=torch.int64), ("integer",)),
        (torch.zeros(2, 5, 2, dtype=torch.float64), ("(N, D)",)),
        ((ZEROS, -torch.ones(5, dtype=torch.float64)), ("negative",)),
        ((ZEROS, torch.ones(5, dtype=torch.float64)), ("total mass",)),
        ("bust.obj", ("str",)),
    ],
)  # fmt: skip
def test_a_bad_shape_is_named_before_any_dask_work(family, bad, words):
    shapes = family(5, points=5)
    shapes[3] = bad
    names = ["nefertiti", "demosthenes", "bunny", "bust-3", "head"]
    with pytest.raises((ValueError, TypeError)) as info:
        pairwise(shapes, blur=BLUR, names=names, scheduler=NOWHERE)
    message = str(info.value)
    assert message.startswith("[brenier] shape 3 ('bust-3')"), message
    for word in words:
        assert word in message, message
    assert info.value.__cause__ is None and "distributed" not in info.value.__class__.__module__


def test_bad_options_fail_before_any_dask_work(family):
    shapes = family(3, points=5)
    for options, match in (
        ({"blur": -1.0}, "blur"),
        ({"blur": BLUR, "backend": "nope"}, "unknown backend"),
        ({"blur": BLUR, "scaling": 2.0}, "scaling"),
        ({"blur": BLUR, "resume": True}, "checkpoint"),
        ({"blur": BLUR, "block_size": 0}, "block_size"),
        ({"blur": BLUR, "names": ["a"]}, "1 names for 3 shapes"),
    ):
        with pytest.raises(ValueError, match=match):
            pairwise(shapes, scheduler=NOWHERE, **options)
    with pytest.raises(ValueError, match="at least two"):
        pairwise(shapes[:1], blur=BLUR, scheduler=NOWHERE)
    with pytest.raises(TypeError, match="sequence"):
        pairwise(torch.stack(shapes), blur=BLUR, scheduler=NOWHERE)

    class Unpicklable(DenseBackend):
        def __init__(self) -> None:
            self.hook = lambda: None

    with pytest.raises(TypeError, match="pickled"):
        pairwise(shapes, blur=BLUR, backend=Unpicklable(), scheduler=NOWHERE)


def test_the_embedded_local_cluster_is_the_default(family):
    shapes = family(4, points=30)
    res = pairwise(shapes, blur=BLUR, workers=1, progress=False)
    assert res.workers == 1
    np.testing.assert_allclose(res.matrix, double_loop(shapes, blur=BLUR), rtol=0, atol=1e-6)


def test_a_failed_solve_names_its_pair(family):
    from brenier.applications.pairwise._tasks import solve_block

    shapes = [PointCloud(s) for s in family(3, points=5)]
    labels = ["shape 0 ('a')", "shape 1 ('b')", "shape 2 ('c')"]
    with pytest.raises(ValueError, match=r"^\[brenier\] pair \(shape 1 \('b'\), shape 2"):
        solve_block(range(1, 2), range(2, 3), labels, {"blur": -1.0}, None, shapes[1], shapes[2])
    values, ok = solve_block(range(0, 2), range(0, 2), labels, {"blur": BLUR}, 1, *shapes[:2] * 2)
    assert np.isnan(values[0, 0]) and np.isnan(values[1, 0]) and values[0, 1] > 0 and ok[0, 1]


def test_workers_only_size_the_embedded_cluster(family):
    with pytest.raises(ValueError, match="drop `workers`"):
        pairwise(family(3, points=5), blur=BLUR, scheduler=NOWHERE, workers=2)
    with pytest.raises(TypeError, match="`scheduler`"):
        pairwise(family(3, points=5), blur=BLUR, scheduler=8786)
