"""Deliberately broken backprops: the negative controls every checker must catch.

Each is manual_bp's own backward loop (`manual_bp.trace_with`) with exactly one realistic bug, made
by replacing one of its pieces (`manual_bp.Pieces`). A checker that passes any of them cannot be
trusted.
"""

from __future__ import annotations

import numpy as np

import manual_bp as mb


def _sigma_prime_missing_in_bp1(net, z, a, y):
    return mb.cost_of(net).grad_a(a, y)  # δ^L = ∇_a C, the ⊙ σ'(z^L) forgotten


def _sigma_prime_of_a_in_bp2(W, d, z, sigma):
    return (d @ W) * sigma.prime(sigma.fn(z))  # σ'(a^l) where BP2 needs σ'(z^l)


def _sum_for_mean_in_bp3(d):
    return d.sum(axis=0)  # Σ_x δ^{x,l}, forgetting C is a mean


def _missing_transpose_in_bp4(d, a_prev):
    return (a_prev.T @ d) / d.shape[0]  # (∂C/∂W)ᵀ


def _cross_entropy_delta_with_extra_sigma_prime(net, z, a, y):
    # δ^L = a − y is already the product with σ'; multiplying again double-counts it
    return (a - y) * mb.get_activation(net.activations[-1]).prime(z)


def _w_instead_of_w_transpose_in_bp2(W, d, z, sigma):
    return (d @ W.T) * sigma.prime(z)  # (w^{l+1}) δ^{l+1} without the transpose (square layers)


def _softmax_jacobian_as_diagonal(net, z, a, y):
    return mb.cost_of(net).grad_a(a, y) * a * (1 - a)  # only diag(J), the coupling a_j a_k dropped


def backprop_with(net, params, x, y, **pieces) -> mb.Trace:
    """manual_bp's backward pass with the named pieces replaced; returns a `Trace`."""
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    return mb.trace_with(net, params, x, y, mb.EQUATIONS._replace(**pieces))


def l2_on_biases(net, params, x, y) -> mb.Trace:
    """Weight decay applied to the biases too: ∂C/∂b^l + l2 b^l."""
    trace = backprop_with(net, params, x, y)
    grads = [mb.Layer(gW, gb + net.l2 * b) for (gW, gb), (_, b) in zip(trace.grads, params)]
    return trace._replace(grads=grads)


def _variant(**pieces):
    return lambda net, params, x, y: backprop_with(net, params, x, y, **pieces)


BROKEN = {
    # name: (broken backprop, the equation a checker should blame)
    "sigma_prime_missing_in_bp1": (_variant(output_error=_sigma_prime_missing_in_bp1), "BP1"),
    "sigma_prime_of_a_in_bp2": (_variant(backpropagate_error=_sigma_prime_of_a_in_bp2), "BP2"),
    "sum_for_mean_in_bp3": (_variant(bias_gradient=_sum_for_mean_in_bp3), "BP3"),
    "missing_transpose_in_bp4": (_variant(weight_gradient=_missing_transpose_in_bp4), "BP4"),
    "cross_entropy_delta_with_extra_sigma_prime": (
        _variant(output_error=_cross_entropy_delta_with_extra_sigma_prime), "BP1"),
    "l2_on_biases": (l2_on_biases, "BP3"),
    "w_instead_of_w_transpose_in_bp2": (_variant(backpropagate_error=_w_instead_of_w_transpose_in_bp2), "BP2"),
    "softmax_jacobian_as_diagonal": (_variant(output_error=_softmax_jacobian_as_diagonal), "BP1"),
}


# --- the negative control of the precision modes (bp_oracle/sweep/precision.py) -------------


def _sum_in_float16(terms) -> np.ndarray:
    """Σ terms, each term and every partial sum rounded to float16: accumulation in float16."""
    total = np.zeros(terms.shape[1:], dtype=np.float16)
    for term in terms:
        total = (total + term.astype(np.float16)).astype(np.float16)
    return total


def _weight_gradient_in_float16(delta, a_prev):
    per_example = delta[:, :, None] * a_prev[:, None, :]  # δ^{x,l} (a^{x,l−1})ᵀ for each x
    return _sum_in_float16(per_example).astype(delta.dtype) / delta.shape[0]


def _bias_gradient_in_float16(delta):
    return _sum_in_float16(delta).astype(delta.dtype) / delta.shape[0]


ACCUMULATING_IN_FLOAT16 = mb.Pieces(bias_gradient=_bias_gradient_in_float16,
                                    weight_gradient=_weight_gradient_in_float16)


def backprop_accumulating_in_float16(net, params, x, y) -> mb.Trace:
    """manual_bp with one precision bug: BP3 and BP4 sum their per-example terms over the batch
    in float16 (the rest runs in the inputs' dtype). A float32 sweep must fail it
    (`bp-oracle verify --dtype float32 --backprop tests/broken_backprops.py:backprop_accumulating_in_float16`)."""
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    return mb.trace_with(net, params, x, y, ACCUMULATING_IN_FLOAT16)
