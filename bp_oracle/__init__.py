"""bp_oracle: the conformance oracle for anyone's backprop, judged by the jax.grad reference.

    from bp_oracle import check_implementation, assert_backprop_correct

Suites (`suites`), the protocol bp-oracle/1 (`protocol`, `runner`), the judge (`judge`,
`tolerance`, `agreement`), known-answer vectors (`vectors`), reports (`report`), the pytest plugin,
your own activations and costs (`custom`), which side of a disagreement is wrong (`triangulation`),
a training run judged step by step against jax.grad's (`training_trajectory`), the `bp-oracle`
command line (`cli`, `commands/`), and the sweep that proves manual_bp (`sweep/`, the only part
that loads manual_bp).

Importing this package loads nothing heavy: jax and the reference are imported on first use of
a name below, so the pytest plugin costs an unrelated test run nothing.
"""

from importlib import import_module

__version__ = "0.2.0"

_LAZY = {
    "check_implementation": "check", "assert_backprop_correct": "check", "run_check": "check",
    "failure_lines": "check", "Report": "check",
    "PASS": "judge", "FAIL": "judge", "ERROR": "judge", "SKIP": "judge",
    "trajectory_divergence": "training_trajectory",
}

__all__ = ["ERROR", "FAIL", "PASS", "Report", "SKIP", "assert_backprop_correct", "check_implementation",
           "failure_lines", "run_check", "trajectory_divergence", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
