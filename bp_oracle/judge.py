"""The verdict on one response: which equation at which layer is wrong, and why it may be.

Judging runs in the order errors propagate: forward (z, a, cost) → BP1 (δ^L) → BP2 (δ^l, from
the top down) → BP3 (∂C/∂b) → BP4 (∂C/∂W). The first failure is the root cause; every later one
is marked as following from it.

With per-example δ in the response the blame is exact. From gradients alone it is inferred:
∂C/∂b^l is the batch mean of δ^l (BP3), so a wrong ∂C/∂b at the output layer points to BP1, a
wrong ∂C/∂b at a hidden layer (with the layers above right) to BP2 there, and right biases with a
wrong ∂C/∂W to BP4. Known signatures of common bugs (got ≈ m·expected, ≈ −expected, ≈ expectedᵀ,
δ^L = ∇_a C, …) are recognised and reported as hints; a batch-reduction or bias-regularisation
signature moves the blame to BP3, where that bug lives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Optional

import numpy as np

from autodiff_ref.reference import regularisation_gradient
from bp_spec import L1_SLOPE_AT_ZERO, Layer, Network

from .agreement import Check, agreement, tensor_of
from .expected import Expected
from .tolerance import Tolerance, compare
from .suites import OracleCase

PASS, FAIL, ERROR, SKIP = "PASS", "FAIL", "ERROR", "SKIP"

# hints whose bug lives in the batch mean or the bias gradient, i.e. in BP3 (and BP4's 1/m)
BP3_SIGNATURES = ("sum instead of mean", "only the last example used", "only the first example used",
                  "L2 applied to the biases", "the regularisation gradient divided by m")

FLIPPED = "got ≈ −expected: the sign of the gradient is flipped"
FLIPPED_GRAD_A = ("the sign of ∇_a C is flipped (δ^L = y − a instead of a − y): every δ, and the cost's "
                  "part of every gradient, has the wrong sign")
DELTAS_OVER_M = ("δ divided by m: the per-example δ^{x,l} = ∂C_x/∂z^{x,l} was taken of the mean cost "
                 "(1/m too many), and the gradients then averaged again")
TEXTBOOK_BP1 = ("BP1 in its textbook form ∇_a C ⊙ σ'(z^L) (or J_σᵀ ∇_a C for softmax) loses its digits near "
                "saturation: ∇_a C = (a − y)/(a(1 − a)) divides by a 1 − a that has cancelled; use δ^L = a − y "
                "(for softmax, the derived form without 1/(1 − a_k))")

QUANTITY_NAMES = {"z": "z", "a": "a", "cost": "C", "delta": "δ", "dC/db": "∂C/∂b", "dC/dW": "∂C/∂W"}


@dataclass
class Finding:
    """One wrong tensor. `root` marks the root cause; the others follow from it."""

    check: Check
    equation: str
    hint: Optional[str] = None
    inferred: bool = False  # the equation was inferred from gradients alone
    root: bool = False
    # the whole tensors, for a picture of where they differ (the HTML report's heatmaps): what was
    # sent, and the right answers it was judged against (float64; None where not kept)
    got: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    expected: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The tensor, as "BP4 dC/dW at layer 2"."""
        layer = f" at layer {self.check.layer}" if self.check.layer else ""
        return f"{self.check.equation} {self.check.quantity}{layer}"

    def line(self, case_id: str) -> str:
        c = self.check.comparison
        layer = f" at layer {self.check.layer}" if self.check.layer is not None else ""
        idx = f"[{', '.join(map(str, c.index))}]" if c.index else ""
        quantity = QUANTITY_NAMES[self.check.quantity]
        how = " (inferred from ∂C/∂b: no deltas in the response)" if self.inferred else ""
        text = (f"{case_id}: {self.equation}{layer}{how}: {quantity}{idx} got {c.got:.17g}, "
                f"expected {c.expected:.17g}, error {c.error:.3g} > tolerance {c.bound:.3g}")
        return text + (f"; hint: {self.hint}" if self.hint else "")


