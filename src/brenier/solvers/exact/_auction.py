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

MATRIX, HALF_SQUARED, EUCLIDEAN = 0, 1, 2

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


@njit(cache=True)
def _cost(geometry, i: int, j: int) -> float:
    """C_ij, bit-identical to the entries of :func:`_reduced_row` minus the price."""
    X, Y, _, C, kind = geometry
    if kind == MATRIX:
        return C[i, j]
    s = 0.0
    for k in range(X.shape[1]):
        d = X[i, k] - Y[j, k]
        s += d * d
    return 0.5 * s if kind == HALF_SQUARED else np.sqrt(s)


@njit(cache=True)
def _squared_distances_row(X, YT, i, out) -> None:
    """out_j = |x_i - y_j|^2, summed over k in order like :func:`_cost` (bit-identical);
    D = 2 and 3 are unrolled into one pass that vectorises."""
    n, D = out.shape[0], X.shape[1]
    if D == 3:
        x0, x1, x2 = X[i, 0], X[i, 1], X[i, 2]
        for j in range(n):
            d0, d1, d2 = x0 - YT[0, j], x1 - YT[1, j], x2 - YT[2, j]
            out[j] = d0 * d0 + d1 * d1 + d2 * d2
    elif D == 2:
        x0, x1 = X[i, 0], X[i, 1]
        for j in range(n):
            d0, d1 = x0 - YT[0, j], x1 - YT[1, j]
            out[j] = d0 * d0 + d1 * d1
    else:
        out[:] = 0.0
        for k in range(D):
            xk = X[i, k]
            for j in range(n):
                d = xk - YT[k, j]
                out[j] += d * d


@njit(cache=True)
def _reduced_row(geometry, i: int, prices: np.ndarray, out: np.ndarray) -> None:
    """out_j = C_ij + p_j for all j, in loops that vectorise."""
    X, _, YT, C, kind = geometry
    n = prices.shape[0]
    if kind == MATRIX:
        for j in range(n):
            out[j] = C[i, j] + prices[j]
        return
    _squared_distances_row(X, YT, i, out)
    if kind == HALF_SQUARED:
        for j in range(n):
            out[j] = 0.5 * out[j] + prices[j]
    else:
        for j in range(n):
            out[j] = np.sqrt(out[j]) + prices[j]


@njit(cache=True)
def _full_scan(geometry, i, prices, candidates, thresholds, row, top_v, top_j):
    """Rebuilds person i's candidate list; returns (best object, best, second best)."""
    _reduced_row(geometry, i, prices, row)
    K = candidates.shape[1]
    top_v[:] = np.inf
    cut = np.inf  # the (K + 1)-th smallest so far, kept in a register
    for j in range(row.shape[0]):
        v = row[j]
        if v < cut:  # insertion into the sorted K + 1 smallest
            m = K
            while m > 0 and top_v[m - 1] > v:
                top_v[m] = top_v[m - 1]
                top_j[m] = top_j[m - 1]
                m -= 1
            top_v[m] = v
            top_j[m] = j
            cut = top_v[K]
    candidates[i, :] = top_j[:K]
    thresholds[i] = top_v[K]
    top_j[K + 1] += 1  # the slot after the K + 1 smallest counts the full scans
    return top_j[0], top_v[0], top_v[1]


@njit(cache=True)
def _best_two(geometry, i, prices, candidates, thresholds, row, top_v, top_j):
    """Step 1: best object of person i, its value min_j C_ij + p_j, second-best value.

    Exact: the list's two best are the global ones when both are <= the threshold.
    """
    best = np.inf
    second = np.inf
    best_j = -1
    for m in range(candidates.shape[1]):
        j = candidates[i, m]
        v = _cost(geometry, i, j) + prices[j]
        if v < second:
            if v < best:
                second = best
                best = v
                best_j = j
            else:
                second = v
    if second <= thresholds[i]:
        return best_j, best, second
    return _full_scan(geometry, i, prices, candidates, thresholds, row, top_v, top_j)


