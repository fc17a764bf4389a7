"""The protocol reader rejects every malformed response with a message that says what is wrong;
vector files are byte-identical run to run, checksummed, strictly loaded, and graded offline with
the same verdicts as a live check."""

import json
import shutil

import numpy as np
import pytest

import manual_bp as mb
from bp_oracle import FAIL, PASS
from bp_oracle.protocol import (ProtocolError, dumps, encode_request, parse_line,
                                          parse_response)
from bp_oracle.vectors import VectorError, _with_checksum, grade, load_vectors, write_vectors

NET = mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic")


def good(**extra):
    g = {"id": "t-1", "grads": [{"W": [[0.0] * 3] * 4, "b": [0.0] * 4}, {"W": [[0.0] * 4] * 2, "b": [0.0] * 2}]}
    g.update(extra)
    return g


@pytest.mark.parametrize("line, message", [
    (b"", "empty response line"),
    (b"hello", "not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"id": "t-1", "grads": [NaN]}', "non-finite number NaN"),
    (b'{"id": "t-1", "cost": Infinity}', "non-finite number Infinity"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100000, "not JSON"),
])
def test_lines_that_are_not_json_objects_are_protocol_errors(line, message):
    with pytest.raises(ProtocolError, match=message):
        parse_line(line)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("id"), "response has no id"),
    (lambda r: r.update(id="t-2"), "wrong id: expected 't-1', got 't-2'"),
    (lambda r: r.update(error="x"), "exactly one of grads, unsupported, error"),
    (lambda r: r.pop("grads"), "exactly one of"),
    (lambda r: r["grads"].pop(), "grads must be a list of 2 layers, got 1"),
    (lambda r: r["grads"][0].update(W=[[0.0] * 4] * 3), "wrong shape"),
    (lambda r: r["grads"][0]["b"].__setitem__(0, None), "null where a number belongs"),
    (lambda r: r["grads"][0]["b"].__setitem__(0, "1.0"), "str where a number belongs"),
    (lambda r: r["grads"][0]["b"].__setitem__(0, True), "bool where a number belongs"),
    (lambda r: r["grads"][1].update(extra=1), "exactly W and b"),
    (lambda r: r.update(deltas=[[[0.0] * 4] * 5, [[0.0] * 2] * 5]), "deltas[0] (layer 1) has the wrong shape"),
    (lambda r: r.update(cost=[1.0]), "cost holds a list where a number belongs"),
    (lambda r: r.update(cost=1e400), "non-finite"),
    (lambda r: r.update(gradz=1), "unknown field(s) gradz"),
])
def test_responses_that_break_the_contract_are_protocol_errors(mutate, message):
    r = json.loads(json.dumps(good()))
    mutate(r)
    with pytest.raises(ProtocolError) as err:
        parse_response(r, "t-1", NET, 2)
    assert message.replace("\\", "") in str(err.value)


def test_a_valid_response_parses_with_optional_fields_and_extensions():
    r = good(cost=1.5, deltas=[[[0.0] * 4] * 2, [[0.0] * 2] * 2], **{"x-time-ms": 3})
    parsed = parse_response(r, "t-1", NET, 2)
    assert parsed.cost == 1.5 and [d.shape for d in parsed.delta] == [(2, 4), (2, 2)]
    assert parse_response({"id": "t-1", "unsupported": "no tanh"}, "t-1", NET, 2).kind == "unsupported"


def test_requests_carry_shortest_round_trip_numbers_that_parse_back_exactly():
    params = NET.init_params(0)
    x, y = np.random.default_rng(0).standard_normal((2, 3)), np.zeros((2, 2))
    req = json.loads(dumps(encode_request("t-1", NET, params, x, y)))
    assert req["protocol"] == "bp-oracle/1" and req["network"] == NET.to_dict()
    assert np.array_equal(np.array(req["params"][0]["W"]), params[0].W)
    assert np.array_equal(np.array(req["x"]), x)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors")
    write_vectors(str(out), "quick", 0)
    return out


