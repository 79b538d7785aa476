"""Fuzzing of the public entry points and the CLI with malformed inputs.

Every malformed input must raise the documented exception (``ValueError`` or
``TypeError``; ``MemoryError`` above the budget) with a ``[brenier]`` message that names
the argument to fix; valid but unusual inputs (one point, non-contiguous, zero weights,
inputs that require grad) must give a finite result. Never another exception, a NaN
or a hang (the suite's pytest-timeout), and inputs are never modified in place.
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import brenier
from brenier._validation import PREFIX

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

F64 = torch.float64


def base() -> dict[str, object]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, generator=gen, dtype=F64)
    y = torch.randn(6, 2, generator=gen, dtype=F64) + 0.5
    a = torch.rand(6, generator=gen, dtype=F64) + 0.1
    b = torch.rand(6, generator=gen, dtype=F64) + 0.1
    return {"x": x, "y": y, "a": a / a.sum(), "b": b / b.sum()}


def _nan_at_0(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = math.nan
    return t


def _inf_at_0(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = math.inf
    return t


#: Malformed values of a points argument, with the exception they must raise.
BAD_POINTS: dict[str, tuple[Callable[[torch.Tensor], object], type[Exception]]] = {
    "numpy": (lambda t: t.numpy(), TypeError),
    "list": (lambda t: t.tolist(), TypeError),
    "none": (lambda t: None, TypeError),
    "int": (lambda t: t.long(), TypeError),
    "bool": (lambda t: t > 0, TypeError),
    "half": (lambda t: t.half(), TypeError),
    "complex": (lambda t: t.to(torch.complex128), TypeError),
    "float32 vs float64": (lambda t: t.float(), TypeError),
    "vector": (lambda t: t[:, 0], ValueError),
    "4d": (lambda t: t[None, None], ValueError),
    "empty": (lambda t: t[:0], ValueError),
    "zero dim": (lambda t: t[:, :0], ValueError),
    "empty batch": (lambda t: t[None][:0], ValueError),
    "wrong D": (lambda t: torch.cat([t, t[:, :1]], 1), ValueError),
    "nan": (_nan_at_0, ValueError),
    "inf": (_inf_at_0, ValueError),
}
#: Malformed weights.
BAD_WEIGHTS: dict[str, tuple[Callable[[torch.Tensor], object], type[Exception]]] = {
    "numpy": (lambda w: w.numpy(), TypeError),
    "int": (lambda w: (w * 100).long(), TypeError),
    "short": (lambda w: w[:-1], ValueError),
    "long": (lambda w: torch.cat([w, w[:1]]), ValueError),
    "2d": (lambda w: w[:, None], ValueError),
    "negative": (lambda w: w - w.max(), ValueError),
    "zero mass": (lambda w: torch.zeros_like(w), ValueError),
    "nan": (_nan_at_0, ValueError),
    "inf": (_inf_at_0, ValueError),
    "float32": (lambda w: w.float(), TypeError),
}
#: Malformed scalars of ``solve``: name -> values.
BAD_OPTIONS: dict[str, list[object]] = {
    "blur": [0, -1.0, math.nan, math.inf, "0.1", None, True],
    "reach": [0, -1.0, math.nan, math.inf, "1"],
    "scaling": [0, 1, 1.5, -0.5, math.nan],
    "tol": [0, -1e-3, math.nan],
    "max_iter": [0, -5, 1.5, True],
    "anderson": [-1, 2.5],
    "relaxation": [0.5, 2.0, math.nan],
    "diameter": [0, -1.0, math.nan],
    "p": [0, 3, 1.5, "2"],
    "backend": ["nope", 3],
}


def entry_points() -> dict[str, Callable[..., object]]:
    """Entry points taking (x, y, a, b); each returns a tensor or a result."""
    return {
        "solve": lambda x, y, a, b: brenier.solve(x, y, a, b, blur=0.3).value,
        "sinkhorn_divergence": lambda x, y, a, b: brenier.sinkhorn_divergence(x, y, a, b),
        "SamplesLoss": lambda x, y, a, b: brenier.SamplesLoss(blur=0.3)(a, x, b, y),
        "emd": lambda x, y, a, b: brenier.emd(x, y, a, b).value,
        "sliced_wasserstein": lambda x, y, a, b: brenier.sliced_wasserstein(x, y, a, b),
        "ot_1d": lambda x, y, a, b: brenier.ot_1d(_first(x), _first(y), a, b),
        "assignment": lambda x, y, a, b: brenier.assignment(x, y).cost,
    }


def _first(t: object) -> object:
    """1D OT takes (N, 1) points: the first coordinate of a well-formed input."""
    if isinstance(t, torch.Tensor) and t.dim() in (2, 3) and t.shape[-1] == 2:
        return t[..., :1]
    return t


def clones(values: dict[str, object]) -> dict[str, object]:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in values.items()}


def assert_unchanged(before: dict[str, object], after: dict[str, object]) -> None:
    for k, v in before.items():
        if isinstance(v, torch.Tensor) and v.numel():
            assert torch.equal(v, after[k]) or (
                v.isnan().any() and torch.equal(v.nan_to_num(), after[k].nan_to_num())
            ), f"`{k}` was modified in place"


def expect_error(fn: Callable[[], object], kind: type[Exception], *names: str) -> str:
    """The call raises ``kind`` (or a subclass) with a ``[brenier]`` message naming one of
    ``names``; any other outcome fails."""
    with pytest.raises(Exception) as info:
        value = fn()
        raise AssertionError(f"accepted, returned {value!r}")
    error = info.value
    assert isinstance(error, kind), f"{type(error).__name__}: {error}"
    message = str(error)
    assert message.startswith(PREFIX), message
    if names:
        assert any(n in message for n in names), message
    return message


COUNTS: dict[str, int] = {}


def _count(kind: str) -> None:
    COUNTS[kind] = COUNTS.get(kind, 0) + 1


@pytest.mark.parametrize("entry", list(entry_points()))
@pytest.mark.parametrize(("arg", "mutation"), list(itertools.product("xy", BAD_POINTS)))
def test_malformed_points(entry, arg, mutation):
    values = base()
    make, kind = BAD_POINTS[mutation]
    if mutation == "wrong D" and entry == "ot_1d":
        kind = ValueError
    saved = clones(values)
    values[arg] = make(values[arg])  # type: ignore[arg-type]
    fn = entry_points()[entry]
    names = (f"`{arg}`", "`x`", "`y`", "dtype", "shape", "points")
    if mutation in ("empty", "empty batch", "vector", "4d") and entry in ("emd", "assignment"):
        names = (*names, "size")
    expect_error(lambda: fn(values["x"], values["y"], values["a"], values["b"]), kind, *names)
    assert_unchanged(saved, base())
    _count("points")


@pytest.mark.parametrize("entry", [e for e in entry_points() if e != "assignment"])
@pytest.mark.parametrize(("arg", "mutation"), list(itertools.product("ab", BAD_WEIGHTS)))
def test_malformed_weights(entry, arg, mutation):
    values = base()
    make, kind = BAD_WEIGHTS[mutation]
    values[arg] = make(values[arg])  # type: ignore[arg-type]
    fn = entry_points()[entry]
    names = (f"`{arg}`", "weights", "mass", "dtype")
    expect_error(lambda: fn(values["x"], values["y"], values["a"], values["b"]), kind, *names)


@pytest.mark.parametrize(
    ("option", "bad"), [(k, v) for k, vs in BAD_OPTIONS.items() for v in vs], ids=str
)
def test_malformed_options_of_solve(option, bad):
    v = base()
    kind = TypeError if isinstance(bad, (str, bool)) or bad is None else ValueError
    if option == "backend":
        kind = TypeError if not isinstance(bad, str) else ValueError
    if option in ("max_iter", "anderson") and not isinstance(bad, str):
        kind = ValueError
    if option == "p" and isinstance(bad, str):
        kind = (TypeError, ValueError)  # type: ignore[assignment]
    expect_error(lambda: brenier.solve(v["x"], v["y"], **{option: bad}), kind, option)


def test_unequal_masses_for_balanced_ot():
    v = base()
    msg = expect_error(lambda: brenier.solve(v["x"], v["y"], v["a"], 2 * v["b"]), ValueError)
    assert "reach=" in msg and "Normalise" in msg


@pytest.mark.parametrize(
    "variant", ["one point", "non-contiguous", "zero weights", "requires grad", "batched"]
)
@pytest.mark.parametrize("entry", [e for e in entry_points() if e not in ("assignment",)])
def test_valid_but_unusual_inputs_give_finite_results(entry, variant):
    v = base()
    if variant == "one point":
        v = {"x": v["x"][:1], "y": v["y"][:1], "a": torch.ones(1, dtype=F64), "b": None}
        v["b"] = v["a"].clone()
    elif variant == "non-contiguous":
        wide = torch.randn(6, 4, dtype=F64)
        v["x"] = wide[:, ::2]
        v["y"] = torch.randn(2, 6, dtype=F64).t()
        assert not v["x"].is_contiguous() and not v["y"].is_contiguous()
    elif variant == "zero weights":
        a = v["a"].clone()
        a[:3] = 0
        v["a"] = a / a.sum()
    elif variant == "requires grad":
        v["x"] = v["x"].clone().requires_grad_(True)
    elif variant == "batched":
        if entry in ("emd", "SamplesLoss"):
            pytest.skip("no batched form")
        v = {k: t[None].repeat(2, *([1] * t.dim())) for k, t in v.items()}  # type: ignore[union-attr]
    saved = clones(v)
    out = entry_points()[entry](v["x"], v["y"], v["a"], v["b"])
    assert bool(torch.isfinite(torch.as_tensor(out).detach()).all())
    assert_unchanged(saved, v)
    if variant == "non-contiguous":  # the same as the contiguous copy
        dense = {k: t.contiguous() for k, t in v.items()}  # type: ignore[union-attr]
        ref = entry_points()[entry](dense["x"], dense["y"], dense["a"], dense["b"])
        torch.testing.assert_close(torch.as_tensor(out), torch.as_tensor(ref), rtol=1e-12, atol=0)


def test_results_based_functions_reject_junk():
    v = base()
    res = brenier.solve(v["x"], v["y"], v["a"], v["b"], blur=0.3)
    takers = (brenier.dense_plan, brenier.sparse_plan, brenier.lazy_plan)
    takers += (brenier.barycentric_projection, brenier.hard_matching, brenier.marginal_errors)
    for fn in takers:
        expect_error(lambda fn=fn: fn("not a result"), TypeError, "OTResult")
    for points, kind in ((v["x"].numpy(), TypeError), (torch.randn(3, 3, dtype=F64), ValueError),
                         (_nan_at_0(v["x"]), ValueError), (v["x"].float(), TypeError)):  # fmt: skip
        expect_error(lambda p=points: brenier.transport_map(res, p), kind, "`points`")
    expect_error(lambda: brenier.plan(res, "weird"), ValueError, "`form`")
    expect_error(lambda: brenier.sparse_plan(res, threshold=-1), ValueError, "`threshold`")
    expect_error(lambda: brenier.dense_plan(res, memory_budget=10), MemoryError, "memory_budget")
    P = brenier.dense_plan(res)
    expect_error(lambda: brenier.round_plan(-P, v["a"], v["b"]), ValueError, "`plan`")
    expect_error(lambda: brenier.round_plan(P, v["a"][:-1], v["b"]), ValueError)


def test_gaussian_functions_reject_bad_covariances():
    m, eye = torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)
    for cov, kind in ((-eye, ValueError), (torch.tensor([[1.0, 2.0], [0.0, 1.0]]).double(),
                      ValueError), (_nan_at_0(eye), ValueError), (eye.long(), TypeError),
                      (torch.eye(3, dtype=F64), ValueError)):  # fmt: skip
        for fn in (brenier.bures_wasserstein, brenier.gaussian_map):
            expect_error(lambda fn=fn, c=cov: fn(m, c, m, eye), kind, "`cov_x`", "`mean_x`")


def test_register_rejects_malformed_shapes_fast():
    good = torch.randn(30, 3, dtype=F64)
    missing = ("no such file.obj", (ValueError, FileNotFoundError))
    for bad, kind in ((good[:, :2], ValueError), (_nan_at_0(good), ValueError),
                      (good[:0], ValueError), missing):  # fmt: skip
        with pytest.raises(kind) as info:  # type: ignore[arg-type]
            brenier.register(bad, good)
        assert str(info.value).startswith(PREFIX) or isinstance(info.value, FileNotFoundError)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    shape_x=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    shape_y=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.int64, torch.float16]),
    special=st.sampled_from([None, math.nan, math.inf, -math.inf, 1e300, 0.0]),
    blur=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)),
)
def test_random_inputs_never_crash(shape_x, shape_y, dtype, special, blur):
    """Random shapes, dtypes, special values and blurs: a finite result or a documented
    error, nothing else."""
    x = torch.ones(shape_x, dtype=torch.float64).cumsum(-1).to(dtype) if dtype.is_floating_point \
        else torch.ones(shape_x, dtype=dtype)  # fmt: skip
    y = torch.zeros(shape_y, dtype=dtype)
    if special is not None and x.numel() and dtype.is_floating_point:
        x.view(-1)[0] = special
    saved = x.clone()
    try:
        res = brenier.solve(x, y, blur=blur, max_iter=200)
    except (ValueError, TypeError, MemoryError, FloatingPointError) as error:
        assert str(error).startswith(PREFIX), error
    else:
        assert bool(torch.isfinite(res.value).all())
    assert torch.equal(saved.nan_to_num(), x.nan_to_num())


# --- the command line, through its real entry point -------------------------------------


@pytest.fixture
def cli() -> Callable[..., Outcome]:
    """``brenier ARGS`` through typer's CliRunner; a :class:`CLIError` raised by a command
    is what the entry point prints on one line with its exit status."""
    from typer.testing import CliRunner

    from brenier.cli import app
    from brenier.cli._errors import CLIError, one_line

    runner = CliRunner()

    def invoke(*args: object) -> Outcome:
        result = runner.invoke(app, [str(a) for a in args])
        error = result.exception
        if isinstance(error, CLIError):
            return Outcome(error.exit_code, result.stdout, f"brenier: error: {one_line(error)}")
        if error is not None and not isinstance(error, SystemExit):
            raise error  # a crash: the test fails with its traceback
        return Outcome(result.exit_code, result.stdout, result.output if result.exit_code else "")

    return invoke


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    out = {}

    def save(name: str, array: object) -> None:
        out[name] = tmp_path / f"{name}.npy"
        np.save(out[name], array)

    save("good", rng.normal(size=(20, 3)))
    save("good2", rng.normal(size=(20, 3)) + 0.3)
    save("nan", np.full((20, 3), np.nan))
    save("inf", np.where(rng.random((20, 3)) > 0.9, np.inf, 1.0))
    save("empty", np.zeros((0, 3)))
    save("one", rng.normal(size=(1, 3)))
    save("vector", rng.normal(size=7))
    save("cube", rng.normal(size=(2, 3, 4)))
    save("strings", np.array([["a", "b", "c"]]))
    save("complex", rng.normal(size=(5, 3)) + 1j)
    save("ints", rng.integers(0, 5, size=(10, 3)))
    save("flat2d", rng.normal(size=(10, 2)))
    save("object", np.array([{"a": 1}], dtype=object))
    out["text"] = tmp_path / "junk.npy"
    out["text"].write_text("not an array")
    out["missing"] = tmp_path / "missing.npy"
    out["npz"] = tmp_path / "w.npz"
    np.savez(out["npz"], points=rng.normal(size=(20, 3)), weights=-np.ones(20))
    return out


CLI_BAD = ["nan", "inf", "empty", "vector", "cube", "strings", "complex", "text", "missing",
           "npz", "object", "flat2d"]  # fmt: skip


@pytest.mark.parametrize("command", ["distance", "match"])
@pytest.mark.parametrize("bad", CLI_BAD)
def test_cli_rejects_malformed_files_on_one_line(cli, files, tmp_path, command, bad):
    args = [command, files[bad], files["good"]]
    if command == "match":
        args += ["-o", tmp_path / "plan.npz"]
    outcome = cli(*args)
    assert outcome.code == 2, (outcome.code, outcome.stderr)
    assert outcome.stderr.startswith("brenier: error:"), outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert not (tmp_path / "plan.npz").exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--blur", "0"],
        ["--blur", "-1"],
        ["--blur", "nan"],
        ["--reach", "0"],
        ["--tol", "-1"],
        ["--p", "3"],
        ["--backend", "nope"],
        ["--samples", "0"],
        ["--blur", "abc"],
    ],
    ids=str,
)
@pytest.mark.parametrize("command", ["distance", "match"])
def test_cli_rejects_bad_options(cli, files, tmp_path, command, options):
    args = [command, files["good"], files["good2"], *options, "--quiet"]
    if command == "match":
        args += ["-o", tmp_path / "plan.npz"]
    outcome = cli(*args)
    assert outcome.code == 2, (outcome.code, outcome.stdout, outcome.stderr)
    assert "Traceback" not in outcome.stderr and outcome.stderr.strip()


@pytest.mark.parametrize("command", ["distance", "match"])
def test_cli_handles_one_point_and_integer_files(cli, files, tmp_path, command):
    for source, target in (("one", "one"), ("ints", "ints")):
        args = [command, files[source], files[target], "--json", "--quiet"]
        if command == "match":
            args += ["-o", tmp_path / f"plan_{source}.npz"]
        outcome = cli(*args)
        assert outcome.code in (0, 2), outcome.stderr
        if outcome.code == 2:
            assert outcome.stderr.startswith("brenier: error:"), outcome.stderr
        assert "nan" not in outcome.stdout.lower()


def test_cli_real_entry_point_on_a_malformed_file(files, capsys):
    """The entry point's own error printing (``brenier.cli.run``, not the CliRunner above)
    on three malformed files, and the installed console script (``.venv/bin/brenier``) in
    a subprocess on one of them (a subprocess costs ~4 s of imports on two cores)."""
    from brenier.cli import run

    for bad in ("nan", "text", "vector"):
        capsys.readouterr()
        code = run(["distance", str(files[bad]), str(files["good"])])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2, lines
        assert len(lines) == 1 and lines[0].startswith("brenier: error:"), lines
    script = Path(sys.executable).with_name("brenier")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "brenier"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, "distance", str(files["text"]), str(files["good"])],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("brenier: error:"), done.stderr
