"""The ``openai`` engine against the scripted server: every path by which token
times and counts are worked out (continuous usage, the client tokenizer after
the round, an estimate from text lengths, none), both APIs, one and two tokens
per chunk, and the faults a stream can have. Each measured number is compared
with the script's truth within the tolerances of ``truth.py``."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.metrics.latency import latency_metrics, timing_notes
from openaiperf.records import Record, Request
from openaiperf.testing.scripted_server import Script, ScriptedServer, start_scripted_server
from tests.conformance.truth import close_gap, close_start, median_s

BASE = {"tokens": 12, "ttft_ms": 30.0, "gap_ms": 8.0}


def engine(server: ScriptedServer, script: dict[str, Any], tokenizer: Any = None, **options: Any) -> OpenAIEngine:
    context = EngineContext(model=None, weights=str(tokenizer or "(none)"),
                            hardware=SimpleNamespace(device="cpu"), dtype="float32",
                            options={"endpoint": server.url, "served_model": "stub",
                                     "client_tokenizer": tokenizer is not None, "extra_body": {"script": script},
                                     **options})
    e = OpenAIEngine(context)
    e.prepare()
    return e


def request(api: str, index: int = 0, max_tokens: int = 64) -> Request:
    if api == "chat":
        return Request(id=f"c{index}", sample_id="s", max_tokens=max_tokens,
                       messages=[{"role": "user", "content": "hi"}])
    return Request(id=f"p{index}", sample_id="s", max_tokens=max_tokens, prompt="hi")


def single_stream(e: OpenAIEngine, api: str, count: int = 3) -> list[Record]:
    """One request at a time, each scheduled when sent (as the single_stream scenario does)."""
    records = []
    for index in range(count):
        record = Record(request_id=f"r{index}", sample_id="s")
        record.scheduled = time.perf_counter()
        e.run([request(api, index)], [record], lambda r: None)
        records.append(record)
    e.complete_records(records)
    return records


def value(metrics, name: str) -> float | None:
    return metrics[name].value


PATHS = {
    # name: (script changes, engine options, tokenizer?, expected token source)
    "continuous-usage": ({"usage": "continuous"}, {"continuous_usage": True}, False, "usage"),
    "tokenizer": ({"usage": "final"}, {}, True, "tokenizer"),
    "tokenizer-no-usage": ({"usage": "absent"}, {}, True, "tokenizer"),
    "estimate": ({"usage": "final"}, {}, False, "text_length"),
}


@pytest.mark.parametrize("chunk_tokens", [1, 2])
@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("path", list(PATHS))
def test_each_path_recovers_the_script(scripted_server, word_tokenizer, path, api, chunk_tokens):
    changes, options, with_tokenizer, source = PATHS[path]
    script = Script(**BASE, chunk_tokens=chunk_tokens).updated(changes)
    truth = script.truth()
    e = engine(scripted_server, {**BASE, "chunk_tokens": chunk_tokens, **changes},
               word_tokenizer if with_tokenizer else None, **options)
    try:
        records = single_stream(e, api)
    finally:
        e.teardown()
    assert all(r.ok for r in records), [r.error for r in records]
    assert {r.token_source for r in records} == {source}
    assert all(r.output_tokens == truth.tokens and sum(r.chunk_tokens) == truth.tokens for r in records)
    assert all(len(r.chunk_times) == truth.chunks for r in records)
    m = latency_metrics(records)
    assert close_start(value(m, "ttft_p50"), truth.ttft_s), (value(m, "ttft_p50"), truth.ttft_s)
    assert close_start(value(m, "e2e_p50"), truth.e2e_s), (value(m, "e2e_p50"), truth.e2e_s)
    assert close_gap(value(m, "tpot_p50"), truth.tpot_s), (value(m, "tpot_p50"), truth.tpot_s)
    # Per token: 2 tokens every 16 ms are 8 ms apart, not 16 (the chunk gap stays available on its own).
    assert close_gap(value(m, "itl_p50"), median_s(truth.itl_s)), (value(m, "itl_p50"), truth.itl_s)
    assert close_gap(value(m, "chunk_itl_p50"), median_s(truth.chunk_itl_s)), value(m, "chunk_itl_p50")
    notes = timing_notes(records)
    assert bool(notes) == (source == "text_length"), notes


def test_two_tokens_per_chunk_gives_per_token_itl(scripted_server, word_tokenizer):
    """The defect this guards: a chunk of 2 tokens every 20 ms read as ITL 20 ms."""
    script = {"tokens": 16, "ttft_ms": 20.0, "gap_ms": 10.0, "chunk_tokens": 2}
    e = engine(scripted_server, script, word_tokenizer)
    try:
        m = latency_metrics(single_stream(e, "chat"))
    finally:
        e.teardown()
    assert close_gap(value(m, "itl_p50"), 0.010), value(m, "itl_p50")
    assert close_gap(value(m, "chunk_itl_p50"), 0.020), value(m, "chunk_itl_p50")


def test_without_usage_or_tokenizer_a_chunk_counts_as_a_token_and_the_case_says_so(scripted_server):
    script = {**BASE, "chunk_tokens": 2, "usage": "absent"}
    truth = Script(**BASE, chunk_tokens=2).truth()
    e = engine(scripted_server, script)
    try:
        records = single_stream(e, "chat")
    finally:
        e.teardown()
    assert {r.token_source for r in records} == {"chunks"}
    assert all(r.output_tokens == truth.chunks for r in records)
    notes = timing_notes(records)
    assert any("a chunk counts as one token" in n for n in notes), notes


def test_reasoning_only_first_chunk_ends_ttft_and_counts_its_tokens(scripted_server, word_tokenizer):
    script = {**BASE, "reasoning_tokens": 3}
    truth = Script(**BASE).truth()
    e = engine(scripted_server, script, word_tokenizer)
    try:
        records = single_stream(e, "chat")
    finally:
        e.teardown()
    m = latency_metrics(records)
    assert close_start(value(m, "ttft_p50"), truth.ttft_s)
    for record in records:
        assert record.reasoning == "tok " * 3 and record.text == "tok " * (truth.tokens - 3)
        assert record.client_output_tokens == truth.tokens == record.output_tokens


@pytest.mark.parametrize("role_chunk", [True, False])
def test_role_only_chunk_is_not_a_token(scripted_server, role_chunk):
    truth = Script(**BASE).truth()
    e = engine(scripted_server, {**BASE, "role_chunk": role_chunk})
    try:
        records = single_stream(e, "chat")
    finally:
        e.teardown()
    assert all(len(r.chunk_times) == truth.tokens for r in records)
    assert close_start(value(latency_metrics(records), "ttft_p50"), truth.ttft_s)


def test_tokens_of_the_first_chunk_arrive_with_the_first_token(scripted_server):
    script = {**BASE, "first_chunk_tokens": 3, "usage": "continuous"}
    truth = Script(**BASE, first_chunk_tokens=3).truth()
    e = engine(scripted_server, script, continuous_usage=True)
    try:
        records = single_stream(e, "completions")
    finally:
        e.teardown()
    m = latency_metrics(records)
    assert records[0].chunk_tokens[0] == 3
    assert close_gap(value(m, "tpot_p50"), truth.tpot_s), (value(m, "tpot_p50"), truth.tpot_s)
    assert records[0].token_times[:3] == [records[0].first_token] * 3


def test_a_stall_shows_in_itl_max(scripted_server):
    script = {**BASE, "stall_after": 5, "stall_ms": 80.0}
    truth = Script(**BASE, stall_after=5, stall_ms=80.0).truth()
    e = engine(scripted_server, script)
    try:
        records = single_stream(e, "chat")
    finally:
        e.teardown()
    m = latency_metrics(records)
    assert close_gap(value(m, "itl_max"), max(truth.itl_s)), (value(m, "itl_max"), max(truth.itl_s))
    assert close_gap(value(m, "itl_p50"), median_s(truth.itl_s))
    assert close_start(value(m, "e2e_p50"), truth.e2e_s)


@pytest.mark.parametrize("script,expected", [
    ({"error_after": 3}, "server error in stream: scripted error mid-stream"),
    ({"http_status": 429, "retry_after_s": 7}, "HTTP 429 Too Many Requests (Retry-After: 7)"),
    ({"http_status": 500}, "HTTP 500 Internal Server Error"),
    ({"cut_after": 3}, "stream cut"),
    ({"malformed_after": 2}, "malformed SSE"),
])
@pytest.mark.parametrize("api", ["chat", "completions"])
def test_faults_become_errors_with_their_reason(scripted_server, script, expected, api):
    e = engine(scripted_server, {**BASE, **script})
    try:
        records = single_stream(e, api, count=2)
    finally:
        e.teardown()
    for record in records:
        assert not record.ok and expected in (record.error or ""), record.error
        assert record.done is not None
    metrics = latency_metrics(records)
    assert metrics["ttft_p50"].value is None  # failed requests are not in the latency distributions


def test_a_server_that_refuses_continuous_usage_still_works(scripted_server, word_tokenizer):
    script = {**BASE, "reject_continuous_usage": True}
    e = engine(scripted_server, script, word_tokenizer, continuous_usage=True)
    try:
        assert e.continuous_usage is False
        assert "refused stream_options.continuous_usage_stats" in e.info()["continuous_usage_note"]
        records = single_stream(e, "chat", count=2)
    finally:
        e.teardown()
    assert all(r.ok and r.token_source == "tokenizer" for r in records), [r.error for r in records]


@pytest.mark.parametrize("linger_ms", [0.0, 30.0])
def test_single_stream_keeps_one_session_and_one_connection(scripted_server, linger_ms):
    """Every request of a single_stream round goes over one kept-alive connection
    (a new event loop and session per request put connection setup inside TTFT).
    The response is read to its end even when the server ends it a while after
    [DONE]: a connection released mid-response is closed, not reused."""
    scripted_server.reset()
    e = engine(scripted_server, {**BASE, "linger_ms": linger_ms})
    try:
        records = single_stream(e, "chat", count=5)
        assert e.sessions_opened == 1
    finally:
        e.teardown()
    assert all(r.ok for r in records)
    stats = scripted_server.stats()
    assert stats["requests"] == 5 and stats["connections"] == 1, stats
    # E2E ends at [DONE], not when the server closes the response.
    assert close_start(value(latency_metrics(records), "e2e_p50"), Script(**BASE).truth().e2e_s)


def test_a_connection_the_server_closed_when_idle_is_never_reused():
    """Between cases the engine's event loop is idle, so it never sees a server close
    an idle kept-alive connection (uvicorn, behind vLLM, does after 5 s). A connection
    idle for longer than ``keepalive_s`` is dropped instead of reused, so the next
    request opens a new one rather than failing with "Server disconnected"."""
    with start_scripted_server(Script(), keepalive_s=1.0) as short_lived:
        e = engine(short_lived, BASE, keepalive_s=0.5)
        try:
            first = single_stream(e, "chat", count=1)
            time.sleep(1.5)  # the server has closed the connection by now
            second = single_stream(e, "chat", count=1)
        finally:
            e.teardown()
        assert all(r.ok for r in first + second), [r.error for r in first + second]
        assert short_lived.stats()["connections"] == 2


class SpyTokenizer:
    """The real tokenizer, noting whether it was ever called on a running event loop."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.is_fast = inner.is_fast
        self.calls_on_loop = 0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            asyncio.get_running_loop()
            self.calls_on_loop += 1
        except RuntimeError:
            pass
        return self.inner(*args, **kwargs)


