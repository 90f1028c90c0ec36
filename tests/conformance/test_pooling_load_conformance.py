"""Pooling tasks under the ``server`` scenario's load features, against the scripted server
(ground truth: a pooling request is answered after exactly ``pool_base_ms + pool_token_ms ×
input tokens``, whatever else is in flight): probe requests (``--probe-rate``) are the smallest
request of their kind (one input of one token; rerank: a one-token query and one one-token
document) and are measured apart (``probe_latency_*``), from this process and from load
generator workers; and a pooling load sent from two workers (``--loadgen-workers 2``) gives the
in-process run's inputs/s and input tokens, every record's pooling answer kept on its way back."""

from __future__ import annotations

import pytest

from openaiperf.metrics.pooling import pooling_metrics
from openaiperf.records import PoolingRequest, Record
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from openaiperf.testing.scripted_server.pooling import pooling_latency_s
from tests.conformance.test_engine_conformance import engine
from tests.conformance.truth import close_start
from tests.loadgen.harness import loadgen_processes

pytestmark = pytest.mark.timing

SCRIPT = {"pool_base_ms": 20.0, "pool_token_ms": 0.5, "pool_dimensions": 12}
COUNT, QPS = 40, 20.0


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def workload(kind: str) -> list[PoolingRequest]:
    """Embeddings: 3 inputs of 10 + i % 4 words; rerank: a 4-word query, 3 documents of 10 + i % 4 words."""
    out = []
    for i in range(COUNT):
        words = " ".join(["tok"] * (10 + i % 4))
        if kind == "embeddings":
            out.append(PoolingRequest(id=f"e{i}", sample_id=f"s{i}", max_tokens=0, kind="embeddings",
                                      inputs=(words,) * 3))
        else:
            out.append(PoolingRequest(id=f"r{i}", sample_id=f"s{i}", max_tokens=0, kind="rerank",
                                      query="tok tok tok tok", documents=(words,) * 3))
    return out


def run(server, kind: str, sink=None, **options: object):
    server.reset()
    scenario = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "min_queries": COUNT, "latency_sla": "100000,100000", "qps_target": QPS,
         **options}, source="test"))
    e = engine(server, SCRIPT)
    try:
        result = scenario.run(e, workload(kind), sink or (lambda r: None))
    finally:
        e.teardown()
    return scenario, result, server.stats()


@pytest.mark.parametrize("kind", ["embeddings", "rerank"])
@pytest.mark.parametrize("workers", [None, "2"])
def test_a_pooling_probe_is_the_smallest_request_of_its_kind_measured_apart(server, kind, workers):
    kept: list[Record] = []
    extra = {"loadgen_workers": workers} if workers else {}
    scenario, result, stats = run(server, kind, sink=kept.append, probe_rate=10.0, **extra)
    probes = result.settings["probes"]
    assert probes["sent"] >= 10 and probes["ok"] == probes["sent"]
    assert len(kept) == len(result.records) == COUNT and not any(r.request_id.startswith("probe") for r in kept)
    # what the server received: the load's requests, and probes of one token per input
    received = stats["received"]
    assert len(received) == COUNT + probes["sent"]
    if kind == "embeddings":
        small = [b for b in received if b["input"] == ["tok"]]
    else:
        small = [b for b in received if b["query"] == "tok" and b["documents"] == ["tok"]]
    assert len(small) == probes["sent"]
    tokens = 1 if kind == "embeddings" else 2
    for record in scenario.probe_records:
        assert record.ok and record.input_tokens == tokens and record.pooling is not None
        assert record.pooling["inputs"] == 1 and record.pooling["problem"] is None
    # measured apart: an idle server's answer to one (two) tokens, not the load's 35 ms and more
    metrics = scenario.metrics(kept, [result])
    truth = pooling_latency_s(Script(**SCRIPT), tokens)
    assert close_start(metrics["probe_latency_p50"].value, truth), (metrics["probe_latency_p50"].value, truth)
    assert "probe_ttft_p50" not in metrics
    assert not loadgen_processes()


@pytest.mark.parametrize("kind", ["embeddings", "rerank"])
def test_a_pooling_load_from_two_workers_gives_the_in_process_figures(server, kind):
    _, alone, _ = run(server, kind)
    _, split, stats = run(server, kind, loadgen_workers="2")
    assert split.settings["loadgen"]["workers"] == 2 and {r.worker for r in split.records} == {0, 1}
    assert len(stats["received"]) == COUNT
    by_id = {r.request_id: r for r in alone.records}
    assert sorted(by_id) == sorted(r.request_id for r in split.records)
    for record in split.records:
        # what a pooling record carries beyond a generation record travelled back whole
        twin = by_id[record.request_id]
        assert record.ok and record.input_tokens == twin.input_tokens and record.output_tokens == 0
        assert record.pooling == twin.pooling and record.pooling is not None
        assert record.first_token is None and not record.timed_tokens
    in_process, from_workers = pooling_metrics(alone.records), pooling_metrics(split.records)
    assert from_workers["inputs_per_request"].value == in_process["inputs_per_request"].value == 3
    tokens = sum(r.input_tokens or 0 for r in alone.records)
    assert tokens == sum(r.input_tokens or 0 for r in split.records)
    # the same seeded schedule, every answer after its scripted time: the same window, the same rate
    assert from_workers["input_tokens_per_s"].value == pytest.approx(in_process["input_tokens_per_s"].value,
                                                                     rel=0.03)
    assert from_workers["inputs_per_s"].value == pytest.approx(in_process["inputs_per_s"].value, rel=0.03)
    # the truth: from the first scheduled arrival to the last one's scripted answer
    first, last = min(alone.records, key=lambda r: r.scheduled), max(alone.records, key=lambda r: r.scheduled)
    window = last.scheduled - first.scheduled + pooling_latency_s(Script(**SCRIPT), last.input_tokens or 0)
    truth = COUNT * 3 / window
    assert truth * 0.97 <= from_workers["inputs_per_s"].value <= truth * 1.005, (from_workers["inputs_per_s"], truth)
    assert not loadgen_processes()
