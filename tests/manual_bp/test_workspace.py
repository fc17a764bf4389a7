"""The opt-in workspace path (`Workspace.backprop`: kept arrays, σ, σ' and BP1 a block of rows at a
time) gives the very same bits as `backprop`, returns arrays that are the workspace's (NumPy's
`out=`: the next call overwrites them), and is safe across shapes, threads and odd inputs; the
default `backprop` keeps nothing between calls; training opts in for large batches and trains
bit for bit as without."""

import ast
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import manual_bp as mb
from bp_spec import make_case
from bp_spec.names import ACTIVATIONS as SPECS
from bp_spec.strategies import cases
from manual_bp import workspace as ws_module
from manual_bp.data import Dataset
from manual_bp.training import sgd_steps, train


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


def copied(grads):
    return [mb.Layer(W.copy(), b.copy()) for W, b in grads]


def assert_same_bits(got, expected):
    assert len(got) == len(expected)
    for l, (g, e) in enumerate(zip(got, expected), start=1):
        assert g.W.dtype == e.W.dtype and g.b.dtype == e.b.dtype
        assert np.array_equal(g.W, e.W, equal_nan=True), f"∂C/∂W^{l} differs"
        assert np.array_equal(g.b, e.b, equal_nan=True), f"∂C/∂b^{l} differs"


def kept_bytes(net, m, itemsize):
    """What a workspace keeps: z^l and a^l (m × n_l each), ∂C/∂W^l (n_l × n_{l−1}) and ∂C/∂b^l (n_l)."""
    stored = sum(2 * m * n for n in net.sizes[1:])
    gradients = sum(n_in * n_out + n_out for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]))
    return (stored + gradients) * itemsize


# --- the same bits ------------------------------------------------------------------------------


# the fixture only patches two module constants, the same for every example
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_workspace_path_gives_backprops_bits(case, tiny_blocks):
    """Every activation, cost, regularisation and batch size `cases()` draws."""
    plain = mb.backprop(*case)
    kept = mb.Workspace()
    assert_same_bits(copied(kept.backprop(*case)), plain)
    assert kept.nbytes > 0, "the workspace path was not taken"
    assert_same_bits(kept.backprop(*case), plain)  # the second call writes into the first's arrays


def test_float32_and_one_example(tiny_blocks):
    net = mb.Network((5, 7, 3), ("tanh", "softmax"), "log_likelihood", l2=0.01)
    for dtype in (np.float32, np.float64):
        params, x, y = make_case(net, 9, seed=3)[1:]
        params = [mb.Layer(W.astype(dtype), b.astype(dtype)) for W, b in params]
        x, y = x.astype(dtype), y.astype(dtype)
        assert_same_bits(mb.Workspace().backprop(net, params, x, y), mb.backprop(net, params, x, y))
        assert_same_bits(mb.Workspace().backprop(net, params, x[0], y[0]), mb.backprop(net, params, x[0], y[0]))


def test_real_blocks_on_a_batch_the_old_default_kept():
    """No patched constants: a batch whose widest layer is LARGE_BYTES, blocks of 256 KiB."""
    net = mb.Network((20, 512, 64, 10), ("tanh", "relu", "sigmoid"), "cross_entropy", l2=1e-3, l1=1e-4)
    case = make_case(net, 128, seed=5)
    assert ws_module.is_large(case.x, net.sizes)
    kept = mb.Workspace()
    assert_same_bits(kept.backprop(*case), mb.backprop(*case))
    assert kept.nbytes == kept_bytes(net, 128, 8)


def test_backprop_given_a_workspace_is_the_workspaces_backprop(tiny_blocks):
    case = make_case(mb.Network((4, 6, 2), ("tanh", "sigmoid"), "quadratic", l2=0.1), 5, seed=3)
    kept = mb.Workspace()
    through_backprop = mb.backprop(*case, workspace=kept)
    assert kept.nbytes > 0
    assert all(a.W is b.W and a.b is b.b for a, b in zip(through_backprop, kept.backprop(*case)))
    assert_same_bits(through_backprop, mb.backprop(*case, workspace=None))


@pytest.mark.parametrize("bad", [True, False, 0, "yes", object()])
def test_a_workspace_that_is_not_one_is_a_type_error(bad):
    case = make_case(mb.Network((2, 2), ("sigmoid",), "quadratic"), 2, seed=0)
    with pytest.raises(TypeError, match="workspace must be a manual_bp.Workspace or None"):
        mb.backprop(*case, workspace=bad)


