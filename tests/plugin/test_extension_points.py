"""Extension points end to end: a task that exists only as YAML in a temporary
folder, an engine registered from a file outside the package, and bad input
refused at collection time with the file, field or class named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from openaiperf.tasks.datasets import sha256_of

REPO = Path(__file__).resolve().parents[2]
#: the module of the tests' engines (EchoEngine among them), a file that a project copies as it is
ENGINES_FILE = REPO / "fixtures" / "engines.py"


class Run:
    """A finished pytest subprocess: exit code and output."""

    def __init__(self, done: subprocess.CompletedProcess) -> None:
        self.ret = done.returncode
        self.stdout, self.stderr = done.stdout, done.stderr

    def assert_passed(self, count: int) -> None:
        assert self.ret == 0 and f"{count} passed" in self.stdout, self.stdout + self.stderr


def run_suite(folder: Path, *args: str) -> Run:
    """The repository's benchmark suite, in a subprocess started in ``folder``."""
    return Run(subprocess.run([sys.executable, "-m", "pytest", str(REPO / "benchmarks"), "--rootdir", str(REPO),
                               "-p", "no:cacheprovider", "--report-dir", str(folder / "reports"), "--hw", "cpu", *args],
                              cwd=folder, capture_output=True, text=True, timeout=400))


def results(folder: Path) -> dict[str, Any]:
    (path,) = (folder / "reports").glob("*/results.json")
    return json.loads(path.read_text())


CSV = ("id,document,summary\n"
       "a,\"The river flooded the town after three days of rain, and the bridge was closed.\",The bridge closed.\n"
       "b,\"The bakery opened a second shop near the station, hiring six new staff.\",A bakery opened a shop.\n"
       "c,\"The council voted to plant two hundred trees along the main road next spring.\",Trees will be planted.\n")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the suite is started from: nothing of the package is there."""
    return tmp_path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "home"
    monkeypatch.setenv("OPENAIPERF_HOME", str(path))
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    return path


def write_task(folder: Path, **dataset_changes) -> str:
    folder.joinpath("towns.csv").write_text(CSV, encoding="utf-8")
    task = {"name": "towns.summary", "kind": "summarization", "version": "0.1.0",
            "datasets": {"eval": {"source": "towns.csv", "format": "csv", "license": "CC0-1.0", **dataset_changes}},
            "metrics": {"quality": [{"name": "rouge1", "target": 0.0}]},
            "scenarios": ["offline"], "input_profile": {"max_new_tokens": 8}, "warmup": {"samples": 0},
            "prompt": {"user": "Summarize in one sentence.\n\n{document}"}}
    path = folder / "towns.yaml"
    path.write_text(yaml.safe_dump(task), encoding="utf-8")
    return str(path)


#: an engine that lacks two of the required methods
HALF_ENGINE = textwrap.dedent('''
    class HalfEngine:
        name = "half"
        concurrent = False
        def __init__(self, context): pass
        def prepare(self): pass
        def run(self, requests, records, on_done): pass
        def info(self): return {}
''')


def write_matrix(folder: Path, engine: str) -> str:
    path = folder / "matrix.yaml"
    path.write_text(yaml.safe_dump({"suites": [{"tasks": ["towns.summary"], "scenarios": ["offline"],
                                                 "engines": [engine], "models": ["smollm2-135m"]}]}))
    return str(path)


def test_registered_file_engine_runs_a_registered_yaml_task(folder, home):
    from openaiperf.cli import main

    engine_file = folder / "echo_engine.py"
    shutil.copy(ENGINES_FILE, engine_file)
    assert main(["backend", "register", f"{engine_file}:EchoEngine", "--name", "echo"]) == 0
    assert main(["task", "register", write_task(folder)]) == 0
    result = run_suite(folder, "--matrix", write_matrix(folder, "echo"), "--task", "towns.summary")
    result.assert_passed(1)
    (case,) = results(folder)["cases"]
    assert case["id"] == "towns.summary-offline-echo-smollm2-135m"
    assert case["engine_info"] == {"engine": "echo"}
    assert case["quality"]["details"]["license"] == "CC0-1.0"
    assert case["metrics"]["requests"]["value"] == 3


def test_engine_missing_a_method_is_refused_at_collection(folder, home):
    engine_file = folder / "engines.py"
    engine_file.write_text(HALF_ENGINE, encoding="utf-8")
    home.mkdir()
    (home / "engines.yaml").write_text(yaml.safe_dump({"engines": {"half": f"{engine_file}:HalfEngine"}}))
    result = run_suite(folder, "--matrix", write_matrix(folder, "half"), "--task-file", write_task(folder),
                       "--collect-only")
    assert result.ret != pytest.ExitCode.OK
    assert f"engine half: engine class HalfEngine (in {engine_file}) lacks stream, teardown" in result.stdout, (
        result.stdout + result.stderr
    )


def test_bad_task_yaml_is_refused_at_collection(folder, home):
    path = write_task(folder)
    text = open(path).read().replace("max_new_tokens: 8", "max_new_tokens: eight")
    open(path, "w").write(text)
    result = run_suite(folder, "--task-file", path, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{path}: input_profile.max_new_tokens: Input should be a valid integer" in result.stderr, (
        result.stdout + result.stderr
    )


def test_checksum_mismatch_is_refused_at_collection(folder, home):
    path = write_task(folder, sha256="ab" * 32)
    result = run_suite(folder, "--task-file", path, "--task", "towns.summary", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"task towns.summary: {folder / 'towns.csv'}: checksum mismatch" in result.stderr, (
        result.stdout + result.stderr
    )


def test_dataset_too_small_is_refused_at_collection(folder, home):
    path = write_task(folder)
    path = write_task(folder, sha256=sha256_of(folder / "towns.csv"))
    result = run_suite(folder, "--task-file", path, "--task", "towns.summary", "--max-samples", "5", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "towns.csv: --max-samples 5 exceeds the 3 rows the dataset has" in result.stderr, (
        result.stdout + result.stderr
    )


@pytest.mark.slow
def test_yaml_only_task_runs_on_the_embedded_model(folder, home):
    """A task written only as YAML (+ its CSV) in a temporary folder, run through
    --task-file on hf + SmolLM2, without touching the package."""
    path = write_task(folder)
    result = run_suite(
        folder,
        "--task-file",
        path,
        "--task",
        "towns.summary",
        "--model",
        "smollm2-135m",
        "--max-samples",
        "2",
        "--subset-seed",
        "1",
    )
    result.assert_passed(1)
    (case,) = results(folder)["cases"]
    assert case["id"] == "towns.summary-offline-hf-smollm2-135m"
    quality = case["quality"]
    assert quality["details"]["license"] == "CC0-1.0"
    assert quality["details"]["scored_samples"] == 2
    assert 0.0 <= quality["scores"]["rouge1"] <= 1.0
    assert quality["checks"]["rouge1"]["passed"]
