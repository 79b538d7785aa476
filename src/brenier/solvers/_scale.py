"""The blur against the data's scale: warnings for ratios the solver cannot serve well.

The loop works on :math:`C / \\varepsilon`, whose range is
:math:`(\\text{diameter} / \\text{blur})^p`. Far from 1 in either direction the answer
degrades, and it used to do so silently (issue 17.4):

- blur far *below* the diameter: rounding bounds the marginal error to
  :func:`~brenier.solvers._sinkhorn.rounding_floor`. Measured in float32 (300 Gaussian
  points, blur 0.05): diameter/blur 2,500 (floor 0.09) puts the value 0.14% from
  float64's; 6,800 (floor 0.7), 5%; coordinates of size 1e4 (1.6e6) ran 144 s to NaN.
- blur *above* the diameter: the debiased divergence is within 0.3% of its large-blur
  limit :math:`|\\bar x - \\bar y|^2 / 2` (p = 2; measured at blur = diameter, uniform
  clouds), i.e. it only compares the means; data of size 1e-4 with the default blur
  returned that limit after one iteration.
"""

from __future__ import annotations

import warnings

import torch

from .._validation import PREFIX
from ._sinkhorn import rounding_floor

#: Rounding floor of the marginal error above which the blur counts as too small for
#: the dtype (value errors from ~0.1%, measured above).
FLOOR_WARNING = 0.1
#: Floor that the suggested blur reaches (1%).
FLOOR_SUGGESTED = 1e-2


def floor_at(blur: float, diameter: float, p: int, dtype: torch.dtype) -> float:
    """The rounding floor of the marginal error at the final blur."""
    eps = blur**p
    return rounding_floor(eps, max(diameter, blur) ** p, dtype)


def smallest_blur(diameter: float, p: int, dtype: torch.dtype) -> float:
    """The blur whose rounding floor is :data:`FLOOR_SUGGESTED`."""
    return diameter / (8 * FLOOR_SUGGESTED / torch.finfo(dtype).eps) ** (1 / p)


def check_blur_scale(blur: float, diameter: float, p: int, dtype: torch.dtype) -> None:
    """Warns (UserWarning) when ``blur`` is far from the data's ``diameter``."""
    if diameter <= 0:
        return
    name = str(dtype).removeprefix("torch.")
    floor = floor_at(blur, diameter, p, dtype)
    if floor > FLOOR_WARNING:
        warnings.warn(
            f"{PREFIX} blur={blur:g} is {diameter / blur:.2g} times smaller than the data's "
            f"diameter ({diameter:.3g}): in {name}, rounding alone leaves a marginal error of "
            f"about {floor:.2g}, and the value can be off by several %. Rescale the data "
            f"(e.g. divide it by its diameter), use blur >= {smallest_blur(diameter, p, dtype):.3g}"
            ", or use float64.",
            UserWarning,
            stacklevel=3,
        )
    elif blur > diameter:
        warnings.warn(
            f"{PREFIX} blur={blur:g} is larger than the data's diameter ({diameter:.3g}): the "
            "divergence is then within 0.3% of its large-blur limit, a comparison of the "
            "means only. Typical blurs are 0.01-0.1 times the diameter; rescale the data or "
            "lower `blur`.",
            UserWarning,
            stacklevel=3,
        )


def not_finite_message(blur: float, diameter: float, p: int, dtype: torch.dtype, why: str) -> str:
    """The error for a non-finite value, naming the likely cause from the numbers."""
    floor = floor_at(blur, diameter, p, dtype)
    name = str(dtype).removeprefix("torch.")
    cause = (
        f"blur={blur:g} is {diameter / blur:.2g} times smaller than the diameter "
        f"({diameter:.3g}), beyond what {name} resolves (rounding floor {floor:.2g}). Rescale "
        f"the data, use blur >= {smallest_blur(diameter, p, dtype):.3g}, or use float64."
        if floor > FLOOR_WARNING
        else "Please report it with the inputs; meanwhile try float64 or a larger blur."
    )
    return f"{PREFIX} the OT value is not finite ({why}). {cause}"
