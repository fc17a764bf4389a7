"""The report's two pictures, as inline SVG: a failing network drawn as its layers, each marked
with the verdict of every equation there; and a heatmap of a wrong tensor, entry by entry.

Both are readable without colour: every mark carries its word ("ok", "ROOT", "wrong", "not
sent"), and every heatmap entry beyond the tolerance its sign ("+": got above expected, "−":
below; "?" NaN, "∞" infinite). Colour only adds the magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..agreement import delta_equation
from .page import esc

# --- the marks of the layer diagram -----------------------------------------------------------

OK, ROOT, WRONG, NOT_SENT = "ok", "root", "wrong", "not-sent"
MARK_WORDS = {OK: "ok", ROOT: "ROOT", WRONG: "wrong", NOT_SENT: "not sent"}
# the columns under each layer l: what is judged there, and by which equation
COLUMNS = (("forward", "z, a"), ("delta", "δ"), ("dC/db", "∂C/∂b"), ("dC/dW", "∂C/∂W"))


@dataclass(frozen=True)
class Mark:
    """One badge of the diagram: at `layer` (None: the cost), the `column` of COLUMNS."""

    layer: Optional[int]
    column: str
    equation: str
    status: str
    note: str = ""  # e.g. "inferred from ∂C/∂b"


def column_equation(column: str, layer: Optional[int], L: int) -> str:
    if column == "forward":
        return "forward"
    if column == "delta":
        return delta_equation(layer, L)
    return "BP3" if column == "dC/db" else "BP4"


def column_of(quantity: str) -> str:
    """The diagram column a judged quantity belongs to."""
    return "forward" if quantity in ("z", "a", "cost") else quantity


def layer_diagram(sizes: Sequence[int], activations: Sequence[str], cost: str, marks: Sequence[Mark]) -> str:
    """The network from its input to its cost, left to right: each layer's width and activation,
    the W^l joining it to the layer before, and under it one badge per equation judged there."""
    L = len(sizes) - 1
    col_w, top, neuron_h, badge_h = 150, 34, 14, 24
    shown = [min(n, 8) for n in sizes]
    body_h = max(shown) * neuron_h + 30
    badges_y = top + body_h + 4
    height = badges_y + len(COLUMNS) * (badge_h + 4) + 10
    width = col_w * (L + 2) + 10
    by_place = {(m.layer, m.column): m for m in marks}
    parts = [f'<svg class="diagram" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">',
             f'<title>the network: sizes {esc(list(sizes))}, cost {esc(cost)}, each layer marked with its verdicts'
             f'</title>']
    centre = lambda l: 10 + col_w * l + col_w // 2  # noqa: E731
    for l in range(1, L + 1):  # W^l between layer l−1 and l, drawn first so the neurons sit on top
        x0, x1 = centre(l - 1) + 18, centre(l) - 18
        mid_y = top + body_h // 2
        parts.append(f'<line x1="{x0}" y1="{mid_y}" x2="{x1}" y2="{mid_y}" class="wire"/>'
                     f'<text x="{(x0 + x1) // 2}" y="{mid_y - 6}" class="wlabel">W{superscript(l)}</text>')
    for l, n in enumerate(sizes):
        cx = centre(l)
        title = "input" if l == 0 else ("output" if l == L else "hidden")
        parts.append(f'<g class="layer" data-layer="{l}">'
                     f'<text x="{cx}" y="14" class="ltitle">{"x" if l == 0 else f"layer {l}"} ({title})</text>'
                     f'<text x="{cx}" y="28" class="lsub">n = {n}{"" if l == 0 else ", " + esc(activations[l - 1])}'
                     f'</text>')
        y0 = top + (body_h - 30 - shown[l] * neuron_h) // 2 + 8
        for i in range(shown[l]):
            parts.append(f'<circle cx="{cx}" cy="{y0 + i * neuron_h}" r="5" class="neuron"/>')
        if n > shown[l]:
            parts.append(f'<text x="{cx}" y="{y0 + shown[l] * neuron_h + 4}" class="lsub">⋮ {n} in all</text>')
        if l > 0:
            for row, (column, label) in enumerate(COLUMNS):
                mark = by_place.get((l, column)) or Mark(l, column, column_equation(column, l, L), NOT_SENT)
                parts.append(_badge(cx, badges_y + row * (badge_h + 4), label, mark, col_w - 12, badge_h))
        parts.append("</g>")
    cx = centre(L + 1)  # the cost, judged in the forward pass
    parts.append(f'<g class="layer" data-layer="cost"><text x="{cx}" y="14" class="ltitle">cost C</text>'
                 f'<text x="{cx}" y="28" class="lsub">{esc(cost)}</text>'
                 f'<line x1="{centre(L) + 18}" y1="{top + body_h // 2}" x2="{cx - 18}" y2="{top + body_h // 2}" '
                 f'class="wire"/><rect x="{cx - 14}" y="{top + body_h // 2 - 14}" width="28" height="28" '
                 f'class="neuron"/>')
    mark = by_place.get((None, "forward")) or Mark(None, "forward", "forward", NOT_SENT)
    parts.append(_badge(cx, badges_y, "C", mark, col_w - 12, badge_h) + "</g>")
    parts.append("</svg>")
    return "".join(parts)


def _badge(cx: int, y: int, label: str, mark: Mark, w: int, h: int) -> str:
    word = MARK_WORDS[mark.status]
    equation = "" if mark.equation == "forward" else f" {mark.equation}"
    note = f" ({mark.note})" if mark.note else ""
    text = f"{label}{equation}: {word}"
    return (f'<g class="mark {mark.status}" data-equation="{esc(mark.equation)}" data-status="{mark.status}" '
            f'data-column="{esc(mark.column)}"><title>{esc(text + note)}</title>'
            f'<rect x="{cx - w // 2}" y="{y}" width="{w}" height="{h}" rx="4"/>'
            f'<text x="{cx}" y="{y + h // 2 + 4}">{esc(text)}{"*" if mark.note else ""}</text></g>')


def superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


# --- heatmaps ----------------------------------------------------------------------------------

MAX_CELLS = 32  # per side; a larger tensor is shown in blocks, each cell its block's worst entry
DECADES = 6  # the colour saturates at 10^6 × the tolerance


def ratios(got: np.ndarray, expected: np.ndarray, bound: float) -> np.ndarray:
    """(got − expected) ÷ tolerance, entry by entry: beyond ±1 fails. NaN where got is NaN, ±inf
    where it is infinite (or differs from expected under a tolerance of 0)."""
    with np.errstate(all="ignore"):
        diff = np.asarray(got, dtype=np.float64) - np.asarray(expected, dtype=np.float64)
        if bound > 0:
            return diff / bound
        return np.where(diff == 0, 0.0, np.sign(diff) * np.inf)


def grid_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """A tensor's shape as rows × columns: a vector is one row, a scalar one cell."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], int(np.prod(shape[1:]))


