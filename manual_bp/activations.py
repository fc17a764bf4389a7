"""Activation functions σ and their hand-derived derivatives σ'.

Every function works on arrays of any shape whose last axis holds the neurons of a layer, so
the same code serves one example `(n,)` and a batch `(m, n)`.

Numerical care: the forms below never overflow for |z| up to 1e3 (and far beyond): exponentials
are only ever taken of non-positive numbers.

Kinks follow the spec's conventions (`bp_spec.names`, jax's), so that the hand-written side and
the autodiff reference agree exactly at the kink: relu'(0) = 0; leaky_relu'(0) = 1; elu'(0) = 1
(both one-sided slopes agree for α = 1, so elu has no kink in its first derivative).

What an activation's name means (its output range, kinks, whether it is output-only) is the
spec's; this module holds only the NumPy functions for each name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from bp_spec.names import (ACTIVATIONS as SPECS, ELU_ALPHA, LEAKY_RELU_SLOPE, ActivationSpec,
                           register_activation_spec)

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """An activation σ with its derivative, in NumPy.

    Arguments:
        name: the spec's name for it (`bp_spec.names`).
        fn: σ(z).
        prime: σ'(z), elementwise; `None` for an activation whose Jacobian is not diagonal.
        jacobian_T_dot: for a non-elementwise σ, the product J_σ(z)ᵀ g (BP1's general form).
        log_fn, log1m_fn: ln σ(z) and ln(1 − σ(z)) computed stably from z, for costs that
            take logarithms of the output (cross-entropy, log-likelihood).
    """

    name: str
    fn: Callable[[Array], Array]
    prime: Optional[Callable[[Array], Array]] = None
    jacobian_T_dot: Optional[Callable[[Array, Array], Array]] = None
    log_fn: Optional[Callable[[Array], Array]] = None
    log1m_fn: Optional[Callable[[Array], Array]] = None

    @property
    def elementwise(self) -> bool:
        return self.prime is not None

    def __post_init__(self):
        if (self.prime is None) == (self.jacobian_T_dot is None):
            raise ValueError(f"activation {self.name!r} needs exactly one of prime or jacobian_T_dot")


# --- sigmoid ---------------------------------------------------------------------------------


def _exp_minus_abs(z: Array, k: float = 1.0) -> Array:
    """e^{−k|z|}, in (0, 1] for k ≥ 0, so it never overflows: the one exponential that σ, σ' and
    tanh' need. Built in a single new array (|z|, then scaled and exponentiated in place): a
    large layer's every temporary is a fresh allocation the kernel must page in."""
    e = np.abs(z)  # the new array (a NumPy scalar for a scalar z)
    e = np.asarray(e, dtype=np.result_type(e, np.float16))  # floats, 0-d for a scalar: no copy otherwise
    e *= -k
    return np.exp(e, out=e)


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^{−z}), evaluated as e^{min(z, 0)} / (1 + e^{−|z|}): that is 1/(1 + e^{−z})
    for z ≥ 0 and e^{z}/(1 + e^{z}) for z < 0, from one exponential of a non-positive number, so
    nothing overflows, and with no branch (np.where over a whole layer cost more than the exp)."""
    e = _exp_minus_abs(z)       # e^{−|z|}
    s = np.maximum(e, z >= 0)   # e^{min(z, 0)}: 1 where z ≥ 0 (e ≤ 1), e^{z} = e^{−|z|} where z < 0
    e += 1
    s /= e                      # in place: the layer's a^l is the only array left
    return s


def sigmoid_prime(z: Array) -> Array:
    """σ'(z) = σ(z)(1 − σ(z)) = σ(z)σ(−z) = e^{−|z|} / (1 + e^{−|z|})², which is even in z.
    The last form keeps full relative accuracy when σ saturates, where 1 − σ(z) would cancel,
    and takes one exponential where σ(z)σ(−z) took two sigmoids."""
    e = _exp_minus_abs(z)
    d = 1 + e
    d *= d
    e /= d  # in place: one temporary, (1 + e)², besides the result
    return e


def log_sigmoid(z: Array) -> Array:
    """ln σ(z) = −softplus(−z)."""
    return -softplus(-z)


def log1m_sigmoid(z: Array) -> Array:
    """ln(1 − σ(z)) = ln σ(−z) = −softplus(z)."""
    return -softplus(z)


# --- tanh ------------------------------------------------------------------------------------


def tanh(z: Array) -> Array:
    return np.tanh(z)


def tanh_prime(z: Array) -> Array:
    """tanh'(z) = 1 − tanh²(z) = sech²(z) = 4e^{−2|z|} / (1 + e^{−2|z|})²; the last form keeps
    full relative accuracy when tanh saturates, where 1 − tanh² would cancel."""
    e = _exp_minus_abs(z, 2)
    d = 1 + e
    d *= d
    e *= 4
    e /= d  # in place, as sigmoid_prime
    return e


# --- rectifiers ------------------------------------------------------------------------------


def relu(z: Array) -> Array:
    return np.maximum(z, 0)


def relu_prime(z: Array) -> Array:
    """relu'(z) = 1 for z > 0, else 0 (relu'(0) = 0, as jax)."""
    return (z > 0).astype(np.result_type(z, np.float16))


def leaky_relu(z: Array) -> Array:
    return np.where(z >= 0, z, LEAKY_RELU_SLOPE * z)


def leaky_relu_prime(z: Array) -> Array:
    """leaky_relu'(z) = 1 for z ≥ 0, else α (leaky_relu'(0) = 1, as jax)."""
    one = np.ones_like(z)
    return np.where(z >= 0, one, LEAKY_RELU_SLOPE * one)


def elu(z: Array) -> Array:
    """elu(z) = z for z > 0, α(e^{z} − 1) otherwise; expm1 of min(z, 0) never overflows."""
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))


def elu_prime(z: Array) -> Array:
    """elu'(z) = 1 for z > 0, α e^{z} otherwise (elu'(0) = α = 1)."""
    return np.where(z > 0, np.ones_like(z), ELU_ALPHA * np.exp(np.minimum(z, 0)))


# --- softplus, identity ----------------------------------------------------------------------


def softplus(z: Array) -> Array:
    """softplus(z) = ln(1 + e^{z}) = max(z, 0) + ln(1 + e^{−|z|}), which never overflows."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softplus_prime(z: Array) -> Array:
    """softplus'(z) = σ(z)."""
    return sigmoid(z)


