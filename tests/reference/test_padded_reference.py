"""The padded reference computes what the plain reference computes: padding networks into one
shape, many per compiled call, changes nothing but the order of roundings.

Equal to rounding, not bit for bit: XLA may sum a dot product over the padded length (12) in
another order than over the network's own (5), so the last bits can differ. The bound used,
1e-12 relative, is 1000× below the float64 tolerance and 25× above the worst gap measured.
"""

import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref import padded
from autodiff_ref.padded import PaddedShape, pad, padded_reference_traces, shape_for, tables
from autodiff_ref.reference import reference_trace
from bp_spec.cases import make_case
from bp_oracle.sweep.engine import run_sweep

# Six networks that between them use every activation, cost, depth 1..5, widths 1 and 12,
# batches 1 and 8, l2 and l1, and a softmax that padding must not spread over absent neurons.
NETWORKS = [
    (mb.Network([12, 1, 12], ["relu", "softmax"], "log_likelihood", l1=0.05), 8),
    (mb.Network([3, 5, 4, 6, 2, 3], ["sigmoid", "tanh", "elu", "leaky_relu", "softmax"], "cross_entropy", l2=0.1), 3),
    (mb.Network([4, 7, 2], ["softplus", "sigmoid"], "cross_entropy"), 1),
    (mb.Network([5, 3], "identity", "quadratic", l2=1e-3, l1=1e-3), 5),
    (mb.Network([2, 6, 6, 4], ["relu", "leaky_relu", "sigmoid"], "log_likelihood"), 6),
    (mb.Network([6, 8, 8, 8, 3], ["elu", "softplus", "tanh", "identity"], "quadratic"), 2),
]
CASES = [make_case(net, m, seed=k, weight_scale=1.5) for k, (net, m) in enumerate(NETWORKS)]


def records(trace):
    """Every tensor of a trace, named."""
    yield "cost", np.float64(trace.cost)
    for name in ("z", "a", "delta"):
        for l, t in enumerate(getattr(trace, name), start=1):
            yield f"{name}{l}", t
    for l, (W, b) in enumerate(trace.grads, start=1):
        yield f"dW{l}", W
        yield f"db{l}", b


def normwise_gap(got, ref) -> float:
    scale = float(np.max(np.abs(ref))) if np.size(ref) else 0.0
    return float(np.max(np.abs(got - ref))) / max(scale, 1e-300) if np.size(ref) else 0.0


def test_the_networks_cover_every_activation_and_cost():
    assert {a for net, _ in NETWORKS for a in net.activations} == set(mb.ACTIVATIONS)
    assert {net.cost for net, _ in NETWORKS} == set(mb.COSTS)


@pytest.mark.slow
def test_padded_z_a_delta_cost_and_gradients_equal_the_plain_reference_to_rounding():
    for case, got in zip(CASES, padded_reference_traces(CASES)):
        ref = reference_trace(*case)
        for (name, g), (_, r) in zip(records(got), records(ref)):
            assert np.shape(g) == np.shape(r), name
            assert normwise_gap(g, r) <= 1e-12, f"{case.net}: {name} differs by {normwise_gap(g, r):.2e}"


def test_results_do_not_depend_on_neighbours_position_or_group():
    # what makes --jobs, --shard and --replay reproduce a sweep bit for bit
    together = padded_reference_traces(CASES)
    for k, case in enumerate(CASES):
        alone = padded_reference_traces([case])[0]
        last = padded_reference_traces(CASES[k + 1:] + [case])[-1]
        for trace in (alone, last):
            for (name, g), (_, r) in zip(records(trace), records(together[k])):
                assert np.array_equal(g, r), f"{case.net}: {name}"


def _raw(cases, shape, garbage=None):
    """The compiled function's padded outputs, optionally with garbage in every padded slot."""
    table, costs = tables()
    group = pad(cases, shape, table, costs)
    if garbage is not None:
        rng = np.random.default_rng(garbage)
        real_W = np.zeros_like(group.W, dtype=bool)
        for i, (net, params, x, _) in enumerate(cases):
            for l, (W, _) in enumerate(params):
                real_W[i, l, :W.shape[0], :W.shape[1]] = True
        group = group._replace(W=np.where(real_W, group.W, rng.normal(size=group.W.shape)),
                               b=np.where(group.codes.neurons[:, 1:], group.b, rng.normal(size=group.b.shape)),
                               x=np.where(group.codes.neurons[:, :1] & group.codes.examples[:, :, None],
                                          group.x, rng.normal(size=group.x.shape)))
    return [np.asarray(r) for r in padded._traces(table, costs, *group)], group


