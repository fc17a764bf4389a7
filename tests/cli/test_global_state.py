"""We are a library inside other people's processes: importing us, using us, or having our pytest
plugin installed leaves their global state as it was (jax's configuration, NumPy's error state,
warning filters, logging, the garbage collector), and loads nothing heavy until used."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # fresh interpreters (one of them a pytest session), ~3 s each

ROOT = Path(__file__).resolve().parents[2]

UNRELATED_TEST = textwrap.dedent("""
    import sys

    def test_jax_is_not_loaded_and_keeps_its_float32_default():
        assert "jax" not in sys.modules  # the bp_oracle plugin loaded nothing heavy
        import jax.numpy as jnp
        assert jnp.array(1.0).dtype == jnp.float32
""")


def test_an_unrelated_test_suite_with_the_plugin_installed_sees_jax_as_it_was(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TEST)
    # --bp-oracle-suite is the plugin's own option: pytest would refuse it were the plugin not loaded
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--bp-oracle-suite", "quick",
                          "test_unrelated.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout


USING_US = textwrap.dedent("""
    import gc, logging, warnings
    import numpy as np
    import jax, jax.numpy as jnp
    from autodiff_ref.cache import enable_persistent_cache
    enable_persistent_cache()  # as a user may configure jax: compilations from earlier runs

    def state():
        return (jax.config.read("jax_enable_x64"), jnp.array(1.0).dtype.name, np.geterr(),
                len(warnings.filters), list(logging.getLogger().handlers), logging.getLogger().level,
                gc.get_threshold(), gc.get_freeze_count(), gc.isenabled())

    before = state()
    import autodiff_ref, bp_oracle, bp_spec, manual_bp
    from bp_oracle import check_implementation
    from bp_spec import Network, make_case
    case = make_case(Network([3, 4, 2], ["tanh", "sigmoid"], "cross_entropy", l2=0.1), 3, 0)
    trace = autodiff_ref.reference_trace(*case)
    assert trace.grads[0].W.dtype == np.float64
    report = check_implementation(lambda *c: manual_bp.backprop(*c), "quick", include=["depth:deep"])
    assert report.ok and len(report.results) > 5
    after = state()
    assert after == before, (before, after)
    print("unchanged", before)
""")


def test_using_the_reference_and_the_oracle_leaves_global_state_as_it_was():
    out = subprocess.run([sys.executable, "-c", USING_US], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "unchanged (False, 'float32'" in out.stdout
