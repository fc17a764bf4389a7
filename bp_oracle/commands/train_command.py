"""`bp-oracle train [--data digits|FILE|DIR] [--json FILE] …`: mini-batch SGD with manual_bp.

With no arguments it trains `[64, 30, 10]`, sigmoid, cross-entropy on scikit-learn's bundled
digits (nothing to download), printing the cost and accuracy after every epoch and the test
accuracy at the end. `--data` also takes Nielsen's `mnist.pkl.gz` or a folder of MNIST IDX files.
The argument helpers here are shared with `bp-oracle diagnose`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import manual_bp as mb
from manual_bp.data import Split, load_digits_split, load_mnist_idx, load_mnist_pkl
from manual_bp.training import EpochRecord, evaluate, train

from ..errors import user_input
from ._args import (command_help, exit_codes, non_negative_float, non_negative_int, positive_float, positive_int,
                    usage_error)

# The defaults: chosen on the digits (see docs/training.md for what they reach over 20 seeds).
DEFAULTS = dict(data="digits", activations="sigmoid", cost="cross_entropy", epochs=60,
                mini_batch_size=10, eta=1.0, lmbda=0.0, seed=0, init="1/n_in")


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("train", help=help, **command_help(
        "Mini-batch SGD with manual_bp's backprop: the cost and accuracy after every epoch, the test accuracy at the "
        "end (docs/training.md).",
        exit_codes(ok="trained (and --json written)", disagree="not used: train judges nothing",
                   usage="bad usage or bad input (an unknown activation or cost, data that cannot be read)")))
    add_training_arguments(p, default_hidden="30")
    p.add_argument("--json", metavar="FILE", help="write a summary (settings, per-epoch history, test accuracy)")
    p.set_defaults(run=run)


def add_training_arguments(p, default_hidden: str, **overrides) -> None:
    """The data, network and SGD arguments of `train`, reused by `diagnose` (which overrides
    some defaults, e.g. `eta=0.1`)."""
    unknown = overrides.keys() - DEFAULTS.keys()
    if unknown:
        raise TypeError(f"unknown default(s) {', '.join(sorted(unknown))}")
    d = {**DEFAULTS, **overrides}
    p.add_argument("--data", default=d["data"], metavar="SOURCE",
                   help="'digits' (scikit-learn's, the default), Nielsen's mnist.pkl.gz, or a folder of MNIST IDX files")
    p.add_argument("--sizes", type=_sizes, metavar="N0,N1,…,NL",
                   help=f"layer widths (default: the data's input width,{default_hidden},the number of classes)")
    p.add_argument("--activations", default=d["activations"], type=_names, metavar="NAME[,NAME…]",
                   help=f"one for every layer, or one per layer 1..L (default {d['activations']})")
    p.add_argument("--cost", default=d["cost"], help=f"default {d['cost']}")
    p.add_argument("--epochs", type=positive_int, default=d["epochs"], help=f"default {d['epochs']}")
    p.add_argument("--mini-batch-size", type=positive_int, default=d["mini_batch_size"],
                   help=f"default {d['mini_batch_size']}")
    p.add_argument("--eta", type=positive_float, default=d["eta"], help=f"learning rate η (default {d['eta']:g})")
    p.add_argument("--lmbda", type=non_negative_float, default=d["lmbda"],
                   help="Nielsen's L2 λ: the cost gets (λ/2n) Σ w², n the training set's size (default 0)")
    p.add_argument("--seed", type=non_negative_int, default=d["seed"],
                   help="fixes the digits split, the initial params and the mini-batch order (default 0)")
    p.add_argument("--init", choices=("1/n_in", "unit"), default=d["init"],
                   help="initial weights N(0, 1/n_in) as network2.py (default) or N(0, 1) as network.py")
    p.set_defaults(default_hidden=[int(n) for n in default_hidden.split(",")])


def run(args) -> int:
    if args.json:
        check_output_file(args.json, "--json")  # before the work: a run must not end in "cannot write"
    split, source = load_data(args.data, args.seed)
    net = build_network(args, split)
    print(f"{source}: {split.training.n} training, {split.validation.n} validation, {split.test.n} test examples")
    print(f"network {list(net.sizes)} {','.join(net.activations)} {net.cost}, l2 = λ/n = {net.l2:.3g}; "
          f"{args.epochs} epochs, mini-batch {args.mini_batch_size}, η = {args.eta:g}, seed {args.seed}")
    start = time.perf_counter()
    with user_input():  # a diverging run: the eta given is too large
        result = train(net, net.init_params(args.seed, scale=args.init), split.training, epochs=args.epochs,
                       mini_batch_size=args.mini_batch_size, eta=args.eta, seed=args.seed,
                       validation=split.validation,
                       on_epoch=lambda record, params: print(format_epoch(record, args.epochs), flush=True))
    seconds = time.perf_counter() - start
    test = evaluate(net, result.params, split.test)
    print(f"test accuracy {test.accuracy:.2%} ({round(test.accuracy * test.n)}/{test.n}), "
          f"test cost {test.cost:.4f}; trained in {seconds:.1f} s")
    if args.json:
        summary = {"test_accuracy": test.accuracy, "test_cost": test.cost, "test_examples": test.n,
                   "training_seconds": seconds, "settings": settings(args, net, split, source),
                   "history": [record.as_dict() for record in result.history]}
        write_json(args.json, summary)
    return 0


# --- shared with `diagnose` ------------------------------------------------------------------


def load_data(source: str, seed: int) -> tuple[Split, str]:
    """The split named by --data, and a line saying what it is."""
    from ..errors import UsageError

    try:
        with user_input():  # a malformed data file
            if source == "digits":
                return load_digits_split(seed), f"digits (scikit-learn, 8×8, split by seed {seed})"
            path = Path(source)
            if path.is_dir():
                return load_mnist_idx(path), f"MNIST IDX files in {path}"
            if path.is_file():
                return load_mnist_pkl(path), f"MNIST from {path} (arrays only, no pickle code run)"
    except ModuleNotFoundError as e:
        raise UsageError(str(e)) from None
    raise UsageError(f"--data {source!r}: not 'digits', and no such file or directory")


def build_network(args, split: Split) -> mb.Network:
    """The network of the arguments, checked against the data's widths."""
    from ..errors import UsageError

    n_in = split.training.x.shape[1]
    n_classes = int(max(d.labels.max() for d in split)) + 1
    sizes = args.sizes or [n_in, *args.default_hidden, n_classes]
    if sizes[0] != n_in:
        raise UsageError(f"--sizes starts with {sizes[0]}, but the data has {n_in} inputs per example")
    if sizes[-1] != n_classes:
        raise UsageError(f"--sizes ends with {sizes[-1]}, but the data has {n_classes} classes (one output neuron each)")
    activations = args.activations[0] if len(args.activations) == 1 else args.activations
    with user_input():
        return mb.Network(sizes, activations, args.cost, l2=args.lmbda / split.training.n)


