"""One Dask cluster for the pairwise tests (starting one costs seconds), and small shapes."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="package")
def client():
    """A real LocalCluster: 2 worker processes of 1 thread (the CI machine has 2 cores)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=50,
    )  # fmt: skip
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def family():
    """``family(n, points, seed)``: n clouds (see :func:`cloud_family`)."""
    return cloud_family


def cloud_family(n: int, points: int = 30, seed: int = 0) -> list[torch.Tensor]:
    """n float64 2D clouds: one base cloud under random affine maps and noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(points, 2, generator=g, dtype=torch.float64)
    out = []
    for _ in range(n):
        A = torch.eye(2, dtype=torch.float64) + 0.3 * torch.randn(
            2, 2, generator=g, dtype=torch.float64
        )
        shift = torch.randn(2, generator=g, dtype=torch.float64)
        noise = 0.05 * torch.randn(points, 2, generator=g, dtype=torch.float64)
        out.append(base @ A.T + shift + noise)
    return out
