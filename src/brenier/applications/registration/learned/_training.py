"""Training the registration network on synthetic pairs generated on the fly.

Each step draws a fresh pre-aligned pair (:func:`._data.synthetic_pair`, seeds
``TRAIN_SEEDS + 10^7 seed + step``, so a resumed run continues the same stream),
computes its OT features once (:func:`._features.prepare`) and adds it to a pool (a
replay buffer: the OT solves cost more than a network step; it is not saved, and
refills after a resume); then a batch drawn from
the pool, each item randomly rotated about the craniocaudal axis and mirrored (OT
features and truth move with the shape, so this is exact), takes one Adam step on the
mean end-point error

.. math:: L = \\frac1B \\sum_{\\text{pairs}} \\sum_i w_i \\, \\frac{|u_i - u^*_i|}{s}

(:math:`u^*` the true displacement at the network's points, interpolated from the
clouds' points). The learning rate follows a cosine over the time budget. Every
``validate_seconds`` the mean landmark error (mm) on a fixed, seeded validation set is
measured and the best weights kept; a checkpoint (safetensors: weights, best weights,
Adam's state, the counters in the metadata) is written every ``checkpoint_seconds``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from ...._validation import PREFIX
from ._data import TRAIN_SEEDS, VALIDATION_SEEDS, Pair, synthetic_pair
from ._features import Sample, prepare
from ._io import LearnedModel, load_model, save_model, state_tensors
from ._network import NetConfig, RegistrationNet
from ._step import field_of, predict


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        minutes: wall-clock budget (including the validation set's preparation).
        seed: seeds the network's initialisation and the stream of pairs.
        lr: peak learning rate (Adam), cosine-decayed to lr / 20 over the budget.
        batch: pairs per step. pool: pairs kept in the replay pool.
        points_per_cloud: points of each synthetic cloud before downsampling.
        amplitude: range of the deformations' bump amplitude, mm.
        scans: fraction of scan pairs (the rest are lungs).
        validation: validation pairs (lungs, seeds from VALIDATION_SEEDS).
        validate_seconds, checkpoint_seconds: how often to validate and checkpoint.
    """

    minutes: float = 25.0
    seed: int = 0
    lr: float = 2e-3
    batch: int = 4
    pool: int = 256
    points_per_cloud: int = 6000
    amplitude: tuple[float, float] = (6.0, 22.0)
    scans: float = 0.25
    validation: int = 8
    validate_seconds: float = 120.0
    checkpoint_seconds: float = 60.0

    def __post_init__(self) -> None:
        ok = (
            self.minutes > 0 and self.batch >= 1 and self.pool >= self.batch and self.lr > 0
            and self.validation >= 1 and self.points_per_cloud >= 100 and 0 <= self.scans <= 1
            and 0 < self.amplitude[0] <= self.amplitude[1]
        )  # fmt: skip
        if not ok:
            raise ValueError(
                f"{PREFIX} invalid training configuration {self}: needs minutes > 0, "
                "pool >= batch >= 1, lr > 0, validation >= 1, points_per_cloud >= 100, "
                "scans in [0, 1] and 0 < amplitude[0] <= amplitude[1]."
            )


@dataclass
class Item:
    """A pair as the network sees it, with the truth at its points and the landmarks."""

    sample: Sample
    truth: Tensor  # (N, 3) true displacements, float32
    pair: Pair


@dataclass
class TrainResult:
    model: LearnedModel
    validation_tre: float
    ot_tre: float
    initial_tre: float
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def prefer_workqueue() -> bool:
    """Makes numba's parallel kernels run on its ``workqueue`` threads, not OpenMP, if
    no parallel kernel has run yet in this process; returns whether it did.

    Measured on the 2-core machine: after one OT solve on the OpenMP layer, a forward
    and backward pass of the network took 0.6-1.5 s instead of 0.11 s (torch's
    single-threaded work competes with the OpenMP runtime even with passive waiting),
    and the feature solves took 0.8-1.4 s instead of 0.2-0.4 s.
    """
    import numba
    from numba.np.ufunc import parallel

    if parallel._is_initialized:
        return False
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]
    return True


