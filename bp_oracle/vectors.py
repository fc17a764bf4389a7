"""Known-answer vectors: a suite written as versioned, checksummed JSON files, and the offline
grader that judges an implementation's responses against them with the same verdicts.

A folder holds `manifest.json` and one `<id>.json` per case. Each case file has the exact
protocol request (in the vectors' dtype, every number exactly representable in it), the expected
z, a, δ, cost and gradients (and ∇_a C, σ'(z^L) where finite, and the answers at the other end of
a kink's subgradients where a unit sits on one), the tolerance the case is judged by, its
features and flags, and a `checksum`: sha256 of the file's canonical JSON without that field. The
manifest lists every file with the sha256 of its bytes, and the plan (suite, seed, dtype,
supports). Same version + plan → byte-identical files. A folder is written whole or not at all:
into a temporary folder beside it, renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bp_spec import Layer, Network

from .check import CheckedCase, Plan, Report, expected, plan_cases, plan_of, verdict_for
from .tolerance import Tolerance
from .expected import expected_from_json, expected_to_json
from .judge import ERROR, Verdict
from .protocol import PROTOCOL, ProtocolError, dumps, encode_request, parse_line, parse_response
from .suites import OracleCase

SCHEMA = "bp-oracle-vectors/2"
MANIFEST = "manifest.json"


def _version() -> str:
    from . import __version__
    return __version__


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _with_checksum(obj: dict) -> dict:
    body = {k: v for k, v in obj.items() if k != "checksum"}
    return {**body, "checksum": _sha256(dumps(body).encode("utf-8"))}


def _file_bytes(obj: dict) -> bytes:
    return (dumps(obj) + "\n").encode("utf-8")


def _plan_json(plan: Plan) -> dict:
    return {"suite": plan.suite, "seed": plan.seed, "dtype": plan.dtype,
            "supports": list(plan.supports) if plan.supports is not None else None}


def case_document(case: OracleCase, plan: Plan) -> dict:
    exp = expected(case, plan)
    return _with_checksum({
        "schema": SCHEMA, "version": _version(), **_plan_json(plan), "id": case.id,
        "request": encode_request(case.id, case.net, case.params, case.x, case.y, plan.dtype),
        "expected": expected_to_json(exp),
        "tolerance": asdict(plan.tolerance(case, exp)),
        "features": list(case.features), "flags": dict(sorted(case.flags.items())),
    })


def write_vectors(out: str, suite: str = "quick", seed: int = 0, on_case=None, **plan) -> Path:
    """Write the suite's vectors into folder `out`, whole or not at all; returns the manifest
    path. `out` must be missing, empty, or a folder of vectors written before (it is replaced).
    Keyword arguments: dtype and supports (see `bp_oracle.check.Plan`)."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {out!r} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise ValueError(f"--out {out!r} is a folder with other files in it, not vectors: give a new or empty folder")
    plan = plan_of(suite, seed, **plan)
    cases, _ = plan_cases(plan)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        entries = []
        for case in cases:
            try:
                data = _file_bytes(case_document(case, plan))
            except (ValueError, TypeError) as e:  # e.g. a number JSON cannot hold: name the case
                raise RuntimeError(f"vectors: case {case.id} could not be written: {e}") from e
            name = f"{case.id}.json"
            (work / name).write_bytes(data)
            entries.append({"id": case.id, "file": name, "sha256": _sha256(data)})
            if on_case:
                on_case(case)
        manifest = _with_checksum({"schema": SCHEMA, "version": _version(), "protocol": PROTOCOL,
                                   **_plan_json(plan), "cases": entries})
        (work / MANIFEST).write_bytes(_file_bytes(manifest))
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return folder / MANIFEST


# --- loading, strictly -----------------------------------------------------------------------


class VectorError(ValueError):
    """A vector folder or file that fails the schema or its checksum."""


def _load_json(path: Path) -> tuple[Any, bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VectorError(f"{path}: missing") from None
    except OSError as e:
        raise VectorError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_nan), data
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError) as e:
        raise VectorError(f"{path}: not valid JSON ({e})") from None


def _no_nan(name):
    raise ValueError(f"non-finite number {name}")


