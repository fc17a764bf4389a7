"""Shared test set-up: hypothesis profiles and jax's persistent compilation cache.

jax compiles the reference once per network shape (about 0.2–0.5 s each here); the persistent
cache keeps those compilations between runs, so a second run of the suite skips them.
"""

import os

import jax
from hypothesis import HealthCheck, settings

import autodiff_ref  # noqa: F401  (turns on float64 first)
from autodiff_ref.cache import enable_persistent_cache

# outside the checkout, so a fresh clone on the same machine (CI) still finds earlier compilations
enable_persistent_cache()
jax.config.update("jax_numpy_rank_promotion", "raise")  # no silent broadcasting of mismatched ranks

# Each example compiles a new network shape, so no per-example deadline; in CI the examples are
# derandomised so the gate is reproducible run to run.
settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
