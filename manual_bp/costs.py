"""Cost functions C_x of one example and their hand-derived gradients ∇_a C_x.

The cost of a batch is Assumption 1, the mean over examples, plus regularisation
(see `network.py`): C = (1/m) Σ_x C_x + (l2/2) Σ_l ‖W^l‖² + l1 Σ_l Σ_jk |w^l_jk|.

Some costs pair with an output activation so that BP1 collapses to δ^L = a − y (chapter 3).
Those simplifications are derived here, next to the cost, and the test suite checks each one
against the general BP1, δ^L = J_σ(z^L)ᵀ ∇_a C, and against jax.grad.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bp_spec.names import COSTS as SPECS, CostSpec, register_cost_spec

from .activations import Activation

Array = np.ndarray


@dataclass(frozen=True)
class Cost:
    """A per-example cost C_x(a, y) with its gradient.

    Arguments:
        name: the name used in a `Network` spec.
        value: (z^L, a^L, y, σ) → C_x for every example, shape (m,). z and σ are passed so a
            cost can take logarithms of the output stably (ln σ(z) rather than ln a).
        grad_a: (a^L, y) → ∇_a C_x, shape (m, n_L).
        output_error_shortcuts: activation name → (z^L, a^L, y) → δ^L, where BP1 simplifies.

    Which outputs and targets a cost admits is the spec's (`bp_spec.names.CostSpec`).
    """

    name: str
    value: Callable[[Array, Array, Array, Activation], Array]
    grad_a: Callable[[Array, Array], Array]
    output_error_shortcuts: dict[str, Callable[[Array, Array, Array], Array]] = field(default_factory=dict)


def _log_output(z: Array, a: Array, sigma: Activation) -> tuple[Array, Array]:
    """ln a and ln(1 − a), from z where σ knows a stable form (a saturated σ rounds a to 1)."""
    log_a = sigma.log_fn(z) if sigma.log_fn else np.log(a)
    log_1ma = sigma.log1m_fn(z) if sigma.log1m_fn else np.log1p(-a)
    return log_a, log_1ma


def _xlogy(x: Array, log_y: Array) -> Array:
    """x · ln y with 0 · ln 0 = 0, the limit the cost's definition means."""
    return np.where(x == 0, 0.0, x * log_y)


# --- quadratic (the text's) ------------------------------------------------------------------


def quadratic_value(z, a, y, sigma):
    """C_x = ½ ‖y − a^L‖²."""
    return 0.5 * np.sum((a - y) ** 2, axis=-1)


def quadratic_grad_a(a, y):
    """∂C_x/∂a^L_j = a^L_j − y_j (eq. 30 of the notes without σ')."""
    return a - y


# --- cross-entropy (chapter 3) ---------------------------------------------------------------


