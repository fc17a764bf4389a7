"""What the suites draw (issue: "the oracle draws what real implementations are"), and what
'conforms' means: judged, and right. Boundaries, special values, state, kinks, precision,
declared features and the SKIP policy, each with a control that must pass and one that must fail."""

import json

import numpy as np
import pytest

import manual_bp as mb
from bp_oracle import FAIL, PASS, SKIP, check_implementation, failure_lines
from bp_oracle.check import Plan, plan_cases
from bp_oracle.dtypes import round_to
from bp_oracle.suites import Scope, build_suite
from broken_backprops import ACCUMULATING_IN_FLOAT16


def _features(cases):
    return [f for c in cases for f in c.features]


@pytest.mark.parametrize("suite", ["quick", "default"])
def test_every_class_of_behaviour_is_drawn(suite):
    cases = build_suite(suite)
    sizes = {(c.m, c.net.L, c.net.sizes) for c in cases}
    assert {1, 7, 9, 17} <= {m for m, _, _ in sizes} and max(m for m, _, _ in sizes) >= 64
    assert max(L for _, L, _ in sizes) >= 8
    widths = [s for _, _, s in sizes]
    assert any(s[0] == 1 for s in widths) and any(1 in s[1:-1] for s in widths)
    assert any({15, 16, 17} <= set(s) for s in widths)
    features = set(_features(cases))
    for wanted in ("edge:zero_weights", "edge:hard_targets", "edge:soft_targets", "edge:softmax_spread",
                   "edge:kink", "edge:kink_mixed", "state:repeat", "state:same_architecture", "edge:near_zero_gradient"):
        assert wanted in features, wanted
    tails = {a for c in cases if "edge:tails" in c.features for a in c.net.activations}
    assert tails == set(mb.ACTIVATIONS)  # every activation's tails, softmax's past overflow too
    if suite == "default":
        assert any(c.net.sizes == (784, 30, 10) and c.m == 10 for c in cases)
        assert len([c for c in cases if "state:repeat" in c.features]) >= 10
        first_random = next(i for i, c in enumerate(cases) if "random" in c.features)
        assert first_random < len(cases) // 4  # the order is shuffled, not family after family


def test_the_tails_reach_where_a_naive_exponential_overflows():
    case = next(c for c in build_suite("quick") if "edge:softmax_spread" in c.features)
    z = case.params[-1].b  # the output logits' spread comes from the bias
    assert z.max() - z.min() > 745
    tails = [c for c in build_suite("quick") if "edge:tails" in c.features and "edge:softmax_spread" not in c.features]
    assert all(np.max(np.abs(c.params[0].b)) >= 709.8 for c in tails)


def test_repeats_are_identical_requests_and_same_architectures_have_fresh_params():
    cases = build_suite("default")
    for c in (c for c in cases if "state:repeat" in c.features):
        twins = [o for o in cases if o.id != c.id and o.net == c.net and np.array_equal(o.x, c.x)
                 and all(np.array_equal(W, V) for (W, _), (V, _) in zip(o.params, c.params))]
        assert twins, c.id
    for c in (c for c in cases if "state:same_architecture" in c.features):
        assert any(o.id != c.id and o.net.sizes == c.net.sizes and o.m == c.m and not np.array_equal(o.x, c.x)
                   for o in cases)


def test_a_declared_scope_gets_a_full_size_suite_inside_it():
    cases = build_suite("default", supports=["sigmoid", "quadratic"])
    assert len(cases) >= 150
    assert all(set(c.net.activations) == {"sigmoid"} and c.net.cost == "quadratic" and not c.net.l2 and not c.net.l1
               for c in cases)
    families = set(_features(cases))
    assert {"edge:tails", "batch:boundary", "depth:8+", "width:1", "state:repeat"} <= families
    with pytest.raises(ValueError, match="unknown feature"):
        Scope.declared(["sigmoid", "quadratik"])
    with pytest.raises(ValueError, match="at least one cost"):
        Scope.declared(["sigmoid", "l2"])


def _sigmoid_quadratic_only(net, params, x, y):
    if set(net.activations) != {"sigmoid"} or net.cost != "quadratic" or net.l2 or net.l1:
        raise NotImplementedError("only sigmoid and quadratic")
    return mb.backprop(net, params, x, y)


