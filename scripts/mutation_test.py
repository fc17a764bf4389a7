"""Mutation testing of manual_bp's math: how much of BP1–BP4, the activations and the costs the
test suite would notice if it were wrong.

    python scripts/mutation_test.py                      # every mutant, 2 jobs (docs/mutation.md)
    python scripts/mutation_test.py --files equations.py --limit 20 --json out.json
    python scripts/mutation_test.py --list               # the mutants, without running them

mutmut proper would run the whole pytest suite per mutant (minutes each: jax compiles per network
shape), so this is the documented equivalent (issue 7):

1. Mutants. Each of manual_bp/{equations,activations,costs,backprop}.py is parsed with `ast`; every
   mutation site (operators below) gives one mutant: the one node rewritten with `ast.unparse`
   and spliced into the original text, so a mutant differs from the file in that spot alone
   (checked: the spliced text parses to exactly the mutated tree).
2. Expected values, once per run, in this process (jax, float64: the reference `autodiff_ref`
   and the oracle's suites `bp_oracle`, as the tests use them), written to `expected.npz` +
   `expected.json` in a temp dir (no pickle).
3. The kill harness (`--harness`, a subprocess per mutant, a copy of manual_bp with the one
   mutated file first on sys.path, the repository's bp_spec and bp_oracle after it): the test
   suite's own checks on manual_bp, made fast — the same cases, the same tolerance policy
   (`bp_oracle/tolerance.py`), the same comparison (`bp_oracle/agreement.py`), warnings as
   errors, expected values read from the file. It never imports jax (it asserts so). Each check
   is named after the test it mirrors.
   A failing check, a crash or a timeout kills the mutant; passing every check, it survives.

The run aborts unless the harness passes the unmutated package and kills a known-bad one
(BP3 summing instead of averaging over the batch, the suite's own negative control).
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "manual_bp"
MATH_FILES = ("equations.py", "activations.py", "costs.py", "backprop.py")


# ==============================================================================================
# 1. Mutants
# ==============================================================================================
#
# Operators (one mutant per site and replacement):
#   binop      + ↔ −, * ↔ /, ** → *
#   matmul     A @ B → B @ A, and .T toggled on each operand (A.T @ B, A @ B.T; an existing .T removed)
#   augassign  += ↔ −=, *= ↔ /=
#   unary      −x → x, not x → x; −f(x) for f in exp, expm1, log, log1p, tanh; return −value
#   compare    > → ≥, <;  ≥ → >, ≤;  < → ≤, >;  ≤ → <, ≥;  == ↔ !=;  is ↔ is not;  in ↔ not in
#   boolop     and ↔ or;  if/ternary condition negated
#   constant   int n → n + 1 (and 1 → 0); float 0 → 1, 1 → 0 and 2, 0.5 → 1, any other c → c·(1 + 1e-7)
#              (a relative perturbation 100× the float64 rtol, below float32's: the tolerance's power);
#              True ↔ False
#   numpy      np.maximum ↔ np.minimum, np.max ↔ np.min, np.argmax ↔ np.argmin, np.sum ↔ np.mean,
#              np.exp ↔ np.expm1, np.log ↔ np.log1p, np.zeros_like ↔ np.ones_like, np.abs(x) → x;
#              x.mean() ↔ x.sum(); np.where(c, a, b) → np.where(c, b, a)
#   keyword    keepdims removed; axis=0 ↔ axis=−1
#   arguments  the first two positional arguments of a call swapped (not for the symmetric
#              np.maximum, np.minimum, np.result_type, nor np.where: its branches are swapped above);
#              return a, b → return b, a
#   statement  deleted (`pass`): an augmented assignment (nabla_W += …), a call statement
#              (zs.append(z)), a store into a container (deltas[l] = delta), a re-binding of a
#              name bound before it (delta = backpropagate_error(…))
#
# Excluded, because it is not math (and say so in docs/mutation.md):
#   docstrings, comments, imports, type annotations; the field declarations of the Activation/Cost
#   dataclasses and of the Trace/Pieces NamedTuples (field names and defaults) and
#   Activation.__post_init__ (a constructor check); the registries ACTIVATIONS, COSTS (name →
#   NumPy function wiring) and get_/register_activation, get_/register_cost (lookups,
#   registration, error messages); every `raise` and f-string message; the drivers' input checks
#   (net.check_params/check_batch, bp_spec/network.py's). What a name means (output range, kinks,
#   output-only, admissible outputs) is bp_spec/names.py's, shared with the reference: not
#   manual_bp's, so not mutated here.

BINOP_SWAPS = {ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div,), ast.Div: (ast.Mult,),
               ast.Pow: (ast.Mult,)}
AUG_SWAPS = {ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div,), ast.Div: (ast.Mult,)}
COMPARE_SWAPS = {ast.Gt: (ast.GtE, ast.Lt), ast.GtE: (ast.Gt, ast.LtE), ast.Lt: (ast.LtE, ast.Gt),
                 ast.LtE: (ast.Lt, ast.GtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
                 ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
COMPLEMENTED = {ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn}
SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.Gt: ">",
           ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
           ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or"}
NP_SWAPS = {"maximum": "minimum", "minimum": "maximum", "max": "min", "min": "max", "argmax": "argmin",
            "argmin": "argmax", "sum": "mean", "mean": "sum", "exp": "expm1", "expm1": "exp",
            "log": "log1p", "log1p": "log", "zeros_like": "ones_like", "ones_like": "zeros_like"}
METHOD_SWAPS = {"mean": "sum", "sum": "mean"}
NP_NEGATE_ARGUMENT = {"exp", "expm1", "log", "log1p", "tanh"}
SYMMETRIC = {"maximum", "minimum", "result_type", "where"}
EXCLUDED_FUNCTIONS = {"get_activation", "get_cost", "register_activation", "register_cost", "__post_init__"}
EXCLUDED_MODULE_NAMES = {"ACTIVATIONS", "COSTS", "Array"}
VALIDATION_CALLS = {"check_params", "check_batch"}
SKIPPED_FIELDS = {"annotation", "returns", "decorator_list", "type_comment", "type_params"}


@dataclass
class Mutant:
    id: str  # file:line:col:operator, unique within a run
    file: str  # e.g. manual_bp/equations.py
    line: int
    col: int
    function: str
    operator: str
    diff: str  # the changed lines, unified-diff style ("-old" / "+new")
    source: str  # the whole mutated file

    def summary(self) -> str:
        return f"{self.file}:{self.line}:{self.col} in {self.function}(): {self.operator}"


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _is_np(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "np"


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _excluded(node: ast.AST, parent: ast.AST | None) -> bool:
    """Nodes whose whole subtree is not math (see the list above)."""
    if isinstance(node, (ast.Raise, ast.JoinedStr, ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in EXCLUDED_FUNCTIONS:
        return True
    if isinstance(node, ast.stmt) and _docstring(node):
        return True
    if isinstance(parent, ast.ClassDef) and isinstance(node, ast.AnnAssign):
        return True  # a dataclass field declaration
    if isinstance(parent, ast.Module) and isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id in EXCLUDED_MODULE_NAMES for t in targets):
            return True
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
            and _call_name(node.value) in VALIDATION_CALLS:
        return True
    return False


def _walk(tree: ast.Module):
    """(node, path, parent, function name, under an axis= keyword) for every node that may be
    mutated, in source order; `path` locates the node from the root: ((field, index), …)."""
    def visit(node, path, parent, function, in_axis):
        if _excluded(node, parent):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        yield node, path, parent, function, in_axis
        for field, value in ast.iter_fields(node):
            if field in SKIPPED_FIELDS:
                continue
            if isinstance(node, ast.keyword) and node.arg == "axis":
                in_axis = True
            items = value if isinstance(value, list) else [value]
            for i, child in enumerate(items):
                if isinstance(child, ast.AST):
                    where = (field, i if isinstance(value, list) else None)
                    yield from visit(child, path + (where,), node, function, in_axis)
    yield from visit(tree, (), None, "<module>", False)


def _bound_before(function: ast.FunctionDef, stmt: ast.stmt) -> set[str]:
    """Names the function binds before `stmt` (its arguments, earlier assignments, loop targets)."""
    names = {a.arg for a in function.args.args + function.args.kwonlyargs + function.args.posonlyargs}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and \
                (node.lineno, node.col_offset) < (stmt.lineno, stmt.col_offset):
            names.add(node.id)
    return names


def _negate(test: ast.expr) -> ast.expr:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return test.operand
    return ast.UnaryOp(ast.Not(), test)


def _transposed(operand: ast.expr) -> tuple[str, ast.expr]:
    if isinstance(operand, ast.Attribute) and operand.attr == "T":
        return "drop .T", operand.value
    return "add .T", ast.Attribute(operand, "T", ast.Load())


def _constant_replacements(value) -> list:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1] + ([0] if value == 1 else [])
    if isinstance(value, float):
        if value == 0:
            return [1.0]
        if value == 1:
            return [0.0, 2.0]
        if value == 0.5:
            return [1.0]
        return [value * (1 + 1e-7)]
    return []


def _mutations(node, parent, field, function_node, in_axis):
    """(operator label, replacement node) for every mutation of `node` itself."""
    c = copy.deepcopy
    if field == "test" and isinstance(parent, (ast.If, ast.IfExp, ast.While)) and not (
            isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPLEMENTED):
        yield "condition negated", _negate(c(node))  # (x is None: its complement comes from compare)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.MatMult):
            yield "matmul A @ B → B @ A", ast.BinOp(c(node.right), ast.MatMult(), c(node.left))
            what, new = _transposed(c(node.left))
            yield f"matmul {what} on the left operand", ast.BinOp(new, ast.MatMult(), c(node.right))
            what, new = _transposed(c(node.right))
            yield f"matmul {what} on the right operand", ast.BinOp(c(node.left), ast.MatMult(), new)
        for op in BINOP_SWAPS.get(type(node.op), ()):
            yield f"binop {SYMBOLS[type(node.op)]} → {SYMBOLS[op]}", ast.BinOp(c(node.left), op(), c(node.right))
    elif isinstance(node, ast.AugAssign):
        for op in AUG_SWAPS.get(type(node.op), ()):
            yield (f"augassign {SYMBOLS[type(node.op)]}= → {SYMBOLS[op]}=",
                   ast.AugAssign(c(node.target), op(), c(node.value)))
        yield "statement deleted", ast.Pass()
    elif isinstance(node, ast.UnaryOp) and not in_axis:
        if isinstance(node.op, ast.USub):
            yield "unary −x → x", c(node.operand)
        elif isinstance(node.op, ast.Not):
            yield "unary not x → x", c(node.operand)
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in COMPARE_SWAPS.get(type(op), ()):
                ops = [c(o) for o in node.ops]
                ops[i] = new()
                yield (f"compare {SYMBOLS[type(op)]} → {SYMBOLS[new]}",
                       ast.Compare(c(node.left), ops, [c(x) for x in node.comparators]))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"boolop {SYMBOLS[type(node.op)]} → {SYMBOLS[type(new)]}", ast.BoolOp(new, [c(v) for v in node.values])
    elif isinstance(node, ast.Constant) and not in_axis:
        for value in _constant_replacements(node.value):
            yield f"constant {node.value!r} → {value!r}", ast.Constant(value)
    elif isinstance(node, ast.Call):
        yield from _call_mutations(node)
    elif isinstance(node, ast.Return) and node.value is not None:
        if isinstance(node.value, ast.Tuple) and len(node.value.elts) >= 2:
            elts = [c(e) for e in node.value.elts]
            elts[0], elts[1] = elts[1], elts[0]
            yield "return a, b → return b, a", ast.Return(ast.Tuple(elts, ast.Load()))
        elif not isinstance(node.value, (ast.Tuple, ast.List, ast.ListComp, ast.Compare, ast.BoolOp,
                                         ast.Constant, ast.Subscript, ast.UnaryOp)) and not (
                isinstance(node.value, ast.Call) and _call_name(node.value) in {"Layer", "Trace"}):
            yield "return value negated", ast.Return(ast.UnaryOp(ast.USub(), c(node.value)))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "statement deleted", ast.Pass()
    elif isinstance(node, ast.Assign) and function_node is not None:
        stores = all(isinstance(t, (ast.Subscript, ast.Attribute)) for t in node.targets)
        names = {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        rebinding = all(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets) and \
            names <= _bound_before(function_node, node)
        if stores or rebinding:
            yield "statement deleted", ast.Pass()


def _call_mutations(node: ast.Call):
    c = copy.deepcopy
    f = node.func
    if isinstance(f, ast.Attribute) and _is_np(f.value):
        if f.attr in NP_SWAPS:
            new = c(node)
            new.func.attr = NP_SWAPS[f.attr]
            yield f"numpy np.{f.attr} → np.{NP_SWAPS[f.attr]}", new
        if f.attr == "abs" and len(node.args) == 1:
            yield "numpy np.abs(x) → x", c(node.args[0])
        if f.attr in NP_NEGATE_ARGUMENT and node.args and not (
                isinstance(node.args[0], ast.UnaryOp) and isinstance(node.args[0].op, ast.USub)):
            new = c(node)
            new.args[0] = ast.UnaryOp(ast.USub(), new.args[0])
            yield f"unary np.{f.attr}(x) → np.{f.attr}(−x)", new
        if f.attr == "where" and len(node.args) == 3:
            new = c(node)
            new.args[1], new.args[2] = new.args[2], new.args[1]
            yield "numpy np.where(c, a, b) → np.where(c, b, a)", new
    elif isinstance(f, ast.Attribute) and f.attr in METHOD_SWAPS:
        new = c(node)
        new.func.attr = METHOD_SWAPS[f.attr]
        yield f"method .{f.attr}() → .{METHOD_SWAPS[f.attr]}()", new
    for i, kw in enumerate(node.keywords):
        if kw.arg == "keepdims":
            new = c(node)
            del new.keywords[i]
            yield "keyword keepdims removed", new
        if kw.arg == "axis":
            value = kw.value
            if isinstance(value, ast.Constant) and value.value == 0:
                replacement, label = ast.UnaryOp(ast.USub(), ast.Constant(1)), "axis=0 → axis=-1"
            elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and \
                    isinstance(value.operand, ast.Constant) and value.operand.value == 1:
                replacement, label = ast.Constant(0), "axis=-1 → axis=0"
            else:
                continue
            new = c(node)
            new.keywords[i].value = replacement
            yield f"keyword {label}", new
    name = _call_name(node)
    if len(node.args) >= 2 and not (isinstance(f, ast.Attribute) and _is_np(f.value) and name in SYMMETRIC) \
            and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
        new = c(node)
        new.args[0], new.args[1] = new.args[1], new.args[0]
        yield f"arguments of {name}() swapped", new


def _dump_with(tree: ast.AST, path, new: ast.AST) -> str:
    """ast.dump of `tree` with the node at `path` replaced by `new`: swapped in, dumped and swapped
    back (a deep copy per mutant was a third of generating them)."""
    holder = tree
    for field, index in path[:-1]:
        holder = getattr(holder, field)[index] if index is not None else getattr(holder, field)
    field, index = path[-1]
    container = getattr(holder, field) if index is not None else None
    old = container[index] if index is not None else getattr(holder, field)
    try:
        if index is None:
            setattr(holder, field, new)
        else:
            container[index] = new
        return ast.dump(tree)
    finally:
        if index is None:
            setattr(holder, field, old)
        else:
            container[index] = old


def _splice(lines: list[bytes], node: ast.AST, text: str) -> str:
    """The file with `node`'s source span replaced by `text` (AST offsets are UTF-8 bytes)."""
    start, end = node.lineno - 1, node.end_lineno - 1
    head = lines[start][:node.col_offset]
    tail = lines[end][node.end_col_offset:]
    out = lines[:start] + [head + text.encode() + tail] + lines[end + 1:]
    return b"".join(out).decode()


