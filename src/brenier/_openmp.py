"""Passive waiting for the OpenMP threads of the compiled kernels (imported first).

numba's parallel kernels run on the OpenMP runtime that torch loads (one ``libgomp``
per process). By default its worker threads keep spinning after each parallel region,
competing with the main thread: on the 2-core machine the single-threaded work between
two kernels (voxel downsampling, k-d trees, Anderson steps) ran 5-10x slower after an
OT solve (a 60,000-point voxel downsampling: 28 ms of CPU before the first solve, 250-420
ms after it; 20 ms with passive waiting), and a registration took twice the CPU time.
``OMP_WAIT_POLICY=PASSIVE`` puts the threads to sleep at once. The runtime reads it
when it loads, so it only takes effect when brenier is imported before torch; a value
set by the user wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
