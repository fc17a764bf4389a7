#!/usr/bin/env python3
"""A correct backprop for a fully connected network, written the way a user of bp-oracle might:
one file, NumPy only, batch-first, speaking the protocol bp-oracle/1 (JSON Lines) on stdin/stdout.

On purpose it looks nothing like manual_bp: the activations and costs are tables of lambdas, and
the backward pass is a chain of vector–Jacobian products. Each layer takes the gradient of
Σ_x C_x with respect to its output a^l, pulls it back through σ (giving δ^l = ∂C_x/∂z^l, one row
per example) and then through z^l = a^{l−1} W^lᵀ + b^l (giving the gradient for a^{l−1}).
The parameter gradients are the batch means of those pullbacks, plus the regularisation's.

    python scripts/examples/numpy_backprop.py [--relu-prime-at-zero {0,1}] [--grads-only]

One request per input line, one response per output line, flushed; logs go to stderr; exit 0 at
the end of stdin. A response carries grads, cost, z, a and deltas (only grads with --grads-only).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

PROTOCOL = "bp-oracle/1"
DTYPES = {"float64": np.float64, "float32": np.float32}

# relu'(0): 0 by default (jax's convention); --relu-prime-at-zero 1 takes the other side's slope
relu_prime_at_zero = 0.0


class Unsupported(Exception):
    """A well-formed request for something this program does not implement."""


# --- activations: σ(z), and σ'(z) given z and a = σ(z) ---------------------------------------


def sigmoid(z):
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))  # ln(1 + e^z) without overflow


def log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def piecewise(z, above, at_zero, below):
    """A step-shaped derivative: `above` for z > 0, `at_zero` at 0, `below` for z < 0."""
    return np.where(z > 0, above, np.where(z == 0, at_zero, below)).astype(z.dtype)


SIGMA = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "softplus": softplus,
    "identity": lambda z: z,
    "softmax": lambda z: np.exp(log_softmax(z)),
}

# Elementwise σ' only; softmax couples its neurons and has its own pullback below.
SIGMA_PRIME = {
    "sigmoid": lambda z, a: sigmoid(z) * sigmoid(-z),  # = a(1 − a), without 1 − a cancelling
    "tanh": lambda z, a: 1 / np.cosh(z) ** 2,  # sech² = 1 − a², without 1 − a² cancelling
    "relu": lambda z, a: piecewise(z, 1, relu_prime_at_zero, 0),
    "leaky_relu": lambda z, a: piecewise(z, 1, 1, 0.01),  # leaky_relu'(0) = 1
    "elu": lambda z, a: np.where(z > 0, 1, np.exp(np.minimum(z, 0))).astype(z.dtype),  # α e^z
    "softplus": lambda z, a: sigmoid(z),
    "identity": lambda z, a: np.ones_like(z),
}


def pull_back_through_sigma(name, z, a, g):
    """J_σ(z)ᵀ g for each row: g ⊙ σ'(z) for an elementwise σ; for softmax J = diag(a) − a aᵀ,
    so Jᵀ g = a ⊙ (g − a·g)."""
    if name == "softmax":
        return a * (g - (a * g).sum(axis=1, keepdims=True))
    return g * SIGMA_PRIME[name](z, a)


# --- costs: C_x per example, its gradient in a, and δ^L straight from z where logs cancel -----


def softmax_parts(z):
    """e = e^{z − max z}, S = Σ_j e_j and others_j = Σ_{i≠j} e_i, so that a = e/S and
    1 − a = others/S. others is summed directly (a product with 1 − I), not taken as S − e_j,
    which would cancel for an output near 1."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    n = z.shape[1]
    return e, e.sum(axis=1, keepdims=True), e @ (1 - np.eye(n, dtype=z.dtype))


def log_output(name, z, a):
    """(ln a, ln(1 − a)) from z where σ allows, so a saturated output still has a finite cost."""
    if name == "sigmoid":
        return -softplus(-z), -softplus(z)
    if name == "softmax":
        e, S, others = softmax_parts(z)
        return log_softmax(z), np.log(others) - np.log(S)
    return np.log(a), np.log1p(-a)


