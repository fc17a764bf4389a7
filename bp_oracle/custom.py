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

Rules, checked when a function is registered (a `RuleError`, a ValueError naming the function
and the rule): functions must be elementwise (the shape of z in, that shape out, each entry
depending on its own z alone), built from `xp`'s functions (no NumPy-only or jax-only calls, no
Python `if` on the values), and finite with a finite derivative where the padded reference
evaluates every registered function on absent neurons: an activation at z = 0, a cost at
a = ½, y = 0.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
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
    _check_rules(f"activation {name!r}", (("fn", fn), ("prime", prime)), ("z",))
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
    _check_rules(f"cost {name!r}", (("term", term), ("term_prime", term_prime)), ("a", "y"))
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


# --- the rules a registered function keeps, checked at registration ------------------------


class RuleError(ValueError):
    """A function given to register_activation or register_cost breaks one of the rules (one line,
    naming the function and the rule)."""


# probes, away from 0 and from any likely kink: z for an activation; a in (0, 1), y in [0, 1]
# (inside every target kind) for a cost
_PROBES = {"z": np.array([[-1.5, -0.25, 0.5], [2.0, 0.75, -3.0]]),
           "a": np.array([[0.2, 0.5, 0.9], [0.35, 0.6, 0.1]]),
           "y": np.array([[0.0, 0.25, 1.0], [0.5, 0.0, 1.0]])}
# where the padded reference evaluates them on absent neurons (autodiff_ref/padded.py): an
# activation at z = 0, a cost at a = ½ (what an unchosen or absent output sees), y = 0
_PADDED_AT = {"z": 0.0, "a": 0.5, "y": 0.0}


def _check_rules(label: str, functions, args: tuple[str, ...]) -> None:
    """Every rule of this module, for each of `functions` ((role, fn(*args, xp)), …), in NumPy
    and in jax.numpy, before anything is registered. Raises RuleError."""
    for role, f in functions:
        if not callable(f):
            raise RuleError(f"{label}: {role} must be a function ({', '.join(args)}, xp), got {type(f).__name__}")
    for role, f in functions:
        _check_numpy_side(label, role, f, args)
        _check_jax_side(label, role, f, args)
    _check_padded_point(label, functions, args)


def _call(role: str, args) -> str:
    return f"{role}({', '.join(args)})"


def _user_line(e: BaseException, f) -> str:
    """' (line N: code)' for the deepest line of the user's file in the traceback, if any."""
    code = getattr(f, "__code__", None)
    if code is None:
        return ""
    frames = [fr for fr in traceback.extract_tb(e.__traceback__) if fr.filename == code.co_filename]
    if not frames:
        return ""
    line = (frames[-1].line or "").strip()
    return f" (line {frames[-1].lineno}{': ' + line if line else ''})"


def _raised(label: str, role: str, args, f, e: BaseException, how: str) -> RuleError:
    first = (str(e).strip().splitlines() or [""])[0]
    return RuleError(f"{label}: {_call(role, args)} raised {type(e).__name__}{': ' + first if first else ''}"
                     f"{_user_line(e, f)} {how}")


def _check_numpy_side(label: str, role: str, f, args) -> None:
    """With xp = numpy: no jax-only calls, the shape in is the shape out, and each entry of the
    result depends on its own entry of the input alone."""
    whole = tuple(_PROBES[a] for a in args)
    results = []
    for probe in (whole, tuple(p[0] for p in whole), tuple(np.asarray(p[0, 0]) for p in whole)):
        shape = probe[0].shape
        try:
            with np.errstate(all="ignore"):
                out = f(*probe, np)
        except Exception as e:  # noqa: BLE001  (the user's code: reported, not ours)
            raise _raised(label, role, args, f, e, f"with xp = numpy on {', '.join(args)} of shape {shape}") from None
        if isinstance(out, jax.Array):
            raise RuleError(f"{label}: {_call(role, args)} calls a jax-only function on NumPy arrays "
                            "(it returned a jax array with xp = numpy): write it with xp (xp.exp, not jnp.exp)")
        values = _numbers(label, role, args, out, "numpy")
        if values.shape != shape:
            hint = " (a constant c: return c * xp.ones_like(z))" if values.shape == () and "z" in args else ""
            raise RuleError(f"{label} is not elementwise: {_call(role, args)} returned shape {values.shape} for "
                            f"{', '.join(args)} of shape {shape}{hint}")
        results.append(np.asarray(values, dtype=np.float64))
    for index in np.ndindex(whole[0].shape):  # each entry alone gives what it gave within the array
        alone = tuple(np.asarray(p[index]) for p in whole)
        try:
            with np.errstate(all="ignore"):
                want = float(np.asarray(f(*alone, np), dtype=np.float64))
        except Exception as e:  # noqa: BLE001
            raise _raised(label, role, args, f, e, "with xp = numpy on a single entry (shape ())") from None
        got = float(results[0][index])
        if not (got == want or abs(got - want) <= 1e-12 * max(1.0, abs(want)) or (np.isnan(got) and np.isnan(want))):
            at = ", ".join(f"{a} = {p[index]:g}" for a, p in zip(args, whole))
            raise RuleError(f"{label} is not elementwise: {_call(role, args)} at {at} gives {got:.6g} within an "
                            f"array of shape {whole[0].shape} but {want:.6g} alone (each entry must depend on "
                            "its own input only)")


