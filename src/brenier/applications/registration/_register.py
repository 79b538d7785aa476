"""The public entry point :func:`register` and its result, a transform."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

import brenier

from ..._validation import PREFIX
from ...kernels import budget_scope
from . import _align, _nonrigid
from ._preprocess import Normalization
from ._transforms import AffineTransform, Composite

STEPS = ("rigid", "similarity", "affine", "learned", "nonrigid", "spline")
#: Default robust-OT reach and final blur, as fractions of the target's largest side.
REACH, BLUR = 0.05, 0.01
#: Points of the downsampled clouds that the fits and the scores see.
ALIGN_POINTS, FLOW_POINTS, SCORE_POINTS = 1000, 3000, 500
#: Finest blur, number of blurs and extra iterations at the finest blur of a rigid or
#: affine step that ends the registration (fitted to convergence), and of one that
#: only hands a start to a richer step (rigid before affine, affine before the flow):
#: measured on the benchmark's pairs, the cheaper schedule changed the final landmark
#: error by less than its run-to-run spread and took a third of the time.
ALIGN_FINEST, ALIGN_LEVELS, POLISH = 0.01, 5, 10
CHEAP_FINEST, CHEAP_LEVELS, CHEAP_POLISH = 0.02, 4, 2
#: Blur at which every step's result is scored (fraction of the target's size).
SCORE_BLUR = 0.02

ShapeInput = Tensor | np.ndarray | str | os.PathLike


@dataclass(frozen=True)
class StepReport:
    """One step of a registration: its name, wall-clock seconds and OT cost after it."""

    name: str
    seconds: float
    cost: float


@dataclass(frozen=True)
class RegistrationResult:
    """What :func:`register` returns: a transform of space, and how it was found.

    Attributes:
        transform: the composition of the steps, in the input's units; move any
            points with :meth:`apply`.
        moved: the source points moved by the transform (same type as the input).
        initial_cost: robust OT cost between source and target before registration.
        steps: per step, its name, seconds and robust OT cost after it (the same
            blur and reach for every step, so costs compare).
    """

    transform: Composite
    moved: Tensor | np.ndarray
    initial_cost: float
    steps: tuple[StepReport, ...]
    partial: tuple[Composite, ...] = ()

    def apply(
        self, points: Tensor | np.ndarray, *, after: int | None = None
    ) -> Tensor | np.ndarray:
        """Moves any points (K, 3) - landmarks, a full-resolution mesh - like the source.

        Args:
            points: the points to move, in the source's frame.
            after: move them by the first ``after + 1`` steps only (e.g. ``after=0``:
                the pre-alignment's rigid step); default: all steps.

        Returns the same type as the input (numpy array or tensor, dtype and device kept).
        """
        if isinstance(points, np.ndarray):
            moved = self.apply(torch.from_numpy(np.asarray(points, dtype=np.float64)), after=after)
            return moved.numpy()  # type: ignore[union-attr]
        if not isinstance(points, Tensor) or points.dim() != 2 or points.shape[1] != 3:
            raise ValueError(
                f"{PREFIX} `points` must be an array or tensor of shape (K, 3), got "
                f"{getattr(points, 'shape', type(points).__name__)}."
            )
        transform = self.transform if after is None else self.partial[after]
        with torch.no_grad():
            out = transform.apply(points.detach().cpu().to(torch.float64))
        return out.to(device=points.device, dtype=points.dtype)

    @property
    def seconds(self) -> float:
        """Total wall-clock time of the steps."""
        return sum(s.seconds for s in self.steps)


def _as_cloud(name: str, shape: ShapeInput, weights: object) -> tuple[Tensor, Tensor]:
    """A shape argument as float64 points (N, 3) and weights (N,) summing to 1."""
    if isinstance(shape, (str, os.PathLike)):
        from ...io import read_cloud

        points_np, file_weights = read_cloud(shape)
        points = torch.from_numpy(points_np)
        if weights is None:
            weights = torch.from_numpy(file_weights)
    elif isinstance(shape, (Tensor, np.ndarray)):
        points = torch.as_tensor(shape).detach().cpu().to(torch.float64)
    else:
        raise TypeError(
            f"{PREFIX} `{name}` must be a tensor or array of shape (N, 3), or a path to a "
            f"shape file, got {type(shape).__name__}."
        )
    if points.dim() != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(
            f"{PREFIX} `{name}` must have shape (N, 3), N >= 1, got {tuple(points.shape)}."
        )
    if not bool(torch.isfinite(points).all()):
        raise ValueError(f"{PREFIX} `{name}` has NaN or infinite coordinates; remove them first.")
    w_name = "a" if name == "source" else "b"
    if weights is None:
        w = torch.full((len(points),), 1.0 / len(points), dtype=torch.float64)
    else:
        w = torch.as_tensor(weights).detach().cpu().to(torch.float64).reshape(-1)
        if len(w) != len(points):
            raise ValueError(
                f"{PREFIX} `{w_name}` has {len(w)} weights for {len(points)} {name} points."
            )
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not float(w.sum()) > 0:
            raise ValueError(f"{PREFIX} `{w_name}` must be finite, non-negative and not all zero.")
    return points, w / w.sum()


def _check_options(steps: Sequence[str], reach: object, blur: object, max_points: object) -> None:
    if isinstance(steps, str) or not all(s in STEPS for s in steps):
        raise ValueError(
            f"{PREFIX} `steps` must be a sequence of step names among {STEPS}, got {steps!r}; "
            "e.g. steps=('rigid', 'affine', 'nonrigid')."
        )
    if reach not in ("auto", None) and not (isinstance(reach, (int, float)) and reach > 0):
        raise ValueError(f"{PREFIX} `reach` must be 'auto', None or positive, got {reach!r}.")
    if blur != "auto" and not (isinstance(blur, (int, float)) and blur > 0):
        raise ValueError(f"{PREFIX} `blur` must be 'auto' or positive, got {blur!r}.")
    if max_points is not None and not (
        isinstance(max_points, int) and not isinstance(max_points, bool) and max_points >= 1
    ):
        raise ValueError(
            f"{PREFIX} `max_points` must be a positive integer or None (no cap), got "
            f"{max_points!r}."
        )


def register(
    source: ShapeInput,
    target: ShapeInput,
    a: Tensor | np.ndarray | None = None,
    b: Tensor | np.ndarray | None = None,
    *,
    steps: Sequence[str] = ("rigid", "affine", "nonrigid"),
    reach: float | str | None = "auto",
    blur: float | str = "auto",
    multistart: bool = True,
    levels: int = 4,
    smoothing: float = 3.0,
    anisotropy: float | None = None,
    spline_controls: int = 300,
    spline_regularization: float = 1e-4,
    max_points: int | None = FLOW_POINTS,
    model: object = None,
    verbose: bool = False,
    callback: Callable[[int, str, StepReport | None], object] | None = None,
    memory_budget: int | None = None,
) -> RegistrationResult:
    """Registers a 3D source shape onto a target with robust optimal transport.

    Each step moves the source closer to the target and returns a transform of space:
    ``"rigid"`` (rotation + translation), ``"similarity"`` (+ isotropic scale) and
    ``"affine"`` maps fitted in closed form to robust-OT barycentric projections,
    iterated with a decreasing blur (``"rigid"`` first tries the 24 rotations of the
    cube when ``multistart``, so any rotation is recovered); ``"nonrigid"``, the
    coarse-to-fine OT flow (displacements smoothed by a Gaussian kernel); ``"spline"``,
    Gaussian splines on control points fitted by L-BFGS on the Sinkhorn divergence;
    ``"learned"``, the displacement predicted by a point network trained on synthetic
    deformations from the pre-aligned shapes and robust-OT features (put it between
    the pre-alignment and ``"nonrigid"``, which fine-tunes it; needs
    ``brenier[learn]``). The robust ``reach`` discards outliers and parts missing from either shape.

    Args:
        source, target: points (N, 3) and (M, 3) as tensors or arrays, or paths of
            shape files (:func:`brenier.io.read_cloud`: a mesh's vertices with area
            weights).
        a, b: non-negative weights (N,) and (M,), e.g. vessel radii; default uniform
            (or the file's weights).
        steps: the steps, in order, among ``"rigid"``, ``"similarity"``, ``"affine"``,
            ``"learned"``, ``"nonrigid"``, ``"spline"``.
        reach: robust-OT reach in the shapes' unit; ``"auto"``: 5% of the target's
            largest side; ``None``: balanced OT (no outlier is discarded).
        blur: finest OT blur in the shapes' unit; ``"auto"``: 1% of the target's size.
        multistart: try the 24 cube rotations before the rigid fit.
        levels: levels of the non-rigid flow, the blur halving from 2**(levels - 1) times
            `blur` down to `blur`.
        smoothing: width of the flow's smoothing kernel, in blurs.
        anisotropy: ``None`` for isotropic smoothing, else the across/along width
            ratio in (0, 1] of kernels on tubular parts (local PCA).
        spline_controls, spline_regularization: control points and weight of the RKHS
            norm of the ``"spline"`` step.
        max_points: points of the downsampled clouds that every step works on (voxel
            downsampling once at half the finest blur, coarsened to at most this many);
            the transform is then applied to all the points. ``None``: no cap, the
            flow runs on the clouds downsampled at half the finest blur only (finer
            than the OT resolves; ~35,000 points for a 150,000-point vessel tree, 4x
            the time of the default for a 4% lower TRE on the lung benchmark).
        model: the network of the ``"learned"`` step: a path to a ``.safetensors``
            model (``brenier train-registration``), a loaded
            :class:`~brenier.applications.registration.learned.LearnedModel`, or
            ``None`` for the model shipped with brenier.
        verbose: print each step's time and cost.
        callback: called as ``callback(k, name, None)`` when step ``k`` starts and
            ``callback(k, name, report)`` when it ends (a :class:`StepReport`): e.g. a
            progress bar per step.
        memory_budget: bytes allowed for dense matrices in every solve, plan and map of
            the registration (default 2 GiB): above it, the memory-linear backends
            are used (the solves pick them automatically), else a ``MemoryError``.

    Returns:
        A :class:`RegistrationResult`; ``result.apply(points)`` moves any points.

    Shapes:
        source (N, 3), target (M, 3) -> result.moved (N, 3); apply: (K, 3) -> (K, 3).

    Example:
        >>> import math, torch, brenier
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(400, 3, dtype=torch.float64) * torch.tensor([3.0, 1.5, 0.5])
        >>> c, s = math.cos(0.4), math.sin(0.4)
        >>> R = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)
        >>> res = brenier.register(x, x @ R.T + 1.0, steps=("rigid",), multistart=False)
        >>> float((res.moved - (x @ R.T + 1.0)).norm(dim=1).max()) < 1e-2
        True
    """
    with budget_scope(memory_budget):
        _check_options(steps, reach, blur, max_points)
        if callback is not None and not callable(callback):
            raise TypeError(
                f"{PREFIX} `callback` must be a function (k, name, report) or None, got "
                f"{type(callback).__name__}."
            )
        learned_model = None
        if "learned" in steps:
            from .learned import resolve_model

            learned_model = resolve_model(model)
        x, a_w = _as_cloud("source", source, a)
        y, b_w = _as_cloud("target", target, b)
        norm = Normalization.fit(y, b_w)
        xn, yn = norm.apply(x), norm.apply(y)
        rho = None if reach is None else (REACH if reach == "auto" else float(reach) / norm.scale)
        fine = BLUR if blur == "auto" else float(blur) / norm.scale
        # Every step works on clouds downsampled once at the finest voxel (the only passes
        # over all the points are this one and the final application of the transform);
        # coarser clouds are downsampled from them.
        cap = sys.maxsize if max_points is None else max_points
        xf, af = _nonrigid.downsample_to(xn, a_w, fine / 2, cap)
        yf, bf = _nonrigid.downsample_to(yn, b_w, fine / 2, cap)
        # Start from the translation that matches the centres of mass.
        current: list[object] = [AffineTransform(torch.eye(3, dtype=x.dtype), bf @ yf - af @ xf)]
        moved = current[0].apply(xf)  # type: ignore[attr-defined]
        xs, as_ = _nonrigid.downsample_to(xf, af, fine, ALIGN_POINTS)
        ys, bs = _nonrigid.downsample_to(yf, bf, fine, ALIGN_POINTS)
        score_y = _nonrigid.downsample_to(yf, bf, fine, SCORE_POINTS)

        def score(points: Tensor) -> float:
            p, w = _nonrigid.downsample_to(points, af, fine, SCORE_POINTS)
            r = None if rho is None else max(rho, 3 * SCORE_BLUR)
            result = brenier.solve(
                p, score_y[0], w, score_y[1], blur=SCORE_BLUR, reach=r, tol=1e-2
            )  # fmt: skip
            return float(result.value)

        initial = score(moved)
        reports, ends = [], []
        for k, name in enumerate(steps):
            if callback is not None:
                callback(k, name, None)
            t0 = time.perf_counter()
            if name in _align.KINDS:
                base = Composite(tuple(current)).apply(xs)
                identity = AffineTransform.identity()
                last = k == len(steps) - 1
                step = _affine_step(name, base, ys, as_, bs, identity, rho, fine, multistart, last)
                current.append(step)
                moved = step.apply(moved)
            elif name == "learned":
                from .learned import learned_step

                field = learned_step(moved, af, yf, bf, learned_model)  # type: ignore[arg-type]
                current.append(field)
                moved = field.apply(moved)
            elif name == "nonrigid":
                blurs = [fine * 2**k for k in reversed(range(levels))]
                fields, moved, _ = _nonrigid.ot_flow(
                    moved, yf, af, bf, blurs=blurs, smoothing=smoothing, reach=rho,
                    max_points=cap, anisotropy=anisotropy,
                )  # fmt: skip
                current.extend(fields)
            else:
                spline, _ = _nonrigid.fit_spline(
                    moved, yf, af, bf, controls=spline_controls, sigma=16 * fine,
                    blur=4 * fine, reach=rho, regularization=spline_regularization,
                    max_points=ALIGN_POINTS,
                )  # fmt: skip
                current.append(spline)
                moved = spline.apply(moved)
            ends.append(len(current))
            seconds = time.perf_counter() - t0
            reports.append(StepReport(name, seconds, score(moved)))
            if verbose:
                print(f"{PREFIX} {name}: {seconds:.2f} s, OT cost {reports[-1].cost:.4g}")
            if callback is not None:
                callback(k, name, reports[-1])
        transform = Composite((norm, *current, _Inverse(norm)))
        partial = tuple(Composite((norm, *current[:end], _Inverse(norm))) for end in ends)
        with torch.no_grad():
            moved_out = transform.apply(x)
        if isinstance(source, Tensor):
            moved_final: Tensor | np.ndarray = moved_out.to(source)
        else:
            moved_final = moved_out.numpy()
        return RegistrationResult(transform, moved_final, initial, tuple(reports), partial)


@dataclass(frozen=True)
class _Inverse:
    """The inverse of a normalisation, as a step of a composite transform."""

    norm: Normalization

    def apply(self, points: Tensor) -> Tensor:
        return self.norm.inverse(points)


def _affine_step(
    kind: str,
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    init: AffineTransform,
    rho: float | None,
    fine: float,
    multistart: bool,
    last: bool = True,
) -> AffineTransform:
    """A rigid, similarity or affine step on the downsampled clouds."""
    if kind == "rigid" and multistart:
        few_x, few_a = _nonrigid.downsample_to(x, a, 0.02, 300)
        few_y, few_b = _nonrigid.downsample_to(y, b, 0.02, 300)
        init = _align.multistart(few_x, few_y, few_a, few_b, init, blurs=[0.15, 0.05], reach=rho)
    if last:
        blurs = _align.blur_schedule(0.1, max(fine, ALIGN_FINEST), ALIGN_LEVELS)
        polish = POLISH
    else:
        blurs = _align.blur_schedule(0.1, max(fine, CHEAP_FINEST), CHEAP_LEVELS)
        polish = CHEAP_POLISH
    transform, _ = _align.align(kind, x, y, a, b, init, blurs=blurs, reach=rho, polish=polish)
    return transform
