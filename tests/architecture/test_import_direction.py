"""The architecture, enforced: four roles, imports in one direction, no circles.

    bp_spec  ←  manual_bp
       ↑            ↑ (only the sweep that proves it)
    autodiff_ref ← bp_oracle

The reference and the oracle's judging side never load manual_bp; manual_bp never loads jax;
bp_spec loads none of the others. Checked twice: statically, over every import statement of every
module (lazy ones inside functions included, since they are dependencies all the same), and at
run time, in fresh interpreters that do real work and then look at `sys.modules`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bp_spec", "manual_bp", "autodiff_ref", "bp_oracle")
EXAMPLES = ROOT / "scripts" / "examples"

# bp_oracle's modules that may load manual_bp: the sweep that proves it, the plugins that register
# a user's function on every side, and the commands that train with it
MAY_LOAD_MANUAL_BP = {"bp_oracle.sweep", "bp_oracle.custom", "bp_oracle.commands.train_command",
                      "bp_oracle.commands.diagnose_command", "bp_oracle.commands.verify_command"}

FORBIDDEN = {  # package → the top-level names its modules must never import
    "bp_spec": {"manual_bp", "autodiff_ref", "bp_oracle", "jax", "jaxlib"},
    "manual_bp": {"autodiff_ref", "bp_oracle", "jax", "jaxlib"},
    "autodiff_ref": {"manual_bp", "bp_oracle"},
    "bp_oracle": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(name: str, path: Path, known: dict) -> set[str]:
    """Every module `name` imports, anywhere in its file, as absolute names; `from X import y`
    counts as importing X.y when that is a module of ours, else X."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_what_its_role_forbids(graph, package):
    bad = [f"{module} imports {target}" for module, targets in graph.items() if module.split(".")[0] == package
           for target in targets if target.split(".")[0] in FORBIDDEN[package]]
    assert not bad, "\n".join(bad)


def test_the_oracles_judging_side_never_imports_manual_bp(graph):
    judging = [m for m in graph if m.startswith("bp_oracle") and not any(
        m == allowed or m.startswith(allowed + ".") for allowed in MAY_LOAD_MANUAL_BP)]
    assert "bp_oracle.check" in judging and "bp_oracle.vectors" in judging and "bp_oracle.judge" in judging
    bad = [f"{m} imports {t}" for m in judging for t in graph[m] if t.split(".")[0] == "manual_bp"]
    assert not bad, "\n".join(bad)