def _diff(original: str, mutated: str) -> str:
    changed = difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm="", n=0)
    return "\n".join(l for l in changed if l[:1] in "+-" and not l.startswith(("+++", "---")))


def generate_mutants(relpath: str, source: str) -> list[Mutant]:
    """Every mutant of one file, in source order, each a distinct program."""
    tree = ast.parse(source)
    lines = source.encode().splitlines(keepends=True)
    functions = {}  # node → its innermost enclosing function (ast.walk visits outer ones first)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                functions[id(inner)] = node
    mutants, seen = [], {source}
    statement_dumps = [ast.dump(stmt) for stmt in tree.body]
    for node, path, parent, function, in_axis in _walk(tree):
        if len(path) < 2:
            continue
        top = path[0][1]  # the module-level statement the node is in: only it changes
        first, last = tree.body[top].lineno - 1, tree.body[top].end_lineno  # its lines (decorators apart)
        first = min([first] + [d.lineno - 1 for d in getattr(tree.body[top], "decorator_list", [])])
        for label, new in _mutations(node, parent, path[-1][0], functions.get(id(node)), in_axis):
            want = _dump_with(tree.body[top], path[1:], new)
            if want == statement_dumps[top]:
                continue
            text = ast.unparse(new)
            mutated = None
            for candidate in (text, f"({text})"):  # parentheses only where precedence needs them
                spliced = _splice(lines, node, candidate)
                # only that statement's lines changed: it alone is parsed again (as the whole file
                # was: the others are untouched, and a top-level statement parses on its own)
                statement = "".join(spliced.splitlines(keepends=True)[first:last + spliced.count("\n") - source.count("\n")])
                try:
                    body = ast.parse(statement).body
                except SyntaxError:
                    continue
                if len(body) == 1 and ast.dump(body[0]) == want:
                    mutated = spliced
                    break
            if mutated is None:
                raise RuntimeError(f"cannot splice {label} at {relpath}:{node.lineno}")
            if mutated in seen:
                continue
            seen.add(mutated)
            ident = f"{relpath}:{node.lineno}:{node.col_offset}:{label}"
            ident += f"#{sum(m.id.split('#')[0] == ident for m in mutants) + 1}" if any(
                m.id.split("#")[0] == ident for m in mutants) else ""  # nested a * b * c: same spot
            mutants.append(Mutant(ident, relpath, node.lineno, node.col_offset, function, label,
                                  _diff(source, mutated), mutated))
    return mutants


def snapshot() -> dict[str, str]:
    """manual_bp's files as they are now, read once: an edit landing mid-run changes nothing."""
    root = REPO / PACKAGE
    return {p.name: p.read_text() for p in sorted(root.glob("*.py"))}


# ==============================================================================================
# 2. Expected values (this process: jax, float64)
# ==============================================================================================