# --- out= semantics: what the workspace holds and hands out --------------------------------------


def test_the_arrays_returned_are_the_workspaces_and_the_next_call_overwrites_them(tiny_blocks):
    net, params, x, y = make_case(mb.Network((4, 6, 6, 2), ("relu", "sigmoid", "identity"), "quadratic"), 8, seed=1)
    kept = mb.Workspace()
    first = kept.backprop(net, params, x, y)
    second = kept.backprop(net, params, 2 * x, y)
    assert all(a.W is b.W and a.b is b.b for a, b in zip(first, second))  # one set of gradients, written again
    assert_same_bits(first, mb.backprop(net, params, 2 * x, y))  # what `first` reads now: the second call's
    zs_and_as = [a for key, a in kept._arrays.items() if key[0] in ("z", "a")]
    assert zs_and_as
    for W, b in second:  # the gradients are arrays of their own, never a view of a z or an a
        assert not any(np.shares_memory(W, a) or np.shares_memory(b, a) for a in zs_and_as)


def test_the_workspace_holds_z_a_and_the_gradients_and_nothing_more(tiny_blocks):
    """δ^l is written over a^l and σ'(z^l) over z^l: the memory kept is what the forward pass
    stores, and one set of gradients."""
    net, params, x, y = make_case(mb.Network((5, 8, 6, 3), ("elu", "tanh", "softmax"), "log_likelihood"), 7, seed=4)
    kept = mb.Workspace()
    held = kept.backprop(net, params, x, y)  # the caller holding them changes nothing
    assert kept.nbytes == kept_bytes(net, 7, x.itemsize)
    kept.backprop(net, params, x, y)
    assert kept.nbytes == kept_bytes(net, 7, x.itemsize)
    del held


def test_one_workspace_serves_changing_shapes_and_dtypes(tiny_blocks):
    kept = mb.Workspace()
    for sizes, m, dtype in [((3, 5, 2), 4, np.float64), ((3, 5, 2), 7, np.float64), ((6, 2, 2, 2), 3, np.float64),
                            ((3, 5, 2), 4, np.float32), ((3, 5, 2), 4, np.float64)]:
        net, params, x, y = make_case(mb.Network(sizes, ("sigmoid",) * (len(sizes) - 1), "quadratic"), m, seed=m,
                                      dtype=dtype)
        assert_same_bits(kept.backprop(net, params, x, y), mb.backprop(net, params, x, y))
    kept.release()
    assert kept.nbytes == 0


def test_a_shallower_network_drops_a_deeper_ones_arrays(tiny_blocks):
    kept = mb.Workspace()
    deep = make_case(mb.Network((3, 8, 8, 8, 2), ("tanh",) * 3 + ("sigmoid",), "quadratic"), 5, seed=1)
    kept.backprop(*deep)
    net, params, x, y = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 5, seed=1)
    kept.backprop(net, params, x, y)
    assert kept.nbytes == kept_bytes(net, 5, x.itemsize)


# --- calls the workspace must not compute: backprop's new arrays instead --------------------------


def test_mixed_dtypes_take_backprops_path(tiny_blocks):
    """float32 x with float64 params (or one float64 bias): backprop promotes to float64; the
    workspace, whose arrays are x's dtype, must not round the answer to float32."""
    net, params, x, y = make_case(mb.Network((4, 6, 2), ("tanh", "sigmoid"), "quadratic"), 5, seed=0)
    mixed = [(params, x.astype(np.float32), y),
             ([mb.Layer(W.astype(np.float32), b if l == 0 else b.astype(np.float32)) for l, (W, b) in enumerate(params)],
              x.astype(np.float32), y.astype(np.float32))]
    for p, xs, ys in mixed:
        kept = mb.Workspace()
        got = kept.backprop(net, p, xs, ys)
        assert_same_bits(got, mb.backprop(net, p, xs, ys))
        assert got[0].W.dtype == np.float64 and kept.nbytes == 0


