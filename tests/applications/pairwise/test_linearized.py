"""The linearised OT embedding, MDS/UMAP and the scatter plot, against closed forms.

Translations are the exact case: the debiased divergence between a cloud and its
translate by t is |t|^2 / 2 at any blur, the Brenier maps are translations, so the
linearised embedding, the template and an MDS of the distances are all known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brenier.applications.pairwise import (
    embed,
    linearization_error,
    linearized_embedding,
    pairwise,
    plot_embedding,
    template_index,
)
from brenier.geometry import PointCloud

BLUR = 0.1
NOWHERE = "tcp://127.0.0.1:9"


def translates(shifts: np.ndarray, points: int = 40) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(points, 2, generator=g, dtype=torch.float64)
    return [base + torch.as_tensor(t) for t in shifts]


SHIFTS = np.array([[-2.0, 0.0], [-1.0, 0.5], [0.0, 0.0], [1.0, 1.0], [2.5, -0.5]])
EXACT = ((SHIFTS[:, None] - SHIFTS[None]) ** 2).sum(-1) / 2


def test_translations_closed_form(client):
    shapes = translates(SHIFTS)
    assert template_index([PointCloud(s) for s in shapes]) == 2  # the shift closest to the mean
    emb = linearized_embedding(shapes, blur=BLUR, scheduler=client, progress=False)
    assert emb.reference_index == 2 and emb.ok.all()
    assert emb.vectors.shape == (5, 40 * 2)
    np.testing.assert_allclose(emb.maps - emb.reference, np.broadcast_to(
        (SHIFTS - SHIFTS[2])[:, None], emb.maps.shape), atol=2e-3)  # fmt: skip
    np.testing.assert_allclose(emb.matrix(), EXACT, rtol=2e-3, atol=1e-6)
    res = pairwise(shapes, blur=BLUR, scheduler=client, progress=False)
    np.testing.assert_allclose(res.matrix, EXACT, rtol=1e-4, atol=1e-8)
    error = emb.error(res.matrix)
    assert error["relative_frobenius"] < 2e-3 and error["spearman"] > 0.99  # (tied pairs)

    z = embed(res, method="mds")  # exact Euclidean distances: MDS recovers them
    d = np.linalg.norm(z[:, None] - z[None], axis=-1)
    np.testing.assert_allclose(d, np.sqrt(2 * EXACT), rtol=1e-3, atol=1e-3)
    z_lin = embed(emb, method="mds")
    d_lin = np.linalg.norm(z_lin[:, None] - z_lin[None], axis=-1)
    np.testing.assert_allclose(d_lin, np.sqrt(2 * EXACT), rtol=5e-3, atol=5e-3)


def test_deformed_family_error_against_pairwise(client, family):
    shapes = family(6, points=30)
    res = pairwise(shapes, blur=BLUR, scheduler=client, progress=False)
    reference = PointCloud(torch.cat(shapes)[::3])  # a user-given cloud: 60 pooled points
    for kind in ("transport", "barycentric"):
        emb = linearized_embedding(shapes, blur=BLUR, reference=reference, map=kind,
                                   scheduler=client, progress=False)  # fmt: skip
        assert emb.reference_index is None and emb.reference.shape == (60, 2)
        error = emb.error(res.matrix)
        # Linearisation is an approximation here (affine maps do not commute): close,
        # not exact, and it never reorders far pairs.
        assert 1e-4 < error["relative_frobenius"] < 0.25, error
        assert error["spearman"] > 0.9, error
    by_index = linearized_embedding(shapes, blur=BLUR, reference=-1, scheduler=client,
                                    progress=False)  # fmt: skip
    assert by_index.reference_index == 5
    np.testing.assert_allclose(by_index.maps[5], by_index.reference, atol=0.05)


def test_linearization_error_numbers():
    S = np.array([[0, 1.0, 4.0], [1.0, 0, 1.0], [4.0, 1.0, 0]])
    E = S * np.array([[1, 1.1, 1.0], [1.1, 1, 0.9], [1.0, 0.9, 1]])
    err = linearization_error(E, S)
    assert err["max_relative"] == pytest.approx(0.1)
    assert err["median_relative"] == pytest.approx(0.1)
    assert err["relative_frobenius"] == pytest.approx(np.sqrt(0.02 / 18))
    with pytest.raises(ValueError, match="square"):
        linearization_error(E[:2], S)


def test_bad_inputs_fail_before_any_dask_work():
    shapes = translates(SHIFTS[:3], points=5)
    cases = [
        ({"reference": 7}, ValueError, "not a shape index"),
        ({"reference": torch.zeros(4, 3, dtype=torch.float64)}, ValueError, "dimension 3"),
        ({"reference": torch.zeros(4, 2, dtype=torch.float32)}, ValueError, "dtype"),
        ({"reference": "template"}, TypeError, "`reference` is invalid"),
        ({"map": "nearest"}, ValueError, "`map`"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
    ]
    for options, kind, match in cases:
        with pytest.raises(kind, match=match):
            linearized_embedding(shapes, blur=BLUR, scheduler=NOWHERE, **options)
    shapes[1] = shapes[1][:, :1]
    with pytest.raises(ValueError, match=r"shape 1 \('b'\) lives in dimension 1"):
        linearized_embedding(shapes, blur=BLUR, names="abc", scheduler=NOWHERE)


def test_embed_checks_its_input():
    with pytest.raises(ValueError, match="`method`"):
        embed(EXACT, method="tsne")
    with pytest.raises(ValueError, match="symmetric"):
        embed(EXACT + np.triu(np.ones((5, 5)), 1))
    with pytest.raises(ValueError, match="square"):
        embed(EXACT[:2])


def test_plot_embedding_writes_a_picture(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "embedding.png"
    z = np.random.default_rng(0).normal(size=(6, 2))
    figure = plot_embedding(z, names=list("abcdef"), groups=[0, 0, 1, 1, 2, 2], path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figure.axes[0].texts) == 6 and figure.axes[0].get_legend() is not None
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_embedding(z[:, :1])
    with pytest.raises(ValueError, match="3 names for 6 points"):
        plot_embedding(z, names=list("abc"))


@pytest.mark.slow  # umap-learn compiles its numba kernels on first use (~1 min)
def test_umap_keeps_two_far_groups_apart():
    pytest.importorskip("umap")
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(size=(10, 3)), rng.normal(size=(10, 3)) + 20])
    S = ((pts[:, None] - pts[None]) ** 2).sum(-1) / 2
    z = embed(S, method="umap", n_neighbors=5)
    d = np.linalg.norm(z[:, None] - z[None], axis=-1) + np.eye(20) * 1e9
    nearest = d.argmin(1)
    assert ((nearest < 10) == (np.arange(20) < 10)).all()
