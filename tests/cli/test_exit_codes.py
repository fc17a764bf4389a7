"""The command line's contract: 0 success, 1 a disagreement, 2 bad usage or bad input (one line),
3 a bug of ours (one line; the traceback only with --debug)."""

import pytest

from bp_oracle import __version__
from bp_oracle.commands import load


def test_version_and_help(run_cli):
    with pytest.raises(SystemExit) as exit_:
        run_cli("--version")
    assert exit_.value.code == 0
    code, out, _ = run_cli()
    assert code == 2 and "verify" in out and "check" in out
    assert __version__.count(".") == 2


@pytest.mark.parametrize("argv, message", [
    (["verify", "--cases", "0"], "expected a positive integer, got '0'"),
    (["verify", "--plugin", "no/such/plugin.py"], "no such file"),
    (["check", "--impl", "true", "--include", "no_such_feature"], "unknown feature 'no_such_feature'"),
    pytest.param(["train", "--cost", "mse"], "unknown cost 'mse'", marks=pytest.mark.slow),  # loads the digits
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, argv, message):
    code, out, err = run_cli(*argv)
    assert code == 2, (out, err)
    assert err.startswith("bp-oracle: error: ") and err.count("\n") == 1 and message in err, err


def _broken_run(args):
    raise ValueError("a bug of ours, not the user's input")  # a ValueError too: not bad input


def test_a_bug_of_ours_is_an_internal_error_exit_3_with_the_traceback_behind_debug(run_cli, monkeypatch):
    module = load("vectors")
    monkeypatch.setattr(module, "run", _broken_run)
    code, _, err = run_cli("vectors", "--out", "unused")
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: ValueError: a bug of ours" in err and "--debug" in err
    code, _, err = run_cli("vectors", "--out", "unused", "--debug")
    assert code == 3 and "Traceback (most recent call last)" in err and "_broken_run" in err