def as_grid(r: np.ndarray) -> np.ndarray:
    """A tensor's ratios as rows × columns (grid_shape)."""
    r = np.asarray(r, dtype=np.float64)
    return r.reshape(grid_shape(r.shape))


def block_size(shape: tuple[int, int], limit: int = MAX_CELLS) -> tuple[int, int]:
    """Rows and columns per block, so that at most limit × limit blocks remain."""
    return max(1, math.ceil(shape[0] / limit)), max(1, math.ceil(shape[1] / limit))


def blocks(grid: np.ndarray, limit: int = MAX_CELLS) -> tuple[np.ndarray, int, int]:
    """The grid cut into at most limit × limit blocks, each shown as its worst entry (NaN worst of
    all, then the largest |ratio|, its sign kept); returns it with the block's rows and columns."""
    rows, cols = grid.shape
    br, bc = block_size(grid.shape, limit)
    if br == bc == 1:
        return grid, 1, 1
    out = np.zeros((math.ceil(rows / br), math.ceil(cols / bc)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = grid[i * br:(i + 1) * br, j * bc:(j + 1) * bc].ravel()
            key = np.where(np.isnan(block), np.inf, np.abs(block))
            out[i, j] = block[int(np.argmax(key))]
    return out, br, bc


def colour(ratio: float) -> str:
    """White-ish within the tolerance; beyond it red (got above expected) or blue (below), darker
    with each decade up to 10^DECADES; NaN black."""
    if math.isnan(ratio):
        return "#000000"
    size = abs(ratio)
    if size <= 1:
        return "#f3f3f3"
    t = min(math.log10(size) / DECADES, 1.0) if math.isfinite(size) else 1.0
    light, dark = ((252, 187, 161), (103, 0, 13)) if ratio > 0 else ((198, 219, 239), (8, 48, 107))
    rgb = (round(a + (b - a) * t) for a, b in zip(light, dark))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def glyph(ratio: float) -> str:
    if math.isnan(ratio):
        return "?"
    if abs(ratio) <= 1:
        return ""
    if math.isinf(ratio):
        return "∞"
    return "+" if ratio > 0 else "−"


def heatmap_caption(shape: tuple[int, ...], row_label: str, column_label: str) -> str:
    """What the heatmap's rows and columns are, and in blocks of how many if it is large."""
    br, bc = block_size(grid_shape(shape))
    rows = f"rows ↓ {row_label}" + (f", in blocks of {br}" if br > 1 else "")
    cols = f"columns → {column_label}" + (f", in blocks of {bc}" if bc > 1 else "")
    return f"{rows}; {cols}"


def heatmap(r: np.ndarray, row_label: str, column_label: str, worst: Optional[tuple[int, ...]] = None) -> str:
    """A tensor's (got − expected) ÷ tolerance (`ratios`) as an SVG grid (rows × columns), the
    worst entry outlined; each entry beyond the tolerance carries its sign as a glyph."""
    grid = as_grid(r)
    shown, br, bc = blocks(grid)
    rows, cols = shown.shape
    cell = min(22, 360 // max(rows, cols))  # ≥ 11 px with ≤ MAX_CELLS a side: room for a glyph
    left, top = 30, 14  # room for the ticks; the axes are named in the caption beside it
    width, height = left + cols * cell + 8, top + rows * cell + 8
    parts = [f'<svg class="heatmap" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" data-rows="{grid.shape[0]}" data-columns="{grid.shape[1]}" '
             f'data-beyond="{int(np.sum(~(np.abs(grid) <= 1)))}">',
             f'<title>(got − expected) ÷ tolerance; rows: {esc(row_label)}; columns: {esc(column_label)}</title>',
             f'<rect x="{left}" y="{top}" width="{cols * cell}" height="{rows * cell}" fill="#f3f3f3" '
             f'class="within"/>']
    for j in range(cols):
        if cols <= 12 or j % 4 == 0:
            parts.append(f'<text x="{left + j * cell + cell / 2:g}" y="{top - 4}" class="tick">{j * bc}</text>')
    for i in range(rows):
        if rows <= 12 or i % 4 == 0:
            parts.append(f'<text x="{left - 4}" y="{top + i * cell + cell / 2 + 3:g}" class="tick" '
                         f'text-anchor="end">{i * br}</text>')
    with np.errstate(all="ignore"):
        beyond = ~(np.abs(shown) <= 1)
    for i, j in zip(*np.nonzero(beyond)):
        ratio = float(shown[i, j])
        x, y = left + j * cell, top + i * cell
        where = f"[{i * br}, {j * bc}]" + (" (worst of its block)" if br * bc > 1 else "")
        tip = f"<title>{where}: {_ratio_text(ratio)}</title>"
        fill = ' fill="#fff"' if _dark(ratio) else ""
        text = (f'<text x="{x + cell / 2:g}" y="{y + cell / 2 + cell * 0.3:g}" class="glyph" '
                f'font-size="{cell * 0.8:g}"{fill}>{glyph(ratio)}</text>')
        parts.append(f'<g class="beyond"><rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                     f'fill="{colour(ratio)}"/>{text}{tip}</g>')
    if worst is not None and len(worst) == np.ndim(r) and grid.size:
        flat = np.ravel_multi_index(worst, np.shape(r)) if np.ndim(r) else 0
        i, j = divmod(int(flat), grid.shape[1])
        x, y = left + (j // bc) * cell, top + (i // br) * cell
        parts.append(f'<g class="worst"><title>the worst entry {list(worst)}</title>'
                     f'<rect x="{x - 1}" y="{y - 1}" width="{cell + 2}" height="{cell + 2}" class="outer"/>'
                     f'<rect x="{x + 1.5}" y="{y + 1.5}" width="{cell - 3}" height="{cell - 3}" class="inner"/></g>')
    parts.append("</svg>")
    return "".join(parts)


def _dark(ratio: float) -> bool:
    return math.isnan(ratio) or abs(ratio) >= 10 ** (DECADES / 2)


def _ratio_text(r: float) -> str:
    if math.isnan(r):
        return "got NaN"
    if math.isinf(r):
        return f"{'+' if r > 0 else '−'}∞ × the tolerance"
    return f"{r:+.3g} × the tolerance"


def legend() -> str:
    """The colour scale, with the words that make it readable without colour."""
    steps = [(f"+10^{k}" if k else "+1", colour(10.0 ** k + 1e-9)) for k in range(0, DECADES + 1, 2)]
    steps += [(f"−10^{k}" if k else "−1", colour(-(10.0 ** k + 1e-9))) for k in range(0, DECADES + 1, 2)]
    cells = "".join(f'<span class="swatch" style="background:{c}"></span>{esc(label)}× ' for label, c in steps)
    return (f'<p class="legend">Heatmaps: (got − expected) ÷ tolerance per entry. Within the tolerance '
            f'(|ratio| ≤ 1): <span class="swatch" style="background:#f3f3f3"></span>blank. Beyond it: "+" got above '
            f'expected, "−" below, "?" NaN, "∞" infinite; the colour darkens per decade: {cells}(saturates at '
            f'10^{DECADES}). The worst entry is outlined. A tensor larger than {MAX_CELLS}×{MAX_CELLS} is shown in '
            f'blocks, each its worst entry.</p>')
