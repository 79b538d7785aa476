"""Validation of user input, done once at the API boundary.

Every check raises :class:`ValueError` or :class:`TypeError` with a message that says
what was received, what was expected and how to fix it. Internal code trusts its
inputs; it never re-validates and never uses ``assert`` on user data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

PREFIX = "[brenier]"
#: Rejected: float16 (eps 9.8e-4) and bfloat16 (eps 7.8e-3) reported ``converged`` at a
#: marginal error of 0.62-0.73 and returned negative divergences (issue 17.2).
HALF_DTYPES = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class Measures:
    """Two discrete measures in batched form, as the solvers expect them.

    Attributes:
        x: support of the source measure, shape (B, N, D).
        y: support of the target measure, shape (B, M, D).
        a: weights of the source measure, shape (B, N).
        b: weights of the target measure, shape (B, M).
        batched: whether the user passed batched inputs (outputs keep that form).
    """

    x: Tensor
    y: Tensor
    a: Tensor
    b: Tensor
    batched: bool


def _check_floating(name: str, t: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"{PREFIX} `{name}` must be a torch.Tensor, got {type(t).__name__}. "
            f"Convert it with torch.as_tensor({name}, dtype=torch.float32)."
        )
    if t.is_complex():
        raise TypeError(
            f"{PREFIX} `{name}` has complex dtype {t.dtype}; OT needs real coordinates and "
            f"weights. Pass `{name}.real` (or `torch.view_as_real({name})` for 2 coordinates "
            "per complex number)."
        )
    if not t.is_floating_point():
        raise TypeError(
            f"{PREFIX} `{name}` has integer or boolean dtype {t.dtype}; OT needs a floating "
            f"dtype. Convert it with `{name}.float()` or `{name}.double()`."
        )
    if t.dtype in HALF_DTYPES:
        raise TypeError(
            f"{PREFIX} `{name}` has dtype {t.dtype}, which is too coarse for OT: rounding "
            f"alone leaves a marginal error of finfo.eps * (diameter / blur)^2 / 8, above 100% "
            f"at every usual blur (float16: 1.8 at blur = diameter / 120). Cast to float32 "
            f"with `{name}.float()` (and the result back with `.to({t.dtype})` if needed)."
        )


def _check_finite(name: str, t: Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(
            f"{PREFIX} `{name}` contains {bad} NaN or infinite value(s). "
            "Remove or impute them before calling the solver."
        )


def check_points(name: str, t: Tensor) -> Tensor:
    """Checks a point cloud of shape (N, D) or (B, N, D) and returns it as (B, N, D)."""
    _check_floating(name, t)
    if t.dim() not in (2, 3):
        raise ValueError(
            f"{PREFIX} `{name}` must have shape (N, D) or (B, N, D), got shape "
            f"{tuple(t.shape)}. For 1D data of shape (N,), use `{name}[:, None]`."
        )
    if t.dim() == 3 and t.shape[0] == 0:
        raise ValueError(
            f"{PREFIX} `{name}` is an empty batch (shape {tuple(t.shape)}, B = 0); pass at "
            "least one item, or skip the call when the batch is empty."
        )
    if t.shape[-2] == 0:
        raise ValueError(f"{PREFIX} `{name}` is an empty point cloud (shape {tuple(t.shape)}).")
    if t.shape[-1] == 0:
        raise ValueError(f"{PREFIX} `{name}` has dimension D = 0 (shape {tuple(t.shape)}).")
    _check_finite(name, t)
    return t if t.dim() == 3 else t.unsqueeze(0)


def check_weights(name: str, w: Tensor | None, points: Tensor, points_name: str) -> Tensor:
    """Checks weights against their (B, N, D) support; ``None`` means uniform 1/N."""
    B, N, _ = points.shape
    if w is None:
        return torch.full((B, N), 1.0 / N, dtype=points.dtype, device=points.device)
    _check_floating(name, w)
    expected = (B, N)
    if w.dim() == 1 and B == 1:
        w = w.unsqueeze(0)
    if tuple(w.shape) != expected:
        raise ValueError(
            f"{PREFIX} `{name}` has shape {tuple(w.shape)} but `{points_name}` has "
            f"{N} points (batch {B}): expected weights of shape "
            f"{expected[1:] if B == 1 else expected}."
        )
    _check_finite(name, w)
    if bool((w < 0).any()):
        raise ValueError(
            f"{PREFIX} `{name}` has negative entries (min {float(w.min()):.3g}); "
            "weights must be non-negative masses."
        )
    mass = w.sum(-1)
    if bool((mass <= 0).any()):
        raise ValueError(
            f"{PREFIX} `{name}` has zero total mass; give at least one point a positive weight."
        )
    return w


def check_same_context(tensors: dict[str, Tensor]) -> None:
    """All tensors on one device, with one floating dtype."""
    items = list(tensors.items())
    name0, t0 = items[0]
    for name, t in items[1:]:
        if t.device != t0.device:
            raise ValueError(
                f"{PREFIX} `{name}` is on {t.device} but `{name0}` is on {t0.device}; "
                f"move them to one device, e.g. `{name}.to({name0}.device)`."
            )
        if t.dtype != t0.dtype:
            raise TypeError(
                f"{PREFIX} `{name}` has dtype {t.dtype} but `{name0}` has {t0.dtype}; "
                f"cast one of them, e.g. `{name}.to({name0}.dtype)`."
            )


def check_measures(x: Tensor, y: Tensor, a: Tensor | None, b: Tensor | None) -> Measures:
    """Validates two weighted point clouds and returns them in batched form."""
    named = {"x": x, "y": y}
    if a is not None:
        named["a"] = a
    if b is not None:
        named["b"] = b
    for name, t in named.items():
        _check_floating(name, t)
    check_same_context(named)
    if x.dim() != y.dim():
        raise ValueError(
            f"{PREFIX} `x` has shape {tuple(x.shape)} and `y` has shape {tuple(y.shape)}: "
            "both must be (N, D) / (M, D), or both batched (B, N, D) / (B, M, D)."
        )
    batched = x.dim() == 3
    xb, yb = check_points("x", x), check_points("y", y)
    if xb.shape[-1] != yb.shape[-1]:
        raise ValueError(
            f"{PREFIX} `x` lives in dimension D = {xb.shape[-1]} but `y` in D = {yb.shape[-1]}; "
            "both clouds must have the same number of coordinates."
        )
    if xb.shape[0] != yb.shape[0]:
        raise ValueError(
            f"{PREFIX} batch sizes differ: `x` has B = {xb.shape[0]}, `y` has B = {yb.shape[0]}."
        )
    ab = check_weights("a", a, xb, "x")
    bb = check_weights("b", b, yb, "y")
    return Measures(xb, yb, ab, bb, batched)


def mass_tolerance(dtype: torch.dtype) -> float:
    """Relative difference of total masses that counts as equal: 1e-5, or 100 ulps.

    Normalised weights (``w / w.sum()``, 10^3-10^6 points) differ from mass 1 by at most
    2.4e-7 in float32 and 2.2e-16 in float64 (measured); float32 data cast to float64
    keeps its 1e-7: 1e-5 leaves a margin of 40 and is far below any useful ``tol``.
    """
    return max(1e-5, 100 * torch.finfo(dtype).eps)


def check_equal_masses(m: Measures) -> None:
    """Balanced OT needs sum(a) = sum(b) in every batch item, up to rounding."""
    ma, mb = m.a.detach().sum(-1), m.b.detach().sum(-1)
    gap = (ma - mb).abs() / torch.maximum(ma, mb)
    k = int(gap.argmax())
    rtol = mass_tolerance(m.a.dtype)
    if float(gap[k]) > rtol:
        where = f" in batch item {k}" if m.batched else ""
        raise ValueError(
            f"{PREFIX} balanced OT (reach=None) needs equal total masses, got sum(a) = "
            f"{float(ma[k]):.6g} and sum(b) = {float(mb[k]):.6g}{where} (relative difference "
            f"{float(gap[k]):.2g} > {rtol:.0e}). Normalise them (`a / a.sum(-1, keepdim=True)`, "
            "same for `b`), or use reach= for unbalanced OT."
        )


def check_positive(name: str, value: float, hint: str = "") -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{PREFIX} `{name}` must be a number, got {type(value).__name__}.")
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{PREFIX} `{name}` must be a finite number > 0, got {value}. {hint}")
    return float(value)


def check_scaling(scaling: float) -> float:
    if not isinstance(scaling, (int, float)) or isinstance(scaling, bool):
        raise TypeError(f"{PREFIX} `scaling` must be a number, got {type(scaling).__name__}.")
    if not 0 < scaling < 1:
        raise ValueError(
            f"{PREFIX} `scaling` must lie in (0, 1), got {scaling}: it is the ratio between "
            "two successive blurs of the eps-scaling (0.5 is fast, 0.9 is accurate)."
        )
    return float(scaling)


def check_choice(name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(
            f"{PREFIX} `{name}` must be one of {', '.join(map(repr, choices))}; got {value!r}."
        )


def check_barycentric_weights(weights: object, K: int, like: Tensor) -> Tensor:
    """K non-negative finite weights with a positive sum, normalised to sum 1, as (K,)."""
    if weights is None:
        return torch.full((K,), 1.0 / K, dtype=like.dtype, device=like.device)
    try:
        w = torch.as_tensor(weights, dtype=like.dtype, device=like.device).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"{PREFIX} `weights` must be K={K} numbers (one per input), got {weights!r}."
        ) from error
    if w.shape[0] != K or not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(
            f"{PREFIX} `weights` must hold {K} non-negative finite numbers (one per input), "
            f"got {weights!r}."
        )
    if float(w.sum()) <= 0:
        raise ValueError(f"{PREFIX} `weights` sum to zero; give some input a positive weight.")
    return w / w.sum()
