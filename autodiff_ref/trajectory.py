"""The jax.grad twin of manual_bp's SGD: the same steps, with gradients from the reference.

Training multiplies any error in a gradient: a wrong ∂C/∂w moves the params somewhere else, and
every later gradient is taken there. So beyond equal gradients at one point, the proof asks for
equal *trajectories*: the same seed, data and hyper-parameters, trained once with manual_bp and
once here, must pass through the same params step after step.

What is shared with manual_bp is only the plan: the `Network` spec, the params layout and the
order of the mini-batches (`manual_bp.training.mini_batch_order`, a seeded permutation, no math).
The step itself, W → W − η ∂C/∂W with ∂C/∂W from `jax.grad` of the jax forward pass, is written
and compiled here, in float64.
"""

from __future__ import annotations

from functools import partial
from typing import Iterator, NamedTuple

from . import _x64  # noqa: F401  (float64 on before any array exists)

import jax
import jax.numpy as jnp
import numpy as np

from manual_bp.network import Layer, Network
from manual_bp.training import Step, check_hyper_parameters, mini_batch_order

from ._x64 import require_x64
from .reference import mean_cost
from .tolerance import TOLERANCES, Tolerance


@partial(jax.jit, static_argnums=(0, 1))
def _sgd_step(activations, cost, params, x, y, l2, l1, eta):
    """params − η ∇C(params) on one mini-batch, ∇ by jax.grad of the reference's mean cost."""
    grads = jax.grad(mean_cost, argnums=2)(activations, cost, params, x, y, l2, l1)
    return [(W - eta * gW, b - eta * gb) for (W, b), (gW, gb) in zip(params, grads)]


def reference_sgd_steps(net: Network, params, x, y, *, epochs: int, mini_batch_size: int,
                        eta: float, seed: int) -> Iterator[Step]:
    """Every step of mini-batch SGD with jax.grad gradients, as NumPy `Layer`s, in the order
    `manual_bp.training.sgd_steps` takes them (the same `Step(epoch, batch, params)` records)."""
    require_x64()
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    check_hyper_parameters(epochs, mini_batch_size, eta, seed)
    jparams = [(jnp.asarray(W, jnp.float64), jnp.asarray(b, jnp.float64)) for W, b in params]
    jx, jy = jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64)
    for epoch in range(1, epochs + 1):
        for batch, indices in enumerate(mini_batch_order(x.shape[0], mini_batch_size, seed, epoch)):
            jparams = _sgd_step(net.activations, net.cost, jparams, jx[indices], jy[indices],
                                net.l2, net.l1, float(eta))
            yield Step(epoch, batch, [Layer(np.asarray(W), np.asarray(b)) for W, b in jparams])


class Divergence(NamedTuple):
    """How far two trajectories are apart after one step: the worst tensor's
    max|θ_manual − θ_ref| / max|θ_ref| (normwise relative, the tolerance policy's measure), and
    whether every tensor of the step is within `tolerance`."""

    step: int
    epoch: int
    relative: float
    ok: bool


def divergence(got: list[Layer], expected: list[Layer], step: int, epoch: int,
               tolerance: Tolerance = TOLERANCES["float64"]) -> Divergence:
    """The divergence of params `got` from `expected`, judged per tensor by `tolerance`."""
    worst, ok = 0.0, True
    for g, e in zip(got, expected):
        for got_t, exp_t in zip(g, e):
            error = float(np.max(np.abs(got_t - exp_t)))
            scale = float(np.max(np.abs(exp_t)))
            ok = ok and error <= tolerance.bound(exp_t)
            worst = max(worst, error / scale if scale > 0 else error)
    return Divergence(step, epoch, worst, ok)


def trajectory_divergence(manual_steps: Iterator[Step], reference_steps: Iterator[Step],
                          tolerance: Tolerance = TOLERANCES["float64"]) -> Iterator[Divergence]:
    """Walk two trajectories in lockstep, yielding the divergence after each step."""
    for step, (m, r) in enumerate(zip(manual_steps, reference_steps), start=1):
        if (m.epoch, m.batch) != (r.epoch, r.batch):
            raise RuntimeError(f"the trajectories are out of step: {m.epoch}:{m.batch} vs {r.epoch}:{r.batch}")
        yield divergence(m.params, r.params, step, m.epoch, tolerance)
