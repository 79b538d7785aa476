"""Shared helpers of the benchmark scripts: machine description, timing, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, object]:
    """CPU model, cores, library versions and device, for every benchmark record."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "numba_threads": numba.get_num_threads(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def median_time(
    fn: Callable[[], object], repeats: int = 3, warmup: bool = False
) -> tuple[float, object]:
    """Median wall-clock seconds over ``repeats`` calls, and the last result.

    ``warmup`` makes one untimed call first (compilation, thread pools, allocations).
    """
    if warmup:
        fn()
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def peak_rss_mb() -> float:
    """Peak resident memory (MB) of this process and of its finished children, the
    larger: what a benchmark needed at most, whatever ran it."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # ru_maxrss is in KiB on Linux


def write_json(name: str, payload: dict) -> Path:
    """Writes ``results/<name>.json`` atomically, with the peak memory of the process
    (``peak_rss_mb``, also printed) unless the payload has its own."""
    if "peak_rss_mb" not in payload:
        payload = {**payload, "peak_rss_mb": peak_rss_mb()}
        print(f"peak resident memory: {payload['peak_rss_mb']:.0f} MB", flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=RESULTS, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(tmp, path)
    return path
