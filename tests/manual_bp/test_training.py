"""SGD over manual_bp is network2.py's (weight decay included), pure and replayable; trained
with manual_bp and with jax.grad from the same start on the same mini-batches, the params stay
equal step after step; and `bp-oracle train` reaches 97 % on the digits with its defaults."""

import json

import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref.reference_sgd import reference_sgd_steps
from bp_oracle.tolerance import TOLERANCES
from bp_oracle.training_trajectory import trajectory_divergence
from bp_spec.schedule import mini_batch_order
from broken_backprops import BROKEN
from manual_bp.data import Dataset
from manual_bp.training import evaluate, one_hot, sgd_step, sgd_steps, train


def blobs(seed, n=60, n_in=5, n_classes=3):
    """A small classification problem: labels from a random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in))
    labels = np.argmax(x @ rng.standard_normal((n_in, n_classes)), axis=1)
    return Dataset(x, labels)


# --- the pieces ----------------------------------------------------------------------------------


def test_an_sgd_step_with_l2_is_network2s_weight_decay():
    # network2.py: w → (1 − ηλ/n) w − (η/m) Σ_x ∂C_x/∂w, b → b − (η/m) Σ_x ∂C_x/∂b
    data, eta, lmbda, n = blobs(0), 0.5, 5.0, 1000
    with_l2 = mb.Network([5, 4, 3], "sigmoid", "cross_entropy", l2=lmbda / n)
    without = mb.Network([5, 4, 3], "sigmoid", "cross_entropy")
    params = with_l2.init_params(1)
    y = one_hot(data.labels, 3)
    stepped = sgd_step(params, mb.backprop(with_l2, params, data.x, y), eta)
    data_grads = mb.backprop(without, params, data.x, y)
    for (W, b), (gW, gb), (W1, b1) in zip(params, data_grads, stepped):
        np.testing.assert_allclose(W1, (1 - eta * lmbda / n) * W - eta * gW, rtol=0, atol=1e-15)
        np.testing.assert_allclose(b1, b - eta * gb, rtol=0, atol=1e-15)  # biases are not decayed


def test_mini_batches_cover_every_example_once_and_depend_on_seed_and_epoch_only():
    batches = mini_batch_order(23, 5, seed=7, epoch=2)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]  # the last one shorter, as network.py slices
    assert sorted(np.concatenate(batches).tolist()) == list(range(23))
    again = mini_batch_order(23, 5, seed=7, epoch=2)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    for other in (mini_batch_order(23, 5, seed=8, epoch=2), mini_batch_order(23, 5, seed=7, epoch=3)):
        assert not np.array_equal(np.concatenate(batches), np.concatenate(other))


def test_training_is_pure_and_replays_exactly():
    data = blobs(1)
    net = mb.Network([5, 6, 3], "tanh", "quadratic")
    params = net.init_params(2)
    before = [(W.copy(), b.copy()) for W, b in params]
    runs = [train(net, params, data, epochs=3, mini_batch_size=7, eta=0.3, seed=4) for _ in range(2)]
    assert all(np.array_equal(W, W0) and np.array_equal(b, b0) for (W, b), (W0, b0) in zip(params, before))
    assert all(np.array_equal(p.W, q.W) and np.array_equal(p.b, q.b) for p, q in zip(*(r.params for r in runs)))
    assert [r.training for r in runs[0].history] == [r.training for r in runs[1].history]


def test_train_records_every_epoch_and_learns():
    everything = blobs(2, n=400)
    data, held_out = (Dataset(everything.x[part], everything.labels[part]) for part in (slice(200), slice(200, 400)))
    net = mb.Network([5, 10, 3], "sigmoid", "cross_entropy")
    params = net.init_params(3)
    start = evaluate(net, params, data)
    seen = []
    run = train(net, params, data, epochs=15, mini_batch_size=10, eta=0.5, seed=0, validation=held_out,
                on_epoch=lambda record, params: seen.append(record.epoch))
    assert seen == list(range(1, 16)) and [r.epoch for r in run.history] == seen
    last = run.history[-1]
    assert last.training.cost < 0.5 * start.cost
    assert last.training.accuracy > 0.9 and last.validation.accuracy > 0.85 > start.accuracy
    assert last.validation.n == 200
    assert evaluate(net, run.params, data) == last.training


def test_evaluate_counts_the_largest_output_as_the_answer_and_includes_l2_in_the_cost():
    net = mb.Network([2, 3], "sigmoid", "quadratic", l2=0.1)
    params = [mb.Layer(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), np.zeros(3))]
    data = Dataset(np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [-5.0, -5.0]]), np.array([0, 1, 1, 2]))
    e = evaluate(net, params, data)
    # z = (5, 0, 0), (0, 5, 0), (5, 0, 0), (−5, −5, 0): answers 0, 1, 0, 2; only example 2 is wrong
    assert e.accuracy == 0.75 and e.n == 4
    a = 1 / (1 + np.exp(-data.x @ params[0].W.T))
    expected = np.mean(0.5 * np.sum((a - one_hot(data.labels, 3)) ** 2, axis=1)) + 0.05 * 2.0
    assert e.cost == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs must be an integer ≥ 1, got 0"),
    (dict(mini_batch_size=2.5), "mini_batch_size must be an integer ≥ 1, got 2.5"),
    (dict(eta=0.0), r"eta \(the learning rate η\) must be a finite number > 0, got 0.0"),
    (dict(eta=float("nan")), "eta .* must be a finite number > 0"),
    (dict(seed=-3), "seed must be an integer ≥ 0, got -3"),
])
def test_bad_hyper_parameters_are_rejected_by_name(kwargs, message):
    net = mb.Network([5, 3], "sigmoid", "cross_entropy")
    settings = dict(epochs=1, mini_batch_size=10, eta=0.1, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        train(net, net.init_params(0), blobs(0), **settings)


def test_labels_that_do_not_fit_the_output_layer_are_rejected():
    net = mb.Network([5, 2], "sigmoid", "cross_entropy")
    with pytest.raises(ValueError, match=r"labels must lie in 0..1 \(the network has 2 output neurons\), found 0..2"):
        train(net, net.init_params(0), blobs(0), epochs=1, mini_batch_size=10, eta=0.1, seed=0)


def test_a_run_that_diverges_stops_with_a_message_not_nans():
    net = mb.Network([5, 8, 3], ["relu", "identity"], "quadratic")
    data = Dataset(blobs(0).x * 100, blobs(0).labels)
    with pytest.raises(ValueError, match=r"training diverged at epoch \d+, mini-batch \d+.*try a smaller eta \(now 100\)"):
        train(net, net.init_params(0), data, epochs=50, mini_batch_size=10, eta=100.0, seed=0)


# --- the trajectory proof --------------------------------------------------------------------------

TRAJECTORY_NETS = [
    mb.Network([5, 7, 3], ["tanh", "sigmoid"], "cross_entropy", l2=1e-3),
    mb.Network([5, 6, 6, 3], ["sigmoid", "elu", "softmax"], "log_likelihood", l2=1e-2, l1=1e-3),
    mb.Network([5, 7, 3], "sigmoid", "quadratic"),
]
PLAN = dict(epochs=20, mini_batch_size=10, eta=0.5, seed=3)  # 60 examples: 6 steps an epoch, 120 in all
F64 = TOLERANCES["float64"]


def trajectory(net, gradients=mb.backprop, data=None):
    data = data or blobs(5)
    y = one_hot(data.labels, 3)
    params = net.init_params(11)
    return list(trajectory_divergence(sgd_steps(net, params, data.x, y, gradients=gradients, **PLAN),
                                      reference_sgd_steps(net, params, data.x, y, **PLAN)))


@pytest.mark.slow
@pytest.mark.parametrize("net", TRAJECTORY_NETS, ids=lambda n: f"{'-'.join(n.activations)}-{n.cost}")
def test_sgd_with_manual_bp_and_with_jax_grad_stays_equal_for_120_steps(net):
    steps = trajectory(net)
    assert len(steps) == 120
    # the float64 policy, per tensor, at every step: max|θ_manual − θ_jax| ≤ 1e-9·max|θ_jax| + 1e-12
    out = [d for d in steps if not d.ok]
    assert not out, f"step {out[0].step}: params differ by {out[0].relative:.2e} relative"
    # and tighter than the policy: measured ≤ 1e-15 relative over these 120 steps, so 1e-12 leaves 10³
    assert max(d.relative for d in steps) < 1e-12


def _gradient_off_by(relative):
    def gradients(net, params, x, y):
        grads = mb.backprop(net, params, x, y)
        return [mb.Layer(grads[0].W * (1 + relative), grads[0].b)] + grads[1:]
    return gradients


def test_a_gradient_off_by_1e7_relative_in_one_layer_leaves_the_trajectory():
    steps = trajectory(TRAJECTORY_NETS[0], gradients=_gradient_off_by(1e-7))
    assert not all(d.ok for d in steps)
    assert max(d.relative for d in steps) > 10 * F64.rtol


@pytest.mark.parametrize("name", ["sigma_prime_of_a_in_bp2", "l2_on_biases", "sum_for_mean_in_bp3"])
def test_a_broken_backprop_leaves_the_trajectory_at_once(name):
    broken, _ = BROKEN[name]
    steps = trajectory(TRAJECTORY_NETS[0], gradients=lambda *args: broken(*args).grads)
    assert not steps[0].ok


# --- the command -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_bp_oracle_train_with_its_defaults_reaches_97_percent_on_the_digits(run_cli, tmp_path):
    summary_path = tmp_path / "summary.json"
    code, out, err = run_cli("train", "--json", str(summary_path))
    assert code == 0, err
    summary = json.loads(summary_path.read_text())
    assert summary["test_accuracy"] >= 0.97
    assert "training_seconds" in summary  # recorded (how long is a benchmark's business)
    settings = summary["settings"]
    assert settings["network"]["sizes"] == [64, 30, 10] and settings["network"]["cost"] == "cross_entropy"
    assert settings["network"]["activations"] == ["sigmoid", "sigmoid"] and settings["data"] == "digits"
    assert len(summary["history"]) == settings["epochs"] == 60
    assert {"training", "validation", "seconds", "epoch"} <= summary["history"][0].keys()
    assert "epoch 60/60" in out and f"test accuracy {summary['test_accuracy']:.2%}" in out


@pytest.mark.parametrize("argv, message", [
    (["--eta", "-1"], "expected a number > 0, got '-1'"),
    (["--epochs", "zero"], "expected a positive integer, got 'zero'"),
    (["--sizes", "64,30,9"], "--sizes ends with 9, but the data has 10 classes"),
    (["--sizes", "60,30,10"], "--sizes starts with 60, but the data has 64 inputs per example"),
    (["--activations", "relu"], "cross_entropy needs outputs in (0, 1)"),
    (["--cost", "mse"], "unknown cost 'mse'; known: quadratic"),
    (["--data", "/no/such/mnist.pkl.gz"], "--data '/no/such/mnist.pkl.gz': not 'digits', and no such file or directory"),
    (["--epochs", "1", "--json", "/no/such/dir/out.json"], "cannot write /no/such/dir/out.json"),
])
def test_bp_oracle_train_reports_bad_input_in_one_line_with_exit_2(run_cli, argv, message):
    code, out, err = run_cli("train", *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("bp-oracle: error: ") and message in err
    assert "Traceback" not in err


def test_bp_oracle_train_reads_an_mnist_pickle(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    data = tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)) for n in (40, 10, 10))
    import pickle
    (tmp_path / "mnist.pkl").write_bytes(pickle.dumps(data, protocol=4))
    code, out, err = run_cli("train", "--data", str(tmp_path / "mnist.pkl"), "--epochs", "1")
    assert code == 0, err
    assert "40 training, 10 validation, 10 test" in out and "network [784, 30, 10]" in out
