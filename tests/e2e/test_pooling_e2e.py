"""End to end: embeddings and reranking through the real vLLM OpenAI server started in
pooling mode (SmolLM2 converted to an embedding model: ``runner=pooling``, ``convert=embed``),
the repository's ``pooling`` suite as ``pytest benchmarks --preset extended`` runs it. What the
client counts is checked against the server's own counters (vLLM's Prometheus
``prompt_tokens_total`` and ``request_success_total``, which counts every pooled input),
round by round; the embeddings have SmolLM2's hidden size."""

from __future__ import annotations

import json

import psutil
import pytest

from tests.e2e.test_serving_e2e import results, run_benchmarks

pytestmark = pytest.mark.slow

HIDDEN_SIZE = 576  # SmolLM2-135M


@pytest.fixture(scope="module")
def pooling_run(tmp_path_factory: pytest.TempPathFactory):
    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    report_dir = tmp_path_factory.mktemp("pooling")
    proc = run_benchmarks(report_dir, "--preset", "extended", "--engine", "openai", "--model", "smollm2-135m",
                          "-k", "embeddings.synthetic or rerank.synthetic", "--no-history")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout, *results(report_dir)


def measured_records(run_dir, case: dict) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / case["records_file"]).read_text().splitlines()]
    return [r for r in lines if not r["warmup"]]


def test_every_pooling_case_passes_valid_with_the_hidden_size(pooling_run):
    stdout, _, document = pooling_run
    cases = {c["id"]: c for c in document["cases"]}
    assert set(cases) == {f"{task}-{scenario}-openai-smollm2-135m" for task in ("embeddings.synthetic",
                                                                                 "rerank.synthetic")
                          for scenario in ("offline", "single_stream")}
    for case in cases.values():
        assert case["status"] == "passed" and case["valid"], (case["id"], case["validity"], case["notes"])
        metrics = case["metrics"]
        assert metrics["errors"]["value"] == 0 and metrics["inputs_per_s"]["value"] > 0
        assert "ttft_p50" not in metrics and "output_tokens_per_s" not in metrics
        assert "--runner pooling --convert embed" in case["engine_info"]["server_command"]
        if case["task"] == "embeddings.synthetic":
            assert metrics["embedding_dimension"]["value"] == HIDDEN_SIZE
            assert case["validity"]["embedding_dimension"]
    assert "inputs/s" in stdout


def test_the_client_counts_what_the_server_counted(pooling_run):
    """Per round, the input tokens the records read from the usage are the prompt tokens vLLM
    counted, and (embeddings) the inputs are the requests vLLM finished: one per pooled input.
    So inputs/s is the server's own count over the measured window."""
    _, run_dir, document = pooling_run
    for case in document["cases"]:
        rounds = case["server_metrics"]["rounds"]
        records = measured_records(run_dir, case)
        assert records and all(r["error"] is None for r in records)
        assert all(r["first_token"] is None and r["output_tokens"] == 0 for r in records)
        for server_round in rounds:
            # the round's last attempt: one the client stalled in was measured again (its records discarded)
            mine = [r for r in records if r["round"] == server_round["round"] and not r["discarded"]]
            counters = server_round["counters"]
            assert counters["prompt_tokens"] == sum(r["input_tokens"] for r in mine), (case["id"], server_round)
            if case["task"] == "embeddings.synthetic":
                assert counters["requests_finished"] == sum(r["pooling"]["inputs"] for r in mine)
        inputs = sum(r["pooling"]["inputs"] for r in records if not r["discarded"])
        metrics = case["metrics"]
        assert metrics["inputs_per_s"]["value"] * metrics["duration"]["value"] == pytest.approx(inputs, rel=1e-6)


@pytest.fixture(scope="module")
def cross_encoder_run(tmp_path_factory: pytest.TempPathFactory):
    """The rerank case on SmolLM2 made a one-label classifier (``convert=classify`` with
    ``hf_overrides: {num_labels: 1}``): vLLM scores each (query, document) pair together."""
    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    report_dir = tmp_path_factory.mktemp("cross-encoder")
    proc = run_benchmarks(report_dir, "--preset", "extended", "--engine", "openai", "--model", "smollm2-135m",
                          "-k", "rerank.synthetic and offline", "--max-samples", "4", "--no-history",
                          "--engine-option", "openai:convert=classify",
                          "--engine-option", "openai:hf_overrides={num_labels: 1}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return results(report_dir)


def test_a_cross_encoder_serves_rerank(cross_encoder_run):
    run_dir, document = cross_encoder_run
    (case,) = document["cases"]
    assert case["status"] == "passed" and case["valid"], (case["validity"], case["notes"])
    command = case["engine_info"]["server_command"]
    assert "--convert classify" in command and '--hf-overrides {"num_labels": 1}' in command
    records = measured_records(run_dir, case)
    assert all(r["pooling"]["outputs"] == r["pooling"]["inputs"] == 8 for r in records)
    for server_round in case["server_metrics"]["rounds"]:
        mine = [r for r in records if r["round"] == server_round["round"]]
        assert server_round["counters"]["prompt_tokens"] == sum(r["input_tokens"] for r in mine)
