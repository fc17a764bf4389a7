"""The opt-in fast path for large batches: backprop into arrays that a `Workspace` keeps.

    ws = manual_bp.Workspace()
    grads = manual_bp.backprop(net, params, x, y, workspace=ws)  # or ws.backprop(net, params, x, y)

As with NumPy's `out=`, the arrays a call returns belong to the workspace: the next call of the
same workspace overwrites them. Use (or copy) the gradients before calling it again, and give each
thread its own workspace. `manual_bp.training` opts in for large batches: an SGD step reads its
gradients once, into new params, before it asks for the next ones.

Why: a layer of a large batch is an array of tens of MiB. glibc hands every array over 32 MiB out
as fresh pages from the kernel and gives them back on free, so each call of `backprop` pays for
page faults and zeroing on every z, a, δ, on every temporary inside σ and σ', and on every weight
gradient. Here z^l, a^l and the gradients are kept from one call to the next, each δ^l is written
over a^l and σ'(z^l) over z^l (BP2 is z^l's last reader), and σ, σ' and BP1 are computed on blocks
of rows small enough to stay in cache (their temporaries are reused by malloc and never reach the
kernel). Below about half a MiB a layer it was measured to save nothing (`is_large`).

The equations are equations.py's, looked up there on each call, as `backprop` does: BP1 on each
block of rows, BP2, BP3 and BP4 with `out=`. Results are bit for bit `backprop`'s
(tests/manual_bp/test_workspace.py): every blocked function acts on each example (row) alone, and
the products are the same whole-batch GEMMs. That is known of the shipped activations and costs in
one dtype; any other call gets `backprop`'s own new arrays (`Workspace.backprop`).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable

import numpy as np

from bp_spec import Layer, Network

from . import equations
from .activations import Activation, is_shipped_activation
from .backprop import backprop, output_layer_error, sigmas
from .costs import is_shipped_cost

Array = np.ndarray

BLOCK_BYTES = 1 << 18  # 256 KiB of rows per block: inside L2, so σ's temporaries stay in cache
LARGE_BYTES = 1 << 19  # a batch whose widest layer holds this much gains from a workspace


class Workspace:
    """Arrays kept from one `backprop` call to the next: z^l, a^l (then δ^l), ∂C/∂W^l and ∂C/∂b^l
    of every layer, made on the first call of each shape and dtype."""

    def __init__(self):
        self._arrays: dict[tuple[str, int], Array] = {}
        self._lock = threading.Lock()

    def backprop(self, net: Network, params: list[Layer], x, y) -> list[Layer]:
        """`manual_bp.backprop(net, params, x, y)`, bit for bit, computed in this workspace
        (what `backprop(net, params, x, y, workspace=self)` calls).

        Returns:
            a list of `Layer(∂C/∂W^l, ∂C/∂b^l)` whose arrays belong to this workspace: the next
            call on it overwrites them. A call this path cannot compute exactly gets
            `manual_bp.backprop`'s new arrays instead: mixed dtypes, an activation or cost that was
            registered rather than shipped (`suits`), an input (x, y or a parameter) that is one
            of this workspace's arrays, or a call made while another holds the workspace.
        """
        params = net.check_params(params)
        x, y = net.check_batch(x, y)
        if not suits(net, params, x, y) or not self.hold():
            return backprop(net, params, x, y)
        try:
            if self.overlaps(x, y, *(array for layer in params for array in layer)):
                return backprop(net, params, x, y)  # writing z, a or a gradient would change an input
            self.keep_layers(net.L)
            return _backprop_into(self, net, params, x, y)
        finally:
            self.let_go()

    def array(self, key: tuple[str, int], shape: tuple[int, ...], dtype) -> Array:
        """The array kept under `key`, or a new one (then kept) when there is none of that shape and dtype."""
        kept = self._arrays.get(key)
        if kept is None or kept.shape != shape or kept.dtype != dtype:
            kept = self._arrays[key] = np.empty(shape, dtype)
        return kept

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
        for key in [k for k in self._arrays if k[1] >= L]:
            del self._arrays[key]

    def overlaps(self, *arrays: Array) -> bool:
        """Whether any of `arrays` shares memory with an array kept here."""
        return any(np.may_share_memory(a, kept) for a in arrays for kept in self._arrays.values())

    @property
    def nbytes(self) -> int:
        """The memory held between calls: z^l, a^l, ∂C/∂W^l and ∂C/∂b^l of every layer."""
        return sum(a.nbytes for a in self._arrays.values())

    def release(self) -> None:
        """Let go of every array (the next call allocates again; arrays a caller still holds stay
        alive, and are no longer written by this workspace)."""
        self._arrays.clear()


def _backprop_into(workspace: Workspace, net: Network, params: list[Layer], x: Array, y: Array) -> list[Layer]:
    """backprop's feedforward and backward loop, written into the workspace's arrays."""
    m, dtype, sigma = x.shape[0], x.dtype, sigmas(net)
    zs, activations = [], [x]
    for l, ((W, b), sigma_l) in enumerate(zip(params, sigma)):  # list index l holds layer l + 1
        z = np.matmul(activations[-1], W.T, out=workspace.array(("z", l), (m, W.shape[0]), dtype))
        z += b
        zs.append(z)
        activations.append(rows_into(workspace.array(("a", l), z.shape, dtype), sigma_l.fn, z))
    grads = [None] * net.L
    # BP1, a block of examples at a time (δ^{x,L} depends on example x alone), over a^L: its last read
    delta = rows_into(activations[-1], lambda z, a, y: output_layer_error(net, z, a, y), zs[-1], activations[-1], y)
    for l in range(net.L - 1, -1, -1):
        W = params[l].W
        nabla_W = equations.weight_gradient(delta, activations[l],  # BP4
                                            out=workspace.array(("dC/dW", l), W.shape, dtype))
        if net.l2 or net.l1:
            nabla_W += equations.regularisation_gradient(W, net.l2, net.l1)
        nabla_b = equations.bias_gradient(delta, out=workspace.array(("dC/db", l), W.shape[:1], dtype))  # BP3
        grads[l] = Layer(nabla_W, nabla_b)
        if l > 0:  # BP2, δ^l over a^l (last read by BP4 just above) and σ'(z^l) over z^l
            delta = equations.backpropagate_error(W, delta, zs[l - 1], _prime_over_z(sigma[l - 1]),
                                                  out=activations[l])
    return grads


def _prime_over_z(sigma: Activation) -> Activation:
    """σ, with σ'(z) computed a block of rows at a time and written over z (for BP2, z^l's last
    reader): σ''s temporaries stay in cache, and no new (m, n_l) array is made."""
    return dataclasses.replace(sigma, prime=lambda z: rows_into(z, sigma.prime, z))


def is_large(x: Array, sizes) -> bool:
    """Whether the widest layer the batch computes, (m, max n_l) for l ≥ 1, holds at least
    LARGE_BYTES (the input x is the caller's array, not an intermediate)."""
    return x.shape[0] * max(sizes[1:]) * x.itemsize >= LARGE_BYTES


def suits(net: Network, params: list[Layer], x: Array, y: Array) -> bool:
    """Whether the workspace path computes exactly what `backprop` does for this call: one dtype
    throughout (backprop promotes a mix; kept arrays are of x's dtype), and the shipped
    activations and cost, which act on each example alone and keep their input's dtype, so that
    blocks of rows are exact. Nothing is assumed of a registered σ or cost."""
    dtype = x.dtype
    return (y.dtype == dtype and all(W.dtype == dtype and b.dtype == dtype for W, b in params)
            and all(is_shipped_activation(name) for name in net.activations) and is_shipped_cost(net.cost))


def rows_into(out: Array, f: Callable[..., Array], *arrays: Array) -> Array:
    """out = f(*arrays), computed a block of rows (examples) at a time.

    Exact for any f that treats each row alone (σ, σ', BP1's error), and out may be one of the
    arrays (each block is read before it is written)."""
    rows = max(1, BLOCK_BYTES // max(1, out[0].nbytes))
    for start in range(0, out.shape[0], rows):
        block = slice(start, start + rows)
        out[block] = f(*(a[block] for a in arrays))
    return out
