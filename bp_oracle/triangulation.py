"""Which side of a disagreement is wrong: the finite-difference witness read as a verdict.

autodiff_ref.witnesses measures, along each disagreement u = (got − ref)/‖got − ref‖, the cost's
directional derivative by central differences, with an error estimate. Reading those numbers as
blame is policy, and policy is the oracle's: a side is believed when it lies within
`WITNESS_SAFETY` error estimates of the witness.
"""

from __future__ import annotations

import math

from autodiff_ref.witnesses import Witness

# Each side is believed when it lies within this many error estimates of the witness.
WITNESS_SAFETY = 10.0

BLAMES = ("candidate", "reference", "neither", "inconclusive", "kink")


def blame(w: Witness) -> str:
    """The side the witness contradicts: "candidate" or "reference"; "neither" (it contradicts
    both); "inconclusive" (the disagreement is below its resolution, or there is none); "kink"
    (a step crossed a kink: the quotient mixes two slopes and is not used)."""
    if w.crosses_kink:
        return "kink"
    if not math.isfinite(w.candidate):
        return "candidate"
    if not math.isfinite(w.reference):
        return "reference"
    if math.isnan(w.fd):
        return "inconclusive"
    within = lambda p: abs(p - w.fd) <= WITNESS_SAFETY * w.estimate  # noqa: E731
    if within(w.candidate) and within(w.reference):
        return "inconclusive"
    if within(w.reference):
        return "candidate"
    if within(w.candidate):
        return "reference"
    return "neither"


def describe(w: Witness, candidate_name: str = "manual_bp") -> str:
    """One witness, in a line."""
    where = f"{w.quantity} at layer {w.layer}"
    side = blame(w)
    if side == "kink":
        return (f"{where}: a finite-difference step crosses a kink, so the witness is not used; judged by the "
                f"derivative convention the reference follows")
    if math.isnan(w.fd):
        wrong = candidate_name if side == "candidate" else "the reference"
        return f"{where}: {wrong} is not finite" if side != "inconclusive" else f"{where}: the two sides are equal"
    said = {"candidate": f"{candidate_name} is wrong", "reference": "the reference is wrong",
            "inconclusive": "too small for the witness to tell", "neither": "the witness agrees with neither"}[side]
    return (f"{where}: along the disagreement, finite differences give {w.fd:.12g} ± {w.estimate:.2g}; "
            f"{candidate_name} {w.candidate:.12g}, jax.grad {w.reference:.12g}: {said}")


def which_side(witnesses: list[Witness], candidate_name: str = "manual_bp") -> str:
    """Which side of a failing case is wrong, in one line, from its witnesses."""
    if not witnesses:
        return ("the forward pass (z, a or the cost) differs: there is no derivative for finite differences "
                "to witness; the reference's forward pass is plain jax")
    blamed = [blame(w) for w in witnesses]
    if set(blamed) == {"kink"}:
        return ("at a kink: every finite-difference step crosses it, so the case is judged by the derivative "
                "convention the reference follows (relu'(0) = 0, leaky_relu'(0) = 1, d|w|/dw = +1 at 0): "
                f"{candidate_name} does not follow it, or is wrong")
    where = lambda side: ", ".join(f"{w.quantity} at layer {w.layer}"  # noqa: E731
                                   for w, b in zip(witnesses, blamed) if b == side)
    if "reference" in blamed:
        return (f"finite differences side with {candidate_name}, against jax.grad: the REFERENCE is wrong "
                f"({where('reference')})")
    if "candidate" in blamed:
        return f"finite differences side with jax.grad: {candidate_name} is wrong ({where('candidate')})"
    if "neither" in blamed:
        return f"finite differences agree with neither side ({where('neither')})"
    return "inconclusive: the disagreement is below what finite differences resolve"
