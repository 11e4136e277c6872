"""Self-contained HTML reports: one file that opens from disk, every image inlined as a data URI.

Shared by `artbandit simulate`, `artbandit replay` and the demo so every report looks and behaves the
same: charts are drawn with simulations.reports.plotstyle, tables format numbers with its one number format,
and every string that came from a user (scenario, segment, title, variant, policy names, paths) is
escaped here or by the caller with `html.escape` before it reaches the page.
"""

from __future__ import annotations

import base64
import html
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from safeio.atomic import write_text_atomic
from simulations.reports import plotstyle  # selects the Agg backend before pyplot is imported anywhere

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;border-bottom:2px solid #444;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto}
.flag{color:#b00;font-weight:600}.note{color:#555;font-size:.9em}
td.loss{color:#b2182b;font-weight:600;white-space:nowrap}td.gain{color:#1b7837;white-space:nowrap}
td.na{color:#888}
.thumbs{display:flex;flex-wrap:wrap;gap:.6em}.thumbs figure{margin:0;text-align:center;font-size:.8em}
.thumbs img{height:150px;border:1px solid #ccc}
"""


def png_data_uri(fig_or_path: Any, *, dpi: int = plotstyle.DPI, tight: bool = True) -> str:
    """A `data:` URI for a matplotlib Figure (rendered to PNG, then closed) or an image file on disk.

    Inlining keeps the report a single file that still shows its plots after being mailed or moved.
    tight=False saves without bbox_inches="tight", which draws the figure twice: for figures whose
    constrained layout already keeps everything on the canvas (plotstyle.figure), it only trims a
    few pixels of margin, and skipping it saves ~15% of the drawing time.
    """
    if isinstance(fig_or_path, (str, Path)):
        path = Path(fig_or_path)
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        data = path.read_bytes()
    else:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        with plotstyle.style():
            fig_or_path.savefig(
                buf,
                format="png",
                dpi=dpi,
                bbox_inches="tight" if tight else None,
                pad_inches=0.1,
                metadata={"Software": None},
            )
        plt.close(fig_or_path)
        mime, data = "image/png", buf.getvalue()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_data_uri(path: str | Path, *, height: int = 150) -> str:
    """A small JPEG `data:` URI of an image file, so galleries of artwork keep the report light."""
    from PIL import Image

    with Image.open(path) as opened:
        im = opened.convert("RGB")
        w = max(1, round(im.width * height / max(im.height, 1)))
        im = im.resize((w, height), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=82)
    return f"data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def img_tag(fig_or_path: Any, alt: str = "", *, dpi: int = plotstyle.DPI, tight: bool = True) -> str:
    """An <img> element with the figure or file inlined (tight: see png_data_uri)."""
    return f'<img alt="{html.escape(alt)}" src="{png_data_uri(fig_or_path, dpi=dpi, tight=tight)}">'


@dataclass(frozen=True)
class Cell:
    """A table cell with a CSS class (e.g. "loss" shows a negative lift in red); text is escaped."""

    text: str
    css: str = ""


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 4) -> str:
    """A plain HTML table; numbers in plotstyle's one format (`digits` decimals), everything escaped."""

    def cell(value: Any) -> str:
        if isinstance(value, Cell):
            css = f' class="{html.escape(value.css)}"' if value.css else ""
            return f"<td{css}>{html.escape(value.text)}</td>"
        if isinstance(value, str):
            return f"<td>{html.escape(value)}</td>"
        return f"<td>{html.escape(plotstyle.format_number(value, digits))}</td>"

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(path: str | Path, title: str, sections: list[tuple[str, str]]) -> None:
    """Write a self-contained HTML page atomically.

    `sections` is a list of (heading, html_body); bodies are trusted HTML built by the caller
    (use `html.escape`, `html_table` and `img_tag` to build them).
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, body in sections:
        parts.append(f"<section><h2>{html.escape(heading)}</h2>\n{body}\n</section>")
    parts.append("</body></html>\n")
    write_text_atomic(Path(path), "\n".join(parts))