def times_log(y, log_a):
    """y ln a with 0 ln 0 = 0."""
    return np.where(y == 0, 0, y * log_a)


def over(y, a):
    """y / a with 0 / 0 = 0: the gradient of the term y ln a that `times_log` sets to 0."""
    return np.divide(y, a, out=np.zeros_like(a), where=y != 0)


def cross_entropy(z, a, y, name):
    log_a, log_1ma = log_output(name, z, a)
    return -(times_log(y, log_a) + times_log(1 - y, log_1ma)).sum(axis=1)


COST = {  # C_x for each row, given the output layer's z, a, the targets y and σ's name
    "quadratic": lambda z, a, y, name: 0.5 * ((a - y) ** 2).sum(axis=1),
    "cross_entropy": cross_entropy,
    "log_likelihood": lambda z, a, y, name: -times_log(y, log_output(name, z, a)[0]).sum(axis=1),
}

COST_GRAD_A = {  # ∇_a C_x for each row (BP1's general form; see OUTPUT_DELTA_FROM_Z below)
    "quadratic": lambda a, y: a - y,
    "cross_entropy": lambda a, y: over(1 - y, 1 - a) - over(y, a),
    "log_likelihood": lambda a, y: -over(y, a),
}


def cross_entropy_softmax_delta(z, a, y):
    """δ^L for cross-entropy on softmax, from z. With h_j = a_j ∂C/∂a_j = (1 − y_j) a_j/(1 − a_j) − y_j,
    δ_k = h_k − a_k Σ_j h_j = (1 − y_k) a_k − y_k (1 − a_k) − Σ_{j≠k} a_k h_j; and
    a_k a_j/(1 − a_j) = (e_k/others_j) a_j, a ratio ≤ 1, so nothing huge is formed and cancelled."""
    e, S, others = softmax_parts(z)
    m, n = z.shape
    ratio = np.zeros((m, n, n), z.dtype)  # ratio[x, k, j] = e_k / others_j for k ≠ j, else 0
    np.divide(e[:, :, None], others[:, None, :], out=ratio, where=~np.eye(n, dtype=bool))
    own = (1 - y) * a - y * (others / S)
    return own + a * (y.sum(axis=1, keepdims=True) - y) - (ratio @ ((1 - y) * a)[:, :, None])[:, :, 0]


# Where C_x is a log of the output, ∇_a C has a 1/a (or 1/(1 − a)) that σ' cancels; doing the
# product in floating point loses digits (or divides by 0) once σ saturates, so δ^L is taken
# from z directly.
OUTPUT_DELTA_FROM_Z = {
    ("cross_entropy", "sigmoid"): lambda z, a, y: a - y,
    ("cross_entropy", "softmax"): cross_entropy_softmax_delta,
    ("log_likelihood", "softmax"): lambda z, a, y: a * y.sum(axis=1, keepdims=True) - y,
    ("log_likelihood", "sigmoid"): lambda z, a, y: -y * sigmoid(-z),  # y(a − 1)
}

OUTPUTS_IN_UNIT_INTERVAL = ("sigmoid", "softmax")


# --- the network ---------------------------------------------------------------------------


def affine(a_prev, W, b):
    """z = W a + b for every example (row) at once."""
    return a_prev @ W.T + b


def output_delta(cost, name, z, a, y):
    """δ^L = ∂C_x/∂z^L for each example: ∇_a C pulled back through the output σ."""
    from_z = OUTPUT_DELTA_FROM_Z.get((cost, name))
    if from_z is not None:
        return from_z(z, a, y)
    return pull_back_through_sigma(name, z, a, COST_GRAD_A[cost](a, y))


def hidden_delta(name, W_next, delta_next, z, a):
    """δ^l: δ^{l+1} pulled back through z^{l+1} = W^{l+1} a^l + b (rows: δ W), then through σ_l."""
    return pull_back_through_sigma(name, z, a, delta_next @ W_next)


