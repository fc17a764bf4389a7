"""What mutation testing (docs/mutation.md) found no spec, manual_bp or reference test reached in
bp_spec: the registries' refusals, the range of a drawn integer, which side of a kink a z lies
on, a network read from JSON without its coefficients, the targets a distribution admits, and
what the input checks make of integers and float32."""

import numpy as np
import pytest

from bp_spec import names
from bp_spec.cases import RngDraw
from bp_spec.kinks import crossed_kinks, near_kink, sides_differ
from bp_spec.network import Network


@pytest.fixture
def registries():
    saved = [(d, dict(d)) for d in (names.ACTIVATIONS, names.COSTS)]
    yield
    for d, copy in saved:
        d.clear()
        d.update(copy)


def test_the_spec_refuses_a_name_registered_twice_or_not_an_identifier_and_says_which_kind(registries):
    with pytest.raises(ValueError, match="^activation 'sigmoid' is already registered$"):
        names.register_activation_spec(names.ActivationSpec("sigmoid"))
    with pytest.raises(ValueError, match="^cost 'quadratic' is already registered$"):
        names.register_cost_spec(names.CostSpec("quadratic"))
    for bad in ("two words", "1st", ""):
        with pytest.raises(ValueError, match="^activation names must be identifiers"):
            names.register_activation_spec(names.ActivationSpec(bad))
        with pytest.raises(ValueError, match="^cost names must be identifiers"):
            names.register_cost_spec(names.CostSpec(bad))
    names.register_activation_spec(names.ActivationSpec("swish"))
    names.register_cost_spec(names.CostSpec("huber"))
    assert names.get_activation_spec("swish").name == "swish" and names.get_cost_spec("huber").name == "huber"


def test_a_drawn_integer_takes_every_value_from_lo_to_hi_inclusive_and_no_other():
    draw = RngDraw(np.random.default_rng(0))
    assert {draw.integer(2, 4) for _ in range(300)} == {2, 3, 4}
    assert set(draw.integers(2, 4, 300)) == {2, 3, 4}


def test_sides_of_a_kink_on_it_counts_as_a_side_of_its_own():
    z = np.array([-1.0, -1.0, 0.0, 0.0, 1.0, 2.0, -2.0, 0.0])
    other = np.array([-2.0, 1.0, 0.0, 1.0, -1.0, 3.0, 0.0, -3.0])
    assert sides_differ(z, other, 0.0).tolist() == [False, True, False, True, True, False, True, True]
    assert sides_differ(z, other, -1.5).tolist() == [True, False, False, False, False, False, True, True]


def test_crossed_kinks_names_the_layers_whose_kinked_z_changed_side():
    net = Network([2, 3, 3, 2], ["relu", "tanh", "leaky_relu"], "quadratic")
    z_ref = [np.array([[0.5, -1.0, 0.0]]), np.array([[0.5, -1.0, 0.0]]), np.array([[1e-9, 2.0]])]
    assert crossed_kinks(net, z_ref, z_ref) == []
    z_got = [np.array([[0.5, -1.0, 1e-12]]), np.array([[-0.5, 1.0, 0.0]]), np.array([[-1e-9, 2.0]])]
    assert crossed_kinks(net, z_got, z_ref) == [1, 3]  # tanh has no kink: layer 2 never counts
    assert crossed_kinks(net, [z.tolist() for z in z_got], z_ref) == [1, 3]  # lists as arrays
    assert near_kink(net, z_got, 1e-8) and not near_kink(net, [z + 10 for z in z_ref], 1e-8)


def test_a_network_read_from_json_without_coefficients_has_none():
    d = {"sizes": [3, 2], "activations": ["sigmoid"], "cost": "quadratic"}
    net = Network.from_dict(d)
    assert net == Network([3, 2], "sigmoid", "quadratic") and (net.l2, net.l1) == (0.0, 0.0)
    assert Network.from_dict({**d, "l2": 0.5, "l1": 0.25}) == Network([3, 2], "sigmoid", "quadratic", 0.5, 0.25)


def test_distribution_targets_must_be_non_negative_rows_summing_to_1_within_1e_6():
    net = Network([2, 2], "softmax", "log_likelihood")
    x = [[0.0, 1.0], [1.0, 0.0]]  # lists: the full checks, not the fast path for float arrays
    assert net.check_batch(x, [[1.0, 0.0], [0.25, 0.75]])[1].tolist() == [[1.0, 0.0], [0.25, 0.75]]
    net.check_batch(x, [[1.0, 8e-7], [0.5, 0.5]])  # off by 8e-7: within 1e-6
    for y in ([[1.5, -0.5], [0.5, 0.5]], [[1.0, 5e-6], [0.5, 0.5]]):  # a negative entry; off by 5e-6
        with pytest.raises(ValueError, match="distribution"):
            net.check_batch(x, y)


