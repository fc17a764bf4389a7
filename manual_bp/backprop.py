"""The drivers: feedforward, then BP1–BP4 layer by layer, for a whole mini-batch at once.

`backprop` is the fully matrix-based form (the closing problem of Nielsen's chapter 2): every
example of the batch moves through each layer in one matrix product, with no Python loop over
examples. `backprop_per_example` is the text's own loop, kept as the most literal reading.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from bp_spec import Layer, Network

from .activations import Activation, get_activation
from .costs import Cost, get_cost
from .equations import (backpropagate_error, bias_gradient, output_error,
                        regularisation_gradient, weight_gradient)
from .workspace import Workspace, is_large, rows_into, suits, thread_workspace

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


def feedforward(net: Network, params: list[Layer], x: Array,
                workspace: Workspace | None = None) -> tuple[list[Array], list[Array]]:
    """z^l = W^l a^{l−1} + b^l and a^l = σ_l(z^l) for l = 1..L, with a^0 = x.

    Returns (zs, activations): zs over l = 1..L, activations over l = 0..L, as network.py keeps them.
    With a workspace, z^l and a^l are its arrays (overwritten by the next call that uses it).
    """
    activations, zs = [x], []
    for l, ((W, b), sigma) in enumerate(zip(params, sigmas(net))):  # l: a key for the workspace
        if workspace is None:
            z = activations[-1] @ W.T + b  # rows are examples: (W a)ᵀ = aᵀ Wᵀ
            a = sigma.fn(z)
        else:  # the same operations, written into kept arrays; σ a block of rows at a time
            shape = (x.shape[0], W.shape[0])
            z = np.matmul(activations[-1], W.T, out=workspace.array(("z", l), shape, x.dtype))
            z += b
            a = rows_into(workspace.array(("a", l), shape, x.dtype), sigma.fn, z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def output_layer_error(net: Network, z_L: Array, a_L: Array, y: Array) -> Array:
    """δ^L by BP1, or by the cost's simplified form of it where one is derived
    (cross-entropy with sigmoid, log-likelihood with softmax: δ^L = a − y)."""
    sigma, cost = get_activation(net.activations[-1]), cost_of(net)
    shortcut = cost.output_error_shortcuts.get(sigma.name)
    if shortcut is not None:
        return shortcut(z_L, a_L, y)
    return output_error(cost.grad_a(a_L, y), z_L, sigma)


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

    output_error: (net, z^L, a^L, y) → δ^L: BP1, or its simplified form where one is derived.
    backpropagate_error: (W^{l+1}, δ^{l+1}, z^l, σ_l) → δ^l: BP2.
    bias_gradient: δ^l → ∂C/∂b^l: BP3.
    weight_gradient: (δ^l, a^{l−1}) → ∂C/∂W^l without regularisation: BP4.
    regularisation_gradient: (W^l, l2, l1) → the regularisation term's ∂/∂W^l.
    """

    output_error: Callable = output_layer_error
    backpropagate_error: Callable = backpropagate_error
    bias_gradient: Callable = bias_gradient
    weight_gradient: Callable = weight_gradient
    regularisation_gradient: Callable = regularisation_gradient


EQUATIONS = Pieces()  # manual_bp's own: BP1–BP4 of equations.py


def _backward(net: Network, params: list[Layer], zs: list[Array], activations: list[Array], y: Array,
              pieces: Pieces, keep_record: bool = False,
              workspace: Workspace | None = None) -> tuple[list[Array], list[Layer]]:
    """BP1 at the output; then, from the last layer back to the first, BP3 and BP4 from δ^l and
    BP2 for δ^{l−1}, each δ used as soon as it is made. The trace keeps every z, a and δ;
    backprop lets each z^l and a^l go once read for the last time, so that the next layer's δ
    and gradients reuse their memory.

    With a workspace (zs and activations are its arrays): each δ^l is written over a^l, which it
    outlives: a^l's last reader, BP4 of layer l + 1, runs just before BP2 makes δ^l (a^L's, BP1,
    reads each block before writing it), so no array beyond z^l and a^l is needed; and BP4 writes
    into a weight gradient the workspace keeps, once the caller has let go of it."""
    L, sigma = net.L, sigmas(net)
    deltas, grads = [None] * L, [None] * L
    in_place = workspace is not None
    if not in_place:
        delta = pieces.output_error(net, zs[-1], activations[-1], y)  # BP1
    else:  # BP1 a block of examples at a time: each example's δ^{x,L} depends on its row alone
        delta = rows_into(activations[-1], lambda z, a, y: pieces.output_error(net, z, a, y),
                          zs[-1], activations[-1], y)
    for l in range(L - 1, -1, -1):  # list index l holds layer l + 1
        if not keep_record:
            zs[l] = activations[l + 1] = None  # z^{l+1}, a^{l+1}: last read by BP1, or BP2 and BP4 above
        W = params[l].W
        if not in_place:
            nabla_W = pieces.weight_gradient(delta, activations[l])  # BP4 (activations[l] is a^{l−1})
        else:  # BP4 into a gradient the workspace keeps (EQUATIONS' own: pieces take no `out`)
            nabla_W = weight_gradient(delta, activations[l], out=workspace.gradient_array(("W", l), W.shape, W.dtype))
        if net.l2 or net.l1:
            nabla_W += pieces.regularisation_gradient(W, net.l2, net.l1)
        grads[l] = Layer(nabla_W, pieces.bias_gradient(delta))  # BP3
        if keep_record:
            deltas[l] = delta
        if l > 0 and not in_place:
            delta = pieces.backpropagate_error(W, delta, zs[l - 1], sigma[l - 1])  # BP2
        elif l > 0:  # BP2, over a^l (list index l), read for the last time by BP4 just above
            delta = _error_moved_back_into(activations[l], W, delta, zs[l - 1], sigma[l - 1])
    return deltas, grads


