"""End to end on the embedded model: the real SmolLM2 through the real hf engine,
driven by `pytest benchmarks` exactly as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu", "--task", "summarization.xsum", "--engine", "hf",
         "--scenario", "offline,single_stream", "--model", "smollm2-135m,llama3-70b", "--max-samples", "3",
         "--report-dir", str(out), "-p", "no:cacheprovider", "-rs"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    (run_dir,) = out.iterdir()
    return proc, run_dir


def measured_records(run_dir: Path, case: dict) -> list[dict]:
    """The case's records, but those of a round measured again because the client stalled in it."""
    lines = (run_dir / case["records_file"]).read_text().splitlines()
    return [record for record in map(json.loads, lines) if not record["discarded"]]


def test_cases_pass_and_print_the_table(run):
    proc, _ = run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed, 2 skipped" in proc.stdout
    assert "llama3-70b has 70.6B parameters; the 'cpu' hardware profile runs models up to 3B" in proc.stdout
    for text in ("summarization.xsum-offline-hf-smollm2-135m", "summarization.xsum-single_stream-hf-smollm2-135m",
                 "TTFT p50 (ms)", "out tok/s", "ROUGE-1"):
        assert text in proc.stdout


def test_results_json_and_records_agree(run):
    _, run_dir = run
    document = json.loads((run_dir / "results.json").read_text())
    assert document["config"]["hardware_profile"]["name"] == "cpu"
    cases = {c["id"]: c for c in document["cases"]}
    assert set(cases) == {
        "summarization.xsum-offline-hf-smollm2-135m",
        "summarization.xsum-single_stream-hf-smollm2-135m",
    }
    for case in cases.values():
        assert case["status"] == "passed" and case["valid"]
        records = measured_records(run_dir, case)
        assert len(records) == 3 and all(r["error"] is None and not r["warmup"] for r in records)
        assert all(r["text"].strip() for r in records)  # real generation
        ttft_ms = [1000 * (r["first_token"] - r["scheduled"]) for r in records]
        assert case["metrics"]["ttft_p50"]["value"] == pytest.approx(float(np.percentile(ttft_ms, 50)), rel=1e-3)
        assert case["metrics"]["output_tokens"]["value"] == sum(r["output_tokens"] for r in records)
        for r in records:
            assert len(r["chunk_times"]) == sum(r["chunk_tokens"]) == r["output_tokens"]  # hf: a token per step
            assert r["scheduled"] <= r["sent"] <= r["first_token"] <= r["done"]
        assert 0 < case["metrics"]["rouge1"]["value"] <= 1
        assert (
            case["metrics"]["rouge1"]["ci_low"]
            <= case["metrics"]["rouge1"]["value"]
            <= case["metrics"]["rouge1"]["ci_high"]
        )
        assert case["metrics"]["achieved_tflops"]["value"] > 0
        mfu = case["metrics"]["mfu"]["value"]  # None on a CPU that states no maximum clock (no upper-bound peak)
        assert mfu is None or 0 < mfu < 1
        assert case["metrics"]["peak_memory"]["value"] > 100  # MiB: the model is resident
        assert case["engine_info"]["device"] == "cpu"
    offline = cases["summarization.xsum-offline-hf-smollm2-135m"]
    single = cases["summarization.xsum-single_stream-hf-smollm2-135m"]
    # offline: all three scheduled at once; single stream: one after the other
    off_records = measured_records(run_dir, offline)
    assert len({r["scheduled"] for r in off_records}) == 1
    single_records = sorted(measured_records(run_dir, single), key=lambda r: r["scheduled"])
    for previous, current in zip(single_records, single_records[1:]):
        assert current["scheduled"] >= previous["done"]
