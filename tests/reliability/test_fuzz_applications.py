"""Fuzzing of the entry points that landed after the first reliability pass: grid
measures through ``solve``/``sinkhorn_divergence``, ``barycenter``, ``interpolate``,
``free_support_barycenter``, ``pairwise`` and the ``barycenter``/``embed`` commands.

As in ``test_fuzz.py``: every malformed input raises the documented exception
(``ValueError``/``TypeError``) with a ``[brenier]`` message naming what to fix; valid but
unusual inputs give finite results; inputs are never modified in place. ``pairwise``
must report a bad shape by its index before any Dask work (the cluster is replaced by
one that fails the test if it is ever started).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_fuzz import expect_error  # this folder is on sys.path (pytest's rootdir mode)

import brenier
from brenier.geometry import Grid

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

F64 = torch.float64


def images(k: int = 2, shape: tuple[int, ...] = (6, 7)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(k)
    return torch.rand(k, *shape, generator=gen, dtype=F64) + 0.05


def _set(t: torch.Tensor, value: float) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[3] = value
    return t


#: Malformed densities (K, H, W) of ``barycenter``: mutation, exception.
BAD_DENSITIES: dict[str, tuple[Callable[[torch.Tensor], object], type[Exception]]] = {
    "numpy": (lambda d: d.numpy(), TypeError),
    "list": (lambda d: d.tolist(), TypeError),
    "none": (lambda d: None, TypeError),
    "int": (lambda d: (d * 10).long(), TypeError),
    "bool": (lambda d: d > 0.5, TypeError),
    "half": (lambda d: d.half(), TypeError),
    "complex": (lambda d: d.to(torch.complex128), TypeError),
    "no batch axis (1D)": (lambda d: d[0, 0], ValueError),
    "5d": (lambda d: d[:, None, None], ValueError),
    "no input": (lambda d: d[:0], ValueError),
    "empty axis": (lambda d: d[:, :0], ValueError),
    "nan": (lambda d: _set(d, math.nan), ValueError),
    "inf": (lambda d: _set(d, math.inf), ValueError),
    "negative": (lambda d: _set(d, -1.0), ValueError),
    "zero mass": (lambda d: torch.cat([d[:1], torch.zeros_like(d[1:])]), ValueError),
}


@pytest.mark.parametrize("mutation", list(BAD_DENSITIES))
def test_barycenter_malformed_densities(mutation):
    d = images()
    saved = d.clone()
    change, kind = BAD_DENSITIES[mutation]
    bad = change(d)
    expect_error(lambda: brenier.barycenter(bad, blur=1.0), kind, "densities")
    assert torch.equal(d, saved)


BAD_BARYCENTER_OPTIONS: dict[str, list[object]] = {
    "weights": [[1.0], [1.0, 2.0, 3.0], [-1.0, 2.0], [0.0, 0.0], [math.nan, 1.0], "ab", {1: 2}],
    "blur": [0, -1.0, math.nan, math.inf, "1", None],
    "spacing": [0, -1.0, math.nan, math.inf, (1.0, 2.0, 3.0), "1"],
    "scaling": [0, 1, 1.5, math.nan],
    "tol": [0, -1.0, math.nan, None],
    "max_iter": [0, -3, 1.5, True],
}


@pytest.mark.parametrize(
    ("option", "bad"),
    [(k, v) for k, vs in BAD_BARYCENTER_OPTIONS.items() for v in vs],
    ids=lambda v: repr(v)[:20],
)
def test_barycenter_malformed_options(option, bad):
    d = images()
    options: dict[str, object] = {"blur": 1.0, option: bad}
    weights = options.pop("weights", None)
    expect_error(
        lambda: brenier.barycenter(d, weights, **options),  # type: ignore[arg-type]
        (ValueError, TypeError),  # type: ignore[arg-type]
        option,
    )


@pytest.mark.parametrize(
    "variant",
    [
        "one input",
        "one cell",
        "a row",
        "profiles",
        "dirac",
        "non-contiguous",
        "float32",
        "requires grad",
        "a zero weight",
        "anisotropic",
    ],
)
def test_barycenter_unusual_inputs_are_finite_with_mass_one(variant):
    d, kwargs = images(), {"blur": 1.0}
    if variant == "one input":
        d = d[:1]
    elif variant == "one cell":
        d = torch.ones(3, 1, 1, dtype=F64)
    elif variant == "a row":
        d = d[:, :1]
    elif variant == "profiles":
        d = d[:, 0]
    elif variant == "dirac":
        d = torch.zeros_like(d)
        d[0, 2, 3] = d[1, 5, 4] = 1.0
    elif variant == "non-contiguous":
        d = images(shape=(7, 6)).transpose(1, 2)
        assert not d.is_contiguous()
    elif variant == "float32":
        d = d.float()
    elif variant == "requires grad":
        d = d.requires_grad_()
    elif variant == "a zero weight":
        kwargs["weights"] = [0.0, 1.0]
    elif variant == "anisotropic":
        kwargs["spacing"] = (2.0, 0.5)
    saved = d.detach().clone()
    q = brenier.barycenter(d, **kwargs)
    assert q.shape == d.shape[1:] and bool(torch.isfinite(q).all()) and bool((q >= 0).all())
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(d.detach(), saved)


# --- grid measures through solve and sinkhorn_divergence ---------------------------------


def _grid(d: torch.Tensor) -> Grid:
    return Grid(d / d.sum())


BAD_GRIDS: dict[str, tuple[Callable[[], object], type[Exception], str]] = {
    "numpy": (lambda: Grid(images()[0].numpy()), TypeError, "densities"),
    "int": (lambda: Grid(images()[0].long()), TypeError, "densities"),
    "half": (lambda: Grid(images()[0].half()), TypeError, "densities"),
    "4 axes": (lambda: Grid(images()[:, None, None]), ValueError, "densities"),
    "empty": (lambda: Grid(images()[0, :0]), ValueError, "densities"),
    "nan": (lambda: Grid(_set(images()[0], math.nan)), ValueError, "densities"),
    "negative": (lambda: Grid(_set(images()[0], -1.0)), ValueError, "densities"),
    "zero mass": (lambda: Grid(torch.zeros(4, 4, dtype=F64)), ValueError, "mass"),
    "spacing 0": (lambda: Grid(images()[0], spacing=0.0), ValueError, "spacing"),
    "spacing nan": (lambda: Grid(images()[0], spacing=math.nan), ValueError, "spacing"),
    "spacing inf": (lambda: Grid(images()[0], spacing=(1.0, math.inf)), ValueError, "spacing"),
    "spacing per axis": (lambda: Grid(images()[0], spacing=(1.0, 1.0, 1.0)), ValueError, "spacing"),
    "origin nan": (lambda: Grid(images()[0], origin=math.nan), ValueError, "origin"),
    "cloud vs grid": (
        lambda: brenier.solve(_grid(images()[0]), torch.rand(5, 2, dtype=F64), blur=1.0),
        TypeError,
        "Grid",
    ),
    "unequal masses": (
        lambda: brenier.solve(Grid(images()[0]), Grid(2 * images()[1]), blur=1.0),
        ValueError,
        "masses",
    ),
    "float32 vs float64": (
        lambda: brenier.solve(_grid(images()[0].float()), _grid(images()[1]), blur=1.0),
        TypeError,
        "dtype",
    ),
    "blur 0": (
        lambda: brenier.solve(_grid(images()[0]), _grid(images()[1]), blur=0.0),
        ValueError,
        "blur",
    ),
    "points backend": (
        lambda: brenier.solve(_grid(images()[0]), _grid(images()[1]), blur=1.0, backend="nope"),
        ValueError,
        "backend",
    ),
}


@pytest.mark.parametrize(
    ("entry", "variant"),
    [("solve", v) for v in ("one cell", "a row", "1D profiles", "3D", "zeros", "anisotropic")]
    + [("sinkhorn_divergence", v) for v in ("float32", "unbalanced")],
)
def test_unusual_grid_measures_give_finite_results(entry, variant):
    x, y = images()
    kwargs: dict[str, object] = {"blur": 1.0}
    spacing: float | tuple[float, ...] = 1.0
    if variant == "one cell":
        x, y = torch.ones(1, 1, dtype=F64), torch.ones(1, 1, dtype=F64)
    elif variant == "a row":
        x, y = x[:1], y[:1]
    elif variant == "1D profiles":
        x, y = x[0], y[0]
    elif variant == "3D":
        x, y = images(shape=(3, 4, 3))
    elif variant == "zeros":
        x, y = x.clone(), y.clone()
        x[::2], y[:, ::2] = 0.0, 0.0
    elif variant == "float32":
        x, y = x.float(), y.float()
    elif variant == "unbalanced":
        y, kwargs["reach"] = 3 * y, 2.0
    elif variant == "anisotropic":
        spacing = (2.0, 0.5)
    saved = (x.clone(), y.clone())
    if variant != "unbalanced":
        x, y = x / x.sum(), y / y.sum()
    gx, gy = Grid(x, spacing), Grid(y, spacing)
    if entry == "solve":
        value = brenier.solve(gx, gy, **kwargs).value  # type: ignore[arg-type]
    else:
        value = brenier.sinkhorn_divergence(gx, gy, **kwargs)  # type: ignore[arg-type]
    assert bool(torch.isfinite(value).all())
    if variant != "unbalanced":
        assert torch.equal(saved[0] / saved[0].sum(), x) and torch.equal(
            saved[1] / saved[1].sum(), y
        )


# --- interpolate ---------------------------------------------------------------------------


def clouds(n: int = 6, m: int = 7, d: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(4)
    return torch.randn(n, d, generator=gen, dtype=F64), torch.randn(m, d, generator=gen, dtype=F64)


BAD_TIMES: list[object] = [-0.1, 1.5, math.nan, math.inf, "0.5", None, [], [0.2, math.nan],
                           [[0.1, 0.2]], torch.zeros(2, 2)]  # fmt: skip


@pytest.mark.parametrize("kind", ["clouds", "grids"])
@pytest.mark.parametrize("t", BAD_TIMES, ids=lambda v: repr(v)[:20])
def test_interpolate_rejects_bad_times(kind, t):
    if kind == "clouds":
        x, y = clouds()
        expect_error(lambda: brenier.interpolate(x, y, t, blur=0.1), (ValueError, TypeError), "`t`")  # type: ignore[arg-type]
    else:
        x, y = images()
        expect_error(
            lambda: brenier.interpolate(x, y, t, blur=1.0, spacing=1.0),  # type: ignore[arg-type]
            (ValueError, TypeError),  # type: ignore[arg-type]
            "`t`",
        )


INTERPOLATE_BAD: dict[str, tuple[Callable[[], object], type[Exception], str]] = {
    "numpy source": (
        lambda: brenier.interpolate(clouds()[0].numpy(), clouds()[1], 0.5, blur=0.1),
        TypeError,
        "source",
    ),
    "nan points": (
        lambda: brenier.interpolate(_set(clouds()[0], math.nan), clouds()[1], 0.5, blur=0.1),
        ValueError,
        "source",
    ),
    "wrong D": (
        lambda: brenier.interpolate(clouds()[0], clouds(d=3)[1], 0.5, blur=0.1),
        ValueError,
        "D",
    ),
    "batched clouds": (
        lambda: brenier.interpolate(clouds()[0][None], clouds()[1][None], 0.5, blur=0.1),
        ValueError,
        "source",
    ),
    "short a": (
        lambda: brenier.interpolate(*clouds(), 0.5, blur=0.1, a=torch.ones(3, dtype=F64)),
        ValueError,
        "weights",
    ),
    "blur 0": (lambda: brenier.interpolate(*clouds(), 0.5, blur=0.0), ValueError, "blur"),
    "grid and cloud": (
        lambda: brenier.interpolate(clouds()[0], Grid(images()[0]), 0.5, blur=0.1),
        TypeError,
        "Grid",
    ),
    "grids of two shapes": (
        lambda: brenier.interpolate(images()[0], images()[1][:5], 0.5, blur=1.0, spacing=1.0),
        ValueError,
        "grid",
    ),
    "weights for grids": (
        lambda: brenier.interpolate(
            *images(), 0.5, blur=1.0, spacing=1.0, a=torch.ones(6, dtype=F64)
        ),
        ValueError,
        "`a`",
    ),
    "negative density": (
        lambda: brenier.interpolate(
            _set(images()[0], -1.0), images()[1], 0.5, blur=1.0, spacing=1.0
        ),
        ValueError,
        "negative",
    ),
    "spacing nan": (
        lambda: brenier.interpolate(*images(), 0.5, blur=1.0, spacing=math.nan),
        ValueError,
        "spacing",
    ),
}


def test_interpolate_unusual_inputs():
    x, y = clouds(1, 1)
    saved = (x.clone(), y.clone())
    out = brenier.interpolate(x, y, [0.0, 0.5, 1.0], blur=0.1)  # one point each
    assert torch.allclose(out[1], (x + y) / 2) and torch.equal((x, y)[0], saved[0])
    u, v = clouds(5, 1)
    assert torch.allclose(brenier.interpolate(u, v, 1.0, blur=0.1), v.expand(5, 2))
    d = images(shape=(1, 1))  # two one-cell grids
    assert torch.equal(
        brenier.interpolate(d[0], d[1], 0.5, blur=1.0, spacing=1.0), torch.ones(1, 1, dtype=F64)
    )
    a, b = images()
    nc = brenier.interpolate(a.T, b.T, 0.5, blur=1.0, spacing=1.0)  # non-contiguous
    assert torch.allclose(
        nc, brenier.interpolate(a.T.contiguous(), b.T.contiguous(), 0.5, blur=1.0, spacing=1.0)
    )


# --- free_support_barycenter ----------------------------------------------------------------


FREE_BAD: dict[str, tuple[Callable[[], object], type[Exception], str]] = {
    "tensor of clouds": (
        lambda: brenier.free_support_barycenter(
            torch.rand(2, 5, 2, dtype=F64), n_points=3, blur=0.1
        ),
        TypeError,
        "clouds",
    ),
    "empty list": (
        lambda: brenier.free_support_barycenter([], n_points=3, blur=0.1),
        ValueError,
        "clouds",
    ),
    "numpy cloud": (
        lambda: brenier.free_support_barycenter(
            [clouds()[0].numpy(), clouds()[1]], n_points=3, blur=0.1
        ),
        TypeError,
        "clouds[0]",
    ),
    "nan cloud": (
        lambda: brenier.free_support_barycenter(
            [clouds()[0], _set(clouds()[1], math.nan)], n_points=3, blur=0.1
        ),
        ValueError,
        "clouds[1]",
    ),
    "empty cloud": (
        lambda: brenier.free_support_barycenter(
            [clouds()[0], clouds()[1][:0]], n_points=3, blur=0.1
        ),
        ValueError,
        "clouds[1]",
    ),
    "two dimensions": (
        lambda: brenier.free_support_barycenter(
            [clouds()[0], clouds(d=3)[1]], n_points=3, blur=0.1
        ),
        ValueError,
        "dimension",
    ),
    "two dtypes": (
        lambda: brenier.free_support_barycenter(
            [clouds()[0], clouds()[1].float()], n_points=3, blur=0.1
        ),
        TypeError,
        "dtype",
    ),
    "n_points 0": (
        lambda: brenier.free_support_barycenter(list(clouds()), n_points=0, blur=0.1),
        ValueError,
        "n_points",
    ),
    "n_points float": (
        lambda: brenier.free_support_barycenter(list(clouds()), n_points=2.5, blur=0.1),
        TypeError,
        "n_points",
    ),  # type: ignore[arg-type]
    "n_points bool": (
        lambda: brenier.free_support_barycenter(list(clouds()), n_points=True, blur=0.1),
        TypeError,
        "n_points",
    ),
    "blur nan": (
        lambda: brenier.free_support_barycenter(list(clouds()), n_points=3, blur=math.nan),
        ValueError,
        "blur",
    ),
    "weights count": (
        lambda: brenier.free_support_barycenter(list(clouds()), [1.0], n_points=3, blur=0.1),
        ValueError,
        "weights",
    ),
    "weights type": (
        lambda: brenier.free_support_barycenter(list(clouds()), "ab", n_points=3, blur=0.1),
        TypeError,
        "weights",
    ),  # type: ignore[arg-type]
    "masses count": (
        lambda: brenier.free_support_barycenter(
            list(clouds()), n_points=3, blur=0.1, masses=[None]
        ),
        ValueError,
        "masses",
    ),
    "negative mass": (
        lambda: brenier.free_support_barycenter(
            list(clouds()), n_points=3, blur=0.1, masses=[-torch.ones(6, dtype=F64), None]
        ),
        ValueError,
        "negative",
    ),
    "init shape": (
        lambda: brenier.free_support_barycenter(
            list(clouds()), n_points=3, blur=0.1, init=torch.rand(4, 2, dtype=F64)
        ),
        ValueError,
        "init",
    ),
    "init nan": (
        lambda: brenier.free_support_barycenter(
            list(clouds()), n_points=3, blur=0.1, init=torch.full((3, 2), math.nan, dtype=F64)
        ),
        ValueError,
        "init",
    ),
    "seed": (
        lambda: brenier.free_support_barycenter(list(clouds()), n_points=3, blur=0.1, seed=1.5),
        TypeError,
        "seed",
    ),  # type: ignore[arg-type]
    "max_iter": (
        lambda: brenier.free_support_barycenter(list(clouds()), n_points=3, blur=0.1, max_iter=0),
        ValueError,
        "max_iter",
    ),
}


def test_free_support_barycenter_unusual_inputs_are_finite():
    x, y = clouds()
    saved = (x.clone(), y.clone())
    for kwargs in ({"n_points": 1}, {"n_points": 40}, {"n_points": 3, "weights": [0.0, 1.0]}):
        z = brenier.free_support_barycenter([x, y], blur=0.1, **kwargs)  # type: ignore[arg-type]
        assert z.shape == (kwargs["n_points"], 2) and bool(torch.isfinite(z).all())
    one = brenier.free_support_barycenter([x[:1], y[:1]], n_points=1, blur=0.01)
    assert torch.allclose(one, (x[:1] + y[:1]) / 2, atol=1e-6)
    assert torch.equal(x, saved[0]) and torch.equal(y, saved[1])


#: Malformed inputs of grid measures, ``interpolate`` and ``free_support_barycenter``.
MALFORMED = {"grids": BAD_GRIDS, "interpolate": INTERPOLATE_BAD, "free support": FREE_BAD}


# --- pairwise: bad shapes by index, before any Dask work ------------------------------------


@pytest.fixture
def no_dask(monkeypatch):
    """Starting a cluster fails the test: every check must come before."""
    from brenier.applications.pairwise import _pairwise

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask cluster was started for a malformed input")

    monkeypatch.setattr(_pairwise, "dask_client", refuse)


def _shapes() -> list[object]:
    gen = torch.Generator().manual_seed(5)
    return [torch.randn(8, 2, generator=gen, dtype=F64) + k for k in range(4)]


PAIRWISE_BAD: dict[str, tuple[Callable[[list[object]], object], type[Exception], str]] = {
    "a tensor, not a list": (lambda s: torch.stack(s), TypeError, "sequence"),  # type: ignore[arg-type]
    "one shape": (lambda s: s[:1], ValueError, "at least two"),
    "nan in shape 2": (lambda s: [*s[:2], _set(s[2], math.nan), s[3]], ValueError, "shape 2"),
    "empty shape 1": (lambda s: [s[0], s[1][:0], *s[2:]], ValueError, "shape 1"),
    "batched shape 3": (lambda s: [*s[:3], s[3][None]], ValueError, "shape 3"),
    "D of shape 2": (lambda s: [*s[:2], torch.randn(5, 3, dtype=F64), s[3]], ValueError, "shape 2"),
    "dtype of shape 1": (lambda s: [s[0], s[1].float(), *s[2:]], ValueError, "shape 1"),
    "a string": (lambda s: [*s[:3], "shape.npy"], TypeError, "shape 3"),
    "a 3-tuple": (lambda s: [*s[:3], (s[3], None, None)], TypeError, "shape 3"),
    "negative weights": (
        lambda s: [*s[:3], (s[3], -torch.ones(8, dtype=F64))],
        ValueError,
        "shape 3",
    ),
    "short weights": (lambda s: [(s[0], torch.ones(7, dtype=F64)), *s[1:]], ValueError, "shape 0"),
    "unequal masses": (
        lambda s: [(s[0], 2 * torch.ones(8, dtype=F64) / 8), *s[1:]],
        ValueError,
        "shape",
    ),
}


@pytest.mark.parametrize("case", list(PAIRWISE_BAD))
def test_pairwise_reports_a_bad_shape_by_index_before_dask(no_dask, case):
    change, kind, words = PAIRWISE_BAD[case]
    shapes = _shapes()
    saved = [s.clone() for s in shapes]  # type: ignore[union-attr]
    bad = change(shapes)
    expect_error(lambda: brenier.pairwise(bad, blur=0.1, progress=False), kind, words)  # type: ignore[arg-type]
    assert all(torch.equal(u, v) for u, v in zip(shapes, saved, strict=True))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("blur", 0),
        ("blur", math.nan),
        ("reach", -1.0),
        ("p", 3),
        ("tol", -1.0),
        ("max_iter", 0),
        ("backend", "nope"),
        ("block_size", 0),
        ("block_size", 2.5),
        ("names", ["a"]),
        ("resume", True),
        ("scaling", 1.0),
        ("stall_timeout", 0),
        ("stall_timeout", "1h"),
    ],
    ids=str,
)
def test_pairwise_rejects_bad_options_before_dask(no_dask, option, bad):
    options: dict[str, object] = {"blur": 0.1, "progress": False, option: bad}
    expect_error(lambda: brenier.pairwise(_shapes(), **options), (ValueError, TypeError), option)  # type: ignore[arg-type]


# --- the barycenter and embed commands ------------------------------------------------------


@pytest.fixture
def refused(capsys) -> Callable[..., None]:
    """``refused(*args)``: ``brenier ARGS`` through the real entry point
    (:func:`brenier.cli.run`, in process) exits with status 2 and one
    ``brenier: error:`` line, without a traceback."""
    from brenier.cli import run

    def check(*args: object) -> None:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        assert code == 2, (code, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("brenier: error:"), err
        assert "Traceback" not in err

    return check


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    out: dict[str, Path] = {}

    def save(name: str, array: object) -> None:
        out[name] = tmp_path / f"{name}.npy"
        np.save(out[name], array)

    save("img1", rng.random((6, 7)) + 0.01)
    save("img2", rng.random((6, 7)) + 0.01)
    save("other shape", rng.random((5, 7)))
    save("nan", np.where(rng.random((6, 7)) > 0.9, np.nan, 1.0))
    save("inf", np.where(rng.random((6, 7)) > 0.9, np.inf, 1.0))
    save("negative", rng.random((6, 7)) - 0.5)
    save("zeros", np.zeros((6, 7)))
    save("vector", rng.random(7))
    save("4d", rng.random((2, 2, 3, 3)))
    save("empty", np.zeros((0, 7)))
    save("strings", np.array([["a", "b"]]))
    save("complex", rng.random((6, 7)) + 1j)
    save("object", np.array([{"a": 1}], dtype=object))
    save("cloud", rng.normal(size=(20, 2)))
    save("cloud2", rng.normal(size=(20, 2)) + 0.5)
    save("cloud3", rng.normal(size=(20, 2)) - 0.5)
    save("cloud nan", np.full((20, 2), np.nan))
    save("cloud 3d", rng.normal(size=(20, 3)))
    out["text"] = tmp_path / "junk.npy"
    out["text"].write_text("not an array")
    out["missing"] = tmp_path / "missing.npy"
    out["unknown"] = tmp_path / "picture.bmp"
    out["unknown"].write_bytes(b"BM")
    return out


#: Found here, then fixed: an array of strings ended with exit status 1 and "ValueError:
#: could not convert string to float" (an internal error) and a complex array was read as
#: its real part, exit 0; ``cli/_barycenter.py: read_density`` now refuses arrays whose
#: ``dtype.kind`` is not one of "b", "i", "u", "f", as ``cli/_readers.py`` does for clouds.
BARYCENTER_FILES = [
    *("other shape", "nan", "inf", "negative", "zeros", "vector", "4d", "empty"),
    *("strings", "complex", "object", "text", "missing", "unknown"),
]


@pytest.mark.parametrize("bad", BARYCENTER_FILES)
def test_cli_barycenter_rejects_malformed_files(refused, files, tmp_path, bad):
    output = tmp_path / "q.npy"
    refused("barycenter", files["img1"], files[bad], "-o", output)
    assert not output.exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--blur", "0"],
        ["--blur", "-1"],
        ["--blur", "nan"],
        ["--blur", "abc"],
        ["--spacing", "0"],
        ["--spacing", "nan"],
        ["--weights", "a,b"],
        ["--weights", "1"],
        ["--weights", "-1,2"],
        ["--weights", "0,0"],
        ["--weights", "1,,2"],
    ],
    ids=str,
)
def test_cli_barycenter_rejects_bad_options(refused, files, tmp_path, options):
    output = tmp_path / "q.npy"
    refused("barycenter", files["img1"], files["img2"], "-o", output, *options)
    assert not output.exists()


def test_cli_barycenter_bad_usage(refused, files, tmp_path):
    refused("barycenter", files["img1"], "-o", tmp_path / "q.npy")  # one image
    refused("barycenter", files["img1"], files["img2"], "-o", tmp_path / "q.txt")
    existing = tmp_path / "there.npy"
    existing.write_bytes(b"keep")
    refused("barycenter", files["img1"], files["img2"], "-o", existing)
    assert existing.read_bytes() == b"keep"


EMBED_FILES = ["cloud nan", "cloud 3d", "vector", "4d", "empty", "strings", "text", "missing"]


@pytest.mark.parametrize("bad", EMBED_FILES)
def test_cli_embed_rejects_malformed_files_before_dask(refused, files, tmp_path, no_dask, bad):
    pytest.importorskip("distributed")
    pytest.importorskip("sklearn")
    output = tmp_path / "e.csv"
    refused("embed", files["cloud"], files["cloud2"], files[bad], "-o", output, "--quiet")
    assert not output.exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--blur", "0"],
        ["--blur", "nan"],
        ["--tol", "-1"],
        ["--reach", "0"],
        ["--samples", "0"],
        ["--method", "nope"],
        ["--backend", "nope"],
        ["--resume"],
        ["--workers", "0"],
        ["--stall-timeout", "0"],
        ["--stall-timeout", "-1"],
        ["--linearized", "--matrix", "m.npy"],
    ],
    ids=str,
)
def test_cli_embed_rejects_bad_options_before_dask(refused, files, tmp_path, no_dask, options):
    pytest.importorskip("distributed")
    pytest.importorskip("sklearn")
    output = tmp_path / "e.csv"
    shapes = (files["cloud"], files["cloud2"], files["cloud3"])
    refused("embed", *shapes, "-o", output, *options, "--quiet")
    assert not output.exists()


def test_cli_embed_needs_three_shapes(refused, files, tmp_path, no_dask):
    pytest.importorskip("distributed")
    refused("embed", files["cloud"], files["cloud2"], "-o", tmp_path / "e.csv")


@pytest.mark.parametrize(
    ("table", "case"),
    [(t, c) for t, cases in MALFORMED.items() for c in cases],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_grids_interpolation_and_free_support(table, case):
    fn, kind, name = MALFORMED[table][case]
    expect_error(fn, kind, name)
