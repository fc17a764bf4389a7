"""Drawing networks and cases: one generator for every side.

The verify sweep, the oracle's suites and the hypothesis strategies all draw networks with
`random_network` and cases with `make_case`; they differ only in where the choices come from:
a NumPy generator (`RngDraw`, replayable from a seed) or hypothesis (`bp_spec.strategies`, which
shrinks a failure to the smallest network that still fails).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, Sequence

import numpy as np

from .names import COSTS, admissible_output_activations, get_cost_spec, hidden_activations, output_only
from .network import Layer, Network


class Case(NamedTuple):
    net: Network
    params: list[Layer]
    x: np.ndarray
    y: np.ndarray


class Draw(Protocol):
    """Where a generator's choices come from."""

    def integer(self, lo: int, hi: int) -> int:
        """One integer in lo..hi (both included)."""

    def integers(self, lo: int, hi: int, n: int) -> list[int]:
        """n integers in lo..hi."""

    def choice(self, options: Sequence) -> Any:
        """One of `options`."""


class RngDraw:
    """Choices from a NumPy generator: the same numbers on every machine for one seed."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def integers(self, lo: int, hi: int, n: int) -> list[int]:
        return [int(v) for v in self.rng.integers(lo, hi + 1, size=n)]

    def choice(self, options: Sequence) -> Any:
        return options[int(self.rng.integers(len(options)))]


REGULARISATION = (0.0, 1e-3, 0.1)  # the l2 values drawn
L1_VALUES = (0.0, 1e-3, 0.05)      # the l1 values drawn


def random_network(draw: Draw | np.random.Generator, max_depth: int = 5, max_width: int = 12, *,
                   costs: Sequence[str] | None = None, activations: Sequence[str] | None = None,
                   exclude: Sequence[str] = (), regularisation: bool = True) -> Network:
    """A network of depth 1..max_depth and widths 1..max_width: a cost (from `costs`, default all),
    hidden activations and an output activation the cost admits (from `activations` where any
    fits, default all), none of `exclude`, and l2 and l1 each on two times in three."""
    draw = RngDraw(draw) if isinstance(draw, np.random.Generator) else draw
    keep = lambda names: [n for n in names if n not in exclude]  # noqa: E731
    prefer = lambda names: [n for n in names if n in activations] or names if activations else names  # noqa: E731
    cost = draw.choice(keep(list(costs) if costs else list(COSTS)))
    hidden = prefer(keep(hidden_activations()))
    outputs = prefer(keep(admissible_output_activations(cost)))
    L = draw.integer(1, max_depth)
    acts = [draw.choice(hidden) for _ in range(L - 1)] + [draw.choice(outputs)]
    sizes = draw.integers(1, max_width, L + 1)
    if acts[-1] in output_only():
        sizes[-1] = max(sizes[-1], 2)
    l2 = float(draw.choice(REGULARISATION)) if regularisation else 0.0
    l1 = float(draw.choice(L1_VALUES)) if regularisation else 0.0
    return Network(sizes, acts, cost, l2=l2, l1=l1)


def targets(net: Network, m: int, rng: np.random.Generator) -> np.ndarray:
    """Targets the cost admits (names.CostSpec.targets): one-hot rows for a distribution,
    uniform in [0, 1] for "unit", uniform in [−1, 1] for "real"."""
    n_L = net.sizes[-1]
    kind = get_cost_spec(net.cost).targets
    if kind == "distribution":
        return np.eye(n_L)[rng.integers(0, n_L, size=m)]
    if kind == "unit":
        return rng.uniform(0.0, 1.0, size=(m, n_L))
    return rng.uniform(-1.0, 1.0, size=(m, n_L))


def make_case(net: Network, m: int, seed: int, weight_scale: float = 1.0, dtype=np.float64) -> Case:
    """A case from a seed: network2.py's initialisation times `weight_scale`, x ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    # every array here is fresh, so no astype needs to copy (a verify sweep draws ~2,000 cases/s)
    params = [Layer((W * weight_scale).astype(dtype, copy=False), b.astype(dtype, copy=False))
              for W, b in net.init_params(seed=int(rng.integers(2**32)))]
    x = rng.standard_normal((m, net.sizes[0])).astype(dtype, copy=False)
    return Case(net, params, x, targets(net, m, rng).astype(dtype, copy=False))
