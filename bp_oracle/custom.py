"""Your own activation or cost, checked like the built-in ones.

Write the function once against an array namespace `xp`, and its derivative by hand:

    # swish.py
    from bp_oracle.custom import register_activation

    def swish(z, xp):
        return z / (1 + xp.exp(-z))

    def swish_prime(z, xp):                 # d/dz z·σ(z) = σ(z) (1 + z (1 − σ(z)))
        s = 1 / (1 + xp.exp(-z))
        return s * (1 + z * (1 - s))

    register_activation("swish", swish, swish_prime)

then `bp-oracle verify --plugin swish.py`. manual_bp gets `swish(z, numpy)` and your derivative
(BP1, BP2 use it); the reference gets `swish(z, jax.numpy)` and differentiates it with jax.grad,
never looking at your derivative. The sweep first checks the derivative against jax.grad of the
function on its own, on a grid and on both sides of every kink you declare, then checks whole
networks that use it.

A cost is registered per output neuron, C_x = Σ_j term(a_j, y_j), with ∂term/∂a by hand:
`register_cost("huber", term, term_prime)`.

Rules: functions must be elementwise, built from `xp`'s functions (no NumPy-only or jax-only
calls), and finite with a finite derivative at 0 (the padded reference evaluates every
registered function at 0 on absent neurons).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import manual_bp as mb
from autodiff_ref import in_float64
from autodiff_ref.reference import COST_TERMS, JAX_ACTIVATIONS, CostTerms
from bp_spec import names as spec_names
from bp_spec.names import ActivationSpec, CostSpec, Kink

from .tolerance import TOLERANCES

# What this process registered, in order: the names a plugin sweep makes every network use.
REGISTERED: list[str] = []

# register_cost's word for the targets a sweep draws → the spec's (bp_spec.names.TARGET_KINDS)
TARGETS = {"real": "real", "unit": "unit", "one_hot": "distribution", "distribution": "distribution"}


def register_activation(name: str, fn: Callable, prime: Callable, *, kinks: Sequence[float] = (),
                        output_range: tuple[float, float] = (-np.inf, np.inf), replace: bool = False) -> None:
    """Register σ = `fn(z, xp)` with its hand-derived σ' = `prime(z, xp)` on every side: its name
    in the spec, `fn(z, numpy)` and `prime` in manual_bp, `fn(z, jax.numpy)` in the reference.

    Arguments:
        name: the name networks use.
        fn, prime: elementwise, written against the namespace `xp` (numpy or jax.numpy).
        kinks: the points where σ is not differentiable (σ' there follows your convention).
        output_range: the open interval σ maps into (a cost that takes ln a needs (0, 1)).
        replace: allow registering a name again (a plugin loaded twice).
    """
    replace = _check_name(name, "activation", replace)
    definition = ActivationSpec(name, output_range=tuple(output_range), kinks=tuple(Kink(float(k)) for k in kinks))
    mb.register_activation(mb.Activation(name, fn=lambda z: fn(z, np), prime=lambda z: prime(z, np)),
                           definition, replace=replace)
    JAX_ACTIVATIONS[name] = lambda z: fn(z, jnp)
    _remember(name)


def register_cost(name: str, term: Callable, term_prime: Callable, *, targets: str = "real",
                  output_activations: Sequence[str] | None = None, replace: bool = False) -> None:
    """Register C_x = Σ_j `term(a_j, y_j, xp)` with its hand-derived ∂term/∂a = `term_prime(a, y, xp)`.

    Arguments:
        targets: what y may be, and what a sweep draws: "real" (uniform in [−1, 1]), "unit"
            (uniform in [0, 1]) or "one_hot" (a distribution; one-hot rows are drawn).
        output_activations: the output activations it admits (None: any).
    """
    if targets not in TARGETS:
        raise ValueError(f"targets must be real, unit or one_hot, got {targets!r}")
    replace = _check_name(name, "cost", replace)
    definition = CostSpec(name, targets=TARGETS[targets],
                          output_activations=frozenset(output_activations) if output_activations else None)
    mb.register_cost(mb.Cost(name, value=lambda z, a, y, sigma: np.sum(term(a, y, np), axis=-1),
                             grad_a=lambda a, y: term_prime(a, y, np)),
                     definition, replace=replace)
    COST_TERMS[name] = CostTerms(lambda a, y, log_a, log_1ma: term(a, y, jnp))
    _remember(name)


def _check_name(name, what: str, replace: bool) -> bool:
    """Refuse a bad or taken name; a name this module registered before may be registered again
    (a plugin loaded twice). Returns whether the registration replaces one."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a {what} name must be an identifier, got {name!r}")
    taken = name in (spec_names.ACTIVATIONS if what == "activation" else spec_names.COSTS)
    if taken and not replace and name not in REGISTERED:
        raise ValueError(f"{what} {name!r} is already registered")
    return taken


