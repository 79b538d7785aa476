"""Synthetic training pairs, generated on the fly: pre-aligned source, target, truth.

Two kinds of shapes (both scaled to a ~250 mm box, in mm):

* **lungs** (:func:`..lung_pair`): a new vessel tree per pair (depth 8 or 9), its
  breathing-like deformation with bumps of ``amplitude`` mm drawn uniformly in the
  configured range, noise, a cut-off bottom slab and outliers;
* **scans**: the bundled Nefertiti or Demosthenes surface, randomly rotated, sampled
  twice (no correspondence), the target moved by a breathing-like deformation.

The registration runs the learned step after a pre-alignment, so a pair is made
*pre-aligned*: the source is moved by the least-squares affine fit of the true map
:math:`\\varphi` on the source points, perturbed (matrix by ~2%, translation by ~2 mm:
a real affine step is not perfect), and the truth at a moved source point
:math:`A x` is :math:`\\varphi(x)`. Everything is then expressed in the target's
normalised frame, as in :func:`..register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._preprocess import Normalization
from .._synthetic import breathing_deformation, lung_pair

#: Seeds of the validation pairs start here; the training stream's above TRAIN_SEEDS.
#: Benchmarks use seeds below 100_000, so every set is held apart from the others.
VALIDATION_SEEDS, TRAIN_SEEDS = 500_000, 1_000_000


@dataclass(frozen=True)
class Pair:
    """A pre-aligned pair in the target's normalised frame (float64 tensors).

    Attributes:
        x, a: moved source (N, 3) and weights; truth: true target positions of x.
        y, b: target (M, 3) and weights.
        landmarks, landmarks_truth: (K, 3) moved landmarks and their true positions.
        unit: millimetres per unit of the normalised frame.
    """

    x: Tensor
    a: Tensor
    truth: Tensor
    y: Tensor
    b: Tensor
    landmarks: Tensor
    landmarks_truth: Tensor
    unit: float


@cache
def _scan(name: str) -> tuple[np.ndarray, np.ndarray]:
    from ....io import load_example

    vertices, faces = load_example(name)
    vertices = vertices - vertices.mean(0)
    return vertices * (250.0 / np.ptp(vertices, axis=0).max()), faces


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _scan_pair(seed: int, n: int, amplitude: float) -> tuple[Any, ...]:
    from ....io import sample_surface

    rng = np.random.default_rng(seed)
    vertices, faces = _scan(("nefertiti", "demosthenes")[seed % 2])
    vertices = vertices @ _rotation(rng).T
    phi = breathing_deformation(seed + 1, amplitude=amplitude)
    source = sample_surface(vertices, faces, n, seed=seed)
    target = phi(sample_surface(vertices, faces, n, seed=seed + 1)) + rng.normal(
        scale=0.5, size=(n, 3)
    )
    landmarks = vertices[rng.choice(len(vertices), 200, replace=False)]
    return source, np.ones(n), target, np.ones(n), landmarks, phi


def synthetic_pair(
    seed: int,
    *,
    n: int = 6000,
    amplitude: tuple[float, float] = (6.0, 22.0),
    scans: float = 0.25,
) -> Pair:
    """One pre-aligned pair (see the module docstring), reproducible from ``seed``.

    Args:
        seed: seeds everything (shape, deformation, sampling, perturbation).
        n: points per cloud.
        amplitude: range of the deformation's bump amplitude, mm.
        scans: probability of a scan pair instead of a lung pair.
    """
    rng = np.random.default_rng(seed)
    amp = float(rng.uniform(*amplitude))
    if rng.random() < scans:
        source, a, target, b, landmarks, phi = _scan_pair(seed, n, amp)
    else:
        lp = lung_pair(n, seed=seed, amplitude=amp, depth=int(rng.choice([8, 9])))
        source, a, target, b = lp.source, lp.source_radius, lp.target, lp.target_radius
        landmarks, phi = lp.landmarks, lp.deformation
    truth = phi(source)
    # The least-squares affine fit of phi on the source, then perturbed.
    w = a / a.sum()
    ones = np.concatenate([source, np.ones((len(source), 1))], axis=1)
    coef = np.linalg.lstsq(ones * np.sqrt(w)[:, None], truth * np.sqrt(w)[:, None], rcond=None)[0]
    matrix = coef[:3].T @ (np.eye(3) + rng.normal(scale=0.02, size=(3, 3)))
    shift = coef[3] + rng.normal(scale=2.0, size=3)
    t = torch.from_numpy
    norm = Normalization.fit(t(np.ascontiguousarray(target)), t(b / b.sum()))

    def moved(p: np.ndarray) -> Tensor:
        return norm.apply(t(np.ascontiguousarray(p @ matrix.T + shift)))

    return Pair(
        moved(source), t(np.asarray(a, float)), norm.apply(t(truth)),
        norm.apply(t(np.ascontiguousarray(target))), t(np.asarray(b, float)),
        moved(landmarks), norm.apply(t(phi(landmarks))), float(norm.scale),
    )  # fmt: skip
