"""The workspace path of backprop (kept arrays, σ and BP1 a block of rows at a time) gives the very
same bits as the plain path, never hands its arrays to the caller, and is safe to reuse across
shapes, threads and nested calls."""

import sys
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


def in_two_threads(body) -> list[Exception]:
    """body(0) and body(1) on two threads at once; what they raised."""
    errors = []

    def guarded(i):
        try:
            body(i)
        except Exception as e:  # noqa: BLE001 - returned to the test, which asserts there are none
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


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


def kept_bytes(net, m, itemsize, gradient_sets=1):
    """What a workspace keeps after calls whose gradients were let go of: z^l and a^l (m × n_l
    each) and `gradient_sets` sets of ∂C/∂W^l (n_l × n_{l−1})."""
    stored = sum(2 * m * n for n in net.sizes[1:])
    weights = sum(n_in * n_out for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]))
    return (stored + gradient_sets * weights) * itemsize


def test_the_workspace_holds_z_and_a_and_the_weight_gradients_and_nothing_more(tiny_blocks):
    """δ^l is written over a^l: the memory kept between calls is what the forward pass stores, and
    the weight gradients the call returned, for the next call once the caller lets go of them."""
    net, params, x, y = make_case(mb.Network((5, 8, 6, 3), ("elu", "tanh", "softmax"), "log_likelihood"), 7, seed=4)
    kept = mb.Workspace()
    mb.backprop(net, params, x, y, workspace=kept)
    assert kept.nbytes == kept_bytes(net, 7, x.itemsize)
    mb.backprop(net, params, x, y, workspace=kept)  # the first call's gradients were let go of: reused
    assert kept.nbytes == kept_bytes(net, 7, x.itemsize)


def test_gradients_let_go_of_are_reused_and_held_ones_never_written(tiny_blocks):
    """A training loop holds the last step's gradients while it asks for the next: the workspace
    then writes into a second set, and into the first again once it is let go of. A gradient held
    through a view, or a memoryview, or a Layer the caller kept, is held."""
    net, params, x, y = make_case(mb.Network((4, 6, 6, 2), ("relu", "sigmoid", "identity"), "quadratic"), 8, seed=1)
    kept = mb.Workspace()
    first = mb.backprop(net, params, x, y, workspace=kept)
    first_W = [g.W for g in first]
    first_ids = [id(W) for W in first_W]  # stable: the workspace keeps these arrays alive
    second = mb.backprop(net, params, 2 * x, y, workspace=kept)  # `first` held: a second set
    assert not any(np.shares_memory(a.W, b.W) for a in first for b in second)
    snapshot = [mb.Layer(W.copy(), b.copy()) for W, b in second]
    del first
    third = mb.backprop(net, params, 3 * x, y, workspace=kept)  # `first` let go of (first_W still holds it)
    assert not any(np.shares_memory(a, b.W) for a in first_W for b in third)
    del first_W
    fourth = mb.backprop(net, params, x, y, workspace=kept)
    assert [id(g.W) for g in fourth] == first_ids  # let go of at last: written again
    assert_same_bits(fourth, mb.backprop(net, params, x, y, workspace=False))
    assert_same_bits(second, snapshot)  # held throughout, never written
    assert kept.nbytes == kept_bytes(net, 8, x.itemsize, gradient_sets=2)
    for hold, read in ((lambda g: g.W[1:], np.asarray), (lambda g: memoryview(g.W), np.asarray),
                       (lambda g: g.W.reshape(-1), np.asarray), (lambda g: g, lambda layer: layer.W)):
        kept.release()
        held = hold(mb.backprop(net, params, x, y, workspace=kept)[0])
        before = read(held).copy()
        other = mb.backprop(net, params, 5 * x, y, workspace=kept)  # the only other set is `other`'s
        mb.backprop(net, params, 7 * x, y, workspace=kept)           # no free set left: a new array
        assert np.array_equal(read(held), before)
        del other, held


def test_gradients_are_reused_only_where_reference_counts_are_exact(tiny_blocks, monkeypatch):
    """Without exact reference counts (PyPy, free-threaded builds), every gradient is a new array."""
    monkeypatch.setattr(ws_module, "REUSES_GRADIENTS", False)
    net, params, x, y = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 5, seed=2)
    kept = mb.Workspace()
    mb.backprop(net, params, x, y, workspace=kept)
    assert kept.nbytes == kept_bytes(net, 5, x.itemsize, gradient_sets=0)


def test_the_reference_count_of_an_unheld_array_is_measured_on_this_interpreter():
    kept = [np.empty(3)]
    assert ws_module._references(kept, 0) == ws_module._UNHELD
    held = kept[0]
    assert ws_module._references(kept, 0) == ws_module._UNHELD + 1
    del held
    assert ws_module.REUSES_GRADIENTS == (sys.implementation.name == "cpython"
                                          and getattr(sys, "_is_gil_enabled", lambda: True)())


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
    results, spaces = [None, None], [None, None]

    def run(i):
        for _ in range(30):
            results[i] = mb.backprop(*work[i])
        spaces[i] = mb.thread_workspace()

    assert not in_two_threads(run)
    assert spaces[0] is not spaces[1]
    for got, want in zip(results, expected):
        assert_same_bits(got, want)


def test_a_held_workspace_is_not_shared(tiny_blocks):
    """While one call holds a workspace (another thread's, or a backprop inside that call), a second
    call computes with fresh arrays and leaves it as it was."""
    net, params, x, y = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 6, seed=6)
    kept = mb.Workspace()
    assert kept.hold()
    try:
        assert kept.in_use and not kept.hold()
        assert_same_bits(mb.backprop(net, params, x, y, workspace=kept), mb.backprop(net, params, x, y, workspace=False))
        assert kept.nbytes == 0 and kept.in_use
    finally:
        kept.let_go()
    mb.backprop(net, params, x, y, workspace=kept)
    assert kept.nbytes > 0 and not kept.in_use


