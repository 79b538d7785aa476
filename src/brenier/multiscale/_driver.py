"""The coarse-to-fine Sinkhorn driver: levels of nested grids, then the points.

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
   same loop on the block-sparse kernels (``init=`` the current state).

Each batch item runs on its own (its grids differ); the value and its gradients are
then computed by :func:`brenier.solve` from the last kernels of all items, as for every
backend.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..kernels import OnlinePair
from ..results import Status
from ..solvers._duals import damping
from ..solvers._sinkhorn import (
    INTERMEDIATE_TOL,
    MAX_ITER_PER_LEVEL,
    Callback,
    Interactions,
    SinkhornState,
    rounding_floor,
    sinkhorn_loop,
)
from ._clustering import Clusters, cell_size_for, grid_clusters
from ._hierarchy import Hierarchy, Level, plan_levels
from ._kernel import BlockSparsePair, SortedPair
from ._truncation import BlockSparsity, Children, Frame, potential_fit, truncate_chain


@dataclass(frozen=True)
class LoopOptions:
    """What :func:`brenier.solve` passes on to the loop."""

    rho: float | None
    tol: float | None
    max_iter: int
    relaxation: float
    callback: Callback | None
    debias: bool


def _coarse_state(
    cx: Clusters, cy: Clusters, schedule: list[float], opt: LoopOptions
) -> SinkhornState:
    """Line 2: the loop between the centroids of one batch item (batch dimension 1)."""
    X, Y, A, Bw = cx.centroids[None], cy.centroids[None], cx.weights[None], cy.weights[None]
    problems = Interactions(
        xy=OnlinePair(X, Y, p=2),
        yx=OnlinePair(Y, X, p=2),
        xx=OnlinePair(X, X, p=2) if opt.debias else None,
        yy=OnlinePair(Y, Y, p=2) if opt.debias else None,
    )
    state, _ = sinkhorn_loop(
        problems,
        A,
        Bw,
        schedule,
        rho=opt.rho,
        tol=None if opt.tol is None else max(opt.tol, INTERMEDIATE_TOL),
        max_iter=opt.max_iter,
        relaxation=opt.relaxation,
    )
    return state


def _inherit(kernel: BlockSparsePair, rows: Clusters, x: Tensor) -> BlockSparsePair:
    """The kernel of the finer entities x (K, D), grouped as ``rows`` by the blocks of
    ``kernel``'s rows, against ``kernel``'s columns: each row inherits its block's
    kept columns (line 3)."""
    (item,) = kernel.items
    s = item.blocks
    kept = int((rows.offsets.diff().numpy() * s.columns).sum())
    blocks = BlockSparsity(rows.offsets.numpy(), s.row_ptr, s.col_lo, s.col_hi, kept)
    jump = SortedPair(rows.perm, rows.inverse, item.y_perm, blocks)
    return BlockSparsePair(x[None], kernel.y, (jump,))


def _jump(
    state: SinkhornState,
    problems: Interactions,
    rows: tuple[Clusters, Clusters],
    clouds: tuple[Tensor, Tensor],
    weights: tuple[Tensor, Tensor],
    rho: float | None,
) -> SinkhornState:
    """Line 3 between two truncated levels: softmins on the inherited kept blocks."""
    (gx, gy), (x, y), (a, b) = rows, clouds, weights
    eps, lam = state.eps, damping(state.eps, rho)
    la, lb = a.log(), b.log()
    f = lam * _inherit(problems.xy, gx, x).softmin(eps, lb + state.g / eps)  # type: ignore[arg-type]
    g = lam * _inherit(problems.yx, gy, y).softmin(eps, la + state.f / eps)  # type: ignore[arg-type]
    f_aa = g_bb = None
    if state.f_aa is not None and state.g_bb is not None:
        f_aa = lam * _inherit(problems.xx, gx, x).softmin(eps, la + state.f_aa / eps)  # type: ignore[arg-type]
        g_bb = lam * _inherit(problems.yy, gy, y).softmin(eps, lb + state.g_bb / eps)  # type: ignore[arg-type]
    return state.set(f=f, g=g, f_aa=f_aa, g_bb=g_bb)


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
    frames_x: list[Frame]
    frames_y: list[Frame]
    children: list[tuple[Children, Children]]

    @classmethod
    def of(cls, level: Level, hx: Hierarchy, hy: Hierarchy) -> LevelGeometry:
        (x, a), (y, b) = hx.cloud(level.cloud), hy.cloud(level.cloud)
        chain = range(level.blocks + 1)
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
            [Frame.of(a, x, c) for c in cx],
            [Frame.of(b, y, c) for c in cy],
            [(hx.children(t), hy.children(t)) for t in chain[1:]],
        )

    def grouping(self, t: int, hx: Hierarchy, hy: Hierarchy) -> tuple[Clusters, Clusters]:
        """The level's entities of both clouds grouped by grid t (the chain's, if in it)."""
        if t < len(self.chain_x):
            return self.chain_x[t], self.chain_y[t]
        return hx.grouping(self.level.cloud, t), hy.grouping(self.level.cloud, t)


def _kept(
    geo: LevelGeometry, sym: str, f: Tensor, g: Tensor, eps: float, tau: float
) -> tuple[BlockSparsity, BlockSparsity]:
    """Kept blocks of one problem (sym: "xy", "xx" or "yy"), both ways.

    The chain is tested again at every temperature with the current potentials: a
    block dropped while the potentials were still rough can come back (re-testing only
    the previous kept blocks can leave the marginals infeasible on the kept support,
    and the loop then stalls).

    The rule bounds dropped entries by exp(-tau) times the total weight of a side:
    tau grows by the log of the larger total mass, so that it stays relative.
    """
    wa, wb = {"xy": (geo.a, geo.b), "xx": (geo.a, geo.a), "yy": (geo.b, geo.b)}[sym]
    tau += math.log(max(1.0, float(wa.sum()), float(wb.sum())))
    (cx, fx), (cy, fy) = ((getattr(geo, f"chain_{s}"), getattr(geo, f"frames_{s}")) for s in sym)
    k = {"xy": (0, 1), "xx": (0, 0), "yy": (1, 1)}[sym]
    children = [(pair[k[0]], pair[k[1]]) for pair in geo.children]
    rows = [(c, potential_fit(f, fr)) for c, fr in zip(cx, fx, strict=True)]
    cols = (
        rows if sym != "xy" else [(c, potential_fit(g, fr)) for c, fr in zip(cy, fy, strict=True)]
    )
    return truncate_chain(rows, cols, children, eps, tau, symmetric=sym != "xy")


def _kernels(
    x: Tensor, y: Tensor, rows: Clusters, cols: Clusters, kept: tuple[BlockSparsity, ...]
) -> tuple[BlockSparsePair, BlockSparsePair]:
    """The kernels of (x, y) and (y, x) of one item from its kept blocks, both ways."""
    xy = SortedPair(rows.perm, rows.inverse, cols.perm, kept[0])
    yx = SortedPair(cols.perm, cols.inverse, rows.perm, kept[1])
    return BlockSparsePair(x[None], y[None], (xy,)), BlockSparsePair(y[None], x[None], (yx,))


def _truncated_problems(
    geo: LevelGeometry, state: SinkhornState, tau: float, eps: float
) -> Interactions:
    """Line 4: the block-sparse kernels of every problem for the temperature eps, from
    the state's potentials."""
    bx, by = geo.chain_x[-1], geo.chain_y[-1]
    xy, yx = _kernels(geo.x, geo.y, bx, by, _kept(geo, "xy", state.f[0], state.g[0], eps, tau))
    xx = yy = None
    if state.f_aa is not None and state.g_bb is not None:
        f_aa, g_bb = state.f_aa[0], state.g_bb[0]
        xx = _kernels(geo.x, geo.x, bx, bx, _kept(geo, "xx", f_aa, f_aa, eps, tau))[0]
        yy = _kernels(geo.y, geo.y, by, by, _kept(geo, "yy", g_bb, g_bb, eps, tau))[0]
    return Interactions(xy=xy, yx=yx, xx=xx, yy=yy)


