"""What mutation testing found the rest of the suite never reached (docs/mutation.md): the l1
gradient at a weight that is exactly 0; the costs of an output activation without a stable
ln σ (a user's, as custom.register_activation makes it), including 0 · ln 0 = 0 at saturation;
activations given integers or a NumPy scalar. Each kills mutants of manual_bp that every other
test let survive."""

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


@pytest.fixture
def registries():
    """manual_bp's and the spec's registries, restored after the test (registering is global)."""
    from bp_spec import names
    saved = [(d, dict(d)) for d in (mb.ACTIVATIONS, mb.COSTS, names.ACTIVATIONS, names.COSTS)]
    yield names
    for d, copy in saved:
        d.clear()
        d.update(copy)


def test_registering_a_new_activation_or_cost_adds_a_plain_spec_of_its_name_and_a_duplicate_is_refused(registries):
    tanh, quadratic = mb.get_activation("tanh"), mb.get_cost("quadratic")
    mb.register_activation(mb.Activation("tanh2", tanh.fn, tanh.prime))
    mb.register_cost(mb.Cost("quadratic2", quadratic.value, quadratic.grad_a))
    assert registries.get_activation_spec("tanh2") == registries.ActivationSpec("tanh2")
    assert registries.get_cost_spec("quadratic2") == registries.CostSpec("quadratic2")
    mb.Network([2, 1], "tanh2", "quadratic2")  # the spec knows both names now
    for register, value in ((mb.register_activation, mb.Activation("tanh2", tanh.fn, tanh.prime)),
                            (mb.register_cost, mb.Cost("quadratic2", quadratic.value, quadratic.grad_a))):
        with pytest.raises(ValueError, match="already registered"):  # replace defaults to False
            register(value)
    assert mb.get_activation("tanh2").fn is tanh.fn and mb.get_cost("quadratic2").value is quadratic.value


def test_replacing_a_shipped_activation_or_cost_with_a_spec_replaces_the_spec_too(registries):
    sigmoid, quadratic = mb.get_activation("sigmoid"), mb.get_cost("quadratic")
    act_spec = registries.ActivationSpec("sigmoid", output_range=(0.0, 0.5))
    cost_spec = registries.CostSpec("quadratic", targets="unit")
    mb.register_activation(mb.Activation("sigmoid", sigmoid.fn, sigmoid.prime), act_spec, replace=True)
    mb.register_cost(mb.Cost("quadratic", quadratic.value, quadratic.grad_a), cost_spec, replace=True)
    assert registries.get_activation_spec("sigmoid") is act_spec
    assert registries.get_cost_spec("quadratic") is cost_spec
    # without a spec, a replaced function keeps the name's spec
    mb.register_cost(mb.Cost("quadratic", quadratic.value, quadratic.grad_a), replace=True)
    assert registries.get_cost_spec("quadratic") is cost_spec


# rows whose largest logits lie 1000 apart: shifting a row by any maximum but its own underflows
FAR_APART_ROWS = np.array([[1000.0, 999.0, 990.0], [0.5, -1.0, -2.0], [-1000.0, -1000.5, -999.0]])


def test_softmax_and_its_logs_of_a_row_depend_on_that_row_alone_and_take_one_example_as_1d():
    from manual_bp import activations as act
    g = np.array([[0.3, -1.0, 2.0], [1.0, 0.0, -0.5], [-2.0, 0.25, 1.0]])
    for name, f in (("softmax", act.softmax), ("log_softmax", act.log_softmax),
                    ("log1m_softmax", act.log1m_softmax), ("logsumexp", act._logsumexp),
                    ("jacobian_T_dot", act.softmax_jacobian_T_dot)):
        args = (g,) if name == "jacobian_T_dot" else ()
        batch = f(FAR_APART_ROWS, *args)
        assert np.all(np.isfinite(batch)), name
        for row, z in enumerate(FAR_APART_ROWS):
            one = f(z, *(a[row] for a in args))  # one example, 1-D: the last axis holds the neurons
            alone = f(z[None, :], *(a[row:row + 1] for a in args))[0]  # a batch of that row alone
            assert one.shape == batch[row].shape, name
            np.testing.assert_allclose(one, batch[row], rtol=1e-15, atol=0, err_msg=name)
            np.testing.assert_allclose(alone, batch[row], rtol=1e-15, atol=0, err_msg=name)


def test_cross_entropy_on_softmax_when_the_other_outputs_underflow_to_0_or_subnormals_warns_nothing_and_equals_jax():
    import warnings

    import jax
    import jax.numpy as jnp
    from autodiff_ref.reference import JAX_ACTIVATIONS
    # Σ_{i≠k*} a_i is exactly 0 with y_k* = 1 (0/0 in (1 − y)/(1 − a)), exactly 0 with y_k* < 1
    # (x/0), and subnormal (x/1e-313 overflows): each row is then recomputed from the logits
    z = np.array([[0.0, -800.0, -800.0], [0.0, -800.0, -800.0], [0.0, -720.0, -730.0], [3.0, -1.0, 0.5]])
    y = np.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [0.2, 0.3, 0.5]])
    sigma = mb.get_activation("softmax")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division, overflow or invalid operation let through fails
        got = mb.get_cost("cross_entropy").output_error_shortcuts["softmax"](z, sigma.fn(z), y)
    ref = np.asarray(jax.vmap(jax.grad(
        lambda z_, y_: cost_per_example("cross_entropy", "softmax", z_, JAX_ACTIVATIONS["softmax"](z_), y_)))(
        jnp.asarray(z), jnp.asarray(y)))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def workspace_case():
    net = mb.Network([4, 6, 5, 3], ["tanh", "elu", "sigmoid"], "quadratic")
    x = np.random.default_rng(5).standard_normal((7, 4))
    y = np.random.default_rng(6).uniform(0, 1, (7, 3))
    return net, net.init_params(seed=2), x, y