def layer_gradient(delta, a_prev, W, b, l2, l1):
    """(∂C/∂W, ∂C/∂b): the batch means of δ a^{l−1}ᵀ and δ, plus ∂/∂W of (l2/2)‖W‖² + l1 Σ|w|
    (biases are not regularised; d|w|/dw = +1 at w = 0)."""
    m = delta.shape[0]
    dW = delta.T @ a_prev / m + l2 * W + l1 * np.where(W >= 0, 1, -1).astype(W.dtype)
    return dW, delta.sum(axis=0) / m


def backprop(net, params, x, y):
    """Forward, then backward; returns {z, a, deltas, cost, grads}, lists over layers 1..L."""
    names, cost, l2, l1 = net["activations"], net["cost"], net["l2"], net["l1"]
    zs, acts = [], [x]
    for (W, b), name in zip(params, names):
        zs.append(affine(acts[-1], W, b))
        acts.append(SIGMA[name](zs[-1]))

    deltas = [output_delta(cost, names[-1], zs[-1], acts[-1], y)]
    for l in range(len(params) - 2, -1, -1):  # list index l is layer l + 1
        deltas.insert(0, hidden_delta(names[l], params[l + 1][0], deltas[0], zs[l], acts[l + 1]))

    grads = [layer_gradient(d, a_prev, W, b, l2, l1)
             for d, a_prev, (W, b) in zip(deltas, acts, params)]
    C = COST[cost](zs[-1], acts[-1], y, names[-1]).mean()
    C += sum(0.5 * l2 * (W * W).sum() + l1 * np.abs(W).sum() for W, _ in params)
    return {"z": zs, "a": acts[1:], "deltas": deltas, "cost": float(C), "grads": grads}


# --- the protocol --------------------------------------------------------------------------


def only_numbers(value):
    """True for a number or nested lists of numbers (JSON's true and false are not numbers)."""
    if isinstance(value, list):
        return all(only_numbers(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_matrix(value, shape, what, dtype):
    """A JSON array as a float array of exactly `shape`, or a ValueError saying what is wrong."""
    if not isinstance(value, list) or not only_numbers(value):
        raise ValueError(f"{what} must be an array of numbers")
    try:
        arr = np.array(value, dtype=np.float64)
    except ValueError as e:  # ragged rows
        raise ValueError(f"{what} is not a rectangular array: {e}") from None
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{what} has shape {list(arr.shape)}, expected {list(shape)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains a non-finite number")
    return arr.astype(dtype)


def all_finite(result):
    tensors = [t for layer in result["grads"] for t in layer]
    tensors += [t for field in ("z", "a", "deltas") for t in result.get(field, ())]
    return np.isfinite(result.get("cost", 0.0)) and all(np.all(np.isfinite(t)) for t in tensors)


def parse_network(spec):
    """The network spec, checked: raises Unsupported for names we lack, ValueError otherwise."""
    if not isinstance(spec, dict):
        raise ValueError("network must be an object")
    sizes, names, cost = spec.get("sizes"), spec.get("activations"), spec.get("cost")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)):
        raise ValueError(f"network.sizes must be a list of at least 2 positive integers, got {sizes!r}")
    L = len(sizes) - 1
    if isinstance(names, str):
        names = [names] * L
    if not isinstance(names, list) or len(names) != L or not all(isinstance(n, str) for n in names):
        raise ValueError(f"network.activations must be a list of {L} names, got {names!r}")
    if not isinstance(cost, str):
        raise ValueError(f"network.cost must be a name, got {cost!r}")
    for name in names:
        if name not in SIGMA:
            raise Unsupported(f"activation {name!r} not implemented")
    if cost not in COST:
        raise Unsupported(f"cost {cost!r} not implemented")
    if "softmax" in names[:-1]:
        raise ValueError("softmax is allowed only on the output layer")
    if names[-1] == "softmax" and sizes[-1] < 2:
        raise ValueError("softmax needs at least 2 output neurons")
    if cost != "quadratic" and names[-1] not in OUTPUTS_IN_UNIT_INTERVAL:
        raise ValueError(f"{cost} needs a sigmoid or softmax output layer, got {names[-1]}")
    net = {"sizes": sizes, "activations": names, "cost": cost}
    for key in ("l2", "l1"):
        value = spec.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"network.{key} must be a finite number ≥ 0, got {value!r}")
        net[key] = float(value)
    return net


