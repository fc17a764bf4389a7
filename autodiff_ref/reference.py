"""The autodiff reference: a forward pass written in jax from the same `Network` spec, and its
gradients by `jax.grad`, in float64.

Nothing here calls manual_bp's math. Only the spec (names, sizes, l2, l1), the params layout and
the input checks are shared; every activation and cost below is jax's own function, so the two
sides are independent implementations of one definition.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from . import _x64  # noqa: F401  (float64 on before any array exists)

import jax
import jax.numpy as jnp
import numpy as np

from manual_bp.network import Layer, Network

from ._x64 import require_x64

# --- the spec's names, in jax --------------------------------------------------------------

JAX_ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=0.01),
    "elu": partial(jax.nn.elu, alpha=1.0),
    "softplus": jax.nn.softplus,
    "identity": lambda z: z,
    "softmax": partial(jax.nn.softmax, axis=-1),
}

# ln a and ln(1 − a) from z, for the costs that take logarithms of the output: computing them
# from a would give ln 0 once σ saturates in float64.
def _log1m_softmax(z):
    """ln(1 − softmax(z)_k) = logsumexp_{j≠k} z_j − logsumexp_j z_j, with no 1 − a that cancels
    when a_k → 1: row k of the mask leaves out z_k. O(n²) per example, fine for a reference."""
    n = z.shape[-1]
    others = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, z[..., None, :])
    return jax.nn.logsumexp(others, axis=-1) - jax.nn.logsumexp(z, axis=-1, keepdims=True)


JAX_LOG_OUTPUT = {
    "sigmoid": (jax.nn.log_sigmoid, lambda z: jax.nn.log_sigmoid(-z)),
    "softmax": (partial(jax.nn.log_softmax, axis=-1), _log1m_softmax),
}


def _log_output(output_activation: str, z, a):
    if output_activation in JAX_LOG_OUTPUT:
        log_fn, log1m_fn = JAX_LOG_OUTPUT[output_activation]
        return log_fn(z), log1m_fn(z)
    return jnp.log(a), jnp.log1p(-a)


def _ylog(y, log_a):
    """y ln a with 0 ln 0 = 0."""
    return jnp.where(y == 0, 0.0, y * log_a)


def quadratic(z, a, y, output_activation):
    return 0.5 * jnp.sum(jnp.square(a - y), axis=-1)


def cross_entropy(z, a, y, output_activation):
    log_a, log_1ma = _log_output(output_activation, z, a)
    return -jnp.sum(_ylog(y, log_a) + _ylog(1 - y, log_1ma), axis=-1)


def log_likelihood(z, a, y, output_activation):
    log_a, _ = _log_output(output_activation, z, a)
    return -jnp.sum(_ylog(y, log_a), axis=-1)


JAX_COSTS = {"quadratic": quadratic, "cross_entropy": cross_entropy, "log_likelihood": log_likelihood}


def jax_activation(name: str):
    try:
        return JAX_ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"the reference has no jax form of activation {name!r}; "
                         f"known: {', '.join(JAX_ACTIVATIONS)}") from None


def jax_cost(name: str):
    try:
        return JAX_COSTS[name]
    except KeyError:
        raise ValueError(f"the reference has no jax form of cost {name!r}; "
                         f"known: {', '.join(JAX_COSTS)}") from None


# --- the forward pass ------------------------------------------------------------------------


def forward(activations: tuple[str, ...], params, x, perturbations=None):
    """z^l = W^l a^{l−1} + b^l (+ ε^l), a^l = σ_l(z^l). The zero perturbations ε^l are how the
    reference reads δ^l = ∂C/∂z^l off jax.grad without writing BP1 or BP2."""
    a, zs, as_ = x, [], []
    for l, ((W, b), name) in enumerate(zip(params, activations)):
        z = jnp.dot(a, W.T) + b[None, :]  # every example (row) gets the same bias
        if perturbations is not None:
            z = z + perturbations[l]
        a = jax_activation(name)(z)
        zs.append(z)
        as_.append(a)
    return zs, as_


def per_example_costs(activations, cost, params, x, y, perturbations=None):
    """C_x for every example, shape (m,), and the forward record."""
    zs, as_ = forward(activations, params, x, perturbations)
    return jax_cost(cost)(zs[-1], as_[-1], y, activations[-1]), (zs, as_)


def regularisation(params, l2, l1):
    """(l2/2) Σ_l ‖W^l‖² + l1 Σ_l Σ_jk |w^l_jk|; biases are not regularised."""
    return sum(0.5 * l2 * jnp.sum(jnp.square(W)) + l1 * jnp.sum(jnp.abs(W)) for W, _ in params)


def mean_cost(activations, cost, params, x, y, l2, l1):
    """C = (1/m) Σ_x C_x + regularisation: Assumption 1."""
    C_x, _ = per_example_costs(activations, cost, params, x, y)
    return jnp.mean(C_x) + regularisation(params, l2, l1)


@partial(jax.jit, static_argnums=(0, 1))
def _gradients(activations, cost, params, x, y, l2, l1):
    return jax.grad(mean_cost, argnums=2)(activations, cost, params, x, y, l2, l1)


@partial(jax.jit, static_argnums=(0, 1))
def _trace(activations, cost, params, x, y, l2, l1):
    def with_record(params):
        C_x, (zs, as_) = per_example_costs(activations, cost, params, x, y)
        return jnp.mean(C_x) + regularisation(params, l2, l1), (zs, as_)

    (C, (zs, as_)), grads = jax.value_and_grad(with_record, has_aux=True)(params)
    # δ^{x,l} = ∂C_x/∂z^{x,l}: the gradient of Σ_x C_x with respect to an additive zero
    # perturbation of each z^l (each example's z only reaches its own C_x).
    zeros = [jnp.zeros_like(z) for z in zs]
    deltas = jax.grad(lambda eps: jnp.sum(per_example_costs(activations, cost, params, x, y, eps)[0]))(zeros)
    return zs, as_, deltas, C, grads


# --- the public API: NumPy in, NumPy out -----------------------------------------------------


class ReferenceTrace(NamedTuple):
    """The reference's record; lists run over layers 1..L, each array `(m, n_l)`."""

    z: list[np.ndarray]
    a: list[np.ndarray]
    delta: list[np.ndarray]
    cost: float
    grads: list[Layer]