@dataclass(frozen=True)
class Plan:
    """How many cases of each kind the harness checks; `Plan()` mirrors the test suite."""

    quick_suite: bool = True
    sweep: int = 96  # tests/oracle/test_verify_sweep.py: seed 3, cases 0..95, margin < 1e-2
    precision: tuple = (("float32", 96), ("float16", 48), ("bfloat16", 48))  # tests/oracle/test_precision_modes.py
    emulated: int = 8
    negative_control_nets: bool = True
    trajectories: bool = True
    grid: bool = True
    survivors: bool = True  # tests/manual_bp/test_mutation_survivors.py

    @classmethod
    def smoke(cls) -> "Plan":
        """A handful of cases, for tests/manual_bp/test_mutation_tool.py."""
        return cls(quick_suite=False, sweep=4, precision=(("float32", 2),), emulated=1,
                   negative_control_nets=False, trajectories=False, grid=False, survivors=False)


class _Store:
    """Arrays for the .npz, referred to by key from the JSON. They are packed into one flat array
    per dtype (a few thousand members of an .npz take a second to open; one takes nothing)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def put(self, value) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(value)
        return key

    def save(self, path: Path) -> dict:
        flat: dict[str, list] = {}
        sizes: dict[str, int] = {}
        index = {}
        for key, value in self.arrays.items():
            parts = flat.setdefault(value.dtype.str, [])
            offset = sizes.get(value.dtype.str, 0)
            sizes[value.dtype.str] = offset + value.size
            parts.append(value.ravel())
            index[key] = [value.dtype.str, offset, list(value.shape)]
        np.savez(path, **{f"dtype{k}": np.concatenate(parts) for k, parts in enumerate(flat.values())})
        return {"dtypes": list(flat), "index": index}


    def record(self, rec) -> dict:
        """A Trace-like record (z, a, delta, cost, grads) as keys."""
        return {"z": [self.put(v) for v in rec.z], "a": [self.put(v) for v in rec.a],
                "delta": [self.put(v) for v in rec.delta], "cost": float(rec.cost),
                "grads": [[self.put(W), self.put(b)] for W, b in rec.grads]}

    def case(self, net, params, x, y, **extra) -> dict:
        return {"sizes": list(net.sizes), "activations": list(net.activations), "cost": net.cost,
                "l2": net.l2, "l1": net.l1, "params": [[self.put(W), self.put(b)] for W, b in params],
                "x": self.put(x), "y": self.put(y), **extra}


def _load_arrays(path: Path, layout: dict) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        flat = {dtype: npz[f"dtype{k}"] for k, dtype in enumerate(layout["dtypes"])}
    out = {}
    for key, (dtype, offset, shape) in layout["index"].items():
        size = int(np.prod(shape, dtype=np.int64))
        out[key] = flat[dtype][offset:offset + size].reshape(shape).copy()
    return out


def _test_module(path: str):
    """A module of tests/ ("manual_bp/test_training"), whose constants (grids, networks, plans) the
    harness reuses, imported as pytest imports it: by its basename, with its folder and tests/
    (broken_backprops) on sys.path."""
    folder, _, name = path.rpartition("/")
    for where in (REPO / "tests", REPO / "tests" / folder):
        if str(where) not in sys.path:
            sys.path.insert(0, str(where))
    return importlib.import_module(name)


def build_expected(out_dir: Path, plan: Plan = Plan()) -> dict:
    """Run the reference on every case the harness checks; write expected.npz and expected.json."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # this tool's own process: jax computes in float64 here
    import manual_bp as mb
    from autodiff_ref.cache import enable_persistent_cache
    from autodiff_ref.padded import padded_reference_traces
    from autodiff_ref.reference import JAX_ACTIVATIONS, cost_per_example, reference_trace
    from bp_oracle.expected import expected_for
    from bp_oracle.suites import build_suite
    from bp_oracle.sweep.precision import finfo, in_dtype, unit_roundoff
    from bp_oracle.sweep.verify import sweep_case
    from bp_oracle.tolerance import beyond_resolution, cost_conditioning, tolerance_for_case
    from bp_spec.cases import make_case

    enable_persistent_cache()  # as tests/conftest.py: a second run skips the compilations
    jax.config.update("jax_numpy_rank_promotion", "raise")

    store, meta = _Store(), {"plan": asdict(plan)}

    if plan.grid:  # tests/manual_bp/test_activations_and_costs.py
        ac = _test_module("manual_bp/test_activations_and_costs")
        Z = ac.Z
        small = Z[np.abs(Z) <= 2]
        grid = {"Z": store.put(Z), "elementwise": list(ac.ELEMENTWISE), "value": {}, "prime": {},
                "prime_small": {}, "hadamard": {}}
        for name in ac.ELEMENTWISE:
            f = JAX_ACTIVATIONS[name]
            grid["value"][name] = store.put(np.asarray(f(jnp.asarray(Z))))
            grid["prime"][name] = store.put(np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(Z))))
            grid["prime_small"][name] = store.put(np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(small))))
        rng = np.random.default_rng(0)  # test_softmax_jacobian_transpose_product_matches_jax_vjp
        z, g = rng.standard_normal((5, 4)) * 3, rng.standard_normal((5, 4))
        _, vjp = jax.vjp(JAX_ACTIVATIONS["softmax"], jnp.asarray(z))
        grid["softmax_vjp"] = [store.put(z), store.put(g), store.put(np.asarray(vjp(jnp.asarray(g))[0]))]
        rng = np.random.default_rng(1)  # test_hadamard_bp1_is_the_diagonal_case_of_the_jacobian_form
        z, grad_a = rng.standard_normal(6), rng.standard_normal(6)
        grid["hadamard_inputs"] = [store.put(z), store.put(grad_a)]
        for name in ac.ELEMENTWISE:
            J = np.asarray(jax.jacobian(JAX_ACTIVATIONS[name])(jnp.asarray(z)))
            grid["hadamard"][name] = store.put(J.T @ grad_a)
        textbook = {
            "quadratic": lambda a, y: 0.5 * jnp.sum((a - y) ** 2),
            "cross_entropy": lambda a, y: -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log1p(-a)),
            "log_likelihood": lambda a, y: -jnp.sum(y * jnp.log(a)),
        }
        grid["costs"] = []  # test_cost_gradient_matches_jax_grad_of_the_cost_alone
        for cost, output in ac.COST_AND_OUTPUT:
            z, y = ac._outputs(cost, np.random.default_rng(2))
            a = mb.get_activation(output).fn(z)  # the unmutated σ: the check is of the cost alone
            value = np.asarray(cost_per_example(cost, output, jnp.asarray(z), jnp.asarray(a), jnp.asarray(y)))
            grad = np.asarray(jax.grad(textbook[cost])(jnp.asarray(a), jnp.asarray(y)))
            grid["costs"].append({"cost": cost, "output": output, "z": store.put(z), "y": store.put(y),
                                  "a": store.put(a), "value": store.put(value), "grad": store.put(grad)})
        grid["shortcuts"] = []  # test_simplified_output_error_equals_general_bp1_and_jax
        for cost, output in [("cross_entropy", "sigmoid"), ("cross_entropy", "softmax"),
                             ("log_likelihood", "softmax"), ("log_likelihood", "sigmoid")]:
            z, y = ac._outputs(cost, np.random.default_rng(3))
            ref = np.asarray(jax.vmap(jax.grad(
                lambda z_, y_: cost_per_example(cost, output, z_, JAX_ACTIVATIONS[output](z_), y_)))(
                jnp.asarray(z), jnp.asarray(y)))
            grid["shortcuts"].append({"cost": cost, "output": output, "z": store.put(z), "y": store.put(y),
                                      "ref": store.put(ref)})
        # test_cross_entropy_with_softmax_stays_accurate_when_an_output_saturates
        z = np.array([[30.0, 0.0, -1.0], [0.0, 0.5, 0.2], [-20.0, 15.0, 14.0], [700.0, -700.0, 0.0],
                      [800.0, 0.0, -100.0], [-5.0, 1400.0, 3.0], [0.0, -900.0, 900.0],
                      [0.0, -700.0, -1500.0]])  # past the underflow
        y = np.array([[0.3, 0.6, 0.1], [1.0, 0.0, 0.0], [0.2, 0.9, 0.5], [0.0, 1.0, 0.5],
                      [0.2, 0.7, 0.4], [0.5, 0.25, 0.9], [0.1, 0.3, 0.8], [0.6, 0.2, 0.9]])
        ref = np.asarray(jax.vmap(jax.grad(
            lambda z_, y_: cost_per_example("cross_entropy", "softmax", z_, JAX_ACTIVATIONS["softmax"](z_), y_)))(
            jnp.asarray(z), jnp.asarray(y)))
        grid["ce_softmax_saturated"] = [store.put(z), store.put(y), store.put(ref)]
        meta["grid"] = grid

    meta["quick"] = []
    if plan.quick_suite:  # tests/oracle/test_oracle_judge.py: check_implementation(mb.backprop / full trace, "quick")
        for case in build_suite("quick"):
            exp = expected_for(case)
            meta["quick"].append(store.case(case.net, case.params, case.x, case.y, id=case.id,
                                            ref=store.record(exp),
                                            conventions=[store.record(e) for e in exp.with_conventions().conventions.values()]))

    meta["sweep"] = []  # tests/oracle/test_verify_sweep.py (and the hypothesis properties of test_equations_…)
    cases = [sweep_case(3, i) for i in range(plan.sweep)]
    for i, (case, ref) in enumerate(zip(cases, padded_reference_traces(cases) if cases else [])):
        meta["sweep"].append(store.case(*case, id=f"sweep 3:{i}", ref=store.record(ref)))

    meta["precision"] = []  # tests/oracle/test_precision_modes.py
    for dtype, n in plan.precision:
        cases = [sweep_case(0, i) for i in range(n)]
        exact = [in_dtype(case, dtype)[1] for case in cases]
        for i, (case, ex, ref) in enumerate(zip(cases, exact, padded_reference_traces(exact))):
            net, m = case.net, case.x.shape[0]
            kappa = cost_conditioning(net.cost, net.activations[-1], ref.a[-1])
            tol = tolerance_for_case(dtype, net.L, max(net.sizes), m, kappa)
            saturated = beyond_resolution(net.cost, net.activations[-1], ref.a[-1], unit_roundoff(dtype),
                                          float(finfo(dtype).smallest_normal))
            meta["precision"].append(store.case(*case, id=f"{dtype} 0:{i}", dtype=dtype, ref=store.record(ref),
                                                tol=[tol.rtol, tol.atol], saturated=bool(saturated)))
    meta["emulated"] = [store.case(*sweep_case(0, i), id=f"emulated 0:{i}") for i in range(plan.emulated)]

    meta["negative_control_nets"] = []
    if plan.negative_control_nets:  # tests/manual_bp/test_negative_controls.py
        for bug, net in sorted(_test_module("manual_bp/test_negative_controls").NETWORK_FOR.items()):
            case = make_case(net, m=5, seed=11)
            meta["negative_control_nets"].append(store.case(*case, id=f"network for {bug}",
                                                            ref=store.record(reference_trace(*case))))
        for name, net in (("one_layer_only", mb.Network([5, 6, 6, 3], ["tanh", "elu", "sigmoid"], "cross_entropy", l2=1e-3)),
                          ("rounding_level", mb.Network([5, 6, 3], ["tanh", "sigmoid"], "quadratic"))):
            case = make_case(net, m=4, seed=3)
            meta[f"tolerance_{name}"] = store.case(*case, id=f"tolerance {name}", ref=store.record(reference_trace(*case)))

    meta["trajectories"] = []
    if plan.trajectories:  # tests/manual_bp/test_training.py
        from autodiff_ref.trajectory import reference_sgd_steps
        from manual_bp.training import one_hot

        tr = _test_module("manual_bp/test_training")
        data = tr.blobs(5)
        y = one_hot(data.labels, 3)
        for net in tr.TRAJECTORY_NETS:
            params = net.init_params(11)
            steps = [[[store.put(W), store.put(b)] for W, b in s.params]
                     for s in reference_sgd_steps(net, params, data.x, y, **tr.PLAN)]
            meta["trajectories"].append(store.case(net, params, data.x, y, id=f"trajectory {'-'.join(net.activations)}-{net.cost}",
                                                   plan=tr.PLAN, steps=steps))
        decay = tr.blobs(0)
        meta["weight_decay"] = {"x": store.put(decay.x), "labels": store.put(decay.labels)}
    if plan.survivors:  # tests/manual_bp/test_mutation_survivors.py
        ms = _test_module("manual_bp/test_mutation_survivors")
        case = ms.l1_kink_case()
        survivors = {"l1_kink": store.case(*case, id="l1 kink", ref=store.record(reference_trace(*case))),
                     "moderate": [], "saturated": []}
        z, targets = ms.moderate_outputs()
        logistic = ms.logistic()
        a = logistic.fn(z)  # the unmutated σ: the check is of the cost alone
        for cost, y in targets.items():
            ref = np.asarray(cost_per_example(cost, "logistic", z, a, y))
            survivors["moderate"].append({"cost": cost, "z": store.put(z), "a": store.put(a), "y": store.put(y),
                                          "ref": store.put(ref)})
        a = logistic.fn(ms.SATURATED_Z)
        for cost in ("cross_entropy", "log_likelihood"):
            ref = np.asarray(cost_per_example(cost, "logistic", ms.SATURATED_Z, a, ms.SATURATED_Y))
            survivors["saturated"].append({"cost": cost, "z": store.put(ms.SATURATED_Z),
                                           "y": store.put(ms.SATURATED_Y), "ref": store.put(ref)})
        survivors["integer_z"], survivors["scalar_z"] = store.put(ms.INTEGER_Z), ms.SCALAR_Z
        meta["survivors"] = survivors
    ns = _test_module("spec/test_network_spec").NET
    meta["spec_net"] = {"sizes": list(ns.sizes), "activations": list(ns.activations), "cost": ns.cost}

    out_dir.mkdir(parents=True, exist_ok=True)
    meta["layout"] = store.save(out_dir / "expected.npz")
    (out_dir / "expected.json").write_text(json.dumps(meta))
    return meta


