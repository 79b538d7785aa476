"""The multiscale strategy of the one loop: levels of nested grids, then the points.

1. Bin both clouds on nested voxel grids of sides s_0 / 2^t (``_hierarchy.py``): the
   *top* grid holds about ``clusters`` cells. The levels of the solve are the top grid,
   the finer grids while their cells hold a few points, then the points
   (:func:`~._hierarchy.plan_levels`).
2. Coarse stage: the Sinkhorn loop between the top grid's centroids (online kernels)
   at its temperatures; then its kernel truncated once, for the jump.
3. Jump to the next level: extrapolate the potentials with one softmin against the
   previous level's entities (and alike for g, f_aa, g_bb),

   .. math::

       f_i = \\lambda\\, \\mathrm{softmin}_\\varepsilon(x_i; y', \\log b' + g'/\\varepsilon),

   on the previous level's kept blocks (a row inherits the columns of its block).
4. At each temperature of a level: truncate (``_truncation.py``) with the current
   potentials along the chain of grids down to the level's blocks, then continue the
   same loop on the block-sparse kernels.
5. When the schedule ends while the levels are coarse, the last temperature is solved
   on grid levels first (*presolves*, ``Stage.presolve``): the loop settles the maps on
   the first, the finer ones and the points only polish, and the points keep the last
   presolve's kept blocks (their chain starts from its kept pairs).

The strategy only supplies kernels and moves potentials (lines 1, 3-5); the loop of
``solvers/_sinkhorn.py`` iterates on them with its own tolerances, caps and
acceleration, as for every backend. Each batch item gets its own strategy (its grids
differ): :func:`brenier.solve` runs the loop once per item.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ...kernels import OnlinePair
from ...kernels.block_sparse import (
    BlockSparsePair,
    BlockSparsity,
    Children,
    Clusters,
    Fit,
    Frame,
    MultiscaleBackend,
    NestedGrids,
    SortedPair,
    cell_size_for,
    default_clusters,
    grid_clusters,
    nested_grids,
    potential_fit,
    truncate_chain,
)
from ...problems import damping
from .._sinkhorn import rounding_floor
from .._stages import Interaction, SinkhornState, Stage
from ._hierarchy import Hierarchy, Level, plan_levels

logger = logging.getLogger("brenier.multiscale")

#: The computed test of the kept blocks (``_kept``) runs where the blocks' mean
#: r^p is at least this many eps: the rule's slack (the fits' residuals, the spread of
#: the slopes) grows with it. It costs about one softmin and the loop then runs 10-40
#: on the kept blocks. Measured (blur 0.01): at 10^4 points, r^2 / eps = 9-17 at the
#: points' temperatures, 15-41% of the pairs dropped (0.30 -> 0.26 s); at 10^5,
#: 3.9-8.3 and 7-24% dropped, but 0.9 at the last temperature and 1-4% dropped,
#: for 84 ms (1.87 -> 1.94 s with the test there too).
EXACT_WIDTH = 2.0
#: The truncation chains start from a grid of at most this many cells (tested densely,
#: serially: 512 cells made that test a third of the time at 10^4 points, blur 0.01;
#: 128 gives the same kept blocks, iterations and values, 1.26 -> 0.89 s).
CHAIN_TOP = 128


def _inherit(kernel: BlockSparsePair, rows: Clusters, x: Tensor) -> BlockSparsePair:
    """The kernel of the finer entities x (K, D), grouped as ``rows`` by the blocks of
    ``kernel``'s rows, against ``kernel``'s columns: each row inherits its block's
    kept columns (line 3)."""
    (item,) = kernel.items
    s = item.blocks
    kept = int((rows.offsets.diff().numpy() * s.columns).sum())
    blocks = BlockSparsity(rows.offsets.numpy(), s.row_ptr, s.col_lo, s.col_hi, kept)
    jump = SortedPair(rows.perm, rows.inverse, item.y_perm, blocks)
    return BlockSparsePair(x[None], kernel.y, (jump,), kernel.p)


def _jump(
    state: SinkhornState,
    interactions: tuple[Interaction, ...],
    rows: tuple[Clusters, Clusters],
    clouds: tuple[Tensor, Tensor],
    weights: tuple[Tensor, Tensor],
    rho: float | None,
) -> SinkhornState:
    """Line 3 between two truncated levels: softmins on the inherited kept blocks."""
    (gx, gy), (x, y), (a, b) = rows, clouds, weights
    eps, lam = state.eps, damping(state.eps, rho)
    la, lb = a.log(), b.log()
    xy, yx = interactions[0].xy, interactions[0].yx
    f = lam * _inherit(xy, gx, x).softmin(eps, lb + state.g / eps)  # type: ignore[arg-type]
    g = lam * _inherit(yx, gy, y).softmin(eps, la + state.f / eps)  # type: ignore[arg-type]
    if len(interactions) == 1:
        return state.set(fs=(f,), gs=(g,))
    xx, yy, f_aa, g_bb = interactions[1].xy, interactions[2].xy, state.fs[1], state.fs[2]
    f_aa = lam * _inherit(xx, gx, x).softmin(eps, la + f_aa / eps)  # type: ignore[arg-type]
    g_bb = lam * _inherit(yy, gy, y).softmin(eps, lb + g_bb / eps)  # type: ignore[arg-type]
    return state.set(fs=(f, f_aa, g_bb), gs=(g, f_aa, g_bb))


@dataclass(frozen=True)
class LevelGeometry:
    """A level of one batch item: its clouds and the groupings of the truncation chain."""

    level: Level
    x: Tensor
    y: Tensor
    a: Tensor
    b: Tensor
    chain_x: list[Clusters]
    chain_y: list[Clusters]
    frames_x: list[Frame | None]
    frames_y: list[Frame | None]
    children: list[tuple[Children, Children]]

    @classmethod
    def of(cls, level: Level, hx: Hierarchy, hy: Hierarchy, first: int = 0) -> LevelGeometry:
        """The level's geometry, its chain from grid ``first`` (0: the whole chain, tested
        from all pairs; else started from kept pairs given on that grid)."""
        (x, a), (y, b) = hx.cloud(level.cloud), hy.cloud(level.cloud)
        chain = range(first, level.blocks + 1)
        cx = [hx.grouping(level.cloud, t) for t in chain]
        cy = [hy.grouping(level.cloud, t) for t in chain]
        return cls(
            level,
            x,
            y,
            a,
            b,
            cx,
            cy,
            # A chain started from given kept pairs never fits its first grid.
            [None if first and t == 0 else Frame.of(a, x, c) for t, c in enumerate(cx)],
            [None if first and t == 0 else Frame.of(b, y, c) for t, c in enumerate(cy)],
            [(hx.children(t), hy.children(t)) for t in chain[1:]],
        )

    def grouping(self, t: int, hx: Hierarchy, hy: Hierarchy) -> tuple[Clusters, Clusters]:
        """The level's entities of both clouds grouped by grid t (the chain's, if in it)."""
        first = self.level.blocks + 1 - len(self.chain_x)
        if first <= t <= self.level.blocks:
            return self.chain_x[t - first], self.chain_y[t - first]
        return hx.grouping(self.level.cloud, t), hy.grouping(self.level.cloud, t)


def _kept(
    geo: LevelGeometry, sym: str, f: Tensor, g: Tensor, eps: float, tau: float, p: int,
    balanced: bool = True, start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[BlockSparsity, BlockSparsity]:  # fmt: skip
    """Kept blocks of one problem (sym: "xy", "xx" or "yy"), both ways.

    The chain is tested again at every temperature with the current potentials: a
    block dropped while the potentials were still rough can come back (re-testing only
    the previous kept blocks can leave the marginals infeasible on the kept support,
    and the loop then stalls).

    The rule bounds dropped entries by exp(-tau) times the total weight of a side:
    tau grows by the log of the larger total mass, so that it stays relative.

    A ``balanced`` problem's kept blocks are then tested on the entities themselves
    (``truncate_chain``'s ``points``) where the blocks are wide for the temperature
    (:data:`EXACT_WIDTH`). Not an unbalanced one: a row whose mass the plan destroys
    has all its exponents far below -tau, yet its potential, which the value reads,
    comes from them (the computed test moved a reach = 1 value by 0.2%; the rule's
    slack keeps its neighbours).

    ``start``: the kept pairs of the chain's first grid (see ``truncate_chain``).
    """
    wa, wb = {"xy": (geo.a, geo.b), "xx": (geo.a, geo.a), "yy": (geo.b, geo.b)}[sym]
    tau += math.log(max(1.0, float(wa.sum()), float(wb.sum())))
    (cx, fx), (cy, fy) = ((getattr(geo, f"chain_{s}"), getattr(geo, f"frames_{s}")) for s in sym)
    k = {"xy": (0, 1), "xx": (0, 0), "yy": (1, 1)}[sym]
    children = [(pair[k[0]], pair[k[1]]) for pair in geo.children]
    rows = [(c, _fit(f, fr)) for c, fr in zip(cx, fx, strict=True)]
    cols = rows if sym != "xy" else [(c, _fit(g, fr)) for c, fr in zip(cy, fy, strict=True)]
    x, y = {"xy": (geo.x, geo.y), "xx": (geo.x, geo.x), "yy": (geo.y, geo.y)}[sym]
    fits = rows[-1][1], cols[-1][1]
    test = False
    if balanced and fits[0] is not None and fits[1] is not None:
        radii = torch.cat([fits[0][5], fits[1][5]])
        test = float((radii**p).mean()) >= EXACT_WIDTH * eps
    points = (x, y, f, g) if test else None
    return truncate_chain(
        rows, cols, children, eps, tau, symmetric=sym != "xy", p=p, points=points, start=start
    )


def _fit(f: Tensor, frame: Frame | None) -> Fit | None:
    return None if frame is None else potential_fit(f, frame)


def _kernels(
    x: Tensor, y: Tensor, rows: Clusters, cols: Clusters, kept: tuple[BlockSparsity, ...], p: int
) -> tuple[BlockSparsePair, BlockSparsePair]:
    """The kernels of (x, y) and (y, x) of one item from its kept blocks, both ways."""
    xy = SortedPair(rows.perm, rows.inverse, cols.perm, kept[0])
    yx = SortedPair(cols.perm, cols.inverse, rows.perm, kept[1])
    return (
        BlockSparsePair(x[None], y[None], (xy,), p),
        BlockSparsePair(y[None], x[None], (yx,), p),
    )


def _truncated(
    geo: LevelGeometry, state: SinkhornState, taus: tuple[float, float], eps: float,
    rho: float | None, p: int, starts: tuple[tuple[np.ndarray, np.ndarray], ...] = (),
) -> tuple[Interaction, ...]:  # fmt: skip
    """Line 4: the block-sparse kernels of every problem for the temperature eps, from
    the state's potentials, truncated at ``taus`` (the pair problem's, the symmetric
    ones'); ``starts``: each problem's kept pairs on the chain's first grid, if given
    (:func:`_starts`)."""
    tau, tau_symmetric = taus
    bx, by = geo.chain_x[-1], geo.chain_y[-1]
    a, b = geo.a[None], geo.b[None]
    balanced = rho is None
    start = dict(zip(("xy", "xx", "yy"), starts, strict=False))
    kept = _kept(geo, "xy", state.f[0], state.g[0], eps, tau, p, balanced, start.get("xy"))
    xy, yx = _kernels(geo.x, geo.y, bx, by, kept, p)
    # The softmins return about the potentials: their log-sum-exps are near -f / eps,
    # the first call's shifts (``BlockSparsePair.seed``).
    lam = damping(eps, rho)
    xy.seed(eps, state.f / -(lam * eps))
    yx.seed(eps, state.g / -(lam * eps))
    out = [Interaction.pair(xy, yx, a, b, rho, points=(geo.x[None], geo.y[None]))]
    if len(state.fs) == 3:
        f_aa, g_bb = state.fs[1][0], state.fs[2][0]
        tau_s = tau_symmetric
        kept_xx = _kept(geo, "xx", f_aa, f_aa, eps, tau_s, p, balanced, start.get("xx"))
        kept_yy = _kept(geo, "yy", g_bb, g_bb, eps, tau_s, p, balanced, start.get("yy"))
        xx = _kernels(geo.x, geo.x, bx, bx, kept_xx, p)[0]
        yy = _kernels(geo.y, geo.y, by, by, kept_yy, p)[0]
        xx.seed(eps, state.fs[1] / -(lam * eps))
        yy.seed(eps, state.fs[2] / -(lam * eps))
        out += [Interaction.self_interaction(xx, a, rho), Interaction.self_interaction(yy, b, rho)]
    return tuple(out)


def _starts(
    current: tuple[Interaction, ...], geo: LevelGeometry
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The kept block pairs of every problem of ``current`` (level ``geo``'s kernels), as
    CSR over its blocks: the start of a finer level's chains on the same grid."""
    bx, by = geo.chain_x[-1], geo.chain_y[-1]
    columns = (by, bx, by)  # xy, xx, yy
    return tuple(
        p.xy.items[0].blocks.blocks(c.offsets.numpy())  # type: ignore[attr-defined]
        for p, c in zip(current, columns, strict=False)
    )


def _hierarchies(
    x: Tensor, y: Tensor, a: Tensor, b: Tensor, clusters: int
) -> tuple[Hierarchy, Hierarchy]:
    """Line 1 for one batch item: nested grids halving from about ``clusters`` cells
    (both clouds together: the coarse stage) until the cells hold about one point, and
    doubling above it until at most ``CHAIN_TOP`` cells (where the chains start). Each
    grid of x is binned once: the sizing probes are the grids themselves."""
    both = torch.cat([x, y])
    origin = both.min(0).values
    diam = float((both.max(0).values - origin).norm())
    side = cell_size_for(both, clusters, max(diam, 1e-12))
    n = min(x.shape[0], y.shape[0])
    nested = nested_grids(x, origin, side / 2**FINER)
    grids = [grid_clusters(x, a, side, origin) if nested is None else nested.clusters(a, FINER)]
    sides, top = [side], 0
    while grids[0].count > CHAIN_TOP and top < 8:
        sides.insert(0, sides[0] * 2)
        top += 1
        grids.insert(0, _grid(x, a, sides[0], origin, nested, FINER + top))
    while grids[-1].count < n / 2 and len(sides) < top + FINER + 1:
        sides.append(sides[-1] / 2)
        grids.append(_grid(x, a, sides[-1], origin, nested, FINER + top + 1 - len(sides)))
    hx = Hierarchy(x, a, tuple(grids), tuple(sides), top)
    return hx, Hierarchy.build(y, b, origin, sides, top)


#: The grids halve at most this many times below the coarse stage's.
FINER = 11


def _grid(
    x: Tensor, w: Tensor, side: float, origin: Tensor, nested: NestedGrids | None, m: int
) -> Clusters:
    """Grid m of ``nested`` (of side ``side``), or x binned on its own without it."""
    return grid_clusters(x, w, side, origin) if nested is None else nested.clusters(w, m)


class MultiscaleStrategy:
    """Lines 1-4 for one batch item, as a :class:`~brenier.solvers.KernelStrategy`.

    Args:
        x, y: the item's clouds (1, N, D) and (1, M, D), the user's tensors (the last
            kernels are rebuilt on them for the value and its gradients).
        a, b: the item's weights (1, N) and (1, M).
        schedule: the temperatures of the eps-scaling.
        rho: the marginal penalty (``None``: balanced).
        p: the cost, :math:`|x - y|^2 / 2` (2) or :math:`|x - y|` (1).
        debias: whether the symmetric problems OT(a, a), OT(b, b) are solved too.
        backend: the multiscale options (clusters, truncation, block size).
        tol: the loop's tolerance (``None``: not checked). The last temperature is
            truncated at ``max(backend.truncate, log(1 / tol))``: the plans and maps of
            the result use the full kernel, whose marginals differ from the truncated
            ones by at most exp(-tau) (relative), so a converged result's plan meets
            ``tol`` too. Measured (sweep, 2-12 points, tau = 5): plan marginal errors of
            2.6e-4 to 4.1e-4 at a reported 3.5e-5 to 8.7e-5; with log(1 / tol) = 9.2,
            below 7e-6. A ``tol`` below the rounding floor of the last temperature
            counts as the floor (the loop cannot go below it): float32 at blur 0.01 on
            a unit scan, 4.4e-4 and tau 7.7 (10^5 points: 1.07% of the pairs kept
            instead of 1.14%).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        a: Tensor,
        b: Tensor,
        schedule: Sequence[float],
        *,
        rho: float | None,
        debias: bool,
        backend: MultiscaleBackend,
        tol: float | None = None,
        p: int = 2,
    ):
        self.x, self.y, self.rho, self.debias, self.p = x, y, rho, debias, p
        self.tau = backend.truncate
        if tol is not None:  # no finer than the rounding floor lets the loop converge
            schedule = list(schedule)
            tol = max(tol, rounding_floor(schedule[-1], schedule[0], x.dtype))
        self.tau_last = self.tau if tol is None else max(self.tau, math.log(1 / tol))
        xd, yd, ad, bd = x.detach()[0], y.detach()[0], a.detach()[0], b.detach()[0]
        n = max(xd.shape[0], yd.shape[0])
        clusters = backend.clusters if backend.clusters is not None else default_clusters(n)
        self.t0 = time.perf_counter()
        self.hx, self.hy = _hierarchies(xd, yd, ad, bd, clusters)
        self.levels = plan_levels(self.hx, self.hy, list(schedule), backend.block_size, p)
        self.stages = [(k, eps) for k, lv in enumerate(self.levels) for eps in lv.temperatures]
        self._log(f"grids {[g.count for g in self.hx.grids]} + {[g.count for g in self.hy.grids]}")
        self.level = -1
        self.geometry: LevelGeometry | None = None
        self.current: tuple[Interaction, ...] = ()

    def _log(self, message: str) -> None:
        logger.debug("%7.2fs  %s", time.perf_counter() - self.t0, message)

    @property
    def temperatures(self) -> list[float]:
        return [eps for _, eps in self.stages]

    def _coarse(self) -> tuple[Interaction, ...]:
        """Line 2: online kernels between the top grid's centroids."""
        cx, cy = self.hx.grids[self.hx.top], self.hy.grids[self.hy.top]
        X, Y, A, B = cx.centroids[None], cy.centroids[None], cx.weights[None], cy.weights[None]
        p = self.p
        out = [Interaction.pair(OnlinePair(X, Y, p=p), OnlinePair(Y, X, p=p), A, B, self.rho)]
        if self.debias:
            out += [
                Interaction.self_interaction(OnlinePair(X, X, p=p), A, self.rho),
                Interaction.self_interaction(OnlinePair(Y, Y, p=p), B, self.rho),
            ]
        return tuple(out)

    def stage(self, index: int, state: SinkhornState | None) -> tuple[Stage, SinkhornState | None]:
        k, eps = self.stages[index]
        if state is None or k == 0:  # the coarse stage keeps its kernels
            if self.level < 0:
                self.level, self.current = 0, self._coarse()
            return Stage(eps, self.current, jump=self._jumps(index)), state
        starts: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
        if k != self.level:
            reads = index > 0 and self._presolves(index - 1) and k == len(self.levels) - 1
            before = self.geometry if reads else None
            state = self._change_level(k, state, before)
            if before is not None:  # after a presolve: its kernels, still current
                starts = _starts(self.current, before)
        assert self.geometry is not None  # set by _change_level
        # One truncation per temperature: every new support restarts the loop's
        # acceleration (truncating again every 50 iterations was measured to take 2,948
        # iterations at 10^5 points, blur 0.01, against 145 at 10^4 without). The
        # presolve before the points is truncated as the last temperature: they read
        # its blocks.
        presolve = self._presolves(index)
        read = presolve and self._jumps(index)  # the points read its blocks
        tau = self.tau_last if index == len(self.stages) - 1 or read else self.tau
        # The symmetric problems keep the backend's threshold at every temperature: no
        # plan of theirs is returned, and truncation moves their potentials, which only
        # the value reads, by at most eps e^-tau (10^6 points, blur 0.01: 10% fewer
        # pairs for them than at log(1 / tol)).
        taus = (tau, self.tau)
        self.current = _truncated(self.geometry, state, taus, eps, self.rho, self.p, starts)
        kept = self.current[0].xy.kept_fraction  # type: ignore[attr-defined]
        self._log(
            f"level {self.levels[k].cloud} ({self.geometry.x.shape[0]} entities), "
            f"eps {eps:.3g}: kept {kept:.2%}, iteration {state.iteration}"
        )
        # The last stage's kernels remember their last softmin: ending on the measured
        # plan lets the value read it (one softmin per pair problem less on the points).
        last = index == len(self.stages) - 1
        stage = Stage(eps, self.current, self._jumps(index), presolve, keep_measured=last)
        return stage, state

    def _presolves(self, index: int) -> bool:
        """Whether stage ``index`` is a presolve of the last temperature: the points'
        only temperature solved on a grid level first (``Level.presolve``: the finest
        grid, and the one above it where the maps settle)."""
        k, eps = self.stages[index]
        last = len(self.stages) - 1
        return self.levels[k].presolve and index < last and self.stages[last][1] == eps

    def _jumps(self, index: int) -> bool:
        """Whether stage ``index`` is the last before the points."""
        if index + 1 >= len(self.stages):
            return False
        k, following = self.stages[index][0], self.stages[index + 1][0]
        return k != following and self.levels[following].cloud == self.hx.points

    def _change_level(
        self, k: int, state: SinkhornState, presolve: LevelGeometry | None = None
    ) -> SinkhornState:
        """Line 3: extrapolates the state onto level k's entities.

        After a ``presolve`` (the points' temperature solved on the finest grid level),
        the points keep its blocks and kept pairs (``_starts``; its potentials are theirs
        at the same temperature, extrapolated). Testing finer blocks costs more than it
        saves there: at 10^6 points (blur 0.01) the rule's tests on the next grid took
        6.1 s to cut the kept pairs from 1.15% to 0.70%, which saved 2.8 s of softmins
        (the rule costs ~35 ns per block pair, a softmin ~0.15 ns per point pair).
        """
        if self.level == 0:  # the coarse kernels truncated once, for the jump
            self._log(f"coarse: {len(self.levels[0].temperatures)} temperatures, "
                      f"{state.iteration} iterations")  # fmt: skip
            self.geometry = LevelGeometry.of(self.levels[0], self.hx, self.hy)
            taus = (self.tau, self.tau)
            self.current = _truncated(self.geometry, state, taus, state.eps, self.rho, self.p)
        previous = self.geometry
        assert previous is not None
        level = self.levels[k]
        if presolve is not None:  # a chain of one grid, the presolve's blocks'
            level = replace(level, blocks=presolve.level.blocks)
        first = 0 if presolve is None else level.blocks
        geo = LevelGeometry.of(level, self.hx, self.hy, first)
        rows = geo.grouping(previous.level.blocks, self.hx, self.hy)
        weights = (previous.a, previous.b)
        state = _jump(state, self.current, rows, (geo.x, geo.y), weights, self.rho)
        if len(state.fs) > 1 and k < len(self.levels) - 1:
            # The symmetric potentials moved: on a grid level, converged again (a
            # presolve after another, at the same temperature); on the points, the
            # value's softmin is their last update.
            state = state.set(symmetric_error=math.inf)
        self.level, self.geometry = k, geo
        return state

    def differentiable(self, stage: Stage) -> Stage:
        """The last stage's kernels on the user's tensors (gradients flow to x and y)."""
        supports = [(self.x, self.y), (self.x, self.x), (self.y, self.y)]  # xy, xx, yy
        rebuilt = []
        for p, (u, v) in zip(stage.interactions, supports, strict=False):
            xy = p.xy.with_clouds(u, v)  # type: ignore[attr-defined]
            yx = xy if p.symmetric else p.yx.with_clouds(v, u)  # type: ignore[attr-defined]
            rebuilt.append(Interaction(xy, yx, p.a, p.b, p.a_log, p.b_log, p.rho, p.symmetric))
        return Stage(stage.eps, tuple(rebuilt))
