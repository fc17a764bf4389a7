"""`bp-oracle verify`: a seeded random sweep of manual_bp against the jax.grad reference.

Case `index` of seed `seed` is drawn from `numpy.random.default_rng([seed, index])` alone, so any
case can be replayed on its own (`--replay SEED:INDEX`) and a sweep can be split by index range
without changing a single case.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

import manual_bp as mb
from manual_bp.activations import ACTIVATIONS, OUTPUT_ONLY
from manual_bp.costs import COSTS
from manual_bp.network import Network, admissible_output_activations

from .agreement import Check, agreement
from .reference import JAX_ACTIVATIONS, JAX_COSTS, reference_trace
from .strategies import Case, make_case
from .tolerance import TOLERANCES, Tolerance


def random_network(rng: np.random.Generator, max_depth: int = 5, max_width: int = 12) -> Network:
    """A network of depth 1..max_depth and widths 1..max_width, every layer's activation and the
    cost drawn uniformly from those the reference knows, l2 and l1 each on half the time."""
    costs = [c for c in COSTS if c in JAX_COSTS]
    hidden = [a for a in ACTIVATIONS if a not in OUTPUT_ONLY and a in JAX_ACTIVATIONS]
    cost = costs[rng.integers(len(costs))]
    outputs = [a for a in admissible_output_activations(cost) if a in JAX_ACTIVATIONS]
    L = int(rng.integers(1, max_depth + 1))
    acts = [hidden[rng.integers(len(hidden))] for _ in range(L - 1)] + [outputs[rng.integers(len(outputs))]]
    sizes = [int(n) for n in rng.integers(1, max_width + 1, size=L + 1)]
    if acts[-1] in OUTPUT_ONLY:
        sizes[-1] = max(sizes[-1], 2)
    l2 = float(rng.choice([0.0, 1e-3, 0.1]))
    l1 = float(rng.choice([0.0, 1e-3, 0.05]))
    return Network(sizes, acts, cost, l2=l2, l1=l1)


def sweep_case(seed: int, index: int) -> Case:
    """Case `index` of the sweep with `seed`: the same numbers on every machine and every run."""
    rng = np.random.default_rng([seed, index])
    net = random_network(rng)
    m = int(rng.integers(1, 9))
    scale = float(rng.choice([0.5, 1.0, 2.0]))
    return make_case(net, m, seed=int(rng.integers(2**32)), weight_scale=scale)


@dataclass
class CaseResult:
    seed: int
    index: int
    net: Network
    m: int
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def worst(self) -> Check:
        return max(self.checks, key=lambda c: c.comparison.margin)

    @property
    def replay(self) -> str:
        return f"bp-oracle verify --replay {self.seed}:{self.index}"


def verify_case(seed: int, index: int, tol: Tolerance | None = None) -> CaseResult:
    case = sweep_case(seed, index)
    tol = tol or TOLERANCES["float64"]
    checks = agreement(mb.backprop_trace(*case), reference_trace(*case), tol)
    return CaseResult(seed, index, case.net, case.x.shape[0], checks)


@dataclass
class Row:
    """One activation × cost cell of the summary table."""

    cases: int = 0
    failed: int = 0
    worst: Check | None = None

    def add(self, result: CaseResult) -> None:
        self.cases += 1
        self.failed += not result.ok
        w = result.worst
        if self.worst is None or w.comparison.margin > self.worst.comparison.margin:
            self.worst = w


@dataclass
class Summary:
    seed: int
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]

    def table(self) -> dict[tuple[str, str], Row]:
        """A row per (activation, cost): a network counts once in the row of each activation it uses."""
        rows: dict[tuple[str, str], Row] = defaultdict(Row)
        for r in self.results:
            for name in sorted(set(r.net.activations)):
                rows[(name, r.net.cost)].add(r)
        return dict(sorted(rows.items()))


def run_sweep(seed: int, indices: Iterable[int], on_result=None) -> Summary:
    summary = Summary(seed)
    for index in indices:
        result = verify_case(seed, index)
        summary.results.append(result)
        if on_result:
            on_result(result)
    return summary
