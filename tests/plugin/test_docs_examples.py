"""The examples of the extension pages (docs/new-task.md, new-engine.md,
new-scenario.md, new-hardware-profile.md) are executed: blocks tagged ``file=NAME`` are written
to a temporary folder, ``shell test`` blocks run there line by line, ``python
test`` blocks run as scripts; then the written task / engine are used by the
real suite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(page: str) -> list[tuple[str, str, str]]:
    """(language, tag, body) of every fenced block of a docs page."""
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    return [(lang, tag.strip(), body) for lang, tag, body in BLOCK.findall(text)]


def environment(folder: Path) -> dict[str, str]:
    return {**os.environ, "OPENAIPERF_HOME": str(folder / "home"), "PYTHONPATH": str(REPO / "src"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_page(page: str, folder: Path) -> list[str]:
    """Execute a page's examples in ``folder``; returns the output of each command."""
    outputs = []
    env = environment(folder)
    for lang, tag, body in blocks(page):
        if tag.startswith("file="):
            path = folder / tag.removeprefix("file=")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        elif tag == "test" and lang == "shell":
            for line in filter(None, map(str.strip, body.splitlines())):
                done = subprocess.run(line, shell=True, cwd=folder, env=env, capture_output=True, text=True,
                                      timeout=120)
                assert done.returncode == 0, f"{page}: `{line}` failed:\n{done.stdout}\n{done.stderr}"
                outputs.append(done.stdout)
        elif tag == "test" and lang == "python":
            done = subprocess.run([sys.executable, "-c", body], cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, f"{page}: python example failed:\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
    assert outputs, f"{page} has no executed example"
    return outputs


def run_suite(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(REPO / "benchmarks"), "--rootdir", str(REPO),
                           "-p", "no:cacheprovider", "--hw", "cpu", "--report-dir", str(folder / "reports"), *args],
                          cwd=folder, env=environment(folder), capture_output=True, text=True, timeout=300)


def test_new_task_page(tmp_path):
    outputs = run_page("new-task.md", tmp_path)
    assert "ok: task capitals.summary" in outputs[0]
    assert "capitals.summary" in outputs[2]
    assert outputs[3].strip() == "counting.numbers ['0', '0 1', '0 1 2']"  # the new kind's samples
    # the registered task joins the matrix with its own scenarios
    done = run_suite(tmp_path, "--task", "capitals.summary", "--model", "smollm2-135m", "--collect-only", "-q")
    assert "test_llm[capitals.summary-offline-hf-smollm2-135m]" in done.stdout, done.stdout + done.stderr
    # a task of the new kind, its module registered with -p
    done = run_suite(tmp_path, "-p", "counting_kind", "--task-file", "counting.yaml", "--task", "counting.numbers",
                     "--model", "smollm2-135m", "--collect-only", "-q")
    assert "test_llm[counting.numbers-offline-hf-smollm2-135m]" in done.stdout, done.stdout + done.stderr


def test_new_engine_page(tmp_path):
    outputs = run_page("new-engine.md", tmp_path)
    assert "registered engine echo" in outputs[0]
    assert re.search(r"^echo\s+registered", outputs[1], re.M)
    assert re.search(r"\b5 passed\b", outputs[2]), outputs[2]  # the engine contract kit's checks
    done = run_suite(tmp_path, "--matrix", str(tmp_path / "echo_matrix.yaml"), "--max-samples", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    (results,) = (tmp_path / "reports").glob("*/results.json")
    (case,) = json.loads(results.read_text())["cases"]
    assert case["id"] == "summarization.xsum-offline-echo-smollm2-135m" and case["status"] == "passed"
    assert case["metrics"]["output_tokens"]["value"] > 0


def test_new_scenario_page(tmp_path):
    outputs = run_page("new-scenario.md", tmp_path)
    assert outputs[0].split() == ["7", "3", "True"]  # 7 requests in bursts of 3: 3 bursts
    assert "matrix.yaml::test_llm[summarization.xsum-burst-hf-smollm2-135m]" in outputs[1], outputs[1]


def test_new_hardware_profile_page(tmp_path):
    outputs = run_page("new-hardware-profile.md", tmp_path)
    assert outputs[0].startswith("rtx4090")


@pytest.mark.parametrize("page", ["new-task.md", "new-engine.md", "new-scenario.md", "new-hardware-profile.md"])
def test_pages_have_complete_examples(page):
    tags = [tag for _, tag, _ in blocks(page)]
    assert any(t.startswith("file=") for t in tags) and "test" in tags
