"""`bp-oracle verify` end to end: the sweep passes manual_bp and fails every broken backprop; the
finite-difference witness blames the right side (the candidate, or the reference when the
reference is made wrong); kinks are judged by convention, never by finite differences; --jobs,
--shard and --replay reproduce a sweep exactly; the CLI speaks in one line on bad input."""

import json

import numpy as np
import pytest

import manual_bp as mb
from autodiff_ref import padded
from bp_oracle import cli
from bp_oracle.sweep import engine as V
from bp_oracle.commands.verify_command import indices
from bp_spec.cases import Case
from autodiff_ref.witnesses import disagreement_witnesses
from bp_oracle.triangulation import blame, which_side
from bp_spec.kinks import near_kink

from broken_backprops import BROKEN

SEED = 3


def _sweep(n=48, **options):
    return V.run_sweep(SEED, range(n), V.SweepOptions(**options))


def test_manual_bp_passes_the_default_sweep_with_margin():
    summary = _sweep(96)
    assert len(summary.results) == 96 and not summary.failures
    assert max(r.margin for r in summary.results) < 1e-2  # errors 100× below the tolerance
    rows = summary.table()
    assert {net_cost for _, net_cost in rows} == set(mb.COSTS)
    assert sum(row.cases for (act, _), row in rows.items() if act == "softmax") > 0


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_every_broken_backprop_fails_and_finite_differences_blame_it(bug):
    broken, _ = BROKEN[bug]
    summary = _sweep(backprop=broken)
    assert summary.failures, f"{bug} passed the sweep"
    for r in summary.failures:
        blamed = {blame(w) for w in r.witnesses}
        assert "reference" not in blamed, f"{bug}: {r.side}"
        assert "candidate" in blamed or blamed <= {"kink", "inconclusive"} or not r.witnesses, r.side
    assert any("is wrong" in r.side and "REFERENCE" not in r.side for r in summary.failures)
    # the wrong tensors (for the HTML page's heatmaps) are kept for the first failures it draws, no more
    drawn = [r for r in summary.failures if r.error is None]
    kept = min(len(drawn), V.WRONG_TENSORS_KEPT)
    assert [bool(r.wrong) for r in drawn] == [True] * kept + [False] * (len(drawn) - kept)


def test_a_wrong_reference_is_blamed_on_the_reference(monkeypatch):
    # the witness's other side: make the reference's ∂C/∂W^1 off by 1e-6 relative, and
    # finite differences must side with manual_bp against it
    real = V.padded_reference_traces_started

    def wrong(cases, **options):
        finish = real(cases, **options)

        def finish_wrong():
            traces = finish()
            for t in traces:
                t.grads[0] = mb.Layer(t.grads[0].W * (1 + 1e-6), t.grads[0].b)
            return traces
        return finish_wrong

    monkeypatch.setattr(V, "padded_reference_traces_started", wrong)
    summary = _sweep(24)
    assert summary.failures
    for r in summary.failures:
        if not r.near_kink:
            assert "the REFERENCE is wrong (dC/dW at layer 1)" in r.side, r.side


def _relu_at_its_kink() -> Case:
    """A relu network whose first layer has z = 0 exactly for one neuron of every example."""
    net = mb.Network([2, 3, 2], ["relu", "identity"], "quadratic")
    params = [mb.Layer(np.array([[1.0, 0.0], [0.0, 0.0], [0.5, -1.0]]), np.array([0.0, 0.0, 0.3])),
              mb.Layer(np.array([[1.0, -2.0, 0.5], [0.3, 1.5, -1.0]]), np.array([0.1, -0.2]))]
    x = np.array([[0.0, 1.0], [0.0, -2.0], [0.0, 0.5]])  # neuron 1: 1·0 + 0 = 0; neuron 2: 0
    y = np.array([[0.5, -0.5], [1.0, 0.0], [0.0, 0.2]])
    return Case(net, params, x, y)


def _relu_prime_one_at_zero(net, params, x, y):
    """manual_bp with the other convention at the kink, relu'(0) = 1, in BP2."""
    relu_other = mb.Activation("relu", mb.get_activation("relu").fn, lambda z: (z >= 0).astype(z.dtype))

    def bp2(W_next, delta_next, z, sigma):
        return mb.backpropagate_error(W_next, delta_next, z, relu_other if sigma.name == "relu" else sigma)

    return mb.trace_with(net, params, x, y, mb.Pieces(backpropagate_error=bp2)).grads


def test_at_a_kink_finite_differences_are_not_used_and_the_convention_decides():
    case = _relu_at_its_kink()
    ref = padded.padded_reference_traces([case])[0]
    assert near_kink(case.net, ref.z, V.KINK_MARGIN, case.params)
    # manual_bp follows the convention (relu'(0) = 0), so it agrees with the reference exactly there
    got = mb.backprop(*case)
    assert all(np.allclose(g.W, r.W, rtol=1e-12, atol=0) for g, r in zip(got, ref.grads))
    # the other convention disagrees; finite differences would average both slopes (½), so the
    # witness must refuse to judge rather than blame either side
    other = _relu_prime_one_at_zero(*case)
    assert not np.allclose(other[0].W, ref.grads[0].W)
    [witness] = disagreement_witnesses([(case, "dC/dW", 1, other[0].W, ref.grads[0].W)])
    assert blame(witness) == "kink"
    assert "judged by the derivative convention" in which_side([witness])


