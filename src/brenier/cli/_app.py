"""The ``brenier`` command: a typer app, and :func:`main`, which shows errors on one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from .. import __version__
from ._barycenter import barycenter
from ._bench import bench
from ._demo import demo
from ._distance import distance
from ._embed import embed
from ._errors import EXIT_FAILURE, EXIT_USAGE, CLIError, report
from ._interpolate import interpolate
from ._match import match
from ._register import register
from ._train import train_registration

app = typer.Typer(
    name="brenier",
    help="Optimal transport between 2D/3D shapes: distances, matchings, maps, registration, "
    "interpolation, embeddings, barycenters, a demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("distance")(distance)
app.command("match")(match)
app.command("register")(register)
app.command("interpolate")(interpolate)
app.command("embed")(embed)
app.command("barycenter")(barycenter)
app.command("bench")(bench)
app.command("demo")(demo)
app.command("train-registration")(train_registration)


def _version(value: bool) -> None:
    if value:
        print(f"brenier {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Optimal transport between 2D/3D shapes: distances, matchings, maps, a demo."""


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the command line and exits: 0 on success, 2 for bad usage or input, 1 for a
    failure while computing. Errors are one line on stderr; ``--debug`` shows tracebacks."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns its exit status (see :func:`main`)."""
    from typer.exceptions import TyperException  # click's exceptions, vendored by typer

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        status = command.main(args, prog_name="brenier", standalone_mode=False)
    except TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `brenier` alone: the help
            if error.format_message().strip():  # (typer's rich help is already printed)
                print(error.format_message(), file=sys.stderr)
            return EXIT_USAGE
        hint = f" (see 'brenier {args[0]} --help')" if args and args[0] in _commands() else ""
        report(f"{error.format_message()}{hint}")
        return error.exit_code
    except typer.Abort:
        report("aborted.")
        return EXIT_FAILURE
    except CLIError as error:
        if debug:
            raise
        report(error)
        return error.exit_code
    except KeyboardInterrupt:
        report("interrupted.")
        return 130
    except Exception as error:
        if debug:
            raise
        report(f"{type(error).__name__}: {error} (rerun with --debug for the traceback)")
        return EXIT_FAILURE
    return status if isinstance(status, int) else 0


def _commands() -> tuple[str, ...]:
    return (
        "distance", "match", "register", "interpolate", "embed", "barycenter", "bench", "demo",
        "train-registration",
    )  # fmt: skip
