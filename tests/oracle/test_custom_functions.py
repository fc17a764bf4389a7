"""Your own activation or cost: the derivative is checked against jax.grad of the function on its
own (and at its kinks), then whole networks that use it are swept; a wrong derivative is caught
both ways. The plugins are docs/verify.md's own code blocks, so the documentation runs."""

import numpy as np
import pytest

import manual_bp as mb
from bp_oracle import cli, custom
from bp_oracle.sweep import engine as V
from autodiff_ref.reference import JAX_ACTIVATIONS
from plugin_files import doc_block, registered, write_plugins


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    """The plugin files, all loaded in one registry (one padded compilation), forgotten after."""
    with registered(write_plugins(tmp_path_factory.mktemp("plugins"))) as paths:
        yield paths
    assert "swish" not in mb.ACTIVATIONS and "swish" not in JAX_ACTIVATIONS  # forgotten


def test_registration_reaches_both_sides_and_only_jax_sees_the_function(plugins):
    act = mb.get_activation("swish")
    z = np.linspace(-5, 5, 11)
    assert np.allclose(act.fn(z), z / (1 + np.exp(-z)))
    assert np.allclose(np.asarray(JAX_ACTIVATIONS["swish"](z)), act.fn(z))
    assert custom.load_plugins([plugins["swish.py"]]) == ("swish",)  # loading again registers nothing new


def test_the_right_derivative_matches_jax_grad_and_the_wrong_one_does_not(plugins):
    good, bad = custom.check_activation("swish"), custom.check_activation("swish_wrong")
    assert good.ok and good.points > 100
    assert not bad.ok and "DOES NOT match" in bad.describe()
    assert custom.check_cost("pseudo_huber").ok


def test_at_a_kink_the_derivative_must_take_one_of_the_one_sided_slopes(plugins):
    ok = custom.check_activation("hard_tanh")
    assert ok.ok and len(ok.kinks) == 2 and "the right slope" in ok.kinks[1]
    bad = custom.check_activation("hard_tanh_bad_kink")
    assert not bad.ok and "neither one-sided slope" in bad.kinks[0]


@pytest.mark.slow
def test_a_sweep_of_networks_using_swish_passes(plugins):
    summary = V.run_sweep(0, range(48), V.SweepOptions(plugins=(plugins["swish.py"],)))
    assert all("swish" in r.net.activations for r in summary.results)
    assert not any("swish_wrong" in r.net.activations for r in summary.results)  # only what it registered
    assert not summary.failures, [r.side for r in summary.failures]


@pytest.mark.slow
def test_the_wrong_derivative_fails_the_sweep_and_the_witness_blames_manual_bp(plugins):
    summary = V.run_sweep(0, range(48), V.SweepOptions(plugins=(plugins["swish_wrong.py"],)))
    wrong = [r for r in summary.results if "swish_wrong" in r.net.activations[:-1]]  # BP2 uses σ'
    assert wrong and all(not r.ok for r in wrong)
    for r in summary.failures:
        assert "manual_bp is wrong" in r.side or "kink" in r.side, r.side
        assert {c.equation for c in r.judged if not c.ok} & {"BP1", "BP2"}


@pytest.mark.slow
def test_a_custom_cost_and_a_kinked_activation_sweep_clean(plugins):
    summary = V.run_sweep(0, range(32), V.SweepOptions(plugins=(plugins["extra.py"],)))
    uses = lambda r: r.net.cost == "pseudo_huber" and "hard_tanh" in r.net.activations  # noqa: E731
    assert all(uses(r) for r in summary.results)
    bad = [r for r in summary.failures if "hard_tanh_bad_kink" not in r.net.activations]
    assert not bad, [r.side for r in bad]


@pytest.mark.slow
def test_cross_entropy_on_a_registered_output_is_judged_with_its_conditioning(plugins):
    # no derived BP1 for it: δ^L = J_σᵀ ∇_a C divides by a(1 − a), κ = max a/(1 − a) widens the
    # tolerance where an output nears 1, and an output within u of 1 is beyond the dtype
    from bp_oracle.tolerance import beyond_resolution, cost_conditioning
    a = np.array([[0.5, 0.999]])
    assert cost_conditioning("cross_entropy", "logistic", a) == pytest.approx(999)
    assert cost_conditioning("cross_entropy", "sigmoid", a) == 0  # BP1 is a − y there
    assert beyond_resolution("cross_entropy", "logistic", np.array([[1 - 1e-9]]), 2.0 ** -24, 1e-38)
    assert not beyond_resolution("cross_entropy", "logistic", np.array([[1 - 1e-9]]), 2.0 ** -53, 1e-308)
    options = V.SweepOptions(dtype="float32", plugins=(plugins["logistic.py"],))
    summary = V.run_sweep(0, range(48), options)
    general = [r for r in summary.results if r.net.cost == "cross_entropy" and r.net.activations[-1] == "logistic"]
    assert general and all(r.kappa > 0 for r in general)
    assert not summary.failures, [r.side for r in summary.failures]


