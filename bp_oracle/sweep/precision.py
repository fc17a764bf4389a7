"""Running manual_bp in float32, float16 or bfloat16, to be judged against the float64 reference.

float32 and float16 are NumPy's own: manual_bp runs on them as it is (NumPy's float16 products
and sums round each result to float16; matrix products accumulate in float32 inside).

bfloat16 is emulated here, because NumPy has no bfloat16 of its own: `ml_dtypes.bfloat16`
arrays are a "void" kind that `Network.check_params` refuses, and NumPy promotes half their
operations (matmul, where) to float32 anyway. So the arrays are float32 of a subclass,
`BFloat16Emulated`, whose every NumPy operation computes in float32 and rounds its result to
the nearest bfloat16 (ties to even, by ml_dtypes): bfloat16 storage with float32 arithmetic
inside each operation, as NumPy's float16 and as accelerators do it. manual_bp's input checks
turn any subclass back into a plain array, so the emulated run checks plain copies first and then
runs manual_bp's own loop on the emulated arrays (`manual_bp.trace_with`, which checks nothing).

The inputs are rounded to the dtype first, and the reference is computed in float64 on those
rounded values, so what is judged is manual_bp's arithmetic alone, not the rounding of its inputs.
"""

from __future__ import annotations

from typing import Callable

import ml_dtypes
import numpy as np

import manual_bp as mb
from bp_spec import Layer

from ..dtypes import DTYPES, finfo, unit_roundoff  # noqa: F401  (re-exported for the sweep)


# --- bfloat16 emulation ---------------------------------------------------------------------


def round_to_bfloat16(values):
    """The nearest bfloat16 of each float32, back in float32."""
    return np.asarray(values, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


class BFloat16Emulated(np.ndarray):
    """float32 numbers that are all bfloat16 values: each operation rounds its result."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        inputs = tuple(_plain(i) for i in inputs)
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            for o in kwargs["out"]:
                if isinstance(o, np.ndarray) and o.dtype.kind == "f":
                    o[...] = round_to_bfloat16(o)
            return out[0] if len(out) == 1 else out
        return _emulated(result)

    def __array_function__(self, func, types, args, kwargs):
        return _emulated(func(*_plain(args), **_plain(kwargs)))


def _plain(value):
    """Unwrap emulated arrays (inside tuples, lists and dicts too) to plain float32 arrays."""
    if isinstance(value, BFloat16Emulated):
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _emulated(result):
    if isinstance(result, tuple):
        return tuple(_emulated(r) for r in result)
    if isinstance(result, np.ndarray):
        if result.dtype.kind == "f":
            result = round_to_bfloat16(result)
        return result.view(BFloat16Emulated)
    if isinstance(result, np.floating):
        return np.float32(round_to_bfloat16(result))
    return result


def emulated_backprop_trace(net, params, x, y) -> mb.Trace:
    """`manual_bp.backprop_trace` on emulated arrays: the input checks run first, on plain copies
    (their result is dropped), then manual_bp's own loop runs on the arrays as they are."""
    net.check_params([Layer(np.asarray(W), np.asarray(b)) for W, b in params])
    net.check_batch(np.asarray(x), np.asarray(y))
    return mb.trace_with(net, params, x, y)


# --- a case in a dtype ----------------------------------------------------------------------


def in_dtype(case, dtype: str):
    """(net, params, x, y) stored in `dtype` (bfloat16: emulated), and the same numbers in
    float64, on which the reference runs."""
    net, params, x, y = case
    if dtype == "bfloat16":
        low = lambda v: round_to_bfloat16(v).view(BFloat16Emulated)  # noqa: E731
    else:
        low = lambda v: np.asarray(v).astype(dtype)  # noqa: E731
    params_low = [Layer(low(W), low(b)) for W, b in params]
    x_low, y_low = low(x), low(y)
    wide = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    exact = (net, [Layer(wide(W), wide(b)) for W, b in params_low], wide(x_low), wide(y_low))
    return (net, params_low, x_low, y_low), exact


def run_candidate(candidate: Callable | None, case_low, dtype: str):
    """The candidate's record on the dtype's case: manual_bp's `backprop_trace` by default.
    Overflow and the like are not warnings here: a non-finite result fails its check."""
    with np.errstate(all="ignore"):
        if candidate is None:
            return (emulated_backprop_trace if dtype == "bfloat16" else mb.backprop_trace)(*case_low)
        return candidate(*case_low)
