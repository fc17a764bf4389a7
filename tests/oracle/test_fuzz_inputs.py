"""Property-based fuzzing of every parser: any input is either accepted or rejected with the
documented error (ValueError/TypeError for the spec, ProtocolError for responses, VectorError for
vector files), on one line that names what is wrong (the spec's field, the response's field and
layer, the vector file and its field); none crashes with anything else."""

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

import manual_bp as mb
from bp_oracle.protocol import ProtocolError, parse_line, parse_response
from bp_oracle.vectors import VectorError, load_case

pytestmark = pytest.mark.slow  # 100–200 draws a parser: ~10 s in all

json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)

names = st.sampled_from(list(mb.ACTIVATIONS) + ["sigmoidd", "", "SOFTMAX"])
spec_like = st.fixed_dictionaries(
    {"sizes": st.lists(st.integers(-2, 6) | st.floats(0, 6) | st.text(max_size=2), max_size=5)
              | json_values,
     "activations": names | st.lists(names, max_size=5) | json_values,
     "cost": st.sampled_from(list(mb.COSTS) + ["mse"]) | json_values},
    optional={"l2": json_values | st.floats(), "l1": json_values | st.floats(), "extra": json_values})


# what a rejected spec's message names: the spec as a whole, or one of its fields (the sizes by
# name or as layers and neurons, the activations, the cost, l2, l1, the parameter guard)
SPEC_WORDS = ("network spec", "sizes", "layer", "neuron", "activation", "cost", "l2", "l1", "parameters")


def one_line(message: str) -> str:
    assert message.strip() and "\n" not in message, repr(message)
    return message


@given(spec_like | json_values)
@settings(max_examples=200)
def test_network_from_dict_accepts_or_raises_value_error(spec):
    try:
        net = mb.Network.from_dict(spec)
    except (ValueError, TypeError) as e:
        message = one_line(str(e))
        if not isinstance(spec, dict):
            assert message == f"network spec must be a JSON object, got {type(spec).__name__}"
        elif not {"sizes", "activations", "cost"} <= set(spec):
            missing = sorted({"sizes", "activations", "cost"} - set(spec))
            assert message == f"network spec is missing {', '.join(missing)}"
        elif set(spec) - {"sizes", "activations", "cost", "l2", "l1"}:
            assert message.startswith("network spec has unknown key(s) ") and "extra" in message
        else:
            assert any(word in message for word in SPEC_WORDS), message
    else:
        assert mb.Network.from_dict(json.loads(json.dumps(net.to_dict()))) == net


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | json_values.map(lambda v: json.dumps(v).encode()))
@settings(max_examples=200)
def test_parse_line_returns_an_object_or_raises_protocol_error(line):
    try:
        assert isinstance(parse_line(line), dict)
    except ProtocolError as e:
        message = one_line(str(e))
        # what is wrong with the line as a whole: empty, not UTF-8, not JSON, or not an object
        assert message == "empty response line" or message == "response is not UTF-8 text" \
            or message.startswith(("response is not JSON (", "response must be a JSON object, got ",
                                   "non-finite number ")), message


NET = mb.Network([2, 3, 2], ["relu", "softmax"], "log_likelihood")
grads_like = st.lists(st.fixed_dictionaries({"W": json_values, "b": json_values}) | json_values, max_size=3)


@given(st.fixed_dictionaries({"id": st.sampled_from(["c-1", "c-2"]) | json_values},
                             optional={"grads": grads_like, "cost": json_values, "deltas": json_values,
                                       "z": json_values, "unsupported": json_values, "error": json_values})
       | json_values.filter(lambda v: isinstance(v, dict)))
@settings(max_examples=200)
def test_parse_response_returns_a_response_or_raises_protocol_error(obj):
    try:
        parse_response(obj, "c-1", NET, 2)
    except ProtocolError as e:
        message = one_line(str(e))
        if "id" not in obj:
            assert message == "response has no id"
        elif obj["id"] != "c-1":
            assert message.startswith("wrong id: expected 'c-1', got ")
        else:  # the field at fault by name, and a layer's W or b by its layer too
            fields = [f for f in ("grads", "unsupported", "error", "cost", "deltas", "z", "unknown field")
                      if f in message]
            assert fields or message.startswith("response needs exactly one of grads, unsupported, error"), message
            for entry in re.findall(r"grads\[(\d)\]\.[Wb] ", message):
                assert f"(layer {int(entry) + 1})" in message, message


@given(json_values | st.fixed_dictionaries({"schema": st.just("bp-oracle-vectors/1"), "checksum": st.text(max_size=5)},
                                           optional={"id": json_values, "request": json_values, "expected": json_values}))
@settings(max_examples=200)
def test_vector_loader_rejects_malformed_files_with_vector_error(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("v") / "case.json"
    path.write_text(json.dumps(doc))
    try:
        load_case(path)
    except VectorError as e:
        message = one_line(str(e))
        assert message.startswith(f"{path}: "), message  # the file
        assert re.search(r"(missing field|field|schema|checksum) '?\w", message[len(str(path)):]), message


def _real_case_document():
    from bp_oracle.check import Plan, plan_cases
    from bp_oracle.vectors import case_document
    plan = Plan("quick", 0)
    return case_document(plan_cases(plan)[0][0], plan)


REAL = None
FIELDS = [("request", "network"), ("request", "params"), ("request", "x"), ("request", "y"),
          ("expected", "z"), ("expected", "deltas"), ("expected", "grads"), ("expected", "cost"),
          ("tolerance",), ("features",), ("flags",), ("id",)]


@given(st.sampled_from(FIELDS), json_values)
@settings(max_examples=100)
def test_vector_loader_rejects_wrong_contents_behind_a_valid_checksum(tmp_path_factory, field, value):
    """Past the checksum, the schema itself: a file re-hashed after a field was replaced."""
    global REAL
    from bp_oracle.protocol import dumps
    from bp_oracle.vectors import _with_checksum
    REAL = REAL or _real_case_document()
    doc = json.loads(json.dumps(REAL))
    target = doc
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    path = tmp_path_factory.mktemp("v") / "case.json"
    path.write_text(dumps(_with_checksum(doc)))
    try:
        load_case(path)
    except VectorError as e:
        message = one_line(str(e))
        # the file, and the field that was replaced (by its own name: "params", "z", "tolerance", …)
        named = "x|y" if field[-1] in ("x", "y") else field[-1]  # x and y must agree on the batch size m
        assert message.startswith(f"{path}: ") and re.search(rf"\b({named})\b", message), (field, message)
