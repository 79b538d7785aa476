"""Progress bars on stderr (rich), shown only for work that lasts over a second.

None with ``--quiet`` or when stderr is not a terminal (pipes, CI logs, tests): the
bar would only add control characters to a log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Seconds of work before a bar appears.
DELAY = 1.0


def wanted(quiet: bool) -> bool:
    """Whether progress is shown: not ``--quiet``, and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


class Bar:
    """One progress bar that appears after :data:`DELAY` seconds, or never when disabled.

    Call :meth:`update` with a description, and ``completed``/``total`` when the work is
    countable; call it as a ``callback`` of :func:`brenier.solve` through :meth:`sinkhorn`.
    """

    def __init__(self, enabled: bool, label: str, total: float | None = None) -> None:
        self.enabled, self.label, self.total = enabled, label, total
        self.start = time.perf_counter()
        self._progress: Any = None
        self._task: Any = None

    def update(self, description: str = "", completed: float | None = None) -> None:
        if not self.enabled or time.perf_counter() - self.start < DELAY:
            return
        if self._progress is None:
            self._open()
        text = f"{self.label} {description}".strip()
        self._progress.update(self._task, description=text, completed=completed)

    def sinkhorn(self, state: Any) -> None:
        """A ``callback`` for :func:`brenier.solve`: the iteration and the current blur."""
        self.update(
            f"iteration {int(state.iteration)}, eps = {float(state.eps):.3g}, "
            f"marginal error {float(state.marginal_error):.1e}"
        )

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if self.total is not None:
            columns += [BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}")]
        self._progress = Progress(
            *columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=self.total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def bar(quiet: bool, label: str, total: float | None = None) -> Iterator[Bar]:
    """A :class:`Bar` that is closed (and erased) when the block ends."""
    progress = Bar(wanted(quiet), label, total)
    try:
        yield progress
    finally:
        progress.close()
