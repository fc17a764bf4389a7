"""Property-based fuzzing of every parser: any input is either accepted or rejected with the
documented error (ValueError/TypeError for the spec, ProtocolError for responses, VectorError for
vector files); none crashes with anything else."""

import json

from hypothesis import given, settings, strategies as st

import manual_bp as mb
from bp_oracle.protocol import ProtocolError, parse_line, parse_response
from bp_oracle.vectors import VectorError, load_case

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


@given(spec_like | json_values)
@settings(max_examples=200)
def test_network_from_dict_accepts_or_raises_value_error(spec):
    try:
        net = mb.Network.from_dict(spec)
    except (ValueError, TypeError) as e:
        assert str(e)
    else:
        assert mb.Network.from_dict(json.loads(json.dumps(net.to_dict()))) == net


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | json_values.map(lambda v: json.dumps(v).encode()))
@settings(max_examples=200)
def test_parse_line_returns_an_object_or_raises_protocol_error(line):
    try:
        assert isinstance(parse_line(line), dict)
    except ProtocolError as e:
        assert str(e)


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
        assert str(e)


@given(json_values | st.fixed_dictionaries({"schema": st.just("bp-oracle-vectors/1"), "checksum": st.text(max_size=5)},
                                           optional={"id": json_values, "request": json_values, "expected": json_values}))
@settings(max_examples=200)
def test_vector_loader_rejects_malformed_files_with_vector_error(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("v") / "case.json"
    path.write_text(json.dumps(doc))
    try:
        load_case(path)
    except VectorError as e:
        assert str(e)


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
        assert str(e)
