"""The jax.grad twin of manual_bp's SGD: the same steps, with gradients from the reference.

Training multiplies any error in a gradient: a wrong ∂C/∂w moves the params somewhere else, and
every later gradient is taken there. So beyond equal gradients at one point, the proof asks for
equal *trajectories*: the same seed, data and hyper-parameters, trained once with manual_bp and
once here, must pass through the same params step after step.

What is shared with manual_bp is only the plan: the `Network` spec, the params layout and the
order of the mini-batches (`bp_spec.schedule.mini_batch_order`, a seeded permutation, no math).
The step itself, W → W − η ∂C/∂W with ∂C/∂W from `jax.grad` of the jax forward pass, is written
and compiled here, in float64.
"""

from __future__ import annotations

from functools import partial
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from bp_spec import Layer, Network
from bp_spec.schedule import Step, check_hyper_parameters, mini_batch_order

from ._x64 import in_float64, require_x64
from .reference import mean_cost


@partial(jax.jit, static_argnums=(0, 1))
def _sgd_step(activations, cost, params, x, y, l2, l1, eta):
    """params − η ∇C(params) on one mini-batch, ∇ by jax.grad of the reference's mean cost."""
    grads = jax.grad(mean_cost, argnums=2)(activations, cost, params, x, y, l2, l1)
    return [(W - eta * gW, b - eta * gb) for (W, b), (gW, gb) in zip(params, grads)]


def reference_sgd_steps(net: Network, params, x, y, *, epochs: int, mini_batch_size: int,
                        eta: float, seed: int) -> Iterator[Step]:
    """Every step of mini-batch SGD with jax.grad gradients, as NumPy `Layer`s, in the order
    manual_bp's `sgd_steps` takes them (the same `Step(epoch, batch, params)` records)."""
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    check_hyper_parameters(epochs, mini_batch_size, eta, seed)
    params = [Layer(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    for epoch in range(1, epochs + 1):
        for batch, indices in enumerate(mini_batch_order(x.shape[0], mini_batch_size, seed, epoch)):
            # float64 around each step only: the caller's code between steps sees jax as it was
            params = _step(net, params, x[indices], y[indices], float(eta))
            yield Step(epoch, batch, params)


@in_float64
def _step(net: Network, params: list[Layer], x, y, eta: float) -> list[Layer]:
    require_x64()
    jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    new = _sgd_step(net.activations, net.cost, jparams, jnp.asarray(x), jnp.asarray(y), net.l2, net.l1, eta)
    return [Layer(np.asarray(W), np.asarray(b)) for W, b in new]
