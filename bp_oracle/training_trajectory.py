"""Judging a training trajectory: manual_bp's SGD against the reference's jax.grad twin
(`autodiff_ref.reference_sgd`), step by step, with the float64 tolerance policy."""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from bp_spec import Layer
from bp_spec.schedule import Step

from .tolerance import TOLERANCES, Tolerance


class Divergence(NamedTuple):
    """How far two trajectories are apart after one step: the worst tensor's
    max|θ_manual − θ_ref| / max|θ_ref| (normwise relative, the tolerance policy's measure), and
    whether every tensor of the step is within `tolerance`."""

    step: int
    epoch: int
    relative: float
    ok: bool


def divergence(got: list[Layer], expected: list[Layer], step: int, epoch: int,
               tolerance: Tolerance = TOLERANCES["float64"]) -> Divergence:
    """The divergence of params `got` from `expected`, judged per tensor by `tolerance`."""
    worst, ok = 0.0, True
    for g, e in zip(got, expected):
        for got_t, exp_t in zip(g, e):
            error = float(np.max(np.abs(got_t - exp_t)))
            scale = float(np.max(np.abs(exp_t)))
            ok = ok and error <= tolerance.bound(exp_t)
            worst = max(worst, error / scale if scale > 0 else error)
    return Divergence(step, epoch, worst, ok)


def trajectory_divergence(manual_steps: Iterator[Step], reference_steps: Iterator[Step],
                          tolerance: Tolerance = TOLERANCES["float64"]) -> Iterator[Divergence]:
    """Walk two trajectories in lockstep, yielding the divergence after each step."""
    for step, (m, r) in enumerate(zip(manual_steps, reference_steps), start=1):
        if (m.epoch, m.batch) != (r.epoch, r.batch):
            raise RuntimeError(f"the trajectories are out of step: {m.epoch}:{m.batch} vs {r.epoch}:{r.batch}")
        yield divergence(m.params, r.params, step, m.epoch, tolerance)
