"""The conformance suites: which networks an implementation is asked about, and why.

Every case carries the features it covers, so the report can say "softmax: 3 PASS, 1 FAIL".
Cases are a pure function of (suite, seed, supports): the same ids and numbers every run.

The families are drawn from the classes of behaviour real implementations get wrong, each class
at least once in quick and many times in default and full: coverage (every activation, cost and
output, square layers, m = 1 and m > 1, l2 and l1), sizes past every boundary code special-cases
(batch sizes around 8, 16, 32, 64; depth 8; width 1 anywhere; widths around 16, 32, 64; the
text's [784, 30, 10]), special values (weights exactly 0 under l1, targets at the edges a cost
allows, pre-activations far into both tails, softmax logits spread past overflow), kinks, state
(the same architecture again, the same request again, a shuffled order), and random networks.
A narrow implementation declares what it supports and gets every family inside that.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import numpy as np

from bp_spec import (ACTIVATIONS, COSTS, Layer, Network, admissible_output_activations,
                     get_activation_spec, hidden_activations, output_only)
from bp_spec.cases import make_case, random_network, targets

SUITES = ("quick", "default", "full")
RANDOM_CASES = {"quick": 0, "default": 150, "full": 2000}

# Sizes that code special-cases: blocks and unrolled loops of 8, 16, 32 or 64, and one past them
BATCH_BOUNDARIES = (1, 2, 7, 8, 9, 16, 17, 33, 64, 65)
WIDTH_BLOCKS = ((15, 16, 17), (31, 32, 33), (63, 64, 65))
BLOCK_WIDTHS = frozenset(w for block in WIDTH_BLOCKS for w in block)
DEEP = 8  # deeper than a ring buffer of 5 layers, or an unrolled loop of 4


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
    """The features a case covers, as names the --include/--exclude/--supports options take."""
    found = {f"activation:{a}" for a in net.activations}
    found |= {f"output:{net.activations[-1]}", f"cost:{net.cost}"}
    found.add("batch:1" if m == 1 else "batch:many")
    if m in BATCH_BOUNDARIES[2:] or m >= 64:
        found.add("batch:boundary")
    found.add(f"depth:{net.L if net.L <= 2 else 'deep'}")
    if net.L >= DEEP:
        found.add("depth:8+")
    square = [n_in == n_out for n_in, n_out in zip(net.sizes, net.sizes[1:])]
    found.add("layers:square" if any(square) else "layers:nonsquare")
    if 1 in net.sizes:
        found.add("width:1")
    if BLOCK_WIDTHS & set(net.sizes):
        found.add("width:block")
    if net.l2:
        found.add("l2")
    if net.l1:
        found.add("l1")
    if not net.l1 and not net.l2:
        found.add("unregularised")
    found |= set(extra)
    return tuple(sorted(found))


# --- what an implementation supports ---------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The activations, costs and regularisation a suite may use: everything the spec knows, or
    what an implementation declares it supports (`--supports`). Every family of cases below is
    drawn inside the scope, so a narrow implementation gets a full-size suite of what it does."""

    activations: tuple[str, ...]
    costs: tuple[str, ...]
    l2: bool = True
    l1: bool = True

    @classmethod
    def everything(cls) -> "Scope":
        return cls(tuple(ACTIVATIONS), tuple(COSTS))

    @classmethod
    def declared(cls, supports) -> "Scope":
        """The scope of `supports`: names of activations, costs, `l2`, `l1` (as --include takes
        them: `sigmoid` or `activation:sigmoid`, `quadratic` or `cost:quadratic`)."""
        names = {str(n).split(":", 1)[-1].strip() for n in supports if str(n).strip()}
        unknown = names - set(ACTIVATIONS) - set(COSTS) - {"l2", "l1"}
        if unknown:
            raise ValueError(f"--supports: unknown feature(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join([*ACTIVATIONS, *COSTS, 'l2', 'l1'])}")
        scope = cls(tuple(a for a in ACTIVATIONS if a in names), tuple(c for c in COSTS if c in names),
                    "l2" in names, "l1" in names)
        if not scope.costs or not any(scope.outputs(c) for c in scope.costs):
            raise ValueError("--supports must name at least one cost and an output activation it admits "
                             "(e.g. --supports sigmoid,quadratic)")
        return scope

    @property
    def hidden(self) -> list[str]:
        return [a for a in hidden_activations() if a in self.activations]

    def outputs(self, cost: str) -> list[str]:
        return [a for a in admissible_output_activations(cost) if a in self.activations]

    def pairs(self) -> list[tuple[str, str]]:
        """Every (cost, output activation) the scope can build."""
        return [(c, o) for c in self.costs for o in self.outputs(c)]

    def regularisation(self, l2: float, l1: float) -> tuple[float, float]:
        return (l2 if self.l2 else 0.0), (l1 if self.l1 else 0.0)

    def contains(self, net: Network) -> bool:
        return (set(net.activations) <= set(self.activations) and net.cost in self.costs
                and (self.l2 or not net.l2) and (self.l1 or not net.l1))