def parse_request(req):
    """(net, params, x, y) as float arrays of the request's dtype, checked against the spec."""
    if req.get("protocol") != PROTOCOL:
        raise ValueError(f"protocol must be {PROTOCOL!r}, got {req.get('protocol')!r}")
    net = parse_network(req.get("network"))
    dtype_name = req.get("dtype", "float64")
    if dtype_name not in DTYPES:
        raise Unsupported(f"dtype {dtype_name!r} not implemented; known: {', '.join(DTYPES)}")
    dtype, sizes = DTYPES[dtype_name], net["sizes"]
    params = req.get("params")
    if not isinstance(params, list) or len(params) != len(sizes) - 1:
        raise ValueError(f"params must be a list of {len(sizes) - 1} layers")
    checked = []
    for l, (layer, n_in, n_out) in enumerate(zip(params, sizes, sizes[1:]), start=1):
        if not isinstance(layer, dict):
            raise ValueError(f"params[{l - 1}] must be an object with W and b")
        checked.append((as_matrix(layer.get("W"), (n_out, n_in), f"W of layer {l}", dtype),
                        as_matrix(layer.get("b"), (n_out,), f"b of layer {l}", dtype)))
    x = as_matrix(req.get("x"), None, "x", dtype)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != sizes[0]:
        raise ValueError(f"x must be a non-empty list of rows of {sizes[0]} numbers, got shape {list(x.shape)}")
    y = as_matrix(req.get("y"), (x.shape[0], sizes[-1]), "y", dtype)
    return net, checked, x, y


def to_json(result, fields):
    """The response's numeric fields as nested lists (floats print shortest-round-trip)."""
    out = {"grads": [{"W": dW.tolist(), "b": db.tolist()} for dW, db in result["grads"]]}
    for field in fields:
        value = result[field]
        out[field] = value if field == "cost" else [arr.tolist() for arr in value]
    return out


def answer(line, fields=("cost", "z", "a", "deltas")):
    """The response to one request line, with grads and `fields`; never raises."""
    try:
        req = json.loads(line)
    except (ValueError, RecursionError) as e:
        return {"id": None, "error": f"request is not JSON: {e}"}
    if not isinstance(req, dict):
        return {"id": None, "error": "request must be a JSON object"}
    rid = req.get("id")
    try:
        net, params, x, y = parse_request(req)
        with np.errstate(all="ignore"):  # an overflow shows up as a non-finite result below
            result = backprop(net, params, x, y)
        if not all_finite(result):  # NaN and Infinity are not JSON: say so instead
            return {"id": rid, "error": "the result is not finite (overflow in this float type?)"}
        return {"id": rid, **to_json(result, fields)}
    except Unsupported as e:
        return {"id": rid, "unsupported": str(e)}
    except ValueError as e:
        return {"id": rid, "error": str(e)}
    except Exception as e:  # a bug here must not take the whole session down
        return {"id": rid, "error": f"{type(e).__name__}: {e}"}


def serve(fields=("cost", "z", "a", "deltas")):
    """Answer every line of stdin, in order, one flushed line each; return at EOF."""
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue  # a blank line is not a request
        try:
            sys.stdout.write(json.dumps(answer(line, fields)) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # the reader has gone: nothing left to answer
            return


def main(argv=None):
    global relu_prime_at_zero
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--relu-prime-at-zero", type=float, choices=(0.0, 1.0), default=0.0,
                        help="relu'(0): 0 (default, as jax) or 1 (the other accepted convention)")
    parser.add_argument("--grads-only", action="store_true", help="answer grads alone")
    args = parser.parse_args(argv)
    relu_prime_at_zero = args.relu_prime_at_zero
    serve(fields=() if args.grads_only else ("cost", "z", "a", "deltas"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
