"""jax's persistent compilation cache, so a second run skips the compilations of the first.

The reference compiles once per network shape (0.2–0.5 s each on 2 cores); the cache lives
outside any checkout (`$XDG_CACHE_HOME/bp-oracle/jax`, or `BP_ORACLE_JAX_CACHE`), so fresh clones
on the same machine share it. Set `BP_ORACLE_JAX_CACHE=off` to disable it.
"""

import os
from pathlib import Path

import jax


def enable_persistent_cache() -> None:
    where = os.environ.get("BP_ORACLE_JAX_CACHE")
    if where == "off":
        return
    if not where:
        where = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bp-oracle" / "jax")
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
