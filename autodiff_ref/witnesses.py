"""Further witnesses for small networks: forward-mode autodiff and central finite differences.

Reverse mode (jax.grad) is the reference; these two reach the same numbers by other roads, so a
bug shared by manual_bp and jax's reverse mode would still be seen.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from . import _x64  # noqa: F401

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from manual_bp.network import Layer, Network

from .reference import _inputs, _layers, mean_cost

EPS64 = float(np.finfo(np.float64).eps)


def forward_mode_gradients(net: Network, params, x, y) -> list[Layer]:
    """∂C/∂θ by forward mode: jax.jacfwd pushes one tangent per parameter through the network."""
    jparams, jx, jy = _inputs(net, params, x, y)
    grads = _jacfwd(net.activations, net.cost, jparams, jx, jy, net.l2, net.l1)
    return _layers(grads)


def _jacfwd_impl(activations, cost, params, x, y, l2, l1):
    return jax.jacfwd(mean_cost, argnums=2)(activations, cost, params, x, y, l2, l1)


_jacfwd = jax.jit(_jacfwd_impl, static_argnums=(0, 1))


class FiniteDifferences(NamedTuple):
    """Central-difference gradients with an error estimate of the same structure."""

    grads: list[Layer]
    error_estimate: list[Layer]
    step: float


def finite_difference_gradients(net: Network, params, x, y, step_scale: float | None = None
                                ) -> FiniteDifferences:
    """∂C/∂θ_i ≈ Richardson extrapolation of central differences, in float64.

    Error model: the central difference D(h) = (C(θ + h e_i) − C(θ − h e_i)) / 2h has truncation
    error (h²/6) C''' and rounding error about ε |C| / h. Richardson's R = (4 D(h/2) − D(h)) / 3
    cancels the h² term, leaving O(h⁴) + O(ε/h); balancing the two gives h ≈ ε^{1/5} ≈ 7e-4
    (times max(1, |θ_i|)), for an error near ε^{4/5} ≈ 3e-13 on well-scaled problems. The estimate
    returned is |R − D(h/2)| (the size of the correction) plus the rounding term.

    Not valid across a kink: if a parameter's step moves a pre-activation across relu's 0, the
    difference quotient mixes both slopes. Callers flag such cases (see `near_kink`).
    """
    jparams, jx, jy = _inputs(net, params, x, y)
    h0 = step_scale if step_scale is not None else EPS64 ** 0.2
    R, estimate = _richardson(net.activations, net.cost, jparams, jx, jy, net.l2, net.l1, h0)
    return FiniteDifferences(_layers(R), _layers(estimate), float(h0))


@partial(jax.jit, static_argnums=(0, 1))
def _richardson(activations, cost, params, x, y, l2, l1, h0):
    theta, unravel = ravel_pytree(params)
    h = h0 * jnp.maximum(1.0, jnp.abs(theta))
    eye = jnp.eye(theta.shape[0], dtype=theta.dtype)

    def cost_at(t):
        return mean_cost(activations, cost, unravel(t), x, y, l2, l1)

    def central(step):  # one difference quotient per parameter, all at once
        plus = jax.vmap(lambda e: cost_at(theta + step * e))(eye)
        minus = jax.vmap(lambda e: cost_at(theta - step * e))(eye)
        return (plus - minus) / (2 * step)

    D_h, D_half = central(h), central(h / 2)
    R = (4 * D_half - D_h) / 3
    estimate = jnp.abs(R - D_half) + 4 * EPS64 * (jnp.abs(cost_at(theta)) + 1) / h
    return unravel(R), unravel(estimate)


# Activations whose derivative jumps at a point; the spec's conventions are jax's there.
KINKS = {"relu": (0.0,), "leaky_relu": (0.0,)}


def near_kink(net: Network, z: list[np.ndarray], margin: float, params=None) -> bool:
    """True when a pre-activation of a kinked activation lies within `margin` of its kink, or,
    with l1 > 0 and params given, a weight lies within `margin` of 0 (|w| has a kink there):
    where finite differences and derivative conventions are not to be trusted."""
    for name, z_l in zip(net.activations, z):
        for kink in KINKS.get(name, ()):
            if np.any(np.abs(np.asarray(z_l) - kink) <= margin):
                return True
    if net.l1 and params is not None:
        return any(np.any(np.abs(np.asarray(W)) <= margin) for W, _ in params)
    return False
