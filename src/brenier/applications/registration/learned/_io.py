"""Saving and loading learned registration models as safetensors (never pickles).

A model file holds the network's tensors and, in the safetensors metadata (strings),
a record: ``format`` (``brenier.registration.learned``), ``format_version``, the
``brenier_version`` that wrote it, the ``architecture`` (:class:`NetConfig` as JSON),
the ``training`` configuration, the ``validation_tre_mm`` and a ``sha256`` of the
architecture and every tensor's name, dtype, shape and bytes. Loading rebuilds the
network from the architecture, checks the digest (a file edited after saving is
refused) and that the tensors are exactly the ones that architecture has (names and
shapes), and refuses anything else with a :class:`ValueError` that says what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .... import __version__
from ...._validation import PREFIX
from ....io import atomic_write
from ._network import NetConfig, RegistrationNet

FORMAT = "brenier.registration.learned"
FORMAT_VERSION = "1"
#: The model trained by the project on the synthetic lungs, shipped in brenier/data.
DEFAULT_MODEL = "registration_net.safetensors"


@dataclass
class LearnedModel:
    """A network with its record: ``metadata`` holds the training configuration and the
    validation TRE (see the module docstring)."""

    net: RegistrationNet
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> NetConfig:
        return self.net.config


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError as error:  # pragma: no cover - the extra is in dev/test
        raise ImportError(
            f"{PREFIX} learned registration models are safetensors files: "
            "pip install 'brenier[learn]'."
        ) from error
    return safetensors.torch


def digest(architecture: str, tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 of the architecture JSON and every tensor (name, dtype, shape, bytes)."""
    h = hashlib.sha256(architecture.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def state_tensors(net: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}


def save_model(
    path: str | os.PathLike,
    net: RegistrationNet,
    *,
    training: Mapping[str, Any] | None = None,
    validation_tre: float | None = None,
    extra: Mapping[str, Tensor] | None = None,
    extra_metadata: Mapping[str, str] | None = None,
) -> Path:
    """Writes the network (and ``extra`` tensors, e.g. an optimiser's state in a
    checkpoint) to ``path`` atomically, with the metadata record."""
    st = _safetensors()
    tensors = state_tensors(net)
    architecture = json.dumps(net.config.to_dict(), sort_keys=True)
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "brenier_version": __version__,
        "architecture": architecture, "training": json.dumps(dict(training or {}), sort_keys=True),
        "validation_tre_mm": "nan" if validation_tre is None else repr(float(validation_tre)),
        "parameters": str(sum(t.numel() for t in tensors.values())),
        "sha256": digest(architecture, tensors), **dict(extra_metadata or {}),
    }  # fmt: skip
    every = {f"model.{k}": v for k, v in tensors.items()}
    every.update({f"extra.{k}": v.detach().cpu().contiguous() for k, v in (extra or {}).items()})
    return atomic_write(path, lambda tmp: st.save_file(every, str(tmp), metadata=metadata))


def read_file(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors and the metadata of a safetensors file; a clear error if it is none."""
    st = _safetensors()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{PREFIX} model file {str(path)!r} does not exist.")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = st.load_file(str(path))
    except Exception as error:  # safetensors raises its own SafetensorError, OSError...
        raise ValueError(
            f"{PREFIX} {str(path)!r} is not a readable safetensors model file ({error})."
        ) from error
    return tensors, metadata


def load_model(
    path: str | os.PathLike, *, expect: NetConfig | None = None
) -> tuple[LearnedModel, dict[str, Tensor]]:
    """Loads a model saved by :func:`save_model`; returns it and its ``extra`` tensors.

    Raises:
        ValueError: the file is not a brenier model, was modified after saving (digest),
            its tensors are not those of its architecture, or its architecture is not
            ``expect``.
    """
    tensors, metadata = read_file(path)
    name = str(path)
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{PREFIX} {name!r} is not a brenier learned-registration model (its metadata "
            f"has format={metadata.get('format')!r}, expected {FORMAT!r})."
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{PREFIX} {name!r} has model format version {metadata.get('format_version')!r}; "
            f"this brenier reads version {FORMAT_VERSION}: retrain it with "
            "`brenier train-registration`."
        )
    try:
        config = NetConfig.from_dict(json.loads(metadata["architecture"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{PREFIX} {name!r} has no valid architecture record ({error})."
        ) from error
    model_tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    if digest(metadata["architecture"], model_tensors) != metadata.get("sha256"):
        raise ValueError(
            f"{PREFIX} {name!r} was modified after it was saved: its tensors or architecture "
            "do not match the SHA-256 digest in its metadata. Use the original file or retrain."
        )
    if expect is not None and config != expect:
        raise ValueError(
            f"{PREFIX} {name!r} has architecture {config}, expected {expect}: it is a model "
            "of another architecture."
        )
    net = RegistrationNet(config)
    wanted = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in model_tensors.items()}
    if wanted != found:
        missing = sorted(set(wanted) - set(found))
        unexpected = sorted(set(found) - set(wanted))
        shapes = sorted(k for k in set(wanted) & set(found) if wanted[k] != found[k])
        raise ValueError(
            f"{PREFIX} {name!r} does not hold the tensors of its architecture: missing "
            f"{missing[:4]}, unexpected {unexpected[:4]}, wrong shapes {shapes[:4]}."
        )
    net.load_state_dict(model_tensors)
    net.eval()
    record: dict[str, Any] = dict(metadata)
    for key in ("architecture", "training"):
        record[key] = json.loads(metadata.get(key, "{}"))
    record["validation_tre_mm"] = float(metadata.get("validation_tre_mm", "nan"))
    return LearnedModel(net, record), extra


def default_model_path() -> Path:
    """The path of the model shipped with brenier (trained on the synthetic lungs)."""
    return Path(str(resources.files("brenier") / "data" / DEFAULT_MODEL))


def resolve_model(model: object) -> LearnedModel:
    """``None`` (the shipped model), a path, or a :class:`LearnedModel`, as a model."""
    if isinstance(model, LearnedModel):
        return model
    if model is None:
        path = default_model_path()
        if not path.is_file():
            raise ValueError(
                f"{PREFIX} no shipped model at {str(path)!r}; pass model=PATH "
                "(train one with `brenier train-registration --out model.safetensors`)."
            )
        return load_model(path)[0]
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)[0]
    raise TypeError(
        f"{PREFIX} `model` must be None (the shipped model), a path to a .safetensors "
        f"model or a LearnedModel, got {type(model).__name__}."
    )
