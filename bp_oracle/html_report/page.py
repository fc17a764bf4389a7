"""The page itself: one self-contained HTML file (inline CSS and SVG, images as data: URIs, no
script, nothing fetched: its Content-Security-Policy forbids every network request), opening
with the verdict, the counts and the command that replays the run."""

from __future__ import annotations

import html
from typing import Iterable, Sequence

from ..files import write_atomically

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 16px 24px 48px; color: #1b1b1b; }
h1 { font-size: 22px; margin: 4px 0 12px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 20px 0 6px; } code, pre { font: 12.5px ui-monospace, Menlo, Consolas, monospace; }
pre { background: #f5f5f5; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.verdict { padding: 12px 16px; border-radius: 6px; border: 3px solid; margin: 8px 0 12px; }
.verdict .word { font-size: 22px; font-weight: 700; letter-spacing: .02em; }
.verdict.ok { background: #e8f5e9; border-color: #2e7d32; } .verdict.bad { background: #fdecea; border-color: #c62828; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; padding: 0; list-style: none; }
.counts li { border: 1px solid #bbb; border-radius: 4px; padding: 4px 10px; background: #fff; }
.counts b { font-size: 17px; margin-right: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; }
tr.bad td { background: #fdecea; } tr.unjudged td { background: #f4f4f4; color: #555; font-style: italic; }
.scroll { overflow-x: auto; } nav ul { margin: 4px 0; }
.case { border: 1px solid #ccc; border-left: 6px solid #c62828; border-radius: 4px; padding: 4px 16px 12px; margin: 16px 0; }
.root { font-weight: 600; } .hint { background: #fff8e1; border-left: 3px solid #f9a825; padding: 4px 8px; }
.tensor { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; margin: 10px 0 16px; }
.tensor table { margin: 0; } .dim { color: #555; } .muted { color: #666; font-size: 13px; }
svg text { font: 11px system-ui, sans-serif; } svg .ltitle { font-weight: 600; text-anchor: middle; }
svg .lsub, svg .wlabel { text-anchor: middle; fill: #444; } svg .wire { stroke: #888; stroke-width: 2; }
svg .neuron { fill: #fff; stroke: #555; stroke-width: 1.5; }
svg .mark rect { stroke: #555; stroke-width: 1; } svg .mark text { text-anchor: middle; font-size: 11px; }
svg .mark.ok rect { fill: #dff0d8; } svg .mark.root rect { fill: #c62828; stroke: #000; stroke-width: 2; }
svg .mark.root text { fill: #fff; font-weight: 700; } svg .mark.wrong rect { fill: #ffcc80; }
svg .mark.not-sent rect { fill: #f4f4f4; stroke-dasharray: 3 2; } svg .mark.not-sent text { fill: #666; }
svg .axis { fill: #444; } svg .tick { fill: #666; font-size: 9px; text-anchor: middle; }
svg .glyph { text-anchor: middle; font-weight: 700; } svg .within { stroke: #bbb; stroke-width: 1; }
svg .worst rect { fill: none; } svg .worst .outer { stroke: #000; stroke-width: 2.5; }
svg .worst .inner { stroke: #fff; stroke-width: 1.2; } .caption { font-size: 12px; color: #444; margin: 2px 0; }
.swatch { display: inline-block; width: 14px; height: 12px; border: 1px solid #999; vertical-align: middle; margin: 0 3px; }
img.plot { max-width: 100%; border: 1px solid #ddd; }
details > summary { cursor: pointer; }
"""

# no script, no fetch: a page that tried to load anything would show a console error instead
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def document(title: str, body: Iterable[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def banner(ok: bool, word: str, headline: str, counts: Sequence[tuple[str, int]], command: str,
           lines: Sequence[str] = ()) -> str:
    """The verdict in a word (never colour alone), the summary line, the counts, the replay command."""
    items = "".join(f'<li data-count="{esc(label)}"><b>{n}</b>{esc(label)}</li>' for label, n in counts)
    extra = "".join(f"<p>{esc(line)}</p>" for line in lines)
    return (f'<section class="verdict {"ok" if ok else "bad"}" id="verdict" data-ok="{str(ok).lower()}">'
            f'<div class="word">{"✓" if ok else "✗"} {esc(word)}</div><p>{esc(headline)}</p>'
            f'<ul class="counts">{items}</ul>{extra}'
            f'<p>Replay this run:</p><pre><code class="replay">{esc(command)}</code></pre></section>')


def table(headers: Sequence[str], rows: Iterable[Sequence], text_columns: int = 1, row_attrs=None,
          cls: str = "") -> str:
    """A plain table: the first `text_columns` columns left-aligned; row_attrs(i) → (css class,
    data attributes) of row i."""
    head = "".join(f'<th class="{"text" if i < text_columns else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        klass, data = row_attrs(n) if row_attrs else ("", {})
        attrs = "".join(f' data-{k}="{esc(v)}"' for k, v in data.items())
        cells = "".join(f'<td class="{"text" if i < text_columns else ""}">{cell if isinstance(cell, Raw) else esc(cell)}</td>'
                        for i, cell in enumerate(row))
        body.append(f'<tr class="{klass}"{attrs}>{cells}</tr>')
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


class Raw(str):
    """Markup that `table` puts in a cell as it is (already escaped)."""


def number(x: float) -> str:
    """A number as a reader wants it: 6 significant digits."""
    return f"{x:.6g}"


def write(path: str, text: str) -> None:
    """Write the page atomically: a reader (a CI artifact upload) never sees half a file."""
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))