def _error_moved_back_into(out: Array, W_next: Array, delta_next: Array, z: Array, sigma: Activation) -> Array:
    """BP2, δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l), written into `out`: the product over the whole
    batch (one GEMM: split by rows it ran 7–13 % slower, its B repacked for every block), then
    the Hadamard product with σ'(z^l) a block of rows at a time, so σ' allocates nothing large."""
    delta = np.matmul(delta_next, W_next, out=out)
    return rows_into(delta, lambda moved, z: moved * sigma.prime(z), delta, z)


def backprop(net: Network, params: list[Layer], x, y, *,
             workspace: Workspace | bool | None = None) -> list[Layer]:
    """∂C/∂W^l and ∂C/∂b^l for every layer, over the whole batch at once.

    Arguments:
        net: the spec.
        params: a list of `Layer(W, b)`.
        x, y: a batch `(m, n_0)`, `(m, n_L)`, or one example as 1-D arrays.
        workspace: where z^l and a^l (then δ^l) are written. None (the default): this thread's own
            workspace when the batch is large (its widest layer ≥ 512 KiB; it then keeps those
            arrays for the next call, see `manual_bp.workspace`), fresh arrays otherwise. A
            `Workspace`: that one. False: fresh arrays always. Either way fresh arrays are used
            when the call does not suit a workspace (mixed dtypes, a registered activation or
            cost), when x or y is the workspace's own, or while another call holds it.
    Returns:
        a list of `Layer(∂C/∂W^l, ∂C/∂b^l)`, the same structure as params, the caller's own: never
        the workspace's z or a, and not written again while the caller holds them (with a
        workspace, a ∂C/∂W^l the caller has let go of may be written by a later call).
    """
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    workspace = _workspace_for(net, params, x, y, workspace)
    if workspace is None:
        zs, activations = feedforward(net, params, x)
        return _backward(net, params, zs, activations, y, EQUATIONS)[1]
    try:
        workspace.keep_layers(net.L)
        zs, activations = feedforward(net, params, x, workspace)
        return _backward(net, params, zs, activations, y, EQUATIONS, workspace=workspace)[1]
    finally:
        workspace.let_go()


def _workspace_for(net: Network, params: list[Layer], x: Array, y: Array,
                   workspace: Workspace | bool | None) -> Workspace | None:
    """The workspace `backprop` writes into, held for this call, or None for fresh arrays: when
    none is asked for, when the call does not suit one (workspace.suits), when x or y is one of
    its arrays, or when another call holds it (a backprop inside a σ, another thread)."""
    if workspace is None:
        workspace = thread_workspace() if is_large(x, net.sizes) else False
    if workspace is False:
        return None
    if not isinstance(workspace, Workspace):
        raise TypeError(f"workspace must be a manual_bp Workspace, None or False, got {type(workspace).__name__}")
    if not suits(net, params, x, y) or not workspace.hold():
        return None
    if workspace.overlaps(x, y):
        workspace.let_go()
        return None
    return workspace


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
            delta = backpropagate_error(params[-l + 1].W, delta, zs[-l], sigma[-l])  # ((w^{l+1})ᵀ δ) ⊙ σ'(z^l)
            nabla_b[-l] += delta
            nabla_w[-l] += np.outer(delta, activations[-l - 1])
    return [Layer(nw / m + regularisation_gradient(W, net.l2, net.l1), nb / m)
            for nw, nb, (W, _) in zip(nabla_w, nabla_b, params)]
