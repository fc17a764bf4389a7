"""The floating-point types a request or a sweep can be made in, and what each can hold.

float64, float32 and float16 are NumPy's; bfloat16 comes from ml_dtypes (NumPy has no bfloat16
arithmetic of its own). Neither side's math is here: only rounding to a type and its limits.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

DTYPES = ("float64", "float32", "float16", "bfloat16")


def storage(dtype: str):
    """The NumPy (or ml_dtypes) type of `dtype`, or a ValueError naming the known ones."""
    if dtype == "bfloat16":
        return ml_dtypes.bfloat16
    if dtype in DTYPES:
        return np.dtype(dtype)
    raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")


def finfo(dtype: str):
    return ml_dtypes.finfo(storage(dtype))


def unit_roundoff(dtype: str) -> float:
    """u = 2^−p for a p-bit significand: the largest relative error of one rounding."""
    return float(finfo(dtype).eps) / 2


def round_to(dtype: str, values) -> np.ndarray:
    """`values` rounded to the nearest number of `dtype` (ties to even), as float64: numbers a
    program working in `dtype` reads exactly."""
    return np.asarray(values, dtype=np.float64).astype(storage(dtype)).astype(np.float64)