class _Builder:
    """Networks inside a scope, cycling through what it allows so that every family uses every
    activation and cost it can."""

    def __init__(self, scope: Scope):
        self.scope, self.k = scope, 0
        self.pair_list = scope.pairs()

    def network(self, sizes, l2=0.0, l1=0.0, hidden=None, pair=None) -> Network | None:
        """`sizes` with hidden activations cycled (or `hidden`) and the next (cost, output) pair;
        the output layer widened to 2 where softmax needs it; None if the scope has no hidden
        activation and the network is deeper than one layer."""
        self.k += 1
        cost, output = pair or self.pair_list[self.k % len(self.pair_list)]
        H = self.scope.hidden
        L = len(sizes) - 1
        if L > 1 and not H and hidden is None:
            return None
        acts = list(hidden) if hidden is not None else [H[(self.k + i) % len(H)] for i in range(L - 1)]
        sizes = list(sizes)
        if output in output_only():
            sizes[-1] = max(sizes[-1], 2)
        l2, l1 = self.scope.regularisation(l2, l1)
        return Network(sizes, acts + [output], cost, l2=l2, l1=l1)


# --- the families of cases --------------------------------------------------------------------
# Each yields `Drawn` cases: (net, params, x, y, extra features, flags).


def _coverage(b: _Builder, rng) -> Iterator:
    """Every cost with every output activation it admits, each hidden activation in a hidden
    layer (where BP2 uses its σ'), square layers (a missing transpose is only a wrong value when
    W is square), m = 1 and m > 1 (a sum for a mean is invisible at m = 1), l2 and l1 on."""
    H = b.scope.hidden
    for i, pair in enumerate(b.pair_list):
        net = b.network([4, 5, 3, 3], pair=pair, hidden=[H[i % len(H)], H[(i + 3) % len(H)]] if H else None)
        if net is None:
            net = b.network([4, 3], pair=pair)
        yield _case(net, 3, rng)
    for h in H:
        cost, output = b.pair_list[0]
        yield _case(Network([4, 4, 4], [h, output], cost), 3, rng)
    for m, l2, l1 in ((1, 0.0, 0.0), (4, 0.1, 0.0), (4, 0.0, 0.01), (5, 0.05, 0.01)):
        for sizes in ([3, 2], [4, 6, 5, 4, 3, 2]):
            net = b.network(sizes, l2=l2, l1=l1)
            if net is not None:
                yield _case(net, m, rng)
    for scale in (12.0, 10.0):  # large weights: saturated units everywhere
        net = b.network([4, 5, 3])
        if net is not None:
            yield _case(net, 3, rng, scale, extra=("edge:saturated",))


def _boundaries(b: _Builder, rng, full: bool) -> Iterator:
    """Sizes past every boundary code special-cases: batch sizes around 8, 16, 32 and 64, depth
    8 and more, width 1 in every position, widths just below, at and above 16, 32 and 64."""
    batches = BATCH_BOUNDARIES if full else (1, 7, 9, 17, 64)
    for m in batches:
        net = b.network([4, 5, 3])
        yield _case(net or b.network([4, 3]), m, rng)
    for L in ((DEEP, DEEP + 1) if full else (DEEP,)):
        net = b.network([3] + [4] * (L - 1) + [2], l2=0.01)
        if net is not None:
            yield _case(net, 3, rng, 1.0)
    for sizes in ([1, 4, 3], [3, 1, 3], [4, 3, 1]):  # width 1 first, hidden, output
        net = b.network(sizes)
        if net is None and sizes[1] != 1:
            net = b.network([sizes[0], sizes[2]])
        if net is not None and 1 in net.sizes:
            yield _case(net, 4, rng)
    blocks = WIDTH_BLOCKS if full else WIDTH_BLOCKS[:1]
    for block in blocks:
        net = b.network([block[0], block[1], block[2], 3])
        if net is None:
            net = b.network([block[0], block[1]])
        yield _case(net, 9, rng)


