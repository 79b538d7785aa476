"""Registration metrics: target registration error and chamfer distance."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..._validation import PREFIX


def target_registration_error(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Statistics of the distances |predicted_k - truth_k| between landmark positions.

    Returns:
        ``mean``, ``std``, ``p25``, ``p50``, ``p75``, ``p95`` and ``max``, in the
        points' unit.

    Example:
        >>> import numpy as np
        >>> tre = target_registration_error(np.zeros((4, 3)), np.eye(4, 3))
        >>> tre["mean"], tre["p50"]
        (0.75, 1.0)
    """
    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    if predicted.shape != truth.shape or predicted.ndim != 2:
        raise ValueError(
            f"{PREFIX} predicted and true landmarks must have the same shape (K, D), got "
            f"{predicted.shape} and {truth.shape}."
        )
    d = np.linalg.norm(predicted - truth, axis=1)
    q = np.percentile(d, [25, 50, 75, 95])
    return {
        "mean": float(d.mean()), "std": float(d.std()), "p25": float(q[0]),
        "p50": float(q[1]), "p75": float(q[2]), "p95": float(q[3]), "max": float(d.max()),
    }  # fmt: skip


def chamfer(x: np.ndarray, y: np.ndarray) -> float:
    """Symmetric chamfer distance: the mean nearest-neighbour distance, both ways, halved.

    .. math:: \\tfrac12\\big(\\operatorname{mean}_i \\min_j |x_i - y_j|
              + \\operatorname{mean}_j \\min_i |x_i - y_j|\\big)

    Example:
        >>> import numpy as np
        >>> chamfer(np.zeros((1, 3)), np.array([[0.0, 0, 1], [0, 0, 3]]))
        1.5
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    there = cKDTree(y).query(x)[0].mean()
    back = cKDTree(x).query(y)[0].mean()
    return float(0.5 * (there + back))
