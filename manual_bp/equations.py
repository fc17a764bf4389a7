"""The four equations of backpropagation, one small function each (Nielsen, ch. 2).

All arrays are batch-first: row x of `delta` is δ^{x,l}, the error of example x. For one example
as a column vector the text writes (w^{l+1})ᵀ δ^{l+1}; for all examples as rows at once that is
δ^{l+1} W^{l+1}, and a^{l−1}_k δ^l_j summed over examples is δᵀ a^{l−1}.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation

Array = np.ndarray


def output_error(grad_a_cost: Array, z_L: Array, sigma: Activation) -> Array:
    """BP1: δ^L = ∇_a C ⊙ σ'(z^L), the error of the output layer.

    The Hadamard form is the diagonal case of the chain rule δ^L = J_σ(z^L)ᵀ ∇_a C: when σ acts
    on each neuron alone, J_σ = diag(σ'(z^L)) and diag(σ'(z))ᵀ g = g ⊙ σ'(z). Softmax couples
    the neurons of a layer, so its J_σ is full and it brings its own product Jᵀg.
    """
    if sigma.elementwise:
        return grad_a_cost * sigma.prime(z_L)
    return sigma.jacobian_T_dot(z_L, grad_a_cost)


def backpropagate_error(W_next: Array, delta_next: Array, z: Array, sigma: Activation,
                        out: Array | None = None) -> Array:
    """BP2: δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l), the error moved one layer back.
    `out`: an array to write it into (a workspace's), or None for a new one."""
    delta = np.matmul(delta_next, W_next, out=out)  # (w^{l+1})ᵀ δ^{l+1} for every example (row) at once
    delta *= sigma.prime(z)  # ⊙ σ'(z^l), in place: no second (m, n_l) array
    return delta


def bias_gradient(delta: Array, out: Array | None = None) -> Array:
    """BP3: ∂C/∂b^l_j = δ^l_j, averaged over the batch because C = (1/m) Σ_x C_x.
    `out`: an array to write it into (a workspace's), or None for a new one."""
    return delta.mean(axis=0, out=out)


def weight_gradient(delta: Array, a_prev: Array, out: Array | None = None) -> Array:
    """BP4: ∂C/∂w^l_jk = a^{l−1}_k δ^l_j, averaged over the batch: (1/m) Σ_x δ^{x,l} (a^{x,l−1})ᵀ.
    `out`: an array to write it into (a workspace's), or None for a new one."""
    nabla_w = np.matmul(delta.T, a_prev, out=out)  # Σ_x δ^{x,l} (a^{x,l−1})ᵀ: the sum over examples, one product
    nabla_w /= delta.shape[0]   # the mean, in place
    return nabla_w


def regularisation_gradient(W: Array, l2: float, l1: float) -> Array:
    """∂/∂W of (l2/2)‖W‖² + l1 Σ|w| = l2 W + l1 sign(W), with d|w|/dw = +1 at w = 0 as jax."""
    grad = np.zeros_like(W)
    if l2:
        grad += l2 * W
    if l1:
        grad += l1 * np.where(W >= 0, 1.0, -1.0).astype(W.dtype)
    return grad
