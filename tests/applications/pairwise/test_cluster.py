"""run_tasks on a real LocalCluster: the same shapes run again and again, and a stalled
cluster that raises instead of waiting forever."""

from __future__ import annotations

import operator
import time
from functools import partial

import numpy as np
import pytest
import torch

from brenier.applications.pairwise import linearized_embedding, pairwise
from brenier.applications.pairwise._cluster import Task, run_tasks
from brenier.geometry import PointCloud

NOWHERE = "tcp://127.0.0.1:9"
BOTH = "{!r} {!r}"


def _record(results: dict[int, str], task: Task, result: str) -> None:
    results[task.key] = result


def test_the_same_shapes_run_again_and_again_never_hang(client, monkeypatch):
    # Dask's default scatter keys are hashes of the objects: scattering an object again
    # right after run_tasks released it reused its key, and the workers' release of the
    # old data could arrive after the new data. The scheduler then placed the tasks next
    # to data that was gone, and they waited forever (seen once in two suite runs; in a
    # loop like this one it hung at the 2nd to 8th call, 3 loops of 3).
    g = torch.Generator().manual_seed(0)
    shapes = [PointCloud(torch.randn(6, 2, generator=g, dtype=torch.float64)) for _ in range(5)]
    tasks = [Task(k, str.format, (BOTH,), [k, (k + 1) % 5]) for k in range(5)]
    expected = {k: BOTH.format(shapes[k], shapes[(k + 1) % 5]) for k in range(5)}
    scattered: list[set[str]] = []
    scatter = client.scatter

    def recording_scatter(data, **options):
        futures = scatter(data, **options)
        scattered.append({f.key for f in futures})
        return futures

    monkeypatch.setattr(client, "scatter", recording_scatter)
    for _ in range(15):
        results: dict[int, str] = {}
        stats = run_tasks(client, shapes, tasks, partial(_record, results), stall_timeout=60)
        assert results == expected and stats.finished == 5 and stats.resubmitted == 0
    assert len(scattered) == 15 and all(len(keys) == 5 for keys in scattered)
    assert len(set().union(*scattered)) == 15 * 5  # fresh keys at every run
    # An object at two indices (the linearised embedding's template is also a shape)
    # travels once, and the task gets that one object twice, as the caller had it.
    results = {}
    same = [Task("twice", str.format, ("{}",), [5]), Task("pair", operator.is_, (), [0, 5])]
    run_tasks(client, [*shapes, shapes[0]], same, partial(_record, results), stall_timeout=60)
    assert results == {"twice": str(shapes[0]), "pair": True} and len(scattered[-1]) == 1


def test_the_public_calls_run_twice_on_the_same_objects(client):
    g = torch.Generator().manual_seed(1)
    shapes = [PointCloud(torch.randn(8, 2, generator=g, dtype=torch.float64) + k)
              for k in range(4)]  # fmt: skip
    reference = shapes[0]
    first = pairwise(shapes, blur=0.5, scheduler=client, progress=False, stall_timeout=60)
    again = pairwise(shapes, blur=0.5, scheduler=client, progress=False, stall_timeout=60)
    assert np.array_equal(first.matrix, again.matrix)
    options = {"blur": 0.5, "scheduler": client, "progress": False, "stall_timeout": 60}
    maps = [linearized_embedding(shapes, reference=reference, **options).maps for _ in range(3)]
    assert np.array_equal(maps[0], maps[1]) and np.array_equal(maps[1], maps[2])


def test_a_stalled_cluster_raises_instead_of_waiting(client):
    shapes = [PointCloud(torch.zeros(3, 2, dtype=torch.float64))]
    finished: list[object] = []
    tasks = [
        Task("quick", str.format, ("{!r}",), [0]),
        Task("sleeper", time.sleep, (2.5,), []),  # a task longer than the limit
    ]
    start = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        run_tasks(client, shapes, tasks, lambda t, r: finished.append(t.key), stall_timeout=0.3)
    waited = time.monotonic() - start
    message = str(info.value)
    assert message.startswith("[brenier] no task finished on the Dask cluster for 0.3 s")
    assert "1 of 2 finished, unfinished: sleeper." in message, message
    assert "resume=True" in message and "stall_timeout" in message
    assert finished == ["quick"]
    assert waited < 2.0, waited  # it gave up; it did not wait for the sleeper
    # The limit counts time without progress, not the whole run: tasks that each end
    # sooner than it never trip it, however long the run.
    steady = [Task(k, time.sleep, (0.2,), []) for k in range(24)]  # >= 2.4 s on 2 workers
    stats = run_tasks(client, shapes, steady, lambda t, r: None, stall_timeout=2.0)
    assert stats.finished == 24 and stats.seconds > 2.0
    client.wait_for_workers(2, timeout=60)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "1h", True])
def test_bad_stall_timeouts_fail_before_any_dask_work(bad):
    shapes = [torch.randn(4, 2, dtype=torch.float64) for _ in range(3)]
    with pytest.raises(ValueError, match="`stall_timeout` must be a positive number"):
        pairwise(shapes, blur=0.5, scheduler=NOWHERE, stall_timeout=bad)
    with pytest.raises(ValueError, match="`stall_timeout` must be a positive number"):
        linearized_embedding(shapes, blur=0.5, scheduler=NOWHERE, stall_timeout=bad)