def _remember(name: str) -> None:
    if name not in REGISTERED:
        REGISTERED.append(name)


# Caches that hold what was built from the registrations (e.g. the sweep's loaded plugins), to be
# forgotten with them; their owners add them here, so this module imports none of its users.
DERIVED: list[dict] = []


@contextmanager
def temporary_registrations():
    """Forget, on leaving, everything registered inside (and the plugins loaded there): for
    tests and notebooks, since the registries are shared by the whole process."""
    registries = (spec_names.ACTIVATIONS, spec_names.COSTS, mb.ACTIVATIONS, mb.COSTS, JAX_ACTIVATIONS, COST_TERMS,
                  _PLUGINS, *DERIVED)
    saved = [dict(r) for r in registries]
    registered, modules = list(REGISTERED), set(sys.modules)
    try:
        yield
    finally:
        for registry, before in zip(registries, saved):
            registry.clear()
            registry.update(before)
        REGISTERED[:] = registered
        for name in set(sys.modules) - modules:
            if name.startswith("_bp_oracle_user_"):
                del sys.modules[name]


# --- the derivative on its own, against jax.grad -------------------------------------------


class DerivativeCheck(NamedTuple):
    name: str
    ok: bool
    points: int
    worst: str  # where the worst disagreement is, and how large
    kinks: list[str]  # at each declared kink: which convention the hand derivative follows

    def describe(self) -> str:
        kinks = f"; {'; '.join(self.kinks)}" if self.kinks else ""
        verdict = "matches" if self.ok else "DOES NOT match"
        return f"{self.name}: the hand-derived derivative {verdict} jax.grad at {self.points} points ({self.worst}){kinks}"


def _grid(kinks: Sequence[float]) -> np.ndarray:
    """z across regimes: ±1e-8..20 logarithmically, −6..6 evenly, and each kink ± 1e-9..1e-1."""
    logs = np.logspace(-8, np.log10(20), 40)
    z = [-logs, logs, np.linspace(-6, 6, 49)]
    for k in kinks:
        offsets = np.logspace(-9, -1, 9)
        z += [k - offsets, k + offsets]
    z = np.unique(np.concatenate(z))
    return z[~np.isin(z, np.asarray(kinks, dtype=np.float64))]


@in_float64
def check_activation(name: str) -> DerivativeCheck:
    """σ' by hand against jax.grad of σ alone, on a grid and on both sides of each kink; at a kink
    itself, which one-sided slope (or jax's own value) the hand derivative takes."""
    act, fn = mb.get_activation(name), JAX_ACTIVATIONS[name]
    kinks = [kink.at for kink in spec_names.get_activation_spec(name).kinks]
    z = _grid(kinks)
    d_jax = np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(z)))
    with np.errstate(all="ignore"):
        d_hand = np.asarray(act.prime(z), dtype=np.float64)
    ok, worst = _judge(d_hand, d_jax, z)
    conventions = []
    for k in kinks:
        with np.errstate(all="ignore"):
            at = float(np.asarray(act.prime(np.array([k])))[0])
        left, right = (float(jax.grad(fn)(k - 1e-9)), float(jax.grad(fn)(k + 1e-9)))
        at_jax = float(jax.grad(fn)(jnp.float64(k)))
        sides = [s for s, v in (("the left slope", left), ("the right slope", right), ("jax.grad's value", at_jax))
                 if abs(at - v) <= 1e-6 * max(1.0, abs(v))]
        if sides:
            conventions.append(f"at the kink {k:g} it takes {' = '.join(sides)} ({at:g})")
        else:
            ok = False
            conventions.append(f"at the kink {k:g} it gives {at:g}, neither one-sided slope ({left:g}, {right:g})")
    return DerivativeCheck(name, ok, z.size, worst, conventions)


