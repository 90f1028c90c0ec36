"""End to end: the serving workloads (multi-turn, shared prefix, trace replay) on
the managed vLLM server with SmolLM2 and prefix caching on, as the matrix runs
them (one server for the four cases; few samples, few tokens)."""

from __future__ import annotations

import psutil
import pytest

from tests.e2e.test_serving_e2e import results, run_benchmarks

pytestmark = pytest.mark.slow


def test_workloads_on_the_managed_vllm_server(tmp_path):
    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    # "True": the prefix-caching-on variants; 8 samples: the shared-prefix task's first 8 prompts
    # are two of each group (interleaved order)
    # 16 tokens per reply: the turns, trace rows and groups are what is checked, not long answers
    proc = run_benchmarks(tmp_path, "--preset", "extended", "-k", "(multiturn or shared_prefix or trace) and True",
                          "--max-samples", "8", "--stream-count", "2", "--sweep", "max_tokens:16", "--no-history")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    _, document = results(tmp_path)
    cases = {c["task"]: c for c in document["cases"]}
    assert set(cases) == {"chat.multiturn", "synthetic.shared_prefix", "trace.mooncake", "trace.burstgpt"}
    for case in cases.values():
        assert case["status"] == "passed" and case["engine_options"]["enable_prefix_caching"] is True
        assert case["server_metrics"]["server"] == "vllm"
        assert case["server_metrics"]["block_size"] is not None
        metrics = {name: m["value"] for name, m in case["metrics"].items()}
        assert metrics["errors"] == 0 and metrics["server_ttft_mean"] > 0
        # the server's TTFT starts when the request arrives, the client's when it was scheduled
        assert metrics["client_minus_server_ttft"] > 0
    sessions = cases["chat.multiturn"]["sessions"]
    assert sessions["completed"] == sessions["sessions"] and len(sessions["by_turn"]) >= 3
    shared = {name: m["value"] for name, m in cases["synthetic.shared_prefix"]["metrics"].items()}
    assert 0 < shared["prefix_cache_hit_rate"] <= shared["ideal_prefix_cache_hit_rate"] + 0.05
    invariance = cases["synthetic.shared_prefix"]["batch_invariance"]
    assert invariance["compared"] == 8 and 0 <= invariance["rate"] <= 1
    for name in ("trace.mooncake", "trace.burstgpt"):
        assert cases[name]["settings"]["scenario"]["arrivals"] == "trace"
