"""End to end on the embedded model: a swept case with the monitor and the torch
profiler; the case result holds the monitor summary, the timeline file, MFU,
the decode bandwidth, the profile, and the sweep report is written."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_monitor_profile_and_sweep_on_smollm2(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu", "--max-samples", "2",
         "--warmup-samples", "1", "--task", "summarization.xsum", "--engine", "hf", "--scenario", "offline",
         "--model", "smollm2-135m", "--sweep", "max_tokens:8", "--profile", "torch",
         "--monitor-interval", "50ms", "--report-dir", str(tmp_path), "-p", "no:cacheprovider"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = json.loads((run_dir / "results.json").read_text())
    cases = results.get("cases") or results.get("results")
    (case,) = [c for c in cases if c["id"].endswith("[max_tokens=8]")]
    assert case["task_options"] == {"max_new_tokens": 8}
    resources = case["resources"]
    assert resources["peak_process_rss_bytes"] > 100 * 2**20  # the model is in memory
    assert 0 <= resources["mean_cpu_percent"] <= 100 and resources["samples"] >= 2
    rows = list(csv.DictReader((run_dir / resources["timeline_file"]).open()))
    assert len(rows) == resources["samples"] and float(rows[-1]["t"]) > 0
    metrics = case["metrics"]
    assert metrics["achieved_tflops"]["value"] > 0 and metrics["decode_bandwidth"]["value"] > 0
    assert metrics["energy"]["value"] is None  # no energy sensor on the CPU profile
    profile = case["profile"]
    assert profile["tool"] == "torch" and profile["top_ops"]
    trace = json.loads((run_dir / profile["trace_file"]).read_text())
    assert trace["traceEvents"]
    assert any("aten::" in op["name"] for op in profile["top_ops"])
    assert (run_dir / "sweeps" / f"{case['base_id']}.csv").is_file()