def test_the_skip_policy_conforms_only_when_every_case_asked_was_judged_and_right():
    declared = check_implementation(_sigmoid_quadratic_only, "default", supports="sigmoid,quadratic")
    assert declared.ok and declared.judged == len(declared.results) >= 150
    undeclared = check_implementation(_sigmoid_quadratic_only, "quick")
    assert not undeclared.ok and undeclared.count(SKIP) > 0
    assert "--supports" in undeclared.skip_problem and "--allow-skip" in undeclared.skip_problem
    accepted = check_implementation(_sigmoid_quadratic_only, "quick", allow_skip=True)
    assert accepted.ok and accepted.judged < len(accepted.results)
    # a SKIP inside what is declared fails
    over_declared = check_implementation(_sigmoid_quadratic_only, "quick", supports="sigmoid,tanh,quadratic")
    assert not over_declared.ok and "inside the declared features" in over_declared.skip_problem


def _in(dtype):
    """manual_bp run in the request's dtype (its arrays arrive in it)."""
    def backprop(net, params, x, y):
        return [mb.Layer(W, b) for W, b in mb.backprop(net, params, x, y)]
    return backprop


def _bp4_in_float32(net, params, x, y):
    def weight_gradient(delta, a_prev):
        return (delta.astype(np.float32).T @ a_prev.astype(np.float32)).astype(np.float64) / delta.shape[0]
    params, (x, y) = net.check_params(params), net.check_batch(x, y)
    return mb.trace_with(net, params, x, y, mb.EQUATIONS._replace(weight_gradient=weight_gradient)).grads


def _accumulating_in_float16(net, params, x, y):
    params, (x, y) = net.check_params(params), net.check_batch(x, y)
    return mb.trace_with(net, params, x, y, ACCUMULATING_IN_FLOAT16).grads


def test_float32_requests_are_exact_and_judged_by_the_calibrated_model():
    plan = Plan("quick", 0, dtype="float32")
    cases, not_asked = plan_cases(plan)
    assert cases and all(np.array_equal(round_to("float32", c.x), c.x) for c in cases)
    assert all(np.array_equal(round_to("float32", W), W) for c in cases for W, _ in c.params)
    report = check_implementation(_in("float32"), "quick", dtype="float32")
    assert report.ok, failure_lines(report)[:3]
    tolerances = {r.tolerance.rtol for r in report.results}
    assert len(tolerances) > 3 and min(tolerances) > 1e-6  # sized per case, at float32's scale


def test_float32_arithmetic_where_float64_is_asked_fails_on_bp4():
    report = check_implementation(_bp4_in_float32, "quick")
    roots = {r.verdict.root.equation for r in report.by_outcome(FAIL)}
    assert not report.ok and roots == {"BP4"}


def test_a_broken_float32_path_fails_the_float32_check():
    report = check_implementation(_accumulating_in_float16, "quick", dtype="float32")
    assert not report.ok and report.count(FAIL) >= 5


def test_an_overridden_tolerance_is_said_in_the_report():
    report = check_implementation(mb.backprop, "quick", include=["depth:1"], rtol=1e-3, atol=1e-6)
    assert report.ok and "tolerance OVERRIDDEN to rtol 0.001, atol 1e-06" in str(report)
    assert all(r.tolerance.rtol == 1e-3 for r in report.results)
    with pytest.raises(ValueError, match="both rtol and atol"):
        check_implementation(mb.backprop, "quick", rtol=1e-3)


@pytest.mark.slow
def test_a_random_seed_is_printed_with_its_replay(run_cli, tmp_path):
    import sys
    from pathlib import Path
    example = Path(__file__).resolve().parents[2] / "scripts" / "examples" / "numpy_backprop.py"
    code, out, err = run_cli("check", "--impl", f"{sys.executable} {example}", "--suite", "quick", "--seed", "random",
                             "--include", "depth:1")
    assert code == 0, out + err
    line = next(line for line in err.splitlines() if "drawn at random" in line)
    seed = int(line.split()[1])
    assert f"--seed {seed}" in line and "bp-oracle check --impl" in line and f"seed {seed}," in out


