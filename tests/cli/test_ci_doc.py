"""docs/ci.md runs: every `bp-oracle` command of its code blocks (bash and the GitHub Actions
workflow) is run here and its exit code checked, the workflow's jobs step by step in a folder of
their own, with small suites and case counts for the large ones and the example implementation
`python3 scripts/examples/numpy_backprop.py` for `./mybp --oracle`."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ci.md"
IMPL = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'scripts' / 'examples' / 'numpy_backprop.py'))}"
SKIPPED = ("pip ", "make ")  # installing bp-oracle (here already) and building yours (the example needs no build)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def small(line: str, index: int = 0, total: int = 1) -> str:
    """A doc line made quick to run: the matrix's job index and total, `$(( a + b ))` evaluated,
    small suites and case counts, and the example implementation for ./mybp."""
    line = line.replace("${{ strategy.job-index }}", str(index)).replace("${{ strategy.job-total }}", str(total))
    line = re.sub(r"\$\(\(\s*(\d+)\s*\+\s*(\d+)\s*\)\)", lambda m: str(int(m[1]) + int(m[2])), line)
    narrow = " --include depth:2" if line.startswith("bp-oracle check ") else ""  # vectors has no --include
    line = re.sub(r"--suite (default|full)", "--suite quick" + narrow, line)
    line = re.sub(r"--cases \d+", "--cases 16", line)
    return line.replace("./mybp --oracle", IMPL).replace('"' + IMPL + '"', shlex.quote(IMPL))


def expected_code(line: str) -> int:
    match = re.search(r"#\s*exit (\d)", line)
    return int(match[1]) if match else 0


def run_bp_oracle(run_cli, line: str) -> tuple[int, str, str]:
    argv = shlex.split(line.split(" #")[0])
    assert argv[0] == "bp-oracle", line
    return run_cli(*argv[1:])


# --- the workflow, parsed just enough: jobs, their matrix, their steps --------------------------


def workflow() -> dict[str, dict]:
    (text,) = [b for b in blocks("yaml") if b.startswith("name:")]
    jobs: dict[str, dict] = {}
    job = step = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if re.match(r"^  [\w-]+:$", line):
            job = jobs.setdefault(line.strip()[:-1], {"steps": [], "matrix": 1})
            continue
        if job is None:
            continue
        matrix = re.match(r"^\s+shard: \[(.*)\]$", line)
        if matrix:
            job["matrix"] = len(matrix[1].split(","))
            continue
        item = re.match(r"^(\s+)- (\w[\w-]*): ?(.*)$", line)
        if item:
            step = {}
            job["steps"].append(step)
        key = re.match(r"^(\s+)(?:- )?(run|shell|uses|name): ?(.*)$", line)
        if key and step is not None:
            indent, name, value = len(key[1]), key[2], key[3]
            if name == "run" and value == "|":
                body = []
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                width = min(len(b) - len(b.lstrip()) for b in body if b.strip())
                value = "\n".join(b[width:] for b in body)
            step[name] = value
    return jobs


def run_step(step: dict, run_cli, folder: Path, index: int, total: int, outputs: list[str]) -> None:
    if "run" not in step:
        assert "uses" in step, step
        return
    if step.get("shell") == "python":
        done = subprocess.run([sys.executable, "-c", step["run"]], cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return
    for line in step["run"].splitlines():
        line = small(line.strip(), index, total)
        if not line or line.startswith(SKIPPED):
            continue
        if line.startswith("bp-oracle "):
            code, out, err = run_bp_oracle(run_cli, line)
            assert code == expected_code(line), (line, out[-3000:], err)
            outputs.append(out)
        else:
            done = subprocess.run(["bash", "-c", line], cwd=folder, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, (line, done.stderr[-2000:])


@pytest.fixture
def github(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # as on a runner: annotations on (none, all passing)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_workflow_has_the_three_jobs_and_uploads_the_reports():
    jobs = workflow()
    assert set(jobs) == {"verify", "check", "offline"}
    assert jobs["verify"]["matrix"] == 4
    for name, job in jobs.items():
        uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
        assert uploads, f"job {name} uploads no report"
    text = DOC.read_text()
    assert "$(( ${{ strategy.job-index }} + 1 ))/${{ strategy.job-total }}" in text
    assert "--junit" in text and "--json" in text and "--report" in text and "--html" in text


@pytest.mark.slow
def test_the_verify_shards_of_the_matrix_run_and_cover_every_index_once(run_cli, github):
    job = workflow()["verify"]
    covered = []
    for index in range(job["matrix"]):
        outputs: list[str] = []
        for step in job["steps"]:
            run_step(step, run_cli, github, index, job["matrix"], outputs)
        (text,) = outputs
        assert "::error" not in text
        lo, hi = map(int, re.search(r"networks \(indices (\d+)–(\d+)\)", text).groups())
        covered += range(lo, hi + 1)
        assert (github / "verify.xml").exists() and "AGREES" in (github / "verify.html").read_text()
    assert covered == list(range(16))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["check", "offline"])
def test_the_check_and_the_offline_jobs_run_and_conform(name, run_cli, github):
    outputs: list[str] = []
    for step in workflow()[name]["steps"]:
        run_step(step, run_cli, github, 0, 1, outputs)
    assert outputs and all("::error" not in out for out in outputs)
    assert "conforms" in outputs[-1] and "does NOT" not in outputs[-1]
    report = "check" if name == "check" else "grade"
    assert (github / f"{report}.xml").read_text().count("<testcase") > 10
    assert (github / f"{report}.json").exists() and "CONFORMS" in (github / f"{report}.html").read_text()


def snippet_lines() -> list[str]:
    """The bp-oracle commands of the bash blocks and of the yaml snippets outside the workflow."""
    lines = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("bp-oracle ")]
    for block in blocks("yaml"):
        if not block.startswith("name:"):
            lines += [m[1] for m in re.finditer(r"^\s*(?:- )?run: (bp-oracle .*)$", block, re.M)]
    return lines


@pytest.mark.slow
def test_the_other_snippets_exit_as_they_say(run_cli, github):
    lines = snippet_lines()
    assert len(lines) >= 3 and any(expected_code(line) == 2 for line in lines)
    for line in lines:
        code, out, err = run_bp_oracle(run_cli, small(line, 0, 4))
        assert code == expected_code(line), (line, out[-2000:], err)
        quoted = re.search(r"# exit 2: (.*?)(?: \(…\))?$", line)
        if quoted:  # the message the doc quotes
            assert err.startswith("bp-oracle: error: ") and quoted[1] in err and err.count("\n") == 1, err