def _responses(folder, backprop, path):
    with open(path, "w") as f:
        for case, _, _ in load_vectors(str(folder)):
            grads = backprop(case.net, case.params, case.x, case.y)
            f.write(json.dumps({"id": case.id, "grads": [{"W": W.tolist(), "b": b.tolist()} for W, b in grads]}) + "\n")


def test_vectors_are_byte_identical_from_run_to_run(vectors, tmp_path):
    again = tmp_path / "again"
    write_vectors(str(again), "quick", 0)
    names = sorted(p.name for p in vectors.iterdir())
    assert names == sorted(p.name for p in again.iterdir()) and "manifest.json" in names
    assert all((vectors / n).read_bytes() == (again / n).read_bytes() for n in names)


def test_grading_correct_responses_passes_and_broken_ones_fail_with_the_live_verdicts(vectors, tmp_path):
    from broken_backprops import BROKEN
    _responses(vectors, mb.backprop, tmp_path / "good.jsonl")
    report, stray = grade(str(vectors), str(tmp_path / "good.jsonl"))
    assert report.ok and not stray and report.count(PASS) == len(report.results)
    broken, equation = BROKEN["sigma_prime_of_a_in_bp2"]
    _responses(vectors, lambda *c: broken(*c).grads, tmp_path / "bad.jsonl")
    report, _ = grade(str(vectors), str(tmp_path / "bad.jsonl"))
    assert report.count(FAIL) >= 1 and {r.verdict.root.equation for r in report.by_outcome(FAIL)} == {equation}


def test_grading_reports_missing_repeated_unknown_and_garbled_responses(vectors, tmp_path):
    _responses(vectors, mb.backprop, tmp_path / "r.jsonl")
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    lines = lines[1:] + [lines[1], '{"id": "nope", "grads": []}', "garbage"]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    report, stray = grade(str(vectors), str(tmp_path / "r.jsonl"))
    assert not report.ok
    assert [r.verdict.message for r in report.results if r.verdict.outcome != PASS] == \
        ["no response for this case in the results file"]
    assert len(stray) == 3 and "second response" in stray[0] and "not a case" in stray[1] and "not JSON" in stray[2]


@pytest.mark.parametrize("tamper, message", [
    (lambda d: (d / "quick-0003.json").write_bytes((d / "quick-0003.json").read_bytes().replace(b'"cost":', b'"cost": ', 1)),
     "sha256 does not match the manifest"),
    (lambda d: (d / "quick-0003.json").unlink(), "quick-0003.json: missing"),
    (lambda d: (d / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
    (lambda d: (d / "manifest.json").write_text(json.dumps({"schema": "other/9"})), "schema 'other/9'"),
])
def test_tampered_or_malformed_vectors_are_rejected_with_one_line(vectors, tmp_path, tamper, message):
    copy = tmp_path / "v"
    shutil.copytree(vectors, copy)
    tamper(copy)
    with pytest.raises(VectorError, match=message.replace("(", r"\(")):
        load_vectors(str(copy))


def test_a_changed_case_with_a_consistent_manifest_still_fails_its_own_checksum(vectors, tmp_path):
    import hashlib
    copy = tmp_path / "v"
    shutil.copytree(vectors, copy)
    case = copy / "quick-0002.json"
    doc = json.loads(case.read_text())
    doc["expected"]["cost"] += 1.0  # a wrong known answer, re-hashed in the manifest
    case.write_text(dumps(doc) + "\n")
    manifest = json.loads((copy / "manifest.json").read_text())
    for entry in manifest["cases"]:
        if entry["file"] == case.name:
            entry["sha256"] = "sha256:" + hashlib.sha256(case.read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(dumps(_with_checksum(manifest)) + "\n")  # and the manifest re-hashed too
    # so that what fails is the case file's own checksum, not the manifest's
    with pytest.raises(VectorError, match=r"quick-0002\.json: checksum does not match the contents \(claimed sha256:"):
        load_vectors(str(copy))
