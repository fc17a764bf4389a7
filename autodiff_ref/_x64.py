"""float64 for the reference's own computations, and nowhere else.

jax computes in float32 unless x64 is on, and silently: a reference in float32 would hide every
error below 1e-7. Turning it on for the whole process (`jax_enable_x64`) would change every other
jax user's arrays in that process (their `jnp.array(1.0)` would become float64), and we are a
library inside other people's processes and test suites. So each public function of the reference
turns x64 on around its own work only (`in_float64`), leaving jax's configuration as it found it;
what it computed is checked to be float64 before it is returned (`reference.py`, `_to_numpy`).
"""

from __future__ import annotations

import functools

import jax


def _float64_on():
    """The context in which the reference computes (a test replaces it to prove the refusal)."""
    return jax.enable_x64(True)


def in_float64(fn):
    """`fn`, run with jax's x64 on for its duration (its jitted functions trace in float64)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _float64_on():
            return fn(*args, **kwargs)
    return wrapper


def require_x64() -> None:
    """Raise unless x64 is on here: the reference never runs in float32."""
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError("autodiff_ref computes only with jax's x64 on (float64), and it is off here. "
                           "The reference refuses to run in float32.")
