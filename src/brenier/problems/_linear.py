"""What is asked: linear OT problems, and the debiased divergence as three of them.

A :class:`LinearProblem` is the entropic, possibly unbalanced, OT problem between two
measures (OTT-JAX's ``LinearProblem``):

.. math::

    OT_\\varepsilon(\\alpha, \\beta) = \\min_{\\pi \\ge 0} \\langle \\pi, C \\rangle
        + \\varepsilon \\mathrm{KL}(\\pi | \\alpha \\otimes \\beta)
        + \\rho \\mathrm{KL}(\\pi 1 | \\alpha) + \\rho \\mathrm{KL}(\\pi^\\top 1 | \\beta),

with :math:`\\rho = \\text{reach}^p` (hard marginals when ``reach`` is ``None``). The
temperature is not part of the problem: the loop anneals it.

A :class:`Objective` is a weighted sum of such problems, solved together by the one
loop and valued as :math:`\\sum_k c_k OT_\\varepsilon(\\text{problem}_k)`:

- the debiased Sinkhorn divergence
  :math:`S_\\varepsilon = OT_\\varepsilon(\\alpha, \\beta)
  - \\tfrac12 OT_\\varepsilon(\\alpha, \\alpha) - \\tfrac12 OT_\\varepsilon(\\beta, \\beta)`
  is three problems with coefficients (1, -1/2, -1/2), the last two *symmetric* (one
  measure on both sides: one potential);
- a Wasserstein barycenter of K measures is K problems sharing their second measure,
  with the barycentric weights as coefficients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..geometry import Cost, Geometry


@dataclass(frozen=True)
class LinearProblem:
    """Entropic OT between the measures ``x`` and ``y`` (geometries with their weights).

    Attributes:
        x: the source measure.
        y: the target measure; the same object as ``x`` for a symmetric problem.
        cost: the ground cost.
        reach: ``None`` for balanced OT; else the unbalanced scale, rho = reach**p.
    """

    x: Geometry
    y: Geometry
    cost: Cost
    reach: float | None = None

    @property
    def symmetric(self) -> bool:
        """OT(a, a): one measure on both sides, so one potential (f = g)."""
        return self.x is self.y

    @property
    def rho(self) -> float | None:
        """The marginal penalty :math:`\\rho = \\text{reach}^p` (``None``: balanced)."""
        return None if self.reach is None else self.reach**self.cost.exponent


@dataclass(frozen=True)
class Objective:
    """Problems solved together, valued as :math:`\\sum_k c_k OT_\\varepsilon(P_k)`.

    Attributes:
        problems: the linear problems; the first one is the transport asked for.
        coefficients: one per problem.
    """

    problems: tuple[LinearProblem, ...]
    coefficients: tuple[float, ...]

    @classmethod
    def divergence(
        cls, x: Geometry, y: Geometry, cost: Cost, reach: float | None, debias: bool = True
    ) -> Objective:
        """The debiased :math:`S_\\varepsilon` (``debias``), or :math:`OT_\\varepsilon`."""
        xy = LinearProblem(x, y, cost, reach)
        if not debias:
            return cls((xy,), (1.0,))
        xx, yy = LinearProblem(x, x, cost, reach), LinearProblem(y, y, cost, reach)
        return cls((xy, xx, yy), (1.0, -0.5, -0.5))

    def map_geometries(self, change: Callable[[Geometry], Geometry]) -> Objective:
        """The same objective on changed geometries (each changed once: a symmetric
        problem stays symmetric), e.g. ``lambda g: g.item(k)`` for one batch item."""
        changed: dict[int, Geometry] = {}

        def once(g: Geometry) -> Geometry:
            if id(g) not in changed:
                changed[id(g)] = change(g)
            return changed[id(g)]

        problems = tuple(replace(p, x=once(p.x), y=once(p.y)) for p in self.problems)
        return Objective(problems, self.coefficients)

    @property
    def transport(self) -> LinearProblem:
        """The problem whose plan and maps the user asks for (the first one)."""
        return self.problems[0]

    @property
    def debiased(self) -> bool:
        """Whether this is the debiased divergence (its symmetric terms are present)."""
        return len(self.problems) == 3 and self.problems[1].symmetric
