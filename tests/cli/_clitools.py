"""Helpers of the CLI tests: run the installed command, check one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).with_name("brenier")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_process(*args: object, cwd: Path | None = None, timeout: float = 300) -> Outcome:
    """Runs the installed ``brenier`` script (the console entry point) in a subprocess."""
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "brenier"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(outcome: Outcome, code: int, *words: str) -> None:
    """The exit status, and one ``brenier: error:`` line on stderr naming ``words``."""
    assert outcome.code == code, (outcome.code, outcome.stderr)
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("brenier: error: ")
    assert "Traceback" not in outcome.stderr
    for word in words:
        assert word in lines[0], lines[0]