def test_there_are_no_import_circles(graph):
    """Tarjan's strongly connected components over our modules: each must be a single module.
    A package's __init__ re-exporting its own submodules is not a circle unless a submodule
    imports the package back."""
    ours = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in ours[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(ours):
        if v not in index:
            visit(v)
    assert not circles, circles


# --- at run time: real work in a fresh interpreter, then a look at sys.modules -------------------
#
# Each interpreter runs stages one after another and prints what is loaded after each. A stage that
# must find a package unloaded runs before the stages that load it, so one interpreter answers for
# two claims (starting one costs about a second and a half with jax, and its compilations again).

LOADED = "LOADED "
WATCHED = ("jax", *PACKAGES)


def _run_stages(*stages: str) -> list[dict]:
    """Run the stages in order in one fresh interpreter: after each, which of jax and the four
    packages `sys.modules` holds."""
    look = ("import json, sys\n"
            f"print({LOADED!r} + json.dumps({{p: p in sys.modules for p in {WATCHED!r}}}), flush=True)\n")
    out = subprocess.run([sys.executable, "-c", "".join(stage + look for stage in stages)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = [json.loads(line[len(LOADED):]) for line in out.stdout.splitlines() if line.startswith(LOADED)]
    assert len(loaded) == len(stages), out.stdout[-3000:]
    return loaded


CACHE = "from autodiff_ref.cache import enable_persistent_cache; enable_persistent_cache()\n"


@pytest.mark.slow
def test_the_reference_computes_and_the_oracle_judges_and_grades_without_loading_manual_bp(tmp_path):
    reference = (CACHE + "import numpy as np\n"
                 "from bp_spec import Network, make_case\n"
                 "from autodiff_ref import reference_trace, finite_difference_gradients\n"
                 "from autodiff_ref.padded import padded_reference_traces\n"
                 "case = make_case(Network([3, 4, 2], ['relu', 'softmax'], 'log_likelihood', l1=0.1), 3, 0)\n"
                 "assert reference_trace(*case).grads and padded_reference_traces([case])[0].grads\n"
                 "finite_difference_gradients(*case)\n")
    # the oracle judging a function and a program, writing vectors and grading them (on the quick
    # suite's shipped answers: computing answers is the stage above's reference; a suite that is
    # not shipped would compile the padded reference for each of its shapes, ~5 s each)
    oracle = ("from bp_oracle import check_implementation\n"
              "from bp_oracle.cli import main\n"
              "wrong = lambda net, params, x, y: [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]\n"
              "report = check_implementation(wrong, 'quick', include=['depth:deep'])\n"
              "assert not report.ok and report.count('FAIL') >= len(report.results) // 2\n"
              f"assert main(['check', '--impl', '{sys.executable} {EXAMPLES / 'numpy_backprop.py'}', "
              f"'--suite', 'quick', '--include', 'softmax', '--html', '{tmp_path / 'c.html'}']) == 0\n"
              f"assert main(['vectors', '--out', '{tmp_path / 'v'}', '--suite', 'quick']) == 0\n"
              f"open('{tmp_path / 'r.jsonl'}', 'w').close()\n"
              f"assert main(['grade', '--vectors', '{tmp_path / 'v'}', '--results', '{tmp_path / 'r.jsonl'}', "
              f"'--html', '{tmp_path / 'g.html'}']) == 1\n")
    after_reference, after_oracle = _run_stages(reference, oracle)
    assert after_reference == {"jax": True, "bp_spec": True, "manual_bp": False, "autodiff_ref": True,
                               "bp_oracle": False}, \
        "the reference loaded more than the spec and jax"
    assert after_oracle["manual_bp"] is False and after_oracle["bp_oracle"], "judging, vectors or grading loaded manual_bp"


@pytest.mark.slow
def test_the_spec_and_the_plugin_load_nothing_heavy_and_manual_bp_trains_without_jax(tmp_path):
    spec = ("import bp_spec, bp_spec.cases, bp_spec.schedule, bp_oracle, bp_oracle.pytest_plugin\n"
            "from bp_spec import Network, make_case, random_network\n"
            "make_case(random_network(np_rng := __import__('numpy').random.default_rng(0)), 2, 0)\n")
    training = ("import numpy as np, manual_bp as mb\n"
                "from manual_bp.training import train\n"
                "from manual_bp.diagnostics import layer_diagnostics\n"
                "from manual_bp.data import Dataset\n"
                "from bp_oracle.cli import main\n"
                "net = mb.Network([4, 5, 3], ['tanh', 'softmax'], 'log_likelihood', l2=0.01)\n"
                "rng = np.random.default_rng(0)\n"
                "data = Dataset(rng.standard_normal((20, 4)), rng.integers(0, 3, 20))\n"
                "run = train(net, net.init_params(0), data, epochs=2, mini_batch_size=5, eta=0.1, seed=0)\n"
                "layer_diagnostics(net, run.params, data.x, np.eye(3)[data.labels])\n"
                "assert main(['train', '--epochs', '1']) == 0\n"
                "assert main(['diagnose', '--epochs', '1', '--no-plots']) == 0\n")
    after_spec, after_training = _run_stages(spec, training)
    assert after_spec == {"jax": False, "bp_spec": True, "manual_bp": False, "autodiff_ref": False,
                          "bp_oracle": True}, \
        "the spec or the pytest plugin loaded something heavy"
    assert after_training == {"jax": False, "bp_spec": True, "manual_bp": True, "autodiff_ref": False,
                              "bp_oracle": True}, "training or diagnosing loaded jax or the reference"