def test_the_workspace_computes_in_its_own_arrays_sigma_prime_over_z_delta_over_a_and_returns_its_gradients():
    # workspace.py: σ'(z^l) is written over z^l (BP2 is its last reader), δ^l over a^l, and the
    # gradients returned are the workspace's arrays; no new (m, n_l) array is made
    net, params, x, y = workspace_case()
    trace = mb.backprop_trace(net, params, x, y)
    ws = mb.Workspace()
    grads = ws.backprop(net, params, x, y)
    held = ws.nbytes
    for l, ((W, b), (gW, gb)) in enumerate(zip(trace.grads, grads)):
        assert np.array_equal(W, gW) and np.array_equal(b, gb)
        assert gW is ws.array(("dC/dW", l), W.shape, W.dtype) and gb is ws.array(("dC/db", l), b.shape, b.dtype)
    for l, (z, delta, sigma) in enumerate(zip(trace.z, trace.delta, mb.sigmas(net))):
        assert np.array_equal(ws.array(("a", l), z.shape, z.dtype), delta), l  # a^{l+1}'s array holds δ^{l+1}
        if l < net.L - 1:
            assert np.array_equal(ws.array(("z", l), z.shape, z.dtype), sigma.prime(z)), l
    assert ws.nbytes == held  # every array looked up was one the call had computed in, none new


def test_the_workspace_takes_y_that_is_one_of_its_own_arrays_as_backprop_does():
    net, params, x, y = workspace_case()
    ws = mb.Workspace()
    ws.backprop(net, params, x, y)
    own = ws.array(("a", net.L - 1), y.shape, y.dtype)  # a^L's array (δ^L after the call)
    own[...] = y
    expected = mb.backprop(net, params, x, own.copy())
    got = ws.backprop(net, params, x, own)  # writing a^L over it first would change y
    for (W, b), (gW, gb) in zip(expected, got):
        assert np.array_equal(W, gW) and np.array_equal(b, gb)


def test_softmax_and_its_logs_take_integer_logits_as_the_same_floats():
    from manual_bp import activations as act
    z = np.array([[3, -1, 0], [-40, 40, 2]])
    for f in (act.softmax, act.log_softmax, act.log1m_softmax):
        assert np.array_equal(f(z), f(z.astype(np.float64))), f.__name__


def test_every_shipped_activation_keeps_a_float_inputs_dtype():
    # the workspace's blocks of rows rely on it (activations._SHIPPED)
    z = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0], [1.0, -2.0, 0.25, 4.0, -1.0]])
    for dtype in (np.float16, np.float32, np.float64):
        zd = z.astype(dtype)
        for name, act in mb.ACTIVATIONS.items():
            fns = [act.fn, act.prime, act.log_fn, act.log1m_fn]
            outs = [f(zd) for f in fns if f is not None]
            if act.jacobian_T_dot is not None:
                outs.append(act.jacobian_T_dot(zd, zd))
            assert all(out.dtype == dtype for out in outs), (name, dtype, [out.dtype for out in outs])


def test_costs_of_saturated_sigmoid_and_softmax_outputs_take_ln_a_from_z():
    # σ(−800) and softmax's small entries round to exactly 0: ln a from a would be −inf
    z = np.array([[-800.0, 800.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0]])
    sigmoid, softmax = mb.get_activation("sigmoid"), mb.get_activation("softmax")
    for cost, sigma in (("cross_entropy", sigmoid), ("log_likelihood", sigmoid), ("log_likelihood", softmax)):
        a = sigma.fn(z)
        got = mb.get_cost(cost).value(z, a, y, sigma)
        ref = np.asarray(cost_per_example(cost, sigma.name, z, a, y))
        assert np.all(np.isfinite(got)) and compare(got, ref, TOL).ok, (cost, sigma.name, got, ref)


def test_backprop_hands_the_logits_to_cross_entropy_on_softmax_past_the_underflow():
    # the derived δ^L recomputes such rows from z^L: every driver must pass z^L, not only a^L
    net = mb.Network([2, 3], "softmax", "cross_entropy")
    params = [mb.Layer(np.array([[400.0, 0.0], [-400.0, 0.0], [0.0, 1.0]]), np.zeros(3))]
    x = np.array([[2.0, 0.0], [0.1, 0.3]])  # row 0: z = (800, −800, 0), Σ_{i≠k*} a_i = 0
    y = np.array([[0.2, 0.5, 0.3], [0.1, 0.6, 0.3]])
    ref = reference_trace(net, params, x, y)
    trace = mb.backprop_trace(net, params, x, y)
    assert not [c.describe() for c in agreement(trace, ref, TOL) if not c.ok]
    for grads in (mb.backprop(net, params, x, y), mb.backprop_per_example(net, params, x, y),
                  mb.Workspace().backprop(net, params, x, y)):
        assert not [c.describe() for c in agreement(mb.Trace(None, None, None, None, grads), ref, TOL) if not c.ok]


def test_an_unknown_activation_or_cost_is_a_value_error_listing_the_known_names():
    known = ", ".join(mb.ACTIVATIONS)
    with pytest.raises(ValueError, match=f"^unknown activation 'swish'; known: {known}$"):
        mb.get_activation("swish")
    with pytest.raises(ValueError, match=f"^unknown cost 'huber'; known: {', '.join(mb.COSTS)}$"):
        mb.get_cost("huber")
