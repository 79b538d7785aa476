"""The one memory budget: bytes allowed for dense matrices, everywhere in the library.

A function that takes ``memory_budget`` either passes it down to the backend choice
(:func:`brenier.solve`, :class:`brenier.SamplesLoss`), or, when it runs many solves
and kernels of its own (:func:`brenier.register`), sets it for everything it calls
with :func:`budget_scope`: inside the block, every ``memory_budget=None`` means the
scoped budget instead of the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .._validation import check_positive

#: Default budget for dense cost matrices and dense plans, in bytes. Above it, ``auto``
#: picks a memory-linear backend and the dense forms raise a ``MemoryError``.
DEFAULT_MEMORY_BUDGET = 2 * 1024**3

_SCOPED: ContextVar[int | None] = ContextVar("brenier_memory_budget", default=None)


def memory_budget(requested: int | None) -> int:
    """The budget in bytes: ``requested``, else the one of the enclosing
    :func:`budget_scope`, else :data:`DEFAULT_MEMORY_BUDGET`.

    Raises:
        TypeError, ValueError: ``requested`` is not a positive finite number.
    """
    if requested is None:
        scoped = _SCOPED.get()
        return DEFAULT_MEMORY_BUDGET if scoped is None else scoped
    hint = "It is the number of bytes allowed for dense matrices (default 2 GiB)."
    return int(check_positive("memory_budget", requested, hint))


@contextmanager
def budget_scope(requested: int | None) -> Iterator[int]:
    """Within the block, ``memory_budget(None)`` is ``requested`` (checked); ``None``
    leaves the current budget. Yields the budget in force."""
    if requested is None:
        yield memory_budget(None)
        return
    token = _SCOPED.set(memory_budget(requested))
    try:
        yield memory_budget(None)
    finally:
        _SCOPED.reset(token)
