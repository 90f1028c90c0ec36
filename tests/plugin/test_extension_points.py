"""Extension points end to end: a task that exists only as YAML in a temporary
folder, an engine registered from a file outside the package, and bad input
refused at collection time with the file, field or class named."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from openaiperf.tasks.datasets import sha256_of

REPO = Path(__file__).resolve().parents[2]


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    reports = pytester.path / "reports"
    return pytester.runpytest_subprocess(str(REPO / "benchmarks"), "--rootdir", str(REPO), "-p", "no:cacheprovider",
                                         "--report-dir", str(reports), "--hw", "cpu", *args)


def results(pytester: pytest.Pytester) -> dict[str, Any]:
    (path,) = (pytester.path / "reports").glob("*/results.json")
    return json.loads(path.read_text())

CSV = ("id,document,summary\n"
       "a,\"The river flooded the town after three days of rain, and the bridge was closed.\",The bridge closed.\n"
       "b,\"The bakery opened a second shop near the station, hiring six new staff.\",A bakery opened a shop.\n"
       "c,\"The council voted to plant two hundred trees along the main road next spring.\",Trees will be planted.\n")


@pytest.fixture
def home(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    path = pytester.path / "home"
    monkeypatch.setenv("OPENAIPERF_HOME", str(path))
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    return path


def write_task(pytester: pytest.Pytester, **dataset_changes) -> str:
    pytester.path.joinpath("towns.csv").write_text(CSV, encoding="utf-8")
    task = {"name": "towns.summary", "kind": "summarization", "version": "0.1.0",
            "datasets": {"eval": {"source": "towns.csv", "format": "csv", "license": "CC0-1.0", **dataset_changes}},
            "metrics": {"quality": [{"name": "rouge1", "target": 0.0, "higher_is_better": True}]},
            "scenarios": ["offline"], "input_profile": {"max_new_tokens": 8}, "warmup": {"samples": 0},
            "prompt": {"user": "Summarize in one sentence.\n\n{document}"}}
    path = pytester.path / "towns.yaml"
    path.write_text(yaml.safe_dump(task), encoding="utf-8")
    return str(path)


ECHO = textwrap.dedent('''
    import asyncio, time

    class EchoEngine:
        name = "echo"
        concurrent = True
        def __init__(self, context): self.context = context
        def prepare(self): pass
        def _serve(self, request, record):
            record.sent = time.perf_counter()
            words = (request.prompt or request.messages[-1]["content"]).split()[: request.max_tokens]
            for _ in words:
                record.mark_token()
            record.text, record.input_tokens, record.output_tokens = " ".join(words), len(words), len(words)
            record.done = time.perf_counter()
        def run(self, requests, records, on_done):
            for request, record in zip(requests, records):
                self._serve(request, record); on_done(record)
        async def stream(self, request, record): self._serve(request, record)
        def teardown(self): pass
        def info(self): return {"engine": "echo"}

    class HalfEngine:
        name = "half"
        concurrent = False
        def __init__(self, context): pass
        def prepare(self): pass
        def run(self, requests, records, on_done): pass
        def info(self): return {}
''')


def write_matrix(pytester: pytest.Pytester, engine: str) -> str:
    path = pytester.path / "matrix.yaml"
    path.write_text(yaml.safe_dump({"suites": [{"tasks": ["towns.summary"], "scenarios": ["offline"],
                                                 "engines": [engine], "models": ["smollm2-135m"]}]}))
    return str(path)


def test_registered_file_engine_runs_a_registered_yaml_task(pytester, home):
    from openaiperf.cli import main

    engine_file = pytester.path / "echo_engine.py"
    engine_file.write_text(ECHO, encoding="utf-8")
    assert main(["backend", "register", f"{engine_file}:EchoEngine", "--name", "echo"]) == 0
    assert main(["task", "register", write_task(pytester)]) == 0
    result = run_suite(pytester, "--matrix", write_matrix(pytester, "echo"), "--task", "towns.summary")
    result.assert_outcomes(passed=1)
    (case,) = results(pytester)["cases"]
    assert case["id"] == "towns.summary-offline-echo-smollm2-135m"
    assert case["engine_info"] == {"engine": "echo"}
    assert case["quality"]["details"]["license"] == "CC0-1.0"
    assert case["metrics"]["requests"]["value"] == 3


def test_engine_missing_a_method_is_refused_at_collection(pytester, home):
    engine_file = pytester.path / "engines.py"
    engine_file.write_text(ECHO, encoding="utf-8")
    home.mkdir()
    (home / "engines.yaml").write_text(yaml.safe_dump({"engines": {"half": f"{engine_file}:HalfEngine"}}))
    result = run_suite(pytester, "--matrix", write_matrix(pytester, "half"), "--task-file", write_task(pytester),
                       "--collect-only")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*engine half: engine class HalfEngine (in {engine_file}) lacks stream, teardown*"])


def test_bad_task_yaml_is_refused_at_collection(pytester, home):
    path = write_task(pytester)
    text = open(path).read().replace("max_new_tokens: 8", "max_new_tokens: eight")
    open(path, "w").write(text)
    result = run_suite(pytester, "--task-file", path, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{path}: input_profile.max_new_tokens: Input should be a valid integer*"])


def test_checksum_mismatch_is_refused_at_collection(pytester, home):
    path = write_task(pytester, sha256="ab" * 32)
    result = run_suite(pytester, "--task-file", path, "--task", "towns.summary", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*task towns.summary: {pytester.path / 'towns.csv'}: checksum mismatch*"])


def test_dataset_too_small_is_refused_at_collection(pytester, home):
    path = write_task(pytester)
    path = write_task(pytester, sha256=sha256_of(pytester.path / "towns.csv"))
    result = run_suite(pytester, "--task-file", path, "--task", "towns.summary", "--max-samples", "5",
                       "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*towns.csv: --max-samples 5 exceeds the 3 rows the dataset has*"])


@pytest.mark.slow
def test_yaml_only_task_runs_on_the_embedded_model(pytester, home):
    """A task written only as YAML (+ its CSV) in a temporary folder, run through
    --task-file on hf + SmolLM2, without touching the package."""
    path = write_task(pytester)
    result = run_suite(pytester, "--task-file", path, "--task", "towns.summary", "--model", "smollm2-135m",
                       "--max-samples", "2", "--subset-seed", "1")
    result.assert_outcomes(passed=1)
    (case,) = results(pytester)["cases"]
    assert case["id"] == "towns.summary-offline-hf-smollm2-135m"
    quality = case["quality"]
    assert quality["details"]["license"] == "CC0-1.0"
    assert quality["details"]["scored_samples"] == 2
    assert 0.0 <= quality["scores"]["rouge1"] <= 1.0
    assert quality["checks"]["rouge1"]["passed"]
