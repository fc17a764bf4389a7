"""`bp-oracle diagnose [--out DIR] [--json FILE] …`: where and why a network learns slowly.

Trains as `bp-oracle train` does (same arguments; by default a deeper `[64, 30, 30, 30, 10]`, so
the layers' speeds can differ) and, before training and after every epoch, measures per layer on
a fixed sample of training examples: the share of saturated neurons, the norms of δ^l, ∂C/∂b^l
and ∂C/∂W^l, and the share of near-zero inputs a_in. It prints the first and last measurements,
writes `learning_by_layer.png` (the four measures over epochs) and `saturated_neuron.png`
(chapter 3's single saturated neuron, quadratic cost against cross-entropy) into --out.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np

from manual_bp.diagnostics import (NEAR_ZERO_THRESHOLD, SATURATION_THRESHOLD, LayerDiagnostics,
                                   layer_diagnostics, saturated_neuron_demo)
from manual_bp.training import evaluate, one_hot, train

from .train_command import (non_negative_float, positive_int, add_training_arguments, build_network,
                    check_output_file, format_epoch, load_data, settings, write_json)

# Nielsen's chapter-5 setting (η = 0.1, mini-batch 10, cross-entropy, measured on 1,000 training
# images), on a net deep enough that the layers' speeds of learning part: on the digits layer 1
# learns about 50× more slowly than layer 4 (median over 30 epochs).
DIAGNOSE_DEFAULTS = dict(epochs=30, eta=0.1)


def add_parser(sub, help: str) -> None:
    from ._args import command_help, exit_codes

    p = sub.add_parser("diagnose", help=help, **command_help(
        "Train as `bp-oracle train` does and measure per layer, every epoch: saturation, ‖δ‖, ‖∂C/∂b‖, ‖∂C/∂W‖ "
        "and inputs a ≈ 0; PNGs unless --no-plots (docs/training.md).",
        exit_codes(ok="trained and measured (and the plots written)", disagree="not used: diagnose judges nothing",
                   usage="bad usage or bad input (an unknown activation or cost, data that cannot be read)")))
    add_training_arguments(p, default_hidden="30,30,30", **DIAGNOSE_DEFAULTS)
    p.add_argument("--sample", type=positive_int, default=1000,
                   help="training examples the measurements are taken on (default 1000)")
    p.add_argument("--saturation-threshold", type=non_negative_float, default=SATURATION_THRESHOLD,
                   help=f"σ'(z) below this counts as saturated (default {SATURATION_THRESHOLD:g}; sigmoid's peak is 0.25)")
    p.add_argument("--near-zero-threshold", type=non_negative_float, default=NEAR_ZERO_THRESHOLD,
                   help=f"|a_in| below this counts as a near-zero input (default {NEAR_ZERO_THRESHOLD:g})")
    p.add_argument("--out", default="bp-oracle-diagnostics", metavar="DIR",
                   help="folder for the PNGs (default ./bp-oracle-diagnostics, created if missing)")
    p.add_argument("--no-plots", action="store_true", help="measure and print only, no PNGs (no matplotlib needed)")
    p.add_argument("--json", metavar="FILE", help="write the settings and every measurement")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..errors import UsageError, user_input

    # every output checked before the work: a run must not end in "cannot write"
    if args.json:
        check_output_file(args.json, "--json")
    out = None if args.no_plots else _output_dir(args.out)
    split, source = load_data(args.data, args.seed)
    net = build_network(args, split)
    sample = split.training.x[:args.sample], one_hot(split.training.labels[:args.sample], net.sizes[-1])
    thresholds = dict(saturation_threshold=args.saturation_threshold, near_zero_threshold=args.near_zero_threshold)
    print(f"{source}; network {list(net.sizes)} {','.join(net.activations)} {net.cost}; "
          f"measured on {sample[0].shape[0]} training examples")

    params = net.init_params(args.seed, scale=args.init)
    history = [layer_diagnostics(net, params, *sample, **thresholds)]  # epoch 0: before any step

    def on_epoch(record, params):
        history.append(layer_diagnostics(net, params, *sample, **thresholds))
        speeds = " ".join(f"{d.bias_gradient_norm:.1e}" for d in history[-1])
        print(f"{format_epoch(record, args.epochs)}  ‖∂C/∂b^l‖ by layer: {speeds}", flush=True)

    start = time.perf_counter()
    with user_input():  # a diverging run: the eta given is too large
        result = train(net, params, split.training, epochs=args.epochs, mini_batch_size=args.mini_batch_size,
                       eta=args.eta, seed=args.seed, validation=split.validation, monitor_training=False,
                       on_epoch=on_epoch)
    test = evaluate(net, result.params, split.test)
    print(f"test accuracy {test.accuracy:.2%}; {args.epochs} epochs in {time.perf_counter() - start:.1f} s")
    for epoch in sorted({0, len(history) - 1}):
        print(f"\nafter epoch {epoch}:" if epoch else "\nbefore training:")
        print(format_table(history[epoch], args.saturation_threshold, args.near_zero_threshold))

    print("\n" + format_speeds(history))

    demo = [saturated_neuron_demo(cost) for cost in ("quadratic", "cross_entropy")]
    print("\nchapter 3, one saturated sigmoid neuron (x = 1, y = 0, w = b = 2, η = 0.15), output a by epoch:")
    for r in demo:
        print(f"  {r.cost:<13} " + "  ".join(f"{e}: {r.output[e]:.3f}" for e in (0, 50, 100, 150, 200, 300)))

    if out is not None:
        try:
            from manual_bp.plots import plot_learning_by_layer, plot_saturated_neuron
            spec = (f"{list(net.sizes)} {','.join(net.activations)}, {net.cost}, η = {args.eta:g}, "
                    f"mini-batch {args.mini_batch_size}; measured on {sample[0].shape[0]} training examples")
            paths = [plot_learning_by_layer(history, out / "learning_by_layer.png",
                                            title=f"learning, layer by layer\n{spec}", **thresholds),
                     plot_saturated_neuron(demo, out / "saturated_neuron.png")]
        except ModuleNotFoundError as e:
            raise UsageError(f"{e} (or pass --no-plots)") from None
        for path in paths:
            print(f"wrote {path}")
    if args.json:
        write_json(args.json, {
            "test_accuracy": test.accuracy,
            "settings": {**settings(args, net, split, source), "sample": sample[0].shape[0], **thresholds},
            "relative_speed_of_learning": relative_speeds(history),
            "diagnostics_by_epoch": [[d.as_dict() for d in per_epoch] for per_epoch in history],
            "saturated_neuron": {r.cost: {"output": r.output.tolist(), "cost": r.cost_value.tolist()} for r in demo},
        })
    return 0


def relative_speeds(history: list[list[LayerDiagnostics]]) -> list[float]:
    """Per layer, the median over epochs 1.. of ‖∂C/∂b^l‖ / ‖∂C/∂b^L‖: how fast each layer
    learns relative to the output layer (Nielsen ch. 5's measure of the speed of learning)."""
    after = history[1:] or history
    return [float(np.median([e[l].bias_gradient_norm / e[-1].bias_gradient_norm
                             if e[-1].bias_gradient_norm > 0 else np.nan for e in after]))
            for l in range(len(history[0]))]


def format_speeds(history: list[list[LayerDiagnostics]]) -> str:
    speeds = relative_speeds(history)
    return ("speed of learning relative to the output layer (median over epochs of ‖∂C/∂b^l‖ / ‖∂C/∂b^L‖): "
            + ", ".join(f"layer {l} {v:.3g}" for l, v in enumerate(speeds, start=1)))


def format_table(report: list[LayerDiagnostics], saturation: float, near_zero: float) -> str:
    header = (f"{'layer':>5}  {'saturated':>9}  {'mean ‖δ^x‖':>10}  {'‖∂C/∂b‖':>9}  {'‖∂C/∂W‖':>9}  "
              f"{'a_in ≈ 0':>9}")
    rows = [header]
    for d in report:
        saturated = "n/a" if d.saturated is None else f"{d.saturated:.1%}"
        rows.append(f"{d.layer:>5}  {saturated:>9}  {d.delta_norm:>10.2e}  {d.bias_gradient_norm:>9.2e}  "
                    f"{d.weight_gradient_norm:>9.2e}  {d.near_zero_inputs:>9.1%}")
    rows.append(f"(saturated: σ'(z) < {saturation:g}; a_in ≈ 0: |a| < {near_zero:g})")
    return "\n".join(rows)


def _output_dir(out: str) -> Path:
    from ..errors import UsageError

    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create --out {out}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write into --out {out}: permission denied")
    if importlib.util.find_spec("matplotlib") is None:  # the PNGs are drawn after training
        from manual_bp.plots import PLOTS_EXTRA_HINT
        raise UsageError(f"plots need matplotlib: {PLOTS_EXTRA_HINT} (or pass --no-plots)")
    return path
