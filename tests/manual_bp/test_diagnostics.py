"""The diagnostics measure what BP1–BP4 say slows learning: saturated neurons, small errors δ,
near-zero inputs; chapter 3's saturated neuron learns slowly with the quadratic cost and quickly
with cross-entropy; `bp-oracle diagnose` prints them and draws both figures."""

import json
import math

import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref import reference_gradients, reference_trace
from manual_bp.diagnostics import layer_diagnostics, saturated_neuron_demo
from manual_bp.training import one_hot



def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_saturation_and_near_zero_inputs_are_counted_where_sigma_prime_and_a_in_are_small():
    # layer 1's z are the inputs times 10, so a neuron is saturated (σ'(z) < 0.01, |z| > 4.6)
    # exactly where |x| > 0.46; a_in ≈ 0 (|a| < 0.01) exactly where |x| < 0.01
    x = np.array([[0.0, 0.3, 0.5, -0.9], [0.005, -0.47, 0.2, 0.0]])
    net = mb.Network([4, 4, 2], "sigmoid", "quadratic")
    # layer 2: neuron 1 gets z = 3 Σ a¹ (≈ 7.3 and 5.7: saturated), neuron 2 gets −½ Σ a¹ (not)
    params = [mb.Layer(10 * np.eye(4), np.zeros(4)), mb.Layer(np.array([[3.0] * 4, [-0.5] * 4]), np.zeros(2))]
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    first, second = layer_diagnostics(net, params, x, y)
    assert first.saturated == 3 / 8  # 0.5, −0.9, −0.47
    assert first.near_zero_inputs == 3 / 8  # 0.0, 0.005, 0.0
    assert second.near_zero_inputs == 2 / 8  # σ(−9) ≈ 1.2e-4 and σ(−4.7) ≈ 0.009
    assert second.saturated == 2 / 4
    a1 = 1 / (1 + np.exp(-10 * x))
    z2 = a1 @ params[1].W.T
    assert second.saturated == np.mean(np.exp(-np.abs(z2)) / (1 + np.exp(-np.abs(z2))) ** 2 < 0.01)


def test_the_norms_are_those_of_the_autodiff_reference():
    net = mb.Network([6, 5, 4, 3], ["tanh", "sigmoid", "softmax"], "log_likelihood", l2=0.01)
    rng = np.random.default_rng(0)
    params = net.init_params(1)
    x, y = rng.random((9, 6)), one_hot(rng.integers(0, 3, 9), 3)
    report = layer_diagnostics(net, params, x, y)
    ref = reference_trace(net, params, x, y)
    for d, delta, (gW, gb) in zip(report, ref.delta, reference_gradients(net, params, x, y)):
        assert d.delta_norm == pytest.approx(np.mean(np.linalg.norm(delta, axis=1)), rel=1e-9)
        assert d.bias_gradient_norm == pytest.approx(np.linalg.norm(gb), rel=1e-9)
        assert d.weight_gradient_norm == pytest.approx(np.linalg.norm(gW), rel=1e-9)
    assert report[-1].saturated is None  # softmax has no elementwise σ'


def test_a_deep_sigmoid_network_starts_with_earlier_layers_learning_more_slowly():
    # Nielsen ch. 5: each layer back multiplies δ by Wᵀ and σ' ≤ 1/4
    net = mb.Network([20, 15, 15, 15, 10], "sigmoid", "cross_entropy")
    rng = np.random.default_rng(1)
    x, y = rng.random((100, 20)), one_hot(rng.integers(0, 10, 100), 10)
    speeds = [d.bias_gradient_norm for d in layer_diagnostics(net, net.init_params(2), x, y)]
    assert speeds == sorted(speeds) and speeds[-1] > 10 * speeds[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(saturation_threshold=-1.0), "saturation_threshold must be a finite number ≥ 0"),
    (dict(near_zero_threshold=float("inf")), "near_zero_threshold must be a finite number ≥ 0"),
])
def test_bad_thresholds_are_rejected(kwargs, message):
    net = mb.Network([2, 2], "sigmoid", "quadratic")
    with pytest.raises(ValueError, match=message):
        layer_diagnostics(net, net.init_params(0), np.zeros((1, 2)), np.zeros((1, 2)), **kwargs)


# --- chapter 3 -----------------------------------------------------------------------------------


def test_the_saturated_neuron_starts_with_the_gradients_chapter_3_derives():
    a = sigmoid(4.0)  # w = b = 2, x = 1: z = 4
    quadratic, cross_entropy = saturated_neuron_demo("quadratic"), saturated_neuron_demo("cross_entropy")
    assert quadratic.output[0] == cross_entropy.output[0] == pytest.approx(a, rel=1e-15)
    assert quadratic.weight_gradient[0] == pytest.approx((a - 0) * a * (1 - a), rel=1e-12)  # (a − y) σ'(z) x
    assert cross_entropy.weight_gradient[0] == pytest.approx(a - 0, rel=1e-12)  # (a − y) x
    assert len(quadratic.output) == len(cross_entropy.output) == 301


def test_the_saturated_neuron_learns_slowly_with_quadratic_cost_and_quickly_with_cross_entropy():
    quadratic, cross_entropy = saturated_neuron_demo("quadratic"), saturated_neuron_demo("cross_entropy")
    # quadratic: still above 0.95 after 100 epochs, then the book's ≈ 0.20 at epoch 300
    assert quadratic.output[100] > 0.95 and quadratic.output[300] == pytest.approx(0.20, abs=0.01)
    # cross-entropy: below 0.1 within 50 epochs, and lower than quadratic all the way
    assert cross_entropy.output[50] < 0.1
    assert np.all(cross_entropy.output[1:] < quadratic.output[1:])
    assert np.all(np.diff(quadratic.output) < 0) and np.all(np.diff(cross_entropy.output) < 0)


# --- the command and the figures -------------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_bp_oracle_diagnose_prints_the_measures_and_writes_both_figures(run_cli, tmp_path):  # noqa: F811
    out, summary = tmp_path / "figures", tmp_path / "diagnose.json"
    code, stdout, err = run_cli("diagnose", "--epochs", "3", "--sample", "200", "--sizes", "64,12,12,10",
                                  "--out", str(out), "--json", str(summary))
    assert code == 0, err
    for name in ("learning_by_layer.png", "saturated_neuron.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000
    report = json.loads(summary.read_text())
    assert len(report["diagnostics_by_epoch"]) == 4  # before training, then after each of 3 epochs
    assert [d["layer"] for d in report["diagnostics_by_epoch"][0]] == [1, 2, 3]
    assert report["settings"]["sample"] == 200 and report["settings"]["eta"] == 0.1
    assert "before training:" in stdout and "speed of learning relative to the output layer" in stdout
    assert "cross_entropy 0: 0.982" in stdout


def test_bp_oracle_diagnose_without_plots_needs_no_output_folder(run_cli, tmp_path):  # noqa: F811
    code, stdout, err = run_cli("diagnose", "--epochs", "1", "--sample", "50", "--no-plots",
                                  "--out", str(tmp_path / "never"))
    assert code == 0, err
    assert not (tmp_path / "never").exists() and "wrote" not in stdout


def test_bp_oracle_diagnose_reports_an_unwritable_folder_in_one_line(run_cli, tmp_path):  # noqa: F811
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli("diagnose", "--epochs", "1", "--out", str(blocker / "sub"))
    assert code == 2 and err.startswith("bp-oracle: error: cannot create --out") and err.count("\n") == 1
