"""Turn on float64 in jax before any array is built, and refuse to compute without it.

jax computes in float32 unless `jax_enable_x64` is set, and silently: a reference in float32
would hide every error below 1e-7. This module is imported first by the package.
"""

import jax

jax.config.update("jax_enable_x64", True)


def require_x64() -> None:
    """Raise if someone turned float64 off after import: the reference never runs in float32."""
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError("autodiff_ref needs jax_enable_x64 = True (float64); it was turned off. "
                           "The reference refuses to run in float32.")