def _inputs(net: Network, params, x, y):
    """The spec's checks, then everything as float64 jax arrays."""
    require_x64()
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    jparams = [(jnp.asarray(W, jnp.float64), jnp.asarray(b, jnp.float64)) for W, b in params]
    return jparams, jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64)


def _to_numpy(arr) -> np.ndarray:
    out = np.asarray(arr)
    if out.dtype != np.float64:
        raise RuntimeError(f"the reference computed in {out.dtype}, not float64")
    return out


def _layers(grads) -> list[Layer]:
    return [Layer(_to_numpy(gW), _to_numpy(gb)) for gW, gb in grads]


def reference_gradients(net: Network, params, x, y) -> list[Layer]:
    """∂C/∂W^l, ∂C/∂b^l by jax.grad of the jax forward pass, in float64, as NumPy `Layer`s."""
    jparams, jx, jy = _inputs(net, params, x, y)
    return _layers(_gradients(net.activations, net.cost, jparams, jx, jy, net.l2, net.l1))


def reference_trace(net: Network, params, x, y) -> ReferenceTrace:
    """z, a, δ for every layer, the cost and the gradients, all by jax, in float64.

    δ^l comes from jax.grad with respect to a zero perturbation added to z^l, so BP1 and BP2
    can each be checked on their own, not only through the final gradients.
    """
    jparams, jx, jy = _inputs(net, params, x, y)
    zs, as_, deltas, C, grads = _trace(net.activations, net.cost, jparams, jx, jy, net.l2, net.l1)
    return ReferenceTrace(z=[_to_numpy(z) for z in zs], a=[_to_numpy(a) for a in as_],
                          delta=[_to_numpy(d) for d in deltas], cost=float(C), grads=_layers(grads))


def reference_cost(net: Network, params, x, y) -> float:
    """C by the jax forward pass, in float64."""
    jparams, jx, jy = _inputs(net, params, x, y)
    return float(_cost_jit(net.activations, net.cost, jparams, jx, jy, net.l2, net.l1))


_cost_jit = jax.jit(mean_cost, static_argnums=(0, 1))