def _realistic(b: _Builder, rng) -> Iterator:
    """The text's [784, 30, 10] with a mini-batch of 10, and a wide network."""
    for sizes, m in (([784, 30, 10], 10), ([64, 300, 10], 17)):
        net = b.network(sizes, l2=1e-4)
        if net is not None:
            yield _case(net, m, rng, extra=("size:realistic",))


def _special_values(b: _Builder, rng) -> Iterator:
    """Weights exactly 0 under l1 (where |w| has its kink), targets a cost takes at its edges
    (exactly 0 and 1 for cross-entropy; distributions, not one-hot, for log-likelihood), and
    pre-activations far into both tails of every activation (|z| up to 800, where a naive
    e^{z} overflows; softmax rows whose logits spread over 900)."""
    scope = b.scope
    if scope.l1:
        net = b.network([4, 5, 3], l1=0.05, l2=0.01)
        if net is not None:
            c = _case(net, 4, rng)
            params = []
            for W, bias in c.params:
                W = W.copy()
                W[rng.random(W.shape) < 0.35] = 0.0
                W.flat[1] = -0.0
                params.append(Layer(W, bias))
            yield Drawn(net, params, c.x, c.y, ("edge:zero_weights",))
    if "cross_entropy" in scope.costs:
        for output in scope.outputs("cross_entropy"):
            net = b.network([4, 5, 3], pair=("cross_entropy", output))
            if net is not None:
                c = _case(net, 6, rng)
                y = c.y.copy()
                y[: 4] = (rng.random(y[: 4].shape) < 0.5).astype(float)  # exactly 0 and 1, then soft
                yield Drawn(net, c.params, c.x, y, ("edge:hard_targets",))
    if "log_likelihood" in scope.costs:
        for output in scope.outputs("log_likelihood"):
            net = b.network([4, 5, 3], pair=("log_likelihood", output))
            if net is not None:
                c = _case(net, 5, rng)
                y = rng.dirichlet(np.ones(net.sizes[-1]), size=c.m)
                yield Drawn(net, c.params, c.x, y, ("edge:soft_targets",))
    for name in scope.hidden:
        yield _tails_case(b, name, rng)
    if "sigmoid" in scope.outputs("cross_entropy") and "cross_entropy" in scope.costs:
        # a saturated sigmoid output under cross-entropy, targets 0 and 1: where BP1's textbook
        # form (a − y)/(a(1 − a)) ⊙ a(1 − a) loses its digits and δ^L = a − y does not
        yield _tails_case(b, "sigmoid", rng, pair=("cross_entropy", "sigmoid"))
    if "softmax" in scope.activations:
        for cost in ("log_likelihood", "quadratic"):
            if cost in scope.costs:
                yield _softmax_spread_case(b, cost, rng)
                break


TAIL_BIASES = (800.0, -800.0, 150.0, -300.0)  # |z| far past where e^{|z|} overflows (709.8)


def _tails_case(b: _Builder, name: str, rng, pair=None) -> tuple:
    """Activation `name` on a hidden layer whose pre-activations sit near ±800, 150 and −300
    (a bias there, small weights), and, where the scope allows it on the output, on an output
    layer whose pre-activations are in the tails too."""
    cost, output = pair or b.pair_list[0]
    if name in b.scope.outputs(cost):
        output = name
    net = Network([3, 4, 3], [name, output], cost)
    m = 4
    x = rng.standard_normal((m, 3))
    W1 = 0.5 * rng.standard_normal((4, 3))
    b1 = np.array(TAIL_BIASES)
    W2 = 0.01 * rng.standard_normal((3, 4))
    b2 = np.array([700.0, -650.0, 3.0]) if output == name else np.zeros(3)
    y = targets(net, m, rng)
    if cost == "cross_entropy":
        y = (y > 0.5).astype(float)  # exactly 0 and 1: the cost is finite only through ln σ(z)
    return Drawn(net, [Layer(W1, b1), Layer(W2, b2)], x, y, ("edge:tails",) + (("edge:hard_targets",) if cost == "cross_entropy" else ()))


