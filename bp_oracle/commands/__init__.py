"""The subcommands of `bp-oracle`, one module each, each with an `add_parser(sub, help)` and a
`run(args)`. Only the module of the subcommand being run is imported: `bp-oracle check` never
loads manual_bp (train, diagnose and verify do), and nothing loads jax before it is needed."""

from importlib import import_module

# name → the one line `bp-oracle --help` shows for it
COMMANDS = {
    "verify": "sweep random networks: manual_bp against jax.grad",
    "check": "check an implementation (any language) over the bp-oracle/1 protocol",
    "vectors": "write the suite as known-answer vector files (JSON)",
    "grade": "grade a JSON Lines file of responses against vector files",
    "train": "train a network by mini-batch SGD over manual_bp's backprop",
    "diagnose": "per-layer saturation and gradient norms while training, with plots",
}


def load(name: str):
    """The module of subcommand `name`."""
    return import_module(f".{name}_command", __name__)
