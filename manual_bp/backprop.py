"""The drivers: feedforward, then BP1–BP4 layer by layer, for a whole mini-batch at once.

`backprop` is the fully matrix-based form (the closing problem of Nielsen's chapter 2): every
example of the batch moves through each layer in one matrix product, with no Python loop over
examples. `backprop_per_example` is the text's own loop, kept as the most literal reading.

Every driver calls the equations of `equations.py`, looked up there each time it runs, on new
arrays: nothing is kept from one call to the next. The one opt-in that keeps arrays, for large
batches, is `backprop(..., workspace=Workspace())` (workspace.py), proven to give the same bits.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from bp_spec import Layer, Network

from . import equations
from .activations import Activation, get_activation
from .costs import Cost, get_cost

Array = np.ndarray


def sigmas(net: Network) -> list[Activation]:
    """σ_1..σ_L: the NumPy functions for the spec's activation names."""
    return [get_activation(name) for name in net.activations]


def cost_of(net: Network) -> Cost:
    """C_x and ∇_a C_x for the spec's cost name."""
    return get_cost(net.cost)


class Trace(NamedTuple):
    """Everything one backward pass computes. Lists run over layers l = 1..L.

    z, a: pre-activations z^l and activations a^l, each `(m, n_l)` (a^0 = x is not repeated).
    delta: the per-example errors δ^{x,l} = ∂C_x/∂z^{x,l}, each `(m, n_l)`.
    cost: C, the batch mean of C_x plus regularisation.
    grads: ∂C/∂W^l and ∂C/∂b^l as `Layer`s, the same structure as params.
    """

    z: list[Array]
    a: list[Array]
    delta: list[Array]
    cost: float
    grads: list[Layer]


def feedforward(net: Network, params: list[Layer], x: Array) -> tuple[list[Array], list[Array]]:
    """z^l = W^l a^{l−1} + b^l and a^l = σ_l(z^l) for l = 1..L, with a^0 = x.

    Returns (zs, activations): zs over l = 1..L, activations over l = 0..L, as network.py keeps them.
    """
    activations, zs = [x], []
    for (W, b), sigma in zip(params, sigmas(net)):
        z = activations[-1] @ W.T + b  # rows are examples: (W a)ᵀ = aᵀ Wᵀ
        zs.append(z)
        activations.append(sigma.fn(z))
    return zs, activations


def output_layer_error(net: Network, z_L: Array, a_L: Array, y: Array) -> Array:
    """δ^L by BP1, or by the cost's simplified form of it where one is derived
    (cross-entropy with sigmoid, log-likelihood with softmax: δ^L = a − y)."""
    sigma, cost = get_activation(net.activations[-1]), cost_of(net)
    shortcut = cost.output_error_shortcuts.get(sigma.name)
    if shortcut is not None:
        return shortcut(z_L, a_L, y)
    return equations.output_error(cost.grad_a(a_L, y), z_L, sigma)


def total_cost(net: Network, params: list[Layer], z_L: Array, a_L: Array, y: Array) -> float:
    """C = (1/m) Σ_x C_x + (l2/2) Σ_l ‖W^l‖² + l1 Σ_l Σ_jk |w^l_jk|."""
    C = float(np.mean(cost_of(net).value(z_L, a_L, y, get_activation(net.activations[-1]))))
    if net.l2:
        C += 0.5 * net.l2 * sum(float(np.sum(W * W)) for W, _ in params)
    if net.l1:
        C += net.l1 * sum(float(np.sum(np.abs(W))) for W, _ in params)
    return C


class Pieces(NamedTuple):
    """What the backward loop is built from. manual_bp uses `EQUATIONS`; a precision mode or a
    negative control (a deliberately broken backprop) replaces one piece and keeps the loop.
    A piece left None is manual_bp's own, looked up in `equations.py` each time the loop runs.

    output_error: (net, z^L, a^L, y) → δ^L: BP1, or its simplified form where one is derived.
    backpropagate_error: (W^{l+1}, δ^{l+1}, z^l, σ_l) → δ^l: BP2.
    bias_gradient: δ^l → ∂C/∂b^l: BP3.
    weight_gradient: (δ^l, a^{l−1}) → ∂C/∂W^l without regularisation: BP4.
    regularisation_gradient: (W^l, l2, l1) → the regularisation term's ∂/∂W^l.
    """

    output_error: Optional[Callable] = None
    backpropagate_error: Optional[Callable] = None
    bias_gradient: Optional[Callable] = None
    weight_gradient: Optional[Callable] = None
    regularisation_gradient: Optional[Callable] = None

    def filled(self) -> Pieces:
        """These pieces, with equations.py's own, as it holds them now, wherever none is given:
        replacing an equation there (as a test does) changes what every driver runs."""
        return Pieces(self.output_error or output_layer_error,
                      self.backpropagate_error or equations.backpropagate_error,
                      self.bias_gradient or equations.bias_gradient,
                      self.weight_gradient or equations.weight_gradient,
                      self.regularisation_gradient or equations.regularisation_gradient)


EQUATIONS = Pieces()  # manual_bp's own: BP1–BP4 of equations.py