def _require(obj: Any, key: str, kind, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise VectorError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise VectorError(f"{where}: field {key!r} must be {getattr(kind, '__name__', kind)}")
    return value


def _check_checksum(obj: dict, where: str) -> None:
    claimed = _require(obj, "checksum", str, where)
    body = {k: v for k, v in obj.items() if k != "checksum"}
    actual = _sha256(dumps(body).encode("utf-8"))
    if claimed != actual:
        raise VectorError(f"{where}: checksum does not match the contents (claimed {claimed[:19]}…, "
                          f"actual {actual[:19]}…): the file was changed or corrupted")


def load_case(path: Path, sha256: str | None = None) -> tuple[OracleCase, Any, Tolerance]:
    """(case, expected, the case's tolerance) from one vector file, validated."""
    doc, data = _load_json(path)
    where = str(path)
    if sha256 is not None and _sha256(data) != sha256:
        raise VectorError(f"{where}: sha256 does not match the manifest")
    if _require(doc, "schema", str, where) != SCHEMA:
        raise VectorError(f"{where}: schema {doc['schema']!r} is not {SCHEMA!r}")
    _check_checksum(doc, where)
    case_id = _require(doc, "id", str, where)
    request = _require(doc, "request", dict, where)
    try:
        with _field("request.network"):
            net = Network.from_dict(_require(request, "network", dict, where))
        with _field("request.params"):
            params = net.check_params([(np.asarray(p["W"], dtype=np.float64), np.asarray(p["b"], dtype=np.float64))
                                       for p in _require(request, "params", list, where)])
        with _field("request"):  # the spec's messages name x or y
            x, y = net.check_batch(_require(request, "x", list, where), _require(request, "y", list, where))
        exp = _expected(_require(doc, "expected", dict, where))
        _check_expected_shapes(net, x.shape[0], exp)
        given = _require(doc, "tolerance", dict, where)
        with _field("tolerance"):
            tolerance = Tolerance(float(given["rtol"]), float(given["atol"]))
        if not (np.isfinite(tolerance.rtol) and np.isfinite(tolerance.atol)) or min(tolerance.rtol, tolerance.atol) < 0:
            raise ValueError("the tolerance must be finite and ≥ 0")
    except VectorError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise VectorError(f"{where}: {e}") from None
    if request.get("id") != case_id:
        raise VectorError(f"{where}: request id {request.get('id')!r} does not match {case_id!r}")
    case = OracleCase(case_id, net, [Layer(W, b) for W, b in params], x, y,
                      tuple(_require(doc, "features", list, where)), dict(_require(doc, "flags", dict, where)))
    return case, exp, tolerance


@contextmanager
def _field(name: str):
    """A conversion that fails inside says which field of the vector file it was converting."""
    try:
        yield
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{name}: {f'missing {e}' if isinstance(e, KeyError) else e}") from None


def _tensors(values) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


# the expected answers' fields, each converted on its own first so that a bad one is named
_EXPECTED_FIELDS = {"z": _tensors, "a": _tensors, "deltas": _tensors, "cost": float,
                    "grads": lambda grads: [_tensors([g["W"], g["b"]]) for g in grads]}


def _expected(doc: dict):
    """The expected answers of a vector file (expected_from_json), a field that does not convert named."""
    for key, convert in _EXPECTED_FIELDS.items():
        with _field(f"expected.{key}"):
            convert(doc[key])
    with _field("expected"):
        return expected_from_json(doc)


def _check_expected_shapes(net: Network, m: int, exp) -> None:
    for name, values in (("z", exp.z), ("a", exp.a), ("deltas", exp.delta)):
        if [v.shape for v in values] != [(m, n) for n in net.sizes[1:]]:
            raise ValueError(f"expected {name} has the wrong shapes")
    if [(W.shape, b.shape) for W, b in exp.grads] != net.shapes:
        raise ValueError("expected grads have the wrong shapes")


def load_vectors(folder: str, with_manifest: bool = False):
    """Every (case, expected, tolerance) of a vector folder, validated; with the manifest too
    when `with_manifest`."""
    root = Path(folder)
    if not root.is_dir():
        raise VectorError(f"--vectors {folder!r} is not a folder")
    manifest, _ = _load_json(root / MANIFEST)
    where = str(root / MANIFEST)
    if _require(manifest, "schema", str, where) != SCHEMA:
        raise VectorError(f"{where}: schema {manifest['schema']!r} is not {SCHEMA!r}")
    _check_checksum(manifest, where)
    loaded = []
    for entry in _require(manifest, "cases", list, where):
        name = _require(entry, "file", str, where)
        if os.path.basename(name) != name:
            raise VectorError(f"{where}: file name {name!r} must not contain a path")
        loaded.append(load_case(root / name, _require(entry, "sha256", str, where)))
    return (loaded, manifest) if with_manifest else loaded


# --- grading -----------------------------------------------------------------------------------


def grade(folder: str, results: str, allow_skip: bool = False) -> tuple[Report, list[str]]:
    """Judge a JSON Lines file of responses against the vectors. Returns the report and the
    problems that belong to no case (unparseable lines, unknown or repeated ids)."""
    loaded, manifest = load_vectors(folder, with_manifest=True)
    by_id = {case.id: (case, exp, tol) for case, exp, tol in loaded}
    answers: dict[str, Any] = {}
    stray: list[str] = []
    try:
        lines = Path(results).read_bytes().splitlines()
    except OSError as e:
        raise ValueError(f"--results {results!r}: cannot read ({e.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = parse_line(line)
        except ProtocolError as e:
            stray.append(f"line {number}: {e}")
            continue
        rid = obj.get("id")
        if rid not in by_id:
            stray.append(f"line {number}: id {rid!r} is not a case of these vectors")
        elif rid in answers:
            stray.append(f"line {number}: a second response for {rid!r}")
        else:
            answers[rid] = obj
    supports = manifest.get("supports")
    plan = Plan(str(manifest.get("suite", "vectors")), int(manifest.get("seed", 0)), dtype=str(manifest.get("dtype", "float64")),
                supports=tuple(supports) if isinstance(supports, list) else None, allow_skip=allow_skip)
    report = Report(plan.suite, plan.seed, results, plan=plan, problems=[f"results file {s}" for s in stray],
                    tool="grade")
    for case, exp, tol in loaded:
        if case.id not in answers:
            verdict = Verdict(ERROR, message="no response for this case in the results file")
        else:
            try:
                verdict = verdict_for(case, exp, parse_response(answers[case.id], case.id, case.net, case.m), tol)
            except ProtocolError as e:
                verdict = Verdict(ERROR, message=str(e))
        report.results.append(CheckedCase.of(case, verdict, tolerance=tol))
    return report, stray