#: The truncation chains start from a grid of at most this many cells (tested densely).
CHAIN_TOP = 512


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
    grids = [grid_clusters(x, a, side, origin)]
    sides, top = [side], 0
    while grids[0].count > CHAIN_TOP and top < 8:
        sides.insert(0, sides[0] * 2)
        grids.insert(0, grid_clusters(x, a, sides[0], origin))
        top += 1
    while grids[-1].count < n / 2 and len(sides) < top + 12:
        sides.append(sides[-1] / 2)
        grids.append(grid_clusters(x, a, sides[-1], origin))
    hx = Hierarchy(x, a, tuple(grids), tuple(sides), top)
    return hx, Hierarchy.build(y, b, origin, sides, top)


def _run_item(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    schedule: list[float],
    opt: LoopOptions,
    knobs: tuple[int, float, int],
    log: Callable[[str], None],
) -> tuple[Interactions, SinkhornState, Status]:
    """Lines 1-4 for one batch item (x (N, D), a (N,), ...); returns its last
    (truncated) kernels, its state (batch dimension 1) and its status."""
    clusters, tau, block = knobs
    hx, hy = _hierarchies(x, y, a, b, clusters)
    levels = plan_levels(hx, hy, schedule, block)
    log(f"grids {[g.count for g in hx.grids]} + {[g.count for g in hy.grids]}")
    coarse = levels[0]
    state = _coarse_state(hx.grids[hx.top], hy.grids[hy.top], coarse.temperatures, opt)
    log(f"coarse: {len(coarse.temperatures)} temperatures, {state.iteration} iterations")
    # The coarse kernels truncated once, for the jump: rows inherit their cell's columns.
    previous = LevelGeometry.of(coarse, hx, hy)
    problems = _truncated_problems(previous, state, tau, state.eps)
    status = Status.NOT_CHECKED
    for level in levels[1:]:
        geo = LevelGeometry.of(level, hx, hy)
        rows = geo.grouping(previous.level.blocks, hx, hy)
        state = _jump(state, problems, rows, (geo.x, geo.y), (previous.a, previous.b), opt.rho)
        for eps in level.temperatures:
            final = eps == schedule[-1] and level is levels[-1]
            cap = opt.max_iter if final else min(opt.max_iter, state.iteration + MAX_ITER_PER_LEVEL)
            tol = _tolerance(opt.tol, final, eps, schedule, geo.a.dtype)
            # One truncation per temperature: every new support restarts the loop's
            # acceleration (truncating again every 50 iterations was measured to take
            # 2,948 iterations at 10^5 points, blur 0.01, against 145 at 10^4 without).
            problems = _truncated_problems(geo, state, tau, eps)
            state, status = sinkhorn_loop(
                problems,
                geo.a[None],
                geo.b[None],
                [eps],
                rho=opt.rho,
                tol=tol,
                max_iter=cap,  # a hard cap: max_iter is never exceeded
                relaxation=opt.relaxation,
                callback=opt.callback,
                init=state,
            )
            kept = problems.xy.kept_fraction  # type: ignore[attr-defined]
            log(
                f"level {level.cloud} ({geo.x.shape[0]} entities), eps {eps:.3g}: "
                f"kept {kept:.2%}, it {state.iteration}"
            )
        previous = geo
    return problems, state, status


