"""The learned registration step: training, safetensors round trips, refused files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("safetensors")

from brenier.applications.registration import lung_pair, register
from brenier.applications.registration.learned import (
    LearnedModel,
    NetConfig,
    RegistrationNet,
    TrainConfig,
    checkpoint_path,
    farthest_points,
    knn,
    load_model,
    loss_of,
    make_item,
    parameter_count,
    save_model,
    synthetic_pair,
    train,
)

TINY = NetConfig(points=96, widths=(8, 16), radii=(0.05, 0.15), neighbours=8)


@pytest.fixture(scope="module")
def item():
    return make_item(synthetic_pair(1_234_567, n=1500, scans=0.0), TINY)


def test_knn_and_farthest_points_against_brute_force():
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(50, 3, generator=gen)
    q = torch.rand(7, 3, generator=gen)
    index = knn(q, p, 4)
    d = ((q[:, None] - p[None]) ** 2).sum(-1)
    assert torch.equal(index.sort(1).values, d.argsort(1)[:, :4].sort(1).values)
    chosen = farthest_points(p, 10)
    assert len(set(chosen.tolist())) == 10
    # Each new point is the farthest from those chosen before it.
    for i in range(1, 10):
        gaps = ((p[:, None] - p[chosen[:i]][None]) ** 2).sum(-1).min(1).values
        assert int(chosen[i]) == int(gaps.argmax())


def test_tiny_model_loss_decreases(item):
    torch.manual_seed(0)
    net = RegistrationNet(TINY)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_of(net, item.sample, item.truth)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.9 * losses[0], losses


def test_shipped_architecture_is_small():
    assert parameter_count(RegistrationNet(NetConfig())) * 4 < 5 * 2**20


def test_save_load_round_trip_is_exact(tmp_path: Path, item):
    torch.manual_seed(1)
    net = RegistrationNet(TINY)
    path = save_model(tmp_path / "m.safetensors", net, training={"steps": 3}, validation_tre=2.5)
    model, extra = load_model(path, expect=TINY)
    assert extra == {}
    saved, loaded = net.state_dict(), model.net.state_dict()
    assert list(saved) == list(loaded)
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert model.config == TINY
    assert model.metadata["validation_tre_mm"] == 2.5
    assert model.metadata["training"] == {"steps": 3}
    assert model.metadata["format"] == "brenier.registration.learned"
    with torch.no_grad():
        s = item.sample
        assert torch.equal(
            net(s.points, s.features, s.target), model.net(s.points, s.features, s.target)
        )


def test_tampered_file_is_refused(tmp_path: Path):
    path = save_model(tmp_path / "m.safetensors", RegistrationNet(TINY))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # one bit of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="modified after it was saved"):
        load_model(path)


def test_not_a_model_file_is_refused(tmp_path: Path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x00\x01junk" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors model file"):
        load_model(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")
    import safetensors.torch

    other = tmp_path / "other.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a brenier learned-registration model"):
        load_model(other)


def test_wrong_architecture_is_refused(tmp_path: Path):
    path = save_model(tmp_path / "m.safetensors", RegistrationNet(TINY))
    wider = NetConfig(points=96, widths=(8, 32), radii=(0.05, 0.15), neighbours=8)
    with pytest.raises(ValueError, match="another architecture"):
        load_model(path, expect=wider)
    # A file whose architecture record does not describe its tensors (digest re-made,
    # as a hand-edited file would have it): refused by the tensor check.
    import safetensors.torch

    from brenier.applications.registration.learned._io import digest

    tensors, metadata = {}, {}
    with safetensors.safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    metadata["architecture"] = json.dumps(wider.to_dict(), sort_keys=True)
    model_tensors = {k[6:]: v for k, v in tensors.items()}
    metadata["sha256"] = digest(metadata["architecture"], model_tensors)
    forged = tmp_path / "forged.safetensors"
    safetensors.torch.save_file(tensors, str(forged), metadata=metadata)
    with pytest.raises(ValueError, match="does not hold the tensors of its architecture"):
        load_model(forged)


def test_train_checkpoint_resume_and_register(tmp_path: Path):
    out = tmp_path / "tiny.safetensors"
    config = TrainConfig(minutes=0.05, validation=1, points_per_cloud=800, batch=2, pool=4,
                         scans=0.0, checkpoint_seconds=1.0)  # fmt: skip
    first = train(out, config, TINY)
    assert out.is_file() and checkpoint_path(out).is_file() and first.steps >= 1
    model, _ = load_model(out, expect=TINY)
    assert np.isfinite(model.metadata["validation_tre_mm"])
    assert model.metadata["training"]["steps"] == first.steps
    resumed = train(out, TrainConfig(minutes=0.1), resume=True)
    assert resumed.steps > first.steps
    pair = lung_pair(2000, seed=7, depth=6, missing=0.0, outliers=0.0)
    res = register(pair.source, pair.target, steps=("learned",), model=model)
    assert [s.name for s in res.steps] == ["learned"]
    moved = res.apply(pair.landmarks)
    assert np.isfinite(moved).all() and not np.allclose(moved, pair.landmarks)


def test_bad_model_arguments(tmp_path: Path):
    pair = lung_pair(1000, seed=7, depth=5)
    with pytest.raises(TypeError, match="`model` must be None"):
        register(pair.source, pair.target, steps=("learned",), model=3)
    with pytest.raises(ValueError, match="does not exist"):
        register(pair.source, pair.target, steps=("learned",), model=tmp_path / "no.safetensors")
    with pytest.raises(ValueError, match="--resume: no checkpoint"):
        train(tmp_path / "none.safetensors", resume=True)
    assert isinstance(LearnedModel(RegistrationNet(TINY)).config, NetConfig)


def test_shipped_model_loads_with_its_record():
    from brenier.applications.registration.learned import default_model_path, resolve_model

    path = default_model_path()
    assert path.is_file() and path.stat().st_size < 5 * 2**20
    model = resolve_model(None)
    assert model.config == NetConfig()
    record = model.metadata
    assert 0 < record["validation_tre_mm"] < record["training"]["validation_tre_ot_feature_mm"]
    assert record["training"]["minutes"] <= 30
