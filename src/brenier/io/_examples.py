"""The two real scans bundled with the package."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from .._validation import PREFIX
from ._obj import read_obj

EXAMPLES = {
    "demosthenes": "demosthenes-low-res.obj",  # CC BY 4.0, ryanfb / O. Stein
    "nefertiti": "nefertiti-lowres.obj",  # public domain, N. Al-Badri and J. N. Nelles
}


def load_example(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and triangles (F, 3) of a bundled scan.

    ``"demosthenes"`` (8,394 vertices; CC BY 4.0, photoscan by ryanfb, remeshed by
    O. Stein) or ``"nefertiti"`` (35,002 vertices; public domain, scan by Nora Al-Badri
    and Jan Nikolai Nelles). Attributions ship in ``brenier/data/``.
    """
    if name not in EXAMPLES:
        raise ValueError(f"{PREFIX} unknown example {name!r}; choose one of {sorted(EXAMPLES)}.")
    vertices, faces = _parsed(name)
    return vertices.copy(), faces.copy()  # the caller may modify its arrays


@lru_cache(maxsize=len(EXAMPLES))
def _parsed(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Each scan is parsed once per process (0.3 s for Nefertiti; the demo loads the
    scans six times)."""
    with resources.as_file(resources.files("brenier") / "data" / EXAMPLES[name]) as path:
        return read_obj(path)
