"""Speculative decoding against the scripted server: a server that verifies 4 draft
tokens a step and accepts 2 of them streams 3 tokens a chunk (the 2 accepted + the
one the target model adds). Its vLLM counters give an acceptance rate of 2/4 and a
mean accepted length of 3 tokens a step; the client sees 3 tokens a chunk, and the
per-token ITL stays a third of the chunk gap."""

from __future__ import annotations

import pytest

from openaiperf.metrics.latency import chunk_metrics, latency_metrics
from openaiperf.metrics.server import server_metrics
from openaiperf.monitor.prometheus import delta, fetch_text, parse_exposition
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine, single_stream
from tests.conformance.truth import close_gap

SCRIPT = {"tokens": 16, "ttft_ms": 20.0, "gap_ms": 5.0, "chunk_tokens": 3, "spec_draft_tokens": 4,
          "usage": "continuous"}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def test_acceptance_from_the_servers_counters_and_the_clients_chunks(server):
    before = parse_exposition(fetch_text(server.url + "/metrics"), t=0.0)
    e = engine(server, SCRIPT, continuous_usage=True)
    try:
        records = single_stream(e, "chat", count=4)
    finally:
        e.teardown()
    after = parse_exposition(fetch_text(server.url + "/metrics"), t=1.0)
    assert before is not None and after is not None
    m = server_metrics(delta(before, after, 0), records)
    assert m["spec_acceptance_rate"].value == pytest.approx(2 / 4)
    assert m["spec_mean_accepted_length"].value == pytest.approx(3.0)
    assert chunk_metrics(records)["tokens_per_chunk_mean"].value == pytest.approx(3.0)
    # per token, not per chunk: 3 tokens every 15 ms are 5 ms apart
    assert close_gap(latency_metrics(records)["itl_p50"].value, 0.005)


def test_one_token_chunks_report_no_tokens_per_chunk(server):
    e = engine(server, {**SCRIPT, "chunk_tokens": 1, "spec_draft_tokens": 0}, continuous_usage=True)
    try:
        records = single_stream(e, "chat", count=1)
    finally:
        e.teardown()
    assert chunk_metrics(records) == {}
