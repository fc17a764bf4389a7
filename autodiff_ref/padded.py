"""The reference for a whole sweep at once: networks padded to a few fixed shapes, many per call.

`reference.py` compiles one jax function per network (its activations, cost and sizes are
static), about 0.3 s each, so a random sweep spends its time compiling. Here the same forward
pass and the same `jax.grad` run on networks padded to a maximal shape:

* absent neurons have zero weights and biases and are masked to z = a = 0, so they feed nothing
  forward and receive no error back;
* absent examples (rows past m) are left out of the cost by a mask;
* absent layers (past L) compute z = a = 0, and the cost reads z^L, a^L at the network's own L,
  so nothing past it reaches C;
* each layer's activation and the cost are integer codes, selected inside the compiled function.

`jax.vmap` then checks many networks per call, and a sweep compiles once per `PaddedShape` it
meets (`shape_for` rounds each network up to a coarse ladder, so that is a handful).

Padding changes nothing: `tests/reference/test_padded_reference.py` proves the padded results equal the
plain reference's network by network. They agree to rounding, not always bit for bit, because
XLA may sum a dot product of length 12 in a different order than one of length 5.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bp_spec import Layer, Network

from ._x64 import in_float64, require_x64
from .reference import COST_TERMS, JAX_ACTIVATIONS, ReferenceTrace, _log1m_softmax, regularisation

# Networks per compiled call: each call is padded to this many, so its shape never changes.
GROUP = 64

# The ladders each dimension is rounded up to: the default sweep (depth ≤ 5, widths ≤ 12,
# batches ≤ 8) fits the first rung of each, one compilation for the whole sweep.
DEPTHS = (5, 10, 20, 40, 80)
WIDTHS = (12, 24, 48, 96, 192, 384, 768)
BATCHES = (8, 32, 128, 512)


class PaddedShape(NamedTuple):
    depth: int  # layers L_max
    width: int  # neurons per layer N (the input layer too)
    batch: int  # examples M


def _rung(value: int, ladder: Sequence[int]) -> int:
    for rung in ladder:
        if value <= rung:
            return rung
    top = ladder[-1]
    return top * 2 ** math.ceil(math.log2(value / top))


def shape_for(net: Network, m: int) -> PaddedShape:
    """The smallest padded shape of the ladder that holds `net` with a batch of m."""
    return PaddedShape(_rung(net.L, DEPTHS), _rung(max(net.sizes), WIDTHS), _rung(m, BATCHES))


# --- one padded network, written as the plain reference is ------------------------------------


class Codes(NamedTuple):
    """What the compiled function needs to know about one padded network, as arrays."""

    activation: jnp.ndarray  # (L_max,) int: index into the activation table, per layer
    last: jnp.ndarray        # () int: L − 1, the output layer's index
    cost: jnp.ndarray        # () int: index into the cost table
    neurons: jnp.ndarray     # (L_max + 1, N) bool: real neurons of layers 0..L_max
    examples: jnp.ndarray    # (M,) bool: real examples
    m: jnp.ndarray           # () float: the batch size
    l2: jnp.ndarray
    l1: jnp.ndarray


def _select(table, code, z, mask_row):
    """σ_code(z): every entry of `table` is evaluated (vmap turns a switch into a select anyway),
    but each sees z only where it is the chosen one and 0 elsewhere, so an unchosen function's
    infinite slope (ln 0, say) never meets a zero cotangent to make 0·∞ = NaN in the gradient."""
    out = jnp.zeros_like(z)
    for i, (name, fn) in enumerate(table):
        chosen = code == i
        z_i = jnp.where(chosen, z, 0.0)
        if name == "softmax":  # over the layer's real neurons only
            a_i = jax.nn.softmax(z_i, axis=-1, where=mask_row)
        else:
            a_i = fn(z_i)
        out = jnp.where(chosen, a_i, out)
    return out


def _forward(table, codes: Codes, W, b, x, eps):
    """z^l = W^l a^{l−1} + b^l (+ ε^l), a^l = σ_l(z^l), for l = 1..L_max; absent neurons 0.

    One layer is written once and scanned over the stacked layers (`lax.scan`), so the traced
    and compiled program does not grow with the padded depth: a depth-80 shape costs what a
    depth-5 one does to trace (measured: tracing was most of a suite's time when unrolled)."""

    def layer(a, per_layer):
        W_l, b_l, eps_l, real_l, code = per_layer
        real = real_l[None, :]
        z = jnp.dot(a, W_l.T) + b_l[None, :]  # every example (row) gets the same bias
        z = jnp.where(real, z + eps_l, 0.0)
        a = jnp.where(real, _select(table, code, z, real), 0.0)
        return a, (z, a)

    a0 = jnp.where(codes.neurons[0][None, :], x, 0.0)
    _, (zs, as_) = jax.lax.scan(layer, a0, (W, b, eps, codes.neurons[1:], codes.activation))
    return zs, as_


def _log_output(table, out_code, z, a, real, needs_log_a, needs_log_1ma):
    """ln a^L and ln(1 − a^L), from z where the output activation allows (as reference.py).

    Each form sees the real z or a only if the cost takes that logarithm and the form is the
    output activation's; otherwise a harmless 0 (or ½): a log-likelihood on a saturated softmax
    must not differentiate ln(1 − 1), which it never uses (see `_select`)."""
    names = {name: i for i, (name, _) in enumerate(table)}
    is_sigmoid, is_softmax = out_code == names["sigmoid"], out_code == names["softmax"]
    is_other = ~is_sigmoid & ~is_softmax

    def forms(needed):
        z_sig = jnp.where(needed & is_sigmoid, z, 0.0)
        z_soft = jnp.where(needed & is_softmax, z, 0.0)
        a_other = jnp.where(needed & is_other & real, a, 0.5)
        return z_sig, z_soft, a_other

    z_sig, z_soft, a_other = forms(needs_log_a)
    log_a = jnp.where(is_sigmoid, jax.nn.log_sigmoid(z_sig),
                      jnp.where(is_softmax, jnp.where(real, jax.nn.log_softmax(z_soft, where=real), 0.0),
                                jnp.log(a_other)))
    z_sig, z_soft, a_other = forms(needs_log_1ma)
    log_1ma = jnp.where(is_sigmoid, jax.nn.log_sigmoid(-z_sig),
                        jnp.where(is_softmax, jnp.where(real, _log1m_softmax(z_soft, real), 0.0),
                                  jnp.log1p(-a_other)))
    return log_a, log_1ma


def _per_example_costs(table, costs, codes: Codes, W, b, x, y, eps):
    """C_x for every (padded) example, 0 for absent ones, and the forward record."""
    zs, as_ = _forward(table, codes, W, b, x, eps)
    z_L, a_L = zs[codes.last], as_[codes.last]
    real = codes.neurons[codes.last + 1][None, :]
    log_a, log_1ma = _log_output(table, codes.activation[codes.last], z_L, a_L, real,
                                 jnp.asarray([c.takes_log_a for _, c in costs])[codes.cost],
                                 jnp.asarray([c.takes_log_1ma for _, c in costs])[codes.cost])
    C_x = jnp.zeros(x.shape[0], dtype=x.dtype)
    for i, (_, cost) in enumerate(costs):
        chosen = codes.cost == i
        a_i = jnp.where(chosen & real, a_L, 0.5)  # an unchosen cost sees a harmless a (see _select)
        terms = cost.terms(a_i, y, log_a, log_1ma)
        C_x = jnp.where(chosen, jnp.sum(jnp.where(real, terms, 0.0), axis=-1), C_x)
    return jnp.where(codes.examples, C_x, 0.0), (zs, as_)


def _regularisation(W, neurons, l2, l1):
    """The reference's regularisation over the real weights (those joining real neurons)."""
    return regularisation([jnp.where(neurons[l + 1][:, None] & neurons[l][None, :], W[l], 0.0)
                           for l in range(W.shape[0])], l2, l1)


def _trace_one(table, costs, codes, W, b, x, y):
    """z, a, δ, C and ∂C/∂θ of one padded network, by one forward pass and one (batched) VJP."""

    def costs_of(W, b, eps):
        C_x, record = _per_example_costs(table, costs, codes, W, b, x, y, eps)
        return (C_x, _regularisation(W, codes.neurons, codes.l2, codes.l1)), record

    zero = jnp.zeros((W.shape[0],) + x.shape[:1] + W.shape[1:2], dtype=x.dtype)
    (C_x, R), vjp, (zs, as_) = jax.vjp(costs_of, W, b, zero, has_aux=True)
    # Two cotangents through the same backward pass: (1/m per example, 1) gives the gradient of
    # C = (1/m) Σ_x C_x + R (Assumption 1); (1 per example, 0) gives the gradient of Σ_x C_x,
    # whose part along the zero perturbation ε^l of z^l is δ^{x,l} = ∂C_x/∂z^{x,l}.
    mean_seed = (jnp.where(codes.examples, 1 / codes.m, 0.0), jnp.ones_like(R))
    sum_seed = (jnp.where(codes.examples, 1.0, 0.0), jnp.zeros_like(R))
    seeds = jax.tree.map(lambda s, t: jnp.stack([s, t]), mean_seed, sum_seed)
    (gW, gb, _), (_, _, deltas) = [jax.tree.map(lambda g: g[k], grads)
                                   for k, grads in enumerate([jax.vmap(vjp)(seeds)] * 2)]
    C = jnp.sum(C_x) / codes.m + R
    return zs, as_, deltas, C, gW, gb


@partial(jax.jit, static_argnums=(0, 1))
def _traces(table, costs, codes, W, b, x, y):
    return jax.vmap(partial(_trace_one, table, costs))(codes, W, b, x, y)


def _cost_along(table, costs, codes, W, b, x, y, dW, db, deps, of_sum, t):
    """The cost at θ + t·u, for a finite-difference witness along a direction u = (dW, db, dε):
    C for a direction in the parameters, Σ_x C_x for one in the pre-activations (whose
    derivative is Σ_x δ^x·dε^x)."""
    C_x, (zs, _) = _per_example_costs(table, costs, codes, W + t * dW, b + t * db, x, y, t * deps)
    mean = jnp.sum(C_x) / codes.m + _regularisation(W + t * dW, codes.neurons, codes.l2, codes.l1)
    return jnp.where(of_sum, jnp.sum(C_x), mean), zs


@partial(jax.jit, static_argnums=(0, 1))
def costs_along(table, costs, codes, W, b, x, y, dW, db, deps, of_sum, steps):
    """`_cost_along` for a group of padded networks (one direction each) at every step in
    `steps` (one row of steps per network): costs (B, S) and pre-activations (B, S, L_max, M, N)."""
    per_network = lambda *args: jax.vmap(lambda t: _cost_along(table, costs, *args[:-1], t))(args[-1])  # noqa: E731
    return jax.vmap(per_network)(codes, W, b, x, y, dW, db, deps, of_sum, steps)


# --- padding and unpadding (NumPy) ------------------------------------------------------------


class Padded(NamedTuple):
    """A group of networks padded to one shape: the compiled function's arguments, as NumPy."""

    codes: Codes
    W: np.ndarray  # (B, L_max, N, N)
    b: np.ndarray  # (B, L_max, N)
    x: np.ndarray  # (B, M, N)
    y: np.ndarray  # (B, M, N)


def tables():
    """The activation and cost tables the codes index: (name, function) for every activation and
    (name, `CostTerms`) for every cost the reference knows. The functions are part of the compiled
    function's key, so a name registered again with another function compiles anew rather than
    reusing the old one."""
    return tuple(JAX_ACTIVATIONS.items()), tuple(COST_TERMS.items())


def pad(cases: Sequence, shape: PaddedShape, table, costs, group: int = GROUP) -> Padded:
    """`cases` (net, params, x, y) in float64, padded to `shape`, and to `group` networks with
    copies of the first (their results are never read)."""
    L_max, N, M = shape
    B = max(group, len(cases))
    W = np.zeros((B, L_max, N, N))
    b = np.zeros((B, L_max, N))
    x = np.zeros((B, M, N))
    y = np.zeros((B, M, N))
    activation = np.zeros((B, L_max), dtype=np.int32)  # absent layers: code 0, masked anyway
    last = np.zeros(B, dtype=np.int32)
    cost = np.zeros(B, dtype=np.int32)
    neurons = np.zeros((B, L_max + 1, N), dtype=bool)
    examples = np.zeros((B, M), dtype=bool)
    m = np.ones(B)
    l2 = np.zeros(B)
    l1 = np.zeros(B)
    act_code = {name: i for i, (name, _) in enumerate(table)}
    cost_code = {name: i for i, (name, _) in enumerate(costs)}
    for i in range(B):
        net, params, xi, yi = cases[i] if i < len(cases) else cases[0]
        if net.L > L_max or max(net.sizes) > N or xi.shape[0] > M:
            raise ValueError(f"network {net.sizes} with m={xi.shape[0]} does not fit {shape}")
        for l, (Wl, bl) in enumerate(params):
            n_out, n_in = Wl.shape
            W[i, l, :n_out, :n_in] = Wl
            b[i, l, :n_out] = bl
            activation[i, l] = act_code[net.activations[l]]
        for l, n in enumerate(net.sizes):
            neurons[i, l, :n] = True
        mi = xi.shape[0]
        x[i, :mi, :net.sizes[0]] = xi
        y[i, :mi, :net.sizes[-1]] = yi
        examples[i, :mi] = True
        last[i], cost[i], m[i], l2[i], l1[i] = net.L - 1, cost_code[net.cost], mi, net.l2, net.l1
    codes = Codes(activation, last, cost, neurons, examples, m, l2, l1)
    return Padded(codes, W, b, x, y)


def _unpad(net: Network, m: int, i: int, zs, as_, deltas, C, gW, gb) -> ReferenceTrace:
    n = net.sizes
    z = [zs[i, l, :m, :n[l + 1]] for l in range(net.L)]
    a = [as_[i, l, :m, :n[l + 1]] for l in range(net.L)]
    delta = [deltas[i, l, :m, :n[l + 1]] for l in range(net.L)]
    grads = [Layer(gW[i, l, :n[l + 1], :n[l]], gb[i, l, :n[l + 1]]) for l in range(net.L)]
    return ReferenceTrace(z=z, a=a, delta=delta, cost=float(C[i]), grads=grads)


def _checked(net: Network, params, x, y):
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    return (net, [Layer(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params],
            np.asarray(x, np.float64), np.asarray(y, np.float64))


def padded_reference_traces(cases: Sequence, group: int = GROUP,
                            shape: PaddedShape | None = None) -> list[ReferenceTrace]:
    """`reference_trace` of every case (net, params, x, y), computed padded: the cases are
    grouped by `shape_for` (or all padded to `shape`, which must hold each of them), `group`
    networks per compiled call. Results in the order given. Each (shape, group) compiles once."""
    return padded_reference_traces_started(cases, group, shape)()


@in_float64
def padded_reference_traces_started(cases: Sequence, group: int = GROUP, shape: PaddedShape | None = None, *,
                                    checked: bool = False) -> Callable[[], list[ReferenceTrace]]:
    """`padded_reference_traces`, begun: the compiled calls are dispatched (jax runs them on its
    own threads) and a function is returned that waits for them and gives the traces. A caller
    with other work (the candidate's backprop, in a sweep) does it in between.

    `checked=True` skips the input checks, for cases the caller drew itself with bp_spec (valid
    by construction: float64 arrays of the network's shapes, finite). The sweep does: the checks
    were 23 µs of its ~500 µs per network."""
    require_x64()
    cases = list(cases) if checked else [_checked(*case) for case in cases]
    table, costs = tables()
    by_shape: dict[PaddedShape, list[int]] = {}
    for k, (net, _, x, _) in enumerate(cases):
        by_shape.setdefault(shape or shape_for(net, x.shape[0]), []).append(k)
    running = []
    for shape, members in by_shape.items():
        for start in range(0, len(members), group):
            chunk = members[start:start + group]
            padded = pad([cases[k] for k in chunk], shape, table, costs, group)
            running.append((chunk, _traces(table, costs, *padded)))

    def finish() -> list[ReferenceTrace]:
        out: list[ReferenceTrace | None] = [None] * len(cases)
        for chunk, arrays in running:
            results = [np.asarray(r) for r in arrays]
            for i, k in enumerate(chunk):
                out[k] = _unpad(cases[k][0], cases[k][2].shape[0], i, *results)
        return out
    return finish
