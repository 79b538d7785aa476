"""The ``brenier`` command line (``pip install 'brenier[cli]'``).

``brenier distance A B``, ``brenier match A B -o plan.npz``, ``brenier bench`` and
``brenier demo``; ``python -m brenier`` is the same command. Exit status 0 on success,
2 for bad usage or input, 1 for a failure while computing.
"""

from ._app import app, main, run

__all__ = ["app", "main", "run"]
