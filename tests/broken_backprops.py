"""Deliberately broken backprops: the negative controls every checker must catch.

Each is manual_bp's matrix-form backprop with exactly one realistic bug, built by swapping one
piece of `backprop_with`. A checker that passes any of them cannot be trusted.
"""

from __future__ import annotations

import numpy as np

import manual_bp as mb
from manual_bp.equations import (backpropagate_error, bias_gradient, regularisation_gradient,
                                 weight_gradient)


def backprop_with(net, params, x, y, *, output_error=None, hidden_error=None, bias_grad=None,
                  weight_grad=None, regularise=None):
    """manual_bp's backward pass with any of its pieces replaced; returns a `Trace`."""
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    zs, acts = mb.feedforward(net, params, x)
    output_error = output_error or (lambda net, z, a, y: mb.output_layer_error(net, z, a, y))
    hidden_error = hidden_error or (lambda W, d, z, a, sigma: backpropagate_error(W, d, z, sigma))
    bias_grad = bias_grad or (lambda d, W, net: bias_gradient(d))
    weight_grad = weight_grad or (lambda d, a_prev, W, net: weight_gradient(d, a_prev)
                                  + regularisation_gradient(W, net.l2, net.l1))
    L = net.L
    deltas = [None] * L
    deltas[-1] = output_error(net, zs[-1], acts[-1], y)
    for l in range(L - 2, -1, -1):
        deltas[l] = hidden_error(params[l + 1].W, deltas[l + 1], zs[l], acts[l + 1], net.sigmas[l])
    grads = [mb.Layer(weight_grad(d, acts[l], params[l].W, net), bias_grad(d, params[l].W, net))
             for l, d in enumerate(deltas)]
    cost = mb.total_cost(net, params, zs[-1], acts[-1], y)
    return mb.Trace(zs, acts[1:], deltas, cost, grads)


def _sigma_prime_missing_in_bp1(net, z, a, y):
    return net.cost_fn.grad_a(a, y)  # δ^L = ∇_a C, the ⊙ σ'(z^L) forgotten


def _sigma_prime_of_a_in_bp2(W, d, z, a, sigma):
    return (d @ W) * sigma.prime(a)  # σ'(a^l) where BP2 needs σ'(z^l)


def _sum_for_mean_in_bp3(d, W, net):
    return d.sum(axis=0)  # Σ_x δ^{x,l}, forgetting C is a mean


def _missing_transpose_in_bp4(d, a_prev, W, net):
    return (a_prev.T @ d) / d.shape[0] + regularisation_gradient(W, net.l2, net.l1)  # (∂C/∂W)ᵀ


def _cross_entropy_delta_with_extra_sigma_prime(net, z, a, y):
    # δ^L = a − y is already the product with σ'; multiplying again double-counts it
    return (a - y) * net.sigmas[-1].prime(z)


def _w_instead_of_w_transpose_in_bp2(W, d, z, a, sigma):
    return (d @ W.T) * sigma.prime(z)  # (w^{l+1}) δ^{l+1} without the transpose (square layers)


def _softmax_jacobian_as_diagonal(net, z, a, y):
    return net.cost_fn.grad_a(a, y) * a * (1 - a)  # only diag(J), the coupling a_j a_k dropped


def l2_on_biases(net, params, x, y):
    """Weight decay applied to the biases too: ∂C/∂b^l + l2 b^l."""
    bias_of = {id(W): b for W, b in params}
    return backprop_with(net, params, x, y,
                         bias_grad=lambda d, W, net: bias_gradient(d) + net.l2 * bias_of[id(W)])


def _variant(**pieces):
    return lambda net, params, x, y: backprop_with(net, params, x, y, **pieces)


BROKEN = {
    # name: (broken backprop, the equation a checker should blame)
    "sigma_prime_missing_in_bp1": (_variant(output_error=_sigma_prime_missing_in_bp1), "BP1"),
    "sigma_prime_of_a_in_bp2": (_variant(hidden_error=_sigma_prime_of_a_in_bp2), "BP2"),
    "sum_for_mean_in_bp3": (_variant(bias_grad=_sum_for_mean_in_bp3), "BP3"),
    "missing_transpose_in_bp4": (_variant(weight_grad=_missing_transpose_in_bp4), "BP4"),
    "cross_entropy_delta_with_extra_sigma_prime": (
        _variant(output_error=_cross_entropy_delta_with_extra_sigma_prime), "BP1"),
    "l2_on_biases": (l2_on_biases, "BP3"),
    "w_instead_of_w_transpose_in_bp2": (_variant(hidden_error=_w_instead_of_w_transpose_in_bp2), "BP2"),
    "softmax_jacobian_as_diagonal": (_variant(output_error=_softmax_jacobian_as_diagonal), "BP1"),
}
