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
                       expectedᵀ), "negated" (got ≈ −expected), "regularisation_over_m" (the
                       regularisation gradient divided by m), "deltas_over_m" (δ of the mean
                       cost), "textbook_bp1" (∇_a C ⊙ σ'(z^L) near saturation);
  needs                a network on which the bug shows as declared (checked against the
                       reference; any network with these properties and generic random params):
                       min_layers (L ≥), min_batch (m ≥), l2 / l1 (> 0), hidden_activation
                       (some hidden layer's σ), output_activation, cost, square_layer (some W^l
                       square and at least 2×2), all_layers_same_shape (all sizes equal),
                       min_width (some n_l ≥), and what the suites mark with a feature:
                       tails (pre-activations past ±709, edge:tails), softmax_spread
                       (edge:softmax_spread), soft_targets / hard_targets (edge:soft_targets,
                       edge:hard_targets), saturated_output (an output within ~1e-7 of 0 or 1,
                       edge:saturated), state ("repeat": an identical request again, or
                       "same_architecture": the same architecture and batch shape with fresh
                       numbers), min_requests (the request's position in the session ≥);
  otherwise            what happens on networks without those needs, when it is not a PASS, and
                       which cases of the suites show it;
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


# --- regularisation and the batch mean: signatures the judge names ------------------------------


@bug("bp4_in_float32", equation="BP4", layer="any",
     needs={},
     description="the weight gradient's product δᵀ a^{l−1} computed in float32 when float64 is asked "
                 "(a half-precision shortcut left in one equation): about 1e-7 relative, far over "
                 "float64's tolerance")
def _():
    correct = nb.layer_gradient

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        dW, db = correct(delta, a_prev, W, b, l2, l1)
        if W.dtype != np.float64:
            return dW, db
        m = delta.shape[0]
        data = (delta.astype(np.float32).T @ a_prev.astype(np.float32)).astype(np.float64) / m  # BUG
        return data + (dW - delta.T @ a_prev / m), db
    nb.layer_gradient = layer_gradient


@bug("float16_sums_in_float32", equation="BP4", layer="any",
     needs={"dtype": "float32", "min_batch": 2}, blame_needs_deltas=True,
     otherwise="PASS on float64 requests: the bug is on the float32 path only",
     description="on float32 requests the batch sum of BP4 accumulated in float16 (a broken "
                 "low-precision path): judged by float32's error model, it fails")
def _():
    correct = nb.layer_gradient

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        dW, db = correct(delta, a_prev, W, b, l2, l1)
        if W.dtype != np.float32:
            return dW, db
        m = delta.shape[0]
        total = np.zeros(W.shape, np.float16)
        for d, a in zip(delta, a_prev):  # BUG: every partial sum of δ a^{l−1}ᵀ rounded to float16
            total = (total + np.outer(d, a).astype(np.float16)).astype(np.float16)
        return dW - delta.T @ a_prev / m + total.astype(np.float32) / m, db
    nb.layer_gradient = layer_gradient


@bug("regularisation_gradient_over_m", equation="BP4", layer="any",
     hint="regularisation_over_m",
     needs={"min_batch": 2, "l2": True},
     otherwise="also shows with l1 > 0 alone; PASS where l2 = l1 = 0 or m = 1 (on edge:zero_weights "
               "cases the judge names no hint: quick-0038)",
     description="the regularisation's gradient divided by m with the data term, "
                 "(δᵀ a^{l−1} + l2 W + l1 sign W)/m, as if it were part of the batch mean")
def _():
    def layer_gradient(delta, a_prev, W, b, l2, l1):
        m = delta.shape[0]
        dW = (delta.T @ a_prev + l2 * W + l1 * sign(W)) / m  # BUG: only δᵀa is a batch sum
        return dW, delta.sum(axis=0) / m
    nb.layer_gradient = layer_gradient


@bug("deltas_over_m", equation="BP1", layer="output",
     hint="deltas_over_m",
     needs={"min_batch": 2}, otherwise="PASS on m = 1",
     description="δ^L = ∂C/∂z^L of the mean cost C = (1/m) Σ_x C_x, i.e. (a − y)/m, where the "
                 "per-example ∂C_x/∂z^L is due; the gradients are then averaged once more (1/m²)")
def _():
    correct = nb.output_delta

    def output_delta(cost, name, z, a, y):
        return correct(cost, name, z, a, y) / y.shape[0]  # BUG: δ of the mean cost, not of C_x
    nb.output_delta = output_delta


# --- sizes past what the code special-cases (batch:boundary, depth:8+, width:block) -------------


@bug("first_eight_examples_only", equation="BP3", equation_from_grads="BP1", layer="any",
     needs={"min_batch": 9}, blame_needs_deltas=True,
     otherwise="PASS on every batch of m ≤ 8 (only batch:boundary cases with m ≥ 9, and random "
               "cases with m ≥ 9, show it)",
     description="the batch loop written for a block of 8 examples and never continued: ∂C/∂W and "
                 "∂C/∂b are the means over the first 8 examples of the batch only (the δ's of all "
                 "m are right)")
def _():
    correct = nb.layer_gradient
    BLOCK = 8

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        # BUG: the loop over blocks of 8 examples stops after the first block
        return correct(delta[:BLOCK], a_prev[:BLOCK], W, b, l2, l1)
    nb.layer_gradient = layer_gradient


RING = 5


@bug("activations_in_a_ring_of_5", equation="BP4", layer="hidden",
     needs={"min_layers": RING + 1},
     otherwise="PASS on every network of L ≤ 5 layers (only depth:8+ cases, and random networks "
               "of 6 to 8 layers, show it)",
     description="the forward pass keeps the activations a^l in a ring of 5 preallocated "
                 "buffers (slot (l − 1) mod 5, as wide as the widest layer): on a network of more "
                 "than 5 layers a^l is overwritten by a^{l+5} before the backward pass reads it "
                 "for ∂C/∂W^{l+1} = mean δ^{l+1} a^lᵀ (z is kept per layer, so every δ is right)")
def _():
    def backprop(net, params, x, y):
        names, cost, l2, l1, sizes = net["activations"], net["cost"], net["l2"], net["l1"], net["sizes"]
        L, m = len(params), x.shape[0]
        ring = np.zeros((RING, m, max(sizes)), dtype=x.dtype)  # BUG: 5 slots, reused past layer 5

        def stored(l):  # a^l as the backward pass reads it back (a^0 = x is the caller's)
            return x if l == 0 else ring[(l - 1) % RING, :, :sizes[l]]

        zs, acts = [], [x]
        for l, ((W, b), name) in enumerate(zip(params, names), start=1):
            zs.append(nb.affine(stored(l - 1), W, b))
            acts.append(nb.SIGMA[name](zs[-1]))
            ring[(l - 1) % RING, :, :sizes[l]] = acts[-1]
        deltas = [nb.output_delta(cost, names[-1], zs[-1], stored(L), y)]
        for l in range(L - 2, -1, -1):  # list index l is layer l + 1
            deltas.insert(0, nb.hidden_delta(names[l], params[l + 1][0], deltas[0], zs[l], stored(l + 1)))
        grads = [nb.layer_gradient(d, stored(l), W, b, l2, l1)
                 for l, (d, (W, b)) in enumerate(zip(deltas, params))]
        C = nb.COST[cost](zs[-1], acts[-1], y, names[-1]).mean()
        C += sum(0.5 * l2 * (W * W).sum() + l1 * np.abs(W).sum() for W, _ in params)
        return {"z": zs, "a": acts[1:], "deltas": deltas, "cost": float(C), "grads": grads}
    nb.backprop = backprop


TILE = 16


@bug("weight_gradient_in_one_16x16_tile", equation="BP4", layer="any",
     needs={"min_width": TILE + 1},
     otherwise="PASS on every network whose widths are all ≤ 16 (only width:block cases with a "
               "width of 17 or more, size:realistic and random networks of width 17 show it)",
     description="∂C/∂W = δᵀ a^{l−1}/m by a tiled product of 16×16 output tiles launched on a "
                 "grid of one tile: rows and columns of ∂C/∂W past 16 are left 0 (plus the "
                 "regularisation term)")
def _():
    def tiled_product(A, B):
        out = np.zeros((A.shape[0], B.shape[1]), dtype=A.dtype)
        grid = (1, 1)  # BUG: should be (⌈rows/16⌉, ⌈cols/16⌉)
        for ti in range(grid[0]):
            for tj in range(grid[1]):
                rows, cols = slice(ti * TILE, (ti + 1) * TILE), slice(tj * TILE, (tj + 1) * TILE)
                out[rows, cols] = A[rows] @ B[:, cols]
        return out

    def layer_gradient(delta, a_prev, W, b, l2, l1):
        m = delta.shape[0]
        dW = tiled_product(delta.T, a_prev) / m + l2 * W + l1 * sign(W)
        return dW, delta.sum(axis=0) / m
    nb.layer_gradient = layer_gradient


# --- special values: the tails, softmax's spread, targets at a cost's edges -----------------------
# Written as they are in textbooks, these overflow once |z| passes ln(max float) ≈ 709.78. Left
# alone, inf/inf = NaN makes the whole answer non-finite (an ERROR: "the result is not finite");
# these programs hide the overflow, as much code does (np.nan_to_num, or exp's argument clipped),
# and answer a finite, wrong number instead.

TAILS_OTHERWISE = ("PASS wherever every pre-activation of that activation is inside ±709 "
                   "(only edge:tails cases show it)")


@bug("naive_tanh", equation="forward", layer="any",
     needs={"hidden_activation": "tanh", "tails": True}, otherwise=TAILS_OTHERWISE,
     description="tanh z = (e^z − e^{−z})/(e^z + e^{−z}) as written: inf/inf = NaN for |z| > 709.78, "
                 "silenced to 0 by np.nan_to_num (tanh(±800) taken as 0)")
def _():
    def tanh(z):
        ez, emz = np.exp(z), np.exp(-z)
        return np.nan_to_num((ez - emz) / (ez + emz))  # BUG: overflows; the NaN hidden
    nb.SIGMA["tanh"] = tanh


@bug("naive_sigmoid", equation="forward", layer="any",
     needs={"hidden_activation": "sigmoid", "tails": True}, otherwise=TAILS_OTHERWISE,
     description="σ(z) = e^z/(1 + e^z) as written: inf/inf = NaN for z > 709.78, silenced to 0 "
                 "by np.nan_to_num (σ(800) taken as 0)")
def _():
    def sigmoid(z):
        e = np.exp(z)
        return np.nan_to_num(e / (1 + e))  # BUG: overflows; the NaN hidden
    nb.SIGMA["sigmoid"] = sigmoid


@bug("naive_softplus", equation="forward", layer="any",
     needs={"hidden_activation": "softplus", "tails": True},
     otherwise="PASS wherever every softplus pre-activation is below 500 (only edge:tails cases show it)",
     description="softplus z = ln(1 + e^z) as written, with e^z's argument clipped to ±500 to stop "
                 "its overflow (as for a sigmoid, where it is harmless): softplus(800) taken as 500")
def _():
    def softplus(z):
        return np.log(1 + np.exp(np.clip(z, -500, 500)))  # BUG: ln(1 + e^z) ≈ z is cut at 500
    nb.SIGMA["softplus"] = softplus


@bug("softmax_without_max_shift", equation="forward", layer="output",
     needs={"output_activation": "softmax", "softmax_spread": True},
     otherwise="PASS wherever every logit is below 709 (only edge:softmax_spread cases show it)",
     description="softmax e^{z_j}/Σ_k e^{z_k} without subtracting max z first: e^{800} = inf, "
                 "inf/inf = NaN, silenced to 0 by np.nan_to_num (a row of zeros)")
def _():
    def softmax(z):
        e = np.exp(z)  # BUG: e^{z − max z} is due
        return np.nan_to_num(e / e.sum(axis=1, keepdims=True))
    nb.SIGMA["softmax"] = softmax


@bug("log_likelihood_delta_from_argmax", equation="BP1", layer="output",
     needs={"output_activation": "softmax", "cost": "log_likelihood", "soft_targets": True},
     otherwise="PASS on one-hot targets (only edge:soft_targets cases with a softmax output show it)",
     description="log-likelihood on softmax: δ^L = a − onehot(argmax y), right for one-hot "
                 "targets only; for targets that are distributions δ^L = a Σ_j y_j − y")
def _():
    def delta(z, a, y):
        onehot = np.eye(y.shape[1], dtype=y.dtype)[y.argmax(axis=1)]
        return a - onehot  # BUG: y taken as a class label
    nb.OUTPUT_DELTA_FROM_Z[("log_likelihood", "softmax")] = delta


@bug("cross_entropy_targets_clipped", equation="BP1", layer="output",
     needs={"cost": "cross_entropy", "hard_targets": True},
     otherwise="PASS unless some target is within 1e-7 of 0 or 1 (only edge:hard_targets cases "
               "show it)",
     description="cross-entropy's targets clipped to [1e-7, 1 − 1e-7] (as its outputs often are, "
                 "against ln 0): exact 0/1 targets become 1e-7/1 − 1e-7, δ^L off by up to 1e-7")
def _():
    correct = nb.backprop

    def backprop(net, params, x, y):
        if net["cost"] == "cross_entropy":
            y = np.clip(y, 1e-7, 1 - 1e-7)  # BUG: the targets are data, not outputs
        return correct(net, params, x, y)
    nb.backprop = backprop


@bug("textbook_bp1_cross_entropy", equation="BP1", layer="output",
     hint="textbook_bp1",
     needs={"output_activation": "softmax", "cost": "cross_entropy", "saturated_output": True},
     otherwise="PASS while every output's 1 − a is above ~1e-7 (the relative error is ~1e-16/(1 − a)): "
               "quick and default show it on edge:saturated softmax outputs (quick-0027); no quick or "
               "default case has a saturated sigmoid output under cross-entropy, full has some "
               "(full-0391, full-1782: FAIL; full-0413: a rounds to 1, not finite, an ERROR)",
     description="cross-entropy's BP1 in the textbook form δ^L = J_σ(z^L)ᵀ ∇_a C (⊙ σ'(z) on a "
                 "sigmoid output) computed as written, ∇_a C = (a − y)/(a(1 − a)) from a rounded a "
                 "(whose 1 − a has cancelled near 1), σ' from z, instead of the simplified a − y "
                 "(sigmoid) and its softmax counterpart")
def _():
    correct = nb.output_delta

    def output_delta(cost, name, z, a, y):
        if cost != "cross_entropy":
            return correct(cost, name, z, a, y)
        grad_a = (a - y) / (a * (1 - a))  # BUG: 1 − a has cancelled when a ≈ 1
        return nb.pull_back_through_sigma(name, z, a, grad_a)  # where δ^L = a − y is due (sigmoid)
    nb.output_delta = output_delta


# --- state between requests (state:repeat, state:same_architecture, the order of requests) -------


@bug("answer_cached_by_architecture", equation="forward", layer="any",
     needs={"state": "same_architecture"},
     otherwise="PASS on every request whose architecture and batch shape it has not seen before, "
               "and on an identical repeat (only state:same_architecture cases show it)",
     description="answers cached by the network's architecture and batch shape, not by its "
                 "numbers: the same architecture with fresh params and data gets the earlier "
                 "answer (stale from z^1 on)")
def _():
    correct = nb.backprop
    cache = {}

    def backprop(net, params, x, y):
        key = (tuple(net["sizes"]), tuple(net["activations"]), net["cost"], net["l2"], net["l1"], x.shape)
        if key not in cache:  # BUG: params, x and y are not part of the key
            cache[key] = correct(net, params, x, y)
        return cache[key]
    nb.backprop = backprop


@bug("gradient_buffer_not_zeroed", equation="BP3", equation_from_grads="BP1", layer="any",
     needs={"state": "repeat"}, blame_needs_deltas=True,
     otherwise="PASS on the first request of each architecture (only state:repeat and "
               "state:same_architecture cases show it)",
     description="a model object built once per architecture accumulates ∂C/∂W and ∂C/∂b into "
                 "buffers (nabla_w += …) never zeroed between requests: the second request of "
                 "an architecture gets the sum of both answers (a repeat: twice the gradient)")
def _():
    correct = nb.backprop
    buffers = {}

    def backprop(net, params, x, y):
        result = correct(net, params, x, y)
        key = (tuple(net["sizes"]), tuple(net["activations"]), net["cost"], net["l2"], net["l1"], x.shape)
        if key not in buffers:
            buffers[key] = [(np.zeros_like(dW), np.zeros_like(db)) for dW, db in result["grads"]]
        for (nabla_w, nabla_b), (dW, db) in zip(buffers[key], result["grads"]):
            nabla_w += dW  # BUG: the buffers are zeroed once, when made, not per request
            nabla_b += db
        result["grads"] = [(nabla_w.copy(), nabla_b.copy()) for nabla_w, nabla_b in buffers[key]]
        return result
    nb.backprop = backprop


DRIFT_AFTER = 40


@bug("drift_after_40_requests", equation="BP3", equation_from_grads="BP1", layer="any",
     needs={"min_requests": DRIFT_AFTER + 1}, blame_needs_deltas=True,
     otherwise="PASS on the first 40 requests of a session: the quick suite's cases from "
               "quick-0040 on show it (but quick-0054, whose gradients are ≈ 0), default's from its "
               "41st on; an --include that leaves ≤ 40 cases hides it",
     description="every gradient multiplied by 1 + 1e-6 from the 41st request of a session on "
                 "(a learning-rate warm-up, or a scale, that leaks into the gradients)")
def _():
    correct = nb.backprop
    served = [0]

    def backprop(net, params, x, y):
        result = correct(net, params, x, y)
        served[0] += 1
        if served[0] > DRIFT_AFTER:  # BUG: state that changes the answer
            result["grads"] = [(dW * (1 + 1e-6), db * (1 + 1e-6)) for dW, db in result["grads"]]
        return result
    nb.backprop = backprop


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
