"""The installed plugin on its own: a folder holding a matrix file (and a models
file) runs real cases, with no conftest, no test file, no sys.path edits; and the
command line adds cases the matrix lacks (the README's selection rule). Cases run
through the real ``openai`` engine against the scripted server (a stand-in
OpenAI-compatible server whose timings are known, serving the model ``stub``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openaiperf.testing.scripted_server import Script, start_scripted_server

REPO = Path(__file__).resolve().parents[2]

MATRIX = """
suites:
  - tasks: [summarization.xsum]
    scenarios: [offline, server]
    engines: [openai]
    models: [stub]
    scenario_options:
      server: {qps_target: 20, warmup_requests: 1}
"""

TASK = """
name: towns.summary
kind: summarization
datasets:
  eval: {source: towns.csv, format: csv, license: CC0-1.0}
metrics:
  quality:
    - {name: rouge1, target: 0.0}
scenarios: [offline, single_stream]
input_profile: {max_new_tokens: 8}
warmup: {samples: 0}
"""

CSV = ("id,document,summary\n"
       "a,\"The river flooded the town after three days of rain.\",The bridge closed.\n"
       "b,\"The bakery opened a second shop near the station.\",A bakery opened a shop.\n")


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script(tokens=6, ttft_ms=5.0, gap_ms=1.0)) as running:
        yield running


@pytest.fixture
def folder(tmp_path: Path, word_tokenizer: Path) -> Path:
    (tmp_path / "models.yaml").write_text(f"stub:\n  source: {word_tokenizer}\n  parameters: 1000000\n"
                                          "  dtype: float32\n  chat: true\n")
    return tmp_path


def pytest_run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "pytest", "--hw", "cpu", "--model-file", "models.yaml",
                           "--report-dir", "out", "--no-monitor", "-p", "no:cacheprovider", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def cases(folder: Path) -> dict[str, dict]:
    (path,) = (folder / "out").glob("*/results.json")
    return {c["id"]: c for c in json.loads(path.read_text())["cases"]}


def test_a_folder_with_only_a_matrix_file_runs_its_cases(folder, server):
    (folder / "matrix.yaml").write_text(MATRIX)
    assert {p.name for p in folder.iterdir()} == {"matrix.yaml", "models.yaml"}  # nothing else is needed
    done = pytest_run(folder, "--matrix", "matrix.yaml", "--endpoint", server.url, "--max-samples", "3",
                      "--warmup-samples", "1", "-v")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "matrix.yaml::test_llm[summarization.xsum-offline-openai-stub] PASSED" in done.stdout
    assert "2 passed" in done.stdout
    ran = cases(folder)
    assert set(ran) == {"summarization.xsum-offline-openai-stub", "summarization.xsum-server-openai-stub"}
    assert all(c["status"] == "passed" and c["metrics"]["output_tokens"]["value"] == 3 * 6 for c in ran.values())


def test_the_command_line_adds_a_task_on_an_engine_the_matrix_does_not_pair_it_with(folder, server):
    """``--task-file X --endpoint URL --engine openai``: the matrix runs X nowhere, and
    openai only for summarization; X runs in its own scenarios on openai, for the
    model the server serves (``stub``, a models-file entry)."""
    (folder / "matrix.yaml").write_text(MATRIX.replace("engines: [openai]", "engines: [hf]")
                                        .replace("models: [stub]", "models: [smollm2-135m]"))
    (folder / "towns.yaml").write_text(TASK)
    (folder / "towns.csv").write_text(CSV)
    done = pytest_run(folder, "--task-file", "towns.yaml", "--endpoint", server.url, "--engine", "openai")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed, 2 deselected" in done.stdout  # the matrix's hf cases are not what was asked for
    ran = cases(folder)
    assert set(ran) == {"towns.summary-offline-openai-stub", "towns.summary-single_stream-openai-stub"}
    assert all(c["metrics"]["requests"]["value"] == 2 for c in ran.values())
    # a model the server does not serve, named on the command line, is used as named
    listed = pytest_run(folder, "--task-file", "towns.yaml", "--endpoint", server.url, "--engine", "openai",
                        "--model", "smollm2-135m", "--scenario", "offline", "--collect-only", "-q")
    assert "test_llm[towns.summary-offline-openai-smollm2-135m]" in listed.stdout, listed.stdout + listed.stderr
    # openai is not new once the task runs on it: the matrix's summarization cases stay on hf (deselected)
    assert "1/3 tests collected (2 deselected)" in listed.stdout


def test_the_projects_own_tests_hold_no_benchmark_cases():
    """``pytest tests`` never collects a matrix file (none is under tests/)."""
    assert not [p for p in (REPO / "tests").rglob("*.yaml") if p.name == "matrix.yaml" or
                p.name.endswith(".matrix.yaml")]
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/unit", "--collect-only", "-q",
                           "-p", "no:cacheprovider"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "test_llm[" not in done.stdout and "tests collected" in done.stdout
