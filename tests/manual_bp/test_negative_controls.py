"""The checker's own power: every deliberately broken backprop is caught, and blamed on the
equation it breaks; a gradient off by 1e-7 relative in one layer fails; correct code passes."""

import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref import reference_trace
from bp_oracle.agreement import agreement, failures
from bp_spec.cases import make_case
from bp_oracle.tolerance import TOLERANCES

from broken_backprops import BROKEN

TOL = TOLERANCES["float64"]

# A network on which each bug shows: square hidden layers for the transpose bugs, a sigmoid
# output for the cross-entropy one, softmax with the general BP1 for the Jacobian one, l2 > 0
# for the bias-decay one, and always m > 1 (a sum-for-mean bug is invisible at batch size 1).
NETWORK_FOR = {
    "sigma_prime_missing_in_bp1": mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic"),
    "sigma_prime_of_a_in_bp2": mb.Network([3, 5, 4, 2], ["sigmoid", "tanh", "identity"], "quadratic"),
    "sum_for_mean_in_bp3": mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic"),
    "missing_transpose_in_bp4": mb.Network([4, 4, 4], ["tanh", "identity"], "quadratic"),
    "cross_entropy_delta_with_extra_sigma_prime": mb.Network([3, 4, 2], ["tanh", "sigmoid"], "cross_entropy"),
    "l2_on_biases": mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic", l2=0.1),
    "w_instead_of_w_transpose_in_bp2": mb.Network([4, 4, 4, 4], ["tanh", "tanh", "identity"], "quadratic"),
    "softmax_jacobian_as_diagonal": mb.Network([3, 4, 3], ["tanh", "softmax"], "quadratic"),
}


def test_there_are_at_least_six_negative_controls():
    assert len(BROKEN) >= 6 and set(BROKEN) == set(NETWORK_FOR)


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_broken_backprop_is_caught_and_blamed_on_its_equation(bug):
    broken, equation = BROKEN[bug]
    case = make_case(NETWORK_FOR[bug], m=5, seed=11)
    bad = failures(agreement(broken(*case), reference_trace(*case), TOL))
    assert bad, f"{bug} passed the checker"
    assert bad[0].equation == equation, f"{bug}: first failure {bad[0].describe()}"


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_the_same_network_passes_with_the_correct_backprop(bug):
    case = make_case(NETWORK_FOR[bug], m=5, seed=11)
    assert not failures(agreement(mb.backprop_trace(*case), reference_trace(*case), TOL))


def test_sum_for_mean_is_invisible_at_batch_size_one_which_is_why_suites_use_m_above_one():
    broken, _ = BROKEN["sum_for_mean_in_bp3"]
    case = make_case(NETWORK_FOR["sum_for_mean_in_bp3"], m=1, seed=11)
    assert not failures(agreement(broken(*case), reference_trace(*case), TOL))


@pytest.mark.parametrize("layer", [1, 2, 3])
@pytest.mark.parametrize("which", ["W", "b"])
def test_tolerance_fails_a_relative_error_of_1e_7_in_one_layer_only(layer, which):
    net = mb.Network([5, 6, 6, 3], ["tanh", "elu", "sigmoid"], "cross_entropy", l2=1e-3)
    case = make_case(net, m=4, seed=3)
    ref = reference_trace(*case)
    grads = [mb.Layer(W.copy(), b.copy()) for W, b in mb.backprop(*case)]
    target = getattr(grads[layer - 1], which)
    target *= 1 + 1e-7
    bad = failures(agreement(mb.Trace(None, None, None, None, grads), ref, TOL))
    assert [(c.layer, c.quantity) for c in bad] == [(layer, "dC/dW" if which == "W" else "dC/db")]


def test_tolerance_accepts_an_error_at_rounding_level():
    net = mb.Network([5, 6, 3], ["tanh", "sigmoid"], "quadratic")
    case = make_case(net, m=4, seed=3)
    ref = reference_trace(*case)
    grads = [mb.Layer(W * (1 + 4 * np.finfo(float).eps), b) for W, b in mb.backprop(*case)]
    assert not failures(agreement(mb.Trace(None, None, None, None, grads), ref, TOL))


def test_the_reference_computes_in_float64_and_leaves_jax_as_it_found_it(monkeypatch):
    import contextlib

    import jax
    from autodiff_ref import _x64
    net = mb.Network([3, 2], "tanh", "quadratic")
    case = make_case(net, m=2, seed=0)
    for setting in (False, True):
        with jax.enable_x64(setting):
            assert reference_trace(*case).grads[0].W.dtype == np.float64
            assert jax.config.read("jax_enable_x64") is setting
    # were its float64 context to fail, it refuses rather than compute in float32
    monkeypatch.setattr(_x64, "_float64_on", contextlib.nullcontext)
    with jax.enable_x64(False), pytest.raises(RuntimeError, match="refuses to run in float32"):
        reference_trace(*case)