def _tolerance(
    tol: float | None, final: bool, eps: float, schedule: list[float], dtype: torch.dtype
) -> float | None:
    """The loop's tolerance at one temperature, as ``sinkhorn_loop`` sets it over a
    whole schedule: looser at the intermediate temperatures, never below rounding."""
    if tol is None:
        return None
    return max(tol if final else max(tol, INTERMEDIATE_TOL), rounding_floor(eps, schedule, dtype))


def _stack(x: Tensor, y: Tensor, runs: list[tuple[Interactions, SinkhornState, Status]]):
    """The batch's kernels (on the user's x, y: gradients flow) and state from its items."""

    def items(name: str) -> tuple[SortedPair, ...]:
        return tuple(getattr(p, name).items[0] for p, _, _ in runs)

    problems, states = runs[0][0], [s for _, s, _ in runs]
    xy, yx = BlockSparsePair(x, y, items("xy")), BlockSparsePair(y, x, items("yx"))
    xx = yy = None
    if problems.debiased:
        xx, yy = BlockSparsePair(x, x, items("xx")), BlockSparsePair(y, y, items("yy"))

    def cat(name: str) -> Tensor | None:
        parts = [getattr(s, name) for s in states]
        return None if parts[0] is None else torch.cat(parts)

    state = states[0].set(
        f=cat("f"),
        g=cat("g"),
        f_aa=cat("f_aa"),
        g_bb=cat("g_bb"),
        iteration=max(s.iteration for s in states),
        marginal_error=max(s.marginal_error for s in states),
        symmetric_error=max(s.symmetric_error for s in states),
    )
    statuses = [st for _, _, st in runs]
    status = next((st for st in statuses if st != Status.CONVERGED), statuses[0])
    return Interactions(xy=xy, yx=yx, xx=xx, yy=yy), state, status


def run_multiscale(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    schedule: list[float],
    opt: LoopOptions,
    *,
    clusters: int,
    tau: float,
    block: int = 8,
    verbose: bool = False,
) -> tuple[Interactions, SinkhornState, Status]:
    """Runs lines 1-4 on every batch item; returns the last (truncated) kernels of the
    batch, the state and the status."""
    t0 = time.perf_counter()

    def log(message: str) -> None:
        if verbose:
            print(f"[brenier multiscale] {time.perf_counter() - t0:7.2f}s  {message}")

    xd, yd = x.detach(), y.detach()
    runs = [
        _run_item(xd[i], yd[i], a[i], b[i], schedule, opt, (clusters, tau, block), log)
        for i in range(x.shape[0])
    ]
    return _stack(x, y, runs)