@dataclass
class Verdict:
    """The verdict on one case, whichever command judged it (check, grade, verify, the fixture).

    outcome: PASS, FAIL, ERROR or SKIP.
    findings: for a FAIL, every wrong tensor, the root cause first.
    message: for ERROR and SKIP, and notes on a PASS (e.g. a kink convention).
    sent: the quantities the response gave, all judged: "z", "a", "cost", "delta", "grads".
    witnesses: finite differences along the disagreements (autodiff_ref.witnesses), where asked for.
    side: which side the witnesses say is wrong, in a line (bp_oracle.triangulation).
    """

    outcome: str
    findings: list[Finding] = field(default_factory=list)
    message: str = ""
    sent: tuple[str, ...] = ()
    witnesses: list = field(default_factory=list)
    side: str = ""

    @property
    def root(self) -> Optional[Finding]:
        return next((f for f in self.findings if f.root), None)

    def failure_lines(self, case_id: str) -> list[str]:
        """A FAIL as every command prints it: the root cause, then what follows from it."""
        lines = [f"FAIL {self.root.line(case_id)}"]
        followers = [f.name for f in self.findings if not f.root]
        if followers:
            lines.append(f"     follows from it: {', '.join(followers)}")
        return lines

    def to_json(self, case_id: str, candidate_name: str = "the implementation") -> dict:
        """The verdict as every JSON report writes it (check's and grade's cases, verify's failures)."""
        doc: dict = {"outcome": self.outcome}
        if self.message:
            doc["message"] = self.message
        if self.findings:
            doc["findings"] = [{
                "root_cause": f.root, "equation": f.equation, "layer": f.check.layer,
                "quantity": f.check.quantity, "index": list(f.check.comparison.index),
                "got": f.check.comparison.got, "expected": f.check.comparison.expected,
                "error": f.check.comparison.error, "tolerance": f.check.comparison.bound,
                "inferred": f.inferred, "hint": f.hint, "line": f.line(case_id),
            } for f in self.findings]
        if self.witnesses or self.side:
            from .triangulation import describe

            doc["witnesses"] = [describe(w, candidate_name) for w in self.witnesses]
            doc["side"] = self.side
        return doc

    def witness_lines(self, candidate_name: str) -> list[str]:
        """Each finite-difference witness, then which side they say is wrong (none if not asked)."""
        from .triangulation import describe

        if not self.witnesses and not self.side:
            return []
        return [f"witness: {describe(w, candidate_name)}" for w in self.witnesses] + [f"verdict: {self.side}"]


@dataclass
class CaseResult:
    """One case judged, whichever command asked it: a suite's case (check, grade, the fixture:
    bp_oracle.check.CheckedCase) or a network of the sweep (verify: bp_oracle.sweep.engine.SweptNetwork).
    What every report, page and JUnit file reads is here; each command adds what is its own."""

    id: str
    net: Network
    m: int
    verdict: Optional[Verdict] = None  # None only for a swept network whose every tensor agrees
    tolerance: Optional[Tolerance] = None  # what the case was judged by
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        return self.verdict.outcome if self.verdict is not None else PASS

    def to_json(self, candidate_name: str = "the implementation") -> dict:
        """The case as every command's JSON report lists it (no timings: the same run gives the
        same bytes)."""
        doc = {"id": self.id, "outcome": self.outcome, "network": self.net.to_dict(), "m": self.m}
        if self.tolerance is not None:
            doc["tolerance"] = {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol}
        if self.verdict is not None:
            doc.update(self.verdict.to_json(self.id, candidate_name))
            doc["outcome"] = self.outcome
        return doc


def _close(got, predicted, tol: Tolerance) -> bool:
    predicted = np.asarray(predicted, dtype=np.float64)
    if np.asarray(got).shape != predicted.shape or not np.all(np.isfinite(predicted)):
        return False
    return compare(got, predicted, tol).ok


def signature(check: Check, got, case: OracleCase, exp: Expected, tol: Tolerance) -> Optional[str]:
    """The name of a known bug whose prediction `got` matches, or None."""
    # a prediction may be infinite (∇_a C where an output rounds to 0 or 1): it matches nothing
    with np.errstate(all="ignore"):
        return _signature(check, got, case, exp, tol)