def test_a_registered_activation_or_cost_takes_backprops_path(tiny_blocks):
    """Nothing is assumed of a user's σ: one that looks at the whole batch (not row by row) must
    still give backprop's answer."""
    def batch_centred_tanh(z):
        return np.tanh(z - z.mean(axis=0))

    with activation_registered("batch_centred_tanh", batch_centred_tanh):
        net, params, x, y = make_case(mb.Network((3, 5, 2), ("batch_centred_tanh", "sigmoid"), "quadratic"), 8, seed=2)
        kept = mb.Workspace()
        assert_same_bits(kept.backprop(net, params, x, y), mb.backprop(net, params, x, y))
        assert kept.nbytes == 0
    replaced = mb.get_cost("quadratic")
    mb.register_cost(mb.Cost("quadratic", replaced.value, replaced.grad_a), replace=True)  # the same math, not shipped
    try:
        net, params, x, y = make_case(mb.Network((3, 5, 2), ("tanh", "sigmoid"), "quadratic"), 8, seed=2)
        kept = mb.Workspace()
        kept.backprop(net, params, x, y)
        assert kept.nbytes == 0
    finally:
        mb.register_cost(replaced, replace=True)
    kept.backprop(net, params, x, y)
    assert kept.nbytes > 0  # shipped again


def test_an_input_that_is_the_workspaces_own_array_is_read_not_overwritten(tiny_blocks):
    """x, or a weight, that is an array the workspace handed out (a gradient of its last call)
    and is passed back in: computed with new arrays, and left as it was."""
    net, params, x, y = make_case(mb.Network((3, 3, 3), ("tanh", "identity"), "quadratic"), 3, seed=7)
    kept = mb.Workspace()
    theirs = kept.backprop(net, params, x, y)[0].W  # (3, 3): fits as x, and as W^1
    before = theirs.copy()
    as_x = (net, params, theirs, y)
    as_weight = (net, [mb.Layer(theirs, params[0].b), params[1]], x, y)
    for case in (as_x, as_weight):
        expected = mb.backprop(case[0], [mb.Layer(W.copy(), b) for W, b in case[1]], case[2].copy(), y)
        assert_same_bits(kept.backprop(*case), expected)
        assert np.array_equal(theirs, before) and not kept.in_use


def test_a_held_workspace_is_not_shared(tiny_blocks):
    """While one call holds a workspace (another thread's), a second call computes with new arrays
    and leaves it as it was."""
    net, params, x, y = make_case(mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic"), 6, seed=6)
    kept = mb.Workspace()
    assert kept.hold()
    try:
        assert kept.in_use and not kept.hold()
        assert_same_bits(kept.backprop(net, params, x, y), mb.backprop(net, params, x, y))
        assert kept.nbytes == 0 and kept.in_use
    finally:
        kept.let_go()
    kept.backprop(net, params, x, y)
    assert kept.nbytes > 0 and not kept.in_use


def test_threads_with_a_workspace_each_get_their_own_answer(tiny_blocks):
    """Two threads running different networks at once, each through its own workspace."""
    work = [make_case(mb.Network((4, 9, 3), (act, "sigmoid"), "quadratic"), 16, seed=s)
            for s, act in enumerate(["tanh", "relu"])]
    expected = [mb.backprop(*case) for case in work]
    wrong = []

    def run(i):
        mine = mb.Workspace()
        for _ in range(30):
            got = mine.backprop(*work[i])
            if not all(np.array_equal(g.W, e.W) and np.array_equal(g.b, e.b) for g, e in zip(got, expected[i])):
                wrong.append(i)

    assert not in_two_threads(run)
    assert not wrong


def test_the_workspace_is_let_go_after_an_error(tiny_blocks, monkeypatch):
    net, params, x, y = make_case(mb.Network((3, 2), ("sigmoid",), "quadratic"), 2, seed=0)
    kept = mb.Workspace()

    def broken(*args):
        raise RuntimeError("σ failed")

    monkeypatch.setattr(ws_module, "rows_into", broken)
    with pytest.raises(RuntimeError, match="σ failed"):
        kept.backprop(net, params, x, y)
    assert not kept.in_use


# --- the default keeps nothing ------------------------------------------------------------------


def test_backprop_keeps_nothing_between_calls_at_any_batch_size(tiny_blocks, monkeypatch):
    """Every batch 'large' and the workspace's blocked work broken: backprop never reaches it, and
    each call's gradients are new arrays that later calls leave alone."""
    def broken(*args):
        raise AssertionError("backprop used the workspace's blocked work")

    monkeypatch.setattr(ws_module, "rows_into", broken)
    net, params, x, y = make_case(mb.Network((4, 6, 6, 2), ("relu", "sigmoid", "identity"), "quadratic"), 8, seed=1)
    first = mb.backprop(net, params, x, y)
    snapshot = copied(first)
    second = mb.backprop(net, params, 2 * x, y)
    assert not any(np.shares_memory(a.W, b.W) or np.shares_memory(a.b, b.b) for a in first for b in second)
    assert_same_bits(first, snapshot)


def test_nothing_in_manual_bp_counts_references_or_keeps_state_per_thread():
    """No array is reused because a reference count says the caller let go of it, and no thread
    holds a workspace of its own: the only arrays kept are those of a Workspace the caller made."""
    package = Path(mb.__file__).parent
    for path in package.glob("*.py"):
        used = {ast.unparse(node) for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, (ast.Attribute, ast.alias))}  # names read, and names imported
        assert not used & {"sys.getrefcount", "getrefcount", "threading.local", "thread_workspace"}, path.name
    assert not hasattr(mb, "thread_workspace")


