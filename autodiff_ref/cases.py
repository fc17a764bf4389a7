"""A case to check: a network, its params and a batch, made from a seed (NumPy only, no hypothesis),
so the sweep, the oracle's suites and the hypothesis strategies all draw cases the same way."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from manual_bp.network import Layer, Network


class Case(NamedTuple):
    net: Network
    params: list[Layer]
    x: np.ndarray
    y: np.ndarray


def targets(net: Network, m: int, rng: np.random.Generator) -> np.ndarray:
    """Targets the cost admits: one-hot rows for log-likelihood, [0, 1] for cross-entropy."""
    n_L = net.sizes[-1]
    if net.cost == "log_likelihood":
        return np.eye(n_L)[rng.integers(0, n_L, size=m)]
    if net.cost == "cross_entropy":
        return rng.uniform(0.0, 1.0, size=(m, n_L))
    return rng.uniform(-1.0, 1.0, size=(m, n_L))


def make_case(net: Network, m: int, seed: int, weight_scale: float = 1.0, dtype=np.float64) -> Case:
    """A case from a seed: network2.py's initialisation times `weight_scale`, x ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    params = [Layer((W * weight_scale).astype(dtype), b.astype(dtype))
              for W, b in net.init_params(seed=int(rng.integers(2**32)))]
    x = rng.standard_normal((m, net.sizes[0])).astype(dtype)
    return Case(net, params, x, targets(net, m, rng).astype(dtype))
