"""The command line's two kinds of failure and how each is shown.

A user mistake (bad usage, a missing or unreadable input, an output that exists) is an
:class:`InputError` and exits with status 2; a failure while computing exits with
status 1. Both print one line on stderr, ``brenier: error: ...``, that says how to fix
it; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

#: Exit status of a bad usage or a bad input (click's convention for usage errors).
EXIT_USAGE = 2
#: Exit status of a failure while computing.
EXIT_FAILURE = 1


class CLIError(Exception):
    """An error shown as one line on stderr, with an exit status."""

    exit_code = EXIT_FAILURE


class InputError(CLIError):
    """Bad usage or a bad input file: exit status 2."""

    exit_code = EXIT_USAGE


class ComputeError(CLIError):
    """A failure while computing: exit status 1."""

    exit_code = EXIT_FAILURE


def one_line(message: object) -> str:
    """The message on one line, without the library's ``[brenier]`` prefix."""
    text = " ".join(str(message).split())
    return text.removeprefix("[brenier]").strip() or type(message).__name__


def report(message: object) -> None:
    """Prints ``brenier: error: <message>`` on stderr, on one line."""
    print(f"brenier: error: {one_line(message)}", file=sys.stderr)
