"""The upper triangle of an n x n matrix in blocks, and a checkpoint directory of them.

The shapes are cut into consecutive chunks of ``size`` indices; block (I, J), I <= J,
holds the pairs (i, j) with i in chunk I, j in chunk J and i < j. A block is one Dask
task: enough pairs that scheduling costs nothing next to the solves, few enough that a
lost worker or a killed job loses little work.

A checkpoint is a directory: ``manifest.json`` (the job's fingerprint, the block size,
the names) and one ``block-I-J.npz`` per finished block, each written atomically (a
temporary file, then a rename), so a job killed at any moment leaves only whole files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..._validation import PREFIX
from ...io import atomic_write

#: Most shapes per side of a block (a diagonal block of 16 holds 120 pairs).
MAX_BLOCK_SIZE = 16
#: Blocks per worker that the default size aims at (load balance, small losses).
BLOCKS_PER_WORKER = 16
FORMAT = 1


@dataclass(frozen=True)
class Block:
    """Chunk I of the rows against chunk J of the columns, I <= J."""

    I: int
    J: int
    rows: range
    cols: range

    @property
    def key(self) -> str:
        return f"block-{self.I:05d}-{self.J:05d}"

    def __str__(self) -> str:
        """How messages name the block: its shapes (rows x columns)."""
        return (
            f"block ({self.I}, {self.J}) of shapes {self.rows.start}-{self.rows.stop - 1} x "
            f"{self.cols.start}-{self.cols.stop - 1}"
        )

    def pairs(self) -> Iterator[tuple[int, int]]:
        """The pairs (i, j), i < j, of the block, row by row."""
        for i in self.rows:
            for j in self.cols:
                if i < j:
                    yield i, j

    def count(self) -> int:
        return sum(1 for _ in self.pairs())


def default_block_size(n: int, workers: int) -> int:
    """The side that gives about ``BLOCKS_PER_WORKER`` blocks per worker, in [2, 16].

    There are about c^2 / 2 blocks for c = n / size chunks."""
    chunks = math.sqrt(2 * BLOCKS_PER_WORKER * max(1, workers))
    return int(min(MAX_BLOCK_SIZE, max(2, math.ceil(n / chunks))))


def blocks(n: int, size: int) -> list[Block]:
    """The blocks of the upper triangle that hold at least one pair, in order."""
    chunks = [range(s, min(s + size, n)) for s in range(0, n, size)]
    out = []
    for I, rows in enumerate(chunks):
        for J in range(I, len(chunks)):
            block = Block(I, J, rows, chunks[J])
            if block.count():
                out.append(block)
    return out


def fill(matrix: np.ndarray, block: Block, values: np.ndarray) -> None:
    """Writes a block's values (len(rows), len(cols)) into both triangles."""
    for i, j in block.pairs():
        v = values[i - block.rows.start, j - block.cols.start]
        matrix[i, j] = matrix[j, i] = v


class Checkpoint:
    """Finished blocks of one job in a directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike, manifest: dict[str, object]) -> None:
        self.directory = Path(directory)
        self.manifest = manifest

    @staticmethod
    def previous(
        directory: str | os.PathLike, fingerprint: str, *, resume: bool
    ) -> dict[str, object] | None:
        """The manifest of the job already in ``directory`` (None when there is none),
        checked before any work.

        Raises:
            FileExistsError: the directory holds a job and ``resume`` is False.
            ValueError: ``resume`` on a directory written by another job (other shapes
                or options).
        """
        path = Path(directory)
        if path.exists() and not path.is_dir():
            raise ValueError(f"{PREFIX} checkpoint {str(path)!r} is a file; give a directory.")
        found = path / "manifest.json"
        if not found.exists():
            return None
        old = json.loads(found.read_text(encoding="utf-8"))
        if not resume:
            raise FileExistsError(
                f"{PREFIX} checkpoint {str(path)!r} already holds a job; pass resume=True "
                "to continue it, or give an empty directory."
            )
        if old.get("fingerprint") != fingerprint or old.get("format") != FORMAT:
            raise ValueError(
                f"{PREFIX} checkpoint {str(path)!r} was written for other shapes or options "
                "(its fingerprint differs); resume with the same inputs, or give another "
                "directory."
            )
        return dict(old)

    def start(self) -> Checkpoint:
        """Creates the directory and writes the manifest if it is not there yet."""
        self.directory.mkdir(parents=True, exist_ok=True)
        found = self.directory / "manifest.json"
        if not found.exists():
            text = json.dumps(self.manifest, indent=2)

            def write(tmp: Path) -> None:
                tmp.write_text(text, encoding="utf-8")

            atomic_write(found, write)
        return self

    def path(self, block: Block) -> Path:
        return self.directory / f"{block.key}.npz"

    def load(self, block: Block) -> tuple[np.ndarray, np.ndarray] | None:
        """A finished block's values and statuses, or None when it is missing or unreadable
        (then it is recomputed)."""
        path = self.path(block)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                values, ok = data["values"], data["ok"]
        except (OSError, ValueError, KeyError):
            return None
        if values.shape != (len(block.rows), len(block.cols)):
            return None
        return values, ok

    def save(self, block: Block, values: np.ndarray, ok: np.ndarray) -> None:
        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, values=values, ok=ok)

        atomic_write(self.path(block), write)
