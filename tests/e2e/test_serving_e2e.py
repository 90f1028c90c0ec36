"""End to end: the real vLLM OpenAI server (managed mode) on SmolLM2, driven by
the server and multi_stream scenarios through `pytest benchmarks`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run_benchmarks(report_dir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu", "--max-samples", "4",
               "--report-dir", str(report_dir), "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def results(report_dir: Path) -> tuple[Path, dict]:
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    return run_dir, json.loads((run_dir / "results.json").read_text())


def servers_on(port: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if "vllm.entrypoints.openai.api_server" in cmdline and str(port) in cmdline:
            found.append(process)
    return found


def test_managed_vllm_server_runs_server_and_multi_stream(tmp_path):
    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    proc = run_benchmarks(tmp_path, "--engine", "openai", "--model", "smollm2-135m", "--task", "summarization.xsum",
                          "--scenario", "server,multi_stream", "--qps-target", "2", "--stream-count", "3")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    run_dir, document = results(tmp_path)
    cases = {c["scenario"]: c for c in document["cases"]}
    assert set(cases) == {"server", "multi_stream"}
    for case in cases.values():
        assert case["status"] == "passed" and case["engine"] == "openai"
        metrics = case["metrics"]
        assert metrics["errors"]["value"] == 0 and metrics["requests"]["value"] == 4
        assert metrics["ttft_p50"]["unit"] == "ms" and metrics["ttft_p50"]["value"] > 0
        assert 0 < metrics["tpot_p50"]["value"] < metrics["e2e_p50"]["value"]
        assert metrics["send_lag_p99"]["value"] is not None
        assert case["engine_info"]["mode"] == "managed vLLM server"
        lines = [json.loads(line) for line in (run_dir / case["records_file"]).read_text().splitlines()]
        measured = [r for r in lines if not r["warmup"]]
        assert len(measured) == 4 and len(lines) > 4  # warmup requests recorded but not measured
        for r in measured:
            assert r["sent"] >= r["scheduled"] and r["first_token"] > r["sent"]
            assert r["output_tokens"] > 0 and r["text"]
    server = cases["server"]
    assert server["settings"]["scenario"]["qps_target"] == 2.0
    assert server["settings"]["scenario"]["sla"] == {"ttft_p99_ms": 2000.0, "tpot_p99_ms": 200.0}
    assert {"ttft_p99_sla", "tpot_p99_sla", "min_queries", "min_duration"} <= set(server["validity"])
    assert server["metrics"]["goodput"]["unit"] == "requests/s"
    assert cases["multi_stream"]["settings"]["scenario"]["stream_count"] == 3
    # The server's log went to the run's logs directory, and the server is gone.
    (log,) = (run_dir / "logs").glob("vllm-server-*.log")
    assert "api_server" in log.read_text()
    port = int(re.search(r"-(\d+)\.log$", log.name).group(1))
    assert servers_on(port) == []


def test_a_server_that_cannot_start_fails_its_cases_with_its_log(tmp_path):
    proc = run_benchmarks(tmp_path, "--engine", "openai", "--model", "smollm2-135m", "--task", "summarization.xsum",
                          "--scenario", "server",
                          "--engine-option", "openai:server_args=--no-such-vllm-flag", timeout=300)
    assert proc.returncode != 0
    _, document = results(tmp_path)
    (case,) = document["cases"]
    assert case["status"] == "error"
    assert "exited with code" in case["error"] and "no-such-vllm-flag" in case["error"]
