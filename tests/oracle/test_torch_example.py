"""scripts/examples/torch_backprop.py: a PyTorch MLP whose activations are autograd Functions
with hand-written backwards passes the oracle's quick suite; a wrong backward fails it; what it
does not implement is a SKIP. torch is not a dependency of bp-oracle: skipped without it."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bp_oracle import ERROR, FAIL, PASS, SKIP, check_implementation  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "scripts" / "examples" / "torch_backprop.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("torch_backprop_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_torch_example_passes_every_case_of_the_quick_suite(example, capsys):
    report = check_implementation(example.backprop, suite="quick")
    assert report.count(FAIL) == report.count(ERROR) == 0, [r.verdict.message for r in report.results
                                                            if r.verdict.outcome in (FAIL, ERROR)]
    assert report.count(PASS) == len(report.results) > 0  # every built-in activation and cost
    assert example.main() == 0
    out = capsys.readouterr().out
    assert f"{report.count(PASS)} PASS, 0 FAIL, 0 ERROR, 0 SKIP" in out


def test_a_wrong_hand_written_backward_fails(example, monkeypatch):
    # tanh' as 1 − tanh (a dropped square): BP2 at the tanh layers
    monkeypatch.setattr(example.Tanh, "backward",
                        staticmethod(lambda ctx, g: g * (1 - torch.tanh(ctx.saved_tensors[0]))))
    report = check_implementation(example.backprop, suite="quick")
    failed = report.by_outcome(FAIL)
    assert failed and all("tanh" in r.case.net.activations for r in failed)


def test_what_it_does_not_implement_is_a_skip(example):
    from bp_oracle.check import _python_response, verdict_for

    params = [(np.ones((2, 2)), np.zeros(2))]
    for activation, cost, name in (("swish", "quadratic", "swish"), ("tanh", "huber", "huber"),
                                   ("tanh", "cross_entropy", "cross_entropy on a 'tanh' output")):
        net = SimpleNamespace(sizes=(2, 2), activations=(activation,), cost=cost, l2=0.0, l1=0.0)
        case = SimpleNamespace(id="c", net=net, params=params, x=np.ones((1, 2)), y=np.ones((1, 2)))
        verdict = verdict_for(case, None, _python_response(example.backprop, case))
        assert verdict.outcome == SKIP and name in verdict.message
