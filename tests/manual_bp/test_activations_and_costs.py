"""Each activation's hand-derived derivative and each cost's hand-derived gradient agree with
jax.grad of the function alone; the simplified output errors (δ^L = a − y) are derived, not
assumed; everything is stable and warning-free for |z| up to 1e3; kinks follow jax."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref.reference import JAX_ACTIVATIONS, cost_per_example
from bp_spec import admissible_output_activations
from bp_oracle.tolerance import TOLERANCES, compare

pytestmark = pytest.mark.usefixtures("x64")  # these tests call jax themselves, in float64

TOL = TOLERANCES["float64"]
# jax's side of each comparison is compiled as one program (jax.jit): run eagerly, jax compiles each
# operation on its own for each shape, some 160 small programs for this file (~10 s of a cold run)
ELEMENTWISE = [name for name, act in mb.ACTIVATIONS.items() if act.elementwise]
# points across every regime: saturated, moderate, tiny, and both sides of the kinks (not on them)
Z = np.concatenate([-np.logspace(-8, 3, 60), np.logspace(-8, 3, 60), np.linspace(-5, 5, 41)[1::2]])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_value_matches_jax(name):
    got = mb.get_activation(name).fn(Z)
    ref = np.asarray(jax.jit(JAX_ACTIVATIONS[name])(jnp.asarray(Z)))
    assert compare(got, ref, TOL).ok


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_matches_jax_grad_of_the_function_alone(name):
    got = mb.get_activation(name).prime(Z)
    ref = np.asarray(jax.jit(jax.vmap(jax.grad(JAX_ACTIVATIONS[name])))(jnp.asarray(Z)))
    # jax's sigmoid'(z) = σ(1 − σ) loses relative accuracy once σ saturates (1 − σ cancels),
    # which manual_bp's σ(z)σ(−z) does not: compare those entries at the policy's atol only.
    assert compare(got, ref, TOL).ok


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_has_full_relative_accuracy_where_it_matters(name):
    # per element, against jax.grad, where jax does not saturate: beyond |z| ≈ 2 jax's
    # σ(1 − σ) and 1 − tanh² lose relative digits to cancellation (1.3e-10 relative for
    # sigmoid at z = 13.6, 1.1e-12 for tanh at z = 4.5, measured)
    z = Z[np.abs(Z) <= 2]
    got = mb.get_activation(name).prime(z)
    ref = np.asarray(jax.jit(jax.vmap(jax.grad(JAX_ACTIVATIONS[name])))(jnp.asarray(z)))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def test_sigmoid_and_tanh_derivatives_stay_accurate_in_saturation():
    # closed forms for z > 0 with no cancellation: σ'(z) = e^{−z}/(1 + e^{−z})², at z = 30 that
    # is 9.3576e-14; tanh'(z) = 4e^{−2z}/(1 + e^{−2z})², at z = 10 that is 8.2446e-09
    z = np.array([10.0, 30.0, 40.0, 300.0])
    np.testing.assert_allclose(mb.get_activation("sigmoid").prime(z), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-14)
    np.testing.assert_allclose(mb.get_activation("sigmoid").prime(-z), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-14)
    np.testing.assert_allclose(mb.get_activation("tanh").prime(z), 1 / np.cosh(z) ** 2, rtol=1e-14)


@pytest.mark.parametrize("name", list(mb.ACTIVATIONS))
def test_activations_are_stable_without_warnings_for_large_z(name):
    z = np.array([[-1e3, -700.0, -50.0, 0.0, 50.0, 700.0, 1e3]])
    act = mb.get_activation(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or invalid-value warning fails the test
        values = [act.fn(z)]
        values.append(act.prime(z) if act.elementwise else act.jacobian_T_dot(z, np.ones_like(z)))
        if act.log_fn:
            values += [act.log_fn(z), act.log1m_fn(z)]
    assert all(np.all(np.isfinite(v) | (v == -np.inf)) for v in values)
    assert np.all(np.isfinite(values[0])) and np.all(np.isfinite(values[1]))


@pytest.mark.parametrize("name, point, expected", [
    ("relu", 0.0, 0.0), ("leaky_relu", 0.0, 1.0), ("elu", 0.0, 1.0),
])
def test_derivative_at_a_kink_follows_jax_convention(name, point, expected):
    assert mb.get_activation(name).prime(np.array([point]))[0] == expected
    assert float(jax.jit(jax.grad(JAX_ACTIVATIONS[name]))(point)) == expected


def test_softmax_jacobian_transpose_product_matches_jax_vjp():
    rng = np.random.default_rng(0)
    z, g = rng.standard_normal((5, 4)) * 3, rng.standard_normal((5, 4))
    got = mb.get_activation("softmax").jacobian_T_dot(z, g)
    vjp = jax.jit(lambda z_, g_: jax.vjp(JAX_ACTIVATIONS["softmax"], z_)[1](g_)[0])
    assert compare(got, np.asarray(vjp(jnp.asarray(z), jnp.asarray(g))), TOL).ok


def test_hadamard_bp1_is_the_diagonal_case_of_the_jacobian_form():
    # For an elementwise σ, J_σ = diag(σ'(z)); BP1's Hadamard form equals Jᵀ ∇_a C.
    rng = np.random.default_rng(1)
    z, grad_a = rng.standard_normal(6), rng.standard_normal(6)
    for name in ELEMENTWISE:
        J = np.asarray(jax.jit(jax.jacobian(JAX_ACTIVATIONS[name]))(jnp.asarray(z)))
        assert np.allclose(J, np.diag(np.diag(J)), rtol=0, atol=0)
        assert compare(mb.output_error(grad_a, z, mb.get_activation(name)), J.T @ grad_a, TOL).ok


def _outputs(cost, rng, m=6, n=4):
    z = rng.standard_normal((m, n)) * 2
    if cost == "log_likelihood":
        return z, np.eye(n)[rng.integers(0, n, m)]
    return z, rng.uniform(0, 1, (m, n))


COST_AND_OUTPUT = [(c, o) for c in mb.COSTS for o in admissible_output_activations(c)]


@pytest.mark.parametrize("cost, output", COST_AND_OUTPUT)
def test_cost_gradient_matches_jax_grad_of_the_cost_alone(cost, output):
    z, y = _outputs(cost, np.random.default_rng(2))
    sigma = mb.get_activation(output)
    a = sigma.fn(z)
    got_value = mb.get_cost(cost).value(z, a, y, sigma)
    ref_value = np.asarray(jax.jit(lambda *zay: cost_per_example(cost, output, *zay))(jnp.asarray(z), jnp.asarray(a),
                                                                                     jnp.asarray(y)))
    assert compare(got_value, ref_value, TOL).ok
    got_grad = mb.get_cost(cost).grad_a(a, y)
    # ∇_a of the cost written in a alone (the jax form takes logs from z, so differentiate
    # the textbook formula in a)
    textbook = {
        "quadratic": lambda a, y: 0.5 * jnp.sum((a - y) ** 2),
        "cross_entropy": lambda a, y: -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log1p(-a)),
        "log_likelihood": lambda a, y: -jnp.sum(y * jnp.log(a)),
    }[cost]
    ref_grad = np.asarray(jax.jit(jax.grad(textbook))(jnp.asarray(a), jnp.asarray(y)))
    assert compare(got_grad, ref_grad, TOL).ok


@pytest.mark.parametrize("cost, output", [
    ("cross_entropy", "sigmoid"), ("cross_entropy", "softmax"), ("log_likelihood", "softmax"),
    ("log_likelihood", "sigmoid"),
])
def test_simplified_output_error_equals_general_bp1_and_jax(cost, output):
    z, y = _outputs(cost, np.random.default_rng(3))
    sigma, c = mb.get_activation(output), mb.get_cost(cost)
    a = sigma.fn(z)
    shortcut = c.output_error_shortcuts[output](z, a, y)
    general = mb.output_error(c.grad_a(a, y), z, sigma)  # J_σᵀ ∇_a C, no simplification
    ref = np.asarray(jax.jit(jax.vmap(jax.grad(
        lambda z_, y_: cost_per_example(cost, output, z_, JAX_ACTIVATIONS[output](z_), y_))))(jnp.asarray(z), jnp.asarray(y)))
    assert compare(shortcut, general, TOL).ok
    assert compare(shortcut, ref, TOL).ok


@pytest.mark.slow
def test_cross_entropy_with_softmax_stays_accurate_when_an_output_saturates():
    # the general Jᵀ∇_a C cancels terms of size 1/(1 − a_k) (2e-3 relative error at z = 30, measured);
    # the derived form agrees with jax.grad of the cost written with log-sum-exps, to rounding
    # and past the spread where Σ_{i≠k*} a_i underflows (700, 800, 900, 1400), from the logits;
    # five such rows of three outputs, so that a mix-up of the rows' and the outputs' axes cannot
    # pass by broadcasting (it did, with three: mutation testing found it), one whose largest
    # logit is far below another row's in its column (a shift by the column's maximum underflows)
    z = np.array([[30.0, 0.0, -1.0], [0.0, 0.5, 0.2], [-20.0, 15.0, 14.0], [700.0, -700.0, 0.0],
                  [800.0, 0.0, -100.0], [-5.0, 1400.0, 3.0], [0.0, -900.0, 900.0],
                  [0.0, -700.0, -1500.0]])
    y = np.array([[0.3, 0.6, 0.1], [1.0, 0.0, 0.0], [0.2, 0.9, 0.5], [0.0, 1.0, 0.5],
                  [0.2, 0.7, 0.4], [0.5, 0.25, 0.9], [0.1, 0.3, 0.8], [0.6, 0.2, 0.9]])
    sigma = mb.get_activation("softmax")
    got = mb.get_cost("cross_entropy").output_error_shortcuts["softmax"](z, sigma.fn(z), y)
    ref = np.asarray(jax.jit(jax.vmap(jax.grad(
        lambda z_, y_: cost_per_example("cross_entropy", "softmax", z_, JAX_ACTIVATIONS["softmax"](z_), y_))))(
        jnp.asarray(z), jnp.asarray(y)))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_cross_entropy_with_sigmoid_output_error_is_a_minus_y_even_when_saturated():
    # the general form divides by a(1 − a) = 0 when σ saturates; the derived δ^L = a − y does not
    net = mb.Network([1, 2], "sigmoid", "cross_entropy")
    params = [mb.Layer(np.array([[100.0], [-100.0]]), np.zeros(2))]
    trace = mb.backprop_trace(net, params, np.array([1.0]), np.array([0.0, 1.0]))
    assert np.allclose(trace.delta[0], [[1.0, -1.0]])
    assert np.isclose(trace.cost, 200.0)  # −ln(1 − σ(100)) − ln σ(−100), from z, not ln 0


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        mb.register_activation(mb.get_activation("tanh"))
    with pytest.raises(TypeError, match="register_cost needs a Cost, got str"):
        mb.register_cost("quadratic")
