"""What runs is equations.py: replace one of its functions and every driver computes with the
replacement — `backprop` on a small batch and on one large enough that it once took a hidden
workspace, `backprop_trace`, and the opt-in workspace path. Nothing binds an equation at
import, so nothing can run a copy of the book other than the one a reader opens."""

import numpy as np
import pytest

import manual_bp as mb
from bp_spec import make_case
from manual_bp import equations
from manual_bp import workspace as ws_module

# quadratic cost with sigmoid output: BP1 is the general ∇_a C ⊙ σ'(z^L), not a derived shortcut;
# l2 > 0: the regularisation gradient is added to every ∂C/∂W^l
NET = mb.Network((6, 64, 32, 3), ("tanh", "relu", "sigmoid"), "quadratic", l2=1e-3)
SMALL, LARGE = 5, 1024  # LARGE: the widest layer is (1024, 64) float64 = 512 KiB, the old default's threshold

def in_a_workspace(case):
    workspace = mb.Workspace()
    grads = mb.backprop(*case, workspace=workspace)
    assert workspace.nbytes > 0, "the workspace path was not taken"
    return grads


DRIVERS = {
    "backprop, small batch": lambda case: mb.backprop(*case(SMALL)),
    "backprop, large batch": lambda case: mb.backprop(*case(LARGE)),
    "backprop_trace": lambda case: mb.backprop_trace(*case(SMALL)).grads,
    "backprop(workspace=), large batch": lambda case: in_a_workspace(case(LARGE)),
}
EQUATIONS = ("output_error", "backpropagate_error", "bias_gradient", "weight_gradient", "regularisation_gradient")


def case(m):
    return make_case(NET, m, seed=m)


def test_the_large_batch_is_one_the_old_default_kept_in_a_workspace():
    assert ws_module.is_large(case(LARGE).x, NET.sizes) and not ws_module.is_large(case(SMALL).x, NET.sizes)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("name", EQUATIONS)
def test_every_driver_calls_each_equation_when_it_runs(driver, name, monkeypatch):
    original, calls = getattr(equations, name), []

    def recorded(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(equations, name, recorded)
    DRIVERS[driver](case)
    at_least = {"backpropagate_error": NET.L - 1, "bias_gradient": NET.L, "weight_gradient": NET.L,
                "regularisation_gradient": NET.L, "output_error": 1}[name]
    assert len(calls) >= at_least, f"{driver} did not run equations.{name}"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_bias_gradient_doubled_in_equations_doubles_every_drivers_dC_db(driver, monkeypatch):
    """BP3 replaced by 2 × BP3: ∂C/∂b^l doubles in every layer, ∂C/∂W^l stays as it was."""
    before = [mb.Layer(W.copy(), b.copy()) for W, b in DRIVERS[driver](case)]
    original = equations.bias_gradient
    monkeypatch.setattr(equations, "bias_gradient", lambda delta, out=None: 2 * original(delta))
    after = DRIVERS[driver](case)
    for (W0, b0), (W1, b1) in zip(before, after, strict=True):
        assert np.array_equal(W1, W0) and np.array_equal(b1, 2 * b0)


@pytest.mark.parametrize("name", EQUATIONS)
def test_each_replaced_equation_changes_every_drivers_answer_alike(name, monkeypatch):
    """An equation replaced by 2 × itself: all drivers agree with backprop under the replacement
    (bit for bit on the same batch), and differ from what they gave before."""
    def flat(grads):
        return np.concatenate([array.ravel() for layer in grads for array in layer])

    original = getattr(equations, name)
    honest = {driver: flat(DRIVERS[driver](case)) for driver in DRIVERS}
    monkeypatch.setattr(equations, name, lambda *args, **kwargs: 2 * original(*args, **kwargs))
    replaced = {driver: flat(DRIVERS[driver](case)) for driver in DRIVERS}
    for driver in DRIVERS:
        assert not np.array_equal(replaced[driver], honest[driver]), driver
    assert np.array_equal(replaced["backprop, large batch"], replaced["backprop(workspace=), large batch"])
    assert np.array_equal(replaced["backprop, small batch"], replaced["backprop_trace"])


def test_a_piece_replaced_in_a_trace_is_used_and_the_rest_are_equations_own(monkeypatch):
    """`Pieces` a caller gives `trace_with` (a precision mode, a negative control) replace only
    their own piece; the ones left out are equations.py's, looked up at the call."""
    net, params, x, y = case(SMALL)
    honest = mb.trace_with(net, params, x, y)
    halved = mb.trace_with(net, params, x, y, mb.Pieces(bias_gradient=lambda d: d.mean(axis=0) / 2))
    assert all(np.array_equal(h.b / 2, g.b) and np.array_equal(h.W, g.W) for h, g in zip(honest.grads, halved.grads))
    original = equations.weight_gradient
    monkeypatch.setattr(equations, "weight_gradient", lambda d, a, out=None: 3 * original(d, a))
    both = mb.trace_with(net, params, x, y, mb.EQUATIONS._replace(bias_gradient=lambda d: d.mean(axis=0) / 2))
    for h, g, (W, _) in zip(honest.grads, both.grads, params):
        assert np.array_equal(g.b, h.b / 2)
        assert np.allclose(g.W, 3 * (h.W - NET.l2 * W) + NET.l2 * W, rtol=1e-12, atol=1e-15)