def _signature(check: Check, got, case: OracleCase, exp: Expected, tol: Tolerance) -> Optional[str]:
    net, m, l = case.net, case.m, check.layer
    expected = tensor_of(exp, check.quantity, check.layer)
    if not np.any(expected):
        return None
    W = case.params[l - 1].W if l else None
    b = case.params[l - 1].b if l else None
    reg = regularisation_gradient(W, net.l2, net.l1) if check.quantity == "dC/dW" and (net.l2 or net.l1) else 0.0
    candidates: list[tuple[str, object]] = []
    if check.quantity in ("dC/db", "dC/dW") and m > 1:
        candidates += [("sum instead of mean", m * expected),
                       ("sum instead of mean", m * (expected - reg) + reg),
                       (DELTAS_OVER_M, (expected - reg) / m + reg)]
        if check.quantity == "dC/dW" and np.any(reg):
            candidates.append(("the regularisation gradient divided by m", expected - reg + reg / m))
        if exp.delta is not None:
            a_prev = case.x if l == 1 else exp.a[l - 2]
            for name, x in (("only the last example used", -1), ("only the first example used", 0)):
                d = exp.delta[l - 1][x]
                candidates.append((name, d if check.quantity == "dC/db" else np.outer(d, a_prev[x]) + reg))
    if check.quantity == "delta" and m > 1:
        candidates.append((DELTAS_OVER_M, expected / m))
    if check.quantity == "dC/dW" and np.any(reg):
        candidates.append((FLIPPED_GRAD_A, -(expected - reg) + reg))
    candidates.append((FLIPPED, -expected))
    if np.ndim(expected) == 2 and expected.shape[0] == expected.shape[1]:
        candidates.append(("got ≈ expectedᵀ: a transpose is missing or extra", expected.T))
    if check.quantity == "dC/db" and net.l2:
        candidates.append(("L2 applied to the biases", expected + net.l2 * b))
    if check.quantity == "dC/dW" and net.l2:
        candidates += [("half the L2 gradient (l2/2 · W instead of l2 · W)", expected - 0.5 * net.l2 * W),
                       ("the L2 gradient l2 · W is missing", expected - net.l2 * W),
                       ("the L2 gradient is doubled", expected + net.l2 * W)]
    if check.quantity == "dC/dW" and net.l1:
        candidates.append(("the L1 gradient l1 · sign(W) is missing", expected - net.l1 * np.sign(W)))
    if l == net.L and exp.grad_a_cost is not None:
        g = exp.grad_a_cost
        a_prev = case.x if l == 1 else exp.a[l - 2]
        missing = {"delta": g, "dC/db": g.mean(axis=0), "dC/dW": g.T @ a_prev / m + reg}
        if check.quantity in missing:
            candidates.append(("δ^L = ∇_a C: the ⊙ σ'(z^L) of BP1 is missing", missing[check.quantity]))
        if exp.sigma_prime_L is not None:
            d = exp.delta[-1] * exp.sigma_prime_L
            extra = {"delta": d, "dC/db": d.mean(axis=0), "dC/dW": d.T @ a_prev / m + reg}
            if check.quantity in extra:
                candidates.append(("an extra ⊙ σ'(z^L) in BP1 (δ^L = a − y already includes it)",
                                   extra[check.quantity]))
    for name, predicted in candidates:
        if _close(got, predicted, tol):
            return name
    return None


def _failures(got, exp: Expected, tol: Tolerance) -> list[Check]:
    return [c for c in agreement(got, exp, tol) if not c.ok]


# --- where a derivative is a choice: any subgradient is right ------------------------------------


def _tensors(record, with_deltas: bool) -> list[np.ndarray]:
    out = [np.asarray(d, dtype=np.float64) for d in record.delta] if with_deltas else []
    for W, b in record.grads:
        out += [np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)]
    return out


def _blend(exp: Expected, weights: dict[str, float]) -> Expected:
    """exp + Σ_k t_k (answers with activation k's other slope − exp): the answers with σ'(kink)
    of activation k taken t_k of the way from the convention to the other one-sided slope. Exact:
    the suites put at most one unit of an activation on a kink in a path (a zero row of W feeds
    nothing back), so δ and the gradients are affine in each slope and jointly in all of them."""
    delta = [d.copy() for d in exp.delta]
    grads = [Layer(W.copy(), b.copy()) for W, b in exp.grads]
    for name, t in weights.items():
        other = exp.conventions[name]
        for l in range(len(delta)):
            delta[l] += t * (other.delta[l] - exp.delta[l])
            grads[l].W[...] += t * (other.grads[l].W - exp.grads[l].W)
            grads[l].b[...] += t * (other.grads[l].b - exp.grads[l].b)
    return dataclasses.replace(exp, delta=delta, grads=grads)


def _kink_weights(exp: Expected, got, tol: Tolerance) -> dict[str, float]:
    """How far from the convention toward the other one-sided slope `got` took each kinked
    activation (t in [0, 1]): the least-squares fit over the deltas if given (where the slope
    enters first), else over every gradient; and, so that a bug elsewhere cannot pull the fit
    off, every all-convention/all-other choice too, keeping the one that leaves the fewest wrong
    tensors (the fit on a tie)."""
    names = sorted(exp.conventions)
    with_deltas = got.delta is not None
    base = _tensors(exp, with_deltas)
    if with_deltas:
        base = base[:len(exp.delta)]
    given = _tensors(got, with_deltas)[:len(base)]
    residual = np.concatenate([(g - e).ravel() for g, e in zip(given, base)])
    columns = np.stack([np.concatenate([(o - e).ravel() for o, e in zip(_tensors(exp.conventions[n], with_deltas), base)])
                        for n in names], axis=1)
    fit = tuple(np.clip(np.linalg.lstsq(columns, residual, rcond=None)[0], 0.0, 1.0))
    corners = [tuple(float((k >> i) & 1) for i in range(len(names))) for k in range(2 ** len(names))]
    wrong = lambda t: len(_failures(got, _blend(exp, dict(zip(names, t))), tol))  # noqa: E731
    best = min([fit] + corners, key=wrong)
    return dict(zip(names, best))


