"""The Network spec validates itself with errors that help, round-trips through JSON, and
initialises params as network.py and network2.py do; params and batches are checked."""

import json
import subprocess
import sys

import numpy as np
import pytest

import manual_bp as mb


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=[3, 2], activations="sigmoidd", cost="quadratic"), "unknown activation 'sigmoidd'; known: sigmoid, tanh"),
    (dict(sizes=[3, 2], activations="sigmoid", cost="mse"), "unknown cost 'mse'; known: quadratic"),
    (dict(sizes=[3, 4, 2], activations=["softmax", "sigmoid"], cost="quadratic"), "softmax is allowed only on the output layer"),
    (dict(sizes=[3, 2], activations="tanh", cost="cross_entropy"), "cross_entropy needs outputs in (0, 1)"),
    (dict(sizes=[3, 2], activations="relu", cost="log_likelihood"), "log_likelihood needs a sigmoid or softmax output layer"),
    (dict(sizes=[3, 0], activations="sigmoid", cost="quadratic"), "at least 1 neuron"),
    (dict(sizes=[3], activations="sigmoid", cost="quadratic"), "at least an input and an output layer"),
    (dict(sizes=[3, 2.5], activations="sigmoid", cost="quadratic"), "sizes must be integers"),
    (dict(sizes=[3, 4, 2], activations=["tanh"], cost="quadratic"), "1 activations for 2 layers"),
    (dict(sizes=[3, 2], activations="sigmoid", cost="quadratic", l2=-0.1), "l2 must be finite and ≥ 0"),
    (dict(sizes=[3, 2], activations="sigmoid", cost="quadratic", l1=float("nan")), "l1 must be finite and ≥ 0"),
    (dict(sizes=[3, 1], activations="softmax", cost="log_likelihood"), "softmax needs at least 2 output neurons"),
    (dict(sizes=[100_000, 100_000, 100_000], activations="tanh", cost="quadratic"), "over the guard"),
])
def test_invalid_specs_are_rejected_with_a_message_that_helps(kwargs, message):
    with pytest.raises(ValueError) as err:
        mb.Network(**kwargs)
    assert message in str(err.value)


def test_one_activation_name_applies_to_every_layer():
    assert mb.Network([2, 3, 4, 1], "tanh", "quadratic").activations == ("tanh", "tanh", "tanh")


def test_network_is_immutable_and_hashable():
    net = mb.Network([2, 3, 1], "tanh", "quadratic")
    with pytest.raises(AttributeError):
        net.sizes = (1, 1)
    assert hash(net) == hash(mb.Network((2, 3, 1), ["tanh", "tanh"], "quadratic"))


def test_to_dict_from_dict_round_trips_through_json():
    net = mb.Network([4, 5, 3], ["relu", "softmax"], "log_likelihood", l2=0.01, l1=0.001)
    assert mb.Network.from_dict(json.loads(json.dumps(net.to_dict()))) == net


