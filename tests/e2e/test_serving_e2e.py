"""End to end: the real vLLM OpenAI server (managed mode) on SmolLM2, driven by
the server and multi_stream scenarios and the serving workloads (multi-turn,
shared prefix, trace replay) through `pytest benchmarks`, one server for all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from fixtures.vllm import vllm_test_environment

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run_benchmarks(report_dir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`pytest benchmarks` on the CPU profile (each suite at its own sample count unless args say),
    a managed vLLM server in one process (fixtures/vllm.py)."""
    env = vllm_test_environment(PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu",
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


@pytest.fixture(scope="module")
def managed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One run on one managed server (SmolLM2, prefix caching off): the XSum serving suite's
    server and multi_stream cases, and the serving workloads' caching-off variants (multi-turn,
    shared prefix, the Mooncake trace), as `--preset extended` runs them, at their suites' sample
    counts (XSum 4, multi-turn 4 sessions, shared prefix 8: two of each group, the trace's first 8
    arrivals). The BurstGPT trace takes the same replay path from another file format (its parser:
    tests/unit; its replay against the scripted server: tests/conformance)."""
    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    report_dir = tmp_path_factory.mktemp("managed")
    proc = run_benchmarks(report_dir, "--preset", "extended", "--engine", "openai", "--model", "smollm2-135m",
                          "-k", "(xsum and (server or multi_stream)) or ((multiturn or shared_prefix or mooncake) "
                          "and False)", "--qps-target", "2", "--stream-count", "4", "--no-history")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return results(report_dir)


def test_managed_vllm_server_runs_server_and_multi_stream(managed_run):
    run_dir, document = managed_run
    cases = {c["scenario"]: c for c in document["cases"] if c["task"] == "summarization.xsum"}
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
        measured = [r for r in lines if not (r["warmup"] or r["discarded"])]
        assert len(measured) == 4 and len(lines) > 4  # warmup requests recorded but not measured
        for r in measured:
            assert r["sent"] >= r["scheduled"] and r["first_token"] > r["sent"]
            assert r["output_tokens"] > 0 and r["text"]
    server = cases["server"]
    assert server["settings"]["scenario"]["qps_target"] == 2.0
    assert server["settings"]["scenario"]["sla"] == {"ttft_p99_ms": 2000.0, "tpot_p99_ms": 200.0}
    assert {"ttft_p99_sla", "tpot_p99_sla", "min_queries", "min_duration"} <= set(server["validity"])
    assert server["metrics"]["goodput"]["unit"] == "requests/s"
    assert cases["multi_stream"]["settings"]["scenario"]["stream_count"] == 4
    # One server for every case of the run (same engine options); its log went to the run's
    # logs directory, and the server is gone.
    (log,) = (run_dir / "logs").glob("vllm-server-*.log")
    assert "api_server" in log.read_text()
    port = int(re.search(r"-(\d+)\.log$", log.name).group(1))
    assert servers_on(port) == []


def test_serving_workloads_on_the_managed_server(managed_run):
    """Multi-turn sessions, shared prefixes and trace replay on the real server, which
    reports its own metrics beside ours; with prefix caching off it serves no cached
    prefix, however much the prompts share."""
    _, document = managed_run
    cases = {c["task"]: c for c in document["cases"] if c["task"] != "summarization.xsum"}
    assert set(cases) == {"chat.multiturn", "synthetic.shared_prefix", "trace.mooncake"}
    for case in cases.values():
        assert case["status"] == "passed" and case["engine_options"]["enable_prefix_caching"] is False
        assert case["server_metrics"]["server"] == "vllm"
        assert case["server_metrics"]["block_size"] is not None
        metrics = {name: m["value"] for name, m in case["metrics"].items()}
        assert metrics["errors"] == 0 and metrics["server_ttft_mean"] > 0
        # the server's TTFT starts when the request arrives, the client's when it was scheduled
        assert metrics["client_minus_server_ttft"] > 0
    sessions = cases["chat.multiturn"]["sessions"]
    assert sessions["completed"] == sessions["sessions"] and len(sessions["by_turn"]) >= 3
    shared = {name: m["value"] for name, m in cases["synthetic.shared_prefix"]["metrics"].items()}
    assert shared["ideal_prefix_cache_hit_rate"] > 0 and not shared["prefix_cache_hit_rate"]
    invariance = cases["synthetic.shared_prefix"]["batch_invariance"]
    assert invariance["compared"] == 8 and 0 <= invariance["rate"] <= 1
    assert cases["trace.mooncake"]["settings"]["scenario"]["arrivals"] == "trace"


def test_a_server_that_cannot_start_fails_its_cases_with_its_log(tmp_path):
    proc = run_benchmarks(tmp_path, "--max-samples", "4", "--engine", "openai", "--model", "smollm2-135m",
                          "--task", "summarization.xsum",
                          "--scenario", "server",
                          "--engine-option", "openai:server_args=--no-such-vllm-flag", timeout=300)
    assert proc.returncode != 0
    _, document = results(tmp_path)
    (case,) = document["cases"]
    assert case["status"] == "error"
    assert "exited with code" in case["error"] and "no-such-vllm-flag" in case["error"]