def _nearest_right_answers(case: OracleCase, exp: Expected, got, tol: Tolerance) -> tuple[Expected, list[str]]:
    """The right answers nearest to `got` where the spec leaves a derivative to choose: for
    units exactly on a kink, σ'(kink) anywhere between its one-sided slopes (relu'(0) in [0, 1],
    leaky_relu'(0) in [0.01, 1]), found by least squares over every tensor given and clipped to
    the interval; for weights exactly 0 under l1, d|w|/dw anywhere in [−1, 1], entry by entry.
    Returns them and a note for each choice `got` made other than the spec's convention."""
    notes = []
    answers = exp.with_conventions()
    if exp.conventions and all(np.all(np.isfinite(g)) for g in _tensors(got, got.delta is not None)):
        weights = _kink_weights(exp, got, tol)
        answers = _blend(exp, weights)
        for name, t_k in weights.items():
            convention, other = exp.kink_slopes[name]
            slope = convention + t_k * (other - convention)
            if abs(slope - convention) > 1e-9:
                notes.append(f"{name}'(0) taken as {slope:.6g}, a subgradient in "
                             f"[{min(convention, other):g}, {max(convention, other):g}]")
    net = case.net
    if net.l1 and any(np.any(W == 0) for W, _ in case.params):
        grads, chosen = [], 0
        for (W, _), (eW, eb), (gW, _) in zip(case.params, answers.grads, got.grads):
            gW = np.asarray(gW, dtype=np.float64)
            lo, hi = eW + net.l1 * (-1 - L1_SLOPE_AT_ZERO), eW + net.l1 * (1 - L1_SLOPE_AT_ZERO)
            at_zero = (W == 0) & np.isfinite(gW) if gW.shape == W.shape else np.zeros(W.shape, bool)
            picked = np.where(at_zero, np.clip(gW if gW.shape == W.shape else eW, lo, hi), eW)
            chosen += int(np.sum(at_zero & (np.abs(picked - eW) > 1e-12 * net.l1)))
            grads.append(Layer(picked, eb))
        answers = dataclasses.replace(answers, grads=grads)
        if chosen:
            notes.append(f"d|w|/dw at w = 0 taken in [-1, 1] for {chosen} weight(s) "
                         f"(the spec's convention is {L1_SLOPE_AT_ZERO:+g})")
    return answers, notes


def judge(case: OracleCase, exp: Expected, response, tol: Tolerance) -> Verdict:
    """Judge a parsed response (fields grads and, optionally, z, a, delta, cost)."""
    got = SimpleNamespace(z=response.z, a=response.a, delta=response.delta, cost=response.cost,
                          grads=response.grads)
    sent = tuple(q for q in ("z", "a", "cost", "delta", "grads") if getattr(got, q) is not None)
    failed = _failures(got, exp, tol)
    if not failed:
        return Verdict(PASS, sent=sent)
    nearest, notes = _nearest_right_answers(case, exp, got, tol)
    if nearest is not exp:
        failed = _failures(got, nearest, tol)
        if not failed:
            return Verdict(PASS, message="accepted: " + "; ".join(notes) + " (at a kink any subgradient is right)",
                           sent=sent)
        exp = nearest  # a bug elsewhere: judged against the right answers nearest to what was sent
    exp.with_hint_data()  # ∇_a C and σ'(z^L), for the hints
    findings = [Finding(c, c.equation, got=tensor_of(got, c.quantity, c.layer),
                        expected=tensor_of(exp, c.quantity, c.layer)) for c in failed]
    reversed_layers = _reversed_layers(got, exp, tol)
    root = _root_cause(findings, got, response.delta is not None)
    for f in findings:
        f.hint = signature(f.check, f.got, case, exp, tol)
    if reversed_layers:
        root.hint = "the gradients are in reversed layer order (got[l] ≈ expected[L + 1 − l])"
        _blame_gradient_assembly(root)
    elif _flipped_grad_a(root, findings, case):
        root.hint = FLIPPED_GRAD_A  # BP1 at the output, where ∇_a C enters, deltas or not
        root.equation = "BP1"
    elif root.check.quantity in ("dC/db", "dC/dW"):
        shared = _shared_assembly_signature(root, findings)
        if shared:
            root.hint = shared
            _blame_gradient_assembly(root)
    if root.equation == "BP1" and not root.hint and _near_saturation(root, case, exp):
        root.hint = TEXTBOOK_BP1
    findings.sort(key=lambda f: not f.root)
    return Verdict(FAIL, findings, sent=sent)


