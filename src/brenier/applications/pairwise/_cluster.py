"""Dask for collections of OT problems: the client, the scattered shapes, lost workers.

brenier writes no scheduler. By default it starts an embedded
``distributed.LocalCluster`` sized to the machine (one single-threaded worker process per
core: each worker runs one solve at a time, with torch and numba on one thread, so the
cores are not oversubscribed); ``scheduler="tcp://host:port"`` or a
``distributed.Client`` runs on an existing cluster.

The shapes are scattered once (one future each) and every task names the futures of
the shapes it needs, so a shape travels to a worker once however many pairs use it.
Dask reruns the tasks of a lost worker by itself, except those whose inputs were
*scattered* data held only by that worker: those are cancelled. :func:`run_tasks` then
scatters the lost shapes again and resubmits the task, up to ``retries`` times.

Every scatter gets fresh keys (``hash=False``). With Dask's default (keys hashed from
the object), scattering an object again right after the previous call released it
reuses its key, and the workers' release of the old data can arrive after the new data
(two channels, no order between them): the scheduler then believes a worker holds a
shape that it dropped, and the tasks that need it wait forever. :func:`run_tasks` also
never waits silently: when no task has finished for ``stall_timeout`` seconds it raises
a ``TimeoutError`` that names the unfinished tasks.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..._validation import PREFIX

#: Called after each finished task with (finished, total).
ProgressCallback = Callable[[int, int], None]

#: Default of ``stall_timeout``: seconds without any finished task before
#: :func:`run_tasks` gives up (an hour: a block of 16 x 16 solves of large shapes on one
#: worker may take tens of minutes; a healthy cluster finishes a task far sooner).
STALL_TIMEOUT = 3600.0

#: How often :func:`run_tasks` looks for finished tasks while none is ready (seconds).
POLL = 0.02


def require_distributed() -> Any:
    """Imports dask.distributed, or raises an ImportError that names the extra."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            f"{PREFIX} collections of shapes run on Dask, an optional dependency: "
            "pip install 'brenier[dask]' (or pip install 'dask[distributed]')."
        ) from error
    return distributed


def machine_workers() -> int:
    """The cores this process may use: the embedded cluster's default worker count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def dask_client(
    scheduler: Any = None, *, workers: int | None = None, threads_per_worker: int = 1
) -> Iterator[Any]:
    """A ``distributed.Client``: the one given, one connected to an address, or one on an
    embedded ``LocalCluster`` of ``workers`` processes (closed at the end)."""
    distributed = require_distributed()
    if scheduler is not None and workers is not None:
        raise ValueError(
            f"{PREFIX} `workers` sizes the embedded cluster; with a `scheduler` the cluster "
            "is already sized: drop `workers`."
        )
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(
            f"{PREFIX} `scheduler` must be None (an embedded local cluster), an address "
            f"such as 'tcp://host:8786' or a distributed.Client, got {type(scheduler).__name__}."
        )
    if isinstance(scheduler, str):
        client = distributed.Client(scheduler, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
        return
    n = machine_workers() if workers is None else _positive("workers", workers)
    threads = _positive("threads_per_worker", threads_per_worker)
    cluster = distributed.LocalCluster(
        n_workers=n, threads_per_worker=threads, processes=True,
        dashboard_address=":0", silence_logs=40,
    )  # fmt: skip
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{PREFIX} `{name}` must be a positive integer, got {value!r}.")
    return value


def worker_count(client: Any) -> int:
    """Threads of the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def task_threads(scheduler: Any, threads_per_worker: int = 1) -> int | None:
    """Threads each task may use: ``threads_per_worker`` on the embedded cluster (torch and
    numba would otherwise each start one thread per core in every worker process);
    None (left as configured) on a cluster the user runs."""
    return threads_per_worker if scheduler is None else None


def limit_threads(threads: int | None) -> None:
    """In a worker of the embedded cluster: torch's and numba's threads for this task."""
    if threads is None:
        return
    import numba
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


@dataclass
class Task:
    """One unit of work: ``function(*static, *shapes[needs])``."""

    key: Any
    function: Callable[..., Any]
    static: tuple[Any, ...]
    needs: Sequence[int]


@dataclass
class RunStats:
    """What happened while running: tasks finished and tasks submitted again (with the
    keys of the tasks that were lost)."""

    finished: int = 0
    resubmitted: int = 0
    seconds: float = 0.0
    lost: list[str] = field(default_factory=list)


def _lost(error: BaseException) -> bool:
    """Whether a task failed because a worker died, not because of its inputs."""
    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker

    return isinstance(error, (FutureCancelledError, KilledWorker, CommClosedError))


def check_stall_timeout(stall_timeout: float | None) -> float | None:
    """``stall_timeout`` checked at the API boundary: None or a positive number of seconds."""
    if stall_timeout is None:
        return None
    if (
        not isinstance(stall_timeout, (int, float))
        or isinstance(stall_timeout, bool)
        or not stall_timeout > 0
        or stall_timeout != stall_timeout
    ):
        raise ValueError(
            f"{PREFIX} `stall_timeout` must be a positive number of seconds or None (no "
            f"limit), got {stall_timeout!r}."
        )
    return float(stall_timeout)


