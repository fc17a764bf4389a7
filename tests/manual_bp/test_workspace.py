"""The workspace path of backprop (kept arrays, σ and BP1 a block of rows at a time) gives the very
same bits as the plain path, never hands its arrays to the caller, and is safe to reuse across
shapes, threads and nested calls."""

import threading
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import manual_bp as mb
from manual_bp import workspace as ws_module
from bp_spec import make_case
from bp_spec.names import ACTIVATIONS as SPECS
from bp_spec.strategies import cases


@contextmanager
def activation_registered(name, fn, like="tanh"):
    """A user's activation `fn` with `like`'s derivative, known to the spec and manual_bp meanwhile."""
    mb.register_activation(mb.Activation(name, fn, mb.get_activation(like).prime))
    try:
        yield name
    finally:
        mb.ACTIVATIONS.pop(name)
        SPECS.pop(name, None)


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of one or two rows, and every batch 'large': every path of rows_into is taken."""
    monkeypatch.setattr(ws_module, "BLOCK_BYTES", 48)
    monkeypatch.setattr(ws_module, "LARGE_BYTES", 0)


def assert_same_bits(got, expected):
    assert len(got) == len(expected)
    for l, (g, e) in enumerate(zip(got, expected), start=1):
        assert g.W.dtype == e.W.dtype and g.b.dtype == e.b.dtype
        assert np.array_equal(g.W, e.W, equal_nan=True), f"∂C/∂W^{l} differs"
        assert np.array_equal(g.b, e.b, equal_nan=True), f"∂C/∂b^{l} differs"


# the fixture only patches two module constants, the same for every example
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_workspace_path_gives_the_plain_paths_bits(case, tiny_blocks):
    """Every activation, cost, regularisation and batch size `cases()` draws."""
    plain = mb.backprop(*case, workspace=False)
    kept = mb.Workspace()
    assert_same_bits(mb.backprop(*case, workspace=kept), plain)
    assert kept.nbytes > 0, "the workspace path was not taken"
    assert_same_bits(mb.backprop(*case, workspace=kept), plain)  # the second call reuses its arrays


def test_float32_and_one_example(tiny_blocks):
    net = mb.Network((5, 7, 3), ("tanh", "softmax"), "log_likelihood", l2=0.01)
    for dtype in (np.float32, np.float64):
        params, x, y = make_case(net, 9, seed=3)[1:]
        params = [mb.Layer(W.astype(dtype), b.astype(dtype)) for W, b in params]
        x, y = x.astype(dtype), y.astype(dtype)
        assert_same_bits(mb.backprop(net, params, x, y, workspace=mb.Workspace()),
                         mb.backprop(net, params, x, y, workspace=False))
        assert_same_bits(mb.backprop(net, params, x[0], y[0], workspace=mb.Workspace()),
                         mb.backprop(net, params, x[0], y[0], workspace=False))


def test_gradients_never_alias_the_workspace_and_survive_the_next_call(tiny_blocks):
    net, params, x, y = make_case(mb.Network((4, 6, 6, 2), ("relu", "sigmoid", "identity"), "quadratic"), 8, seed=1)
    kept = mb.Workspace()
    first = mb.backprop(net, params, x, y, workspace=kept)
    snapshot = [mb.Layer(W.copy(), b.copy()) for W, b in first]
    held = list(kept._arrays.values())
    assert held
    for W, b in first:
        assert not any(np.shares_memory(W, a) or np.shares_memory(b, a) for a in held)
    mb.backprop(net, params, 2 * x, y, workspace=kept)  # overwrites the workspace, not `first`
    assert_same_bits(first, snapshot)


def test_the_workspace_holds_z_and_a_and_nothing_more(tiny_blocks):
    """δ^l is written over a^l: the memory kept between calls is what the forward pass stores."""
    net, params, x, y = make_case(mb.Network((5, 8, 6, 3), ("elu", "tanh", "softmax"), "log_likelihood"), 7, seed=4)
    kept = mb.Workspace()
    mb.backprop(net, params, x, y, workspace=kept)
    assert kept.nbytes == sum(2 * 7 * n * x.itemsize for n in net.sizes[1:])


def test_one_workspace_serves_changing_shapes_and_dtypes(tiny_blocks):
    kept = mb.Workspace()
    for sizes, m in [((3, 5, 2), 4), ((3, 5, 2), 7), ((6, 2, 2, 2), 3), ((3, 5, 2), 4)]:
        net, params, x, y = make_case(mb.Network(sizes, ("sigmoid",) * (len(sizes) - 1), "quadratic"), m, seed=m)
        assert_same_bits(mb.backprop(net, params, x, y, workspace=kept),
                         mb.backprop(net, params, x, y, workspace=False))
    kept.release()
    assert kept.nbytes == 0


def test_default_uses_the_threads_workspace_only_for_large_batches(monkeypatch):
    net, params, x, y = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 5, seed=2)
    mine = mb.thread_workspace()
    mine.release()
    mb.backprop(net, params, x, y)
    assert mine.nbytes == 0, "a small batch should not be kept"
    monkeypatch.setattr(ws_module, "LARGE_BYTES", x.shape[0] * 4 * 8)  # exactly this batch's widest layer
    expected = mb.backprop(net, params, x, y, workspace=False)
    assert_same_bits(mb.backprop(net, params, x, y), expected)
    assert mine.nbytes > 0
    mine.release()


def test_threads_get_their_own_workspaces(tiny_blocks):
    """Two threads running different networks at once through the default workspace."""
    work = [make_case(mb.Network((4, 9, 3), (act, "sigmoid"), "quadratic"), 16, seed=s)
            for s, act in enumerate(["tanh", "relu"])]
    expected = [mb.backprop(*case, workspace=False) for case in work]
    results, spaces, errors = [None, None], [None, None], []

    def run(i):
        try:
            for _ in range(30):
                results[i] = mb.backprop(*work[i])
            spaces[i] = mb.thread_workspace()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert spaces[0] is not spaces[1]
    for got, want in zip(results, expected):
        assert_same_bits(got, want)


def test_a_backprop_inside_a_backprop_does_not_share_the_arrays(tiny_blocks):
    """A user's activation that itself calls backprop (through the thread's workspace) while the
    outer call is using it: the inner call, of the very same shapes, must get fresh arrays rather
    than overwrite the z and a the outer call is computing with."""
    inner_case = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 6, seed=5)
    inner_expected = mb.backprop(*inner_case, workspace=False)
    seen, in_use = [], []

    def nosy_tanh(z):
        in_use.append(mb.thread_workspace().in_use)
        seen.append(mb.backprop(*inner_case))
        return np.tanh(z)

    with activation_registered("nosy_tanh", nosy_tanh):
        net, params, x, y = make_case(mb.Network((3, 4, 2), ("nosy_tanh", "sigmoid"), "quadratic"), 6, seed=6)
        mb.backprop(net, params, x, y)
        outer = mb.thread_workspace()
        assert not outer.in_use
        assert seen and all(in_use)
        for got in seen:
            assert_same_bits(got, inner_expected)
        nosy_plain = mb.backprop(net, params, x, y, workspace=False)
        assert_same_bits(mb.backprop(net, params, x, y), nosy_plain)
    mb.thread_workspace().release()


@pytest.mark.parametrize("bad", [True, 0, "yes", object()])
def test_a_workspace_that_is_not_one_is_a_type_error(bad):
    case = make_case(mb.Network((2, 2), ("sigmoid",), "quadratic"), 2, seed=0)
    with pytest.raises(TypeError, match="workspace must be"):
        mb.backprop(*case, workspace=bad)


def test_the_workspace_is_left_free_after_an_error(tiny_blocks):
    net, params, x, y = make_case(mb.Network((3, 2), ("sigmoid",), "quadratic"), 2, seed=0)
    kept = mb.Workspace()

    def broken(z):
        raise RuntimeError("σ failed")

    with activation_registered("broken", broken, like="sigmoid"):
        with pytest.raises(RuntimeError, match="σ failed"):
            mb.backprop(mb.Network((3, 2), ("broken",), "quadratic"), params, x, y, workspace=kept)
    assert not kept.in_use