def make_item(pair: Pair, config: NetConfig) -> Item:
    """Features of a pair, and the true displacement at the network's points (mean of
    the 4 nearest cloud points' true displacements: the field is smooth)."""
    sample = prepare(pair.x, pair.a, pair.y, pair.b, config)
    _, index = cKDTree(pair.x.numpy()).query(sample.points.double().numpy(), k=4)
    disp = (pair.truth - pair.x)[torch.from_numpy(np.asarray(index))].mean(1)
    return Item(sample, disp.to(torch.float32), pair)


def _augment(item: Item, rng: np.random.Generator, config: NetConfig) -> tuple[Sample, Tensor]:
    """Rotation about the z axis and mirror images, applied to everything."""
    angle = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(angle), math.sin(angle)
    r = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) * rng.choice([-1.0, 1.0], 3)
    rot = torch.from_numpy(r).to(torch.float32)
    f = item.sample.features.clone()
    for k in range(len(config.blurs)):
        f[:, 4 * k : 4 * k + 3] = f[:, 4 * k : 4 * k + 3] @ rot.T
    sample = Sample(item.sample.points @ rot.T, item.sample.weights, f, item.sample.target @ rot.T)
    return sample, item.truth @ rot.T


def loss_of(net: RegistrationNet, sample: Sample, truth: Tensor) -> Tensor:
    """Weighted mean end-point error in units of the network's scale s."""
    u = net(sample.points, sample.features, sample.target)
    w = sample.weights / sample.weights.sum()
    return (w * (u - truth).norm(dim=1)).sum() / net.config.scale


def landmark_errors(model: LearnedModel, items: list[Item]) -> tuple[float, float, float]:
    """Mean landmark error (mm) over the items: before, after the OT feature alone
    (the first blur's displacements as a field) and after the network."""
    before: list[float] = []
    ot: list[float] = []
    learned: list[float] = []
    for item in items:
        p = item.pair
        ot_disp = item.sample.features[:, :3].double() * model.config.scale
        for out, disp in ((ot, ot_disp), (learned, predict(model, item.sample))):
            moved = field_of(item.sample, disp, model.config.smoothing).apply(p.landmarks)
            out.append(float((moved - p.landmarks_truth).norm(dim=1).mean()) * p.unit)
        before.append(float((p.landmarks - p.landmarks_truth).norm(dim=1).mean()) * p.unit)
    return float(np.mean(before)), float(np.mean(ot)), float(np.mean(learned))


def validation_items(config: TrainConfig, net_config: NetConfig) -> list[Item]:
    """The fixed validation set: lung pairs from seeds VALIDATION_SEEDS + k."""
    return [
        make_item(synthetic_pair(VALIDATION_SEEDS + k, n=config.points_per_cloud,
                                 amplitude=config.amplitude, scans=0.0), net_config)
        for k in range(config.validation)
    ]  # fmt: skip


def checkpoint_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, Tensor]:
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().clone()
    return tensors


def _restore_optimizer(optimizer: torch.optim.Optimizer, extra: dict[str, Tensor]) -> None:
    state_dict = optimizer.state_dict()
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in extra.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)