def test_away_from_kinks_the_witness_blames_the_side_that_is_wrong():
    case = _relu_at_its_kink()
    ref = padded.padded_reference_traces([case])[0]
    wrong = ref.grads[1].W.copy()
    wrong[0, 0] += 1e-7  # layer 2 is identity: no kink is crossed along this direction
    [w] = disagreement_witnesses([(case, "dC/dW", 2, wrong, ref.grads[1].W)])
    assert blame(w) == "candidate" and abs(w.candidate - w.reference) > 9e-8
    [w] = disagreement_witnesses([(case, "dC/dW", 2, ref.grads[1].W, wrong)])
    assert blame(w) == "reference"


@pytest.mark.slow
def test_jobs_2_gives_the_same_results_as_jobs_1():
    broken, _ = BROKEN["l2_on_biases"]  # a module-level function: the workers import it by name
    options = V.SweepOptions(backprop=broken)  # failures and witnesses must match too
    one = V.run_sweep(SEED, range(20, 44), options, jobs=1, block=8)
    two = V.run_sweep(SEED, range(20, 44), options, jobs=2, block=8)
    assert [r.index for r in one.results] == [r.index for r in two.results] == list(range(20, 44))
    for a, b in zip(one.results, two.results):
        assert a.checks == b.checks and a.verdict == b.verdict and a.witnesses == b.witnesses
    # and the report's summary, byte for byte
    from bp_oracle.sweep.figures import summary_dict
    assert json.dumps(summary_dict(one, 20)) == json.dumps(summary_dict(two, 20))


def test_shards_split_the_cases_into_contiguous_slices_that_reproduce_the_whole():
    whole = indices(100, 50, None)
    shards = [indices(100, 50, (k, 3)) for k in (1, 2, 3)]
    assert [i for s in shards for i in s] == list(whole)
    full = V.run_sweep(SEED, whole, block=16)
    parts = [r for s in shards for r in V.run_sweep(SEED, s, block=16).results]
    assert [r.checks for r in parts] == [r.checks for r in full.results]


@pytest.mark.slow
def test_a_failure_replays_exactly_by_its_printed_command(capsys):
    argv = ["verify", "--cases", "6", "--dtype", "float32", "--no-progress",
            "--backprop", "broken_backprops:backprop_accumulating_in_float16"]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    replays = [line.split("replay: ")[1].strip() for line in out.splitlines() if "replay: " in line]
    assert replays, out
    command = replays[0].split()
    assert command[:3] == ["bp-oracle", "verify", "--replay"] and "--dtype" in command and "--backprop" in command
    assert cli.main(command[1:]) == 1
    assert "verdict: finite differences side with jax.grad" in capsys.readouterr().out
    # and the numbers are the sweep's own, to the last bit
    seed, index = map(int, command[3].split(":"))
    options = V.SweepOptions("float32", "broken_backprops:backprop_accumulating_in_float16")
    swept = V.run_sweep(seed, range(6), options).results[index]
    assert V.verify_case(seed, index, options=options).checks == swept.checks


@pytest.mark.slow
def test_report_writes_json_and_both_pngs(tmp_path, capsys):
    assert cli.main(["verify", "--cases", "12", "--no-progress", "--dtype", "float64,float16",
                     "--report", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [s["dtype"] for s in doc["sweeps"]] == ["float64", "float16"]
    assert all(s["cases"] == 12 and s["failed"] == 0 and len(s["per_case"]) == 12 for s in doc["sweeps"])
    assert json.loads((tmp_path / "out" / "timing.json").read_text())[0]["cases"] == 12
    for name in ("errors.png", "depth_width.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["--dtype", "float8"], "unknown dtype 'float8'"),
    (["--shard", "3/2"], "--shard takes K/N"),
    (["--shard", "x"], "--shard takes K/N"),
    (["--cases", "0"], "positive integer"),
    (["--replay", "1:2", "--dtype", "float32,float16"], "--replay takes one --dtype"),
    (["--backprop", "no_such_module_xyz:f"], "failed to import"),
    (["--backprop", "bp_oracle.sweep.precision"], "MODULE:FUNCTION"),
    (["--backprop", "bp_oracle.sweep.precision:nothing_here"], "no function 'nothing_here'"),
    (["--plugin", "/no/such/plugin.py"], "no such file"),
    (["--report", "/etc/hostname/out"], "cannot write the report"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(["verify", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_one_malformed_answer_in_a_block_errs_alone_and_the_others_are_judged_as_ever():
    """A block is judged in one pass; a candidate whose answer for one network has the wrong shape
    must get that network an error of its own, every other network its usual verdict (the block
    is judged again one network at a time)."""
    cases = [V.sweep_case(SEED, i) for i in range(12)]
    odd = 5

    def shape_slip(net, params, x, y):
        grads = mb.backprop(net, params, x, y)
        if net.sizes == cases[odd].net.sizes and np.array_equal(x, cases[odd].x):
            grads[0] = mb.Layer(grads[0].W[:, :-1], grads[0].b)  # one column short
        return grads

    honest = V.verify_cases(SEED, range(12))
    slipped = V.verify_cases(SEED, range(12), V.SweepOptions(backprop=shape_slip))
    assert slipped[odd].error and "does not match" in slipped[odd].error
    for k in set(range(12)) - {odd}:
        assert slipped[k].error is None and slipped[k].ok == honest[k].ok
        assert [c.comparison.ok for c in slipped[k].judged] == [
            c.comparison.ok for c in honest[k].judged if c.quantity in ("dC/dW", "dC/db")]
