"""``brenier train-registration --out model.safetensors``: a short run, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._clitools import assert_one_line_error

pytest.importorskip("safetensors")


def test_short_training_writes_a_loadable_model_and_resumes(cli, tmp_path: Path):
    from brenier.applications.registration.learned import NetConfig, load_model

    out = tmp_path / "m.safetensors"
    args = ("train-registration", "--out", out, "--validation", "1", "--json")
    first = cli(*args, "--minutes", "0.05")
    assert first.code == 0, first.stderr
    record = json.loads(first.stdout)
    assert record["steps"] >= 1 and record["validation_tre_mm"] > 0
    model, _ = load_model(out, expect=NetConfig())
    assert model.metadata["training"]["steps"] == record["steps"]
    assert Path(record["checkpoint"]).is_file()
    again = cli(*args, "--minutes", "0.1", "--resume")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["steps"] > record["steps"]
    assert_one_line_error(cli(*args, "--minutes", "0.05"), 2, "exists", "--force")


def test_bad_options_are_one_line_errors(cli, tmp_path: Path):
    assert_one_line_error(cli("train-registration", "--out", tmp_path / "m.pt"), 2, ".safetensors")
    assert_one_line_error(
        cli("train-registration", "--out", tmp_path / "m.safetensors", "--resume"),
        2, "no checkpoint",
    )  # fmt: skip
    assert_one_line_error(
        cli("train-registration", "--out", tmp_path / "m.safetensors", "--minutes", "0"),
        2, "--minutes",
    )  # fmt: skip