def train(
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    net_config: NetConfig | None = None,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Trains a network for ``config.minutes`` and writes the best one to ``out``.

    Args:
        out: the model file (safetensors); the checkpoint is ``out + ".ckpt"``.
        config, net_config: training and architecture (defaults: the shipped model's).
        resume: continue from the checkpoint (its architecture and training
            configuration are used; the time already spent counts against the budget).
        progress: called after every step with ``step``, ``elapsed``, ``budget``,
            ``loss`` and the last ``validation_tre``.

    Returns:
        The best model (by validation TRE), its validation TRE, that of the OT feature
        alone and before any step (mm), the steps and seconds.
    """
    config = config or TrainConfig()
    net_config = net_config or NetConfig()
    ckpt = checkpoint_path(out)
    step, spent, history = 0, 0.0, []
    best_tre, best_state = math.inf, None
    if resume:
        if not ckpt.is_file():
            raise ValueError(f"{PREFIX} --resume: no checkpoint {str(ckpt)!r} to resume from.")
        model, extra = load_model(ckpt)
        net_config = model.config
        record = json.loads(model.metadata["state"])
        budget_minutes = config.minutes
        config = TrainConfig(
            **{**record["config"], "amplitude": tuple(record["config"]["amplitude"])}
        )
        config = TrainConfig(**{**asdict(config), "minutes": budget_minutes})
        step, spent, history = record["step"], record["spent"], record["history"]
        best_tre = record["best_tre"]
        net = model.net
        best_state = {k[5:]: v for k, v in extra.items() if k.startswith("best.")} or None
    else:
        torch.manual_seed(config.seed)
        net = RegistrationNet(net_config)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    if resume:
        _restore_optimizer(optimizer, extra)
    start = time.perf_counter() - spent
    budget = 60.0 * config.minutes
    validation = validation_items(config, net_config)
    model = LearnedModel(net)
    net.eval()
    initial, ot_tre, tre = landmark_errors(model, validation)
    net.train()
    if best_state is None:
        best_tre, best_state = tre, state_tensors(net)
    rng = np.random.default_rng([config.seed, step])
    pool: list[Item] = []
    last_check = last_val = time.perf_counter()
    loss_value = float("nan")

    def save_checkpoint() -> None:
        state = {"config": asdict(config), "step": step, "spent": time.perf_counter() - start,
                 "history": history, "best_tre": best_tre}  # fmt: skip
        extra_tensors = {**_optimizer_tensors(optimizer),
                         **{f"best.{k}": v for k, v in (best_state or {}).items()}}  # fmt: skip
        save_model(ckpt, net, training=asdict(config), extra=extra_tensors,
                   extra_metadata={"state": json.dumps(state)})  # fmt: skip

    while time.perf_counter() - start < budget:
        seed = TRAIN_SEEDS + 10_000_000 * config.seed + step
        pair = synthetic_pair(seed, n=config.points_per_cloud, amplitude=config.amplitude,
                              scans=config.scans)  # fmt: skip
        item = make_item(pair, net_config)
        if len(pool) < config.pool:
            pool.append(item)
        else:
            pool[int(rng.integers(len(pool)))] = item
        fraction = min((time.perf_counter() - start) / budget, 1.0)
        warm = min(1.0, (step + 1) / 20)
        lr = config.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * fraction)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        chosen = rng.choice(len(pool), size=min(config.batch, len(pool)), replace=False)
        losses = [loss_of(net, *_augment(pool[int(i)], rng, net_config)) for i in chosen]
        loss = torch.stack(losses).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        optimizer.step()
        loss_value = float(loss.detach())
        step += 1
        now = time.perf_counter()
        if now - last_val > config.validate_seconds:
            net.eval()
            tre = landmark_errors(model, validation)[2]
            net.train()
            history.append({"step": step, "seconds": now - start, "loss": loss_value, "tre": tre})
            if tre < best_tre:
                best_tre, best_state = tre, state_tensors(net)
            last_val = time.perf_counter()
        if now - last_check > config.checkpoint_seconds:
            save_checkpoint()
            last_check = time.perf_counter()
        if progress is not None:
            progress({"step": step, "elapsed": now - start, "budget": budget,
                      "loss": loss_value, "validation_tre": tre})  # fmt: skip
    net.eval()
    tre = landmark_errors(model, validation)[2]
    history.append({"step": step, "seconds": time.perf_counter() - start, "loss": loss_value,
                    "tre": tre})  # fmt: skip
    if tre < best_tre:
        best_tre, best_state = tre, state_tensors(net)
    save_checkpoint()
    best = RegistrationNet(net_config)
    best.load_state_dict(best_state)
    best.eval()
    seconds = time.perf_counter() - start
    training = {**asdict(config), "steps": step, "seconds": round(seconds, 1),
                "validation_tre_before_mm": initial, "validation_tre_ot_feature_mm": ot_tre,
                "history": history}  # fmt: skip
    save_model(out, best, training=training, validation_tre=best_tre)
    final = LearnedModel(best, {"training": training, "validation_tre_mm": best_tre})
    return TrainResult(final, best_tre, ot_tre, initial, step, seconds, history)


def describe(result: TrainResult) -> dict[str, Any]:
    return {"validation_tre_mm": result.validation_tre, "ot_feature_tre_mm": result.ot_tre,
            "before_tre_mm": result.initial_tre, "steps": result.steps,
            "seconds": result.seconds}  # fmt: skip
