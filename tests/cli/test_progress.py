"""Progress bars: on stderr when it is a terminal, never with --quiet or in a pipe."""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace

import pytest

from brenier.cli import _progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_quiet_or_not_a_terminal(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _progress.wanted(quiet=False) is False
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert _progress.wanted(quiet=True) is False
    assert _progress.wanted(quiet=False) is True


def test_bar_appears_after_the_delay_and_shows_the_iteration(monkeypatch: pytest.MonkeyPatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    state = SimpleNamespace(iteration=7, eps=1e-3, marginal_error=2e-3)
    with _progress.bar(quiet=False, label="Sinkhorn") as progress:
        progress.sinkhorn(state)
        assert progress._progress is not None
        assert "iteration 7" in progress._progress.tasks[0].description
    assert progress._progress is None  # closed (and erased) at the end of the block


def test_disabled_bar_draws_nothing(monkeypatch: pytest.MonkeyPatch):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    with _progress.bar(quiet=False, label="bench", total=3) as progress:
        progress.update("case 1", completed=1)
        assert progress._progress is None
    assert stderr.getvalue() == ""