# ==============================================================================================
# 3. The kill harness (a subprocess; NumPy only, never jax)
# ==============================================================================================


class Killed(Exception):
    """A check of the test suite failed on this package."""


def _expect(ok, what: str) -> None:
    if not ok:
        raise Killed(what)


def _harness(expected_dir: Path, package_root: Path) -> int:
    # the mutated copy of manual_bp first; the repository after it for what manual_bp and the
    # checks import: bp_spec (the spec: names, Network, Layer) and bp_oracle's NumPy-only modules
    # (tolerance, agreement, trajectory, sweep.precision; bp_oracle/__init__ and sweep/__init__
    # import nothing heavy), never autodiff_ref (jax)
    sys.path[:0] = [str(package_root), str(REPO)]
    warnings.simplefilter("error")  # pyproject.toml's pytest filterwarnings = error

    import manual_bp as mb
    _expect(Path(mb.__file__).resolve().is_relative_to(package_root.resolve()),
            f"harness: imported {mb.__file__}, not the mutant")
    import bp_spec
    from bp_oracle.agreement import agreement
    from bp_oracle.sweep import precision
    from bp_oracle.tolerance import TOLERANCES, Tolerance, compare

    _expect(Path(bp_spec.__file__).resolve().is_relative_to(REPO.resolve()) and precision.mb is mb,
            f"harness: bp_spec from {bp_spec.__file__}, or bp_oracle.sweep.precision runs another manual_bp")

    meta = json.loads((expected_dir / "expected.json").read_text())
    arrays = _load_arrays(expected_dir / "expected.npz", meta["layout"])
    h = types.SimpleNamespace(mb=mb, agreement=agreement, compare=compare, TOL=TOLERANCES["float64"],
                              TOLERANCES=TOLERANCES, Tolerance=Tolerance, arr=arrays.__getitem__, meta=meta)
    current = "start"
    try:
        for current, check in _CHECKS:
            check(h)
    except Killed as e:
        print(f"KILLED by {e}")
        return 1
    except Exception as e:  # noqa: BLE001  (a crash under a test is a failed test)
        print(f"KILLED by {current}: raised {type(e).__name__}: {str(e)[:300]}")
        return 1
    _expect("jax" not in sys.modules, "harness: jax was imported")
    print("SURVIVED")
    return 0


def _net(h, c):
    return h.mb.Network(c["sizes"], c["activations"], c["cost"], l2=c["l2"], l1=c["l1"])


def _case(h, c):
    params = [h.mb.Layer(h.arr(W).copy(), h.arr(b).copy()) for W, b in c["params"]]
    return _net(h, c), params, h.arr(c["x"]).copy(), h.arr(c["y"]).copy()


def _record(h, r):
    return types.SimpleNamespace(z=[h.arr(k) for k in r["z"]], a=[h.arr(k) for k in r["a"]],
                                 delta=[h.arr(k) for k in r["delta"]], cost=r["cost"],
                                 grads=[(h.arr(W), h.arr(b)) for W, b in r["grads"]])


def _grads_only(h, grads):
    return h.mb.Trace(None, None, None, None, grads)


def _all_ok(checks) -> bool:
    return bool(checks) and all(c.ok for c in checks)


def _first_bad(checks) -> str:
    bad = [c for c in checks if not c.ok]
    return bad[0].describe() if bad else "no checks"


# --- tests/manual_bp/test_activations_and_costs.py ----------------------------------------------

