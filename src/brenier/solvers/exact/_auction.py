"""Bertsekas's auction algorithm with eps-scaling for the assignment problem (numba).

Minimisation form: person i gets object sigma(i) and pays the cost C_ij plus the
price p_j. At every phase, for a given eps,

1. an unassigned person i finds its best object j* = argmin_j C_ij + p_j and the
   second-best value w_i (Gauss-Seidel: one person at a time, the others see new prices);
2. it bids: p_j* += w_i - (C_ij* + p_j*) + eps, takes j* and evicts its previous owner;
3. the phase ends when everybody is assigned. Then every person is within eps of its
   best choice (eps-complementary slackness) and the total cost is within N eps of the
   optimum. eps is divided by ``factor`` and persons who now violate eps-CS are released.

Candidate lists make step 1 cost O(K) instead of O(N) and stay exact: a full scan keeps
the K best objects of person i and the (K+1)-th reduced value t_i. Prices only increase,
so every object outside the list still has a reduced value >= t_i; if the best and the
second best inside the list are <= t_i they are the global ones, otherwise i rescans.
The list stores the costs C_ij, so that a bid reads K costs and K prices. For costs from
points, a rescan searches a k-d tree of the objects (:mod:`._kdtree`) that prunes by
box distance plus the smallest price in the box, and returns what a linear scan would;
the objects are renumbered in the tree's order for memory locality.

For costs from points, eps-scaling starts at ``min(eps_start, max(4 mean_i a_i,
max_i a_i / 4))`` with a_i = min_j C_ij the nearest-neighbour costs
(:func:`_nearest_scale`).

Certificate: with f_i = min_j C_ij + p_j and g_j = -p_j, (f, g) is dual feasible
(f_i + g_j <= C_ij), so sum_i f_i + sum_j g_j <= OPT and

    primal - OPT <= primal - dual = sum_i (C_{i sigma(i)} + p_{sigma(i)} - f_i),

a sum of N non-negative terms each <= eps, computed from the final prices.

The cost is either a dense float64 matrix (``kind = MATRIX``) or computed on the fly from
float64 points (``HALF_SQUARED`` |x-y|^2/2, ``EUCLIDEAN`` |x-y|), which needs no N^2
memory. ``geometry`` is the tuple (X (N, D), Y (N, D), Y^T (D, N), C (N, N), kind).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _kdtree

MATRIX, HALF_SQUARED, EUCLIDEAN = 0, 1, 2

#: Rescans search a k-d tree of the objects up to this dimension, else scan linearly. On
#: N = 2,000 uniform points the tree makes the solve 1.4x faster in 2D, 1.1x in 3D, as
#: fast in 4D and 1.6x slower in 6D (pruning by boxes fades with the dimension).
TREE_MAX_DIM = 3

#: Unit roundoff of float64.
_ULP = 2.0**-52


def make_geometry(x=None, y=None, C=None):
    """The geometry tuple of the kernels from float64 points (half squared distance by
    default; use :func:`with_kind` for |x-y|) or from a dense float64 cost matrix."""
    empty = np.zeros((1, 1))
    if C is not None:
        return (empty, empty, empty, np.ascontiguousarray(C, dtype=np.float64), MATRIX)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    return (x, y, np.ascontiguousarray(y.T), empty, HALF_SQUARED)


def with_kind(geometry, kind: int):
    return (*geometry[:4], kind)


@njit(cache=True, inline="always")
def _cost(geometry, i: int, j: int) -> float:
    """C_ij, bit-identical to :func:`._kdtree.smallest_reduced` and :func:`_reduced_row`."""
    X, Y, _, C, kind = geometry
    if kind == MATRIX:
        return C[i, j]
    s = 0.0
    for k in range(X.shape[1]):
        d = X[i, k] - Y[j, k]
        s += d * d
    return 0.5 * s if kind == HALF_SQUARED else np.sqrt(s)


@njit(cache=True, inline="always")
def _uses_tree(geometry) -> bool:
    """Costs from points in dimension <= TREE_MAX_DIM: rescans search the k-d tree."""
    return geometry[4] != MATRIX and geometry[0].shape[1] <= TREE_MAX_DIM


@njit(cache=True)
def _reduced_row(geometry, i: int, prices: np.ndarray, out: np.ndarray) -> None:
    """out_j = C_ij + p_j for all j, in loops that vectorise (sums over k in the order of
    :func:`_cost`: bit-identical)."""
    X, _, YT, C, kind = geometry
    n = prices.shape[0]
    if kind == MATRIX:
        for j in range(n):
            out[j] = C[i, j] + prices[j]
        return
    out[:] = 0.0
    for k in range(X.shape[1]):
        xk = X[i, k]
        for j in range(n):
            d = xk - YT[k, j]
            out[j] += d * d
    if kind == HALF_SQUARED:
        for j in range(n):
            out[j] = 0.5 * out[j] + prices[j]
    else:
        for j in range(n):
            out[j] = np.sqrt(out[j]) + prices[j]


@njit(cache=True)
def _full_scan(geometry, i, prices, lists, row, top_v, top_j):
    """Rebuilds person i's candidate list; returns (best object, best, second best).

    The K + 1 smallest reduced values come as a max-heap, from the k-d tree for costs
    from points and from a linear scan of the row for a cost matrix. The heap's root is
    the threshold t_i, its K other entries are the new list.
    """
    X, Y, _, _, kind = geometry
    candidates, costs, thresholds, tree, stack, bounds = lists
    K = candidates.shape[1]
    heap_v, heap_j = top_v[: K + 1], top_j[: K + 1]
    if not _uses_tree(geometry):
        _reduced_row(geometry, i, prices, row)
        heap_v[:] = np.inf
        heap_j[:] = 0
        for j in range(row.shape[0]):
            if row[j] < heap_v[0]:
                _kdtree.push_heap(heap_v, heap_j, row[j], j)
    else:
        _kdtree.smallest_reduced(
            tree, X[i], Y, prices, kind == EUCLIDEAN, heap_v, heap_j, stack, bounds
        )
    best, second, best_j = np.inf, np.inf, -1
    for m in range(K):
        j, v = heap_j[m + 1], heap_v[m + 1]
        candidates[i, m] = j
        costs[i, m] = _cost(geometry, i, j)  # cached: a bid reads K costs, computes none
        if v < best:
            second, best, best_j = best, v, j
        elif v < second:
            second = v
    thresholds[i] = heap_v[0]
    second = min(second, heap_v[0])  # the root is the second best when K = 1
    top_j[K + 1] += 1  # the slot after the heap counts the full scans
    return best_j, best, second


@njit(cache=True, inline="always")
def _best_two(geometry, i, prices, lists, row, top_v, top_j):
    """Step 1: best object of person i, its value min_j C_ij + p_j, second-best value.

    Exact: the list's two best are the global ones when both are <= the threshold.
    """
    best = np.inf
    second = np.inf
    best_j = -1
    candidates, costs, thresholds = lists[0], lists[1], lists[2]
    for m in range(candidates.shape[1]):
        j = candidates[i, m]
        v = costs[i, m] + prices[j]
        if v < second:
            if v < best:
                second = best
                best = v
                best_j = j
            else:
                second = v
    if second <= thresholds[i]:
        return best_j, best, second
    return _full_scan(geometry, i, prices, lists, row, top_v, top_j)


# The functions that `auction` calls once are inlined into it (numba IR inlining): a
# function compiled on its own costs ~0.5 s more (its module is optimised again with
# everything it calls), 2 s of the auction's first call in all; run times unchanged.
@njit(cache=True, inline="always")
def _auction_phase(geometry, state, eps, max_bids) -> int:
    """Gauss-Seidel bidding (steps 1-2) until everybody is assigned; returns the bids."""
    prices, person_to_object, object_to_person, lists, row, tv, tj = state
    n = prices.shape[0]
    queue = np.empty(n, dtype=np.int64)  # circular FIFO of unassigned persons
    size = 0
    for i in range(n):
        if person_to_object[i] < 0:
            queue[size] = i
            size += 1
    head = 0
    bids = 0
    while size > 0 and bids < max_bids:
        i = queue[head]
        head = (head + 1) % n
        size -= 1
        j, best, second = _best_two(geometry, i, prices, lists, row, tv, tj)
        prices[j] += second - best + eps
        if _uses_tree(geometry):
            _kdtree.raise_price(lists[3], prices, j)
        evicted = object_to_person[j]
        if evicted >= 0:
            person_to_object[evicted] = -1
            queue[(head + size) % n] = evicted
            size += 1
        object_to_person[j] = i
        person_to_object[i] = j
        bids += 1
    return bids


@njit(cache=True, inline="always")
def _release_violators(geometry, state, eps) -> None:
    """Step 3: unassign the persons that are not within eps of their best object."""
    prices, person_to_object, object_to_person, lists, row, tv, tj = state
    for i in range(prices.shape[0]):
        j = person_to_object[i]
        if j < 0:
            continue
        _, best, _ = _best_two(geometry, i, prices, lists, row, tv, tj)
        if _cost(geometry, i, j) + prices[j] > best + eps:
            person_to_object[i] = -1
            object_to_person[j] = -1


@njit(cache=True, inline="always")
def _initial_state(tree, n: int, n_candidates: int):
    K = max(1, min(n_candidates, n - 1))
    return (
        np.zeros(n),  # prices
        -np.ones(n, dtype=np.int64),  # person -> object
        -np.ones(n, dtype=np.int64),  # object -> person
        (  # candidate lists: objects, their costs, thresholds (-inf forces a first scan)
            np.zeros((n, K), dtype=np.int64),
            np.zeros((n, K)),
            np.full(n, -np.inf),
            tree,
            np.zeros(128, dtype=np.int64),  # depth-first search stack of the tree
            np.zeros(128),  # and the nodes' bounds
        ),
        np.empty(n),  # scratch row
        np.empty(K + 1),  # scratch K + 1 smallest values
        np.zeros(K + 2, dtype=np.int64),  # and their objects, then the full-scan count
    )


@njit(cache=True, inline="always")
def _objects_in_tree_order(geometry):
    """The k-d tree of the objects, and the geometry with the objects renumbered in the
    tree's order, with that order: a leaf's objects and prices are then contiguous in
    memory, and so are nearby objects, which the bids and the scans mostly touch."""
    X, Y, _, C, kind = geometry
    if not _uses_tree(geometry):  # a one-point tree, not used
        n = Y.shape[0] if kind != MATRIX else C.shape[0]
        return _kdtree.build_tree(np.zeros((1, 1))), np.arange(n), geometry
    tree, order = _kdtree.renumbered(_kdtree.build_tree(Y))
    Y_sorted, YT_sorted = np.empty_like(Y), np.empty((Y.shape[1], Y.shape[0]))
    for t in range(order.shape[0]):  # loops, not fancy indexing: see build_tree
        for d in range(Y.shape[1]):
            Y_sorted[t, d] = YT_sorted[d, t] = Y[order[t], d]
    return tree, order, (X, Y_sorted, YT_sorted, C, kind)


@njit(cache=True, inline="always")
def _certified_gap(geometry, state):
    """Certified bound on ``sum_i C_{i sigma(i)} - OPT`` from the prices, and the dual value.

    f_i = min_j C_ij + p_j comes from the candidate lists (exact: prices only increase).
    The gap is summed term by term (no cancellation between two large totals) and a
    rounding allowance of 8 N ulps of the largest magnitude involved is added, so that
    the bound holds for the exact real-number gap of the float64 costs.
    """
    prices, sigma, _, lists, row, tv, tj = state
    n = prices.shape[0]
    gap = 0.0
    dual = 0.0
    scale = 0.0
    for i in range(n):
        _, best, _ = _best_two(geometry, i, prices, lists, row, tv, tj)
        j = sigma[i]
        c = _cost(geometry, i, j)
        gap += max(c + prices[j] - best, 0.0)
        dual += best - prices[i]
        scale = max(scale, abs(c) + abs(prices[j]), abs(best))
    return gap + 8.0 * n * _ULP * scale, dual


@njit(cache=True, inline="always")
def _nearest_scale(geometry, state) -> float:
    """First eps from the nearest-neighbour costs a_i = min_j C_ij: max(4 mean a, max a / 4).

    mean a <= OPT / N (zero prices are dual feasible), so this eps is a few times the
    per-point cost of a local transport (two samples of one shape), and it grows with
    the distance when the clouds are apart. A first eps much above the scale of the
    optimal prices makes every bid overshoot and rescan; one much below makes the price
    differences grow by tiny steps. The scans build the first candidate lists, which the
    first phase needs anyway.
    """
    prices, _, _, lists, row, tv, tj = state
    total, largest = 0.0, 0.0
    for i in range(prices.shape[0]):
        _, nearest, _ = _best_two(geometry, i, prices, lists, row, tv, tj)
        total += nearest
        largest = max(largest, nearest)
    return max(4.0 * total / prices.shape[0], largest / 4.0)


@njit(cache=True)
def auction(geometry, eps_start, eps_final, factor, max_bids, n_candidates=16):
    """Forward auction with eps-scaling (N >= 2 persons and objects).

    Returns the assignment sigma (N,), the prices (N,), the certified gap and the dual
    value (see :func:`_certified_gap`; NaN if unfinished), and the numbers of bids, of
    phases and of full scans. The first phase runs at ``eps_start``, or for costs from
    points at the smaller of it and :func:`_nearest_scale`; the last runs at
    ``eps_final``. Running out of ``max_bids`` leaves persons unassigned (sigma_i = -1).
    """
    n = geometry[1].shape[0] if geometry[4] != MATRIX else geometry[3].shape[0]
    tree, order, geometry = _objects_in_tree_order(geometry)
    state = _initial_state(tree, n, n_candidates)
    eps = eps_start
    if geometry[4] != MATRIX:  # costs >= 0 that vanish at coincident points; a custom
        eps = min(eps, _nearest_scale(geometry, state))  # matrix may be shifted
    eps = max(eps, eps_final)
    bids = 0
    phases = 0
    while True:
        _release_violators(geometry, state, eps)
        bids += _auction_phase(geometry, state, eps, max_bids - bids)
        phases += 1
        if eps <= eps_final or bids >= max_bids:
            break
        eps = max(eps / factor, eps_final)
    # Back to the callers' numbering, in loops (np.where and fancy indexing took a
    # tenth of this function's compile time).
    sigma, prices = np.empty(n, np.int64), np.empty(n)
    complete = True
    for i in range(n):
        j = state[1][i]
        sigma[i] = order[j] if j >= 0 else -1
        complete = complete and j >= 0
        prices[order[i]] = state[0][i]
    gap, dual = np.nan, np.nan
    if complete:
        gap, dual = _certified_gap(geometry, state)
    return sigma, prices, gap, dual, bids, phases, state[6][-1]


def check_certificate(C: np.ndarray, sigma: np.ndarray, prices: np.ndarray) -> dict[str, float]:
    """Verifies an auction's output with numpy, independently of the compiled code.

    Returns the primal cost, the dual value of the potentials f_i = min_j C_ij + p_j,
    g_j = -p_j, the gap primal - dual, and the largest violation of dual feasibility
    max_ij f_i + g_j - C_ij (<= 0 up to rounding by construction). Used by the tests.
    """
    n = C.shape[0]
    if sorted(np.asarray(sigma).tolist()) != list(range(n)):
        raise ValueError("[brenier] `sigma` is not a permutation of range(N).")
    f = (C + prices[None, :]).min(axis=1)
    g = -prices
    primal = float(C[np.arange(n), sigma].sum())
    dual = float(f.sum() + g.sum())
    violation = float((f[:, None] + g[None, :] - C).max())
    return {"primal": primal, "dual": dual, "gap": primal - dual, "violation": violation}
