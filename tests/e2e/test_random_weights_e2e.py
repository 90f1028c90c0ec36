"""The headline command at CPU scale: ``pytest benchmarks --hw cpu --weights random -k
tiny`` builds the tiny Llama 3-architecture model from the registry (no download, no
tokenizer), runs the synthetic workloads on it, and says the weights were random.

The prefill-heavy case (1024-token prompts, one output token) and the decode-heavy
case (32-token prompts, 128 output tokens) bracket the efficiency figures: prefill
is large matrix multiplies, so its MFU is the higher; decoding re-reads every weight
per token, so only it has an MBU (a prefill with one output token has no decode
step). Both stay below 100%. The profile states a memory bandwidth (the generic cpu
profile does not) so that MBU is computed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.vllm import vllm_test_environment

REPO = Path(__file__).resolve().parents[2]

PROFILE = """
name: cpu-bw
vendor: generic
device: cpu
backend: cpu
memory_gib: null
memory_bandwidth_gbs: 20
peak_tflops: {}
estimate_peak: true
tdp_w: null
default_dtype: float32
match: []
max_model_params_b: 3
"""


@pytest.mark.slow
def test_the_tiny_random_llama_runs_the_synthetic_suite(tmp_path: Path) -> None:
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "cpu-bw.yaml").write_text(PROFILE)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OPENAIPERF_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu-bw", "--hw-dir", str(tmp_path / "hw"),
         "--weights", "random", "--engine", "hf",
         "-k", "tiny-llama and (random-single_stream or prefill-heavy-offline or decode-heavy-offline)",
         "--max-samples", "1", "--warmup-samples", "0", "--no-monitor", "--no-history",
         "--no-html-report", "--report-dir", str(tmp_path / "reports"), "-p", "no:cacheprovider", "-q"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (results,) = (tmp_path / "reports").glob("*/results.json")
    cases = {c["id"]: c for c in json.loads(results.read_text())["cases"]}
    assert set(cases) == {f"synthetic.{name}-hf-tiny-llama" for name in (
        "random-single_stream", "prefill-heavy-offline", "decode-heavy-offline")}
    for case in cases.values():
        assert case["status"] == "passed"
        info = case["engine_info"]
        assert info["weights"].startswith("random") and info["tokenizer"].startswith("none")
        assert any(note.startswith("weights: random") for note in case["notes"])
    single = cases["synthetic.random-single_stream-hf-tiny-llama"]["metrics"]
    assert single["requests"]["value"] == 1 and single["output_tokens"]["value"] == 16
    prefill = cases["synthetic.prefill-heavy-offline-hf-tiny-llama"]["metrics"]
    decode = cases["synthetic.decode-heavy-offline-hf-tiny-llama"]["metrics"]
    assert prefill["input_tokens"]["value"] == 1024  # token ids: exactly the drawn length
    assert 0 < decode["achieved_tflops"]["value"] < prefill["achieved_tflops"]["value"]
    if prefill["mfu"]["value"] is not None:  # None on a CPU that states no maximum clock (no upper-bound peak)
        assert 0 < decode["mfu"]["value"] < prefill["mfu"]["value"] < 1
    assert prefill["prefill_intensity"]["value"] > decode["decode_intensity"]["value"] > 0
    assert prefill["mbu"]["value"] is None and 0 < decode["mbu"]["value"] < 1


@pytest.mark.slow
def test_a_managed_vllm_server_takes_the_token_ids_of_a_random_weights_model(tmp_path: Path) -> None:
    """vLLM serves the tiny model from its config.json alone (--load-format dummy
    --skip-tokenizer-init); the openai engine sends each prompt as a token array, so the
    server's usage counts exactly the drawn prompt length, and the chunks' token ids
    count the output without any text. The server runs in one process (fixtures/vllm.py)."""
    env = vllm_test_environment(PYTHONPATH=str(REPO / "src"), OPENAIPERF_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--hw", "cpu", "--weights", "random",
         "--preset", "extended", "-k", "synthetic.random-single_stream-openai-tiny-llama", "--max-samples", "2",
         "--warmup-samples", "0",
         "--no-monitor", "--no-history", "--no-html-report", "--report-dir", str(tmp_path / "reports"),
         "-p", "no:cacheprovider", "-q"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (results,) = (tmp_path / "reports").glob("*/results.json")
    (case,) = json.loads(results.read_text())["cases"]
    assert case["status"] == "passed" and case["engine_info"]["token_prompts"] is True
    (log,) = (results.parent / "logs").glob("vllm-server-*.log")
    assert "--load-format dummy --skip-tokenizer-init" in log.read_text().splitlines()[0]
    metrics = case["metrics"]
    assert metrics["input_tokens"]["value"] == 2 * 64 and metrics["output_tokens"]["value"] == 2 * 16