def format_epoch(record: EpochRecord, epochs: int) -> str:
    parts = [f"epoch {record.epoch:>{len(str(epochs))}}/{epochs}", f"{record.seconds:5.2f} s"]
    for name, e in (("training", record.training), ("validation", record.validation)):
        if e is not None:
            parts.append(f"{name}: cost {e.cost:.4f} accuracy {e.accuracy:6.2%}")
    return "  ".join(parts)


def settings(args, net: mb.Network, split: Split, source: str) -> dict:
    return {"data": args.data, "data_description": source, "network": net.to_dict(),
            "epochs": args.epochs, "mini_batch_size": args.mini_batch_size, "eta": args.eta,
            "lmbda": args.lmbda, "seed": args.seed, "init": args.init,
            "examples": {"training": split.training.n, "validation": split.validation.n, "test": split.test.n}}


def check_output_file(path, flag: str) -> None:
    """Before any work: `path` can be written (its folder exists and is writable, and it is not
    itself a folder or a read-only file), else one line and exit 2."""
    from ..errors import UsageError

    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise UsageError(f"cannot write {path} ({flag}): it is a folder")
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"cannot write {path} ({flag}): folder {folder} {why}")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise UsageError(f"cannot write {path} ({flag}): permission denied")


def write_json(path, summary: dict) -> None:
    from ..errors import UsageError

    try:
        Path(path).write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"wrote {path}")


# --- argument types: bad values are one line and exit 2 --------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise usage_error(f"--sizes takes comma-separated integers like 64,30,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise usage_error(f"--sizes needs at least two widths, each ≥ 1, got {text!r}")
    return sizes


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise usage_error(f"expected activation names separated by commas, got {text!r}")
    return names