def check_activations(h):
    g, mb, TOL = h.meta.get("grid"), h.mb, h.TOL
    if not g:
        return
    Z = h.arr(g["Z"])
    for name in g["elementwise"]:
        act = mb.get_activation(name)
        _expect(h.compare(act.fn(Z), h.arr(g["value"][name]), TOL).ok, f"test_activation_value_matches_jax[{name}]")
        _expect(h.compare(act.prime(Z), h.arr(g["prime"][name]), TOL).ok,
                f"test_activation_derivative_matches_jax_grad_of_the_function_alone[{name}]")
        z = Z[np.abs(Z) <= 2]
        try:
            np.testing.assert_allclose(act.prime(z), h.arr(g["prime_small"][name]), rtol=1e-12, atol=0)
        except AssertionError:
            raise Killed(f"test_activation_derivative_has_full_relative_accuracy_where_it_matters[{name}]") from None
    z = np.array([10.0, 30.0, 40.0, 300.0])  # test_sigmoid_and_tanh_derivatives_stay_accurate_in_saturation
    try:
        np.testing.assert_allclose(mb.get_activation("sigmoid").prime(z), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-14)
        np.testing.assert_allclose(mb.get_activation("sigmoid").prime(-z), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-14)
        np.testing.assert_allclose(mb.get_activation("tanh").prime(z), 1 / np.cosh(z) ** 2, rtol=1e-14)
    except AssertionError:
        raise Killed("test_sigmoid_and_tanh_derivatives_stay_accurate_in_saturation") from None
    for name in list(mb.ACTIVATIONS):  # test_activations_are_stable_without_warnings_for_large_z
        z = np.array([[-1e3, -700.0, -50.0, 0.0, 50.0, 700.0, 1e3]])
        act = mb.get_activation(name)
        what = f"test_activations_are_stable_without_warnings_for_large_z[{name}]"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                values = [act.fn(z)]
                values.append(act.prime(z) if act.elementwise else act.jacobian_T_dot(z, np.ones_like(z)))
                if act.log_fn:
                    values += [act.log_fn(z), act.log1m_fn(z)]
        except Warning as w:
            raise Killed(f"{what}: {type(w).__name__}: {w}") from None
        _expect(all(np.all(np.isfinite(v) | (v == -np.inf)) for v in values), what)
        _expect(np.all(np.isfinite(values[0])) and np.all(np.isfinite(values[1])), what)
    for name, point, expected in [("relu", 0.0, 0.0), ("leaky_relu", 0.0, 1.0), ("elu", 0.0, 1.0)]:
        _expect(mb.get_activation(name).prime(np.array([point]))[0] == expected,
                f"test_derivative_at_a_kink_follows_jax_convention[{name}]")
    z, gv, ref = (h.arr(k) for k in g["softmax_vjp"])
    _expect(h.compare(mb.get_activation("softmax").jacobian_T_dot(z, gv), ref, TOL).ok,
            "test_softmax_jacobian_transpose_product_matches_jax_vjp")
    z, grad_a = (h.arr(k) for k in g["hadamard_inputs"])
    for name in g["elementwise"]:
        _expect(h.compare(mb.output_error(grad_a, z, mb.get_activation(name)), h.arr(g["hadamard"][name]), TOL).ok,
                f"test_hadamard_bp1_is_the_diagonal_case_of_the_jacobian_form[{name}]")


def check_costs(h):
    g, mb, TOL = h.meta.get("grid"), h.mb, h.TOL
    if not g:
        return
    for c in g["costs"]:
        what = f"test_cost_gradient_matches_jax_grad_of_the_cost_alone[{c['cost']}-{c['output']}]"
        sigma, cost = mb.get_activation(c["output"]), mb.get_cost(c["cost"])
        z, y, a = h.arr(c["z"]), h.arr(c["y"]), h.arr(c["a"])
        _expect(h.compare(cost.value(z, a, y, sigma), h.arr(c["value"]), TOL).ok, what + " (value)")
        _expect(h.compare(cost.grad_a(a, y), h.arr(c["grad"]), TOL).ok, what + " (gradient)")
    for c in g["shortcuts"]:
        what = f"test_simplified_output_error_equals_general_bp1_and_jax[{c['cost']}-{c['output']}]"
        sigma, cost = mb.get_activation(c["output"]), mb.get_cost(c["cost"])
        z, y = h.arr(c["z"]), h.arr(c["y"])
        a = sigma.fn(z)
        shortcut = cost.output_error_shortcuts[c["output"]](z, a, y)
        general = mb.output_error(cost.grad_a(a, y), z, sigma)
        _expect(h.compare(shortcut, general, TOL).ok, what + " (general BP1)")
        _expect(h.compare(shortcut, h.arr(c["ref"]), TOL).ok, what + " (jax)")
    z, y, ref = (h.arr(k) for k in g["ce_softmax_saturated"])
    got = mb.get_cost("cross_entropy").output_error_shortcuts["softmax"](z, mb.get_activation("softmax").fn(z), y)
    try:
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    except AssertionError:
        raise Killed("test_cross_entropy_with_softmax_stays_accurate_when_an_output_saturates") from None
    net = mb.Network([1, 2], "sigmoid", "cross_entropy")  # test_cross_entropy_with_sigmoid_output_error_is_a_minus_y_…
    params = [mb.Layer(np.array([[100.0], [-100.0]]), np.zeros(2))]
    trace = mb.backprop_trace(net, params, np.array([1.0]), np.array([0.0, 1.0]))
    _expect(np.allclose(trace.delta[0], [[1.0, -1.0]]) and np.isclose(trace.cost, 200.0),
            "test_cross_entropy_with_sigmoid_output_error_is_a_minus_y_even_when_saturated")


# --- tests/spec/test_network_spec.py ------------------------------------------------------------

def check_spec(h):
    mb, s = h.mb, h.meta["spec_net"]
    NET = mb.Network(s["sizes"], s["activations"], s["cost"])
    params = NET.init_params(0)
    x, y = np.array([0.1, -0.2, 0.3]), np.array([0.0, 1.0])
    one, batch = mb.backprop(NET, params, x, y), mb.backprop(NET, params, x[None], y[None])
    _expect(all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(one, batch)),
            "test_one_example_as_1d_arrays_is_a_batch_of_one")
    params = NET.init_params(0)
    before = [mb.Layer(W.copy(), b.copy()) for W, b in params]
    x, y = np.ones((3, 3)), np.zeros((3, 2))
    first, second = mb.backprop(NET, params, x, y), mb.backprop(NET, params, x, y)
    what = "test_backprop_is_pure_calling_twice_gives_identical_results_and_leaves_params_alone"
    _expect(all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(first, second)), what)
    _expect(all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(params, before)), what)
    net = mb.Network([3, 5, 4, 2], ["relu", "tanh", "sigmoid"], "quadratic")
    trace = mb.backprop_trace(net, net.init_params(1), np.ones((6, 3)), np.zeros((6, 2)))
    what = "test_trace_records_every_layer_batch_first"
    _expect(all([r.shape for r in record] == [(6, 5), (6, 4), (6, 2)] for record in (trace.z, trace.a, trace.delta)), what)
    _expect(isinstance(trace.cost, float), what)


# --- tests/manual_bp/test_equations_agree_with_autodiff.py and tests/oracle/test_verify_sweep.py --

def check_sweep(h):
    """The sweep of test_verify_sweep (seed 3: every check passes, margin < 1e-2), and on the same
    cases the properties of test_equations_agree_with_autodiff (hypothesis draws other cases of
    the same kind): trace z, a, cost, BP1, BP2; backprop BP3, BP4; matrix form = per-example form."""
    from bp_oracle.sweep.precision import run_candidate

    mb, TOL = h.mb, h.TOL
    margins = []
    for c in h.meta["sweep"]:
        net, params, x, y = case = _case(h, c)
        ref = _record(h, c["ref"])
        with np.errstate(all="ignore"):
            checks = h.agreement(run_candidate(None, case, "float64"), ref, TOL)
        _expect(_all_ok(checks), f"test_manual_bp_passes_the_default_sweep_with_margin ({c['id']}): {_first_bad(checks)}")
        margins.append(max(ch.comparison.margin for ch in checks))
        trace = mb.backprop_trace(*_case(h, c))
        checks = h.agreement(trace, ref, TOL)
        for eq, test in (("forward", "test_forward_pass_z_a_and_cost_match_autodiff"),
                         ("BP1", "test_bp1_output_error_matches_autodiff_delta"),
                         ("BP2", "test_bp2_matches_autodiff_delta_at_every_hidden_layer")):
            mine = [ch for ch in checks if ch.equation == eq]
            _expect(all(ch.ok for ch in mine), f"{test} ({c['id']}): {_first_bad(mine)}")
        _expect(len([ch for ch in checks if ch.equation == "BP2"]) == net.L - 1,
                f"test_bp2_matches_autodiff_delta_at_every_hidden_layer ({c['id']}): count")
        _expect(np.array_equal(trace.delta[net.L - 1].shape, (x.shape[0], net.sizes[-1])),
                f"test_bp1_output_error_matches_autodiff_delta ({c['id']}): shape")
        grads = mb.backprop(*_case(h, c))
        checks = h.agreement(_grads_only(h, grads), ref, TOL)
        for eq, test in (("BP3", "test_bp3_bias_gradient_matches_autodiff_at_every_layer"),
                         ("BP4", "test_bp4_weight_gradient_matches_autodiff_at_every_layer")):
            mine = [ch for ch in checks if ch.equation == eq]
            _expect(len(mine) == net.L and all(ch.ok for ch in mine), f"{test} ({c['id']}): {_first_bad(mine)}")
        looped = mb.backprop_per_example(*_case(h, c))
        _expect(all(h.compare(gW, lW, TOL).ok and h.compare(gb, lb, TOL).ok
                    for (gW, gb), (lW, lb) in zip(grads, looped)),
                f"test_matrix_form_equals_per_example_form ({c['id']})")
    _expect(not margins or max(margins) < 1e-2,
            f"test_manual_bp_passes_the_default_sweep_with_margin: margin {max(margins or [0]):.3g} ≥ 1e-2")


# --- tests/manual_bp/test_workspace.py -----------------------------------------------------------

