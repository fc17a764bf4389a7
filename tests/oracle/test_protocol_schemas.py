"""The protocol as JSON Schema (bp_oracle/schemas/; docs/protocol.md, "JSON Schemas"): each schema
is a valid draft 2020-12 schema and ships in the package; every request of every suite, the
example programs' responses and the files the vectors command writes validate; and on tables of
malformed responses and requests, the schemas agree with the parsers, with what is beyond a
schema (the id, the shapes) named entry by entry.

Two validators read the schemas, jsonschema (Python) and jsonschema-rs (Rust), and must agree
everywhere: the schemas mean the same to more than one implementation. jsonschema-rs takes the
bulk (the full suite's requests hold about 700,000 numbers, and jsonschema takes 30–100 µs a
number); jsonschema validates a part of every kind of document and every entry of the tables.
"""

import fnmatch
import importlib.resources
import importlib.util
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import jsonschema_rs
import numpy as np
import pytest

import bp_oracle
from bp_oracle.check import plan_of
from bp_oracle.dtypes import DTYPES
from bp_oracle.protocol import PROTOCOL, ProtocolError, dumps, encode_request, parse_line, parse_response
from bp_oracle.suites import SUITES, build_suite, in_dtype
from bp_oracle.vectors import SCHEMA as VECTORS_SCHEMA
from bp_oracle.vectors import _plan_json
from bp_spec import ACTIVATIONS, COSTS, Network, get_activation_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "scripts" / "examples"
SCHEMAS = Path(bp_oracle.__file__).parent / "schemas"
NAMES = ("request", "response", "vectors-manifest", "vectors-case")
DRAFT = "https://json-schema.org/draft/2020-12/schema"
BIG = 1.7976931348623157e308  # float64's largest finite number


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def py():
    return {name: jsonschema.Draft202012Validator(schema(name)) for name in NAMES}


@pytest.fixture(scope="module")
def rs():
    return {name: jsonschema_rs.validator_for(schema(name)) for name in NAMES}


def without(obj: dict, *keys) -> dict:
    return {k: v for k, v in obj.items() if k not in keys}


def first_error(validator, instance) -> str:
    """The first error jsonschema-rs reports, with where it is, or '' when there is none."""
    for error in validator.iter_errors(instance):
        return f"{'/'.join(map(str, error.instance_path))}: {error.message[:300]}"
    return ""


# --- the schemas themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_draft_2020_12_schema_with_an_id_and_a_title(name):
    s = schema(name)
    assert s["$schema"] == DRAFT
    jsonschema.Draft202012Validator.check_schema(s)  # against the draft's metaschema
    assert isinstance(jsonschema_rs.validator_for(s), jsonschema_rs.Draft202012Validator)
    assert s["$id"].startswith("urn:bp-oracle:schema:") and s["title"] and s["description"]


def test_the_folder_holds_the_four_schemas_with_distinct_ids_and_the_package_ships_them():
    assert sorted(p.name for p in SCHEMAS.iterdir()) == sorted(f"{n}.schema.json" for n in NAMES)
    assert len({schema(n)["$id"] for n in NAMES}) == len(NAMES)
    installed = importlib.resources.files("bp_oracle") / "schemas"
    assert sorted(p.name for p in installed.iterdir()) == sorted(f"{n}.schema.json" for n in NAMES)
    # a wheel or sdist carries a data file only where a package-data glob matches it
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bp_oracle"]
    assert all(any(fnmatch.fnmatch(f"schemas/{p.name}", g) for g in globs) for p in SCHEMAS.iterdir())


def test_the_shared_parts_of_the_schemas_are_copies_of_one_another():
    request, response, manifest, case = (schema(n) for n in NAMES)
    # the vector case schema embeds the request schema, so that it validates on its own, offline
    assert case["$defs"]["request"] == request, "copy request.schema.json into vectors-case.schema.json's $defs.request"
    assert case["properties"]["request"]["$ref"] == request["$id"]
    for name in ("vector", "matrix"):
        assert request["$defs"][name] == response["$defs"][name] == case["$defs"][name], name
    # a response's numbers are the request's, and not NaN for readers that let it through
    assert request["$defs"]["number"] == case["$defs"]["number"]
    number = without(request["$defs"]["number"], "description")
    assert without(response["$defs"]["number"], "not", "description") == number
    for name in ("version", "suite", "seed", "dtype", "supports", "sha256"):
        assert manifest["$defs"][name] == case["$defs"][name], name


