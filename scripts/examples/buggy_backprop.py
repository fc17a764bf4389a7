#!/usr/bin/env python3
"""Realistic broken backprops, for checking that bp-oracle catches them and blames the right place.

Each bug is numpy_backprop.py (the correct example next to this file) with one small change:
one of its functions or table entries replaced, marked `# BUG:`. The program speaks bp-oracle/1
like the correct one.

    python scripts/examples/buggy_backprop.py --bug NAME [--with-deltas | --with-forward | --with-trace]
    python scripts/examples/buggy_backprop.py --list

By default a response holds grads only; --with-deltas adds the per-example deltas, --with-forward
adds z, a and cost (what a forward bug needs to be blamed on the forward pass), --with-trace adds
all four.

--list prints {name: {...}} as JSON, what the oracle should report for each bug:
  description          the mistake, in words;
  equation             where it really is: "forward", "BP1", "BP2", "BP3" or "BP4" — exactly what
                       a judge with the trace (--with-trace; --with-forward for a forward bug,
                       --with-deltas for the others) blames;
  equation_from_grads  what the gradients alone point to, when that differs: a wrong ∂C/∂b at
                       the output layer reads as BP1, at a hidden layer as BP2 (∂C/∂b = mean δ);
  layer                "output", "hidden" or "any";
  hint                 the error's known signature, when it has one: "sigma_prime_missing"
                       (δ^L = ∇_a C), "sum_for_mean" (got ≈ m·expected), "transposed" (got ≈
                       expectedᵀ), "negated" (got ≈ −expected);
  needs                a network on which the bug shows as declared (checked against the
                       reference; any network with these properties and generic random params):
                       min_layers (L ≥), min_batch (m ≥), l2 / l1 (> 0), hidden_activation
                       (some hidden layer's σ), output_activation, cost, square_layer (some W^l
                       square and at least 2×2), all_layers_same_shape (all sizes equal);
  otherwise            what happens on networks without those needs, when it is not a PASS;
  blame_needs_deltas   true when the gradients alone cannot tell where the bug is (every gradient
                       negated reads exactly as a flipped ∇_a C, which the judge blames on BP1):
                       only with --with-deltas is `equation` the blame.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_backprop as nb  # noqa: E402  (the correct example, next to this file)

BUGS: dict[str, dict] = {}


def bug(name, *, equation, layer, needs, description, equation_from_grads=None, hint=None,
        otherwise=None, blame_needs_deltas=None):
    """Register `install`, which breaks numpy_backprop in one place, under `name`."""
    def register(install):
        info = {"description": description, "equation": equation, "layer": layer, "needs": needs}
        for key, value in (("equation_from_grads", equation_from_grads), ("hint", hint),
                           ("otherwise", otherwise), ("blame_needs_deltas", blame_needs_deltas)):
            if value is not None:
                info[key] = value
        BUGS[name] = {"info": info, "install": install}
        return install
    return register


def sign(W):
    """d|w|/dw, +1 at w = 0."""
    return np.where(W >= 0, 1, -1).astype(W.dtype)


def wrap_backprop(change):
    """Replace nb.backprop by one whose result passes through `change` (for bugs in assembly)."""
    correct = nb.backprop

    def backprop(net, params, x, y):
        return change(correct(net, params, x, y))
    nb.backprop = backprop


# --- BP1 -------------------------------------------------------------------------------------


@bug("sigma_prime_missing_in_bp1", equation="BP1", layer="output", hint="sigma_prime_missing",
     needs={"output_activation": "sigmoid"},
     description="δ^L = ∇_a C: the ⊙ σ'(z^L) of BP1 forgotten (invisible on an identity output)")
def _():
    def output_delta(cost, name, z, a, y):
        return nb.COST_GRAD_A[cost](a, y)  # BUG: should be pulled back through σ'(z^L)
    nb.output_delta = output_delta


@bug("wrong_softmax_jacobian", equation="BP1", layer="output",
     needs={"output_activation": "softmax", "cost": "quadratic"},
     description="softmax' taken as a(1 − a), the diagonal of J = diag(a) − a aᵀ only (with "
                 "cross-entropy or log-likelihood, δ^L is written from z and never uses J)")
def _():
    correct = nb.pull_back_through_sigma

    def pull_back_through_sigma(name, z, a, g):
        if name == "softmax":
            return g * a * (1 - a)  # BUG: the coupling −a_j a_k of the Jacobian dropped
        return correct(name, z, a, g)
    nb.pull_back_through_sigma = pull_back_through_sigma


@bug("cross_entropy_extra_sigma_prime", equation="BP1", layer="output",
     needs={"output_activation": "sigmoid", "cost": "cross_entropy"},
     description="cross-entropy on sigmoid: δ^L = (a − y) ⊙ σ'(z), though a − y already is "
                 "∇_a C ⊙ σ'(z)")
def _():
    nb.OUTPUT_DELTA_FROM_Z[("cross_entropy", "sigmoid")] = (
        lambda z, a, y: (a - y) * nb.sigmoid(z) * nb.sigmoid(-z))  # BUG: σ' counted twice


# --- BP2 (and the derivatives it uses) ---------------------------------------------------------


@bug("sigma_prime_of_a_in_bp2", equation="BP2", layer="hidden",
     needs={"min_layers": 2, "hidden_activation": "sigmoid"},
     description="BP2 with σ'(a^l) where σ'(z^l) is due (invisible for relu, leaky_relu, identity)")
def _():
    def hidden_delta(name, W_next, delta_next, z, a):
        g = delta_next @ W_next
        return g * nb.SIGMA_PRIME[name](a, nb.SIGMA[name](a))  # BUG: σ' evaluated at a, not z
    nb.hidden_delta = hidden_delta


@bug("w_instead_of_w_transpose_in_bp2", equation="BP2", layer="hidden",
     needs={"min_layers": 2, "all_layers_same_shape": True},
     description="BP2 with w^{l+1} δ^{l+1} for (w^{l+1})ᵀ δ^{l+1}; only square W^{l+1} let it run, "
                 "the others are left correct here")
def _():
    correct = nb.hidden_delta

    def hidden_delta(name, W_next, delta_next, z, a):
        if W_next.shape[0] != W_next.shape[1]:
            return correct(name, W_next, delta_next, z, a)  # would not even multiply
        return nb.pull_back_through_sigma(name, z, a, delta_next @ W_next.T)  # BUG: W, not Wᵀ
    nb.hidden_delta = hidden_delta


@bug("wrong_tanh_derivative", equation="BP2", layer="hidden",
     needs={"min_layers": 2, "hidden_activation": "tanh", "output_activation": "sigmoid"},
     description="tanh'(z) = 1 − tanh z instead of 1 − tanh² z (on a tanh output layer it is BP1)")
def _():
    nb.SIGMA_PRIME["tanh"] = lambda z, a: 1 - a  # BUG: should be 1 − a²


@bug("wrong_elu_derivative", equation="BP2", layer="hidden",
     needs={"min_layers": 2, "hidden_activation": "elu", "output_activation": "sigmoid"},
     description="elu'(z) = elu(z) below 0, the + α of α e^z = elu(z) + α forgotten "
                 "(on an elu output layer it is BP1)")
def _():
    nb.SIGMA_PRIME["elu"] = lambda z, a: np.where(z > 0, 1, a).astype(z.dtype)  # BUG: a, not a + 1


@bug("wrong_softplus_derivative", equation="BP2", layer="hidden",
     needs={"min_layers": 2, "hidden_activation": "softplus", "output_activation": "sigmoid"},
     description="softplus'(z) = σ(−z) instead of σ(z), a sign slip "
                 "(on a softplus output layer it is BP1)")
def _():
    nb.SIGMA_PRIME["softplus"] = lambda z, a: nb.sigmoid(-z)  # BUG: sign of z


# --- BP3 and BP4 -----------------------------------------------------------------------------


@bug("sum_for_mean", equation="BP3", equation_from_grads="BP1", layer="any", hint="sum_for_mean",
     needs={"min_batch": 2},
     description="∂C/∂W and ∂C/∂b summed over the batch instead of averaged (C is a mean); "
                 "exactly m × expected when l2 = l1 = 0")
def _():
    def layer_gradient(delta, a_prev, W, b, l2, l1):
        dW = delta.T @ a_prev + l2 * W + l1 * sign(W)  # BUG: Σ_x where (1/m) Σ_x is due
        return dW, delta.sum(axis=0)  # BUG: and here
    nb.layer_gradient = layer_gradient


@bug("last_example_only", equation="BP3", equation_from_grads="BP1", layer="any",
     needs={"min_batch": 2},
     description="the per-example loop assigns instead of accumulating: only the last example "
                 "of the batch makes the gradients")
def _():
    correct = nb.layer_gradient

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        return correct(delta[-1:], a_prev[-1:], W, b, l2, l1)  # BUG: nabla = …, not nabla += …
    nb.layer_gradient = layer_gradient


@bug("l2_on_biases", equation="BP3", equation_from_grads="BP1", layer="any",
     needs={"l2": True},
     description="weight decay applied to the biases too: ∂C/∂b + l2 b")
def _():
    correct = nb.layer_gradient

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        dW, db = correct(delta, a_prev, W, b, l2, l1)
        return dW, db + l2 * b  # BUG: biases are not regularised
    nb.layer_gradient = layer_gradient


@bug("half_l2_gradient", equation="BP4", layer="any", needs={"l2": True},
     description="the L2 term's gradient taken as (l2/2) W: the 2 of ∂/∂W (l2/2)‖W‖² dropped")
def _():
    def layer_gradient(delta, a_prev, W, b, l2, l1):
        m = delta.shape[0]
        dW = delta.T @ a_prev / m + l2 / 2 * W + l1 * sign(W)  # BUG: l2/2 · W where l2 · W is due
        return dW, delta.sum(axis=0) / m
    nb.layer_gradient = layer_gradient


@bug("l1_gradient_without_sign", equation="BP4", layer="any", needs={"l1": True},
     description="the L1 term's gradient written like L2's, l1 · W instead of l1 · sign(W)")
def _():
    def layer_gradient(delta, a_prev, W, b, l2, l1):
        m = delta.shape[0]
        dW = delta.T @ a_prev / m + l2 * W + l1 * W  # BUG: l1 · W where l1 · sign(W) is due
        return dW, delta.sum(axis=0) / m
    nb.layer_gradient = layer_gradient


@bug("transposed_weight_gradient", equation="BP4", layer="any", hint="transposed",
     needs={"square_layer": True},
     description="∂C/∂W as a^{l−1}ᵀ δ, the transpose of δᵀ a^{l−1}; a square W^l is where it "
                 "slips through (other layers are left correct here, since they would not fit)")
def _():
    correct = nb.layer_gradient

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        dW, db = correct(delta, a_prev, W, b, l2, l1)
        return (dW.T if dW.shape[0] == dW.shape[1] else dW), db  # BUG: (∂C/∂W)ᵀ
    nb.layer_gradient = layer_gradient


@bug("relative_error_1e-7_in_one_layer", equation="BP4", layer="hidden",
     needs={"min_layers": 2},
     description="∂C/∂W^1 off by a factor 1 + 1e-7 (100 × the float64 tolerance): a tolerance "
                 "that is too loose lets it pass (on a 1-layer network it is the output layer)")
def _():
    def change(result):
        dW, db = result["grads"][0]
        result["grads"][0] = (dW * (1 + 1e-7), db)  # BUG: a tiny systematic error
        return result
    wrap_backprop(change)


# --- assembly of the answer -------------------------------------------------------------------


@bug("negated_gradient", equation="BP3", equation_from_grads="BP1", layer="any", hint="negated",
     needs={}, blame_needs_deltas=True,
     description="every gradient negated: the descent step −∇C returned as ∇C")
def _():
    def change(result):
        result["grads"] = [(-dW, -db) for dW, db in result["grads"]]  # BUG: sign
        return result
    wrap_backprop(change)


@bug("reversed_layer_order", equation="BP3", equation_from_grads="BP1", layer="any",
     needs={"min_layers": 2, "all_layers_same_shape": True},
     otherwise="ERROR: the gradients have the wrong shapes (layers of different shapes swapped)",
     description="the gradients listed from layer L down to 1, as the backward pass made them")
def _():
    def change(result):
        result["grads"] = result["grads"][::-1]  # BUG: backward order, not layer order
        return result
    wrap_backprop(change)


# --- forward ---------------------------------------------------------------------------------


@bug("missing_bias_term_in_forward", equation="forward", equation_from_grads="BP1", layer="any",
     needs={},
     description="z = W a without + b in the feedforward (blamed on the forward pass when z, a "
                 "or the cost are given: --with-forward or --with-trace)")
def _():
    nb.affine = lambda a_prev, W, b: a_prev @ W.T  # BUG: + b forgotten


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bug", choices=sorted(BUGS), metavar="NAME", help="which bug (see --list)")
    parser.add_argument("--list", action="store_true", help="print the catalogue as JSON and exit")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--with-deltas", action="store_true", help="answer deltas too")
    shown.add_argument("--with-forward", action="store_true", help="answer z, a and cost too")
    shown.add_argument("--with-trace", action="store_true", help="answer z, a, cost and deltas too")
    args = parser.parse_args(argv)
    if args.list:
        print(json.dumps({name: entry["info"] for name, entry in BUGS.items()}, indent=2, ensure_ascii=False))
        return 0
    if args.bug is None:
        parser.error("--bug NAME is required (or --list)")
    BUGS[args.bug]["install"]()
    fields = (("cost", "z", "a", "deltas") if args.with_trace else ("cost", "z", "a") if args.with_forward
              else ("deltas",) if args.with_deltas else ())
    nb.serve(fields=fields)  # answer() calls nb.backprop as it is now, bug included
    return 0


if __name__ == "__main__":
    sys.exit(main())