def check_workspace(h):
    """The workspace path (kept arrays, σ and BP1 a block of rows at a time) gives the plain path's
    bits on the sweep's cases, with blocks of one or two rows, and keeps only z and a."""
    mb = h.mb
    blocks = sys.modules["manual_bp.workspace"]
    saved = blocks.BLOCK_BYTES, blocks.LARGE_BYTES
    blocks.BLOCK_BYTES, blocks.LARGE_BYTES = 48, 0
    try:
        for c in h.meta["sweep"]:
            net, params, x, y = _case(h, c)
            kept = mb.Workspace()
            plain = mb.backprop(net, params, x, y, workspace=False)
            for _ in range(2):  # the second call reuses the arrays
                got = mb.backprop(net, params, x, y, workspace=kept)
                same = all(np.array_equal(g.W, p.W) and np.array_equal(g.b, p.b) for g, p in zip(got, plain))
                _expect(same, f"test_workspace_path_gives_the_plain_paths_bits ({c['id']})")
            # two sets of weight gradients: the first call's were still held (`got`) during the second
            _expect(kept.nbytes == _kept_bytes(net, x.shape[0], x.itemsize, gradient_sets=2),
                    f"test_the_workspace_holds_z_and_a_and_the_weight_gradients_and_nothing_more ({c['id']})")
            _expect(not kept.in_use, f"test_the_workspace_is_let_go_after_an_error ({c['id']})")
        _check_workspace_edges(h)
        _check_gradient_reuse(h)
        _check_workspace_in_use(h, blocks)
    finally:
        blocks.BLOCK_BYTES, blocks.LARGE_BYTES = saved


def _kept_bytes(net, m, itemsize, gradient_sets=1):
    """z^l and a^l, and `gradient_sets` sets of ∂C/∂W^l the caller let go of (the test's kept_bytes)."""
    stored = sum(2 * m * n for n in net.sizes[1:])
    weights = sum(n_in * n_out for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]))
    return (stored + gradient_sets * weights) * itemsize


def _check_gradient_reuse(h):
    """A held gradient (its Layer, or a view of it) is never written; one let go of is written again."""
    mb = h.mb
    net = mb.Network((4, 6, 6, 2), ("relu", "sigmoid", "identity"), "quadratic")
    params, x, y = net.init_params(seed=1), np.linspace(-1, 1, 32).reshape(8, 4), np.full((8, 2), 0.5)
    kept = mb.Workspace()
    first = mb.backprop(net, params, x, y, workspace=kept)
    first_ids = [id(g.W) for g in first]
    view = first[0].W[1:]
    snapshot = view.copy()
    second = mb.backprop(net, params, 2 * x, y, workspace=kept)
    del first
    mb.backprop(net, params, 3 * x, y, workspace=kept)
    _expect(np.array_equal(view, snapshot), "test_gradients_let_go_of_are_reused_and_held_ones_never_written: a held view was written")
    del view
    fourth = mb.backprop(net, params, x, y, workspace=kept)
    plain = mb.backprop(net, params, x, y, workspace=False)
    _expect([id(g.W) for g in fourth] == first_ids
            and all(np.array_equal(g.W, p.W) and np.array_equal(g.b, p.b) for g, p in zip(fourth, plain))
            and kept.nbytes == _kept_bytes(net, 8, 8, gradient_sets=2) and len(second) == net.L,
            "test_gradients_let_go_of_are_reused_and_held_ones_never_written: not reused, or wrong")


def _check_workspace_edges(h):
    """A shallower network after a deeper one keeps only its own z and a; an input that is the
    workspace's own array is read, not overwritten, and the workspace is let go after; a shipped
    activation or cost replaced (the same functions, registered anew) takes the plain path."""
    mb = h.mb
    small = mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic")
    xs, ys = np.linspace(-1, 1, 15).reshape(5, 3), np.full((5, 2), 0.5)
    tanh, quadratic = mb.get_activation("tanh"), mb.get_cost("quadratic")
    for replace, restore in ((lambda: mb.register_activation(mb.Activation("tanh", tanh.fn, tanh.prime), replace=True),
                              lambda: mb.register_activation(tanh, replace=True)),
                             (lambda: mb.register_cost(mb.Cost("quadratic", quadratic.value, quadratic.grad_a), replace=True),
                              lambda: mb.register_cost(quadratic, replace=True))):
        replace()
        try:
            kept = mb.Workspace()
            mb.backprop(small, small.init_params(seed=2), xs, ys, workspace=kept)
            _expect(kept.nbytes == 0, "test_a_registered_activation_or_cost_takes_the_plain_path")
        finally:
            restore()
    kept = mb.Workspace()
    deep = mb.Network((3, 8, 8, 8, 2), ("tanh",) * 3 + ("sigmoid",), "quadratic")
    x, y = np.linspace(-1, 1, 15).reshape(5, 3), np.full((5, 2), 0.5)
    mb.backprop(deep, deep.init_params(seed=1), x, y, workspace=kept)
    net = mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic")
    mb.backprop(net, net.init_params(seed=1), x, y, workspace=kept)
    _expect(kept.nbytes == _kept_bytes(net, 5, 8), "test_a_shallower_network_drops_a_deeper_ones_arrays")
    square = mb.Network((3, 3, 3), ("tanh", "identity"), "quadratic")
    params = square.init_params(seed=7)
    _, activations = mb.feedforward(square, params, x, kept)
    one = mb.Network((3, 3), ("tanh",), "quadratic")
    inner, y3 = activations[1], np.full((5, 3), 0.5)
    expected = mb.backprop(one, params[:1], inner.copy(), y3, workspace=False)
    got = mb.backprop(one, params[:1], inner, y3, workspace=kept)
    _expect(all(np.array_equal(g.W, e.W) and np.array_equal(g.b, e.b) for g, e in zip(got, expected))
            and not kept.in_use, "test_an_input_that_is_the_workspaces_own_array_is_read_not_overwritten")


def _check_workspace_in_use(h, blocks):
    """What the blocked work sees of the thread's workspace during a call: held for a large batch
    (so that another call meanwhile gets fresh arrays), untouched by a small one; let go after."""
    mb = h.mb
    driver = sys.modules["manual_bp.backprop"]
    blocked, seen = driver.rows_into, []

    def watched(*args):
        seen.append(mb.thread_workspace().in_use)
        return blocked(*args)

    net = mb.Network((3, 4, 2), ("tanh", "sigmoid"), "quadratic")
    params = net.init_params(seed=1)
    x, y = np.linspace(-1, 1, 15).reshape(5, 3), np.full((5, 2), 0.5)
    mine = mb.thread_workspace()
    driver.rows_into = watched
    try:
        for large, test in ((0, "test_a_held_workspace_is_not_shared"),
                            (1 << 40, "test_default_uses_the_threads_workspace_only_for_large_batches")):
            blocks.LARGE_BYTES = large
            seen.clear()
            mine.release()
            mb.backprop(net, params, x, y)
            _expect(all(seen) and bool(seen) == (large == 0) and not mine.in_use
                    and (mine.nbytes > 0) == (large == 0), f"{test}: held {seen}, {mine.nbytes} bytes kept")
        mine.release()
    finally:
        driver.rows_into = blocked


# --- tests/oracle/test_oracle_judge.py ----------------------------------------------------------

def check_quick_suite(h):
    mb, TOL = h.mb, h.TOL

    def passes(got, c):  # the judge: the reference, or a derivative convention at a kink
        return any(not [ch for ch in h.agreement(got, _record(h, r), TOL) if not ch.ok]
                   for r in [c["ref"]] + c["conventions"])
    for c in h.meta["quick"]:
        _expect(passes(_grads_only(h, mb.backprop(*_case(h, c))), c),
                f"test_manual_bp_passes_every_case_of_the_quick_suite ({c['id']})")
        _expect(passes(mb.backprop_trace(*_case(h, c)), c),
                f"test_a_full_trace_response_is_judged_on_every_field_and_passes ({c['id']})")


# --- tests/manual_bp/test_negative_controls.py ---------------------------------------------------

def check_negative_control_nets(h):
    mb, TOL = h.mb, h.TOL
    for c in h.meta["negative_control_nets"]:
        checks = h.agreement(mb.backprop_trace(*_case(h, c)), _record(h, c["ref"]), TOL)
        _expect(_all_ok(checks), f"test_the_same_network_passes_with_the_correct_backprop ({c['id']}): {_first_bad(checks)}")
    c = h.meta.get("tolerance_one_layer_only")
    if c:
        ref = _record(h, c["ref"])
        for layer in (1, 2, 3):
            for which in ("W", "b"):
                grads = [mb.Layer(W.copy(), b.copy()) for W, b in mb.backprop(*_case(h, c))]
                target = getattr(grads[layer - 1], which)
                target *= 1 + 1e-7
                bad = [(ch.layer, ch.quantity) for ch in h.agreement(_grads_only(h, grads), ref, TOL) if not ch.ok]
                _expect(bad == [(layer, "dC/dW" if which == "W" else "dC/db")],
                        f"test_tolerance_fails_a_relative_error_of_1e_7_in_one_layer_only[{which}-{layer}]")
    c = h.meta.get("tolerance_rounding_level")
    if c:
        grads = [mb.Layer(W * (1 + 4 * np.finfo(float).eps), b) for W, b in mb.backprop(*_case(h, c))]
        _expect(_all_ok(h.agreement(_grads_only(h, grads), _record(h, c["ref"]), TOL)),
                "test_tolerance_accepts_an_error_at_rounding_level")


# --- tests/manual_bp/test_mutation_survivors.py ------------------------------------------------

