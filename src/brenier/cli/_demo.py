"""``brenier demo``: OT between two bundled scans, with a self-contained HTML report.

Samples the surfaces of Demosthenes (CC BY 4.0; photoscan by ryanfb, remeshed by
O. Stein) and Nefertiti (public domain; scan by Nora Al-Badri and Jan Nikolai Nelles),
compares the Sinkhorn divergence at decreasing blurs with the exact OT cost of an
optimal assignment, draws the Brenier map in 3D, records the potentials F, G and
the map over the eps-scaling iterations of a 2D problem, registers Demosthenes onto a
deformed copy of itself (the error at every vertex before and after each step), and
computes a barycenter of images. Writes ``index.html`` (plotly
inlined: it works offline) and the PNG/GIF pictures into the output folder.
"""

from __future__ import annotations

import io
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from .. import __version__, assignment, solve
from ..io import load_example, normalize, sample_surface
from ..viz import PotentialHistory, animate_history, plot_history, plot_map, plot_potentials
from ..viz._history import pick_frames
from ..viz.report import Report, map_scene, potential_frames_scene
from ._compute import computing, relative_error
from ._demo_grids import barycenter_section
from ._demo_register import registration_section
from ._errors import InputError
from ._options import Debug, Force, Json, Quiet
from ._output import print_json
from ._progress import Bar, bar

ATTRIBUTION = (
    "Scans from the public repository odedstein/meshes: Demosthenes (CC BY 4.0; "
    "photoscan by ryanfb, remeshed by O. Stein) and Nefertiti (public domain; scan by "
    "Nora Al-Badri and Jan Nikolai Nelles). Their READMEs ship in brenier/data/."
)


@dataclass(frozen=True)
class Settings:
    """Sizes of the demo: the full one for ``make demo``, a small one for tests."""

    points: int
    blurs: tuple[float, ...]
    disk: int
    bust: int
    history_blur: float
    gif_frames: int
    resolution: int
    image: int
    image_blur: float
    scan_target: int
    register_points: int


FULL = Settings(2000, (0.1, 0.05, 0.02, 0.01), 400, 600, 0.01, 12, 50, 40, 1.5, 20_000, 3000)
SMALL = Settings(300, (0.1, 0.05), 120, 160, 0.05, 4, 24, 16, 1.5, 3000, 600)


def demo(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            file_okay=False,
            help="Folder of the report (index.html and pictures).",
        ),
    ] = Path("demo-output"),
    small: Annotated[
        bool, typer.Option("--small", help="A few seconds' version (for tests).")
    ] = False,
    json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
    force: Force = False,
) -> None:
    """OT between two bundled 3D scans, and a report: demo-output/index.html."""
    page = output / "index.html"
    if output.exists() and not output.is_dir():
        raise InputError(f"output {str(output)!r} is a file; give a folder.")
    if page.exists() and not force:
        raise InputError(f"{str(page)!r} exists; pass --force to overwrite the report.")
    settings = SMALL if small else FULL
    start = time.perf_counter()
    report = Report(
        "brenier demo: optimal transport between two scans",
        f"brenier {__version__}, torch {torch.__version__}, {platform.platform()}",
    )
    with bar(quiet, "demo", total=7) as progress, computing():
        record = _scans(report, settings, progress)
        progress.update("2D history", completed=4)
        record["history"] = _history(report, settings)
        progress.update("registration", completed=5)
        record["registration"] = registration_section(
            report, settings.scan_target, settings.register_points, _png
        )
        progress.update("barycenters", completed=6)
        record["barycenters"] = barycenter_section(
            report, settings.image, settings.image_blur, _png
        )
    seconds = time.perf_counter() - start
    report.heading("About")
    report.paragraph(ATTRIBUTION)
    report.paragraph(f"Computed in {seconds:.1f} s by `brenier demo`.", note=True)
    written = report.write(output)
    record.update(report=str(written), time_s=seconds, files=sorted(report.files))
    if json:
        print_json(record)
    elif not quiet:
        print(f"report written to {written} ({seconds:.1f} s); open it in a browser.")


