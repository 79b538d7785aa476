"""A short active wait for the OpenMP threads of the compiled kernels (imported first).

numba's parallel kernels run on the OpenMP runtime that torch loads (one ``libgomp``
per process). After a parallel region its worker threads spin for
``GOMP_SPINCOUNT`` turns (about 100 per microsecond) before they sleep:

- by default 300,000 (about 3 ms): in an earlier version the single-threaded work
  between two kernels (voxel downsampling, k-d trees, Anderson steps) ran 5-10x
  slower after an OT solve on the 2-core machine, and the multiscale tests took ~90 s
  instead of 8;
- with ``OMP_WAIT_POLICY=PASSIVE`` (this module's choice until issue 16), 0: the
  threads sleep at once, and every parallel region pays for waking them up and for
  sleeping at its closing barrier. Measured at the defaults (multiscale, float32,
  blur 0.01; 2026-12-03): 10^4 points 0.62 s against 0.45 s with the threads
  spinning, 10^5 points 2.8 s against 2.5 s;
- with 10,000 (about 0.1 ms, this module's choice): 0.47 s and 2.46 s, and a 60,000
  point lung registration 1.31-1.37 s of wall time and 2.1-2.2 s of CPU (PASSIVE:
  1.55-1.64 s and 2.1-2.2 s; spinning without end: 1.22-1.31 s and 2.4-2.6 s).

The runtime reads its environment when it loads, so this only takes effect when brenier
is imported before torch; a ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` set by the user
wins (libgomp lets an explicit spin count override the policy, so none is set then).
"""

from __future__ import annotations

import os

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