def cross_entropy_value(z, a, y, sigma):
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)]."""
    log_a, log_1ma = _log_output(z, a, sigma)
    return -np.sum(_xlogy(y, log_a) + _xlogy(1 - y, log_1ma), axis=-1)


def cross_entropy_grad_a(a, y):
    """∂C_x/∂a_j = −y_j/a_j + (1 − y_j)/(1 − a_j) = (a_j − y_j) / (a_j (1 − a_j))."""
    return (a - y) / (a * (1 - a))


def cross_entropy_sigmoid_output_error(z, a, y):
    """With σ = sigmoid, σ'(z) = a(1 − a) cancels the denominator of ∇_a C:
    δ^L = (a − y)/(a(1 − a)) ⊙ a(1 − a) = a − y   (Nielsen, ch. 3, eq. 66)."""
    return a - y


def cross_entropy_softmax_output_error(z, a, y):
    """With softmax, δ^L = Jᵀ ∇_a C is exact but cancels badly once one output saturates: the term
    (a_k − y_k)/(1 − a_k) of ∇_a C grows like 1/(1 − a_k) and Jᵀ subtracts it from itself.
    Written out (ln a_k = z_k − lse(z), ∂ln a_k/∂z_j = [j=k] − a_j, and ∂ln(1 − a_k)/∂z_j =
    [j≠k] a_j/(1 − a_k) − a_j), the big terms cancel symbolically instead:

        δ_j = n a_j − y_j − a_j Σ_{k≠j} (1 − y_k)/(1 − a_k),

    where every a_j/(1 − a_k) with k ≠ j is at most 1 (a_j is part of 1 − a_k = Σ_{i≠k} a_i).
    Only the largest output k* can be near 1; for it 1 − a_k* is computed as Σ_{i≠k*} a_i, a sum
    with no cancellation, and its own row leaves the k* term out of the sum by construction.

    Once the logits spread so far (≳ 640) that Σ_{i≠k*} a_i nears float64's underflow, that sum
    has lost its digits though δ has not (every a_j/(1 − a_k) is still at most 1): such rows are
    computed from z instead (`_cross_entropy_softmax_output_error_from_logits`)."""
    n = a.shape[-1]
    is_top = np.zeros(a.shape, dtype=bool)
    np.put_along_axis(is_top, np.argmax(a, axis=-1)[..., None], True, axis=-1)
    others = np.sum(np.where(is_top, 0.0, a), axis=-1, keepdims=True)  # 1 − a_k* without cancelling
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # rows recomputed below
        r = (1 - y) / np.where(is_top, others, 1 - a)  # (1 − y_k)/(1 − a_k); only r_k* can be large
    r_top = np.sum(np.where(is_top, r, 0.0), axis=-1, keepdims=True)
    r_rest = np.sum(np.where(is_top, 0.0, r), axis=-1, keepdims=True)  # Σ_{k≠k*} r_k: all small
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(is_top, r_rest, r_rest - r + r_top)  # Σ_{k≠j} r_k; r_k* is added, never cancelled
        delta = n * a - y - a * s
    lost = others[..., 0] < _SUM_FLOOR
    if np.any(lost):
        delta[lost] = _cross_entropy_softmax_output_error_from_logits(z[lost], y[lost])
    return delta


# Below this, Σ_{i≠k*} a_i is near float64's underflow and its relative precision is gone.
_SUM_FLOOR = 1e-280


def _cross_entropy_softmax_output_error_from_logits(z: Array, y: Array) -> Array:
    """δ_j = n a_j − y_j − Σ_{k≠j} (1 − y_k) a_j/(1 − a_k), with each a_j/(1 − a_k) taken from z
    as e^{z_j − lse_{i≠k} z_i} (a softmax over the outputs but k): an exponential of a number
    ≤ 0, however far the logits spread. O(n²) per example; only for rows that need it."""
    n = z.shape[-1]
    left_out = np.eye(n, dtype=bool)  # row k of the (k, j) grid leaves z_k out
    others = np.where(left_out, -np.inf, z[:, None, :])  # (m, k, j)
    top = np.max(others, axis=-1, keepdims=True)
    lse = top + np.log(np.sum(np.exp(others - top), axis=-1, keepdims=True))  # lse_{i≠k} z_i
    ratio = np.where(left_out, 0.0, np.exp(others - lse))  # a_j/(1 − a_k) for j ≠ k
    shifted = z - np.max(z, axis=-1, keepdims=True)
    a = np.exp(shifted) / np.sum(np.exp(shifted), axis=-1, keepdims=True)
    return n * a - y - np.einsum("xk,xkj->xj", 1 - y, ratio)


# --- log-likelihood (with softmax: chapter 3) ------------------------------------------------


def log_likelihood_value(z, a, y, sigma):
    """C_x = −Σ_j y_j ln a_j; for a one-hot y of class c this is −ln a_c."""
    log_a, _ = _log_output(z, a, sigma)
    return -np.sum(_xlogy(y, log_a), axis=-1)


def log_likelihood_grad_a(a, y):
    """∂C_x/∂a_j = −y_j / a_j."""
    return -y / a


def log_likelihood_softmax_output_error(z, a, y):
    """With softmax, J = diag(a) − a aᵀ, so δ^L = Jᵀ(−y/a) = −y + a Σ_j y_j = a − y,
    because y is a distribution (Σ_j y_j = 1, checked on input)  (Nielsen, ch. 3, eq. 81)."""
    return a - y


def log_likelihood_sigmoid_output_error(z, a, y):
    """With sigmoid, σ' = a(1 − a): δ^L = −y/a ⊙ a(1 − a) = y ⊙ (a − 1)."""
    return y * (a - 1)


# --- the registry ----------------------------------------------------------------------------

COSTS: dict[str, Cost] = {
    c.name: c
    for c in (
        Cost("quadratic", quadratic_value, quadratic_grad_a),
        Cost("cross_entropy", cross_entropy_value, cross_entropy_grad_a,
             output_error_shortcuts={"sigmoid": cross_entropy_sigmoid_output_error,
                                     "softmax": cross_entropy_softmax_output_error}),
        Cost("log_likelihood", log_likelihood_value, log_likelihood_grad_a,
             output_error_shortcuts={"softmax": log_likelihood_softmax_output_error,
                                     "sigmoid": log_likelihood_sigmoid_output_error}),
    )
}


_SHIPPED = dict(COSTS)  # as shipped: per example, as the workspace's blocks rely on (workspace.suits)


def is_shipped_cost(name: str) -> bool:
    """Whether `name` is still the cost manual_bp ships (not registered or replaced since)."""
    return name in _SHIPPED and COSTS.get(name) is _SHIPPED[name]


def get_cost(name: str) -> Cost:
    """The cost registered as `name`, or a ValueError that lists the known names."""
    try:
        return COSTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cost {name!r}; known: {', '.join(COSTS)}") from None


def register_cost(cost: Cost, spec: CostSpec | None = None, *, replace: bool = False) -> None:
    """Add a user's cost: its name to the spec (`spec`, or a plain `CostSpec` of that name when
    the spec does not know it yet), its NumPy functions here."""
    if not isinstance(cost, Cost):
        raise TypeError(f"register_cost needs a Cost, got {type(cost).__name__}")
    if cost.name in COSTS and not replace:
        raise ValueError(f"cost {cost.name!r} is already registered")
    if spec is not None or cost.name not in SPECS:
        register_cost_spec(spec or CostSpec(cost.name), replace=True)
    COSTS[cost.name] = cost