NEW_TESTS = "tests/manual_bp/test_mutation_survivors.py"  # written for this tool's survivors (checked last)


def check_survivor_tests(h):
    s, mb, TOL = h.meta.get("survivors"), h.mb, h.TOL
    if not s:
        return
    c = s["l1_kink"]
    ref = _record(h, c["ref"])
    what = f"{NEW_TESTS}::test_l1_gradient_at_a_zero_weight_is_plus_l1_as_jax"
    checks = h.agreement(mb.backprop_trace(*_case(h, c)), ref, TOL)
    _expect(_all_ok(checks), f"{what}: {_first_bad(checks)}")
    for grads in (mb.backprop(*_case(h, c)), mb.backprop_per_example(*_case(h, c))):
        checks = h.agreement(_grads_only(h, grads), ref, TOL)
        _expect(_all_ok(checks), f"{what}: {_first_bad(checks)}")
    signs = mb.regularisation_gradient(np.array([[0.0, -0.0, 2.0, -2.0]]), 0.0, 1.0)
    _expect(signs.tolist() == [[1.0, 1.0, 1.0, -1.0]], f"{what}: signs")
    sigmoid = mb.get_activation("sigmoid")
    logistic = mb.Activation("logistic", sigmoid.fn, sigmoid.prime)
    for e in s["moderate"]:
        got = mb.get_cost(e["cost"]).value(h.arr(e["z"]), h.arr(e["a"]), h.arr(e["y"]), logistic)
        _expect(h.compare(got, h.arr(e["ref"]), TOL).ok,
                f"{NEW_TESTS}::test_costs_of_an_output_without_a_stable_log_take_the_logs_of_a[{e['cost']}]")
    ints, scalar = h.arr(s["integer_z"]), s["scalar_z"]
    for name, act in mb.ACTIVATIONS.items():
        if not act.elementwise:
            continue
        for f in (act.fn, act.prime):
            what = f"{NEW_TESTS}::test_activations_take_integer_arrays_and_numpy_scalars_as_the_same_floats"
            _expect(np.array_equal(f(ints), f(ints.astype(np.float64))), f"{what}: {name} {f.__name__}")
            _expect(f(np.float64(scalar)) == f(np.array([scalar]))[0], f"{what}: {name} {f.__name__}")
    for e in s["saturated"]:
        what = f"{NEW_TESTS}::test_a_saturated_output_without_a_stable_log_takes_0_ln_0_as_0[{e['cost']}]"
        z = h.arr(e["z"])
        a = logistic.fn(z)
        _expect(a.tolist() == [[0.0, 1.0]], what + ": σ(±1000)")
        with np.errstate(divide="ignore", invalid="ignore"):
            got = mb.get_cost(e["cost"]).value(z, a, h.arr(e["y"]), logistic)
        _expect(np.all(np.isfinite(got)) and h.compare(got, h.arr(e["ref"]), TOL).ok, what)


# --- tests/oracle/test_precision_modes.py (and the float32 property of test_equations_…) -----------


def _kinks_of(name: str) -> tuple[float, ...]:
    """autodiff_ref.witnesses.kinks_of (whose module imports jax), verbatim: the spec's kinks."""
    from bp_spec.names import get_activation_spec

    return tuple(kink.at for kink in get_activation_spec(name).kinks)


def _crossed_kinks(net, z_got, z_ref) -> list[int]:
    """autodiff_ref.witnesses.crossed_kinks (whose module imports jax), verbatim."""
    layers = []
    for l, (name, g, r) in enumerate(zip(net.activations, z_got, z_ref), start=1):
        for kink in _kinks_of(name):
            g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
            if np.any((g > kink) != (r > kink)) or np.any((g < kink) != (r < kink)):
                layers.append(l)
                break
    return layers


def check_precision(h):
    from bp_oracle.sweep.precision import in_dtype, run_candidate

    mb = h.mb
    by_dtype: dict[str, list] = {}
    for c in h.meta["precision"]:
        dtype, case = c["dtype"], _case(h, c)
        net = case[0]
        low, _ = in_dtype(case, dtype)
        ref = _record(h, c["ref"])
        tol = h.Tolerance(*c["tol"])
        got = run_candidate(None, low, dtype)
        with np.errstate(all="ignore"):
            checks = h.agreement(got, ref, tol)
        beyond = bool(_crossed_kinks(net, got.z, ref.z)) or c["saturated"]
        judged = [ch for ch in checks if ch.equation == "forward"] if beyond else checks
        test = f"test_manual_bp_passes_the_sweep_in_each_precision[{dtype}]"
        _expect(all(ch.ok for ch in judged), f"{test} ({c['id']}): {_first_bad(judged)}")
        by_dtype.setdefault(dtype, []).append(None if beyond else max(ch.comparison.margin for ch in judged))
        if dtype == "float32":  # test_float32_inputs_give_float32_gradients_within_the_float32_tolerance
            trace = mb.backprop_trace(*low)
            what = f"test_float32_inputs_give_float32_gradients_within_the_float32_tolerance ({c['id']})"
            _expect(all(gW.dtype == np.float32 and gb.dtype == np.float32 for gW, gb in trace.grads), what + ": dtype")
            if not c["saturated"]:
                checks = h.agreement(_grads_only(h, trace.grads), ref, h.TOLERANCES["float32"])
                _expect(_all_ok(checks), f"{what}: {_first_bad(checks)}")
    for dtype, margins in by_dtype.items():
        judged = [m for m in margins if m is not None]
        test = f"test_manual_bp_passes_the_sweep_in_each_precision[{dtype}]"
        _expect(len(judged) >= 0.9 * len(margins), f"{test}: only {len(judged)} of {len(margins)} judged")
        _expect(max(judged) < 0.5, f"{test}: margin {max(judged):.3g} ≥ 0.5")


def check_emulated_driver(h):
    """test_the_emulated_driver_is_backprop_trace_on_ordinary_arrays: the driver written out from
    manual_bp's public pieces equals backprop_trace bit for bit."""
    from bp_oracle.sweep.precision import emulated_backprop_trace, in_dtype

    mb = h.mb
    for c in h.meta["emulated"]:
        for dtype in ("float64", "float32"):
            low, _ = in_dtype(_case(h, c), dtype)
            ours, theirs = emulated_backprop_trace(*low), mb.backprop_trace(*low)
            what = f"test_the_emulated_driver_is_backprop_trace_on_ordinary_arrays ({c['id']}, {dtype})"
            _expect(np.allclose(ours.cost, theirs.cost, rtol=1e-6 if dtype == "float32" else 1e-14), what + ": cost")
            for (gW, gb), (tW, tb) in zip(ours.grads, theirs.grads):
                _expect(np.array_equal(gW, tW) and np.array_equal(gb, tb), what + ": grads")
            for g, t in zip(ours.delta, theirs.delta):
                _expect(np.array_equal(g, t), what + ": delta")


# --- tests/manual_bp/test_training.py -----------------------------------------------------------

def check_training(h):
    mb = h.mb
    from bp_oracle.trajectory import divergence  # NumPy only, as the test judges a trajectory
    from manual_bp.training import one_hot, sgd_step, sgd_steps

    wd = h.meta.get("weight_decay")
    if wd:  # test_an_sgd_step_with_l2_is_network2s_weight_decay
        x, labels = h.arr(wd["x"]), h.arr(wd["labels"])
        eta, lmbda, n = 0.5, 5.0, 1000
        with_l2 = mb.Network([5, 4, 3], "sigmoid", "cross_entropy", l2=lmbda / n)
        without = mb.Network([5, 4, 3], "sigmoid", "cross_entropy")
        params = with_l2.init_params(1)
        y = one_hot(labels, 3)
        stepped = sgd_step(params, mb.backprop(with_l2, params, x, y), eta)
        data_grads = mb.backprop(without, params, x, y)
        try:
            for (W, b), (gW, gb), (W1, b1) in zip(params, data_grads, stepped):
                np.testing.assert_allclose(W1, (1 - eta * lmbda / n) * W - eta * gW, rtol=0, atol=1e-15)
                np.testing.assert_allclose(b1, b - eta * gb, rtol=0, atol=1e-15)
        except AssertionError:
            raise Killed("test_an_sgd_step_with_l2_is_network2s_weight_decay") from None
    for c in h.meta["trajectories"]:
        net, params, x, y = _case(h, c)
        what = f"test_sgd_with_manual_bp_and_with_jax_grad_stays_equal_for_120_steps ({c['id']})"
        steps = list(sgd_steps(net, params, x, y, gradients=mb.backprop, **c["plan"]))
        _expect(len(steps) == len(c["steps"]) == 120, what + ": step count")
        for k, (step, ref) in enumerate(zip(steps, c["steps"]), start=1):
            d = divergence(step.params, [(h.arr(W), h.arr(b)) for W, b in ref], k, step.epoch, h.TOL)
            _expect(d.ok and d.relative < 1e-12, f"{what}: step {k} differs by {d.relative:.2e} relative")


