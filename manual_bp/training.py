"""Mini-batch stochastic gradient descent over the hand-written backprop, as network.py and
network2.py train (Nielsen, ch. 1 and 3), written as pure functions over params.

One epoch: shuffle the training set, cut it into mini-batches of `mini_batch_size`, and for each
take one step down the gradient of that batch's cost,

    W^l → W^l − η ∂C/∂W^l,    b^l → b^l − η ∂C/∂b^l,

with C = (1/m) Σ_x C_x + (l2/2) Σ_l ‖W^l‖² the core's cost over the mini-batch. Its weight
gradient is (1/m) Σ_x ∂C_x/∂W + l2 W, so the step is network2.py's weight decay,
W → (1 − η l2) W − (η/m) Σ_x ∂C_x/∂W, and with l2 = λ/n (n the size of the training set) the
factor is network2.py's (1 − ηλ/n). The biases are not decayed.

The order of the mini-batches is a pure function of (seed, epoch) (`bp_spec.schedule`), so a
run can be replayed exactly, and a second implementation (autodiff_ref's jax.grad twin) can take
the very same steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, NamedTuple, Optional

import numpy as np

from bp_spec import Layer, Network
from bp_spec.schedule import Step, check_hyper_parameters, mini_batch_order

from .backprop import backprop, feedforward, total_cost
from .data import Dataset
from .workspace import Workspace, is_large

Array = np.ndarray
Gradients = Callable[[Network, list, Array, Array], list]


# --- the pieces ------------------------------------------------------------------------------


def one_hot(labels: Array, n_classes: int) -> Array:
    """Targets y for integer labels: row x is the unit vector e_{label(x)} (network.py's
    `vectorized_result`, for a whole batch)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D array of integers, got shape {labels.shape} dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1} (the network has {n_classes} output "
                         f"neurons), found {int(labels.min())}..{int(labels.max())}")
    y = np.zeros((labels.size, n_classes))
    y[np.arange(labels.size), labels] = 1.0
    return y


def sgd_step(params: list[Layer], grads: list[Layer], eta: float) -> list[Layer]:
    """One step of gradient descent: W → W − η ∂C/∂W, b → b − η ∂C/∂b, as new arrays."""
    return [Layer(W - eta * nabla_W, b - eta * nabla_b) for (W, b), (nabla_W, nabla_b) in zip(params, grads)]


def sgd_steps(net: Network, params: list[Layer], x: Array, y: Array, *, epochs: int,
              mini_batch_size: int, eta: float, seed: int,
              gradients: Gradients = backprop) -> Iterator[Step]:
    """Every step of mini-batch SGD on targets y, one `Step` at a time.

    `gradients(net, params, x, y)` is manual_bp's `backprop` unless another is given (a test
    passes a deliberately broken one); params are never changed in place. manual_bp's `backprop`
    runs large batches in one `Workspace` kept for the run: the same bits, faster.
    """
    params = net.check_params(params)
    x, y = net.check_batch(x, y)
    check_hyper_parameters(epochs, mini_batch_size, eta, seed)
    gradients = _in_a_workspace_when_large(gradients)
    for epoch in range(1, epochs + 1):
        for batch, indices in enumerate(mini_batch_order(x.shape[0], mini_batch_size, seed, epoch)):
            where = f"training diverged at epoch {epoch}, mini-batch {batch}"
            try:
                # overflow means the params ran away; stop there rather than carry Inf and NaN on
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    params = sgd_step(params, gradients(net, params, x[indices], y[indices]), eta)
            except FloatingPointError as e:
                raise ValueError(f"{where} ({e}); try a smaller eta (now {eta:g})") from None
            if not all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in params):
                raise ValueError(f"{where}: the params became NaN or Inf; try a smaller eta (now {eta:g})")
            yield Step(epoch, batch, params)


