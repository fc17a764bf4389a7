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

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Optional

import numpy as np

from autodiff_ref.reference import regularisation_gradient

from .agreement import Check, agreement
from .expected import Expected
from .tolerance import Tolerance, compare
from .suites import OracleCase

PASS, FAIL, ERROR, SKIP = "PASS", "FAIL", "ERROR", "SKIP"

# hints whose bug lives in the batch mean or the bias gradient, i.e. in BP3 (and BP4's 1/m)
BP3_SIGNATURES = ("sum instead of mean", "only the last example used", "only the first example used",
                  "L2 applied to the biases")

QUANTITY_NAMES = {"z": "z", "a": "a", "cost": "C", "delta": "δ", "dC/db": "∂C/∂b", "dC/dW": "∂C/∂W"}


@dataclass
class Finding:
    """One wrong tensor. `root` marks the root cause; the others follow from it."""

    check: Check
    equation: str
    hint: Optional[str] = None
    inferred: bool = False  # the equation was inferred from gradients alone
    root: bool = False

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
    outcome: str
    findings: list[Finding] = field(default_factory=list)
    message: str = ""  # for ERROR and SKIP, and notes on a PASS (e.g. a kink convention)

    @property
    def root(self) -> Optional[Finding]:
        return next((f for f in self.findings if f.root), None)


def _close(got, predicted, tol: Tolerance) -> bool:
    predicted = np.asarray(predicted, dtype=np.float64)
    if np.asarray(got).shape != predicted.shape or not np.all(np.isfinite(predicted)):
        return False
    return compare(got, predicted, tol).ok


def signature(check: Check, got, case: OracleCase, exp: Expected, tol: Tolerance) -> Optional[str]:
    """The name of a known bug whose prediction `got` matches, or None."""
    net, m, l = case.net, case.m, check.layer
    expected = _expected_tensor(check, exp)
    if not np.any(expected):
        return None
    W = case.params[l - 1].W if l else None
    b = case.params[l - 1].b if l else None
    reg = regularisation_gradient(W, net.l2, net.l1) if check.quantity == "dC/dW" and (net.l2 or net.l1) else 0.0
    candidates: list[tuple[str, object]] = []
    if check.quantity in ("dC/db", "dC/dW") and m > 1:
        candidates += [("sum instead of mean", m * expected),
                       ("sum instead of mean", m * (expected - reg) + reg)]
        if exp.delta is not None:
            a_prev = case.x if l == 1 else exp.a[l - 2]
            for name, x in (("only the last example used", -1), ("only the first example used", 0)):
                d = exp.delta[l - 1][x]
                candidates.append((name, d if check.quantity == "dC/db" else np.outer(d, a_prev[x]) + reg))
    candidates.append(("got ≈ −expected: the sign of the gradient is flipped", -expected))
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


def _expected_tensor(check: Check, exp: Expected):
    l = check.layer
    return {"z": lambda: exp.z[l - 1], "a": lambda: exp.a[l - 1], "cost": lambda: np.float64(exp.cost),
            "delta": lambda: exp.delta[l - 1], "dC/db": lambda: exp.grads[l - 1][1],
            "dC/dW": lambda: exp.grads[l - 1][0]}[check.quantity]()


def _got_tensor(check: Check, got):
    l = check.layer
    return {"z": lambda: got.z[l - 1], "a": lambda: got.a[l - 1], "cost": lambda: np.float64(got.cost),
            "delta": lambda: got.delta[l - 1], "dC/db": lambda: got.grads[l - 1][1],
            "dC/dW": lambda: got.grads[l - 1][0]}[check.quantity]()


def _failures(got, exp: Expected, tol: Tolerance) -> list[Check]:
    return [c for c in agreement(got, exp, tol) if not c.ok]


def judge(case: OracleCase, exp: Expected, response, tol: Tolerance) -> Verdict:
    """Judge a parsed response (fields grads and, optionally, z, a, delta, cost)."""
    got = SimpleNamespace(z=response.z, a=response.a, delta=response.delta, cost=response.cost,
                          grads=response.grads)
    failed = _failures(got, exp, tol)
    if not failed:
        return Verdict(PASS)
    for label, other in exp.conventions.items():
        if not _failures(got, other, tol):
            return Verdict(PASS, message=f"accepted under the derivative convention {label} "
                                         f"(a unit sits exactly on its kink; jax uses the other side)")
    exp.with_hint_data()  # ∇_a C and σ'(z^L), for the hints
    findings = [Finding(c, c.equation) for c in failed]
    reversed_layers = _reversed_layers(got, exp, tol)
    root = _root_cause(findings, got, response.delta is not None)
    for f in findings:
        f.hint = signature(f.check, _got_tensor(f.check, got), case, exp, tol)
    if reversed_layers:
        root.hint = "the gradients are in reversed layer order (got[l] ≈ expected[L + 1 − l])"
        _blame_gradient_assembly(root)
    elif root.check.quantity in ("dC/db", "dC/dW"):
        shared = _shared_assembly_signature(root, findings)
        if shared:
            root.hint = shared
            _blame_gradient_assembly(root)
    findings.sort(key=lambda f: not f.root)
    return Verdict(FAIL, findings)


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
