"""The coarse-to-fine Sinkhorn driver (two levels: clusters, then points).

1. Cluster both clouds on two nested voxel grids: coarse clusters of side s (about
   ``clusters`` per cloud) and fine blocks of side s / 2^k (about ``block`` points
   each), which sort the clouds for the block-sparse kernels.
2. Coarse stage: run the Sinkhorn loop between the centroids (online kernels, batch
   items padded with zero-weight clusters) at every temperature eps > s^2 of the
   schedule, where the clusters are smaller than the blur.
3. Jump: extrapolate the potentials to the points with one softmin against the other
   side's clusters (and alike for g, f_aa, g_bb),

   .. math::

       f_i = \\lambda\\, \\mathrm{softmin}_\\varepsilon(x_i; c^y, \\log b^c + g^c/\\varepsilon).

4. Fine stage: at each remaining temperature, truncate (``_truncation.py``) with the
   current potentials, then continue the same loop on the block-sparse kernels
   (``init=`` the current state). The kept blocks shrink with eps.

The value and its gradients are then computed by :func:`brenier.solve` from the last
kernels, as for every backend.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from ..kernels import OnlinePair
from ..results import Status
from ..solvers._duals import damping
from ..solvers._sinkhorn import (
    MAX_ITER_PER_LEVEL,
    Callback,
    Interactions,
    SinkhornState,
    sinkhorn_loop,
)
from ._clustering import Clusters, cell_size_for, grid_clusters
from ._kernel import BlockSparsePair, SortedPair
from ._truncation import BlockSparsity, Children, cluster_potentials, truncate_children


@dataclass(frozen=True)
class LoopOptions:
    """What :func:`brenier.solve` passes on to the loop."""

    rho: float | None
    tol: float | None
    max_iter: int
    relaxation: float
    callback: Callback | None
    debias: bool


def _pad(rows: list[Tensor], fill: float = 0.0) -> Tensor:
    K = max(r.shape[0] for r in rows)
    out = rows[0].new_full((len(rows), K, *rows[0].shape[1:]), fill)
    for b, r in enumerate(rows):
        out[b, : r.shape[0]] = r
    return out


def _coarse_state(
    cx: list[Clusters], cy: list[Clusters], schedule: list[float], opt: LoopOptions
) -> tuple[SinkhornState, Tensor, Tensor, Tensor, Tensor]:
    """Line 2: the loop between the centroids; returns the state and padded clusters."""
    X, Y = _pad([c.centroids for c in cx]), _pad([c.centroids for c in cy])
    A, Bw = _pad([c.weights for c in cx]), _pad([c.weights for c in cy])
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
        tol=opt.tol,
        max_iter=opt.max_iter,
        relaxation=opt.relaxation,
    )
    return state, X, Y, A, Bw


def _extrapolate(
    state: SinkhornState, x: Tensor, y: Tensor, coarse: tuple[Tensor, ...], rho: float | None
) -> SinkhornState:
    """Line 3: fine potentials from the coarse ones, at the coarse state's temperature."""
    X, Y, A, Bw = coarse
    eps, lam = state.eps, damping(state.eps, rho)
    la, lb = A.log(), Bw.log()
    f = lam * OnlinePair(x, Y, p=2).softmin(eps, lb + state.g / eps)
    g = lam * OnlinePair(y, X, p=2).softmin(eps, la + state.f / eps)
    f_aa = g_bb = None
    if state.f_aa is not None and state.g_bb is not None:
        f_aa = lam * OnlinePair(x, X, p=2).softmin(eps, la + state.f_aa / eps)
        g_bb = lam * OnlinePair(y, Y, p=2).softmin(eps, lb + state.g_bb / eps)
    return state.set(f=f, g=g, f_aa=f_aa, g_bb=g_bb)


@dataclass(frozen=True)
class Grids:
    """One batch item: coarse clusters (for the coarse solve), fine ones (the blocks)."""

    coarse_x: Clusters
    coarse_y: Clusters
    fine_x: Clusters
    fine_y: Clusters
    children_x: Children
    children_y: Children
    side: float


def _parents(fine: Clusters, coarse: Clusters) -> Tensor:
    """The coarse cluster of each fine cluster (nested grids: that of its first point)."""
    return coarse.labels[fine.perm[fine.offsets[:-1]]]


def _grids(x: Tensor, y: Tensor, a: Tensor, b: Tensor, clusters: int, block: int) -> Grids:
    """Line 1 for one batch item: nested grids of sides s and s / 2^k (k <= 4)."""
    both = torch.cat([x, y])
    origin = both.min(0).values
    diam = float((both.max(0).values - origin).norm())
    side = cell_size_for(both, clusters, max(diam, 1e-12))
    fine = side
    for _ in range(4):  # halve until blocks hold about `block` points
        if x.shape[0] <= block * grid_clusters(x, a, fine, origin).count:
            break
        fine /= 2
    cx, cy = grid_clusters(x, a, side, origin), grid_clusters(y, b, side, origin)
    fx, fy = grid_clusters(x, a, fine, origin), grid_clusters(y, b, fine, origin)
    chx, chy = Children.of(_parents(fx, cx), cx.count), Children.of(_parents(fy, cy), cy.count)
    return Grids(cx, cy, fx, fy, chx, chy, side)