def _clouds(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    clouds = []
    for k, name in enumerate(("demosthenes", "nefertiti")):
        vertices, faces = load_example(name)
        clouds.append(torch.from_numpy(sample_surface(normalize(vertices), faces, n, seed=k)))
    return clouds[0], clouds[1]


def _png(figure: Any, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _scans(report: Report, s: Settings, progress: Bar) -> dict[str, Any]:
    """Demosthenes vs Nefertiti: exact cost, Sinkhorn at decreasing blurs, the 3D map."""
    progress.update("sampling the scans", completed=0)
    x, y = _clouds(s.points)
    progress.update("exact assignment", completed=1)
    t0 = time.perf_counter()
    match = assignment(x, y)
    exact, exact_time = float(match.cost), time.perf_counter() - t0
    rows, runs = [], []
    for blur in s.blurs:
        progress.update(f"Sinkhorn, blur {blur:g}", completed=2)
        t0 = time.perf_counter()
        with torch.no_grad():
            result = solve(x, y, blur=blur, callback=progress.sinkhorn)
        elapsed = time.perf_counter() - t0
        value = float(result.value)
        runs.append(
            {
                "blur": blur,
                "value": value,
                "backend": result.backend,
                "iterations": result.iterations,
                "marginal_error": result.marginal_error,
                "time_s": elapsed,
                "relative_error": relative_error(value, exact),
            }
        )
        rows.append(
            [
                f"{blur:g}",
                f"{value:.6f}",
                f"{relative_error(value, exact):+.2%}",
                str(result.iterations),
                f"{result.marginal_error:.1e}",
                result.backend,
                f"{elapsed:.2f} s",
            ]
        )
    report.heading(f"Demosthenes vs Nefertiti: {s.points} surface samples each (3D)")
    report.paragraph(
        f"Exact OT cost (optimal assignment, {match.method}): {exact:.6f} in {exact_time:.2f} s."
        " The debiased Sinkhorn divergence S_eps tends to it as the blur decreases; the error "
        "column is its relative error against this exact value."
    )
    report.table(
        ["blur", "S_eps", "rel. error", "iterations", "marginal error", "backend", "time"], rows
    )
    progress.update("Brenier map", completed=3)
    with torch.no_grad():
        mapped = result.transport_map(x).numpy()
        F = result.potentials[0].numpy()
    report.plotly(
        map_scene(
            x.numpy(),
            y.numpy(),
            mapped,
            F,
            max_arrows=300,
            title=f"Brenier map T(x) = x - grad F(x), blur {result.blur:g}",
        ),
        "Interactive: drag to rotate, scroll to zoom. Source points coloured by the potential "
        "F; segments from x_i to T(x_i) for 300 of them.",
    )
    figure = plot_map(result, max_arrows=250)
    report.image("scans_map.png", _png(figure), "The same map, static (matplotlib)")
    return {
        "points": s.points,
        "exact": {"value": exact, "method": match.method, "time_s": exact_time},
        "sinkhorn": runs,
    }


def _two_shapes(n_disk: int, n_bust: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A uniform disk, and the front view of Demosthenes' bust overlapping it."""
    rng = np.random.default_rng(0)
    radius, angle = 0.3 * np.sqrt(rng.random(n_disk)), 2 * np.pi * rng.random(n_disk)
    disk = np.stack([radius * np.cos(angle) - 0.1, radius * np.sin(angle)], axis=1)
    vertices, faces = load_example("demosthenes")
    bust = normalize(sample_surface(vertices, faces, n_bust, seed=0))[:, :2] + [0.1, 0.0]
    return torch.from_numpy(disk), torch.from_numpy(bust)


def _history(report: Report, s: Settings) -> dict[str, Any]:
    """The potentials and the map over the eps-scaling iterations, on a 2D problem."""
    x, y = _two_shapes(s.disk, s.bust)
    history = PotentialHistory()
    t0 = time.perf_counter()
    result = solve(x, y, blur=s.history_blur, scaling=0.7, callback=history)
    elapsed = time.perf_counter() - t0
    report.heading("The potentials F, G and the Brenier map over the eps-scaling iterations")
    report.paragraph(
        f"A disk ({s.disk} points) is transported onto the front view of Demosthenes "
        f"({s.bust} points) at blur {s.history_blur:g}: {result.iterations} Sinkhorn "
        f"iterations in {elapsed:.2f} s on the {result.backend} backend. Each frame shows "
        "the debiased potentials F (source side) and G (target side) and the map "
        "T = Id - grad F as eps decreases."
    )
    frames = plot_history(history, result, frames=4, resolution=s.resolution)
    stacked = np.concatenate([_rgb(f) for f in frames], axis=0)
    report.image("history.png", _png_array(stacked), "Four snapshots of the eps-scaling")
    report.plotly(
        _frames_scene(history, x.numpy(), y.numpy()),
        "Interactive: the potentials on the points at every snapshot (slider).",
    )
    gif = _gif(history, result, s)
    report.image("history.gif", gif, "The same, animated")
    final = plot_potentials(result, resolution=2 * s.resolution)
    report.image("potentials.png", _png(final), "The converged potentials and the map")
    return {"iterations": result.iterations, "time_s": elapsed, "snapshots": len(history)}


def _frames_scene(history: PotentialHistory, x: np.ndarray, y: np.ndarray) -> Any:
    frames = []
    for k in pick_frames(len(history), 12):
        snap = history.snapshots[k]
        F = (snap.f - snap.f_aa)[0] if snap.f_aa is not None else snap.f[0]
        G = (snap.g - snap.g_bb)[0] if snap.g_bb is not None else snap.g[0]
        label = f"it {snap.iteration}, blur {snap.eps**0.5:.3g}"
        frames.append((label, (F - F.mean()).numpy(), (G - G.mean()).numpy()))
    return potential_frames_scene(x, y, frames, title="Potentials over the iterations")


def _rgb(figure: Any) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(72)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3]


def _png_array(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).quantize(colors=256).save(buffer, format="PNG")
    return buffer.getvalue()


def _gif(history: PotentialHistory, result: Any, s: Settings) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = animate_history(
            history,
            result,
            Path(folder) / "history.gif",
            frames=s.gif_frames,
            fps=2,
            resolution=s.resolution,
            dpi=60,
        )
        return path.read_bytes()
