"""Benchmark data with exact OT references, from the bundled scans."""

from __future__ import annotations

import numpy as np

from brenier.io import load_example, normalize, sample_surface


def convex_gradient_pair(
    n: int, seed: int = 0, name: str = "nefertiti"
) -> tuple[np.ndarray, np.ndarray, float]:
    """Two close 3D shapes whose exact OT cost is known at any size.

    x samples a real scan (unit size); y_i = grad phi(x_i) for the strictly convex
    phi(x) = |x|^2/2 + 0.02 sum_k log cosh(4 x_k) + 0.05 x_0 x_1 ... kept convex
    (Hessian = I + diag(0.32 sech^2) + 0.05 (E01 + E10), positive definite). Gradients
    of convex functions are cyclically monotone, so the identity matching is optimal:
    the exact cost is mean |x_i - y_i|^2 / 2. y is shuffled before it is returned.
    """
    vertices, faces = load_example(name)
    x = sample_surface(normalize(vertices), faces, n, seed=seed)
    y = x + 0.08 * np.tanh(4 * x)
    y[:, 0] += 0.05 * x[:, 1]
    y[:, 1] += 0.05 * x[:, 0]
    exact = float(((x - y) ** 2).sum(1).mean() / 2)
    rng = np.random.default_rng(seed + 1)
    return x, y[rng.permutation(n)], exact
