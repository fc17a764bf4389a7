"""The conformance suites: which networks an implementation is asked about, and why.

Every case carries the features it covers, so the report can say "softmax: 3 PASS, 1 FAIL".
`quick` covers every feature at least once; `default` adds seeded random networks; `full` adds
many more. Cases are a pure function of (suite, seed): the same ids and numbers every run.

The structured cases are chosen so that each known bug shows on at least one of them:
m > 1 (a sum-for-mean bug is invisible at m = 1), square layers (a missing transpose is only a
wrong value, not a wrong shape, when W is square), every hidden activation in a hidden layer
(a wrong σ' there is only seen by BP2), l2 and l1 on (regularisation bugs), and edge cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from bp_spec import COSTS, Layer, Network, admissible_output_activations, hidden_activations
from bp_spec.cases import make_case, random_network, targets

SUITES = ("quick", "default", "full")
RANDOM_CASES = {"quick": 0, "default": 150, "full": 2000}


@dataclass(frozen=True)
class OracleCase:
    """One request of a suite: the network, its params and batch, and what it covers."""

    id: str
    net: Network
    params: list[Layer]
    x: np.ndarray
    y: np.ndarray
    features: tuple[str, ...]
    flags: dict = field(default_factory=dict)  # e.g. {"near_kink": True}

    @property
    def m(self) -> int:
        return self.x.shape[0]


def features_of(net: Network, m: int, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The features a case covers, as names the --include/--exclude options take."""
    found = {f"activation:{a}" for a in net.activations}
    found |= {f"output:{net.activations[-1]}", f"cost:{net.cost}"}
    found.add("batch:1" if m == 1 else "batch:many")
    found.add(f"depth:{net.L if net.L <= 2 else 'deep'}")
    square = [n_in == n_out for n_in, n_out in zip(net.sizes, net.sizes[1:])]
    found.add("layers:square" if any(square) else "layers:nonsquare")
    if net.l2:
        found.add("l2")
    if net.l1:
        found.add("l1")
    if not net.l1 and not net.l2:
        found.add("unregularised")
    found |= set(extra)
    return tuple(sorted(found))


def _structured(seed: int) -> Iterator[tuple[Network, int, float, tuple[str, ...]]]:
    """(network, batch size, weight scale, extra features) for the cases every suite has."""
    hidden = hidden_activations()
    # every cost with every output activation it admits; the hidden layers cycle through every
    # elementwise activation, so each appears in a hidden layer (where BP2 uses its σ')
    k = 0
    for cost in COSTS:
        for output in admissible_output_activations(cost):
            h1, h2 = hidden[k % len(hidden)], hidden[(k + 3) % len(hidden)]
            n_out = 3
            yield Network([4, 5, 3, n_out], [h1, h2, output], cost), 3, 1.0, ()
            k += 1
    for h in hidden:  # square layers, depth 2, each hidden activation
        yield Network([4, 4, 4], [h, "identity"], "quadratic"), 3, 1.0, ()
    # depth 1, batch 1 and many, regularisation on
    yield Network([3, 2], ["sigmoid"], "quadratic"), 1, 1.0, ()
    yield Network([3, 2], ["sigmoid"], "cross_entropy", l2=0.1), 4, 1.0, ()
    yield Network([5, 3], ["softmax"], "log_likelihood", l1=0.01), 4, 1.0, ()
    yield Network([4, 6, 5, 4, 3, 2], ["tanh", "relu", "elu", "softplus", "sigmoid"], "cross_entropy",
                  l2=0.05, l1=0.01), 5, 1.0, ()
    yield Network([4, 4, 4, 4], ["tanh", "sigmoid", "softmax"], "log_likelihood", l2=0.1), 1, 1.0, ()
    yield Network([6, 4, 4, 2], ["leaky_relu", "tanh", "identity"], "quadratic", l2=0.1, l1=0.02), 6, 1.0, ()
    # edge cases
    yield Network([4, 5, 3], ["sigmoid", "sigmoid"], "quadratic"), 3, 12.0, ("edge:saturated",)
    yield Network([4, 5, 3], ["tanh", "sigmoid"], "cross_entropy"), 3, 10.0, ("edge:saturated",)


