"""Report blocks rendered as markdown, or as one self-contained HTML page (plots embedded)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Block", "html_page", "markdown", "plt"]

Block = tuple[str, Any]  # ("h1" | "h2" | "h3" | "p", text), ("table", (header, rows)), ("img", (file, caption))


def plt() -> Any:
    """matplotlib's pyplot on the Agg backend (no screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def markdown(blocks: Sequence[Block]) -> str:
    lines = []
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            lines.append("#" * int(kind[1]) + " " + value)
        elif kind == "p":
            lines.append(value)
        elif kind == "img":
            lines.append(f"![{value[1]}](report/{value[0]})")
        elif kind == "table":
            header, rows = value
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def html_page(blocks: Sequence[Block], plots: Path) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bandlimit reproduction</title><style>"
        "body{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>"
    ]
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(value)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(value)}</p>")
        elif kind == "img":
            data = base64.b64encode((plots / value[0]).read_bytes()).decode()
            parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(value[1])}'>")
            parts.append(f"<figcaption>{html.escape(value[1])}</figcaption></figure>")
        elif kind == "table":
            header, rows = value
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