def test_the_report_says_on_how_many_cases_each_feature_was_judged(tmp_path):
    from bp_oracle.report import to_json
    report = check_implementation(_sigmoid_quadratic_only, "quick", allow_skip=True)
    doc = to_json(report)
    coverage = doc["coverage"]
    assert coverage["activation:sigmoid"]["judged"] >= 1 and coverage["activation:tanh"]["judged"] == 0
    assert coverage["activation:tanh"]["SKIP"] >= 1 and doc["judged"] == report.judged


# --- vectors and grade in the same terms --------------------------------------------------------


def test_vectors_carry_the_dtype_and_each_case_s_tolerance_and_grade_judges_by_them(tmp_path, run_cli):
    from bp_oracle.vectors import grade, load_vectors, write_vectors
    write_vectors(str(tmp_path / "v"), "quick", 0, dtype="float32", supports=["sigmoid", "tanh", "quadratic"])
    loaded, manifest = load_vectors(str(tmp_path / "v"), with_manifest=True)
    assert manifest["dtype"] == "float32" and manifest["supports"] == ["quadratic", "sigmoid", "tanh"]
    assert all(c.net.cost == "quadratic" for c, _, _ in loaded)
    assert len({tol.rtol for _, _, tol in loaded}) > 1
    request = json.loads((tmp_path / "v" / f"{loaded[0][0].id}.json").read_text())["request"]
    assert request["dtype"] == "float32"
    assert np.array_equal(round_to("float32", request["x"]), np.asarray(request["x"]))
    # answers from manual_bp in float32, graded offline
    lines = []
    for case, _, _ in loaded:
        grads = mb.backprop(case.net, [mb.Layer(W.astype(np.float32), b.astype(np.float32)) for W, b in case.params],
                            case.x.astype(np.float32), case.y.astype(np.float32))
        lines.append(json.dumps({"id": case.id, "grads": [{"W": W.tolist(), "b": b.tolist()} for W, b in grads]}))
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    report, stray = grade(str(tmp_path / "v"), str(tmp_path / "r.jsonl"))
    assert report.ok and not stray and report.tool == "grade" and report.suite == "quick"
    # one stray line: console, JSON, JUnit and the exit code all say it does not conform
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\nnot a response\n")
    code, out, _ = run_cli("grade", "--vectors", tmp_path / "v", "--results", tmp_path / "r.jsonl",
                           "--json", tmp_path / "g.json", "--junit", tmp_path / "g.xml")
    doc = json.loads((tmp_path / "g.json").read_text())
    assert code == 1 and "does NOT conform" in out and "grade:" in out and "suite 'quick'" in out
    assert doc["ok"] is False and doc["tool"] == "bp-oracle grade" and doc["problems"]
    assert 'errors="1"' in (tmp_path / "g.xml").read_text()


def test_vectors_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from bp_oracle import vectors
    real, calls = vectors.case_document, []

    def failing(case, plan):
        calls.append(case.id)
        if len(calls) == 3:
            raise ValueError("Out of range float values are not JSON compliant")
        return real(case, plan)
    monkeypatch.setattr(vectors, "case_document", failing)
    with pytest.raises(RuntimeError, match=f"case {'quick-0002'}|could not be written"):
        vectors.write_vectors(str(tmp_path / "v"), "quick", 0)
    assert not (tmp_path / "v").exists() and list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="other files in it"):
        vectors.write_vectors(str(tmp_path / "mine"), "quick", 0)


def test_hint_data_that_is_not_finite_is_left_out_of_a_vector_file():
    from bp_oracle.expected import Expected, expected_to_json
    z = [np.zeros((1, 2))]
    exp = Expected(z, z, z, 0.0, [mb.Layer(np.zeros((2, 2)), np.zeros(2))],
                   grad_a_cost=np.array([[np.inf, 1.0]]), sigma_prime_L=np.array([[0.25, 0.25]]))
    doc = expected_to_json(exp)
    assert "grad_a_cost" not in doc and doc["sigma_prime_L"] == [[0.25, 0.25]]
    json.dumps(doc, allow_nan=False)


def test_other_summation_orders_are_right_answers():
    # the text's per-example loop sums BP3/BP4 one example at a time, in another order than the
    # matrix form; a reversed batch changes the order again: both must conform
    assert check_implementation(mb.backprop_per_example, "quick").ok

    def reversed_batch(net, params, x, y):
        return mb.backprop(net, params, np.ascontiguousarray(x[::-1]), np.ascontiguousarray(y[::-1]))
    assert check_implementation(reversed_batch, "quick").ok
