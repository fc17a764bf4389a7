"""Why a network learns slowly, read off BP1–BP4 layer by layer.

BP4 says ∂C/∂w^l_jk = a^{l−1}_k δ^l_j: a weight learns slowly when its input a_in is near 0, or
when its neuron's error δ is small. BP1 and BP2 make δ^l a product with σ'(z^l), so δ is small
where the neuron has *saturated*, σ'(z) ≈ 0 (a sigmoid near 0 or 1); and each layer further back
multiplies in another W and σ', so early layers can learn far more slowly than late ones (the
vanishing gradient, Nielsen ch. 5). `layer_diagnostics` measures each of those factors per layer.

`saturated_neuron_demo` is chapter 3's example of the cure at the output: one sigmoid neuron,
input 1, target 0, starting saturated (w = b = 2), learns slowly with the quadratic cost, whose
δ = (a − y) σ'(z) carries the small σ', and quickly with cross-entropy, whose δ = a − y does not.
NumPy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from bp_spec import Layer, Network

from .backprop import backprop_trace, sigmas
from .training import check_hyper_parameters, sgd_step

Array = np.ndarray

# σ'(z) below this counts as saturated: for sigmoid (whose σ' peaks at 0.25) that is |z| > 4.6,
# where the neuron learns 25× more slowly than at z = 0.
SATURATION_THRESHOLD = 0.01
# |a_in| below this counts as a near-zero input: the weights it feeds barely move (BP4).
NEAR_ZERO_THRESHOLD = 0.01


@dataclass(frozen=True)
class LayerDiagnostics:
    """The learning-speed factors of layer l on one batch.

    saturated: share of (example, neuron) pairs with σ'(z^l) < the threshold; None for softmax,
        whose Jacobian is not a diagonal σ'.
    delta_norm: mean over examples of ‖δ^{x,l}‖, the error each example sends into layer l.
    bias_gradient_norm: ‖∂C/∂b^l‖ = ‖batch mean of δ^l‖ (BP3): the speed at which the layer's
        biases learn, Nielsen's measure of a layer's speed of learning in ch. 5.
    weight_gradient_norm: ‖∂C/∂W^l‖_F (BP4, regularisation included).
    near_zero_inputs: share of the layer's inputs a^{l−1} (over examples and neurons) with
        |a_in| < the threshold.
    """

    layer: int
    saturated: Optional[float]
    delta_norm: float
    bias_gradient_norm: float
    weight_gradient_norm: float
    near_zero_inputs: float

    def as_dict(self) -> dict:
        return asdict(self)


def layer_diagnostics(net: Network, params: list[Layer], x, y, *,
                      saturation_threshold: float = SATURATION_THRESHOLD,
                      near_zero_threshold: float = NEAR_ZERO_THRESHOLD) -> list[LayerDiagnostics]:
    """`LayerDiagnostics` for layers 1..L on the batch (x, y), from one `backprop_trace`."""
    for name, value in (("saturation_threshold", saturation_threshold), ("near_zero_threshold", near_zero_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    x, _ = net.check_batch(x, y)
    trace = backprop_trace(net, params, x, y)
    inputs = [x] + trace.a[:-1]  # a^{l−1} for l = 1..L
    report = []
    for l, (sigma, z, delta, a_in, grad) in enumerate(
            zip(sigmas(net), trace.z, trace.delta, inputs, trace.grads), start=1):
        saturated = float(np.mean(sigma.prime(z) < saturation_threshold)) if sigma.elementwise else None
        report.append(LayerDiagnostics(
            layer=l,
            saturated=saturated,
            delta_norm=float(np.mean(np.linalg.norm(delta, axis=1))),
            bias_gradient_norm=float(np.linalg.norm(grad.b)),
            weight_gradient_norm=float(np.linalg.norm(grad.W)),
            near_zero_inputs=float(np.mean(np.abs(a_in) < near_zero_threshold)),
        ))
    return report


# --- chapter 3: a saturated output neuron, quadratic against cross-entropy -------------------


@dataclass(frozen=True)
class NeuronRun:
    """One sigmoid neuron trained by gradient descent on one example; arrays over epochs
    0..epochs (epoch 0 is the start): its output a, its cost C, its w and b, and ∂C/∂w there."""

    cost: str
    output: Array
    cost_value: Array
    w: Array
    b: Array
    weight_gradient: Array


def saturated_neuron_demo(cost: str, *, w: float = 2.0, b: float = 2.0, x: float = 1.0,
                          y: float = 0.0, eta: float = 0.15, epochs: int = 300) -> NeuronRun:
    """Nielsen's chapter-3 example: a single sigmoid neuron with input `x` and target `y`, starting
    at weight `w` and bias `b` (2.0 and 2.0: output σ(4) ≈ 0.98, saturated, far from 0), trained
    for `epochs` steps of gradient descent with learning rate `eta` under `cost`.

    With the quadratic cost ∂C/∂w = (a − y) σ'(z) x, and σ'(4) ≈ 0.018 makes the start slow;
    with cross-entropy ∂C/∂w = (a − y) x, as large as the error itself.
    """
    net = Network([1, 1], "sigmoid", cost)
    params = [Layer(np.array([[float(w)]]), np.array([float(b)]))]
    xs, ys = np.array([[float(x)]]), np.array([[float(y)]])
    check_hyper_parameters(epochs, mini_batch_size=1, eta=eta, seed=0)  # one example, nothing to shuffle
    record = {k: [] for k in ("output", "cost_value", "w", "b", "weight_gradient")}
    for epoch in range(epochs + 1):
        trace = backprop_trace(net, params, xs, ys)
        record["output"].append(trace.a[-1][0, 0])
        record["cost_value"].append(trace.cost)
        record["w"].append(params[0].W[0, 0])
        record["b"].append(params[0].b[0])
        record["weight_gradient"].append(trace.grads[0].W[0, 0])
        if epoch < epochs:
            params = sgd_step(params, trace.grads, eta)
    return NeuronRun(cost, **{k: np.array(v) for k, v in record.items()})