def _numbers(label: str, role: str, args, out, namespace: str) -> np.ndarray:
    try:
        values = np.asarray(out)
    except Exception:  # noqa: BLE001
        values = np.asarray(None)
    if values.dtype.kind not in "biuf":
        raise RuleError(f"{label}: {_call(role, args)} returned {type(out).__name__}"
                        f"{'' if values.dtype.kind == 'O' else ' of dtype ' + str(values.dtype)} with xp = "
                        f"{namespace}, not an array of real numbers")
    return values


@in_float64
def _check_jax_side(label: str, role: str, f, args) -> None:
    """With xp = jax.numpy, traced as jax.grad and jit trace it: no NumPy-only calls, no Python
    branching on values, the shape in is the shape out (a scalar for a scalar: jax.grad needs it)."""
    for shape in ((), (3,), (2, 3)):
        structs = [jax.ShapeDtypeStruct(shape, jnp.float64) for _ in args]
        try:
            out = jax.eval_shape(lambda *xs: f(*xs, jnp), *structs)
        except jax.errors.TracerArrayConversionError as e:
            raise RuleError(f"{label}: {_call(role, args)} calls a NumPy-only function on jax arrays"
                            f"{_user_line(e, f)}: write it with xp (xp.exp, not np.exp)") from None
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError) as e:
            raise RuleError(f"{label}: {_call(role, args)} branches in Python on the values of "
                            f"{', '.join(args)}{_user_line(e, f)} (if, and/or, float(), int()): jax traces it, "
                            "so write it with xp.where") from None
        except Exception as e:  # noqa: BLE001
            raise _raised(label, role, args, f, e,
                          f"with xp = jax.numpy on {', '.join(args)} of shape {shape}") from None
        got = getattr(out, "shape", None)
        dtype = getattr(out, "dtype", None)
        if got is None or dtype is None or np.dtype(dtype).kind not in "biuf":
            raise RuleError(f"{label}: {_call(role, args)} returned {type(out).__name__} with xp = jax.numpy, "
                            "not an array of real numbers")
        if tuple(got) != shape:
            raise RuleError(f"{label} is not elementwise: {_call(role, args)} returned shape {tuple(got)} for "
                            f"{', '.join(args)} of shape {shape} (with xp = jax.numpy)")


@in_float64
def _check_padded_point(label: str, functions, args) -> None:
    """Each function, and jax.grad of the first (the one the reference differentiates), finite
    where the padded reference evaluates it."""
    point = tuple(_PADDED_AT[a] for a in args)
    where = ", ".join(f"{a} = {v:g}" for a, v in zip(args, point))
    (first_role, first), rest = functions[0], functions[1:]
    evaluations = []
    for i, (role, f) in enumerate(functions):
        evaluations.append(("value" if i == 0 else f"{role} =", "numpy",
                            lambda f=f: f(*(np.asarray(v) for v in point), np)))
        evaluations.append(("value" if i == 0 else f"{role} =", "jax.numpy",
                            lambda f=f: f(*(jnp.asarray(v, jnp.float64) for v in point), jnp)))
    evaluations.append((f"jax.grad of {first_role} =", "jax.numpy",
                        lambda: jax.grad(lambda *xs: first(*xs, jnp))(*(jnp.asarray(v, jnp.float64) for v in point))))
    for what, namespace, evaluate in evaluations:
        try:
            with np.errstate(all="ignore"):
                value = np.asarray(evaluate(), dtype=np.float64)
        except Exception as e:  # noqa: BLE001
            raise RuleError(f"{label}: evaluating it at {where} with xp = {namespace} raised {type(e).__name__}: "
                            f"{(str(e).strip().splitlines() or [''])[0]}") from None
        if not np.all(np.isfinite(value)):
            shown = f"{float(value.ravel()[0]):g}" if value.size else "empty"
            raise RuleError(f"{label} is not finite at {where} ({what} {shown}"
                            f"{', with xp = jax.numpy' if namespace == 'jax.numpy' and what == 'value' else ''}): "
                            "the padded reference evaluates it there")


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
    """A module by import name, or a .py file by path; an import name that is not importable but
    is a file `NAME.py` in the current folder (dots as folders) is that file: `bp-oracle` runs from
    its own script, whose import path does not hold the current folder."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return _load_file(spec, Path(spec), what)
    try:
        return importlib.import_module(spec)
    except RuleError as e:
        raise ValueError(f"{what} {spec}: {e}") from None
    except ModuleNotFoundError as e:
        missing = e.name is not None and (spec == e.name or spec.startswith(e.name + "."))
        here = Path.cwd() / (spec.replace(".", "/") + ".py")
        if missing and here.is_file():
            return _load_file(spec, here, what)
        raise ValueError(f"{what} {spec!r} failed to import: {type(e).__name__}: {e}"
                         f"{' (nor is there a file ' + str(here) + ')' if missing else ''}") from None
    except Exception as e:
        raise ValueError(f"{what} {spec!r} failed to import: {type(e).__name__}: {e}") from None


def _load_file(spec: str, path: Path, what: str):
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
    except RuleError as e:  # a registered function breaks a rule: that is the whole message
        del sys.modules[name]
        raise ValueError(f"{what} {spec}: {e}") from None
    except Exception as e:
        del sys.modules[name]
        raise ValueError(f"{what} {spec!r} failed to load: {type(e).__name__}: {e}") from None
    return module


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


__all__ = ["DerivativeCheck", "RuleError", "check_activation", "check_cost", "derivative_checks", "load_function",
           "load_plugins", "register_activation", "register_cost", "temporary_registrations"]
