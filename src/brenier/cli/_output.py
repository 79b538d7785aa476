"""Outputs: written atomically, never over an existing file without ``--force``.

Every file goes to a temporary file in the destination's folder, then ``os.replace``
moves it into place: a reader never sees half a file, and a failure leaves nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import InputError


def check_output(path: Path, *, force: bool, suffixes: tuple[str, ...]) -> Path:
    """Checks an output path before any work is done: extension, folder, overwrite."""
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"output {str(path)!r} must end in {' or '.join(suffixes)}; "
            f"rename it, e.g. {path.with_suffix(suffixes[0]).name!r}."
        )
    if path.is_dir():
        raise InputError(f"output {str(path)!r} is a folder; give a file name.")
    if path.exists() and not force:
        raise InputError(f"output {str(path)!r} exists; pass --force to overwrite it.")
    if not path.parent.exists():
        raise InputError(f"the folder of output {str(path)!r} does not exist; create it first.")
    return path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` that replaces it when the block ends without error."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; keep the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Writes arrays to a compressed ``.npz`` atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
    return path


def write_text(path: Path, text: str) -> Path:
    """Writes a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_with(path: Path, write: Callable[[Path], Any]) -> Path:
    """Calls ``write(tmp)`` on a temporary file, then moves it to ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def print_json(record: dict[str, Any]) -> None:
    """One JSON object on stdout (for scripts: ``brenier distance A B --json | jq``)."""
    json.dump(record, sys.stdout, indent=2, default=_jsonable)
    sys.stdout.write("\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
