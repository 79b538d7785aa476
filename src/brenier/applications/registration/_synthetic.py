"""Synthetic lung-like registration pairs with a known deformation.

A vessel tree is grown by recursive bifurcation (each branch splits in two, shorter
and thinner, Murray-like radius ratio 0.79, branching angles 25-45 degrees). Points are
drawn along the centre lines, uniformly per unit length, jittered inside the vessel,
and carry the vessel radius as weight. The target is a *new* sample of the same tree
(no point correspondence), moved by a breathing-like deformation - an affine part
(craniocaudal stretch, lateral expansion, small shear) plus a random smooth field (a
sum of Gaussian bumps) - then noised, cut (a missing part) and polluted by outliers.
Landmarks are the bifurcations, with their true moved positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VesselTree:
    """Centre-line segments of a tree: starts (S, 3), ends (S, 3), radii (S,), in mm."""

    starts: np.ndarray
    ends: np.ndarray
    radii: np.ndarray
    bifurcations: np.ndarray

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points along the segments (uniform per unit length), jittered within the
        radius; returns points (n, 3) and their vessel radius (n,)."""
        lengths = np.linalg.norm(self.ends - self.starts, axis=1)
        seg = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
        t = rng.random(n)[:, None]
        points = self.starts[seg] + t * (self.ends[seg] - self.starts[seg])
        jitter = rng.normal(size=(n, 3)) * (0.5 * self.radii[seg])[:, None]
        return points + jitter, self.radii[seg]


def vessel_tree(seed: int = 0, depth: int = 9, root_length: float = 60.0) -> VesselTree:
    """Grows a bifurcating tree from the trachea-like root, downwards, in a ~250 mm box.

    Example:
        >>> tree = vessel_tree(seed=0, depth=5)
        >>> len(tree.starts), len(tree.bifurcations)
        (31, 15)
    """
    rng = np.random.default_rng(seed)
    starts, ends, radii, forks = [], [], [], []
    stack = [(np.array([0.0, 0.0, 120.0]), np.array([0.0, 0.0, -1.0]), root_length, 8.0, 0)]
    while stack:
        start, direction, length, radius, level = stack.pop()
        end = start + direction * length
        starts.append(start)
        ends.append(end)
        radii.append(radius)
        if level + 1 >= depth:
            continue
        forks.append(end)
        # Two children in a random plane through the parent's direction.
        normal = np.cross(direction, rng.normal(size=3))
        normal /= np.linalg.norm(normal)
        for sign in (1.0, -1.0):
            angle = np.radians(rng.uniform(25, 45))
            child = np.cos(angle) * direction + sign * np.sin(angle) * normal
            child /= np.linalg.norm(child)
            scale = rng.uniform(0.7, 0.85)
            stack.append((end, child, length * scale, radius * 0.79, level + 1))
    return VesselTree(np.array(starts), np.array(ends), np.array(radii), np.array(forks))


@dataclass(frozen=True)
class Deformation:
    """z -> A z + t + sum_k exp(-|z - c_k|^2 / 2 s^2) u_k: breathing plus a smooth field."""

    matrix: np.ndarray
    translation: np.ndarray
    centers: np.ndarray
    amplitudes: np.ndarray
    width: float

    def __call__(self, points: np.ndarray) -> np.ndarray:
        sq = ((points[:, None, :] - self.centers[None]) ** 2).sum(-1)
        bumps = np.exp(-0.5 * sq / self.width**2) @ self.amplitudes
        return points @ self.matrix.T + self.translation + bumps


def breathing_deformation(
    seed: int = 0, *, bumps: int = 24, amplitude: float = 6.0, width: float = 40.0
) -> Deformation:
    """Inhale-like: 10% craniocaudal stretch, 5% lateral expansion, small shear and
    shift, plus ``bumps`` Gaussian bumps of random directions (``amplitude`` mm,
    ``width`` mm) over the lung box."""
    rng = np.random.default_rng(seed)
    A = np.diag([1.05, 1.05, 1.10])
    A[0, 2], A[1, 2] = rng.uniform(-0.05, 0.05, size=2)
    centers = rng.uniform([-100, -100, -100], [100, 100, 120], size=(bumps, 3))
    amplitudes = rng.normal(size=(bumps, 3)) * amplitude
    return Deformation(A, rng.uniform(-5, 5, size=3), centers, amplitudes, width)


@dataclass(frozen=True)
class LungPair:
    """A source and a target cloud with weights, and landmarks with their truth.

    Attributes:
        source, target: points (N, 3), (M, 3) in mm; source_radius, target_radius:
            weights. landmarks: bifurcations in the source frame (K, 3);
            landmarks_moved: their true positions in the target frame (K, 3).
        deformation: the true map from source to target frame.
    """

    source: np.ndarray
    source_radius: np.ndarray
    target: np.ndarray
    target_radius: np.ndarray
    landmarks: np.ndarray
    landmarks_moved: np.ndarray
    deformation: Deformation


def lung_pair(
    n: int = 60_000,
    *,
    seed: int = 0,
    noise: float = 0.5,
    missing: float = 0.1,
    outliers: float = 0.02,
    depth: int = 9,
    amplitude: float = 6.0,
) -> LungPair:
    """A synthetic exhale/inhale pair of vessel trees.

    Args:
        n: points per cloud before cutting and outliers.
        seed: seeds the tree, the deformation and the sampling.
        noise: standard deviation of the target's Gaussian noise, mm.
        missing: fraction of the target's points removed, as one slab at the bottom
            (a part cut off by the scan's field of view).
        outliers: fraction of uniform outliers added to the target, relative to n.
        depth: generations of the tree.
        amplitude: amplitude of the deformation's Gaussian bumps, mm (6: breathing-like;
            15 and more: the large deformations where OT alone pairs wrong branches).

    Example:
        >>> pair = lung_pair(2000, seed=1, depth=6)
        >>> pair.source.shape, pair.landmarks.shape == pair.landmarks_moved.shape
        ((2000, 3), True)
    """
    rng = np.random.default_rng(seed)
    tree = vessel_tree(seed, depth)
    phi = breathing_deformation(seed + 1, amplitude=amplitude)
    source, source_r = tree.sample(n, rng)
    target_ref, target_r = tree.sample(n, rng)
    target = phi(target_ref) + rng.normal(scale=noise, size=target_ref.shape)
    if missing > 0:
        keep = target[:, 2] > np.quantile(target[:, 2], missing)
        target, target_r = target[keep], target_r[keep]
    if outliers > 0:
        lo, hi = target.min(0), target.max(0)
        extra = rng.uniform(lo, hi, size=(int(outliers * n), 3))
        target = np.concatenate([target, extra])
        target_r = np.concatenate([target_r, np.full(len(extra), np.median(target_r))])
    return LungPair(
        source, source_r, target, target_r, tree.bifurcations, phi(tree.bifurcations), phi
    )