@in_float64
def check_cost(name: str) -> DerivativeCheck:
    """∂term/∂a by hand against jax.grad of the term alone, over a in (0, 1) and beyond, y in [−1, 1]."""
    cost, term = mb.get_cost(name), COST_TERMS[name].terms
    in_unit = spec_names.get_cost_spec(name).targets != "real"
    a = np.concatenate([np.linspace(0.01, 0.99, 25), np.linspace(-3, 3, 25)])
    if in_unit:
        a = a[(a > 0) & (a < 1)]
    ys = [0.0, 0.3, 1.0] if in_unit else [-1.0, -0.3, 0.0, 0.5, 1.0]
    A, Y = np.meshgrid(a, ys)
    A, Y = A.ravel(), Y.ravel()
    one = lambda a, y: term(a, y, None, None)  # noqa: E731
    d_jax = np.asarray(jax.vmap(jax.grad(one))(jnp.asarray(A), jnp.asarray(Y)))
    with np.errstate(all="ignore"):
        d_hand = np.asarray(cost.grad_a(A[:, None], Y[:, None]), dtype=np.float64)[:, 0]
    ok, worst = _judge(d_hand, d_jax, A)
    return DerivativeCheck(name, ok, A.size, worst, [])


def _judge(hand, ref, z) -> tuple[bool, str]:
    """Elementwise: |hand − jax| ≤ 1e-9 · max(1, |jax|), the float64 policy per point."""
    err = np.abs(hand - ref)
    err = np.where(np.isfinite(err), err, np.inf)
    bound = TOLERANCES["float64"].rtol * np.maximum(1.0, np.abs(ref))
    k = int(np.argmax(err / bound))
    worst = f"worst at {z[k]:.6g}: hand {hand[k]:.12g}, jax.grad {ref[k]:.12g}"
    return bool(np.all(err <= bound)), worst


def derivative_checks(names: Sequence[str]) -> list[DerivativeCheck]:
    return [check_activation(n) if n in spec_names.ACTIVATIONS else check_cost(n) for n in names]


# --- loading a user's file or module -------------------------------------------------------


_PLUGINS: dict[str, tuple[str, ...]] = {}  # plugin → the names it registered


def _load_module(spec: str, what: str):
    """A module by import name, or a .py file by path."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"{what} {spec!r}: no such file")
        name = "_bp_oracle_user_" + "".join(c if c.isalnum() else "_" for c in str(path.resolve()))
        if name in sys.modules:
            return sys.modules[name]
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        try:
            loader.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise ValueError(f"{what} {spec!r} failed to load: {type(e).__name__}: {e}") from None
        return module
    try:
        return importlib.import_module(spec)
    except Exception as e:
        raise ValueError(f"{what} {spec!r} failed to import: {type(e).__name__}: {e}") from None


def load_plugins(specs: Sequence[str]) -> tuple[str, ...]:
    """Load each plugin once per process (it registers on import); return what they registered."""
    names: list[str] = []
    for spec in specs:
        if spec not in _PLUGINS:
            before = len(REGISTERED)
            _load_module(spec, "plugin")
            _PLUGINS[spec] = tuple(REGISTERED[before:])
            if not _PLUGINS[spec]:
                del _PLUGINS[spec]
                raise ValueError(f"plugin {spec!r} registered nothing: call "
                                 "bp_oracle.custom.register_activation or register_cost in it")
        names += [n for n in _PLUGINS[spec] if n not in names]
    return tuple(names)


def load_function(spec: str) -> Callable:
    """`module:function` or `path/to/file.py:function`."""
    module_spec, sep, attr = spec.rpartition(":")
    if not sep or not module_spec or not attr:
        raise ValueError(f"--backprop takes MODULE:FUNCTION or FILE.py:FUNCTION, got {spec!r}")
    module = _load_module(module_spec, "backprop")
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{module_spec} has no function {attr!r}")
    return fn


__all__ = ["DerivativeCheck", "check_activation", "check_cost", "derivative_checks", "load_function",
           "load_plugins", "register_activation", "register_cost", "temporary_registrations"]