@pytest.mark.slow
def test_cli_plugin_prints_the_derivative_check_and_fails_a_wrong_one(plugins, capsys):
    assert cli.main(["verify", "--cases", "8", "--no-progress", "--plugin", plugins["swish.py"]]) == 0
    out = capsys.readouterr().out
    assert "ok   swish: the hand-derived derivative matches jax.grad" in out
    assert cli.main(["verify", "--cases", "8", "--no-progress", "--plugin", plugins["swish_wrong.py"]]) == 1
    out = capsys.readouterr().out
    assert "FAIL swish_wrong: the hand-derived derivative DOES NOT match jax.grad" in out
    assert f"--replay 0:0 --plugin {plugins['swish_wrong.py']}" in out.replace("\n", "")


def test_a_plugin_that_registers_nothing_or_breaks_is_one_line_and_exit_2(tmp_path, capsys):
    empty, broken = tmp_path / "empty.py", tmp_path / "broken.py"
    empty.write_text("x = 1\n")
    broken.write_text("def f(:\n")
    for path, message in ((empty, "registered nothing"), (broken, "failed to load: SyntaxError")):
        assert cli.main(["verify", "--cases", "2", "--plugin", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    with custom.temporary_registrations(), pytest.raises(ValueError, match="already registered"):
        custom.register_activation("tanh", lambda z, xp: z, lambda z, xp: z)


# --- the rules, checked when a plugin registers (issue #12) ---------------------------------------

_ACT = '''
import numpy as np
from bp_oracle.custom import register_activation


def fn(z, xp):
    return {fn}


def prime(z, xp):
    return {prime}


register_activation("{name}", fn, prime)
'''

_COST = '''
import numpy as np
from bp_oracle.custom import register_cost


def term(a, y, xp):
    return {term}


def term_prime(a, y, xp):
    return {prime}


register_cost("{name}", term, term_prime)
'''

SWISH, SWISH_PRIME = "z / (1 + xp.exp(-z))", "(1 / (1 + xp.exp(-z))) * (1 + z * (1 - 1 / (1 + xp.exp(-z))))"

BROKEN_PLUGINS = {
    # NumPy-only calls on the jax side: jax's raw TracerArrayConversionError (exit 3) before
    "numpy_in_fn": (_ACT.format(name="swish_np", fn="z / (1 + np.exp(-z))", prime=SWISH_PRIME),
                    "activation 'swish_np': fn(z) calls a NumPy-only function on jax arrays (line 7: "
                    "return z / (1 + np.exp(-z))): write it with xp (xp.exp, not np.exp)"),
    "numpy_in_prime": (_ACT.format(name="swish_np_prime", fn=SWISH, prime="1 / (1 + np.exp(-z))"),
                       "activation 'swish_np_prime': prime(z) calls a NumPy-only function on jax arrays"),
    "numpy_in_cost": (_COST.format(name="np_cost", term="0.5 * (a - y) ** 2", prime="np.tanh(a - y)"),
                      "cost 'np_cost': term_prime(a, y) calls a NumPy-only function on jax arrays"),
    # jax-only calls on the NumPy side
    "jax_in_fn": (_ACT.format(name="jax_sig", fn="__import__('jax').nn.sigmoid(z)", prime="xp.ones_like(z)"),
                  "activation 'jax_sig': fn(z) calls a jax-only function on NumPy arrays"),
    # Python branching on values: fine in NumPy, a tracer error in jax
    "branching": (_ACT.format(name="branchy", fn="xp.tanh(z) if float(xp.max(z)) < 100 else z",
                              prime="xp.ones_like(z)"),
                  "activation 'branchy': fn(z) branches in Python on the values of z"),
    # not elementwise: a sum, a centring, a scalar constant derivative, a cost summed over neurons
    "sum": (_ACT.format(name="summed", fn="xp.sum(z * z)", prime="2 * z"),
            "activation 'summed' is not elementwise: fn(z) returned shape () for z of shape (2, 3)"),
    "centred": (_ACT.format(name="centred", fn="z - xp.mean(z)", prime="xp.ones_like(z)"),
                "activation 'centred' is not elementwise: fn(z) at z = -1.5 gives -1.25 within an array of "
                "shape (2, 3) but 0 alone"),
    "constant_prime": (_ACT.format(name="double", fn="2 * z", prime="2.0"),
                       "activation 'double' is not elementwise: prime(z) returned shape () for z of shape (2, 3) "
                       "(a constant c: return c * xp.ones_like(z))"),
    "cost_summed": (_COST.format(name="summed_cost", term="xp.sum((a - y) ** 2, axis=-1)", prime="2 * (a - y)"),
                    "cost 'summed_cost' is not elementwise: term(a, y) returned shape (2,) for a, y of shape (2, 3)"),
    "cost_prime_in_jax_only": (_COST.format(name="odd_cost", term="0.5 * (a - y) ** 2",
                                            prime="(a - y) if xp is np else xp.stack([a - y, a - y])"),
                               "cost 'odd_cost' is not elementwise: term_prime(a, y) returned shape (2,) for a, y "
                               "of shape () (with xp = jax.numpy)"),
    # not finite where the padded reference evaluates it: z = 0, or a = ½, y = 0
    "nan_at_zero": (_ACT.format(name="sinc", fn="xp.sin(z) / z", prime="(z * xp.cos(z) - xp.sin(z)) / z ** 2"),
                    "activation 'sinc' is not finite at z = 0 (value nan): the padded reference evaluates it there"),
    "prime_inf_at_zero": (_ACT.format(name="cbrt", fn="xp.cbrt(z)", prime="1 / (3 * xp.cbrt(z) ** 2)"),
                          "activation 'cbrt' is not finite at z = 0 (prime = inf): the padded reference"),
    "jax_grad_inf_at_zero": (_ACT.format(name="sqrt_abs", fn="xp.sqrt(xp.abs(z))",
                                         prime="xp.sign(z) / (2 * xp.sqrt(xp.abs(z)) + (z == 0))"),
                             "activation 'sqrt_abs' is not finite at z = 0 (jax.grad of fn = "),
    "cost_nan": (_COST.format(name="log_y", term="a * xp.log(y)", prime="xp.log(y)"),
                 "cost 'log_y' is not finite at a = 0.5, y = 0 (value -inf): the padded reference evaluates it there"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PLUGINS))
def test_a_plugin_breaking_a_rule_is_one_line_naming_function_and_rule_exit_2_before_any_sweep(case, tmp_path,
                                                                                              capsys):
    code, message = BROKEN_PLUGINS[case]
    path = tmp_path / f"{case}.py"
    path.write_text(code)
    with custom.temporary_registrations(), np.errstate(all="raise"):  # no NumPy warning escapes either
        before = list(custom.REGISTERED)
        assert cli.main(["verify", "--cases", "2", "--no-progress", "--plugin", str(path)]) == 2
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"bp-oracle: error: plugin {path}: "), err
        assert message in err, err
        assert out == ""  # neither the derivative check nor the sweep started
        assert custom.REGISTERED == before  # nothing half-registered


def test_the_rules_are_checked_by_the_python_api_too_and_register_nothing_on_failure():
    with custom.temporary_registrations():
        before = (set(mb.ACTIVATIONS), set(mb.COSTS), set(JAX_ACTIVATIONS))
        with pytest.raises(custom.RuleError, match=r"cost 'bad' is not elementwise: term_prime\(a, y\)"):
            custom.register_cost("bad", lambda a, y, xp: 0.5 * (a - y) ** 2, lambda a, y, xp: xp.sum(a - y))
        with pytest.raises(custom.RuleError, match=r"activation 'bad': prime must be a function"):
            custom.register_activation("bad", lambda z, xp: z, None)
        assert (set(mb.ACTIVATIONS), set(mb.COSTS), set(JAX_ACTIVATIONS)) == before
        custom.register_activation("fine", lambda z, xp: xp.tanh(z), lambda z, xp: 1 - xp.tanh(z) ** 2)
        assert "fine" in mb.ACTIVATIONS


# --- --backprop and --plugin find a module in the current folder (issue #12) ---------------------

CWD_BACKPROP = '''
import manual_bp as mb


def backprop(net, params, x, y):
    return mb.backprop(net, params, x, y)
'''


@pytest.mark.slow
def test_backprop_and_plugin_by_module_name_are_found_in_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_cwd_backprop.py").write_text(CWD_BACKPROP)
    (tmp_path / "my_cwd_swish.py").write_text(doc_block("swish.py").replace('"swish"', '"swish_cwd"'))
    monkeypatch.chdir(tmp_path)
    # as from the bp-oracle script: the current folder is not on the import path
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".", str(tmp_path))])
    with custom.temporary_registrations():
        assert cli.main(["verify", "--cases", "4", "--no-progress", "--backprop", "my_cwd_backprop:backprop"]) == 0
        out = capsys.readouterr().out
        assert "my_cwd_backprop:backprop and jax.grad agree" in out.replace("\n", "")
        assert custom.load_plugins(["my_cwd_swish"]) == ("swish_cwd",)
        assert cli.main(["verify", "--cases", "2", "--no-progress", "--backprop", "no_such_module_here:bp"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "No module named 'no_such_module_here'" in err
        assert f"nor is there a file {tmp_path / 'no_such_module_here.py'}" in err
