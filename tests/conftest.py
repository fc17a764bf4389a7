"""Shared test set-up: hypothesis profiles, jax's persistent compilation cache, and the one
fixture every group uses (`run_cli`).

jax compiles the reference once per network shape (about 0.2–0.5 s each here); the persistent
cache keeps those compilations between runs, so a second run of the suite skips them. Tests are
grouped by role: spec/, manual_bp/ (the proof of the hand-written side), reference/, oracle/
(judge, protocol, vectors, the verify sweep), cli/. Lanes (the whole suite, `-m "not slow"`, the
browser tests): docs/testing.md.

jax is set up in `pytest_sessionstart`, not here at import: pytest-xdist's controller process
imports this file too, runs no test, and would spend ~2 s importing jax before it starts the
workers.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from bp_oracle import answer_cache

pytest_plugins = ["pytester"]  # a user's own pytest session, run in this process (tests/cli/test_ci_output.py)


def pytest_sessionstart(session):
    if session.config.pluginmanager.has_plugin("dsession"):
        return  # pytest-xdist's controller: the workers run the tests, and set up their own jax
    import jax

    from autodiff_ref.cache import enable_persistent_cache

    # outside the checkout, so a fresh clone on the same machine (CI) still finds earlier compilations
    enable_persistent_cache()
    # and the reference's answers to the suites, as the command line keeps them (keyed by the source
    # of the reference and every input byte: a change to either is computed afresh)
    answer_cache.enable()
    os.environ.setdefault(answer_cache.ENV, str(answer_cache.default_folder()))  # for the programs tests start
    jax.config.update("jax_numpy_rank_promotion", "raise")  # no silent broadcasting of mismatched ranks
    # x64 stays off for the process, as in a user's: the reference must turn it on for itself (tested)


# Each example compiles a new network shape, so no per-example deadline; in CI the examples are
# derandomised so the gate is reproducible run to run.
settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


@pytest.fixture
def x64():
    """jax in float64 for a test that computes with jax itself, not through the reference."""
    import jax

    with jax.enable_x64(True):
        yield


@pytest.fixture
def run_cli(capsys):
    """`bp-oracle ARGS…` in this process, through the real entry point: (exit code, stdout, stderr)."""
    from bp_oracle import cli

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run
