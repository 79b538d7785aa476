"""Pre-alignment: rigid, similarity and affine maps fitted to robust-OT matchings.

Each iteration solves robust OT between the moved source and the target, then fits the
map in closed form to the barycentric targets, weighted by the transported fraction
(:mod:`._matching`): weighted Procrustes (Umeyama, 1991) for rigid and similarity maps,
weighted least squares for affine ones. The blur decreases along the iterations,
coarse matching first. Large rotations are found by a multi-start over the 24
rotations of the cube, each refined briefly and scored by its OT cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ._matching import batch_costs, robust_matching
from ._transforms import AffineTransform

KINDS = ("rigid", "similarity", "affine")
#: Marginal tolerance of the pre-alignment solves: the fits need the barycentric
#: projection to about 1%, not the potentials to 1e-3.
TOL = 1e-2
#: Iterations after the first start their eps-scaling at this many blurs (or reaches).
WARM_START = 4.0


def _centred(x: Tensor, y: Tensor, w: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    w = w / w.sum()
    mx, my = w @ x, w @ y
    return x - mx, y - my, mx, my, w


def fit_similarity(x: Tensor, y: Tensor, w: Tensor, *, scale: bool = False) -> AffineTransform:
    """The rotation R (and scale s) and translation t minimising sum_i w_i |s R x_i + t - y_i|^2.

    Weighted Umeyama: with the weighted means removed and
    :math:`\\Sigma = \\sum_i w_i\\, y_i x_i^\\top = U S V^\\top`,
    :math:`R = U\\, \\mathrm{diag}(1, 1, \\det UV^\\top)\\, V^\\top`,
    :math:`s = \\mathrm{tr}(S D) / \\sum_i w_i |x_i|^2`.

    Example:
        >>> import torch
        >>> x = torch.randn(50, 3, dtype=torch.float64)
        >>> R = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
        >>> R = R * torch.linalg.det(R)  # a proper rotation
        >>> fit = fit_similarity(x, 2 * x @ R.T + 1, torch.ones(50), scale=True)
        >>> torch.allclose(fit.matrix, 2 * R)
        True
        >>> torch.allclose(fit.translation, torch.ones(3).double())
        True
    """
    xc, yc, mx, my, w = _centred(x, y, w.to(x))
    cov = (w[:, None] * yc).T @ xc
    U, S, Vh = torch.linalg.svd(cov)
    d = torch.ones(x.shape[1], dtype=x.dtype)
    d[-1] = torch.sign(torch.linalg.det(U @ Vh))
    R = U @ torch.diag(d) @ Vh
    s = float((S * d).sum() / (w @ (xc**2).sum(1))) if scale else 1.0
    return AffineTransform(s * R, my - s * (R @ mx))


def fit_affine(x: Tensor, y: Tensor, w: Tensor) -> AffineTransform:
    """The A and t minimising sum_i w_i |A x_i + t - y_i|^2 (weighted least squares).

    :math:`A = \\big(\\sum_i w_i y_i x_i^\\top\\big)\\big(\\sum_i w_i x_i x_i^\\top\\big)^{-1}`
    on centred points, with a tiny ridge that keeps flat clouds solvable.

    Example:
        >>> import torch
        >>> x = torch.randn(40, 3, dtype=torch.float64)
        >>> A = torch.tensor([[1.2, 0.1, 0], [0, 0.9, 0.2], [0.1, 0, 1.1]], dtype=torch.float64)
        >>> fit = fit_affine(x, x @ A.T - 3, torch.ones(40))
        >>> torch.allclose(fit.matrix, A)
        True
        >>> torch.allclose(fit.translation, -3 * torch.ones(3).double())
        True
    """
    xc, yc, mx, my, w = _centred(x, y, w.to(x))
    xx = (w[:, None] * xc).T @ xc
    yx = (w[:, None] * yc).T @ xc
    ridge = 1e-12 * float(torch.trace(xx)) * torch.eye(x.shape[1], dtype=x.dtype)
    A = torch.linalg.solve(xx + ridge, yx.T).T
    return AffineTransform(A, my - A @ mx)


def fit(kind: str, x: Tensor, y: Tensor, w: Tensor) -> AffineTransform:
    """Dispatches to the closed form of ``kind`` (one of :data:`KINDS`)."""
    if kind == "affine":
        return fit_affine(x, y, w)
    return fit_similarity(x, y, w, scale=kind == "similarity")


def blur_schedule(start: float, stop: float, n: int) -> list[float]:
    """``n`` blurs decreasing geometrically from ``start`` to ``stop``."""
    if n == 1:
        return [stop]
    return [float(v) for v in np.geomspace(start, stop, n)]


def align(
    kind: str,
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    init: AffineTransform,
    *,
    blurs: Sequence[float],
    reach: float | None,
    tol: float | None = None,
    polish: int = 0,
    stop: float = 1e-4,
) -> tuple[AffineTransform, float]:
    """Iterated closed-form fits to robust-OT matchings; returns the map and last OT cost.

    The reach follows the blur (at least 3 blurs) so that coarse iterations, when the
    shapes may still be far apart, transport everything, and fine ones discard outliers.
    Up to ``polish`` more iterations at the last blur follow, until the points move
    less than ``stop`` (the fixed point of "fit to the projection" is approached
    geometrically, at a rate set by the blur's shrinkage).

    Every solve after the first starts its eps-scaling at :data:`WARM_START` times the
    blur or the reach instead of the clouds' diameter: the previous iteration has
    matched the shapes at that scale already, so the annealing from the full size is
    wasted work (the fixed point, hence the projection, is the same up to ``tol``).
    """
    fitted, costs = align_batch(
        kind, x, y, a, b, [init], blurs=blurs, reach=reach, tol=tol, polish=polish, stop=stop
    )
    return fitted[0], costs[0]


def align_batch(
    kind: str,
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    inits: Sequence[AffineTransform],
    *,
    blurs: Sequence[float],
    reach: float | None,
    tol: float | None = None,
    polish: int = 0,
    stop: float = 1e-4,
) -> tuple[list[AffineTransform], list[float]]:
    """:func:`align` from several starts at once: one batched solve per iteration.

    Returns the fitted map and the last OT cost of each start.
    """
    tol = TOL if tol is None else tol
    transforms, costs = list(inits), [float("nan")] * len(inits)
    schedule = list(blurs) + [blurs[-1]] * polish
    batched = len(inits) > 1
    for k, blur in enumerate(schedule):
        r = None if reach is None else max(reach, 3 * blur)
        before = [t.apply(x) for t in transforms]
        if batched:
            n = len(before)
            m, costs = batch_costs(
                torch.stack(before), y.expand(n, *y.shape), a.expand(n, -1), b.expand(n, -1),
                blur=blur, reach=r, tol=tol,
            )  # fmt: skip
            targets, confidence = m.targets, m.confidence
        else:
            warm = None if k == 0 else WARM_START * max(blur, r or 0.0)
            m = robust_matching(
                before[0], y, a, b, blur=blur, reach=r, tol=tol, diameter=warm
            )  # fmt: skip
            targets, confidence, costs = m.targets[None], m.confidence[None], [m.cost]
        # c^2: points half-transported (at the edge of a missing part) pull less; with c
        # the affine fit of the 20%-missing test was 3.2% of the size off, with c^2 1.6-3%.
        transforms = [
            fit(kind, x, targets[i], a * confidence[i] ** 2) for i in range(len(transforms))
        ]
        pairs = zip(transforms, before, strict=True)
        shift = max(float((t.apply(x) - p).norm(dim=1).max()) for t, p in pairs)
        if k >= len(blurs) and shift < stop:
            break
    return transforms, costs


def cube_rotations(dtype: torch.dtype = torch.float64) -> list[Tensor]:
    """The 24 rotations of the cube (signed permutation matrices of determinant 1).

    Every rotation lies within 62.8 degrees of one of them, inside the basin of the
    OT-driven rigid fit.
    """
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            R = torch.zeros(3, 3, dtype=dtype)
            R[range(3), perm] = torch.tensor(signs, dtype=dtype)
            if torch.linalg.det(R) > 0:
                out.append(R)
    return out


def multistart(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    init: AffineTransform,
    *,
    blurs: Sequence[float],
    reach: float | None,
    keep: int = 3,
) -> AffineTransform:
    """The best rigid map over starts at the 24 cube rotations about the source's centre.

    Every start takes one fit at the first blur and is scored by its OT cost; the
    ``keep`` best are refined over all ``blurs`` and the lowest final cost wins. The
    starts are solved together, as one batch of OT problems per iteration.
    """
    centre = init.apply(((a / a.sum()) @ x)[None])[0]
    starts = [
        AffineTransform(R, centre - R @ centre).compose(init) for R in cube_rotations(x.dtype)
    ]
    fitted, costs = align_batch("rigid", x, y, a, b, starts, blurs=blurs[:1], reach=reach)
    best = sorted(range(len(starts)), key=costs.__getitem__)[:keep]
    refined, costs = align_batch(
        "rigid", x, y, a, b, [fitted[i] for i in best], blurs=blurs[1:], reach=reach
    )
    return refined[min(range(len(refined)), key=costs.__getitem__)]
