"""The synthetic lung pairs and the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from brenier.applications.registration import (
    breathing_deformation,
    chamfer,
    lung_pair,
    target_registration_error,
    vessel_tree,
)


def test_tree_branches_shrink_and_forks_are_segment_ends() -> None:
    tree = vessel_tree(seed=3, depth=6)
    assert len(tree.starts) == 2**6 - 1 and len(tree.bifurcations) == 2**5 - 1
    assert tree.radii.max() == pytest.approx(8.0) and tree.radii.min() < 8.0 * 0.79**4
    # Every bifurcation is the end of one segment and the start of two.
    for fork in tree.bifurcations:
        assert (np.linalg.norm(tree.ends - fork, axis=1) < 1e-9).sum() == 1
        assert (np.linalg.norm(tree.starts - fork, axis=1) < 1e-9).sum() == 2


def test_pair_has_the_requested_corruptions() -> None:
    clean = lung_pair(5000, seed=4, depth=7, noise=0.0, missing=0.0, outliers=0.0)
    # Without noise, every target point lies on the moved tree: the same sampler, moved.
    assert clean.target.shape == (5000, 3)
    np.testing.assert_allclose(
        clean.deformation(clean.landmarks), clean.landmarks_moved, rtol=0, atol=1e-12
    )
    pair = lung_pair(5000, seed=4, depth=7, missing=0.2, outliers=0.05)
    assert len(pair.target) == pytest.approx(0.8 * 5000 + 250, abs=2)
    assert (pair.target_radius > 0).all() and len(pair.target_radius) == len(pair.target)
    # No point correspondence: the target is a new sample, not the moved source.
    assert chamfer(clean.deformation(clean.source), clean.target) > 0.05


def test_deformation_is_smooth_and_breathing_like() -> None:
    phi = breathing_deformation(0)
    z = np.random.default_rng(0).uniform(-100, 100, size=(500, 3))
    h = 1e-4
    jac = np.stack([(phi(z + h * e) - phi(z - h * e)) / (2 * h) for e in np.eye(3)], axis=-1)
    det = np.linalg.det(jac)
    assert (det > 0.5).all() and (det < 2.0).all()  # invertible, no folding
    assert np.median(det) > 1.1  # inhale: the volume grows


def test_tre_and_chamfer_values() -> None:
    truth = np.zeros((4, 3))
    pred = np.array([[1.0, 0, 0], [0, 2, 0], [0, 0, 3], [4, 0, 0]])
    tre = target_registration_error(pred, truth)
    assert tre["mean"] == 2.5 and tre["max"] == 4.0 and tre["p50"] == 2.5
    assert tre["std"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert chamfer(pred, pred) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        target_registration_error(pred, truth[:2])
