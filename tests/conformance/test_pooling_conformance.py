"""Embeddings and reranking against the scripted server (ground truth: a pooling request is
answered after exactly ``pool_base_ms + pool_token_ms × input tokens``, at most
``max_concurrency`` at once): the ``openai`` engine's latency per request, the input tokens
it reads from the usage, inputs/s at a scripted capacity, and the shape checks of the answers."""

from __future__ import annotations

import numpy as np
import pytest

from openaiperf.metrics.latency import latency_metrics
from openaiperf.metrics.pooling import pooling_metrics, pooling_validity, without_generation
from openaiperf.records import PoolingRequest, Record
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_pooling import pooling_latency_s
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine
from tests.conformance.truth import MS, close_start

BASE_MS, TOKEN_MS = 20.0, 0.5
SCRIPT = {"pool_base_ms": BASE_MS, "pool_token_ms": TOKEN_MS, "pool_dimensions": 12}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def embeddings(index: int, sizes: list[int]) -> PoolingRequest:
    return PoolingRequest(id=f"e{index}", sample_id=f"s{index}", max_tokens=0, kind="embeddings",
                          inputs=tuple(" ".join(["tok"] * n) for n in sizes))


def rerank(index: int, query_words: int, documents: list[int]) -> PoolingRequest:
    return PoolingRequest(id=f"r{index}", sample_id=f"s{index}", max_tokens=0, kind="rerank",
                          query=" ".join(["tok"] * query_words),
                          documents=tuple(" ".join(["tok"] * n) for n in documents))


def one_at_a_time(server, requests: list[PoolingRequest], script: dict) -> list[Record]:
    e = engine(server, script)
    records = []
    try:
        for request in requests:
            record = Record(request_id=request.id, sample_id=request.sample_id)
            e.run([request], [record], lambda r: None)
            records.append(record)
    finally:
        e.teardown()
    return records


def test_each_request_takes_base_plus_per_token_time_and_reads_the_usage(server):
    requests = [embeddings(i, [8 * (i + 1)] * 4) for i in range(4)]
    requests += [rerank(10 + i, 4, [10 * (i + 1)] * 5) for i in range(3)]
    records = one_at_a_time(server, requests, SCRIPT)
    truth_tokens = [4 * 8 * (i + 1) for i in range(4)] + [4 + 5 * 10 * (i + 1) for i in range(3)]
    for record, request, tokens in zip(records, requests, truth_tokens):
        assert record.ok, record.error
        assert record.input_tokens == tokens and record.output_tokens == 0
        truth = pooling_latency_s(Script(**SCRIPT), tokens)
        assert truth == pytest.approx((BASE_MS + TOKEN_MS * tokens) / MS)
        assert close_start((record.done - record.sent) * MS, truth), (request.id, record.done - record.sent, truth)
        assert record.first_token is None and not record.timed_tokens and record.chunk_times == []
        assert record.pooling == {"kind": request.kind, "inputs": request.items, "outputs": request.items,
                                  "dimension": 12 if request.kind == "embeddings" else None, "problem": None}
    # the timing metrics of generation do not apply: absent, never 0
    metrics = without_generation(latency_metrics(records)) | pooling_metrics(records)
    assert not any(name.startswith(("ttft", "tpot", "itl")) for name in metrics)
    assert metrics["inputs_per_request"].value == pytest.approx((4 * 4 + 3 * 5) / 7)
    assert metrics["embedding_dimension"].value == 12
    assert all(valid for valid, _ in pooling_validity(records).values())


def test_inputs_per_second_at_a_scripted_capacity(server):
    """Offline (every request at once) against a server that pools 2 requests at a time, each
    of 4 inputs of 40 words after 20 + 0.5 × 160 = 100 ms: 2 / 0.1 s × 4 = 80 inputs/s."""
    script = {**SCRIPT, "max_concurrency": 2}
    requests = [embeddings(i, [40] * 4) for i in range(16)]
    e = engine(server, script)
    try:
        run = create_scenario("offline", scenario_config({}, source="test")).run(e, requests, lambda r: None)
    finally:
        e.teardown()
    assert all(r.ok for r in run.records), [r.error for r in run.records if not r.ok]
    metrics = pooling_metrics(run.records)
    truth_inputs_per_s = 2 / pooling_latency_s(Script(**SCRIPT), 160) * 4
    assert truth_inputs_per_s == pytest.approx(80.0)
    # 8 waves of 100 ms: the client's start-up and loopback time only slow it
    assert truth_inputs_per_s * 0.9 <= metrics["inputs_per_s"].value <= truth_inputs_per_s * 1.01
    assert metrics["input_tokens_per_s"].value == pytest.approx(metrics["inputs_per_s"].value * 40)
    # the k-th wave of 2 requests ends k × 100 ms after the start
    waves = [0.1 * (k // 2 + 1) for k in range(16)]
    for q in (50, 90, 99):
        truth = float(np.percentile(waves, q))
        assert close_start(metrics[f"request_latency_p{q}"].value, truth), (q, metrics[f"request_latency_p{q}"], truth)


@pytest.mark.parametrize(("fault", "kind", "check"), [
    ("nan", "embeddings", "pooling_outputs"), ("short", "embeddings", "pooling_outputs"),
    ("dimension", "embeddings", "pooling_outputs"), ("nan", "rerank", "pooling_outputs"),
    ("short", "rerank", "pooling_outputs")])
def test_malformed_answers_make_the_case_invalid(server, fault, kind, check):
    request = embeddings(0, [3, 3]) if kind == "embeddings" else rerank(0, 2, [3, 3])
    (record,) = one_at_a_time(server, [request], {**SCRIPT, "pool_fault": fault})
    assert record.ok and record.pooling is not None and record.pooling["problem"]
    valid, why = pooling_validity([record])[check]
    assert not valid and "malformed" in why


def test_the_embedding_dimension_must_be_the_models_hidden_size(server):
    records = one_at_a_time(server, [embeddings(0, [3]), embeddings(1, [5])], SCRIPT)
    assert pooling_validity(records, dimension=12)["embedding_dimension"][0]
    valid, why = pooling_validity(records, dimension=576)["embedding_dimension"]
    assert not valid and "576" in why


def test_an_http_error_fails_the_request_with_the_status(server):
    (record,) = one_at_a_time(server, [embeddings(0, [3])], {**SCRIPT, "http_status": 503})
    assert record.failed and record.error is not None and record.error.startswith("HTTP 503")
    assert record.pooling is None