def test_the_names_the_schemas_allow_are_the_specs():
    request, _, manifest, case = (schema(n) for n in NAMES)
    network = request["$defs"]["network"]["properties"]
    assert network["activations"]["items"]["enum"] == list(ACTIVATIONS)
    assert network["cost"]["enum"] == list(COSTS)
    assert request["properties"]["dtype"]["enum"] == manifest["$defs"]["dtype"]["enum"] == list(DTYPES)
    assert request["properties"]["protocol"]["const"] == manifest["properties"]["protocol"]["const"] == PROTOCOL
    assert manifest["properties"]["schema"]["const"] == case["properties"]["schema"]["const"] == VECTORS_SCHEMA
    assert manifest["$defs"]["suite"]["enum"] == list(SUITES)
    kinked = [a for a in ACTIVATIONS if any(k.slopes_known for k in get_activation_spec(a).kinks)]
    assert case["$defs"]["kinked_activation"]["enum"] == kinked


# --- what the oracle and the examples write validates ------------------------------------------


@pytest.mark.slow
def test_every_request_of_every_suite_validates(py, rs):
    suites = {name: build_suite(name) for name in SUITES}
    sent = {name: [encode_request(c.id, c.net, c.params, c.x, c.y) for c in cases] for name, cases in suites.items()}
    quick = suites["quick"]
    for dtype in DTYPES[1:]:  # every number rounded to the dtype, as check --dtype sends them
        sent[dtype] = [encode_request(c.id, c.net, c.params, c.x, c.y, dtype) for c in in_dtype(quick, dtype)]
    sent["supports"] = [encode_request(c.id, c.net, c.params, c.x, c.y)
                        for c in build_suite("quick", supports=["relu", "softmax", "log_likelihood", "l1"])]
    assert len(sent["full"]) > 2000 and len(sent["default"]) > 200 and len(sent["quick"]) > 50
    bad = [(r["id"], first_error(rs["request"], r)) for requests in sent.values() for r in requests
           if not rs["request"].is_valid(r)]
    assert not bad, bad[:3]
    for r in sent["quick"]:  # as it goes on the wire
        py["request"].validate(json.loads(dumps(r)))


