"""Faults of the server during a run, injected by the scripted server: HTTP 429 and
500, a stream cut short, a malformed chunk, a stall past the request timeout, and
the server killed with SIGKILL mid-stream. Each request's fault becomes its record's
error (one record per request, on disk), the case fails naming it, the session's
reports are written, and nothing is left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from harness import bench_argv, interrupted, run, with_credentials  # noqa: F401

from openaiperf.engines.managed_server import free_port


def script_option(**script) -> list[str]:
    return ["--engine-option", f"openai:extra_body={json.dumps({'script': script})}"]


@pytest.mark.parametrize("script,extra,error", [
    ({"http_status": 429, "retry_after_s": 3}, [], "HTTP 429 Too Many Requests (Retry-After: 3)"),
    ({"http_status": 500}, [], "HTTP 500 Internal Server Error"),
    ({"cut_after": 2}, [], "stream cut"),
    ({"malformed_after": 1}, [], "malformed SSE data (not JSON"),
    ({"stall_after": 1, "stall_ms": 5000}, ["--engine-option", "openai:request_timeout_s=0.5"],
     "timeout: no complete response within 0.5 s"),
], ids=["http-429", "http-500", "cut-stream", "malformed-chunk", "stall"])
def test_a_server_fault_becomes_each_records_error(folder, server, script, extra, error):
    done = run(folder, bench_argv(with_credentials(server.url), *script_option(**script), *extra))
    assert done.returncode == 1, done.output
    records = done.records()
    assert len(records) == 4 and all(error in (r["error"] or "") for r in records), records
    case = done.case()
    assert case["status"] == "failed" and case["metrics"]["error_rate"]["value"] == 1.0
    assert any(f.startswith("error rate 100.0% exceeds 0.0% (4 failed requests; first: ") for f in case["failures"])
    (run_dir,) = done.run_dirs()
    assert (run_dir / "report.html").exists() and (folder / "out" / "junit.xml").exists()
    done.assert_clean()


def test_a_server_killed_mid_stream(folder):
    """SIGKILL while every request is streaming: each one ends as an error, none hangs."""
    port = free_port()
    script = json.dumps({"tokens": 400, "gap_ms": 50})
    server = subprocess.Popen([sys.executable, "-m", "openaiperf.testing.scripted_server", "--port", str(port),
                               "--script", script], stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)

        def streaming() -> bool:
            with urllib.request.urlopen(url + "/stats", timeout=5) as response:
                if json.loads(response.read())["requests"] >= 4:
                    time.sleep(0.3)  # a few chunks into each stream
                    os.kill(server.pid, signal.SIGKILL)
                    return True
            return False

        done = run_until(folder, bench_argv(with_credentials(url)), streaming)
    finally:
        server.kill()
        server.wait()
    assert done.returncode == 1, done.output
    records = done.records()
    assert len(records) == 4 and all(r["error"] for r in records), records
    assert done.case()["status"] == "failed"
    done.assert_clean()


def run_until(folder, argv, inject):
    """Run, calling ``inject()`` until it says it has done its part (then let the run end)."""
    import threading

    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("run", run(folder, argv)))
    worker.start()
    deadline = time.monotonic() + 60
    while not inject():
        assert time.monotonic() < deadline, "the fault was never injected"
        time.sleep(0.05)
    worker.join(120)
    return result["run"]


def test_an_unreachable_history_store_warns_and_keeps_the_run(folder, server):
    from harness import PASSWORD

    store = f"postgresql://bench:{PASSWORD}@127.0.0.1:{free_port()}/perf"
    done = run(folder, bench_argv(with_credentials(server.url)), env={"OPENAIPERF_HISTORY": store})
    assert done.returncode == 0, done.output
    (run_dir,) = done.run_dirs()
    shown = store.replace(f"bench:{PASSWORD}", "***").replace("postgresql://", "postgresql+psycopg://")
    assert f"load it later with `ob history import --history {shown} " in done.output
    assert (run_dir / "history-not-written.txt").exists() and done.case()["status"] == "passed"
    done.assert_clean()
