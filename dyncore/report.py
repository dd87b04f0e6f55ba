"""A small report writer: titled sections of text, tables, figures and commands, as Markdown and HTML.

Both files are written from the same structure (no Markdown-to-HTML conversion needed) and link
figures by relative path, so the report folder can be moved or zipped as a whole.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dyncore.io import atomic_write


@dataclass
class Table:
    """Rows of cells under a header; numbers are formatted to 4 significant digits."""

    header: Sequence[str]
    rows: list[Sequence[Any]]
    caption: str = ""


@dataclass
class Section:
    """One step of a report: prose, then tables, figures (paths relative to the report) and commands."""

    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (relative path, caption)
    commands: list[str] = field(default_factory=list)
    error: str = ""  # set when the step failed


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "–"
    return str(value)


def to_markdown(title: str, intro: str, sections: Sequence[Section]) -> str:
    out = [f"# {title}", "", intro, ""]
    for i, s in enumerate(sections, 1):
        out += [f"## {i}. {s.title}", ""]
        if s.error:
            out += [f"**This step failed:** {s.error}", ""]
        if s.text:
            out += [s.text, ""]
        for table in s.tables:
            if table.caption:
                out += [f"*{table.caption}*", ""]
            out.append("| " + " | ".join(table.header) + " |")
            out.append("|" + "---|" * len(table.header))
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
            out.append("")
        for path, caption in s.figures:
            out += [f"![{caption}]({path})", "", f"*{caption}*", ""]
        if s.commands:
            out += ["Reproduce:", "", "```bash", *s.commands, "```", ""]
    return "\n".join(out)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; } pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.error { background: #fee; border-left: 4px solid #c00; padding: 0.6em 1em; }
"""


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p).replace(chr(10), ' ')}</p>" for p in text.split("\n\n") if p.strip())


def to_html(title: str, intro: str, sections: Sequence[Section]) -> str:
    out = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>',
        f"<h1>{html.escape(title)}</h1>",
        _paragraphs(intro),
    ]
    for i, s in enumerate(sections, 1):
        out.append(f"<h2>{i}. {html.escape(s.title)}</h2>")
        if s.error:
            out.append(f'<p class="error"><b>This step failed:</b> {html.escape(s.error)}</p>')
        out.append(_paragraphs(s.text))
        for table in s.tables:
            out.append("<table>")
            if table.caption:
                out.append(f"<caption>{html.escape(table.caption)}</caption>")
            out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.header) + "</tr>")
            for row in table.rows:
                out.append("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>")
            out.append("</table>")
        for path, caption in s.figures:
            out.append(
                f'<figure><img src="{html.escape(path)}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        if s.commands:
            out.append("<p>Reproduce:</p><pre>" + html.escape("\n".join(s.commands)) + "</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(folder: str | os.PathLike, title: str, intro: str, sections: Sequence[Section], metrics: dict[str, Any]) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``metrics.json`` into ``folder`` (atomically each)."""
    folder = Path(folder)
    paths = {"markdown": folder / "report.md", "html": folder / "report.html", "metrics": folder / "metrics.json"}
    with atomic_write(paths["markdown"], "w") as f:
        f.write(to_markdown(title, intro, sections))
    with atomic_write(paths["html"], "w") as f:
        f.write(to_html(title, intro, sections))
    with atomic_write(paths["metrics"], "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True, default=float)
    return paths