def _numpy_example():
    spec = importlib.util.spec_from_file_location("_numpy_backprop_schemas", EXAMPLES / "numpy_backprop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def asked():
    """(request line, id, network, m): the quick suite, five of its cases in float32, three in
    float16 (which neither example computes in: 'unsupported'), and one with a layer of params
    missing (an 'error')."""
    quick = build_suite("quick")
    cases = [(c, "float64") for c in quick] + [(c, "float32") for c in in_dtype(quick[:5], "float32")]
    cases += [(c, "float16") for c in in_dtype(quick[:3], "float16")]
    out = [(dumps(encode_request(c.id, c.net, c.params, c.x, c.y, d)), c.id, c.net, c.m) for c, d in cases]
    broken = encode_request("broken-0", quick[0].net, quick[0].params, quick[0].x, quick[0].y)
    broken["params"].pop()
    out.append((dumps(broken), "broken-0", quick[0].net, quick[0].m))
    return out


def _kind(response: dict) -> str:
    """A response's kind and optional fields, e.g. 'grads+cost+deltas'."""
    fields = [f for f in ("grads", "unsupported", "error") if f in response]
    return "+".join(fields + [f for f in ("cost", "z", "a", "deltas") if f in response])


def _check_responses(lines, asked, py, rs) -> set[str]:
    """Each response line validates with both validators and parses; returns the kinds seen."""
    assert len(lines) == len(asked)
    kinds, checked_by_py = set(), set()
    for line, (_, rid, net, m) in zip(lines, asked):
        response = parse_line(line)  # as the oracle reads it
        assert rs["response"].is_valid(response), (rid, first_error(rs["response"], response))
        parse_response(response, rid, net, m)  # and the oracle accepts it
        kind = _kind(response)
        if kind not in checked_by_py:  # the first of each kind by jsonschema too
            py["response"].validate(response)
            checked_by_py.add(kind)
        kinds.add(kind)
    return kinds


def test_the_numpy_examples_responses_validate_traces_gradients_alone_unsupported_and_errors(asked, py, rs):
    nb = _numpy_example()
    trace = [json.dumps(nb.answer(line)) for line, *_ in asked]
    alone = [json.dumps(nb.answer(line, fields=())) for line, *_ in asked]
    assert _check_responses(trace, asked, py, rs) == {"grads+cost+z+a+deltas", "unsupported", "error"}
    assert _check_responses(alone, asked, py, rs) == {"grads", "unsupported", "error"}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_examples_responses_validate(asked, py, rs):
    run = subprocess.run(["node", str(EXAMPLES / "backprop.js")], input="\n".join(line for line, *_ in asked) + "\n",
                         capture_output=True, text=True, timeout=60, check=True)
    lines = run.stdout.splitlines()
    assert _check_responses(lines, asked, py, rs) == {"grads+cost+deltas", "unsupported", "error"}


@pytest.mark.slow
def test_the_files_the_vectors_command_writes_validate(run_cli, tmp_path, py, rs):
    code, _, err = run_cli("vectors", "--out", tmp_path / "v", "--suite", "quick")
    assert code == 0, err
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    py["vectors-manifest"].validate(manifest)
    assert rs["vectors-manifest"].is_valid(manifest)
    docs = [json.loads((tmp_path / "v" / e["file"]).read_text()) for e in manifest["cases"]]
    bad = [(d["id"], first_error(rs["vectors-case"], d)) for d in docs if not rs["vectors-case"].is_valid(d)]
    assert not bad, bad[:3]
    kinks = [d for d in docs if "conventions" in d["expected"]]
    assert kinks and any(d["flags"] == {} for d in docs) and any("grad_a_cost" in d["expected"] for d in docs)
    for d in [docs[0], *kinks]:
        py["vectors-case"].validate(d)
    # the plan fields as the writer writes them for --supports and --dtype (a list, not null)
    plan = _plan_json(plan_of("quick", 7, dtype="bfloat16", supports="relu,sigmoid,quadratic,l2"))
    assert isinstance(plan["supports"], list)
    for name, doc in (("vectors-manifest", manifest), ("vectors-case", docs[0])):
        py[name].validate({**doc, **plan})
        assert rs[name].is_valid({**doc, **plan})
    # and what the writer never writes does not validate
    case = kinks[0]
    spoiled = {
        "no expected": without(case, "expected"),
        "an unknown field": {**case, "note": "x"},
        "an unknown flag": {**case, "flags": {"near_kink": True, "slow": True}},
        "a negative rtol": {**case, "tolerance": {"rtol": -1e-9, "atol": 1e-12}},
        "a checksum that is not sha256": {**case, "checksum": "md5:00"},
        "conventions without kink_slopes": {**case, "expected": without(case["expected"], "kink_slopes")},
        "hint data inside conventions": {**case, "expected": {**case["expected"], "conventions": {
            k: {**v, "grad_a_cost": [[0.0]]} for k, v in case["expected"]["conventions"].items()}}},
        "a request with an unknown field": {**case, "request": {**case["request"], "note": "x"}},
        "a request in another protocol": {**case, "request": {**case["request"], "protocol": "bp-oracle/2"}},
    }
    for what, doc in spoiled.items():
        assert not py["vectors-case"].is_valid(doc) and not rs["vectors-case"].is_valid(doc), what
    assert not py["vectors-manifest"].is_valid({**manifest, "cases": [{**manifest["cases"][0], "file": "../x.json"}]})
    assert not rs["vectors-manifest"].is_valid(without(manifest, "checksum"))


# --- the schema and the parser agree on what is malformed ---------------------------------------

NET = Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic")
M = 2  # examples in the batch each response below answers
TRACE = [[[0.5] * 4] * M, [[0.5] * 2] * M]  # z, a or deltas of the right shapes


def good(**fields) -> dict:
    return {"id": "t-1", "grads": [{"W": [[0.0] * 3] * 4, "b": [0.0] * 4}, {"W": [[0.0] * 4] * 2, "b": [0.0] * 2}],
            **fields}


def with_layer(layer: int, **fields) -> dict:
    r = good()
    r["grads"][layer] = {**r["grads"][layer], **fields}
    return r


UNSET = object()


def entry(W=UNSET, b=UNSET) -> dict:
    """A response whose first layer's W[0][0] or b[0] is the value given."""
    r = good()
    layer = r["grads"][0]
    if W is not UNSET:
        layer["W"] = [[W, 0.0, 0.0]] + [[0.0] * 3] * 3
    if b is not UNSET:
        layer["b"] = [b, 0.0, 0.0, 0.0]
    return r


VALID, INVALID, BEYOND = "valid", "invalid", "beyond the schema"


class Literal(str):
    """A number literal that json.dumps cannot write (1e400), for W[0][0] of a response."""


# (what, the response line as an implementation writes it (json.dumps: NaN and Infinity bare),
#  the verdict): VALID both accept; INVALID both reject; BEYOND the parser rejects what the
#  schema cannot see (the id against the request's, the shapes against the network's)
RESPONSES = [
    ("gradients alone", good(), VALID),
    ("gradients with cost, z, a and deltas", good(cost=0.25, z=TRACE, a=TRACE, deltas=TRACE), VALID),
    ("integers, -0, a subnormal and the largest doubles",
     with_layer(0, W=[[0, -0.0, 5e-324], [BIG, -BIG, 1], [2, 3, 4], [5, 6, 7]]), VALID),
    ("a cost that is an integer", good(cost=1), VALID),
    ("x- extensions at the top and in a layer, holding anything",
     with_layer(1, **{"x-norm": {"W": None, "x-deeper": [1, "two", True]}}) | {"x-time-ms": 1.5, "x-": None}, VALID),
    ("unsupported", {"id": "t-1", "unsupported": "no tanh"}, VALID),
    ("unsupported with an empty reason", {"id": "t-1", "unsupported": ""}, VALID),
    ("error", {"id": "t-1", "error": "out of memory"}, VALID),
    ("error with an x- extension", {"id": "t-1", "error": "why", "x-trace": ["a", "b"]}, VALID),

    ("not an object: a list", [1, 2], INVALID),
    ("not an object: a string", "grads", INVALID),
    ("not an object: null", None, INVALID),
    ("no id", without(good(), "id"), INVALID),
    ("an id that is a number", good(id=1), INVALID),
    ("an id that is null", good(id=None), INVALID),
    ("none of grads, unsupported, error", {"id": "t-1"}, INVALID),
    ("none, with a cost", {"id": "t-1", "cost": 1.0}, INVALID),
    ("grads and error", good(error="x"), INVALID),
    ("grads and unsupported", good(unsupported="x"), INVALID),
    ("unsupported and error", {"id": "t-1", "unsupported": "x", "error": "y"}, INVALID),
    ("grads an object", good(grads={"W": [[0.0] * 3] * 4, "b": [0.0] * 4}), INVALID),
    ("grads empty", good(grads=[]), INVALID),
    ("grads null", good(grads=None), INVALID),
    ("a layer without b", {"id": "t-1", "grads": [{"W": [[0.0] * 3] * 4}, good()["grads"][1]]}, INVALID),
    ("a layer without W", {"id": "t-1", "grads": [good()["grads"][0], {"b": [0.0] * 2}]}, INVALID),
    ("a layer with an unknown field", with_layer(1, extra=1), INVALID),
    ("a layer with an X- (capital) field", with_layer(0, **{"X-norm": 1}), INVALID),
    ("a layer that is a list [W, b]", {"id": "t-1", "grads": [[[[0.0] * 3] * 4, [0.0] * 4], good()["grads"][1]]},
     INVALID),
    ("W a flat list", with_layer(0, W=[0.0] * 12), INVALID),
    ("W nested three deep", with_layer(0, W=[[[0.0] * 3]] * 4), INVALID),
    ("W empty", with_layer(0, W=[]), INVALID),
    ("W with empty rows", with_layer(0, W=[[]] * 4), INVALID),
    ("b a matrix", with_layer(0, b=[[0.0]] * 4), INVALID),
    ("b a number", with_layer(0, b=0.0), INVALID),
    ("null in b", entry(b=None), INVALID),
    ("a string number in b", entry(b="1.0"), INVALID),
    ("true in b", entry(b=True), INVALID),
    ("false in W", entry(W=False), INVALID),
    ("an object in W", entry(W={"x-": 1}), INVALID),
    ("NaN in W", entry(W=float("nan")), INVALID),
    ("Infinity in b", entry(b=float("inf")), INVALID),
    ("-Infinity in W", entry(W=-float("inf")), INVALID),
    ("1e400 in W (reads as Infinity)", Literal("1e400"), INVALID),
    ("-1e400 in W (reads as -Infinity)", Literal("-1e400"), INVALID),
    ("an integer of 400 digits in W", entry(W=10**400), INVALID),
    ("a cost that is a list", good(cost=[1.0]), INVALID),
    ("a cost that is null", good(cost=None), INVALID),
    ("a cost that is a string", good(cost="1.0"), INVALID),
    ("a cost that is true", good(cost=True), INVALID),
    ("a cost that is NaN", good(cost=float("nan")), INVALID),
    ("a cost that is -Infinity", good(cost=-float("inf")), INVALID),
    ("an unknown field", good(gradz=1), INVALID),
    ("delta for deltas (a typo)", good(delta=TRACE), INVALID),
    ("an X- (capital) extension", good(**{"X-time": 1}), INVALID),
    ("an x_ field (underscore)", good(x_time=1), INVALID),
    ("deltas empty", good(deltas=[]), INVALID),
    ("deltas null", good(deltas=None), INVALID),
    ("z one matrix, not one per layer", good(z=[[0.5] * 4] * M), INVALID),
    ("a null in a", good(a=[[[0.5, 0.5, 0.5, None]] * M, [[0.5] * 2] * M]), INVALID),
    ("NaN in deltas", good(deltas=[[[0.5, float("nan"), 0.5, 0.5]] * M, [[0.5] * 2] * M]), INVALID),
    ("unsupported that is not a string", {"id": "t-1", "unsupported": 123}, INVALID),
    ("unsupported that is null", {"id": "t-1", "unsupported": None}, INVALID),
    ("unsupported that is true", {"id": "t-1", "unsupported": True}, INVALID),
    ("error that is an object", {"id": "t-1", "error": {"message": "x"}}, INVALID),
    ("unsupported with a cost", {"id": "t-1", "unsupported": "x", "cost": 1.0}, INVALID),
    ("error with deltas", {"id": "t-1", "error": "x", "deltas": TRACE}, INVALID),

    ("another request's id", good(id="t-2"), BEYOND),
    ("W transposed (3 x 4 for 4 x 3)", with_layer(0, W=[[0.0] * 4] * 3), BEYOND),
    ("ragged rows in W", with_layer(0, W=[[0.0] * 3, [0.0] * 2, [0.0] * 3, [0.0] * 3]), BEYOND),
    ("b too long", with_layer(1, b=[0.0] * 3), BEYOND),
    ("one layer of two", {"id": "t-1", "grads": good()["grads"][:1]}, BEYOND),
    ("three layers of two", {"id": "t-1", "grads": good()["grads"] + good()["grads"][:1]}, BEYOND),
    ("deltas with 5 rows for a batch of 2", good(deltas=[[[0.5] * 4] * 5, [[0.5] * 2] * 5]), BEYOND),
    ("z for one layer of two", good(z=TRACE[:1]), BEYOND),
]


def _line(response) -> str:
    """The line as an implementation might write it: Python's json.dumps, NaN and Infinity bare
    (not JSON); a Literal is a number written as it stands, where W[0][0] goes."""
    if isinstance(response, Literal):
        return json.dumps(entry(W=0.0)).replace("[[0.0, 0.0, 0.0]", f"[[{response}, 0.0, 0.0]", 1)
    return json.dumps(response)


def _parser_accepts(line: str) -> bool:
    try:
        parse_response(parse_line(line), "t-1", NET, M)
    except ProtocolError:
        return False
    return True


@pytest.mark.parametrize("what, response, verdict", RESPONSES, ids=[r[0] for r in RESPONSES])
def test_the_response_schema_and_the_parser_agree(what, response, verdict, py, rs):
    line = _line(response)
    # what the schemas see: the line as a lenient reader decodes it (Python's json.loads lets NaN
    # and Infinity through; a strict reader, like parse_line, rejects the line before any schema)
    decoded = json.loads(line)
    by_py, by_rs = py["response"].is_valid(decoded), rs["response"].is_valid(decoded)
    assert by_py == by_rs, f"jsonschema says {by_py}, jsonschema-rs says {by_rs}"
    assert _parser_accepts(line) == (verdict == VALID)
    assert by_py == (verdict != INVALID)


def test_the_response_table_has_wrong_types_missing_and_extra_fields_nans_nulls_bools_and_shapes():
    kinds = {"wrong type": "a string number", "missing field": "no id", "extra field": "an unknown field",
             "NaN": "NaN in W", "null": "null in b", "bool": "true in b", "shape": "W transposed"}
    whats = [r[0] for r in RESPONSES if r[2] != VALID]
    assert all(any(w.startswith(start) for w in whats) for start in kinds.values())
    assert len(set(r[0] for r in RESPONSES)) == len(RESPONSES)


# --- requests: the schema is the spec's checks, plus what the oracle always sends -----------------

BOTH, SCHEMA_ONLY = "both reject", "only the schema rejects"
SPEC_NET = Network([3, 4, 2], ["tanh", "sigmoid"], "cross_entropy")


def _request(**network) -> dict:
    net = Network.from_dict({**SPEC_NET.to_dict(), **network})
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    y = np.full((2, 2), 0.5) if net.cost != "log_likelihood" else np.eye(2)
    return json.loads(dumps(encode_request("r-1", net, net.init_params(0), x, y)))


REMOVE = object()


def changed(path: str, value, **network):
    """The request with the field at `path` (keys and indices joined by '.') set to `value`, or
    removed for REMOVE."""
    req = _request(**network)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = req
    for p in parents:
        target = target[p]
    if value is REMOVE:
        del target[last]
    else:
        target[last] = value
    return req


def _spec_accepts(req: dict) -> bool:
    """What the vector loader and Network check of a request: the network, params, x and y."""
    try:
        net = Network.from_dict(req["network"])
        net.check_params([(np.asarray(p["W"], dtype=np.float64), np.asarray(p["b"], dtype=np.float64))
                          for p in req["params"]])
        net.check_batch(req["x"], req["y"])
    except (ValueError, TypeError, KeyError):
        return False
    return True


REQUESTS = [
    ("as the oracle sends it", _request(), VALID),
    ("log_likelihood with one-hot targets", _request(cost="log_likelihood", activations=["tanh", "softmax"]), VALID),
    ("an unknown network field", changed("network.momentum", 0.9), BOTH),
    ("one size only", changed("network.sizes", [3]), BOTH),
    ("a size of 0", changed("network.sizes.1", 0), BOTH),
    ("a size of 2.5", changed("network.sizes.1", 2.5), BOTH),
    ("a size that is a string", changed("network.sizes.1", "4"), BOTH),
    ("an unknown activation", changed("network.activations.0", "swish"), BOTH),
    ("an unknown cost", changed("network.cost", "mse"), BOTH),
    ("a negative l2", changed("network.l2", -0.1), BOTH),
    ("an l1 that is a string", changed("network.l1", "0"), BOTH),
    ("an l2 that is true", changed("network.l2", True), BOTH),
    ("a null in W", changed("params.0.W.0.0", None), BOTH),
    ("a string in x", changed("x.0.0", "1"), BOTH),
    ("no examples", changed("x", []), BOTH),
    ("a cross_entropy target above 1", changed("y.0.0", 1.5), BOTH),
    ("a negative log_likelihood target",
     changed("y.0", [-0.5, 1.5], cost="log_likelihood", activations=["tanh", "softmax"]), BOTH),
    # the oracle always sends these fields, in this form, though the spec's checks take them
    # otherwise (Network.from_dict) or do not read them
    ("no l2 (Network.from_dict takes 0)", changed("network.l2", REMOVE), SCHEMA_ONLY),
    ("one activation name for all layers", changed("network.activations", "sigmoid"), SCHEMA_ONLY),
    ("no dtype", changed("dtype", REMOVE), SCHEMA_ONLY),
    ("an unknown dtype", changed("dtype", "float8"), SCHEMA_ONLY),
    ("another protocol", changed("protocol", "bp-oracle/2"), SCHEMA_ONLY),
    ("no id", changed("id", REMOVE), SCHEMA_ONLY),
    ("an unknown field", changed("seed", 1), SCHEMA_ONLY),
    ("a params layer with an unknown field", changed("params.0.note", "x"), SCHEMA_ONLY),
    # and what the schema cannot see
    ("a size of 4.0 (JSON Schema's integer)", changed("network.sizes.1", 4.0), BEYOND),
    ("two activations for three layers", changed("network.sizes", [3, 4, 4, 2]), BEYOND),
    ("softmax on a hidden layer", changed("network.activations.0", "softmax"), BEYOND),
    ("cross_entropy on a tanh output", changed("network.activations.1", "tanh"), BEYOND),
    ("W of the wrong shape", changed("params.0.W", [[0.0] * 4] * 3), BEYOND),
    ("y with another batch size", changed("y", [[0.5, 0.5]]), BEYOND),
    ("log_likelihood targets that do not sum to 1",
     changed("y.0", [0.5, 0.4], cost="log_likelihood", activations=["tanh", "softmax"]), BEYOND),
]


@pytest.mark.parametrize("what, request_, verdict", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_the_request_schema_and_the_spec_agree(what, request_, verdict, py, rs):
    by_py, by_rs = py["request"].is_valid(request_), rs["request"].is_valid(request_)
    assert by_py == by_rs, f"jsonschema says {by_py}, jsonschema-rs says {by_rs}"
    assert by_py == (verdict in (VALID, BEYOND))
    assert _spec_accepts(request_) == (verdict in (VALID, SCHEMA_ONLY))