def _flipped_grad_a(root: Finding, findings: list[Finding], case: OracleCase) -> bool:
    """Every wrong tensor is the cost's part negated: ∇_a C's sign. From gradients alone this is
    told apart from a whole gradient negated only by the regularisation's part (not negated);
    without regularisation the two are the same numbers, and BP1, where ∇_a C enters, is blamed."""
    hints = {f.hint for f in findings}
    if root.check.quantity == "delta" and root.check.layer == case.net.L:
        return hints <= {FLIPPED, FLIPPED_GRAD_A}
    if not root.inferred or root.check.layer != case.net.L:
        return False
    if hints == {FLIPPED_GRAD_A} or hints == {FLIPPED_GRAD_A, FLIPPED}:
        return True
    return hints == {FLIPPED} and not (case.net.l2 or case.net.l1)


def _near_saturation(root: Finding, case: OracleCase, exp: Expected) -> bool:
    """The wrong output error sits where cross-entropy's output is within 1e-6 of 0 or 1."""
    if case.net.cost != "cross_entropy" or root.check.quantity not in ("delta", "dC/db", "dC/dW"):
        return False
    a = np.asarray(exp.a[-1])
    idx = root.check.comparison.index
    column = idx[-1] if root.check.quantity != "dC/dW" else idx[0]
    near = np.minimum(a[:, column], 1 - a[:, column]) < 1e-6
    return bool(np.any(near))


def _blame_gradient_assembly(root: Finding) -> None:
    """The δ's may well be right: the bug is in how ∂C/∂b and ∂C/∂W are assembled from them
    (the batch mean, the bias term, the sign, the order): BP3 for ∂C/∂b, BP4 for ∂C/∂W."""
    root.equation = "BP3" if root.check.quantity == "dC/db" else "BP4"
    root.inferred = False


def _shared_assembly_signature(root: Finding, findings: list[Finding]) -> Optional[str]:
    """A signature that places the bug in the gradients' assembly: one of BP3's own (a batch
    reduction, the bias term) on the root, or one that every wrong gradient tensor shares
    (e.g. all negated, which a δ^L bug would explain only if no δ were given)."""
    if root.hint in BP3_SIGNATURES:
        return root.hint
    grads = [f for f in findings if f.check.quantity in ("dC/db", "dC/dW")]
    hints = {f.hint for f in grads}
    if root.inferred and len(hints) == 1 and None not in hints:
        (hint,) = hints
        if hint in BP3_SIGNATURES or hint.startswith("got ≈ −expected"):
            return hint
    biases = [f for f in grads if f.check.quantity == "dC/db"]
    if root.inferred and biases and all(f.hint in BP3_SIGNATURES for f in biases):
        return biases[0].hint
    return None


def _root_cause(findings: list[Finding], got, have_deltas: bool) -> Finding:
    """The first failure in dependency order; from gradients alone, the equation is inferred."""
    forward = [f for f in findings if f.check.equation == "forward"]
    if forward:
        root = min(forward, key=lambda f: (f.check.layer or 10**9, f.check.quantity != "z"))
    elif have_deltas and any(f.check.quantity == "delta" for f in findings):
        root = next(f for f in findings if f.check.quantity == "delta")  # BP1, then BP2 top-down
    else:
        biases = [f for f in findings if f.check.quantity == "dC/db"]
        if biases:
            root = max(biases, key=lambda f: f.check.layer)  # the highest wrong ∂C/∂b
            if not have_deltas:
                L = len(got.grads)
                root.equation = "BP1" if root.check.layer == L else "BP2"
                root.inferred = True
        else:
            root = max(findings, key=lambda f: f.check.layer or 0)  # BP4
    root.root = True
    return root


def _reversed_layers(got, exp: Expected, tol: Tolerance) -> bool:
    L = len(exp.grads)
    if L < 2:
        return False
    flipped = list(reversed(got.grads))
    return all(_close(gW, eW, tol) and _close(gb, eb, tol)
               for (gW, gb), (eW, eb) in zip(flipped, exp.grads))