# In the order of cost, cheap and decisive first (most mutants die in the first check that runs),
# except the tests written for the survivors of this tool, which go last: a mutant is credited to
# the first check that kills it, and the new tests only take what nothing older kills.
_CHECKS = [
    ("tests/manual_bp/test_activations_and_costs.py (activations)", check_activations),
    ("tests/manual_bp/test_activations_and_costs.py (costs)", check_costs),
    ("tests/spec/test_network_spec.py", check_spec),
    ("tests/manual_bp/test_negative_controls.py", check_negative_control_nets),
    ("tests/oracle/test_verify_sweep.py + tests/manual_bp/test_equations_agree_with_autodiff.py", check_sweep),
    ("tests/manual_bp/test_workspace.py", check_workspace),
    ("tests/oracle/test_oracle_judge.py", check_quick_suite),
    ("tests/oracle/test_precision_modes.py", check_precision),
    ("tests/oracle/test_precision_modes.py (emulated driver)", check_emulated_driver),
    ("tests/manual_bp/test_training.py", check_training),
    (NEW_TESTS, check_survivor_tests),  # last: credit to the older tests first
]


# ==============================================================================================
# 4. Running the mutants
# ==============================================================================================

# a known-bad package: BP3 sums over the batch instead of averaging (the suite's negative
# control sum_for_mean_in_bp3), appended so it replaces bias_gradient whatever its body is
KNOWN_BAD = ("\n\ndef bias_gradient(delta):  # known-bad mutant: the sum for the mean\n"
             "    return delta.sum(axis=0)\n")


@dataclass
class Outcome:
    mutant: Mutant | None
    killed: bool
    reason: str
    seconds: float


def write_package(root: Path, files: dict[str, str], replace: tuple[str, str] | None = None) -> Path:
    """A copy of manual_bp under root/ with one file's text replaced."""
    pkg = root / PACKAGE
    pkg.mkdir(parents=True)
    for name, text in files.items():
        (pkg / name).write_text(text)
    if replace:
        (pkg / replace[0]).write_text(replace[1])
    return root


def run_harness(expected_dir: Path, package_root: Path, timeout: float) -> tuple[bool, str, float]:
    """(killed, why, seconds) for the package at package_root."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--harness", str(expected_dir),
                               "--package-root", str(package_root)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=str(package_root))
    except subprocess.TimeoutExpired:
        return True, f"timeout after {timeout:g} s", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    lines = (done.stdout.strip().splitlines() or [""])
    if done.returncode == 0 and lines[-1] == "SURVIVED":
        return False, "", seconds
    why = lines[-1] if lines[-1].startswith("KILLED") else \
        f"crashed (exit {done.returncode}): {(done.stderr.strip().splitlines() or [''])[-1][:300]}"
    return True, why.removeprefix("KILLED by "), seconds


# OpenBLAS can leave the invalid-operation flag set after a matmul that produced no NaN, and NumPy
# then warns "invalid value encountered in matmul" (numpy#24067, OpenBLAS#1924); as an error, that
# is a kill that is not the mutant's. Seen once in about 1,500 harness runs here (float32, in
# test_precision_modes' check). A kill by it counts only if it happens again: up to 3 runs.
SPURIOUS = "encountered in matmul"


def _confirmed(expected_dir: Path, package_root: Path, timeout: float) -> tuple[bool, str, float]:
    killed, why, seconds = run_harness(expected_dir, package_root, timeout)
    for _ in range(2):
        if not (killed and SPURIOUS in why):
            break
        killed, again, more = run_harness(expected_dir, package_root, timeout)
        why, seconds = (f"{again} (after a spurious matmul warning)" if killed else ""), seconds + more
    return killed, why, seconds


def run_mutants(mutants: list[Mutant], files: dict[str, str], expected_dir: Path, work: Path,
                jobs: int = 2, timeout: float = 60.0, progress=None) -> list[Outcome]:
    def one(k_mutant):
        k, mutant = k_mutant
        root = work / f"m{k:04d}"
        write_package(root, files, (Path(mutant.file).name, mutant.source))
        try:
            killed, why, seconds = _confirmed(expected_dir, root, timeout)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        outcome = Outcome(mutant, killed, why, seconds)
        if progress:
            progress(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, enumerate(mutants)))


def self_check(files: dict[str, str], expected_dir: Path, work: Path, timeout: float) -> None:
    """The harness passes the unmutated package and kills the known-bad one, or the run stops."""
    killed, why, _ = _confirmed(expected_dir, write_package(work / "unmutated", files), timeout)
    if killed:
        raise SystemExit(f"the harness fails the UNMUTATED manual_bp: {why}")
    bad = dict(files)
    bad["equations.py"] = files["equations.py"] + KNOWN_BAD
    killed, why, _ = run_harness(expected_dir, write_package(work / "known_bad", bad), timeout)
    if not killed:
        raise SystemExit("the harness passes a known-bad manual_bp (BP3 sum for mean)")


def _how(o: Outcome) -> str:
    if o.reason.startswith("timeout"):
        return "timeout"
    return "exception" if ": raised " in o.reason or o.reason.startswith("crashed") else "check"


def _score(outcomes: list[Outcome]) -> dict:
    n = len(outcomes)
    killed = sum(o.killed for o in outcomes)
    return {"mutants": n, "killed": killed, "survived": n - killed,
            "score": round(100.0 * killed / n, 2) if n else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", default=list(MATH_FILES), metavar="FILE",
                        help=f"files of manual_bp/ to mutate (default: {' '.join(MATH_FILES)})")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N mutants")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant (default 60)")
    parser.add_argument("--json", metavar="OUT", help="write every mutant's outcome to OUT")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (expected values)")
    parser.add_argument("--plan", choices=("full", "smoke"), default="full",
                        help="full: the test suite's cases (default); smoke: a handful, for the tool's own test")
    parser.add_argument("--harness", metavar="EXPECTED_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--package-root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.harness:
        return _harness(Path(args.harness), Path(args.package_root))
    if args.jobs < 1 or args.timeout <= 0 or (args.limit is not None and args.limit < 1):
        parser.error("--jobs, --timeout and --limit must be positive")

    files = snapshot()
    names = [Path(f).name for f in args.files]
    unknown = [n for n in names if n not in MATH_FILES]
    if unknown:
        parser.error(f"--files: {', '.join(unknown)} not among {', '.join(MATH_FILES)}")
    mutants = [m for n in names for m in generate_mutants(f"{PACKAGE}/{n}", files[n])]
    if args.limit is not None:
        mutants = mutants[:args.limit]
    if args.list:
        for m in mutants:
            print(m.summary())
            print("    " + m.diff.replace("\n", "\n    "))
        print(f"{len(mutants)} mutants")
        return 0

    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bp-mutation-"))
    try:
        print(f"{len(mutants)} mutants of {', '.join(names)}; expected values from jax …", flush=True)
        build_expected(work / "expected", Plan() if args.plan == "full" else Plan.smoke())
        t_expected = time.perf_counter() - start
        self_check(files, work / "expected", work, args.timeout)
        print(f"expected values in {t_expected:.0f} s; the harness passes the unmutated package and "
              f"kills the known-bad one", flush=True)
        done = [0]

        def progress(o: Outcome):
            done[0] += 1
            if done[0] % 25 == 0 or not o.killed:
                state = "killed" if o.killed else "SURVIVED"
                print(f"  [{done[0]}/{len(mutants)}] {state}: {o.mutant.summary()}", flush=True)
        outcomes = run_mutants(mutants, files, work / "expected", work, args.jobs, args.timeout, progress)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    wall = time.perf_counter() - start

    per_file = {f"{PACKAGE}/{n}": _score([o for o in outcomes if o.mutant.file == f"{PACKAGE}/{n}"]) for n in names}
    total = _score(outcomes)
    print("\nfile                          mutants  killed  survived   score")
    for f, s in per_file.items():
        print(f"{f:<30}{s['mutants']:>7}{s['killed']:>8}{s['survived']:>10}{s['score'] or 0:>8.1f}%")
    print(f"{'total':<30}{total['mutants']:>7}{total['killed']:>8}{total['survived']:>10}{total['score'] or 0:>8.1f}%")
    survivors = [o for o in outcomes if not o.killed]
    if survivors:
        print("\nsurvivors:")
        for o in survivors:
            print(f"{o.mutant.summary()}\n    " + o.mutant.diff.replace("\n", "\n    "))
    how = {kind: sum(o.killed and _how(o) == kind for o in outcomes) for kind in ("check", "exception", "timeout")}
    new_tests = sum(o.killed and o.reason.startswith(NEW_TESTS) for o in outcomes)
    print(f"\nkilled by a failing check {how['check']}, by an exception {how['exception']} (a crash, or a "
          f"warning raised as an error), by a timeout {how['timeout']}; by {NEW_TESTS} alone {new_tests}")
    print(f"wall time {wall:.0f} s ({t_expected:.0f} s expected values; {len(outcomes)} mutants on {args.jobs} jobs)")
    if args.json:
        doc = {
            "files": per_file, "total": total, "killed_by": {**how, "new_tests_only": new_tests},
            "wall_seconds": round(wall, 1),
            "expected_seconds": round(t_expected, 1), "jobs": args.jobs, "timeout": args.timeout,
            "sha256": {f"{PACKAGE}/{n}": hashlib.sha256(files[n].encode()).hexdigest() for n in names},
            "mutants": [{"id": o.mutant.id, "file": o.mutant.file, "line": o.mutant.line, "col": o.mutant.col,
                         "function": o.mutant.function, "operator": o.mutant.operator, "diff": o.mutant.diff,
                         "killed": o.killed, "killed_by": o.reason, "seconds": round(o.seconds, 2)}
                        for o in outcomes],
        }
        Path(args.json).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