def identity(z: Array) -> Array:
    return z


def identity_prime(z: Array) -> Array:
    return np.ones_like(z)


# --- softmax (output layer only) -------------------------------------------------------------


def softmax(z: Array) -> Array:
    """softmax(z)_j = e^{z_j} / Σ_k e^{z_k}, shifted by max z so no exponential overflows."""
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(z: Array) -> Array:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _logsumexp(z: Array) -> Array:
    top = np.max(z, axis=-1, keepdims=True)
    return top + np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))


def log1m_softmax(z: Array) -> Array:
    """ln(1 − softmax(z)_j).

    log1p(−a_j) is accurate while a_j ≤ ½. Only the largest entry can exceed ½, and for it
    1 − a_j = Σ_{k≠j} e^{z_k} / Σ_k e^{z_k}, a ratio of sums with no cancellation, taken in logs
    so it stays finite even when a_j rounds to 1.
    """
    top = np.argmax(z, axis=-1)[..., None]
    others = np.array(z, dtype=np.result_type(z, np.float16), copy=True)
    np.put_along_axis(others, top, -np.inf, axis=-1)
    log1m_top = _logsumexp(others) - _logsumexp(z)
    out = np.log1p(-np.minimum(softmax(z), 0.5))
    np.put_along_axis(out, top, log1m_top, axis=-1)
    return out


def softmax_jacobian_T_dot(z: Array, g: Array) -> Array:
    """J_σ(z)ᵀ g for softmax, without forming J.

    ∂a_j/∂z_k = a_j(δ_jk − a_k), so J = diag(a) − a aᵀ (symmetric) and
    Jᵀ g = a ⊙ g − a (aᵀ g) = a ⊙ (g − aᵀ g).
    """
    a = softmax(z)
    return a * (g - np.sum(a * g, axis=-1, keepdims=True))


# --- the registry ----------------------------------------------------------------------------

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", sigmoid, sigmoid_prime, log_fn=log_sigmoid, log1m_fn=log1m_sigmoid),
        Activation("tanh", tanh, tanh_prime),
        Activation("relu", relu, relu_prime),
        Activation("leaky_relu", leaky_relu, leaky_relu_prime),
        Activation("elu", elu, elu_prime),
        Activation("softplus", softplus, softplus_prime),
        Activation("identity", identity, identity_prime),
        # softmax couples the neurons of its layer: the spec allows it on the output layer only
        Activation("softmax", softmax, jacobian_T_dot=softmax_jacobian_T_dot,
                   log_fn=log_softmax, log1m_fn=log1m_softmax),
    )
}


# As shipped: each acts on one example (row) alone and returns its input's dtype, which the
# workspace's blocks of rows rely on (workspace.suits); a registered activation may not.
_SHIPPED = dict(ACTIVATIONS)


def is_shipped_activation(name: str) -> bool:
    """Whether `name` is still the activation manual_bp ships (not registered or replaced since)."""
    return name in _SHIPPED and ACTIVATIONS.get(name) is _SHIPPED[name]


def get_activation(name: str) -> Activation:
    """The activation registered as `name`, or a ValueError that lists the known names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; known: {known}") from None


def register_activation(activation: Activation, spec: ActivationSpec | None = None, *,
                        replace: bool = False) -> None:
    """Add a user's activation: its name to the spec (`spec`, or a plain `ActivationSpec` of that
    name when the spec does not know it yet), its NumPy functions here."""
    if not isinstance(activation, Activation):
        raise TypeError(f"register_activation needs an Activation, got {type(activation).__name__}")
    if activation.name in ACTIVATIONS and not replace:
        raise ValueError(f"activation {activation.name!r} is already registered")
    if spec is not None or activation.name not in SPECS:
        register_activation_spec(spec or ActivationSpec(activation.name), replace=True)
    ACTIVATIONS[activation.name] = activation