def test_absent_neurons_examples_and_layers_carry_exact_zeros():
    cases = CASES
    (zs, as_, deltas, _, gW, gb), _ = _raw(cases, PaddedShape(5, 12, 8))
    for i, (net, _, x, _) in enumerate(cases):
        m, L = x.shape[0], net.L
        neuron = np.zeros(zs.shape[1:], dtype=bool)  # (L_max, M, N): a real neuron, any example
        for l in range(L):
            neuron[l, :, :net.sizes[l + 1]] = True
        example = np.zeros_like(neuron)
        example[:, :m, :] = True
        assert np.all(zs[i][~neuron] == 0) and np.all(as_[i][~neuron] == 0), net
        assert np.all(deltas[i][~(neuron & example)] == 0), net  # absent examples get no error
        assert np.all(gW[i, L:] == 0) and np.all(gb[i, L:] == 0), "absent layers got a gradient"
        for l in range(L):
            assert np.all(gb[i, l, net.sizes[l + 1]:] == 0), "absent neurons got a bias gradient"
            assert np.all(gW[i, l, net.sizes[l + 1]:, :] == 0), "absent neurons got a weight gradient"


def test_garbage_in_padded_slots_changes_nothing_because_they_are_masked():
    shape = PaddedShape(5, 12, 8)
    clean, _ = _raw(CASES, shape)
    dirty, _ = _raw(CASES, shape, garbage=1)
    for i, (net, _, x, _) in enumerate(CASES):
        got, ref = padded._unpad(net, x.shape[0], i, *dirty), padded._unpad(net, x.shape[0], i, *clean)
        for (name, g), (_, r) in zip(records(got), records(ref)):
            assert np.array_equal(g, r), f"{net}: {name}"


def test_negative_control_without_the_output_mask_softmax_spreads_over_absent_neurons():
    # the proofs above can fail: unmask the absent output neurons of a 3-way softmax padded to
    # 12, and its normalisation counts e^0 for each of the 9 absent ones
    table, costs = tables()
    case = CASES[1]
    group = pad([case], PaddedShape(5, 12, 8), table, costs)
    neurons = group.codes.neurons.copy()
    neurons[:, case.net.L, :] = True
    broken = group._replace(codes=group.codes._replace(neurons=neurons))
    m = case.x.shape[0]
    good = padded._unpad(case.net, m, 0, *[np.asarray(r) for r in padded._traces(table, costs, *group)])
    bad = padded._unpad(case.net, m, 0, *[np.asarray(r) for r in padded._traces(table, costs, *broken)])
    assert normwise_gap(bad.a[-1], good.a[-1]) > 0.1
    assert normwise_gap(bad.grads[0].W, good.grads[0].W) > 1e-3


def test_shapes_round_up_to_a_coarse_ladder():
    net = mb.Network([3, 12, 2], "tanh", "quadratic")
    assert shape_for(net, 8) == PaddedShape(5, 12, 8)
    assert shape_for(mb.Network([3, 13, 2], "tanh", "quadratic"), 9) == PaddedShape(5, 24, 32)
    assert shape_for(mb.Network([3] * 7, "tanh", "quadratic"), 1).depth == 10
    assert shape_for(mb.Network([2, 1000, 2], "tanh", "quadratic"), 1).width == 1536
    with pytest.raises(ValueError, match="does not fit"):
        pad([CASES[1]], PaddedShape(2, 12, 8), *tables())


def test_the_default_sweep_compiles_the_padded_reference_at_most_once():
    run_sweep(0, range(8))  # whatever compiles for the default sweep's shape, compiles here
    before = padded._traces._cache_size()
    run_sweep(7, range(200))
    assert padded._traces._cache_size() == before
