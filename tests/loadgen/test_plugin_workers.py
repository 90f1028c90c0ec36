"""``pytest benchmarks ... --loadgen-workers 2`` as a user runs it (a folder holding only a
matrix and a models file, the installed plugin) against the scripted server: the case
passes, its result names the workers and their clock figures, every record its worker;
an engine that cannot leave the case's process is refused at start-up naming the option."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fixtures.suites import run_suite
from openaiperf.testing.scripted_server import Script, start_scripted_server


def project(tmp_path: Path, tokenizer: Path, engine: str = "openai") -> Path:
    (tmp_path / "benchmarks").mkdir()
    matrix = {"suites": [{"name": "workers", "tasks": ["summarization.xsum"], "scenarios": ["server"],
                          "engines": [engine], "models": ["words"],
                          "engine_options": {"openai": {"served_model": "stub"}},
                          "scenario_options": {"server": {"warmup_requests": 2, "latency_sla": "60000,60000"}}}]}
    (tmp_path / "benchmarks" / "matrix.yaml").write_text(json.dumps(matrix))
    (tmp_path / "models.yaml").write_text(f"words:\n  source: {tokenizer}\n  parameters: 1000000\n  dtype: float32\n"
                                          "  chat: true\n")
    return tmp_path


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_suite(folder, "--no-monitor", "--no-history", *args).proc


@pytest.fixture
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    return write_word_tokenizer(tmp_path_factory.mktemp("word-tokenizer"))


def test_a_case_sent_from_two_workers(tmp_path, tokenizer):
    folder = project(tmp_path, tokenizer)
    with start_scripted_server(Script(tokens=8, ttft_ms=2.0, gap_ms=1.0)) as server:
        proc = run(folder, "--endpoint", server.url, "--max-samples", "8", "--qps-target", "20",
                   "--min-queries", "40", "--loadgen-workers", "2")
        seen = server.stats()["requests"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    (run_dir,) = (folder / "out").iterdir()
    (case,) = json.loads((run_dir / "results.json").read_text())["cases"]
    assert case["status"] == "passed" and case["valid"], case["notes"]
    loadgen = case["settings"]["scenario"]["loadgen"]
    assert loadgen["workers"] == 2 and loadgen["transport"] == "processes" and loadgen["lost_requests"] == 0
    assert loadgen["clock_error_ms"] <= loadgen["clock_tolerance_ms"]
    assert case["settings"]["scenario"]["client"]["processes"] == 3
    records = [json.loads(line) for line in (run_dir / case["records_file"]).read_text().splitlines()]
    round_records = [r for r in records if r["round"] == 0]
    assert {r["worker"] for r in round_records} == {0, 1}
    assert len(round_records) == 42 == len({r["request_id"] for r in round_records})
    # the case's warmup requests are sent by its own process, then the round's 42 by the workers
    assert seen == case["settings"]["warmup_samples"] + 42


def test_an_engine_that_cannot_send_from_workers_is_refused_at_start_up(tmp_path, tokenizer):
    folder = project(tmp_path, tokenizer, engine="hf")
    proc = run(folder, "--loadgen-workers", "2", "--collect-only")
    assert proc.returncode != 0
    assert "--loadgen-workers" in proc.stdout + proc.stderr and "hf" in proc.stdout + proc.stderr