def _backward(net: Network, params: list[Layer], zs: list[Array], activations: list[Array], y: Array,
              pieces: Pieces = EQUATIONS, keep_record: bool = False) -> tuple[list[Array], list[Layer]]:
    """BP1 at the output; then, from the last layer back to the first, BP4 and BP3 from δ^l and
    BP2 for δ^{l−1}, each δ used as soon as it is made. The trace keeps every z, a and δ;
    backprop lets each z^l and a^l go once read for the last time, so that the next layer's δ
    and gradients can reuse their memory."""
    bp, sigma = pieces.filled(), sigmas(net)
    deltas, grads = [None] * net.L, [None] * net.L
    delta = bp.output_error(net, zs[-1], activations[-1], y)  # BP1
    for l in range(net.L - 1, -1, -1):  # list index l holds layer l + 1
        if not keep_record:
            zs[l] = activations[l + 1] = None  # z^{l+1}, a^{l+1}: last read by BP1, or BP2 and BP4 above
        W = params[l].W
        nabla_W = bp.weight_gradient(delta, activations[l])  # BP4 (activations[l] is a^{l−1})
        if net.l2 or net.l1:
            nabla_W += bp.regularisation_gradient(W, net.l2, net.l1)
        grads[l] = Layer(nabla_W, bp.bias_gradient(delta))  # BP3
        if keep_record:
            deltas[l] = delta
        if l > 0:
            delta = bp.backpropagate_error(W, delta, zs[l - 1], sigma[l - 1])  # BP2
    return deltas, grads


def backprop(net: Network, params: list[Layer], x, y, *, workspace: "Workspace | None" = None) -> list[Layer]:
    """∂C/∂W^l and ∂C/∂b^l for every layer, over the whole batch at once.

    Arguments:
        net: the spec.
        params: a list of `Layer(W, b)`.
        x, y: a batch `(m, n_0)`, `(m, n_L)`, or one example as 1-D arrays.
        workspace: None (the default): new arrays, nothing kept between calls. A
            `manual_bp.Workspace`, the opt-in for large batches: the same bits, computed in
            arrays it keeps, with NumPy's `out=` semantics (`workspace.backprop`, workspace.py).
    Returns:
        a list of `Layer(∂C/∂W^l, ∂C/∂b^l)`, the same structure as params: new arrays, the
        caller's own; with a workspace, its arrays, which its next call overwrites.
    """
    if workspace is not None:  # not imported here: workspace.py builds on this module
        if not callable(getattr(workspace, "backprop", None)):
            raise TypeError(f"workspace must be a manual_bp.Workspace or None, got {type(workspace).__name__}")
        return workspace.backprop(net, params, x, y)
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    zs, activations = feedforward(net, params, x)
    return _backward(net, params, zs, activations, y)[1]


def backprop_trace(net: Network, params: list[Layer], x, y) -> Trace:
    """`backprop`, returning the whole record: z, a, δ for every layer, the cost and the grads."""
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    return trace_with(net, params, x, y)


def trace_with(net: Network, params: list[Layer], x: Array, y: Array, pieces: Pieces | None = None) -> Trace:
    """The whole record of one backward pass built from `pieces` (manual_bp's `EQUATIONS` by
    default), on inputs already checked: the arrays keep their dtype and type, so a precision
    mode can pass arrays that round every operation (bp_oracle.sweep.precision)."""
    zs, activations = feedforward(net, params, x)
    deltas, grads = _backward(net, params, zs, activations, y, pieces or EQUATIONS, keep_record=True)
    cost = total_cost(net, params, zs[-1], activations[-1], y)
    return Trace(z=zs, a=activations[1:], delta=deltas, cost=cost, grads=grads)


def backprop_per_example(net: Network, params: list[Layer], x, y) -> list[Layer]:
    """The text's algorithm read literally: for each example x (a column vector), feed forward,
    compute δ^L (BP1), move it back (BP2), add a_in δ_out (BP4) and δ (BP3) to running sums;
    then divide by m. network.py's `backprop` and `update_mini_batch`, with any activation and cost."""
    params = net.check_params(params)
    xs, ys = net.check_batch(x, y)
    sigma, L, m = sigmas(net), net.L, xs.shape[0]
    nabla_b = [np.zeros_like(b) for _, b in params]
    nabla_w = [np.zeros_like(W) for W, _ in params]
    for x, y in zip(xs, ys):
        # feedforward, storing every z and activation, layer by layer
        activation, activations, zs = x, [x], []
        for (W, b), sigma_l in zip(params, sigma):
            z = W @ activation + b
            zs.append(z)
            activation = sigma_l.fn(z)
            activations.append(activation)
        # backward pass: BP1 at the output layer
        delta = output_layer_error(net, zs[-1], activations[-1], y)
        nabla_b[-1] += delta
        nabla_w[-1] += np.outer(delta, activations[-2])
        # BP2 for l = L−1, …, 1, using negative indices as network.py does
        for l in range(2, L + 1):
            # ((w^{l+1})ᵀ δ) ⊙ σ'(z^l)
            delta = equations.backpropagate_error(params[-l + 1].W, delta, zs[-l], sigma[-l])
            nabla_b[-l] += delta
            nabla_w[-l] += np.outer(delta, activations[-l - 1])
    return [Layer(nw / m + equations.regularisation_gradient(W, net.l2, net.l1), nb / m)
            for nw, nb, (W, _) in zip(nabla_w, nabla_b, params)]