def test_the_client_tokenizer_never_runs_on_the_event_loop(scripted_server, word_tokenizer):
    e = engine(scripted_server, BASE, word_tokenizer)
    spy = SpyTokenizer(e.tokenizer)
    e.tokenizer = spy
    try:
        records = single_stream(e, "chat", count=3)
    finally:
        e.teardown()
    assert spy.calls >= 1 and spy.calls_on_loop == 0
    assert all(r.client_output_tokens == BASE["tokens"] for r in records)


def test_credentials_in_the_endpoint_are_sent_but_never_shown(scripted_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = scripted_server.url.replace("http://", "http://alice:s3cr3t-pw@")
    context = EngineContext(model=None, weights="(none)",
                            hardware=SimpleNamespace(device="cpu"), dtype="float32",
                            options={"endpoint": url, "client_tokenizer": False,
                                     "server_args": ["--api-key", "sk-server-side-secret-000"]})
    e = OpenAIEngine(context)
    e.prepare()  # lists the models with basic auth: the URL's credentials are not part of the host
    try:
        assert e.headers()["Authorization"].startswith("Basic ")
        assert e.model_name == "stub"
        shown = json.dumps(e.info(), default=str)
        assert "s3cr3t-pw" not in shown and "sk-server-side-secret-000" not in shown
        assert single_stream(e, "chat", count=1)[0].ok
    finally:
        e.teardown()
