"""Hypothesis strategies for networks and cases, public so other projects' suites can use them.

    from hypothesis import given
    from bp_spec.strategies import cases

    @given(cases())
    def test_my_backprop(case):
        net, params, x, y = case
        ...

Networks come from the same generator as every other draw (`bp_spec.cases.random_network`),
with hypothesis making the choices; arrays are drawn from a seed (NumPy's generator), not element
by element. Hypothesis then explores architectures, activations, costs and regularisation, and
shrinks a failure to the smallest network that still fails. Importing this module needs
hypothesis (the test extra); nothing else in bp_spec does.
"""

from __future__ import annotations

from typing import Any, Sequence

from hypothesis import strategies as st

from .cases import Case, make_case, random_network
from .network import Network


class HypothesisDraw:
    """`bp_spec.cases.Draw` with hypothesis making each choice (so it can shrink them)."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def integers(self, lo: int, hi: int, n: int) -> list[int]:
        return self.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))

    def choice(self, options: Sequence) -> Any:
        return self.draw(st.sampled_from(list(options)))


@st.composite
def networks(draw, max_depth: int = 6, max_width: int = 16, costs: Sequence[str] | None = None,
             activations: Sequence[str] | None = None, regularisation: bool = True) -> Network:
    """A valid `Network` (see `random_network`): depth 1..max_depth, widths 1..max_width."""
    return random_network(HypothesisDraw(draw), max_depth, max_width, costs=costs,
                          activations=activations, regularisation=regularisation)


@st.composite
def cases(draw, max_batch: int = 8, weight_scales: Sequence[float] = (0.5, 1.0, 2.0),
          **network_kwargs) -> Case:
    """A network with params, a batch x of 1..max_batch examples, and targets y that fit its cost."""
    net = draw(networks(**network_kwargs))
    m = draw(st.integers(1, max_batch))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from(list(weight_scales)))
    return make_case(net, m, seed, scale)
