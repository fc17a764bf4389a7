"""scripts/mutation_test.py, the mutation testing of manual_bp's math (docs/mutation.md): it makes
mutants of every operator kind in each of the four files and none in the excluded code, and its
kill harness passes the unmutated package, kills a known-bad one, and kills real mutants."""

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutation_test.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutation_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_test"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("mutation_test", None)


@pytest.fixture(scope="module")
def mutants(tool):
    files = tool.snapshot()
    return {name: tool.generate_mutants(f"manual_bp/{name}", files[name]) for name in tool.MATH_FILES}, files


def test_every_math_file_gets_mutants_each_a_one_spot_change_that_parses(tool, mutants):
    by_file, files = mutants
    for name, ms in by_file.items():
        assert len(ms) >= 20, name
        assert len({m.source for m in ms}) == len(ms)  # no duplicates
        for m in ms:
            assert m.source != files[name]
            ast.parse(m.source)
            removed = [l[1:] for l in m.diff.splitlines() if l.startswith("-")]
            added = [l for l in m.diff.splitlines() if l.startswith("+")]
            assert added and files[name].splitlines()[m.line - 1] in removed, m.summary()
    kinds = {m.operator.split()[0] for ms in by_file.values() for m in ms}
    assert {"binop", "matmul", "augassign", "unary", "compare", "boolop", "condition", "constant", "numpy",
            "method", "keyword", "arguments", "return", "statement"} <= kinds


def test_no_mutant_touches_registries_validation_or_docstrings(tool, mutants):
    by_file, files = mutants
    excluded = {"get_activation", "get_cost", "register_activation", "register_cost", "__post_init__"}
    for name, ms in by_file.items():
        tree = ast.parse(files[name])
        # lines of the registries, the dataclass fields, raises, docstrings and the input checks
        skip = set()
        for node in ast.walk(tree):
            spans = isinstance(node, (ast.FunctionDef)) and node.name in excluded
            spans |= isinstance(node, ast.Raise)
            spans |= isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(t, ast.Name) and t.id in ("ACTIVATIONS", "COSTS")
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
            spans |= isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            spans |= isinstance(node, ast.Assign) and "check_" in ast.unparse(node.value)
            if spans:
                skip |= set(range(node.lineno, node.end_lineno + 1))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                skip |= {stmt.lineno for stmt in node.body if isinstance(stmt, ast.AnnAssign)}
        assert not [m.summary() for m in ms if m.line in skip], name


def test_harness_passes_unmutated_code_kills_known_bad_and_real_mutants(tool, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert tool.main(["--files", "equations.py", "--limit", "3", "--plan", "smoke", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())  # main stops before this unless the unmutated package passes
    assert doc["total"]["mutants"] == 3  # and the known-bad one (BP3 summing over the batch) is killed
    assert doc["total"]["killed"] == 3, [m for m in doc["mutants"] if not m["killed"]]
    assert all(m["killed_by"] for m in doc["mutants"])
    assert "score" in capsys.readouterr().out