@njit(cache=True)
def _auction_phase(geometry, state, eps, max_bids) -> int:
    """Gauss-Seidel bidding (steps 1-2) until everybody is assigned; returns the bids."""
    prices, person_to_object, object_to_person, candidates, thresholds, row, tv, tj = state
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
        j, best, second = _best_two(geometry, i, prices, candidates, thresholds, row, tv, tj)
        prices[j] += second - best + eps
        evicted = object_to_person[j]
        if evicted >= 0:
            person_to_object[evicted] = -1
            queue[(head + size) % n] = evicted
            size += 1
        object_to_person[j] = i
        person_to_object[i] = j
        bids += 1
    return bids


@njit(cache=True)
def _release_violators(geometry, state, eps) -> None:
    """Step 3: unassign the persons that are not within eps of their best object."""
    prices, person_to_object, object_to_person, candidates, thresholds, row, tv, tj = state
    for i in range(prices.shape[0]):
        j = person_to_object[i]
        if j < 0:
            continue
        _, best, _ = _best_two(geometry, i, prices, candidates, thresholds, row, tv, tj)
        if _cost(geometry, i, j) + prices[j] > best + eps:
            person_to_object[i] = -1
            object_to_person[j] = -1


@njit(cache=True)
def _initial_state(n: int, n_candidates: int):
    K = max(1, min(n_candidates, n - 1))
    return (
        np.zeros(n),  # prices
        -np.ones(n, dtype=np.int64),  # person -> object
        -np.ones(n, dtype=np.int64),  # object -> person
        np.zeros((n, K), dtype=np.int64),  # candidate lists
        np.full(n, -np.inf),  # thresholds: -inf forces a first full scan
        np.empty(n),  # scratch row
        np.empty(K + 1),  # scratch K + 1 smallest values
        np.zeros(K + 2, dtype=np.int64),  # and their objects, then the full-scan count
    )


@njit(cache=True)
def _certified_gap(geometry, state):
    """Certified bound on ``sum_i C_{i sigma(i)} - OPT`` from the prices, and the dual value.

    f_i = min_j C_ij + p_j comes from the candidate lists (exact: prices only increase).
    The gap is summed term by term (no cancellation between two large totals) and a
    rounding allowance of 8 N ulps of the largest magnitude involved is added, so that
    the bound holds for the exact real-number gap of the float64 costs.
    """
    prices, sigma, _, candidates, thresholds, row, tv, tj = state
    n = prices.shape[0]
    gap = 0.0
    dual = 0.0
    scale = 0.0
    for i in range(n):
        _, best, _ = _best_two(geometry, i, prices, candidates, thresholds, row, tv, tj)
        j = sigma[i]
        c = _cost(geometry, i, j)
        gap += max(c + prices[j] - best, 0.0)
        dual += best - prices[i]
        scale = max(scale, abs(c) + abs(prices[j]), abs(best))
    return gap + 8.0 * n * _ULP * scale, dual


@njit(cache=True)
def auction(geometry, eps_start, eps_final, factor, max_bids, n_candidates=16):
    """Forward auction with eps-scaling (N >= 2 persons and objects).

    Returns the assignment sigma (N,), the prices (N,), the certified gap and the dual
    value (see :func:`_certified_gap`; NaN if unfinished), and the numbers of bids, of
    phases and of full scans. The last phase runs at ``eps_final``; running out of
    ``max_bids`` leaves persons unassigned (sigma_i = -1).
    """
    n = geometry[1].shape[0] if geometry[4] != MATRIX else geometry[3].shape[0]
    state = _initial_state(n, n_candidates)
    eps = max(eps_start, eps_final)
    bids = 0
    phases = 0
    while True:
        _release_violators(geometry, state, eps)
        bids += _auction_phase(geometry, state, eps, max_bids - bids)
        phases += 1
        if eps <= eps_final or bids >= max_bids:
            break
        eps = max(eps / factor, eps_final)
    gap, dual = np.nan, np.nan
    if state[1].min() >= 0:
        gap, dual = _certified_gap(geometry, state)
    return state[1], state[0], gap, dual, bids, phases, state[7][-1]


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
