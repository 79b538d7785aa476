"""Nested voxel grids of a cloud, and the levels of the coarse-to-fine solve.

A :class:`Hierarchy` bins the points of one cloud on grids of sides
:math:`s_t = s_0 / 2^t` (t = 0, ..., T) sharing one origin, so every cell of grid t
lies in one cell of grid t - 1. Every relation (which cell holds which point, which
coarse cell holds which fine cell) is read from the points' labels, never by binning
centroids again, so the groupings are consistent at every level.

A *level* of the solve is a cloud: the centroids of grid c (weights: the cells'
masses) or the points themselves. Its kernels group the level's entities by a coarser
grid b (the *blocks*), and the truncation tests the chain of grids 0, 1, ..., b.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...kernels.block_sparse import Children, Clusters, grid_clusters, nested_grids, sorted_groups

#: Grids between two intermediate levels (the entity count grows ~ 2^(step d)).
LEVEL_STEP = 1
#: A grid level's blocks are this many grids coarser (~16 entities on a surface).
BLOCK_STEP = 2
#: Intermediate levels have at least this many points per entity on average.
MIN_POINTS_PER_ENTITY = 2
#: A jump to the points from a level this many times smaller is prepared on the
#: finest grid level, at the points' first temperature.
PRESOLVE_RATIO = 4
#: A presolve on the finest grid is preceded by one on the grid this many coarser, if
#: the solve has not been there yet: the maps settle there, the finer levels polish.
SETTLE_STEP = 1
#: A grid level runs while eps > side^2 / JUMP: cells up to twice the blur (measured:
#: JUMP = 1, cells below the blur as in GeomLoss, costs 2-3x more at 10^4-10^5 points).
JUMP = 4.0


@dataclass(frozen=True)
class Hierarchy:
    """Nested grids of one cloud x (N, D) with weights w (N,)."""

    x: Tensor
    w: Tensor
    grids: tuple[Clusters, ...]
    sides: tuple[float, ...]
    top: int = 0

    @classmethod
    def build(
        cls, x: Tensor, w: Tensor, origin: Tensor, sides: list[float], top: int = 0
    ) -> Hierarchy:
        """Grids of the given sides (decreasing, each half the one before); ``top`` is
        the coarse stage's grid (the grids above it only start the truncation chains).
        One sort for all (:func:`~brenier.kernels.block_sparse.nested_grids`) where
        their codes fit in 62 bits."""
        nested = nested_grids(x, origin, sides[-1])
        if nested is None:
            grids = tuple(grid_clusters(x, w, s, origin) for s in sides)
        else:
            grids = tuple(nested.clusters(w, m) for m in range(len(sides) - 1, -1, -1))
        return cls(x, w, grids, tuple(sides), top)

    @property
    def points(self) -> int:
        """The level index of the points themselves (one past the last grid)."""
        return len(self.grids)

    def cloud(self, level: int) -> tuple[Tensor, Tensor]:
        """Entities (K, D) and weights (K,) of a level."""
        if level == self.points:
            return self.x, self.w
        return self.grids[level].centroids, self.grids[level].weights

    def _first_points(self, level: int) -> Tensor:
        if level == self.points:
            return torch.arange(self.x.shape[0])
        g = self.grids[level]
        return g.perm[g.offsets[:-1]]

    def grouping(self, level: int, t: int) -> Clusters:
        """The entities of ``level`` grouped by the cells of grid t (t < level).

        Centroids, weights and radii are those of the grid-t cells (radii measured on
        the points: an upper bound for the entities).
        """
        g = self.grids[t]
        labels = g.labels[self._first_points(level)]
        perm, inverse, offsets = sorted_groups(labels, torch.bincount(labels, minlength=g.count))
        return Clusters(perm, inverse, offsets, g.centroids, g.weights, g.radii, labels)

    def children(self, t: int) -> Children:
        """The cells of grid t grouped by their parents in grid t - 1."""
        parent = self.grids[t - 1].labels[self._first_points(t)]
        return Children.of(parent, self.grids[t - 1].count)


@dataclass(frozen=True)
class Level:
    """One stage of the solve: a cloud (grid index, or ``points``), its block grid and
    its temperatures; ``presolve``: a grid level solving the points' first temperature
    before the jump to them (the finest grid, and the one :data:`SETTLE_STEP` above it;
    :data:`PRESOLVE_RATIO`)."""

    cloud: int
    blocks: int
    temperatures: list[float]
    presolve: bool = False


def plan_levels(
    hx: Hierarchy, hy: Hierarchy, schedule: list[float], block: int, p: int = 2
) -> list[Level]:
    """The levels: the ``top`` grid (online kernels), every ``LEVEL_STEP``-th grid below
    while its entities hold at least ``MIN_POINTS_PER_ENTITY`` points, then the points.

    A grid-c level takes the temperatures whose blur :math:`\\varepsilon^{1/p}` exceeds
    :math:`s_c / \\sqrt{\\text{JUMP}}` (cells up to twice the blur); the points take the
    rest, always at least the last one. The points' blocks are the coarsest grid with at
    most ``block`` points per cell on average; a grid level's blocks are ``BLOCK_STEP``
    grids coarser. When the schedule ends while the levels are still coarse
    (:data:`PRESOLVE_RATIO`), the points' first temperature is solved on the finest grid
    first, and before it on the grid :data:`SETTLE_STEP` coarser if the solve has not
    been there (``Level.presolve``).
    """
    n = min(hx.x.shape[0], hy.x.shape[0])
    counts = [max(gx.count, gy.count) for gx, gy in zip(hx.grids, hy.grids, strict=True)]
    top = hx.top
    clouds = [top] + [
        c
        for c in range(top + LEVEL_STEP, len(counts), LEVEL_STEP)
        if n >= MIN_POINTS_PER_ENTITY * counts[c]
    ]
    point_blocks = next((t for t, k in enumerate(counts) if n <= block * k), len(counts) - 1)
    levels, start = [], 0
    for c in clouds:
        stop = start
        while stop < len(schedule) - 1 and schedule[stop] ** (2 / p) > hx.sides[c] ** 2 / JUMP:
            stop += 1
        # The coarse stage always starts the schedule (it may share its last temperature
        # with the points when the blur is larger than its cells).
        temperatures = schedule[start : max(stop, 1) if c == top else stop]
        if temperatures:
            levels.append(Level(c, max(0, c - BLOCK_STEP), temperatures))
        start = stop
    finest = clouds[-1]
    if levels[-1].cloud != finest and n >= PRESOLVE_RATIO * counts[levels[-1].cloud]:
        # A long jump to the points (the schedule ended while the grids were still
        # coarse): solve the points' first temperature on the finest grid first, so
        # that the points start near its solution (measured at 10^6 points, blur 0.01: one
        # iteration at the points instead of five, 36 s instead of 57-64 s).
        first = schedule[start : start + 1]
        settle = finest - SETTLE_STEP
        if settle > levels[-1].cloud:  # the maps settle where the iterations are cheaper
            levels.append(Level(settle, max(0, settle - BLOCK_STEP), first, presolve=True))
        levels.append(Level(finest, max(0, finest - BLOCK_STEP), first, presolve=True))
    levels.append(Level(hx.points, point_blocks, schedule[start:]))
    return levels