def test_the_checks_make_integers_float64_and_keep_float32():
    net = Network([2, 2], "sigmoid", "quadratic")
    x, y = net.check_batch(np.array([1, 2]), np.array([3, 4]))
    assert x.dtype == y.dtype == np.float64 and x.tolist() == [[1.0, 2.0]] and y.tolist() == [[3.0, 4.0]]
    x, y = net.check_batch(np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32))  # 1-D: full checks
    assert x.dtype == y.dtype == np.float32
    (W, b), = net.check_params([(np.ones((2, 2), np.int64), [0, 1])])
    assert W.dtype == b.dtype == np.float64


def test_random_networks_span_depths_1_to_5_widths_1_to_12_and_draw_l2_and_l1():
    from bp_spec.cases import random_network
    nets = [random_network(np.random.default_rng(seed)) for seed in range(300)]
    assert {net.L for net in nets} == {1, 2, 3, 4, 5}
    widths = {n for net in nets for n in net.sizes}
    assert min(widths) == 1 and max(widths) == 12
    assert {net.l2 for net in nets} == {0.0, 1e-3, 0.1} and {net.l1 for net in nets} == {0.0, 1e-3, 0.05}
    assert {net.cost for net in nets} == set(names.COSTS)
    softmax_widths = {net.sizes[-1] for net in nets if net.activations[-1] == "softmax"}
    assert 1 not in softmax_widths and 2 in softmax_widths  # width 1 raised to 2, not further
    assert all(net.l2 == net.l1 == 0.0 for net in
               (random_network(np.random.default_rng(s), regularisation=False) for s in range(20)))


def test_random_networks_take_the_costs_and_activations_asked_for_where_they_fit():
    from bp_spec.cases import random_network
    nets = [random_network(np.random.default_rng(s), costs=["log_likelihood"], activations=["relu", "softmax"])
            for s in range(40)]
    assert {net.cost for net in nets} == {"log_likelihood"}
    assert {a for net in nets for a in net.activations[:-1]} == {"relu"}
    assert {net.activations[-1] for net in nets} == {"softmax"}  # admitted by the cost, and asked for
    free = [random_network(np.random.default_rng(s), costs=["log_likelihood"]) for s in range(40)]
    assert {net.activations[-1] for net in free} == {"softmax", "sigmoid"}


def test_the_learning_rate_must_be_a_finite_number_above_0_not_a_bool():
    from bp_spec.schedule import check_hyper_parameters
    check_hyper_parameters(1, 1, 0.5, 0)
    for eta in (True, "0.1", None, 0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="eta"):
            check_hyper_parameters(1, 1, eta, 0)


def test_a_coefficient_must_be_a_number_not_a_bool_or_a_string():
    for bad in (True, "0.1", None):
        for key in ("l2", "l1"):
            with pytest.raises(ValueError, match=f"^{key} must be a number"):
                Network([2, 2], "sigmoid", "quadratic", **{key: bad})


def test_crossed_kinks_compares_float32_z_in_float64_against_a_kink_float32_cannot_hold(registries):
    # float32(0.1) lies above 0.1: compared in float32, the kink would round onto it
    names.register_activation_spec(names.ActivationSpec("kink_at_0_1", kinks=(names.Kink(0.1, 0.0, 1.0, 0.0),)))
    net = Network([1, 1], "kink_at_0_1", "quadratic")
    z32, z64 = [np.array([[0.1]], dtype=np.float32)], [np.array([[0.1]])]
    assert crossed_kinks(net, z32, z64) == [1] and crossed_kinks(net, z64, z32) == [1]


def test_near_kink_counts_a_z_or_an_l1_weight_within_the_margin_inclusive(registries):
    names.register_activation_spec(names.ActivationSpec("kink_at_0_1", kinks=(names.Kink(0.1, 0.0, 1.0, 0.0),)))
    far = [np.array([[5.0]])]
    assert near_kink(Network([1, 1], "relu", "quadratic"), [np.array([[-1e-3]])], 1e-3)  # |z − 0| = margin
    assert not near_kink(Network([1, 1], "relu", "quadratic"), [np.array([[-2e-3]])], 1e-3)
    kinked = Network([1, 1], "kink_at_0_1", "quadratic")
    assert near_kink(kinked, [np.array([[0.1]])], 1e-3) and not near_kink(kinked, [np.array([[-0.1]])], 1e-3)
    l1 = Network([1, 1], "relu", "quadratic", l1=0.05)
    near_0, away = [(np.array([[-1e-3]]), np.zeros(1))], [(np.array([[0.5]]), np.zeros(1))]
    assert near_kink(l1, far, 1e-3, near_0) and not near_kink(l1, far, 1e-3, away)
    assert not near_kink(l1, far, 1e-3)  # no params given: weights unknown
    assert not near_kink(Network([1, 1], "relu", "quadratic"), far, 1e-3, near_0)  # no l1 term: no kink at w = 0
