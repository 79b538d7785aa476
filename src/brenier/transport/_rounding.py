"""Rounding an approximate plan onto the exact transport polytope.

Algorithm 2 of Altschuler, Weed and Rigollet, *Near-linear time approximation
algorithms for optimal transport via Sinkhorn iteration* (NeurIPS 2017). Given a
non-negative matrix F and marginals r, c of equal mass:

1. scale the rows down where they exceed r: :math:`X = \\mathrm{diag}(\\min(r / F1, 1))`,
   :math:`F' = X F`;
2. scale the columns down where they exceed c: :math:`Y = \\mathrm{diag}(\\min(c / F'^\\top 1, 1))`,
   :math:`F'' = F' Y`;
3. add the missing mass as a rank-one matrix:
   :math:`G = F'' + e_r e_c^\\top / \\|e_r\\|_1`, with :math:`e_r = r - F''1 \\ge 0`,
   :math:`e_c = c - F''^\\top 1 \\ge 0`.

G has marginals exactly r and c, and :math:`\\|G - F\\|_1 \\le 2(\\|F1 - r\\|_1 +
\\|F^\\top 1 - c\\|_1)`: a plan at marginal error delta moves by O(delta).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import PREFIX, check_weights


def _check_plan(P: object) -> Tensor:
    if not isinstance(P, Tensor):
        raise TypeError(
            f"{PREFIX} `plan` must be a dense torch.Tensor (N, M) or (B, N, M), got "
            f"{type(P).__name__}. For a sparse or lazy plan, use `dense_plan(result)` first "
            "(the rounding adds a dense rank-one term)."
        )
    if P.layout != torch.strided or not P.is_floating_point() or P.dim() not in (2, 3):
        raise ValueError(
            f"{PREFIX} `plan` must be a dense floating tensor of shape (N, M) or (B, N, M), got "
            f"layout {P.layout}, dtype {P.dtype}, shape {tuple(P.shape)}."
        )
    if not bool(torch.isfinite(P).all()) or bool((P < 0).any()):
        raise ValueError(f"{PREFIX} `plan` must have finite, non-negative entries.")
    return P if P.dim() == 3 else P.unsqueeze(0)


def _ratio_clamped(target: Tensor, current: Tensor) -> Tensor:
    """min(target / current, 1), and 1 where current = 0."""
    safe = torch.where(current > 0, current, torch.ones_like(current))
    return torch.where(current > 0, (target / safe).clamp(max=1.0), torch.ones_like(current))


def round_plan(plan: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Rounds an approximate plan to one with marginals exactly a and b.

    Altschuler-Weed-Rigollet rounding (see the module docstring):

    .. math::

        G = \\mathrm{diag}(x)\\, F\\, \\mathrm{diag}(y) + \\frac{e_r e_c^\\top}{\\|e_r\\|_1},
        \\quad G 1 = a, \\; G^\\top 1 = b .

    Args:
        plan: a non-negative dense plan, e.g. ``dense_plan(result)``.
        a: row marginal, non-negative.
        b: column marginal, non-negative, with the same total mass as ``a``.

    Returns:
        The rounded plan, same shape, dtype and device as ``plan``.

    Shapes:
        plan (N, M), a (N,), b (M,) -> (N, M); or batched (B, N, M), (B, N), (B, M).

    Example:
        >>> import torch
        >>> from brenier.transport import round_plan
        >>> P = torch.rand(4, 3, dtype=torch.float64)
        >>> a = torch.full((4,), 1 / 4, dtype=torch.float64)
        >>> b = torch.full((3,), 1 / 3, dtype=torch.float64)
        >>> G = round_plan(P, a, b)
        >>> bool(torch.allclose(G.sum(1), a)), bool(torch.allclose(G.sum(0), b))
        (True, True)
    """
    F = _check_plan(plan)
    B, N, M = F.shape
    a_b = check_weights("a", a, F.new_empty(B, N, 1), "plan rows")
    b_b = check_weights("b", b, F.new_empty(B, M, 1), "plan columns")
    mass_a, mass_b = a_b.sum(-1), b_b.sum(-1)
    if not bool(torch.allclose(mass_a, mass_b, rtol=1e-6, atol=0.0)):
        raise ValueError(
            f"{PREFIX} `a` and `b` have different total masses ({mass_a.tolist()} vs "
            f"{mass_b.tolist()}); no plan has both marginals. Normalise them, or keep the "
            "unbalanced plan as it is."
        )
    F = F * _ratio_clamped(a_b, F.sum(-1)).unsqueeze(-1)  # line 1
    F = F * _ratio_clamped(b_b, F.sum(-2)).unsqueeze(-2)  # line 2
    err_r = (a_b - F.sum(-1)).clamp_min(0)  # line 3: >= 0 up to rounding errors
    err_c = (b_b - F.sum(-2)).clamp_min(0)
    norm = err_r.sum(-1, keepdim=True)
    scale = torch.where(norm > 0, 1 / torch.where(norm > 0, norm, 1), 0)
    G = F + (err_r * scale).unsqueeze(-1) * err_c.unsqueeze(-2)
    return G if plan.dim() == 3 else G[0]
