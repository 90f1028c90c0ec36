"""The baseline gate at its defaults, as a new user runs it: ``--repeats 3 --baseline-save``
then ``--repeats 3 --baseline-compare``, through the ``openai`` engine against the scripted
server (ground truth: a per-token time of exactly 10 ms, then exactly 12 ms on the same
port, so the configuration is the same). A one-run baseline at the default assumed drift
must call the 20% per-token slowdown a regression, and pass its A/A."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fixtures.suites import run_suite as run_benchmarks
from openaiperf.engines.managed_server import free_port
from openaiperf.testing.scripted_server import Script, start_scripted_server

CASE = "summarization.xsum-offline-openai-steady-chat"



def steady_script(gap_ms: float) -> Script:
    return Script(tokens=16, ttft_ms=30.0, gap_ms=gap_ms)



def run_suite(project: Path, url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """One pytest run of the case against ``url``; its process and its case's result."""
    suite = run_benchmarks(project, "--max-samples", "4", "--warmup-samples", "2", "--no-monitor", "--no-history",
                           *args, endpoint=url)
    return suite.proc, suite.case(CASE)


def test_default_save_then_compare_fails_a_20_percent_slowdown_and_passes_a_a(project: Path) -> None:
    port = free_port()
    with start_scripted_server(steady_script(10.0), port=port) as server:
        saved, _ = run_suite(project, server.url, "--repeats", "3", "--baseline-save")
        assert saved.returncode == 0, saved.stdout[-3000:]
        same, case = run_suite(project, server.url, "--repeats", "3", "--baseline-compare")
        assert same.returncode == 0, same.stdout[-3000:]
        # At an assumed 5% drift of each run a 5% tolerance cannot be ruled out: it passes, inconclusive,
        # saying the smallest change these rounds could have caught.
        assert case["baseline"]["outcome"] != "regression", case["baseline"]["comparison"]["summary"]
        tpot = next(m for m in case["baseline"]["comparison"]["metrics"] if m["metric"] == "tpot_p50")
        if tpot["outcome"] == "inconclusive":
            assert 0.05 < tpot["detectable"] < 0.2
            assert "the smallest change it could have caught: +" in tpot["message"]
    with start_scripted_server(steady_script(12.0), port=port) as server:
        slow, case = run_suite(project, server.url, "--repeats", "3", "--baseline-compare")
    assert slow.returncode == 1, slow.stdout[-3000:]
    assert case["baseline"]["outcome"] == "regression", case["baseline"]["comparison"]["summary"]
    assert "tpot_p50" in case["baseline"]["comparison"]["regressions"]
    tpot = next(m for m in case["baseline"]["comparison"]["metrics"] if m["metric"] == "tpot_p50")
    assert 1.15 < tpot["ratio"] < 1.25 and "one baseline run: run-to-run drift assumed 5.0%" in tpot["method"]
