"""Hypothesis strategies for networks and cases, public so other projects' suites can use them.

    from hypothesis import given
    from autodiff_ref.strategies import cases

    @given(cases())
    def test_my_backprop(case):
        net, params, x, y = case
        ...

Arrays are drawn from a seed (NumPy's generator), not element by element: hypothesis then
explores architectures, activations, costs and regularisation, and shrinks a failure to the
smallest network that still fails.
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

from manual_bp.activations import ACTIVATIONS, OUTPUT_ONLY
from manual_bp.costs import COSTS
from manual_bp.network import Network, admissible_output_activations

from .cases import Case, make_case, targets  # noqa: F401  (re-exported: the strategies' building blocks)


def hidden_activations() -> list[str]:
    return [name for name in ACTIVATIONS if name not in OUTPUT_ONLY]


@st.composite
def networks(draw, max_depth: int = 6, max_width: int = 16, costs: Sequence[str] | None = None,
             activations: Sequence[str] | None = None, regularisation: bool = True) -> Network:
    """A valid `Network`: depth 1..max_depth, widths 1..max_width, hidden activations from
    `activations` (default: all elementwise ones), a cost from `costs` (default: all) with an
    output activation it admits, and l2/l1 on or off."""
    cost = draw(st.sampled_from(sorted(costs or COSTS)))
    outputs = admissible_output_activations(cost)
    hidden = hidden_activations()
    if activations is not None:
        hidden = [a for a in activations if a in hidden] or hidden
        outputs = [a for a in outputs if a in activations] or outputs
    L = draw(st.integers(1, max_depth))
    output = draw(st.sampled_from(outputs))
    acts = [draw(st.sampled_from(hidden)) for _ in range(L - 1)] + [output]
    sizes = draw(st.lists(st.integers(1, max_width), min_size=L + 1, max_size=L + 1))
    if output in OUTPUT_ONLY:
        sizes[-1] = max(sizes[-1], 2)
    l2 = draw(st.sampled_from([0.0, 1e-3, 0.1])) if regularisation else 0.0
    l1 = draw(st.sampled_from([0.0, 1e-3, 0.05])) if regularisation else 0.0
    return Network(sizes, acts, cost, l2=l2, l1=l1)


@st.composite
def cases(draw, max_batch: int = 8, weight_scales: Sequence[float] = (0.5, 1.0, 2.0),
          **network_kwargs) -> Case:
    """A network with params, a batch x of 1..max_batch examples, and targets y that fit its cost."""
    net = draw(networks(**network_kwargs))
    m = draw(st.integers(1, max_batch))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from(list(weight_scales)))
    return make_case(net, m, seed, scale)