def _near_zero_gradient_case(seed: int) -> tuple[Network, list[Layer], np.ndarray, np.ndarray]:
    """Targets equal to the network's own outputs, so δ^L and every gradient are ≈ 0: an
    implementation must not turn rounding noise into a visible error (the tolerance's atol)."""
    from autodiff_ref.reference import reference_forward  # the reference's own forward pass

    net = Network([3, 4, 2], ["tanh", "identity"], "quadratic")
    case = make_case(net, 4, seed)
    _, acts = reference_forward(net, case.params, case.x)
    return net, case.params, case.x, acts[-1]


def _relu_kink_case(seed: int, activation: str) -> tuple[Network, list[Layer], np.ndarray, np.ndarray]:
    """An example x = 0 and a zero bias, so z^1_0 = 0 exactly: the unit sits on the kink, where
    relu'(0) is a convention (0 in jax, 1 in some code), judged as such."""
    net = Network([3, 4, 2], [activation, "sigmoid"], "quadratic")
    case = make_case(net, 3, seed)
    x = case.x.copy()
    x[0] = 0.0
    W1, b1 = case.params[0]
    b1 = b1.copy()
    b1[0] = 0.0
    return net, [Layer(W1, b1), case.params[1]], x, case.y


def build_suite(name: str, seed: int = 0) -> list[OracleCase]:
    """The cases of suite `name` for `seed`, with ids `{name}-0000`, `{name}-0001`, …"""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    cases: list[OracleCase] = []

    def add(net, params, x, y, extra=(), flags=None):
        cases.append(OracleCase(f"{name}-{len(cases):04d}", net, params, x, y,
                                features_of(net, x.shape[0], extra), flags or {}))

    rng = np.random.default_rng([seed, 0xB90])
    for net, m, scale, extra in _structured(seed):
        c = make_case(net, m, int(rng.integers(2**32)), weight_scale=scale)
        add(c.net, c.params, c.x, c.y, extra)
    add(*_near_zero_gradient_case(int(rng.integers(2**32))), extra=("edge:near_zero_gradient",))
    for activation in ("relu", "leaky_relu"):
        add(*_relu_kink_case(int(rng.integers(2**32)), activation), extra=("edge:kink",),
            flags={"near_kink": True})
    for i in range(RANDOM_CASES[name]):
        r = np.random.default_rng([seed, 0x5EED, i])
        net = random_network(r)
        c = make_case(net, int(r.integers(1, 9)), int(r.integers(2**32)),
                      weight_scale=float(r.choice([0.5, 1.0, 2.0])))
        add(c.net, c.params, c.x, c.y, ("random",))
    return cases


def all_features(cases: list[OracleCase]) -> list[str]:
    return sorted({f for c in cases for f in c.features})


def select(cases: list[OracleCase], include: list[str], exclude: list[str]) -> list[OracleCase]:
    """Cases with every included feature and none of the excluded; unknown names are an error.
    A bare name matches any feature with that value (`tanh` matches `activation:tanh`)."""
    known = set(all_features(cases))

    def resolve(name: str) -> set[str]:
        hits = {f for f in known if f == name or f.split(":", 1)[-1] == name}
        if not hits:
            raise ValueError(f"unknown feature {name!r}; known: {', '.join(sorted(known))}")
        return hits

    inc = [resolve(n) for n in include]
    exc = set().union(*[resolve(n) for n in exclude]) if exclude else set()
    return [c for c in cases
            if all(set(c.features) & hits for hits in inc) and not set(c.features) & exc]


__all__ = ["OracleCase", "SUITES", "build_suite", "features_of", "select", "all_features", "targets"]