def _softmax_spread_case(b: _Builder, cost: str, rng) -> tuple:
    """A softmax output whose logits spread over 900 in every row: e^{z} of the largest
    overflows unless z − max z is taken first; the others underflow to 0."""
    H = b.scope.hidden
    hidden = H[0] if H else None
    m = 4
    if hidden is None:
        net = Network([3, 3], ["softmax"], cost)
        params = [Layer(0.01 * rng.standard_normal((3, 3)), np.array([800.0, 0.0, -100.0]))]
    else:
        net = Network([3, 4, 3], [hidden, "softmax"], cost)
        params = [Layer(0.5 * rng.standard_normal((4, 3)), 0.1 * rng.standard_normal(4)),
                  Layer(0.01 * rng.standard_normal((3, 4)), np.array([800.0, 0.0, -100.0]))]
    x = rng.standard_normal((m, 3))
    return Drawn(net, params, x, targets(net, m, rng), ("edge:softmax_spread", "edge:tails"))


def _kinks(b: _Builder, rng) -> Iterator:
    """Units exactly on a kink (z = 0 for relu and leaky_relu), one unit per kinked layer: any
    subgradient is a right answer there (relu'(0) in [0, 1], leaky_relu'(0) in [0.01, 1]),
    chosen per activation, and judged exactly (bp_oracle.judge: the answers are affine in it)."""
    kinked = [a for a in b.scope.hidden if get_activation_spec(a).kinks]
    cost, output = b.pair_list[0]
    for name in kinked:  # one example with x = 0 and a zero bias: z^1_0 = 0 for that example only
        net = Network([3, 4, 2] if output not in output_only() else [3, 4, 2], [name, output], cost)
        c = _case(net, 3, rng)
        x = c.x.copy()
        x[0] = 0.0
        W1, b1 = c.params[0]
        b1 = b1.copy()
        b1[0] = 0.0
        yield Drawn(net, [Layer(W1, b1), c.params[1]], x, c.y, ("edge:kink",), {"near_kink": True})
    if len(kinked) >= 2:  # one unit of each on its kink, in two layers (a zero row and bias: z = 0)
        net = Network([3, 4, 4, 2], [kinked[0], kinked[1], output], cost)
        c = _case(net, 3, rng)
        params = [Layer(W.copy(), bias.copy()) for W, bias in c.params]
        for layer, unit in ((0, 1), (1, 2)):
            params[layer].W[unit] = 0.0
            params[layer].b[unit] = 0.0
        yield Drawn(net, params, c.x, c.y, ("edge:kink", "edge:kink_mixed"), {"near_kink": True})


def _near_zero_gradient_case(b: _Builder, rng) -> Iterator:
    """Targets equal to the network's own outputs, so δ^L and every gradient are ≈ 0: an
    implementation must not turn rounding noise into a visible error (the tolerance's atol).
    Only for quadratic, whose targets may be any number."""
    from autodiff_ref.reference import reference_forward  # the reference's own forward pass

    if "quadratic" not in b.scope.costs:
        return
    net = b.network([3, 4, 2], pair=("quadratic", b.scope.outputs("quadratic")[0]))
    if net is None:
        return
    c = _case(net, 4, rng)
    _, acts = reference_forward(net, c.params, c.x)
    yield Drawn(net, c.params, c.x, acts[-1], ("edge:near_zero_gradient",))


def _state(cases: list[Drawn], rng, repeats: int) -> Iterator:
    """State an implementation must not keep: the same architecture again with fresh params
    (a cache keyed on shapes), and identical requests again (buffers reused without zeroing)."""
    if not cases:
        return
    picks = rng.choice(len(cases), size=min(repeats, len(cases)), replace=False)
    for k in picks:
        net, params, x, y, extra, flags = cases[int(k)]
        # a repeat is the same request, so it covers what the original covers
        yield Drawn(net, params, x, y, tuple(extra) + ("state:repeat",), dict(flags))
        fresh = make_case(net, x.shape[0], int(rng.integers(2**32)))
        yield Drawn(net, fresh.params, fresh.x, fresh.y, ("state:same_architecture",))


