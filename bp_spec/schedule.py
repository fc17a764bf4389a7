"""The plan of mini-batch SGD, shared by manual_bp's training and the reference's twin.

Which examples form each mini-batch is a seeded permutation, not math: both trainers read it
here, so they take the very same steps, and each computes the steps itself.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .network import Layer


def mini_batch_order(n: int, mini_batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The mini-batches of epoch `epoch` as index arrays: a permutation of 0..n−1 drawn from
    `default_rng([seed, epoch])`, cut into consecutive slices (the last may be shorter, as
    network.py's slicing leaves it). Each epoch's order depends on (seed, epoch) alone."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[k:k + mini_batch_size] for k in range(0, n, mini_batch_size)]


class Step(NamedTuple):
    """The params after one SGD step: `epoch` counts from 1, `batch` from 0 within the epoch."""

    epoch: int
    batch: int
    params: list[Layer]


def check_hyper_parameters(epochs, mini_batch_size, eta, seed) -> None:
    """A ValueError naming the first of epochs, mini_batch_size, eta, seed that is out of range."""
    for name, value, low in (("epochs", epochs, 1), ("mini_batch_size", mini_batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.floating, np.integer)) \
            or not math.isfinite(eta) or eta <= 0:
        raise ValueError(f"eta (the learning rate η) must be a finite number > 0, got {eta!r}")
