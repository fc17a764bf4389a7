"""How far manual_bp's SGD and the jax.grad twin drift apart over a long run.

Trains the same network from the same params on the same mini-batches twice, once with
manual_bp's backprop and once with jax.grad (`autodiff_ref.reference_sgd`), and prints every few
epochs the worst normwise relative divergence of the params so far,
max over tensors of max|θ_manual − θ_jax| / max|θ_jax|, with the test accuracy each side reaches.

    python scripts/trajectory_divergence.py                   # digits, bp-oracle train's defaults
    python scripts/trajectory_divergence.py --hidden 30 30 30 --activations tanh,tanh,tanh,sigmoid \
        --cost quadratic --eta 0.5 --epochs 30 --lmbda 1.0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import manual_bp as mb
from bp_oracle.tolerance import TOLERANCES
from autodiff_ref.reference_sgd import reference_sgd_steps
from bp_oracle.training_trajectory import trajectory_divergence
from manual_bp.data import load_digits_split
from manual_bp.training import evaluate, one_hot, sgd_steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--mini-batch-size", type=int, default=10)
    p.add_argument("--eta", type=float, default=1.0)
    p.add_argument("--hidden", type=int, nargs="*", default=[30])
    p.add_argument("--activations", default="sigmoid", help="one name, or one per layer separated by commas")
    p.add_argument("--cost", default="cross_entropy")
    p.add_argument("--lmbda", type=float, default=0.0, help="Nielsen's λ; l2 = λ/n")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    split = load_digits_split(args.seed)
    n = split.training.n
    activations = args.activations.split(",") if "," in args.activations else args.activations
    try:
        net = mb.Network([64, *args.hidden, 10], activations, args.cost, l2=args.lmbda / n)
    except ValueError as e:
        p.error(str(e))
    params = net.init_params(args.seed)
    y = one_hot(split.training.labels, 10)
    plan = dict(epochs=args.epochs, mini_batch_size=args.mini_batch_size, eta=args.eta, seed=args.seed)
    manual, reference = sgd_steps(net, params, split.training.x, y, **plan), \
        reference_sgd_steps(net, params, split.training.x, y, **plan)
    tol = TOLERANCES["float64"]
    print(f"{net.to_dict()}  eta={args.eta} mini-batch={args.mini_batch_size} seed={args.seed} "
          f"on digits ({n} training examples)")
    print(f"float64 tolerance per tensor: max|Δ| ≤ {tol.rtol:g}·max|θ| + {tol.atol:g}")
    print(f"{'epoch':>5} {'steps':>6} {'worst rel. divergence so far':>30} {'at this epoch end':>18}")

    final = {}  # the last params of each side, kept as the steps stream past

    def keep_last(steps, side):
        for step in steps:
            final[side] = step.params
            yield step

    every = max(1, args.epochs // 12)
    start, worst, first_out, last = time.perf_counter(), 0.0, None, None
    for d in trajectory_divergence(keep_last(manual, "manual"), keep_last(reference, "jax")):
        if last is not None and d.epoch != last.epoch and last.epoch % every == 0:
            print(f"{last.epoch:>5} {last.step:>6} {worst:>30.2e} {last.relative:>18.2e}")
        worst = max(worst, d.relative)
        if not d.ok and first_out is None:
            first_out = d.step
        last = d
    print(f"{last.epoch:>5} {last.step:>6} {worst:>30.2e} {last.relative:>18.2e}")
    accuracy = {side: evaluate(net, p, split.test).accuracy for side, p in final.items()}
    print(f"{last.step} steps in {time.perf_counter() - start:.1f} s; worst divergence {worst:.2e}; "
          f"within tolerance at every step: {'yes' if first_out is None else f'no, first out at step {first_out}'}")
    print(f"test accuracy: manual_bp {accuracy['manual']:.2%}, jax.grad {accuracy['jax']:.2%}, "
          f"predictions differ on {int(np.sum(_predictions(net, final['manual'], split.test) != _predictions(net, final['jax'], split.test)))} "
          f"of {split.test.n} test images")


def _predictions(net, params, data):
    return np.argmax(mb.feedforward(net, params, data.x)[1][-1], axis=1)


if __name__ == "__main__":
    main()