def run_tasks(
    client: Any,
    shapes: Sequence[Any],
    tasks: Sequence[Task],
    on_result: Callable[[Task, Any], None],
    *,
    retries: int = 3,
    progress: ProgressCallback | None = None,
    stall_timeout: float | None = STALL_TIMEOUT,
) -> RunStats:
    """Runs ``tasks`` on the cluster, calling ``on_result`` on the client as each ends.

    The shapes that the tasks need are scattered once, under fresh keys (module
    docstring). A task lost with a worker is submitted again (its lost shapes scattered
    again) at most ``retries`` times; an error raised by a task itself (a bad option, a
    failed solve) is raised here, as it was raised in the worker, without Dask's frames.

    Raises:
        TimeoutError: no task finished for ``stall_timeout`` seconds (None: no limit);
            the message names the unfinished tasks. The unfinished tasks are cancelled.
    """
    from distributed import as_completed

    stall_timeout = check_stall_timeout(stall_timeout)
    start = time.perf_counter()
    stats = RunStats()
    futures = _scatter_once(client, shapes, sorted({i for task in tasks for i in task.needs}))

    def submit(task: Task) -> Any:
        args = [futures[i] for i in task.needs]
        return client.submit(task.function, *task.static, *args, pure=False, retries=0)

    pending = {submit(task): task for task in tasks}
    attempts = dict.fromkeys(range(len(tasks)), 0)
    index = {id(task): k for k, task in enumerate(tasks)}
    iterator = as_completed(list(pending), loop=client.loop)
    last = time.monotonic()
    try:
        while not iterator.is_empty():
            batch = iterator.next_batch(block=False)
            if not batch:
                idle = time.monotonic() - last
                if stall_timeout is not None and idle > stall_timeout:
                    raise _stalled(list(pending.values()), stall_timeout, stats, len(tasks))
                time.sleep(POLL)
                continue
            last = time.monotonic()
            for future in batch:
                task = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:
                    if not _lost(error):
                        raise error.with_traceback(None) from None
                    k = index[id(task)]
                    attempts[k] += 1
                    if attempts[k] > retries:
                        raise RuntimeError(
                            f"{PREFIX} task {task.key} was lost with its worker {attempts[k]} "
                            "times; the cluster is unstable (out of memory?). Rerun with a "
                            "checkpoint and resume=True to keep the finished blocks."
                        ) from error
                    _rescatter(client, shapes, futures, task.needs)
                    stats.resubmitted += 1
                    stats.lost.append(str(task.key))
                    again = submit(task)
                    pending[again] = task
                    iterator.add(again)
                    continue
                on_result(task, result)
                stats.finished += 1
                if progress is not None:
                    progress(stats.finished, len(tasks))
    finally:
        for future in pending:
            future.cancel()
        client.cancel(list(futures.values()))
    stats.seconds = time.perf_counter() - start
    return stats


def _stalled(unfinished: list[Task], limit: float, stats: RunStats, total: int) -> TimeoutError:
    names = ", ".join(str(task.key) for task in unfinished[:5])
    more = f" and {len(unfinished) - 5} more" if len(unfinished) > 5 else ""
    return TimeoutError(
        f"{PREFIX} no task finished on the Dask cluster for {limit:g} s (stall_timeout); "
        f"{stats.finished} of {total} finished, unfinished: {names}{more}. The cluster may "
        "be stalled (a worker paused for memory, a lost shape) or a task may take longer "
        "than the limit: check the cluster's dashboard, then rerun (brenier.pairwise: with "
        "checkpoint= and resume=True to keep the finished blocks), with smaller tasks "
        "(block_size, chunk_size) or a larger stall_timeout (None: no limit)."
    )


def _scatter_once(client: Any, shapes: Sequence[Any], needed: list[int]) -> dict[int, Any]:
    """One future per shape index; one scatter, under a fresh key, per distinct object (the
    linearised embedding's template is also one of the shapes: the worker gets one object,
    as the caller had)."""
    first: dict[int, int] = {}
    for i in needed:
        first.setdefault(id(shapes[i]), i)
    distinct = sorted(set(first.values()))
    scattered = client.scatter([shapes[i] for i in distinct], hash=False) if distinct else []
    by_index = dict(zip(distinct, scattered, strict=True))
    return {i: by_index[first[id(shapes[i])]] for i in needed}


def _rescatter(
    client: Any, shapes: Sequence[Any], futures: dict[int, Any], needs: Sequence[int]
) -> None:
    lost = [i for i in needs if futures[i].status != "finished"]
    if lost:
        fresh = client.scatter([shapes[i] for i in lost], hash=False)
        futures.update(zip(lost, fresh, strict=True))


class ProgressBar:
    """A rich progress bar over tasks on stderr, shown only when stderr is a terminal."""

    def __init__(self, label: str, total: int, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._progress: Any = None
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        except ImportError:  # rich comes with brenier[cli]; no bar without it
            return
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.completed}/{task.total} blocks"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self._task = self._progress.add_task(label, total=total)
        self._progress.start()

    def __call__(self, finished: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=finished)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_callback(
    progress: bool | ProgressCallback | None, label: str, total: int
) -> tuple[ProgressCallback | None, Callable[[], None]]:
    """The callback for ``progress=`` (a bool, None: a bar when stderr is a terminal, or
    a callable) and the function that closes it."""
    if callable(progress):
        return progress, lambda: None
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(
            f"{PREFIX} `progress` must be True, False, None or a callable (finished, total), "
            f"got {type(progress).__name__}."
        )
    if progress is False:
        return None, lambda: None
    bar = ProgressBar(label, total, enabled=True if progress else None)
    return bar, bar.close
