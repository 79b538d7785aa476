"""Learned registration: a point network trained on synthetic deformations.

The ``"learned"`` step of :func:`brenier.register` sits between pre-alignment and the
OT fine-tuning: a compact multiscale point network (:class:`RegistrationNet`) reads the
pre-aligned source, the target and robust-OT displacements at coarse blurs, and
predicts a correction of those displacements - the pairing of branches under large
deformations, where OT alone can match the wrong branch. It is trained on synthetic
pairs generated on the fly (:func:`train`; ``brenier train-registration``) and saved as
safetensors with a checked metadata record (:func:`save_model`, :func:`load_model`).
"""

from ._data import Pair, synthetic_pair
from ._features import Sample, prepare
from ._io import (
    LearnedModel,
    default_model_path,
    load_model,
    resolve_model,
    save_model,
)
from ._network import NetConfig, RegistrationNet, farthest_points, knn, parameter_count
from ._step import field_of, learned_step, predict
from ._training import (
    TrainConfig,
    TrainResult,
    checkpoint_path,
    describe,
    landmark_errors,
    loss_of,
    make_item,
    prefer_workqueue,
    train,
)

__all__ = [
    "LearnedModel",
    "NetConfig",
    "Pair",
    "RegistrationNet",
    "Sample",
    "TrainConfig",
    "TrainResult",
    "checkpoint_path",
    "default_model_path",
    "describe",
    "farthest_points",
    "field_of",
    "knn",
    "landmark_errors",
    "learned_step",
    "load_model",
    "loss_of",
    "make_item",
    "parameter_count",
    "predict",
    "prefer_workqueue",
    "prepare",
    "resolve_model",
    "save_model",
    "synthetic_pair",
    "train",
]
