"""Exact optimal transport on the line, by sorting; sliced OT built on it.

On the real line the monotone (north-west corner) plan between the sorted supports is
optimal for every cost :math:`c(x - y)` with :math:`c` convex, so OT costs one sort. With
weights, the plan couples the quantile functions :math:`F_a^{-1}` and :math:`F_b^{-1}` on
the merged grid of cumulative masses.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..._validation import PREFIX, check_measures


def _check_exponent(p: float) -> float:
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        raise TypeError(f"{PREFIX} `p` must be a number >= 1, got {type(p).__name__}.")
    if not 1 <= p < float("inf"):
        raise ValueError(
            f"{PREFIX} `p` must be a finite number >= 1 (the cost |x-y|^p is then convex and "
            f"sorting is optimal), got {p}."
        )
    return float(p)


def _check_balanced(a: Tensor, b: Tensor) -> Tensor:
    """The common total mass of a and b, shape (B, 1); raises if they differ."""
    ma, mb = a.sum(-1, keepdim=True), b.sum(-1, keepdim=True)
    tol = 1e-5 if a.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-10
    if bool(((ma - mb).abs() > tol * torch.maximum(ma, mb)).any()):
        raise ValueError(
            f"{PREFIX} `a` and `b` have different total masses ({ma.flatten().tolist()} vs "
            f"{mb.flatten().tolist()}); balanced OT needs equal masses. Normalise them, e.g. "
            "`a / a.sum(-1, keepdim=True)`, and likewise for `b`."
        )
    return ma


def ground_cost_1d(d: Tensor, p: float) -> Tensor:
    """:math:`|d|^2 / 2` for p = 2 (the library's convention), :math:`|d|^p` otherwise."""
    if p == 2:
        return d * d / 2
    return d.abs() if p == 1 else d.abs() ** p


def _quantile_coupling(
    x: Tensor, y: Tensor, a: Tensor, b: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The monotone plan on (B, N) and (B, M) supports, as pieces of the merged grid.

    Returns the masses (B, K) of the K = N + M pieces, the indices (B, K) of their source
    and target points in the original order, and the sorted supports (values carry
    gradients). The level ``t_k`` of the merged cumulative masses splits [0, 1] into
    pieces on which both quantile functions are constant:
    :math:`F^{-1}(t) = \\min\\{i : F_i \\ge t_k\\}` for :math:`t \\in (t_{k-1}, t_k]`.
    """
    xs, ix = torch.sort(x, dim=-1)
    ys, iy = torch.sort(y, dim=-1)
    mass = a.sum(-1, keepdim=True)
    ca = torch.cumsum(a.gather(-1, ix) / mass, dim=-1)
    cb = torch.cumsum(b.gather(-1, iy) / b.sum(-1, keepdim=True), dim=-1)
    levels = torch.sort(torch.cat([ca, cb], dim=-1), dim=-1).values
    dt = torch.diff(levels, dim=-1, prepend=torch.zeros_like(levels[..., :1])) * mass
    keys = levels.detach().contiguous()
    # Rounding can leave the last cumulative mass a few ulps below 1: clamp to the last point.
    ia = torch.searchsorted(ca.detach().contiguous(), keys).clamp_max(x.shape[-1] - 1)
    ib = torch.searchsorted(cb.detach().contiguous(), keys).clamp_max(y.shape[-1] - 1)
    return dt, ia, ib, xs.gather(-1, ia), ys.gather(-1, ib)


def _ot_1d_batched(x: Tensor, y: Tensor, a: Tensor, b: Tensor, p: float) -> Tensor:
    """OT value for (B, N) and (B, M) supports with weights of equal masses, shape (B,)."""
    dt, _, _, xq, yq = _quantile_coupling(x, y, a, b)
    return (dt * ground_cost_1d(xq - yq, p)).sum(-1)


def _one_dimensional(x: Tensor, y: Tensor, a: Tensor | None, b: Tensor | None):
    m = check_measures(x, y, a, b)
    if m.x.shape[-1] != 1:
        raise ValueError(
            f"{PREFIX} 1D OT needs points of shape (N, 1) or (B, N, 1), got `x` of shape "
            f"{tuple(x.shape)}. For points in dimension D > 1 use `sliced_wasserstein`, "
            "`assignment` or `emd`."
        )
    _check_balanced(m.a, m.b)
    return m


def ot_1d(
    x: Tensor, y: Tensor, a: Tensor | None = None, b: Tensor | None = None, *, p: float = 2
) -> Tensor:
    """Exact optimal transport cost between two weighted measures on the line.

    .. math::

        OT(a, b) = \\int_0^{m} c\\big(F_a^{-1}(t) - F_b^{-1}(t)\\big)\\, dt,
        \\qquad c(d) = \\tfrac12 d^2 \\text{ if } p = 2, \\quad c(d) = |d|^p \\text{ otherwise},

    with :math:`F^{-1}` the quantile functions and :math:`m` the common total mass. The
    factor 1/2 at p = 2 is the library's convention (``solve``, ``assignment``); POT's
    ``wasserstein_1d(..., p=2)`` is twice this value. Costs O((N + M) log(N + M)).

    Args:
        x: source points, (N, 1) or batched (B, N, 1).
        y: target points, (M, 1) or (B, M, 1).
        a: source weights (N,) or (B, N), non-negative; default uniform 1/N.
        b: target weights (M,) or (B, M), with the same total mass as ``a``.
        p: exponent of the cost, any real p >= 1.

    Returns:
        The OT value, differentiable wrt. the points and the weights.

    Shapes:
        x (N, 1), y (M, 1) -> (); x (B, N, 1), y (B, M, 1) -> (B,).

    Example:
        >>> import torch
        >>> from brenier.solvers.exact import ot_1d
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> float(ot_1d(x, x + 3.0, p=1))  # every point moves by 3
        3.0
    """
    p = _check_exponent(p)
    m = _one_dimensional(x, y, a, b)
    value = _ot_1d_batched(m.x[..., 0], m.y[..., 0], m.a, m.b, p)
    return value if m.batched else value[0]


def ot_1d_plan(x: Tensor, y: Tensor, a: Tensor | None = None, b: Tensor | None = None) -> Tensor:
    """The optimal (monotone) transport plan on the line, as a sparse COO tensor.

    The plan :math:`P_{ij}` is the mass of :math:`\\{t : F_a^{-1}(t) = x_i,\\,
    F_b^{-1}(t) = y_j\\}`; it is optimal for every cost :math:`|x - y|^p`, p >= 1, and has
    at most N + M - 1 non-zeros.

    Args:
        x: source points, (N, 1) or (B, N, 1).
        y: target points, (M, 1) or (B, M, 1).
        a: source weights (N,) or (B, N); default uniform.
        b: target weights (M,) or (B, M), same total mass as ``a``; default uniform.

    Returns:
        A coalesced sparse tensor of shape (N, M) or (B, N, M) in the input's dtype.

    Example:
        >>> import torch
        >>> from brenier.solvers.exact import ot_1d_plan
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> ot_1d_plan(x, x.flip(0)).to_dense()
        tensor([[0.0000, 0.5000],
                [0.5000, 0.0000]])
    """
    m = _one_dimensional(x, y, a, b)
    with torch.no_grad():
        dt, ia, ib, _, _ = _quantile_coupling(m.x[..., 0], m.y[..., 0], m.a, m.b)
        ix, iy = torch.sort(m.x[..., 0], dim=-1)[1], torch.sort(m.y[..., 0], dim=-1)[1]
        rows, cols = ix.gather(-1, ia), iy.gather(-1, ib)
        batch = torch.arange(rows.shape[0], device=rows.device)[:, None].expand_as(rows)
        keep = dt > 0
        index = torch.stack([batch[keep], rows[keep], cols[keep]])
        B, N, M = rows.shape[0], m.x.shape[1], m.y.shape[1]
        plan = torch.sparse_coo_tensor(index, dt[keep], (B, N, M), check_invariants=False)
        plan = plan.coalesce()
    return plan if m.batched else plan[0].coalesce()


def _random_directions(dim: int, n: int, seed: int | None, like: Tensor) -> Tensor:
    """n directions uniform on the unit sphere of R^dim, shape (dim, n), drawn on the CPU.

    Drawing on the CPU in float64 makes the directions, hence the value, the same for a
    given seed on every device and dtype.
    """
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    theta = torch.randn(dim, n, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    return theta.to(dtype=like.dtype, device=like.device)


def _check_projections(n_projections: int, seed: int | None) -> None:
    if not isinstance(n_projections, int) or isinstance(n_projections, bool):
        raise TypeError(
            f"{PREFIX} `n_projections` must be an int, got {type(n_projections).__name__}."
        )
    if n_projections < 1:
        raise ValueError(
            f"{PREFIX} `n_projections` must be >= 1, got {n_projections}; typical values are "
            "50-500 (the Monte Carlo error decreases like 1/sqrt(n_projections))."
        )
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"{PREFIX} `seed` must be an int or None, got {type(seed).__name__}.")


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    n_projections: int = 50,
    p: float = 2,
    seed: int | None = 0,
) -> Tensor:
    """Sliced optimal transport cost: the mean of exact 1D OT costs along random directions.

    .. math::

        SW(a, b) = \\frac{1}{L} \\sum_{l=1}^{L} OT_{1D}\\big(\\theta_l^\\top x, a;\\;
            \\theta_l^\\top y, b\\big), \\qquad \\theta_l \\sim \\mathcal{U}(S^{D-1}),

    with the 1D cost of :func:`ot_1d` (:math:`|d|^2/2` at p = 2, :math:`|d|^p` otherwise).
    This is the p-th power of the sliced Wasserstein distance (halved at p = 2), a lower
    bound of the OT cost; take ``(2 * sw) ** 0.5`` for the distance at p = 2.

    Args:
        x: source points, (N, D) or batched (B, N, D).
        y: target points, (M, D) or (B, M, D).
        a: source weights (N,) or (B, N); default uniform.
        b: target weights (M,) or (B, M), same total mass as ``a``; default uniform.
        n_projections: number L of random directions.
        p: exponent of the cost, any real p >= 1.
        seed: seed of the directions (drawn on the CPU: same value on every device);
            ``None`` draws fresh ones.

    Returns:
        The sliced cost, differentiable wrt. the points and the weights.

    Shapes:
        x (N, D), y (M, D) -> (); x (B, N, D), y (B, M, D) -> (B,).

    Example:
        >>> import torch
        >>> from brenier.solvers.exact import sliced_wasserstein
        >>> x = torch.randn(100, 3, dtype=torch.float64)
        >>> float(sliced_wasserstein(x, x[torch.randperm(100)]))  # same cloud
        0.0
    """
    p = _check_exponent(p)
    _check_projections(n_projections, seed)
    m = check_measures(x, y, a, b)
    _check_balanced(m.a, m.b)
    (B, N, D), M = m.x.shape, m.y.shape[1]
    theta = _random_directions(D, n_projections, seed, m.x)
    # (B, N, L) projections -> (B * L, N) independent 1D problems.
    px = (m.x @ theta).transpose(1, 2).reshape(B * n_projections, N)
    py = (m.y @ theta).transpose(1, 2).reshape(B * n_projections, M)
    wa = m.a.repeat_interleave(n_projections, dim=0)
    wb = m.b.repeat_interleave(n_projections, dim=0)
    value = _ot_1d_batched(px, py, wa, wb, p).reshape(B, n_projections).mean(-1)
    return value if m.batched else value[0]