def _kept(
    g: Grids,
    sym: str,
    f: Tensor,
    gg: Tensor,
    wa: Tensor,
    wb: Tensor,
    eps: float,
    tau: float,
) -> tuple[BlockSparsity, BlockSparsity]:
    """Kept fine blocks of one problem (sym: "xy", "xx" or "yy"), both ways.

    Candidates are the children of the coarse blocks kept with the current
    potentials, at every temperature: a block dropped while the potentials were still
    rough can come back (re-testing only the previous kept blocks can leave the
    marginals infeasible on the kept support, and the loop then stalls).

    The rule bounds dropped entries by exp(-tau) times the total weight of a side:
    tau grows by the log of the larger total mass, so that it stays relative.
    """
    tau += math.log(max(1.0, float(wa.sum()), float(wb.sum())))
    side = {"xy": ("x", "y"), "xx": ("x", "x"), "yy": ("y", "y")}[sym]
    cx, cy = (getattr(g, f"coarse_{k}") for k in side)
    kx, ky = (getattr(g, f"fine_{k}") for k in side)
    chx, chy = (getattr(g, f"children_{k}") for k in side)
    coarse = (cx, cy, cluster_potentials(f, wa, cx), cluster_potentials(gg, wb, cy))
    fine = (kx, ky, cluster_potentials(f, wa, kx), cluster_potentials(gg, wb, ky))
    return truncate_children(coarse, fine, (chx, chy), eps, tau, symmetric=sym != "xy")


def _pair(
    x: Tensor,
    y: Tensor,
    kx: list[Clusters],
    ky: list[Clusters],
    kept: list[tuple[BlockSparsity, BlockSparsity]],
) -> tuple[BlockSparsePair, BlockSparsePair]:
    """The kernels of (x, y) and (y, x) from the kept blocks of every batch item."""
    xy, yx = [], []
    for cx, cy, (s_xy, s_yx) in zip(kx, ky, kept, strict=True):
        xy.append(SortedPair(cx.perm, cx.inverse, cy.perm, s_xy))
        yx.append(SortedPair(cy.perm, cy.inverse, cx.perm, s_yx))
    return BlockSparsePair(x, y, tuple(xy)), BlockSparsePair(y, x, tuple(yx))


def _truncated_problems(
    x: Tensor, y: Tensor, a: Tensor, b: Tensor, grids: list[Grids], state: SinkhornState, tau: float
) -> Interactions:
    """Line 4: the block-sparse kernels of every problem at the state's temperature."""
    eps, n = state.eps, len(grids)
    kept = [_kept(grids[i], "xy", state.f[i], state.g[i], a[i], b[i], eps, tau) for i in range(n)]
    fx, fy = [g.fine_x for g in grids], [g.fine_y for g in grids]
    xy, yx = _pair(x, y, fx, fy, kept)
    xx = yy = None
    if state.f_aa is not None and state.g_bb is not None:
        f_aa, g_bb = state.f_aa, state.g_bb
        kx = [_kept(grids[i], "xx", f_aa[i], f_aa[i], a[i], a[i], eps, tau) for i in range(n)]
        ky = [_kept(grids[i], "yy", g_bb[i], g_bb[i], b[i], b[i], eps, tau) for i in range(n)]
        xx = _pair(x, x, fx, fx, kx)[0]
        yy = _pair(y, y, fy, fy, ky)[0]
    return Interactions(xy=xy, yx=yx, xx=xx, yy=yy)


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
    """Runs lines 1-4; returns the last (truncated) kernels, the state and the status."""
    t0 = time.perf_counter()
    xd, yd = x.detach(), y.detach()
    grids = [_grids(xd[i], yd[i], a[i], b[i], clusters, block) for i in range(x.shape[0])]
    # Coarse while the clusters (side s) are below the blur: eps > s^2, as GeomLoss.
    side = max(g.side for g in grids)
    n_coarse = min(sum(e > side**2 for e in schedule), len(schedule) - 1)
    g0 = grids[0]
    _log(
        verbose,
        f"clusters {g0.coarse_x.count}+{g0.coarse_y.count}, blocks "
        f"{g0.fine_x.count}+{g0.fine_y.count}",
        t0,
    )
    # Clusters never smaller than the blur: a coarse start at eps_0 only, then all fine.
    cx, cy = [g.coarse_x for g in grids], [g.coarse_y for g in grids]
    state, *coarse = _coarse_state(cx, cy, schedule[: max(n_coarse, 1)], opt)
    _log(verbose, f"coarse: {n_coarse} temperatures, {state.iteration} iterations", t0)
    state = _extrapolate(state, xd, yd, tuple(coarse), opt.rho)
    status = Status.NOT_CHECKED
    for level, eps in enumerate(schedule[n_coarse:], start=n_coarse):
        problems = _truncated_problems(x, y, a, b, grids, state, tau)
        final = level == len(schedule) - 1
        cap = opt.max_iter if final else min(opt.max_iter, state.iteration + MAX_ITER_PER_LEVEL)
        state, status = sinkhorn_loop(
            problems,
            a,
            b,
            [eps],
            rho=opt.rho,
            tol=opt.tol,
            max_iter=max(cap, state.iteration + 1),
            relaxation=opt.relaxation,
            callback=opt.callback,
            init=state,
        )
        kept_xy = problems.xy.kept_fraction  # type: ignore[attr-defined]
        _log(verbose, f"eps {eps:.3g}: kept {kept_xy:.2%} of xy pairs, it {state.iteration}", t0)
    return problems, state, status


def _log(verbose: bool, message: str, t0: float) -> None:
    if verbose:
        print(f"[brenier multiscale] {time.perf_counter() - t0:7.2f}s  {message}")
