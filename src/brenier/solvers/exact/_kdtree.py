"""A k-d tree over the auction's objects that finds the K + 1 smallest reduced values.

The auction's full scan asks, for person i, for the K + 1 smallest values of
C_ij + p_j over all objects j, where C_ij = |x_i - y_j|^2 / 2 (or |x_i - y_j|) and the
prices p change after every bid. Each node of the tree stores the bounding box of its
objects and a lower bound m_node <= min_{j in node} p_j, so that

.. math::

    \\min_{j \\in node} C_ij + p_j \\ge C(x_i, box) + m_{node},

with C(x_i, box) the cost from x_i to the nearest point of the box. A depth-first search
skips every node whose bound is already >= the (K + 1)-th smallest value found so far.
The bound is computed with the same float64 operations as the costs, on coordinate
differences that are no larger, and rounding is monotone: the skipped objects' computed
values are >= the bound, so the search returns exactly what a linear scan returns.

Prices only increase, so a stale m_node stays a valid lower bound; it is refreshed on the
path from the bid-on object's leaf to the root to keep the pruning sharp.

``tree`` is the tuple (lo, hi, start, stop, left, right, parent, min_price, order, leaf_of)
with the objects of node k at ``order[start[k]:stop[k]]`` and ``left[k] = -1`` at leaves.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Most objects per leaf (leaves hold 4 to 8); times at N = 5,000 barely change from 4
#: to 32.
LEAF_SIZE = 8


@njit(cache=True)
def build_tree(Y: np.ndarray, leaf_size: int = LEAF_SIZE):
    """Median splits along the widest side of the box, down to ``leaf_size`` objects.

    Written with loops, not fancy indexing: numba compiles an indexed assignment with
    its shape checks and their error messages, which tripled this function's compile
    time (and the auction's first call on a fresh install).
    """
    n, D = Y.shape
    capacity = 2 * (n // max(leaf_size // 2, 1)) + 2
    lo, hi = np.empty((capacity, D)), np.empty((capacity, D))
    start, stop = np.zeros(capacity, np.int64), np.zeros(capacity, np.int64)
    left, right = -np.ones(capacity, np.int64), -np.ones(capacity, np.int64)
    parent = -np.ones(capacity, np.int64)
    order = np.arange(n)
    keys = np.empty(n)
    stop[0] = n
    count = 1
    for k in range(capacity):  # nodes are created in breadth-first order
        if k >= count:
            break
        a, b = start[k], stop[k]
        widest, width = 0, -1.0
        for d in range(D):
            low, high = np.inf, -np.inf
            for t in range(a, b):
                low = min(low, Y[order[t], d])
                high = max(high, Y[order[t], d])
            lo[k, d], hi[k, d] = low, high
            if high - low > width:  # the first widest side, as np.argmax
                widest, width = d, high - low
        if b - a <= leaf_size:
            continue
        for t in range(a, b):
            keys[t - a] = Y[order[t], widest]
        ranks = np.argsort(keys[: b - a], kind="mergesort")  # stable: ties keep the order
        objects = order[a:b].copy()
        for t in range(b - a):
            order[a + t] = objects[ranks[t]]
        middle = a + (b - a) // 2
        for child, first, last in ((count, a, middle), (count + 1, middle, b)):
            start[child], stop[child], parent[child] = first, last, k
        left[k], right[k] = count, count + 1
        count += 2
    leaf_of = np.empty(n, np.int64)
    for k in range(count):
        if left[k] < 0:
            for t in range(start[k], stop[k]):
                leaf_of[order[t]] = k
    min_price = np.zeros(count)  # the auction starts from zero prices
    boxes = (lo[:count], hi[:count])
    links = (start[:count], stop[:count], left[:count], right[:count], parent[:count])
    return (*boxes, *links, min_price, order, leaf_of)


@njit(cache=True)
def renumbered(tree):
    """The tree with object ``order[t]`` renamed t (so ``order`` becomes the identity),
    and the old ``order``: the objects of a node are then the range start:stop."""
    lo, hi, start, stop, left, right, parent, min_price, order, leaf_of = tree
    new = (lo, hi, start, stop, left, right, parent, min_price, np.arange(order.shape[0]))
    leaf_of_new = np.empty_like(leaf_of)
    for t in range(order.shape[0]):
        leaf_of_new[t] = leaf_of[order[t]]
    return (*new, leaf_of_new), order


@njit(cache=True, inline="always")
def raise_price(tree, prices: np.ndarray, j: int) -> None:
    """Refreshes the lower bounds m_node after p_j went up (from j's leaf to the root)."""
    _, _, start, stop, left, right, parent, min_price, order, leaf_of = tree
    k = leaf_of[j]
    m = np.inf
    for t in range(start[k], stop[k]):
        m = min(m, prices[order[t]])
    while True:
        if m <= min_price[k]:  # unchanged: the ancestors' bounds are unchanged too
            return
        min_price[k] = m
        k = parent[k]
        if k < 0:
            return
        m = min(min_price[left[k]], min_price[right[k]])


@njit(cache=True)
def _box_cost(lo, hi, k, x, euclidean: bool) -> float:
    """C(x, box k): the cost from x to the nearest point of the box, rounded like C_ij."""
    s = 0.0
    for d in range(x.shape[0]):
        if x[d] < lo[k, d]:
            e = x[d] - lo[k, d]
        elif x[d] > hi[k, d]:
            e = x[d] - hi[k, d]
        else:
            e = 0.0
        s += e * e
    return np.sqrt(s) if euclidean else 0.5 * s


@njit(cache=True)
def push_heap(heap_v, heap_j, v, j) -> None:
    """Replaces the root of the max-heap (heap_v, heap_j) by (v, j) and sifts it down."""
    size = heap_v.shape[0]
    m = 0
    while True:
        child = 2 * m + 1
        if child >= size:
            break
        if child + 1 < size and heap_v[child + 1] > heap_v[child]:
            child += 1
        if heap_v[child] <= v:
            break
        heap_v[m] = heap_v[child]
        heap_j[m] = heap_j[child]
        m = child
    heap_v[m] = v
    heap_j[m] = j


@njit(cache=True)
def smallest_reduced(tree, x, Y, prices, euclidean, heap_v, heap_j, stack, bounds) -> None:
    """The len(heap_v) smallest C(x, y_j) + p_j, as a max-heap (root: the largest of them).

    ``stack`` and ``bounds`` are scratch arrays of length >= 2 * depth + 2.
    """
    lo, hi, start, stop, left, right, _, min_price, order, _ = tree
    heap_v[:] = np.inf
    heap_j[:] = 0
    stack[0], bounds[0], size = 0, 0.0, 1
    while size > 0:
        size -= 1
        k = stack[size]
        if bounds[size] >= heap_v[0]:
            continue
        if left[k] < 0:
            for t in range(start[k], stop[k]):
                j = order[t]
                s = 0.0  # the same operations, in the same order, as _auction._cost
                for d in range(x.shape[0]):
                    e = x[d] - Y[j, d]
                    s += e * e
                v = (np.sqrt(s) if euclidean else 0.5 * s) + prices[j]
                if v < heap_v[0]:
                    push_heap(heap_v, heap_j, v, j)
            continue
        a, b = left[k], right[k]
        bound_a = _box_cost(lo, hi, a, x, euclidean) + min_price[a]
        bound_b = _box_cost(lo, hi, b, x, euclidean) + min_price[b]
        if bound_a < bound_b:  # the nearer child is pushed last and searched first
            a, b, bound_a, bound_b = b, a, bound_b, bound_a
        for child, bound in ((a, bound_a), (b, bound_b)):
            if bound < heap_v[0]:
                stack[size], bounds[size] = child, bound
                size += 1
