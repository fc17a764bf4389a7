"""The protocol `bp-oracle/1`: one JSON request per line to the implementation's stdin, one JSON
response per line from its stdout, in order. See docs/protocol.md for the contract.

Everything a response can get wrong is a `ProtocolError` with a message that says what: not
JSON, not an object, a wrong id, a missing or extra field, a wrong shape, a null, a NaN or Inf.
A line that is not the response to the current request at all (not JSON, not an object, no id
or another id) is the subclass `NotTheResponse`: the conversation is out of step, so the runner
starts a fresh process for the next request. A UTF-8 BOM before a line is skipped, and fields
whose names start with `x-` are extensions, ignored wherever they appear in a response object.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from bp_spec import Layer, Network

PROTOCOL = "bp-oracle/1"
OPTIONAL_TENSORS = ("z", "a", "deltas")
EXTENSION_PREFIX = "x-"  # a field named so is an extension: ignored, at any depth
BOM = "\ufeff"


class ProtocolError(Exception):
    """A response that breaks the protocol: judged ERROR, with this message."""


class NotTheResponse(ProtocolError):
    """A line that is not the response to the current request (a log line, a banner, an answer
    with another id): judged ERROR, and the program is restarted before the next request."""


def _numbers(arr: np.ndarray) -> list:
    # float → shortest round-trip decimal (Python's repr), via json
    return np.asarray(arr, dtype=np.float64).tolist()


def encode_request(case_id: str, net: Network, params: list[Layer], x: np.ndarray, y: np.ndarray,
                   dtype: str = "float64") -> dict:
    return {
        "protocol": PROTOCOL, "id": case_id, "network": net.to_dict(),
        "params": [{"W": _numbers(W), "b": _numbers(b)} for W, b in params],
        "x": _numbers(x), "y": _numbers(y), "dtype": dtype,
    }


def dumps(obj: Any) -> str:
    """One line of canonical JSON: sorted keys, no spaces, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass
class Response:
    """A parsed response. `kind` is "grads", "unsupported" or "error"."""

    id: str
    kind: str
    grads: Optional[list[Layer]] = None
    cost: Optional[float] = None
    z: Optional[list[np.ndarray]] = None
    a: Optional[list[np.ndarray]] = None
    delta: Optional[list[np.ndarray]] = None
    reason: str = ""


def _reject_constant(name: str):
    raise ProtocolError(f"non-finite number {name} in the response (JSON has no NaN/Infinity)")


def parse_line(line: str | bytes) -> dict:
    """A JSON object from one line, or a ProtocolError."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise NotTheResponse("response is not UTF-8 text") from None
    text = line.strip()
    while text.startswith(BOM):  # a UTF-8 BOM at the start of the stream or of a line
        text = text[len(BOM):].strip()
    if not text:
        raise NotTheResponse("empty response line")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        raise NotTheResponse(f"response is not JSON ({e}): {_preview(text)}") from None
    if not isinstance(obj, dict):
        raise NotTheResponse(f"response must be a JSON object, got {type(obj).__name__}: {_preview(text)}")
    return obj


def _preview(text: str, n: int = 80) -> str:
    return repr(text[:n] + ("…" if len(text) > n else ""))


def _matrix(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A float64 array of exactly `shape` from nested lists of numbers (no bools, nulls, strings)."""

    def walk(v, depth):
        if depth == len(shape):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                kind = "null" if v is None else type(v).__name__
                raise ProtocolError(f"{what} holds a {kind} where a number belongs")
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an integer literal past float64's range, e.g. 1 and 400 zeros
                raise ProtocolError(f"{what} holds a number too large for float64") from None
            if not finite:
                raise ProtocolError(f"{what} holds a non-finite number")
            return
        if not isinstance(v, list):
            raise ProtocolError(f"{what} must be nested lists of shape {shape}, found {type(v).__name__} at depth {depth}")
        if len(v) != shape[depth]:
            raise ProtocolError(f"{what} has the wrong shape: expected {shape}, "
                                f"found length {len(v)} at depth {depth}")
        for item in v:
            walk(item, depth + 1)

    walk(value, 0)
    try:
        return np.asarray(value, dtype=np.float64).reshape(shape)
    except OverflowError:
        raise ProtocolError(f"{what} holds a number too large for float64") from None


def _unknown(obj: dict, known: set) -> list[str]:
    """The fields of `obj` that are neither known nor extensions, sorted."""
    return sorted(str(k) for k in obj if k not in known and not str(k).startswith(EXTENSION_PREFIX))


def parse_response(obj: dict, expected_id: str, net: Network, m: int) -> Response:
    """Validate a decoded response against the request it answers."""
    if "id" not in obj:
        raise NotTheResponse("response has no id")
    if obj["id"] != expected_id:
        raise NotTheResponse(f"wrong id: expected {expected_id!r}, got {obj['id']!r} (responses must come in order)")
    kinds = [k for k in ("grads", "unsupported", "error") if k in obj]
    if len(kinds) != 1:
        raise ProtocolError(f"response needs exactly one of grads, unsupported, error; has {kinds or 'none'}")
    kind = kinds[0]
    known = {"id", kind} if kind != "grads" else {"id", "grads", "cost", *OPTIONAL_TENSORS}
    unknown = _unknown(obj, known)
    if unknown:
        raise ProtocolError(f"unknown field(s) {', '.join(unknown)} (extensions must start with 'x-')")
    if kind != "grads":
        reason = obj[kind]
        if not isinstance(reason, str):
            raise ProtocolError(f"{kind} must be a string saying why")
        return Response(expected_id, kind, reason=reason)
    grads_in = obj["grads"]
    if not isinstance(grads_in, list) or len(grads_in) != net.L:
        n = len(grads_in) if isinstance(grads_in, list) else type(grads_in).__name__
        raise ProtocolError(f"grads must be a list of {net.L} layers, got {n}")
    grads = []
    for l, (g, (w_shape, b_shape)) in enumerate(zip(grads_in, net.shapes), start=1):
        extra = _unknown(g, {"W", "b"}) if isinstance(g, dict) else []
        if not isinstance(g, dict) or "W" not in g or "b" not in g or extra:
            raise ProtocolError(f"grads[{l - 1}] must be an object with exactly W and b (and any x- extensions)"
                                + (f"; unknown field(s) {', '.join(extra)}" if extra else ""))
        grads.append(Layer(_matrix(g["W"], w_shape, f"grads[{l - 1}].W (layer {l})"),
                           _matrix(g["b"], b_shape, f"grads[{l - 1}].b (layer {l})")))
    response = Response(expected_id, "grads", grads=grads)
    if "cost" in obj:
        response.cost = float(_matrix(obj["cost"], (), "cost"))
    for name in OPTIONAL_TENSORS:
        if name in obj:
            values = obj[name]
            if not isinstance(values, list) or len(values) != net.L:
                raise ProtocolError(f"{name} must be a list over the {net.L} layers")
            arrays = [_matrix(v, (m, n), f"{name}[{l - 1}] (layer {l})")
                      for l, (v, n) in enumerate(zip(values, net.sizes[1:]), start=1)]
            setattr(response, "delta" if name == "deltas" else name, arrays)
    return response
