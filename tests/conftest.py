"""Shared fixtures: seeded generators and tolerances per dtype."""

from __future__ import annotations

import pytest
import torch

#: Relative tolerances when comparing two computations of the same quantity.
RTOL = {torch.float32: 1e-4, torch.float64: 1e-9}


def pytest_configure(config: pytest.Config) -> None:
    # Test problems are small: one torch thread avoids OpenMP oversubscription, which
    # made small solves 10-100x slower on a loaded 2-core machine (measured).
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)
