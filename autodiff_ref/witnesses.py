"""Further witnesses for small networks: forward-mode autodiff and central finite differences.

Reverse mode (jax.grad) is the reference; these two reach the same numbers by other roads, so a
bug shared by manual_bp and jax's reverse mode would still be seen.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bp_spec import Layer, Network
from bp_spec.kinks import kinks_of, sides_differ

from ._x64 import in_float64, require_x64
from .reference import _inputs, _layers, mean_cost

EPS64 = float(np.finfo(np.float64).eps)


@in_float64
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


@in_float64
def finite_difference_gradients(net: Network, params, x, y, step_scale: float | None = None
                                ) -> FiniteDifferences:
    """∂C/∂θ_i ≈ Richardson extrapolation of central differences, in float64.

    Error model: the central difference D(h) = (C(θ + h e_i) − C(θ − h e_i)) / 2h has truncation
    error (h²/6) C''' and rounding error about ε |C| / h. Richardson's R = (4 D(h/2) − D(h)) / 3
    cancels the h² term, leaving O(h⁴) + O(ε/h); balancing the two gives h ≈ ε^{1/5} ≈ 7e-4
    (times max(1, |θ_i|)), for an error near ε^{4/5} ≈ 3e-13 on well-scaled problems. The estimate
    returned is |R − D(h/2)| (the size of the correction) plus the rounding term.

    Not valid across a kink: if a parameter's step moves a pre-activation across relu's 0, the
    difference quotient mixes both slopes. Callers flag such cases (see `bp_spec.kinks.near_kink`).
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


# --- for sweeps: a witness along each disagreement -----------------------------------------------

# A finite-difference step moves a pre-activation by about step × (|a| + 1) per parameter, and
# the step is ε^{1/5} ≈ 7.4e-4 (times max(1, |θ|)): closer to a kink than this margin, about 13
# steps, a difference quotient may straddle the kink and mix its two slopes.
KINK_MARGIN = 1e-2


class Witness(NamedTuple):
    """Central differences along one disagreement u = (got − ref)/‖got − ref‖ of one tensor.

    candidate, reference: each side's directional derivative Σ g·u (they differ by ‖got − ref‖);
        NaN for a side that is not finite (then there is no direction, and fd is NaN too).
    fd, estimate: the Richardson-extrapolated difference quotient and its error estimate; NaN
        when there is no direction (a side not finite, or the two equal) or when a step crosses
        a kink.
    crosses_kink: a step of the stencil put a pre-activation (or, under l1, a weight) on the
        other side of a kink, so the quotient mixes two slopes and says nothing.
    Which side the numbers contradict is the oracle's call (bp_oracle.triangulation), not this module's.
    """

    quantity: str
    layer: int
    candidate: float
    reference: float
    fd: float
    estimate: float
    crosses_kink: bool = False


@in_float64
def disagreement_witnesses(items) -> list[Witness]:
    """One `Witness` per item (case, quantity, layer, got, ref), where case is (net, params, x, y)
    in float64, quantity is "dC/dW", "dC/db" or "delta", layer is 1..L, and got/ref are that
    tensor from the candidate and the reference. All items are evaluated in padded groups.

    Why along the disagreement: with u = d/‖d‖, d = got − ref, the two sides predict
    directional derivatives that differ by exactly ‖d‖, and one central-difference quotient
    (Richardson-extrapolated, error model as `finite_difference_gradients`) of the cost along u
    measures the truth with error ≈ ε^{4/5}: four cost evaluations decide which side is right,
    for a network of any size. For δ^l the direction is a perturbation of z^l and the cost is
    Σ_x C_x, whose derivative there is Σ_x δ^{x,l}·u^x.
    """
    from . import padded

    require_x64()
    table, costs = padded.tables()
    prepared = []
    for case, quantity, layer, got, ref in items:
        net, params, x, y = case
        got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        with np.errstate(all="ignore"):
            d = got - ref
        norm = float(np.sqrt(np.sum(np.square(d)))) if np.all(np.isfinite(d)) else np.inf
        prepared.append((case, quantity, layer, got, ref, d / norm if 0 < norm < np.inf else None))
    results: list[Witness | None] = [None] * len(items)
    by_shape: dict = {}
    for k, (case, *_rest, u) in enumerate(prepared):
        if u is None:  # no direction: a side is not finite, or the two are equal
            _, quantity, layer, got, ref, _ = prepared[k]
            side = lambda g: 0.0 if np.all(np.isfinite(g)) else float("nan")  # noqa: E731
            results[k] = Witness(quantity, layer, side(got), side(ref), float("nan"), float("nan"))
            continue
        by_shape.setdefault(padded.shape_for(case[0], case[2].shape[0]), []).append(k)
    for shape, members in by_shape.items():
        for start in range(0, len(members), padded.GROUP):
            chunk = members[start:start + padded.GROUP]
            group = padded.pad([prepared[k][0] for k in chunk], shape, table, costs)
            B = group.W.shape[0]
            dW, db, deps = np.zeros_like(group.W), np.zeros_like(group.b), np.zeros((B,) + (shape.depth, shape.batch, shape.width))
            of_sum = np.zeros(B, dtype=bool)
            steps = np.zeros((B, 5))
            for i, k in enumerate(chunk):
                (net, params, x, _), quantity, layer, _, _, u = prepared[k]
                l = layer - 1
                if quantity == "dC/dW":
                    dW[i, l, :u.shape[0], :u.shape[1]] = u
                    scale = np.max(np.abs(params[l].W))
                elif quantity == "dC/db":
                    db[i, l, :u.shape[0]] = u
                    scale = np.max(np.abs(params[l].b))
                else:  # delta: a perturbation of z^l, cost Σ_x C_x
                    deps[i, l, :u.shape[0], :u.shape[1]] = u
                    of_sum[i] = True
                    scale = 1.0
                h = EPS64 ** 0.2 * max(1.0, float(scale))
                steps[i] = (-h, -h / 2, 0.0, h / 2, h)
            values, zs = (np.asarray(v) for v in padded.costs_along(
                table, costs, group.codes, group.W, group.b, group.x, group.y, dW, db, deps, of_sum, steps))
            for i, k in enumerate(chunk):
                case, quantity, layer, got, ref, u = prepared[k]
                if _straddles(case, zs[i], group.W[i], dW[i], steps[i]):
                    results[k] = Witness(quantity, layer, float(np.sum(got * u)), float(np.sum(ref * u)),
                                         float("nan"), float("nan"), crosses_kink=True)
                    continue
                c_mh, c_mh2, c0, c_h2, c_h = values[i]
                h = steps[i, -1]
                D_h, D_half = (c_h - c_mh) / (2 * h), (c_h2 - c_mh2) / h
                fd = (4 * D_half - D_h) / 3
                estimate = abs(fd - D_half) + 4 * EPS64 * (abs(c0) + 1) / h
                results[k] = Witness(quantity, layer, float(np.sum(got * u)), float(np.sum(ref * u)),
                                     float(fd), float(estimate))
    return results


def _straddles(case, zs, W, dW, steps) -> bool:
    """Whether any step of the stencil put a pre-activation of a kinked activation, or (under l1)
    a weight, on the other side of its kink than the unperturbed point (step 0, the middle)."""
    net, _, x, _ = case
    m, centre = x.shape[0], len(steps) // 2
    for l, name in enumerate(net.activations):
        z = zs[:, l, :m, :net.sizes[l + 1]]
        if any(np.any(sides_differ(z, z[centre], kink)) for kink in kinks_of(name)):
            return True
    if net.l1:
        moved = W[None] + np.asarray(steps)[:, None, None, None] * dW[None]
        if np.any((moved >= 0) != (W >= 0)[None]):
            return True
    return False
