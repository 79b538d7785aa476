"""The report page: sections of text, tables, pictures and plotly views, one HTML file."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._validation import PREFIX
from .._figures import atomic_write

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.7rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: 0.92rem; }
img { max-width: 100%; border: 1px solid #eee; }
.plot { width: 100%; height: 560px; }
.note { color: #555; font-size: 0.9rem; }
"""


def _require_plotly() -> Any:
    try:
        import plotly
    except ImportError as err:
        raise ImportError(
            f"{PREFIX} interactive views need plotly, an optional dependency: "
            "pip install 'brenier[cli]' (or pip install plotly)."
        ) from err
    return plotly


@dataclass
class Report:
    """An HTML report built section by section, then written atomically.

    Example:
        >>> import tempfile, pathlib
        >>> from brenier.viz.report import Report
        >>> report = Report("A report")
        >>> report.heading("Numbers")
        >>> report.table(["blur", "value"], [["0.1", "0.0123"]])
        >>> page = report.write(pathlib.Path(tempfile.mkdtemp()) / "report")
        >>> page.name, "0.0123" in page.read_text()
        ('index.html', True)
    """

    title: str
    subtitle: str = ""
    parts: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    needs_plotly: bool = False

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, *, note: bool = False) -> None:
        """A paragraph of plain text (escaped)."""
        css = ' class="note"' if note else ""
        self.parts.append(f"<p{css}>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>")

    def image(self, name: str, data: bytes, caption: str) -> None:
        """A picture (PNG or GIF bytes), embedded, and also written as ``name`` beside the page."""
        mime = "image/gif" if name.lower().endswith(".gif") else "image/png"
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        self.files[name] = data
        self.parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(caption)}" data-file="{name}">'
            f"<figcaption>{html.escape(caption)} (<code>{name}</code>)</figcaption></figure>"
        )

    def plotly(self, figure: Any, caption: str) -> None:
        """An interactive plotly figure (its JavaScript is inlined once in the page)."""
        _require_plotly()
        self.needs_plotly = True
        div = figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            default_height="560px",
            config={"responsive": True},
        )
        self.parts.append(f"<figure>{div}<figcaption>{html.escape(caption)}</figcaption></figure>")

    def render(self) -> str:
        """The page as one HTML string."""
        script = ""
        if self.needs_plotly:
            from plotly.offline import get_plotlyjs

            script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        subtitle = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style>{script}</head>"
            f"<body><h1>{html.escape(self.title)}</h1>{subtitle}{''.join(self.parts)}"
            "</body></html>\n"
        )

    def write(self, folder: str | os.PathLike) -> Path:
        """Writes ``folder/index.html`` and the pictures, each atomically; returns the page."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            atomic_write(folder / name, lambda tmp, data=data: Path(tmp).write_bytes(data))
        page = folder / "index.html"
        html_bytes = self.render().encode("utf-8")
        return atomic_write(page, lambda tmp: Path(tmp).write_bytes(html_bytes))
