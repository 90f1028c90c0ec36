"""Interleaved A/B of two managed servers that differ by the Python environment that runs
them (a pull request's base build against its head): ``--engine-option
openai:server_python=A --ab-engine-option openai:server_python=B``. Each "environment"
here is a stand-in interpreter, a script that serves the scripted server (ground truth,
not vLLM) where vLLM's server would start, with its own per-token time: 10 ms against
11 ms is a regression of B, and each side's server was started with its own interpreter."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from fixtures.suites import run_suite

REPO = Path(__file__).resolve().parents[2]


def stand_in_python(path: Path, gap_ms: float) -> Path:
    """An executable that takes vLLM's server command line and serves the scripted server on its port."""
    path.write_text(f"""#!{sys.executable}
import sys
argv = sys.argv[1:]
port = argv[argv.index("--port") + 1]
from openaiperf.testing.scripted_server import main
main(["--port", port, "--tokens", "16", "--ttft-ms", "30", "--gap-ms", "{gap_ms}"])
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_two_managed_servers_from_two_environments_compared_interleaved(project: Path):
    tmp_path = project
    base = stand_in_python(tmp_path / "base-python", 10.0)
    head = stand_in_python(tmp_path / "head-python", 11.0)
    suite = run_suite(tmp_path, "--max-samples", "4", "--warmup-samples", "2",
                      "--engine-option", f"openai:server_python={base}",
                      "--ab-engine-option", f"openai:server_python={head}", "--no-monitor", "--no-history")
    proc, run_dir = suite.proc, suite.run_dir
    assert run_dir is not None, suite.output
    case = suite.document()["cases"][0]
    ab = case["ab"]
    assert proc.returncode == 1 and ab["outcome"] == "regression", proc.stdout[-3000:]
    tpot = next(m for m in ab["comparison"]["metrics"] if m["metric"] == "tpot_p50")
    assert 1.07 < tpot["ratio"] < 1.13
    # each side's server was started by its own interpreter (the managed servers' logs say how)
    logs = {p.name: p.read_text() for p in (run_dir / "logs").glob("vllm-server-*.log")}
    assert len(logs) == 2
    assert sorted(text.splitlines()[0].split()[1] for text in logs.values()) == sorted([str(base), str(head)])


def test_a_missing_interpreter_is_refused_at_start_up(project: Path):
    tmp_path = project
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu", "--collect-only",
                           "--ab-engine-option", "openai:server_python=/no/such/python", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode != 0
    assert "server_python" in proc.stdout + proc.stderr and "not an executable file" in proc.stdout + proc.stderr
