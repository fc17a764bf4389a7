"""A failing case as the report shows it: the request, the network marked equation by equation,
the root cause and its hint, and a heatmap of each wrong tensor with its worst entry beside it.

`FailingCase` is what check, grade and verify have in common; each builds it from its own
result: one `from_verdict` for every command (check and grade through `from_check`; verify in
bp_oracle/sweep/verify_page.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from bp_spec import Network

from ..tolerance import Comparison, Tolerance
from .page import esc, number
from .pictures import (COLUMNS, NOT_SENT, OK, ROOT, WRONG, Mark, column_equation, column_of, heatmap, heatmap_caption,
                       layer_diagram, ratios, superscript)

CASE_BUDGET = 500_000  # bytes of heatmaps per case: beyond it the other wrong tensors are listed
SYMBOLS = {"z": "z", "a": "a", "cost": "C", "delta": "δ", "dC/db": "∂C/∂b", "dC/dW": "∂C/∂W"}
BLAMED_COLUMN = {"BP1": "delta", "BP2": "delta", "BP3": "dC/db", "BP4": "dC/dW"}


@dataclass
class WrongTensor:
    """One tensor outside its tolerance; `equation` is the one blamed (the root may be blamed on
    an equation other than its own quantity's, e.g. BP2 inferred from a wrong ∂C/∂b)."""

    quantity: str
    layer: Optional[int]
    equation: str
    comparison: Comparison
    got: Optional[np.ndarray] = None
    expected: Optional[np.ndarray] = None
    root: bool = False
    inferred: bool = False
    hint: Optional[str] = None

    @property
    def name(self) -> str:
        return SYMBOLS[self.quantity] + (superscript(self.layer) if self.layer else "")


@dataclass
class FailingCase:
    ident: str
    net: Network
    m: int
    dtype: str
    tolerance: Optional[Tolerance]
    sent: tuple[str, ...]  # what the answer gave: "z", "a", "cost", "delta", "grads"
    wrong: list[WrongTensor]
    headline: str  # the root cause in one line
    notes: list[str] = field(default_factory=list)  # a verdict, witnesses, a replay command

    @property
    def root(self) -> Optional[WrongTensor]:
        return next((w for w in self.wrong if w.root), self.wrong[0] if self.wrong else None)


def from_verdict(ident: str, net: Network, m: int, dtype: str, tolerance: Optional[Tolerance], verdict,
                 candidate_name: str = "the implementation", tensors: Optional[dict] = None,
                 notes: Sequence[str] = ()) -> FailingCase:
    """A FAIL as the report shows it, whichever command judged it: the verdict's findings (root
    cause first, with its hint), the witnesses and which side they blame if any were asked, then
    `notes` (a replay command). `tensors` gives (got, expected) by (quantity, layer) where the
    findings do not keep them (a sweep keeps them for its first failures only)."""
    tensors = tensors or {}
    wrong = []
    for f in verdict.findings:
        got, expected = (f.got, f.expected) if f.got is not None else tensors.get((f.check.quantity, f.check.layer),
                                                                                 (None, None))
        wrong.append(WrongTensor(f.check.quantity, f.check.layer, f.equation, f.check.comparison, got, expected,
                                 f.root, f.inferred, f.hint))
    root = verdict.root
    return FailingCase(ident, net, m, dtype, tolerance, verdict.sent, wrong,
                       root.line(ident) if root else verdict.message,
                       [*verdict.witness_lines(candidate_name), *notes])


def from_check(result, dtype: str) -> FailingCase:
    """A check's or grade's FAIL (bp_oracle.check.CheckedCase) as the report shows it."""
    return from_verdict(result.case.id, result.case.net, result.case.m, dtype, result.tolerance, result.verdict)


def marks(case: FailingCase) -> list[Mark]:
    """Every badge of the diagram: ROOT where the root cause is blamed, wrong where a tensor is
    outside its tolerance, ok where it was sent and judged right, not sent otherwise."""
    L = case.net.L
    sent = set(case.sent)
    places: dict[tuple, tuple[str, str]] = {}
    for w in case.wrong:
        places.setdefault((w.layer, column_of(w.quantity)), (WRONG, ""))
    root = case.root
    if root is not None:
        column = BLAMED_COLUMN.get(root.equation, column_of(root.quantity))
        note = "inferred: no δ was sent" if root.inferred or (column == "delta" and "delta" not in sent) else ""
        places[(root.layer, column)] = (ROOT, note)
    out = []
    for l in range(1, L + 1):
        for column, _ in COLUMNS:
            given = {"forward": bool(sent & {"z", "a"}), "delta": "delta" in sent}.get(column, True)
            status, note = places.get((l, column), (OK if given else NOT_SENT, ""))
            out.append(Mark(l, column, column_equation(column, l, L), status, note))
    status, note = places.get((None, "forward"), (OK if "cost" in sent else NOT_SENT, ""))
    out.append(Mark(None, "forward", "forward", status, note))
    return out


def axes(quantity: str, layer: Optional[int]) -> tuple[str, str]:
    """What a tensor's rows and columns are."""
    if quantity == "dC/dW":
        return f"j, neuron of layer {layer}", f"k, neuron of layer {layer - 1}"
    if quantity == "dC/db":
        return "(one row)", f"j, neuron of layer {layer}"
    return "x, example of the batch", f"j, neuron of layer {layer}"


def request_line(case: FailingCase) -> str:
    net, tol = case.net, case.tolerance
    reg = ", ".join(f"{k} = {getattr(net, k):g}" for k in ("l2", "l1") if getattr(net, k)) or "no regularisation"
    how = f"; tolerance rtol {tol.rtol:.3g}, atol {tol.atol:.3g}" if tol else ""
    return (f"sizes {list(net.sizes)}, activations ({', '.join(net.activations)}), cost {net.cost}, {reg}, "
            f"m = {case.m}, {case.dtype}{how}")


def section(case: FailingCase) -> str:
    """The case in full: headline, request, diagram, heatmaps."""
    root = case.root
    where = f"{root.equation} at layer {root.layer}" if root and root.layer else (root.equation if root else "")
    parts = [f'<section class="case" id="case-{esc(case.ident)}" data-case="{esc(case.ident)}">',
             f'<h3>{esc(case.ident)}: {esc(where)}</h3>',
             f'<p class="root">Root cause: {esc(case.headline)}</p>']
    if root and root.hint:
        parts.append(f'<p class="hint">Hint: {esc(root.hint)}</p>')
    parts.append(f'<p class="dim">Request: {esc(request_line(case))}</p>')
    parts.append(f'<div class="scroll">{layer_diagram(case.net.sizes, case.net.activations, case.net.cost, marks(case))}'
                 f'</div>')
    parts.append('<p class="muted">Under each layer: its forward pass (z, a), δ (BP1 at the output, BP2 below), '
                 '∂C/∂b (BP3) and ∂C/∂W (BP4), each ROOT (the first wrong in the order errors propagate), wrong '
                 '(follows from it), ok (sent and right) or not sent; * inferred from the gradients.</p>')
    drawn = 0  # every wrong tensor drawn, the root cause first, while the case stays under its budget
    for w in case.wrong:
        if drawn and sum(map(len, parts)) > CASE_BUDGET:
            break
        parts.append(tensor_block(w))
        drawn += 1
    rest = case.wrong[drawn:]
    if rest:
        parts.append("<p>Also wrong, not drawn (the pictures of this case would pass its size budget): "
                     + esc(", ".join(f"{w.name} ({w.equation}, worst error {w.comparison.error / w.comparison.bound:.3g}"
                                     f" × tolerance)" if w.comparison.bound > 0 else w.name for w in rest)) + '</p>')
    if case.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in case.notes) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def tensor_block(w: WrongTensor) -> str:
    c = w.comparison
    role = "root cause" if w.root else "follows from the root cause"
    title = f"{w.name}: {w.equation}{' (inferred)' if w.inferred else ''}, {role}"
    rows = [("worst entry", f"[{', '.join(map(str, c.index))}]" if c.index else "(scalar)"),
            ("got", f"{c.got:.17g}"), ("expected", f"{c.expected:.17g}"),
            ("error |got − expected|", number(c.error)), ("tolerance", number(c.bound)),
            ("error ÷ tolerance", f"{c.error / c.bound:.3g}" if c.bound > 0 else "∞")]
    picture = ""
    if w.got is not None and w.expected is not None and np.shape(w.got) == np.shape(w.expected) and np.ndim(w.got):
        r_label, c_label = axes(w.quantity, w.layer)
        r = ratios(w.got, w.expected, c.bound)
        rows.append(("entries beyond tolerance", f"{int(np.sum(~(np.abs(r) <= 1)))} of {r.size}"))
        picture = (f'<p class="caption">{esc(heatmap_caption(r.shape, r_label, c_label))}</p>'
                   + heatmap(r, r_label, c_label, c.index or None))
    cells = "".join(f'<tr><th class="text">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in rows)
    hint = f'<p class="hint">Hint: {esc(w.hint)}</p>' if w.hint and not w.root else ""
    return (f'<div class="tensor" data-quantity="{esc(w.quantity)}" data-layer="{w.layer or ""}" '
            f'data-equation="{esc(w.equation)}" data-root="{str(w.root).lower()}">'
            f'<div><h4>{esc(title)}</h4>{picture}</div><div><table>{cells}</table>{hint}</div></div>')


FULL_CASES = 20  # failing cases drawn in full; the rest are listed, one line each
BYTE_BUDGET = 3_000_000  # …and fewer if their pictures would pass this, so a page stays quick to open


def in_full(cases: list[FailingCase], limit: int = FULL_CASES, budget: int = BYTE_BUDGET) -> tuple[list[str], int]:
    """The sections of the first failing cases, up to `limit` of them and `budget` bytes (at least
    one); returns them and how many cases they cover."""
    out, size = [], 0
    for case in cases[:limit]:
        text = section(case)
        if out and size + len(text) > budget:
            break
        out.append(text)
        size += len(text)
    return out, len(out)