def test_threads_sharing_one_workspace_each_get_their_own_answer(tiny_blocks):
    """One explicit Workspace handed to two threads at once: whichever does not hold it computes
    with fresh arrays; neither sees the other's numbers."""
    net = mb.Network((4, 9, 3), ("tanh", "sigmoid"), "quadratic")
    work = [make_case(net, 16, seed=s) for s in range(2)]
    expected = [mb.backprop(*case, workspace=False) for case in work]
    shared, wrong = mb.Workspace(), []

    def run(i):
        for _ in range(40):
            got = mb.backprop(*work[i], workspace=shared)
            if not all(np.array_equal(g.W, e.W) and np.array_equal(g.b, e.b) for g, e in zip(got, expected[i])):
                wrong.append(i)

    assert not in_two_threads(run)
    assert not wrong and not shared.in_use


def test_the_workspace_is_let_go_after_an_error(tiny_blocks, monkeypatch):
    net, params, x, y = make_case(mb.Network((3, 2), ("sigmoid",), "quadratic"), 2, seed=0)
    kept = mb.Workspace()

    def broken(*args):
        raise RuntimeError("σ failed")

    monkeypatch.setattr(sys.modules["manual_bp.backprop"], "rows_into", broken)  # the module, not the function
    with pytest.raises(RuntimeError, match="σ failed"):
        mb.backprop(net, params, x, y, workspace=kept)
    assert not kept.in_use


def test_mixed_dtypes_take_the_plain_path(tiny_blocks):
    """float32 x with float64 params (or one float64 bias): the plain path promotes to float64; the
    workspace, whose arrays are x's dtype, must not round the answer to float32."""
    net, params, x, y = make_case(mb.Network((4, 6, 2), ("tanh", "sigmoid"), "quadratic"), 5, seed=0)
    mixed = [(params, x.astype(np.float32), y),
             ([mb.Layer(W.astype(np.float32), b if l == 0 else b.astype(np.float32)) for l, (W, b) in enumerate(params)],
              x.astype(np.float32), y.astype(np.float32))]
    for p, xs, ys in mixed:
        kept = mb.Workspace()
        got = mb.backprop(net, p, xs, ys, workspace=kept)
        assert_same_bits(got, mb.backprop(net, p, xs, ys, workspace=False))
        assert got[0].W.dtype == np.float64 and kept.nbytes == 0


def test_a_registered_activation_or_cost_takes_the_plain_path(tiny_blocks):
    """Nothing is assumed of a user's σ: one that looks at the whole batch (not row by row) must
    still give the plain path's answer."""
    def batch_centred_tanh(z):
        return np.tanh(z - z.mean(axis=0))

    with activation_registered("batch_centred_tanh", batch_centred_tanh):
        net, params, x, y = make_case(mb.Network((3, 5, 2), ("batch_centred_tanh", "sigmoid"), "quadratic"), 8, seed=2)
        kept = mb.Workspace()
        assert_same_bits(mb.backprop(net, params, x, y, workspace=kept), mb.backprop(net, params, x, y, workspace=False))
        assert kept.nbytes == 0
    replaced = mb.get_cost("quadratic")
    mb.register_cost(mb.Cost("quadratic", replaced.value, replaced.grad_a), replace=True)  # the same math, not shipped
    try:
        net, params, x, y = make_case(mb.Network((3, 5, 2), ("tanh", "sigmoid"), "quadratic"), 8, seed=2)
        kept = mb.Workspace()
        mb.backprop(net, params, x, y, workspace=kept)
        assert kept.nbytes == 0
    finally:
        mb.register_cost(replaced, replace=True)
    mb.backprop(net, params, x, y, workspace=kept)
    assert kept.nbytes > 0  # shipped again


def test_an_input_that_is_the_workspaces_own_array_is_read_not_overwritten(tiny_blocks):
    """x taken from a workspace (feedforward's a^1, say) and passed back in with that workspace."""
    net, params, x, y = make_case(mb.Network((3, 3, 3), ("tanh", "identity"), "quadratic"), 4, seed=7)
    kept = mb.Workspace()
    zs, activations = mb.feedforward(net, params, x, kept)
    inner = activations[1]
    assert any(np.shares_memory(inner, a) for a in kept._arrays.values())
    second = mb.Network((3, 3), ("tanh",), "quadratic")
    W, b = params[0]
    expected = mb.backprop(second, [mb.Layer(W, b)], inner.copy(), y, workspace=False)
    assert_same_bits(mb.backprop(second, [mb.Layer(W, b)], inner, y, workspace=kept), expected)
    assert not kept.in_use  # let go, though not used


def test_a_shallower_network_drops_a_deeper_ones_arrays(tiny_blocks):
    kept = mb.Workspace()
    deep = make_case(mb.Network((3, 8, 8, 8, 2), ("tanh",) * 3 + ("sigmoid",), "quadratic"), 5, seed=1)
    mb.backprop(*deep, workspace=kept)
    net, params, x, y = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 5, seed=1)
    mb.backprop(net, params, x, y, workspace=kept)
    assert kept.nbytes == kept_bytes(net, 5, x.itemsize)


@pytest.mark.parametrize("bad", [True, 0, "yes", object()])
def test_a_workspace_that_is_not_one_is_a_type_error(bad):
    case = make_case(mb.Network((2, 2), ("sigmoid",), "quadratic"), 2, seed=0)
    with pytest.raises(TypeError, match="workspace must be"):
        mb.backprop(*case, workspace=bad)