def _random(scope: Scope, seed: int, count: int) -> Iterator:
    """Seeded random networks inside the scope: depth up to 8, widths up to 17, sometimes a
    batch size past a boundary."""
    for i in range(count):
        r = np.random.default_rng([seed, 0x5EED, i])
        deep = r.random() < 0.1
        net = random_network(r, max_depth=DEEP if deep else 5, max_width=17 if r.random() < 0.2 else 12,
                             costs=scope.costs, activations=scope.activations, regularisation=False,
                             exclude=[a for a in ACTIVATIONS if a not in scope.activations])
        l2, l1 = scope.regularisation(float(r.choice([0.0, 1e-3, 0.1])), float(r.choice([0.0, 1e-3, 0.05])))
        net = Network(net.sizes, net.activations, net.cost, l2=l2, l1=l1)
        m = int(r.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33]))
        c = make_case(net, m, int(r.integers(2**32)), weight_scale=float(r.choice([0.5, 1.0, 2.0])))
        yield Drawn(c.net, c.params, c.x, c.y, ("random",))


class Drawn(NamedTuple):
    """A case before it has an id: what every family yields."""

    net: Network
    params: list[Layer]
    x: np.ndarray
    y: np.ndarray
    extra: tuple = ()
    flags: dict = {}

    @property
    def m(self) -> int:
        return self.x.shape[0]


def _case(net: Network, m: int, rng, scale: float = 1.0, extra=(), flags=None) -> Drawn:
    c = make_case(net, m, int(rng.integers(2**32)), weight_scale=scale)
    return Drawn(c.net, c.params, c.x, c.y, tuple(extra), dict(flags or {}))


def build_suite(name: str, seed: int = 0, supports=None) -> list[OracleCase]:
    """The cases of suite `name` for `seed`, with ids `{name}-0000`, `{name}-0001`, … in the order
    they are sent. `supports` (names of activations, costs, `l2`, `l1`) draws every case inside
    what an implementation declares; None draws from everything the spec knows.

    quick: every family once (every activation and cost, boundaries, special values, kinks, a
    repeat); default: more of each, realistic networks, 150 random networks, in a seeded shuffled
    order; full: every boundary, and 2,000 random networks."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    scope = Scope.everything() if supports is None else Scope.declared(supports)
    rng = np.random.default_rng([seed, 0xB90])
    b = _Builder(scope)
    full, big = name == "full", name != "quick"
    drawn = list(_coverage(b, rng))
    drawn += _boundaries(b, rng, full)
    if big:
        drawn += _realistic(b, rng)
    drawn += _special_values(b, rng)
    drawn += _kinks(b, rng)
    drawn += _near_zero_gradient_case(b, rng)
    drawn += _random(scope, seed, RANDOM_CASES[name])
    drawn += _state([c for c in drawn if c.m <= 64 and max(c.net.sizes) <= 64], rng,
                    3 if name == "quick" else 12)
    if big:  # a behaviour that depends on the order of requests shows in a shuffled suite
        drawn = [drawn[int(k)] for k in rng.permutation(len(drawn))]
    return [OracleCase(f"{name}-{i:04d}", net, params, x, y, features_of(net, x.shape[0], extra), flags)
            for i, (net, params, x, y, extra, flags) in enumerate(drawn)]


def in_dtype(cases: list[OracleCase], dtype: str) -> list[OracleCase]:
    """The cases with every number rounded to `dtype` (kept as float64 arrays): what a request
    in that dtype sends, every number exactly representable in it, and what the reference then
    computes on. A dtype names how the implementation computes; the reference stays float64."""
    if dtype == "float64":
        return cases
    from .dtypes import round_to

    return [dataclasses.replace(c, params=[Layer(round_to(dtype, W), round_to(dtype, b)) for W, b in c.params],
                                x=round_to(dtype, c.x), y=_distribution_rows(round_to(dtype, c.y), c.net))
            for c in cases]


def _distribution_rows(y: np.ndarray, net: Network) -> np.ndarray:
    """Rounding can move a row of soft targets off summing to 1; the spec's check allows 1e-6,
    which float16 and bfloat16 exceed. Put the rounding error on the row's largest entry (exact
    for one-hot rows, which round to themselves)."""
    from bp_spec import get_cost_spec

    if get_cost_spec(net.cost).targets != "distribution":
        return y
    y = y.copy()
    top = np.argmax(y, axis=1)
    y[np.arange(y.shape[0]), top] += 1.0 - y.sum(axis=1)
    return y


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


__all__ = ["OracleCase", "SUITES", "Scope", "build_suite", "features_of", "select", "all_features", "targets"]
