"""What mutation testing found the rest of the suite never reached (docs/mutation.md): the l1
gradient at a weight that is exactly 0; the costs of an output activation without a stable
ln σ (a user's, as custom.register_activation makes it), including 0 · ln 0 = 0 at saturation;
activations given integers or a NumPy scalar. scripts/mutation_test.py's harness makes these
same checks."""

import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref import reference_trace
from bp_oracle.agreement import agreement
from autodiff_ref.reference import cost_per_example
from bp_oracle.tolerance import TOLERANCES, compare

pytestmark = pytest.mark.usefixtures("x64")  # these tests call jax themselves, in float64

TOL = TOLERANCES["float64"]


def l1_kink_case():
    """l1 > 0 with weights exactly +0.0 and −0.0 in both layers, where d|w|/dw is a convention."""
    net = mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic", l1=0.05)
    (W1, b1), (W2, b2) = net.init_params(seed=4)
    W1, W2 = W1.copy(), W2.copy()
    W1[0, 0], W1[2, 1], W2[1, 3], W2[0, 2] = 0.0, -0.0, 0.0, -0.0
    x = np.array([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3], [-1.5, 0.7, 0.0]])
    y = np.array([[0.2, 0.9], [1.0, 0.0], [0.4, 0.4]])
    return net, [mb.Layer(W1, b1), mb.Layer(W2, b2)], x, y


def logistic() -> mb.Activation:
    """σ without log_fn / log1m_fn: the costs must take ln a and ln(1 − a) from a itself."""
    sigmoid = mb.get_activation("sigmoid")
    return mb.Activation("logistic", sigmoid.fn, sigmoid.prime)


def moderate_outputs():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((5, 3)) * 2
    return z, {"cross_entropy": rng.uniform(0, 1, (5, 3)), "log_likelihood": np.eye(3)[rng.integers(0, 3, 5)]}


INTEGER_Z = np.array([[-40, -3, -1, 0, 1, 2, 40]])
SCALAR_Z = -1.5

SATURATED_Z = np.array([[-1000.0, 1000.0]])  # σ rounds to exactly 0 and 1
SATURATED_Y = np.array([[0.0, 1.0]])  # where y (or 1 − y) is 0: 0 · ln 0


def test_l1_gradient_at_a_zero_weight_is_plus_l1_as_jax():
    case = l1_kink_case()
    ref = reference_trace(*case)
    trace = mb.backprop_trace(*case)
    assert not [c.describe() for c in agreement(trace, ref, TOL) if not c.ok]
    for grads in (mb.backprop(*case), mb.backprop_per_example(*case)):
        assert not [c.describe() for c in agreement(mb.Trace(None, None, None, None, grads), ref, TOL) if not c.ok]
    signs = mb.regularisation_gradient(np.array([[0.0, -0.0, 2.0, -2.0]]), 0.0, 1.0)
    assert signs.tolist() == [[1.0, 1.0, 1.0, -1.0]]


def test_costs_of_an_output_without_a_stable_log_take_the_logs_of_a():
    z, targets = moderate_outputs()
    sigma = logistic()
    a = sigma.fn(z)
    for cost, y in targets.items():
        got = mb.get_cost(cost).value(z, a, y, sigma)
        ref = np.asarray(cost_per_example(cost, "logistic", z, a, y))  # a name jax has no log form for: ln a
        assert compare(got, ref, TOL).ok, cost


def test_a_saturated_output_without_a_stable_log_takes_0_ln_0_as_0():
    sigma = logistic()
    a = sigma.fn(SATURATED_Z)
    assert a.tolist() == [[0.0, 1.0]]
    for cost in ("cross_entropy", "log_likelihood"):
        # ln 0 = −inf is taken, and 0 · (−inf) computed on the branch np.where then discards
        with np.errstate(divide="ignore", invalid="ignore"):
            got = mb.get_cost(cost).value(SATURATED_Z, a, SATURATED_Y, sigma)
        ref = np.asarray(cost_per_example(cost, "logistic", SATURATED_Z, a, SATURATED_Y))
        assert np.all(np.isfinite(got)) and compare(got, ref, TOL).ok, (cost, got, ref)


def test_activations_take_integer_arrays_and_numpy_scalars_as_the_same_floats():
    for name, act in mb.ACTIVATIONS.items():
        if not act.elementwise:
            continue
        for f in (act.fn, act.prime):
            assert np.array_equal(f(INTEGER_Z), f(INTEGER_Z.astype(np.float64))), (name, f.__name__)
            assert f(np.float64(SCALAR_Z)) == f(np.array([SCALAR_Z]))[0], (name, f.__name__)
