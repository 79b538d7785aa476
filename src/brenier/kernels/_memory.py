"""The one memory budget: bytes allowed for dense matrices, everywhere in the library."""

from __future__ import annotations

#: Default budget for dense cost matrices and dense plans, in bytes. Above it, ``auto``
#: picks a memory-linear backend and the dense forms raise a ``MemoryError``.
DEFAULT_MEMORY_BUDGET = 2 * 1024**3


def memory_budget(requested: int | None) -> int:
    """The budget in bytes: ``requested``, or :data:`DEFAULT_MEMORY_BUDGET` for ``None``."""
    return DEFAULT_MEMORY_BUDGET if requested is None else int(requested)