def _in_a_workspace_when_large(gradients: Gradients) -> Gradients:
    """`gradients` as given; manual_bp's own `backprop` computes large batches in one `Workspace`
    kept for the run (the same bits, faster). Its out= semantics are safe here: each step's
    gradients are read once, by `sgd_step`, before the next step asks for new ones."""
    if gradients is not backprop:
        return gradients
    workspace = Workspace()

    def backprop_in_the_workspace(net: Network, params: list[Layer], x: Array, y: Array) -> list[Layer]:
        return backprop(net, params, x, y, workspace=workspace if is_large(x, net.sizes) else None)
    return backprop_in_the_workspace


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """How the network does on one data set: the share of labels it gets right (the output
    neuron with the largest activation is its answer) and the cost C on the whole set,
    regularisation included as network2.py's `total_cost` includes it."""

    accuracy: float
    cost: float
    n: int


def evaluate(net: Network, params: list[Layer], data: Dataset) -> Evaluation:
    """Accuracy and cost of params on `data` (labels as integers; y is their one-hot)."""
    params = net.check_params(params)
    x, y = net.check_batch(data.x, one_hot(data.labels, net.sizes[-1]))
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            zs, activations = feedforward(net, params, x)
            cost = total_cost(net, params, zs[-1], activations[-1], y)
    except FloatingPointError as e:
        raise ValueError(f"evaluating on {x.shape[0]} examples overflowed ({e}): the params are too "
                         f"large, has training diverged?") from None
    correct = np.argmax(activations[-1], axis=1) == data.labels
    return Evaluation(accuracy=float(np.mean(correct)), cost=cost, n=int(x.shape[0]))


# --- the training loop -----------------------------------------------------------------------


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run: its number (from 1), the seconds its steps took, and the evaluations
    made after it (None for a set that was not monitored)."""

    epoch: int
    seconds: float
    training: Optional[Evaluation]
    validation: Optional[Evaluation]

    def as_dict(self) -> dict:
        return asdict(self)


class TrainingRun(NamedTuple):
    """The params at the end of training and one `EpochRecord` per epoch."""

    params: list[Layer]
    history: list[EpochRecord]


def train(net: Network, params: list[Layer], training: Dataset, *, epochs: int,
          mini_batch_size: int, eta: float, seed: int, validation: Optional[Dataset] = None,
          monitor_training: bool = True,
          on_epoch: Optional[Callable[[EpochRecord, list[Layer]], None]] = None,
          gradients: Gradients = backprop) -> TrainingRun:
    """network2.py's `SGD`: `epochs` passes of mini-batch SGD over `training`, evaluating after each.

    Arguments:
        net: the spec; its `l2` is the weight decay (Nielsen's λ/n).
        params: the starting point, e.g. `net.init_params(seed)`; not modified.
        training, validation: `Dataset`s with integer labels 0..n_L−1.
        epochs, mini_batch_size, eta: as network.py's `SGD(…, epochs, mini_batch_size, eta)`.
        seed: fixes the order of the mini-batches (see `mini_batch_order`).
        monitor_training: also evaluate on the training set after each epoch.
        on_epoch: called with each epoch's record and the params after it (progress, diagnostics).
        gradients: how ∂C/∂W, ∂C/∂b are computed; manual_bp's `backprop` by default.
    Returns:
        a `TrainingRun(params, history)`.
    """
    check_hyper_parameters(epochs, mini_batch_size, eta, seed)
    y = one_hot(training.labels, net.sizes[-1])
    if validation is not None:
        net.check_batch(validation.x, one_hot(validation.labels, net.sizes[-1]))
    history = []
    steps = sgd_steps(net, params, training.x, y, epochs=epochs, mini_batch_size=mini_batch_size,
                      eta=eta, seed=seed, gradients=gradients)
    batches_per_epoch = math.ceil(training.n / mini_batch_size)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        for _ in range(batches_per_epoch):
            params = next(steps).params
        seconds = time.perf_counter() - start
        record = EpochRecord(epoch, seconds,
                             evaluate(net, params, training) if monitor_training else None,
                             evaluate(net, params, validation) if validation is not None else None)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record, params)
    return TrainingRun(params, history)