# --- training opts in ---------------------------------------------------------------------------


def test_training_in_a_workspace_gives_the_same_params_step_after_step(tiny_blocks, monkeypatch):
    """sgd_steps with manual_bp's backprop computes every (here 'large') batch in one workspace;
    given another gradient function (the same backprop, not recognised) it computes with new
    arrays. Every step's params are the same bits, and so is train's result."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 5))
    data = Dataset(x, np.argmax(x @ rng.standard_normal((5, 3)), axis=1))
    net = mb.Network([5, 7, 6, 3], ["tanh", "relu", "softmax"], "log_likelihood", l2=1e-3)
    params = net.init_params(2)
    y = np.eye(3)[data.labels]
    plan = dict(epochs=3, mini_batch_size=6, eta=0.2, seed=9)

    calls = []
    workspace_backprop = mb.Workspace.backprop

    def counted(self, *args):
        calls.append(self)
        return workspace_backprop(self, *args)

    monkeypatch.setattr(mb.Workspace, "backprop", counted)
    in_workspace = list(sgd_steps(net, params, x, y, **plan))
    assert len(calls) == len(in_workspace) and len(set(map(id, calls))) == 1  # one workspace, every step
    assert calls[0].nbytes == kept_bytes(net, 40 % 6, 8)  # it computed (the last batch is the short one)
    calls.clear()
    plain = list(sgd_steps(net, params, x, y, gradients=lambda *args: mb.backprop(*args), **plan))
    assert not calls
    for a, b in zip(in_workspace, plain, strict=True):
        assert (a.epoch, a.batch) == (b.epoch, b.batch)
        assert_same_bits(a.params, b.params)  # read after the last step: no step's params are the workspace's
    run_in_workspace = train(net, params, data, epochs=2, mini_batch_size=6, eta=0.2, seed=9)
    run_plain = train(net, params, data, epochs=2, mini_batch_size=6, eta=0.2, seed=9,
                      gradients=lambda *args: mb.backprop(*args))
    assert_same_bits(run_in_workspace.params, run_plain.params)
    assert [r.training for r in run_in_workspace.history] == [r.training for r in run_plain.history]


def test_training_at_sizes_that_opt_in_unpatched():
    """A mini-batch whose widest layer is LARGE_BYTES, real blocks: the same params as without."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((256, 8)), np.eye(3)[rng.integers(0, 3, 256)]
    net = mb.Network([8, 512, 3], ["sigmoid", "sigmoid"], "cross_entropy", l2=1e-4)
    assert ws_module.is_large(x[:128], net.sizes)
    plan = dict(epochs=1, mini_batch_size=128, eta=0.5, seed=1)
    in_workspace = [s.params for s in sgd_steps(net, net.init_params(3), x, y, **plan)]
    plain = [s.params for s in sgd_steps(net, net.init_params(3), x, y, gradients=lambda *a: mb.backprop(*a), **plan)]
    for a, b in zip(in_workspace, plain, strict=True):
        assert_same_bits(a, b)


def test_training_on_small_batches_does_not_opt_in(monkeypatch):
    def refused(*args):
        raise AssertionError("a small batch went into a workspace")

    monkeypatch.setattr(mb.Workspace, "backprop", refused)
    net = mb.Network([5, 4, 3], "sigmoid", "quadratic")
    x = np.random.default_rng(0).standard_normal((20, 5))
    steps = list(sgd_steps(net, net.init_params(1), x, np.eye(3)[np.arange(20) % 3],
                           epochs=1, mini_batch_size=10, eta=0.1, seed=0))
    assert len(steps) == 2
