"""Arrays kept from one backprop call to the next, and elementwise work done a block of rows at a time.

Why: a layer of a large batch is an array of tens of MiB. glibc hands every array over 32 MiB out
as fresh pages from the kernel and gives them back on free, so each call pays for page faults and
zeroing on every z, a, δ and on every temporary inside σ and σ' (at [4096]×3 m=2048 float64,
~9,000 faults and 0.7 s of kernel time in a 4.1 s call). Keeping z^l and a^l between calls (each
δ^l is written over a^l, see backprop._backward), and computing σ, σ' and BP1 on blocks of rows
small enough to stay in cache (their temporaries are then reused by malloc and never reach the
kernel), took that call to 3.5 s with 1,250 faults (the returned gradients are fresh arrays: the
rest), and [1024]×5 m=1024 from 0.315 to 0.299 s; below about half a MiB a layer nothing changes,
so small batches keep the plain path (scripts/bench_backprop.py, BENCHMARKS.md).

The weight gradients a call returns are arrays of the same size, mapped fresh on every call too:
the workspace keeps them as well, and a later call writes into one only once no reference to it is
left outside the workspace (`gradient_array`): while the caller holds a gradient, or any view of it,
it is theirs. That took the page faults of [1024]×5 m=1024 float64 from ~3,900 a call to 0 and the
call from 279 to 266 ms, and [4096]×3 m=2048 float32 from 1,138 faults to 0 and 1.80 to 1.74 s.

Results are bit for bit those of the plain path: every blocked function acts on each example
(row) alone, and the products are the same whole-batch GEMMs. That holds for the shipped
activations and costs in one dtype, so only those calls take this path (`suits`).
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

import numpy as np

from .activations import is_shipped_activation
from .costs import is_shipped_cost

Array = np.ndarray

BLOCK_BYTES = 1 << 18  # 256 KiB of rows per block: inside L2, so σ's temporaries stay in cache
LARGE_BYTES = 1 << 19  # a batch whose widest layer holds this much uses a workspace by default
KEPT_GRADIENTS = 2  # per layer: a training loop still holds the last step's gradients while it asks for the next


def _references(arrays: list, i: int) -> int:
    """The reference count of arrays[i] as this interpreter reports it (the call's own included)."""
    return sys.getrefcount(arrays[i])


# What _references reports for an array that only a list holds: measured, not assumed (the
# interpreter's own references to an argument differ between versions). Counts are exact only
# with a global interpreter lock; elsewhere (PyPy, free-threaded builds) gradients are never reused.
_UNHELD = _references([np.empty(0)], 0) if hasattr(sys, "getrefcount") else None
REUSES_GRADIENTS = (sys.implementation.name == "cpython" and _UNHELD is not None
                    and getattr(sys, "_is_gil_enabled", lambda: True)())


class Workspace:
    """Arrays a driver writes its intermediates into, kept for the next call of the same shapes.

    `array(key, shape, dtype)` returns the array kept under `key`, or a new one when there is none
    of that shape and dtype. What the caller gets back from backprop never aliases these, and a
    gradient it got back is written again only once the caller has let go of it (`gradient_array`):
    to the caller, each call's gradients are new arrays. One call at a time uses it (`hold`): a
    second one meanwhile, from another thread or from inside the first, is told no and computes
    with fresh arrays.
    """

    def __init__(self):
        self._arrays: dict[tuple[str, int], Array] = {}
        self._gradients: dict[tuple[str, int], list[Array]] = {}
        self._lock = threading.Lock()

    def array(self, key: tuple[str, int], shape: tuple[int, ...], dtype) -> Array:
        kept = self._arrays.get(key)
        if kept is None or kept.shape != shape or kept.dtype != dtype:
            kept = self._arrays[key] = np.empty(shape, dtype)
        return kept

    def gradient_array(self, key: tuple[str, int], shape: tuple[int, ...], dtype) -> Array:
        """An array for a gradient the call returns: one kept here that the caller has let go of
        (no reference to it, or to any view of it, is left outside this workspace), else a new one,
        kept for later while fewer than KEPT_GRADIENTS are kept under `key`."""
        if not REUSES_GRADIENTS:
            return np.empty(shape, dtype)
        kept = self._gradients.setdefault(key, [])
        free = [i for i in range(len(kept)) if _references(kept, i) == _UNHELD]
        for i in free:
            if kept[i].shape == shape and kept[i].dtype == dtype:
                return kept[i]
        new = np.empty(shape, dtype)
        if free:  # one the caller let go of, of another shape or dtype: replaced
            kept[free[0]] = new
        elif len(kept) < KEPT_GRADIENTS:
            kept.append(new)
        return new

    def hold(self) -> bool:
        """Take the workspace for one call (release with `let_go`); False if a call holds it."""
        return self._lock.acquire(blocking=False)

    def let_go(self) -> None:
        self._lock.release()

    @property
    def in_use(self) -> bool:
        return self._lock.locked()

    def keep_layers(self, L: int) -> None:
        """Drop the arrays of layers a network of depth L does not have (a deeper one's, earlier)."""
        for kept in (self._arrays, self._gradients):
            for key in [k for k in kept if k[1] >= L]:
                del kept[key]

    def overlaps(self, *arrays: Array) -> bool:
        """Whether any of `arrays` shares memory with an array kept here (an input that is a
        workspace's z or a must not be overwritten before it is read)."""
        return any(np.may_share_memory(a, kept) for a in arrays for kept in self._arrays.values())

    @property
    def nbytes(self) -> int:
        """The memory held between calls: z^l and a^l, and the gradients kept for reuse (those
        the caller still holds are counted too)."""
        return (sum(a.nbytes for a in self._arrays.values())
                + sum(g.nbytes for kept in self._gradients.values() for g in kept))

    def release(self) -> None:
        """Let go of every array held (the next call allocates again; gradients the caller holds
        stay the caller's)."""
        self._arrays.clear()
        self._gradients.clear()


_threads = threading.local()


def thread_workspace() -> Workspace:
    """This thread's own workspace, used by `backprop` for large batches unless told otherwise.
    It holds the last large call's z^l and a^l and up to two sets of weight gradients (at [4096]×3
    m=2048 float64: 256 MiB and 2 × 256 MiB); `thread_workspace().release()` gives that memory back."""
    workspace = getattr(_threads, "workspace", None)
    if workspace is None:
        workspace = _threads.workspace = Workspace()
    return workspace


def is_large(x: Array, sizes) -> bool:
    """Whether the widest layer the batch computes, (m, max n_l) for l ≥ 1, holds at least
    LARGE_BYTES (the input x is the caller's array, not an intermediate)."""
    return x.shape[0] * max(sizes[1:]) * x.itemsize >= LARGE_BYTES


def suits(net, params, x: Array, y: Array) -> bool:
    """Whether the workspace path computes exactly what the plain one does for this call: one dtype
    throughout (the plain path promotes a mix; kept arrays are of x's dtype), and the shipped
    activations and cost, which act on each example alone and keep their input's dtype, so that
    blocks of rows are exact. A registered σ or cost takes the plain path: nothing is assumed of it."""
    dtype = x.dtype
    return (y.dtype == dtype and all(W.dtype == dtype and b.dtype == dtype for W, b in params)
            and all(is_shipped_activation(name) for name in net.activations) and is_shipped_cost(net.cost))


def rows_into(out: Array, f: Callable[..., Array], *arrays: Array) -> Array:
    """out = f(*arrays), computed a block of rows (examples) at a time.

    Exact for any f that treats each row alone (σ, σ', BP1's error, a Hadamard product), and out
    may be one of the arrays (each block is read before it is written)."""
    rows = max(1, BLOCK_BYTES // max(1, out[0].nbytes))
    for start in range(0, out.shape[0], rows):
        block = slice(start, start + rows)
        out[block] = f(*(a[block] for a in arrays))
    return out
