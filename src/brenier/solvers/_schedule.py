"""Epsilon-scaling (annealing) schedules."""

from __future__ import annotations

import math


def epsilon_schedule(p: int, diameter: float, blur: float, scaling: float) -> list[float]:
    """Temperatures from ``diameter**p`` down to ``blur**p``, with ratio ``scaling**p``.

    .. math::

        \\varepsilon_k = \\max\\big(D^p s^{pk}, \\ \\text{blur}^p\\big), \\quad k = 0, 1, \\ldots

    The last temperature is exactly ``blur**p``; when the blur exceeds the diameter the
    schedule is just ``[blur**p]``.

    Example:
        >>> [round(e, 4) for e in epsilon_schedule(2, 1.0, 0.1, 0.5)]
        [1.0, 0.25, 0.0625, 0.0156, 0.01]
    """
    final = blur**p
    start = diameter**p
    if start <= final:
        return [final]
    steps = math.ceil(math.log(start / final) / (p * -math.log(scaling)) - 1e-9)
    schedule = [start * scaling ** (p * k) for k in range(steps)]
    return [*schedule, final]
