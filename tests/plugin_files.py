"""The plugin files the custom-function tests register (tests/oracle/test_custom_functions.py,
tests/cli/test_ci_output.py): docs/verify.md's own code blocks (swish, swish with its derivative
wrong), and a cost and a kinked activation and a sigmoid under another name written the same way.

Every test registers all of them, in one order: the padded reference is compiled for the registry
as a whole (each function is a branch of it), so one registry is one compilation, shared between
the tests and, through jax's persistent cache, between processes.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "verify.md"

# a cost and an activation with a kink, written the same way (tests only)
EXTRA = '''
from bp_oracle.custom import register_activation, register_cost


def pseudo_huber(a, y, xp):
    return xp.sqrt(1 + (a - y) ** 2) - 1


def pseudo_huber_prime(a, y, xp):
    return (a - y) / xp.sqrt(1 + (a - y) ** 2)


def hard_tanh(z, xp):
    return xp.clip(z, -1.0, 1.0)


def hard_tanh_prime(z, xp):
    return xp.where(xp.abs(z) < 1, 1.0, 0.0) * xp.ones_like(z)  # 0 at ±1: the outer slope


def hard_tanh_prime_bad_at_kink(z, xp):
    return xp.where(xp.abs(z) < 1, 1.0, 0.0) + xp.where(xp.abs(z) == 1, 0.7, 0.0)  # 0.7 at ±1: no side


register_cost("pseudo_huber", pseudo_huber, pseudo_huber_prime)
register_activation("hard_tanh", hard_tanh, hard_tanh_prime, kinks=(-1.0, 1.0))
register_activation("hard_tanh_bad_kink", hard_tanh, hard_tanh_prime_bad_at_kink, kinks=(-1.0, 1.0))
'''


LOGISTIC = '''
from bp_oracle.custom import register_activation


def logistic(z, xp):  # sigmoid under another name: cross-entropy on it takes the general BP1
    return 1 / (1 + xp.exp(-z))


def logistic_prime(z, xp):
    s = 1 / (1 + xp.exp(-z))
    return s * (1 - s)


register_activation("logistic", logistic, logistic_prime, output_range=(0.0, 1.0))
'''


def doc_block(name: str) -> str:
    text = DOCS.read_text()
    match = re.search(rf"<!-- file: {re.escape(name)} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"docs/verify.md has no block for {name}"
    return match.group(1)


def write_plugins(folder: Path) -> dict[str, str]:
    """The plugin files, written into `folder`: file name → path."""
    paths = {}
    for name, code in (("swish.py", doc_block("swish.py")), ("swish_wrong.py", doc_block("swish_wrong.py")),
                       ("extra.py", EXTRA), ("logistic.py", LOGISTIC)):
        paths[name] = str(folder / name)
        Path(paths[name]).write_text(code)
    return paths


@contextmanager
def registered(paths: dict[str, str]):
    """Every plugin registered, in the one order, and all forgotten afterwards."""
    from bp_oracle import custom

    with custom.temporary_registrations():
        for path in paths.values():
            custom.load_plugins([path])
        yield paths