@pytest.mark.parametrize("spec, message", [
    ([1, 2], "must be a JSON object"),
    ({"sizes": [2, 1], "activations": "tanh"}, "missing cost"),
    ({"sizes": [2, 1], "activations": "tanh", "cost": "quadratic", "lr": 1}, "unknown key(s) lr"),
])
def test_from_dict_rejects_malformed_specs(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mb.Network.from_dict(spec)


def test_init_params_follows_network2_and_network_py_scales():
    net = mb.Network([400, 300, 2], "sigmoid", "quadratic")
    small = net.init_params(seed=0)
    unit = net.init_params(seed=0, scale="unit")
    assert [p.W.shape for p in small] == [(300, 400), (2, 300)]
    assert [p.b.shape for p in small] == [(300,), (2,)]
    assert abs(small[0].W.std() - 1 / np.sqrt(400)) < 0.002  # N(0, 1/n_in)
    assert abs(unit[0].W.std() - 1.0) < 0.01  # N(0, 1)
    assert all(np.array_equal(a.W, b.W) for a, b in zip(small, net.init_params(seed=0)))
    with pytest.raises(ValueError, match="unknown scale"):
        net.init_params(scale="xavier")


NET = mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic")


@pytest.mark.parametrize("mutate, error, message", [
    (lambda p: p[:1], ValueError, "params has 1 layers, network has 2"),
    (lambda p: [mb.Layer(p[0].W.T, p[0].b), p[1]], ValueError, "W^1 has shape (3, 4), expected (4, 3)"),
    (lambda p: [p[0], mb.Layer(p[1].W, p[1].b[:1])], ValueError, "b^2 has shape (1,), expected (2,)"),
    (lambda p: [mb.Layer(np.full((4, 3), np.nan), p[0].b), p[1]], ValueError, "W^1 contains NaN or Inf"),
    (lambda p: [mb.Layer(p[0].W.astype(complex), p[0].b), p[1]], TypeError, "W^1 must hold real numbers"),
    (lambda p: "weights", TypeError, "params must be a list"),
    (lambda p: [p[0], (p[1].W,)], TypeError, "layer 2) must be a (W, b) pair"),
])
def test_bad_params_are_rejected_naming_the_layer(mutate, error, message):
    params = NET.init_params(0)
    with pytest.raises(error) as err:
        mb.backprop(NET, mutate(params), np.zeros((2, 3)), np.zeros((2, 2)))
    assert message in str(err.value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size_from_limit", [-1, 0, 1, 20_000])  # a·a by dot up to the limit, the sum above
@pytest.mark.parametrize("poison", ["nan", "inf", "inf and -inf", "huge finite", "none"])
def test_the_fast_finiteness_check_is_exact_on_both_sides_of_its_dot_limit(dtype, size_from_limit, poison):
    """NaN, an Inf, Infs that cancel in a sum, and finite values whose sum or squares overflow."""
    from bp_spec import network
    arr = np.linspace(-1, 1, network._DOT_LIMIT + size_from_limit).astype(dtype)
    big = np.finfo(dtype).max / 4
    if poison == "nan":
        arr[-1] = np.nan
    elif poison == "inf":
        arr[len(arr) // 2] = np.inf
    elif poison == "inf and -inf":
        arr[0], arr[-1] = np.inf, -np.inf
    elif poison == "huge finite":
        arr[:8] = big  # eight of them overflow the sum, one overflows the square
    with np.errstate(all="raise"):  # the overflow of the fast path must not warn
        assert network._all_finite(arr) == bool(np.all(np.isfinite(arr))) == (poison in ("huge finite", "none"))


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((0, 3)), np.zeros((0, 2)), "empty batch"),
    (np.zeros((2, 4)), np.zeros((2, 2)), "x has 4 features per example, network expects n_0 = 3"),
    (np.zeros((2, 3)), np.zeros((3, 2)), "y has shape (3, 2), expected (2, 2)"),
    (np.full((2, 3), np.inf), np.zeros((2, 2)), "x contains NaN or Inf"),
    (np.zeros((2, 3, 1)), np.zeros((2, 2)), "must be 1-D or 2-D"),
    ([[1, 2], [3]], np.zeros((2, 2)), "x is not a numeric array"),
])
def test_bad_batches_are_rejected(x, y, message):
    with pytest.raises(ValueError) as err:
        mb.backprop(NET, NET.init_params(0), x, y)
    assert message in str(err.value)


def test_targets_must_fit_the_cost():
    ce = mb.Network([3, 2], "sigmoid", "cross_entropy")
    ll = mb.Network([3, 2], "softmax", "log_likelihood")
    with pytest.raises(ValueError, match=r"cross_entropy needs targets y in \[0, 1\]"):
        mb.backprop(ce, ce.init_params(0), np.zeros(3), np.array([1.5, 0.0]))
    with pytest.raises(ValueError, match="distribution"):
        mb.backprop(ll, ll.init_params(0), np.zeros(3), np.array([1.0, 1.0]))


def test_one_example_as_1d_arrays_is_a_batch_of_one():
    params = NET.init_params(0)
    x, y = np.array([0.1, -0.2, 0.3]), np.array([0.0, 1.0])
    one = mb.backprop(NET, params, x, y)
    batch = mb.backprop(NET, params, x[None], y[None])
    assert all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(one, batch))


def test_backprop_is_pure_calling_twice_gives_identical_results_and_leaves_params_alone():
    params = NET.init_params(0)
    before = [mb.Layer(W.copy(), b.copy()) for W, b in params]
    x, y = np.ones((3, 3)), np.zeros((3, 2))
    first, second = mb.backprop(NET, params, x, y), mb.backprop(NET, params, x, y)
    assert all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(first, second))
    assert all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(params, before))


def test_importing_manual_bp_does_not_import_jax():
    code = "import manual_bp, sys; assert 'jax' not in sys.modules, 'jax was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_trace_records_every_layer_batch_first():
    net = mb.Network([3, 5, 4, 2], ["relu", "tanh", "sigmoid"], "quadratic")
    trace = mb.backprop_trace(net, net.init_params(1), np.ones((6, 3)), np.zeros((6, 2)))
    for record in (trace.z, trace.a, trace.delta):
        assert [r.shape for r in record] == [(6, 5), (6, 4), (6, 2)]
    assert isinstance(trace.cost, float)
