"""Shared test set-up: hypothesis profiles and jax's persistent compilation cache.

jax compiles the reference once per network shape (about 0.2–0.5 s each here); the persistent
cache keeps those compilations between runs, so a second run of the suite skips them.
"""

import os
from pathlib import Path

import jax
from hypothesis import HealthCheck, settings

import autodiff_ref  # noqa: F401  (turns on float64 first)

# outside the checkout, so a fresh clone on the same machine (CI) still finds earlier compilations
_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bp-oracle" / "jax"
jax.config.update("jax_compilation_cache_dir", os.environ.get("BP_ORACLE_JAX_CACHE", str(_cache)))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_numpy_rank_promotion", "raise")  # no silent broadcasting of mismatched ranks

# Each example compiles a new network shape, so no per-example deadline; in CI the examples are
# derandomised so the gate is reproducible run to run.
settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
