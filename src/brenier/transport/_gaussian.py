"""Closed forms between Gaussians: the Bures-Wasserstein distance and the affine OT map.

For :math:`\\mu = \\mathcal N(m_0, \\Sigma_0)` and :math:`\\nu = \\mathcal N(m_1, \\Sigma_1)`,

.. math::

    W_2^2(\\mu, \\nu) = |m_0 - m_1|^2
        + \\operatorname{tr}\\big(\\Sigma_0 + \\Sigma_1
        - 2 (\\Sigma_0^{1/2} \\Sigma_1 \\Sigma_0^{1/2})^{1/2}\\big),

and, when :math:`\\Sigma_0` is invertible, the optimal (Brenier) map is affine,
:math:`T(x) = m_1 + A (x - m_0)` with the symmetric positive matrix

.. math::

    A = \\Sigma_0^{-1/2} (\\Sigma_0^{1/2} \\Sigma_1 \\Sigma_0^{1/2})^{1/2} \\Sigma_0^{-1/2}.

The library's cost is :math:`|x - y|^2/2`, so :func:`bures_wasserstein` returns
:math:`W_2^2/2`, the value :func:`brenier.solve` approaches as blur -> 0 (POT's
``ot.gaussian.bures_wasserstein_distance`` returns :math:`W_2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import PREFIX, check_points, check_weights


def _sym_sqrt(S: Tensor, inverse: bool = False) -> Tensor:
    """Square root (or inverse square root) of symmetric PSD matrices, (..., D, D)."""
    vals, vecs = torch.linalg.eigh((S + S.transpose(-1, -2)) / 2)
    vals = vals.clamp_min(0)
    if inverse:
        tiny = torch.finfo(S.dtype).eps * vals.amax(-1, keepdim=True).clamp_min(1e-300)
        if bool((vals <= tiny).any()):
            raise ValueError(
                f"{PREFIX} the source covariance is singular (smallest eigenvalue "
                f"{float(vals.min()):.3g}); the affine OT map needs an invertible one. Add a "
                "small multiple of the identity, e.g. `cov + 1e-6 * torch.eye(D)`."
            )
        vals = vals.rsqrt()
    else:
        vals = vals.sqrt()
    return (vecs * vals.unsqueeze(-2)) @ vecs.transpose(-1, -2)


def _check_gaussian(name: str, mean: object, cov: object) -> tuple[Tensor, Tensor]:
    checked: list[Tensor] = []
    for label, t in ((f"mean_{name}", mean), (f"cov_{name}", cov)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(
                f"{PREFIX} `{label}` must be a floating torch.Tensor, got "
                f"{getattr(t, 'dtype', type(t).__name__)}."
            )
        checked.append(t)
    m, S = checked
    if m.dim() < 1 or S.shape != (*m.shape, m.shape[-1]):
        raise ValueError(
            f"{PREFIX} `mean_{name}` has shape {tuple(m.shape)} and `cov_{name}` "
            f"{tuple(S.shape)}: expected (D,) and (D, D), or batched (B, D) and (B, D, D)."
        )
    for label, t in ((f"mean_{name}", m), (f"cov_{name}", S)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{PREFIX} `{label}` contains NaN or infinite values.")
    if not bool(torch.allclose(S, S.transpose(-1, -2), rtol=1e-5, atol=1e-8)):
        raise ValueError(f"{PREFIX} `cov_{name}` is not symmetric; pass (S + S.T) / 2.")
    # A covariance is positive semi-definite; the square roots below would clamp a
    # negative eigenvalue to 0 and return a wrong cost without a word (issue 14 fuzzing).
    eigenvalues = torch.linalg.eigvalsh(S)
    size = eigenvalues.abs().amax(-1).clamp(min=torch.finfo(S.dtype).tiny)
    lowest = eigenvalues[..., 0] / size
    if bool((lowest < -1e3 * torch.finfo(S.dtype).eps).any()):
        raise ValueError(
            f"{PREFIX} `cov_{name}` is not positive semi-definite (smallest eigenvalue "
            f"{float(eigenvalues[..., 0].min()):.3g}); pass a covariance matrix, e.g. "
            "`gaussian_fit(points)` or `A @ A.T`."
        )
    return m, S


def bures_wasserstein(mean_x: Tensor, cov_x: Tensor, mean_y: Tensor, cov_y: Tensor) -> Tensor:
    """OT cost between two Gaussians, in the library's convention :math:`|x-y|^2/2`.

    .. math::

        \\tfrac12 W_2^2 = \\tfrac12 |m_x - m_y|^2 + \\tfrac12 \\operatorname{tr}\\big(\\Sigma_x
            + \\Sigma_y - 2 (\\Sigma_x^{1/2} \\Sigma_y \\Sigma_x^{1/2})^{1/2}\\big)

    Args:
        mean_x, cov_x: mean and covariance (symmetric PSD) of the source Gaussian.
        mean_y, cov_y: mean and covariance of the target Gaussian.

    Returns:
        :math:`W_2^2 / 2` (twice it, square-rooted, is POT's ``bures_wasserstein_distance``).

    Shapes:
        means (D,), covariances (D, D) -> (); batched (B, D), (B, D, D) -> (B,).

    Example:
        >>> import torch
        >>> from brenier.transport import bures_wasserstein
        >>> I = torch.eye(2, dtype=torch.float64)
        >>> float(bures_wasserstein(torch.zeros(2, dtype=torch.float64), I,
        ...                         torch.ones(2, dtype=torch.float64), 4 * I))
        2.0
    """
    mean_x, cov_x = _check_gaussian("x", mean_x, cov_x)
    mean_y, cov_y = _check_gaussian("y", mean_y, cov_y)
    root_x = _sym_sqrt(cov_x)
    cross = _sym_sqrt(root_x @ cov_y @ root_x)
    trace = (cov_x + cov_y - 2 * cross).diagonal(dim1=-2, dim2=-1).sum(-1)
    return (((mean_x - mean_y) ** 2).sum(-1) + trace.clamp_min(0)) / 2


@dataclass(frozen=True)
class AffineMap:
    """The map :math:`T(x) = m_y + A (x - m_x)`.

    Attributes:
        matrix: A, symmetric positive semi-definite, (D, D) or (B, D, D).
        mean_x: the source mean m_x, (D,) or (B, D).
        mean_y: the target mean m_y, (D,) or (B, D).
    """

    matrix: Tensor
    mean_x: Tensor
    mean_y: Tensor

    def __call__(self, points: Tensor) -> Tensor:
        """T(points) for points (N, D), or (B, N, D) with a batched map."""
        return (points - self.mean_x.unsqueeze(-2)) @ self.matrix.transpose(
            -1, -2
        ) + self.mean_y.unsqueeze(-2)

    @property
    def offset(self) -> Tensor:
        """The translation t of :math:`T(x) = A x + t`."""
        return self.mean_y - (self.matrix @ self.mean_x.unsqueeze(-1)).squeeze(-1)


def gaussian_map(mean_x: Tensor, cov_x: Tensor, mean_y: Tensor, cov_y: Tensor) -> AffineMap:
    """The optimal (Brenier) map between two Gaussians, an affine map.

    .. math::

        T(x) = m_y + A (x - m_x), \\qquad
        A = \\Sigma_x^{-1/2} (\\Sigma_x^{1/2} \\Sigma_y \\Sigma_x^{1/2})^{1/2} \\Sigma_x^{-1/2}

    A is symmetric positive definite: T is the gradient of the convex function
    :math:`\\tfrac12 (x - m_x)^\\top A (x - m_x) + m_y^\\top x`.

    Args:
        mean_x, cov_x: source Gaussian; ``cov_x`` must be invertible.
        mean_y, cov_y: target Gaussian.

    Returns:
        An :class:`AffineMap`, callable on points.

    Shapes:
        means (D,) and covariances (D, D), or batched (B, D) and (B, D, D).

    Example:
        >>> import torch
        >>> from brenier.transport import gaussian_map
        >>> I = torch.eye(2, dtype=torch.float64)
        >>> T = gaussian_map(torch.zeros(2, dtype=torch.float64), I,
        ...                  torch.ones(2, dtype=torch.float64), 4 * I)
        >>> T(torch.tensor([[1.0, 0.0]], dtype=torch.float64)).tolist()
        [[3.0, 1.0]]
    """
    mean_x, cov_x = _check_gaussian("x", mean_x, cov_x)
    mean_y, cov_y = _check_gaussian("y", mean_y, cov_y)
    root_x, inv_root_x = _sym_sqrt(cov_x), _sym_sqrt(cov_x, inverse=True)
    A = inv_root_x @ _sym_sqrt(root_x @ cov_y @ root_x) @ inv_root_x
    return AffineMap((A + A.transpose(-1, -2)) / 2, mean_x, mean_y)


def gaussian_fit(points: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Weighted mean and covariance of a point cloud (the moments of its Gaussian fit).

    .. math::

        m = \\frac{\\sum_i a_i x_i}{\\sum_i a_i}, \\qquad
        \\Sigma = \\frac{\\sum_i a_i (x_i - m)(x_i - m)^\\top}{\\sum_i a_i}

    (the population covariance of the weighted measure, not the unbiased estimator).

    Args:
        points: the cloud.
        weights: non-negative weights; default uniform.

    Returns:
        (mean, covariance).

    Shapes:
        points (N, D), weights (N,) -> (D,), (D, D); batched (B, N, D) -> (B, D), (B, D, D).

    Example:
        >>> import torch
        >>> from brenier.transport import gaussian_fit
        >>> m, S = gaussian_fit(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
        >>> m.tolist(), S.tolist()
        ([1.0, 0.0], [[1.0, 0.0], [0.0, 0.0]])
    """
    x = check_points("points", points)
    w = check_weights("weights", weights, x, "points")
    w = w / w.sum(-1, keepdim=True)
    mean = (w.unsqueeze(-1) * x).sum(-2)
    centred = x - mean.unsqueeze(-2)
    cov = (centred * w.unsqueeze(-1)).transpose(-1, -2) @ centred
    cov = (cov + cov.transpose(-1, -2)) / 2
    if points.dim() == 2:
        return mean[0], cov[0]
    return mean, cov
